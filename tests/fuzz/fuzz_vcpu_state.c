/*
 * Fuzz target: vcpu_state_check() (arch/x86_64/vcpu_state_check.c), the
 * refusal behind arch_vcpu_load(): what a migration source (or anyone who
 * reached the port) sends in the stream's "cpu" section, once
 * migrate/dest.c has checked its length and version, and what
 * system_reset loads back.
 *
 * Input: byte 0 chooses the loading CPU's caps (bit 0: Bochs Haswell
 * instead of Skylake-X; bit 1: Skylake-X with AVX-512, XCR0 0xe7 and a
 * 2688-byte XSAVE area, instead of 0x7 and 832; bit 2: no unrestricted
 * guest; bits 3-5: MAXPHYADDR 39 + n; bit 6: MXCSR_MASK 0 (the 0xffbf
 * default) instead of 0xffff); byte 1 chooses a known-good base state (bits
 * 0-2, modulo the number of bases) and how the rest is applied (bit 3:
 * overwrite, else XOR); bytes 2-3 (little-endian) are the offset in struct
 * vcpu_state where the remaining bytes land. A short input so mutates a
 * valid state near the fields it reaches; zero bytes in XOR mode change
 * nothing.
 *
 * Invariants: the check never crashes (ASan/UBSan), returns 0 or -1, leaves
 * the state untouched, gives the same answer with any reason buffer (NULL,
 * a few bytes: the reason is then a prefix of the full one), and its reason
 * is one printable NUL-terminated line starting "cpu state: " (empty when
 * it accepts). The oracle: every state it accepts must satisfy the
 * architectural facts a VM entry (SDM Vol. 3 26.2.1.3, 26.3.1), WRMSR,
 * MOV DR, XSETBV and XRSTOR need, re-derived below from the SDM rather than
 * from the checker's code.
 */
#include <tern/vcpu_state.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"

/* ---- the capability sets ---- */

static void make_caps(u8 sel, struct vcpu_caps *k)
{
	bool haswell = sel & 1;
	bool avx512 = !haswell && (sel & 2);
	memset(k, 0, sizeof(*k));
	/* IA32_VMX_CR0_FIXED0/1 and CR4_FIXED0/1 as Bochs reports them. */
	k->cr0_fixed0 = 0x80000021ULL; /* PE NE PG; PE and PG exempt under unrestricted guest */
	k->cr0_fixed1 = 0xffffffffULL;
	k->cr4_fixed0 = 0x2000ULL; /* VMXE */
	/* Skylake-X: VME..OSXMMEXCPT, VMXE, SMXE, FSGSBASE, PCIDE, OSXSAVE,
	 * SMEP, SMAP; Haswell has no SMAP. */
	k->cr4_fixed1 = haswell ? 0x1767ffULL : 0x3767ffULL;
	k->unrestricted = !(sel & 4);
	k->efer_allowed = 0xd01; /* SCE LME LMA NXE */
	k->xcr0_supported = avx512 ? 0xe7 : 0x7;
	k->xsave_max = avx512 ? 2688 : 832;
	k->maxphyaddr = (u8)(39 + ((sel >> 3) & 7));
	k->mxcsr_mask = (sel & 0x40) ? 0 : 0xffff;
}

/* ---- known-good base states ---- */

#define AR_CODE64 0xa09bu
#define AR_CODE32 0xc09bu
#define AR_DATA 0xc093u
#define AR_TSS_BUSY 0x8bu
#define AR_UNUSABLE_BIT 0x10000u

static void set_seg(struct vcpu_state *s, int i, u16 sel, u64 base, u32 limit, u32 ar)
{
	s->seg[i] = (struct vcpu_segment){ .selector = sel, .base = base, .limit = limit, .attrib = ar };
}

static void set_bv(struct vcpu_state *s, u64 bv)
{
	memcpy(s->xsave + 512, &bv, 8);
}

/* Tern's documented long-mode start state (docs/guest-abi.md, as
 * tests/unit/test_vcpu_state.c builds it). */
static void base_start(struct vcpu_state *s)
{
	memset(s, 0, sizeof(*s));
	s->version = VCPU_STATE_VERSION;
	s->size = sizeof(*s);
	s->rip = 0x100000;
	s->rsp = 0x80000;
	s->rdi = 64 << 20;
	s->rflags = 0x2;
	s->cr0 = 0x80010033; /* PE MP ET NE WP PG */
	s->cr3 = 0x2000;
	s->cr4 = 0x620; /* PAE OSFXSR OSXMMEXCPT */
	s->efer = 0xd00; /* LME LMA NXE */
	s->pat = 0x0007040600070406ULL;
	s->dr6 = 0xffff0ff0;
	s->dr7 = 0x400;
	set_seg(s, VSEG_CS, 0x08, 0, 0xffffffff, AR_CODE64);
	for (int i = VSEG_ES; i <= VSEG_GS; i++)
		if (i != VSEG_CS)
			set_seg(s, i, 0x10, 0, 0xffffffff, AR_DATA);
	set_seg(s, VSEG_TR, 0, 0, 0x67, AR_TSS_BUSY);
	set_seg(s, VSEG_LDTR, 0, 0, 0, AR_UNUSABLE_BIT);
	s->gdtr_base = 0x1000;
	s->gdtr_limit = 0x17;
	s->ia32e_mode = 1;
	s->xcr0 = 1;
	s->xsave_len = 832;
	u16 fcw = 0x37f;
	u32 mxcsr = 0x1f80;
	memcpy(s->xsave, &fcw, 2);
	memcpy(s->xsave + 24, &mxcsr, 4);
}

/* A Linux-like kernel at CPL 0: syscalls set up, AVX live, a timer interrupt pending. */
static void base_kernel(struct vcpu_state *s)
{
	base_start(s);
	s->rip = 0xffffffff81000000ULL;
	s->lstar = 0xffffffff81800000ULL;
	s->star = 0x0023001000000000ULL;
	s->sfmask = 0x47700;
	s->kernel_gs_base = 0xffff888000000000ULL;
	s->seg[VSEG_GS].base = 0xffff888007a00000ULL;
	s->cr4 |= 1u << 18; /* OSXSAVE */
	s->xcr0 = 7;
	set_bv(s, 7);
	s->rflags = 0x202;
	s->pending_event = (1u << 31) | 0x20;
}

/* 32-bit flat protected mode without paging (unrestricted guest). */
static void base_prot32(struct vcpu_state *s)
{
	base_start(s);
	s->cr0 = 0x11;
	s->efer = 0;
	s->ia32e_mode = 0;
	s->seg[VSEG_CS].attrib = AR_CODE32;
	s->seg[VSEG_TR].attrib = AR_TSS_BUSY;
	s->interruptibility = 8; /* NMI blocked */
	s->pending_event = (1u << 31) | (1u << 11) | (3u << 8) | 13; /* #GP(0x18) */
	s->pending_error = 0x18;
}

/* Real mode (unrestricted guest) at the reset vector, halted. */
static void base_real(struct vcpu_state *s)
{
	base_start(s);
	s->cr0 = 0x10;
	s->efer = 0;
	s->ia32e_mode = 0;
	s->rip = 0xfff0;
	set_seg(s, VSEG_CS, 0xf000, 0xf0000, 0xffff, 0x9b);
	for (int i = VSEG_ES; i <= VSEG_GS; i++)
		if (i != VSEG_CS)
			set_seg(s, i, 0, 0, 0xffff, 0x93);
	s->activity = 1;
}

/* A 64-bit guest using AVX-512 on Skylake-X: the whole 2688-byte area. */
static void base_avx512(struct vcpu_state *s)
{
	base_start(s);
	s->cr4 |= 1u << 18;
	s->xcr0 = 0xe7;
	s->xsave_len = 2688;
	set_bv(s, 0xe7);
	s->rflags = 0x346; /* IF TF ZF PF */
	s->interruptibility = 1; /* STI blocking: BS must follow TF */
	s->pending_dbg = 1u << 14;
}

/* Virtual-8086 mode under a 32-bit protected-mode monitor (CPL 3). */
static void base_v86(struct vcpu_state *s)
{
	base_prot32(s);
	s->pending_event = 0;
	s->pending_error = 0;
	s->rflags = 0x20202; /* VM IF */
	s->rip = 0x100;
	for (int i = VSEG_ES; i <= VSEG_GS; i++)
		set_seg(s, i, 0x1234, 0x12340, 0xffff, 0xf3);
}

static void (*const bases[])(struct vcpu_state *) = { base_start, base_kernel, base_prot32, base_real,
						       base_avx512, base_v86 };
#define NBASES (sizeof(bases) / sizeof(bases[0]))

/* ---- the oracle: the SDM's rules, written out again ---- */

static bool canon48(u64 a)
{
	return (u64)((int64_t)(a << 16) >> 16) == a;
}

static u64 bits(u64 v, int hi, int lo)
{
	return (v >> lo) & ((hi - lo == 63) ? ~0ULL : ((1ULL << (hi - lo + 1)) - 1));
}

static int g_line;
#define FACT(c)                                                                          \
	do {                                                                             \
		if (!(c)) {                                                              \
			fprintf(stderr, "%s:%d: invariant failed: accepted a state that breaks " \
					"%s\n", __FILE__, __LINE__, #c);                  \
			g_line = __LINE__;                                               \
			return false;                                                    \
		}                                                                        \
	} while (0)

/* Usable segment: present, reserved attribute bits clear, limit matching G. */
static bool seg_sane(const struct vcpu_segment *g)
{
	u32 a = g->attrib;
	FACT(bits(a, 7, 7) == 1);
	FACT(bits(a, 11, 8) == 0 && bits(a, 31, 17) == 0);
	if (bits(a, 15, 15)) /* G: limit in 4 KiB units, so its low 12 bits are all ones */
		FACT((g->limit & 0xfff) == 0xfff);
	else /* byte granular: at most 1 MiB */
		FACT(g->limit <= 0xfffff);
	return true;
}

static bool oracle(const struct vcpu_state *s, const struct vcpu_caps *k)
{
	const u64 cr0 = s->cr0, cr4 = s->cr4, efer = s->efer, rf = s->rflags;
	const bool pe = bits(cr0, 0, 0), pg = bits(cr0, 31, 31);
	const bool lme = bits(efer, 8, 8), lma = bits(efer, 10, 10);
	const struct vcpu_segment *cs = &s->seg[VSEG_CS], *ss = &s->seg[VSEG_SS];
	const struct vcpu_segment *tr = &s->seg[VSEG_TR];
	const unsigned cpl = bits(ss->attrib, 6, 5);

	FACT(s->version == VCPU_STATE_VERSION && s->size == sizeof(*s));

	/* CR0 (26.3.1.1): fixed bits, with NE forced by Tern and PE/PG free
	 * under unrestricted guest; bits 63:32 zero; PG needs PE; NW needs CD. */
	FACT(bits(cr0, 63, 32) == 0);
	u64 need0 = k->cr0_fixed0 & ~(1ULL << 5);
	if (k->unrestricted)
		need0 &= ~((1ULL << 0) | (1ULL << 31));
	FACT((cr0 & need0) == need0);
	FACT((cr0 & ~(k->cr0_fixed1 | (3ULL << 29))) == 0);
	FACT(!pg || pe);
	FACT(!bits(cr0, 29, 29) || bits(cr0, 30, 30));

	/* CR4: guest view, so VMXE clear; fixed1; PCIDE only in IA-32e mode. */
	FACT(!bits(cr4, 13, 13));
	FACT((cr4 & ~k->cr4_fixed1) == 0);
	FACT(((k->cr4_fixed0 & ~(1ULL << 13)) & ~cr4) == 0);
	FACT(!bits(cr4, 17, 17) || s->ia32e_mode == 1);

	/* CR3: nothing above MAXPHYADDR. */
	FACT(k->maxphyaddr >= 36 && k->maxphyaddr < 64);
	FACT((s->cr3 >> k->maxphyaddr) == 0);

	/* EFER and the IA-32e mode guest control. */
	FACT(s->ia32e_mode == 0 || s->ia32e_mode == 1);
	FACT((efer & ~k->efer_allowed) == 0);
	FACT(lma == (s->ia32e_mode == 1));
	if (lma) {
		FACT(lme);
		FACT(bits(cr4, 5, 5)); /* PAE */
		FACT(pg);
	}
	if (pg)
		FACT(lme == lma);

	/* PAT: every entry UC, WC, WT, WP, WB or UC-. */
	for (int i = 0; i < 8; i++) {
		unsigned t = (unsigned)bits(s->pat, 8 * i + 7, 8 * i);
		FACT(t == 0 || t == 1 || t == 4 || t == 5 || t == 6 || t == 7);
	}

	/* Debug registers: MOV DR6 #GPs on bits 63:32, DR7 is a VM-entry check;
	 * DR0-3 are written with MOV DR (canonical in 64-bit mode). */
	FACT(bits(s->dr6, 63, 32) == 0);
	FACT(bits(s->dr7, 63, 32) == 0);
	FACT(canon48(s->dr0) && canon48(s->dr1) && canon48(s->dr2) && canon48(s->dr3));

	/* RFLAGS and RIP (26.3.1.4). */
	FACT(bits(rf, 1, 1) == 1);
	FACT(!bits(rf, 3, 3) && !bits(rf, 5, 5) && !bits(rf, 15, 15) && bits(rf, 63, 22) == 0);
	if (bits(rf, 17, 17)) /* VM: protected mode, not IA-32e */
		FACT(pe && !lma);
	if (lma && bits(cs->attrib, 13, 13))
		FACT(canon48(s->rip));
	else
		FACT(bits(s->rip, 63, 32) == 0);

	/* Segments (26.3.1.2), the parts a wrong value would fail the entry on. */
	for (int i = 0; i < VSEG_NR; i++)
		FACT(s->seg[i].pad == 0 && s->seg[i].pad2 == 0);
	FACT(bits(cs->attrib, 16, 16) == 0); /* CS usable */
	if (!bits(rf, 17, 17)) {
		FACT(seg_sane(cs));
		FACT(bits(cs->attrib, 4, 4)); /* code or data, not system */
		if (lma && bits(cs->attrib, 13, 13))
			FACT(!bits(cs->attrib, 14, 14)); /* not both L and D */
		if (!pe)
			FACT(cpl == 0);
		for (int i = VSEG_ES; i <= VSEG_GS; i++)
			if (i != VSEG_CS && !bits(s->seg[i].attrib, 16, 16))
				FACT(seg_sane(&s->seg[i]) && bits(s->seg[i].attrib, 4, 4) &&
				     bits(s->seg[i].attrib, 0, 0));
	}
	FACT(bits(cs->base, 63, 32) == 0);
	FACT(canon48(s->seg[VSEG_FS].base) && canon48(s->seg[VSEG_GS].base));
	FACT(canon48(tr->base));
	/* TR: usable, a busy TSS (64-bit one in IA-32e mode), system, TI clear. */
	FACT(bits(tr->attrib, 16, 16) == 0);
	FACT(seg_sane(tr));
	FACT(bits(tr->attrib, 4, 4) == 0);
	if (lma)
		FACT(bits(tr->attrib, 3, 0) == 11);
	else
		FACT(bits(tr->attrib, 3, 0) == 11 || bits(tr->attrib, 3, 0) == 3);
	FACT((tr->selector & 4) == 0);
	if (!bits(s->seg[VSEG_LDTR].attrib, 16, 16)) {
		FACT(bits(s->seg[VSEG_LDTR].attrib, 3, 0) == 2);
		FACT(canon48(s->seg[VSEG_LDTR].base));
	}
	FACT(canon48(s->gdtr_base) && canon48(s->idtr_base));
	FACT(s->gdtr_limit <= 0xffff && s->idtr_limit <= 0xffff);

	/* MSRs: WRMSR #GPs on non-canonical LSTAR/CSTAR/KERNEL_GS_BASE; the
	 * entry checks SYSENTER_ESP/EIP canonical. */
	FACT(canon48(s->lstar) && canon48(s->cstar) && canon48(s->kernel_gs_base));
	FACT(canon48(s->sysenter_esp) && canon48(s->sysenter_eip));

	/* Activity and interruptibility (26.3.1.5). */
	FACT(s->activity == 0 || s->activity == 1);
	if (s->activity == 1)
		FACT(cpl == 0);
	const u32 intr = s->interruptibility;
	const bool sti = intr & 1, movss = intr & 2;
	FACT(bits(intr, 31, 5) == 0);
	FACT(!(sti && movss));
	if (sti)
		FACT(bits(rf, 9, 9));
	FACT(!bits(intr, 2, 2)); /* not in SMM */
	if (sti || movss)
		FACT(s->activity == 0);
	/* Pending debug exceptions: only B3-B0, BP enabled, BS (and RTM) defined. */
	FACT((s->pending_dbg & ~0x1500fULL) == 0);
	if (sti || movss || s->activity == 1)
		FACT(bits(s->pending_dbg, 14, 14) == bits(rf, 8, 8)); /* BS == TF (BTF is 0) */

	/* The event to inject (26.2.1.3). */
	const u32 ev = s->pending_event;
	if (ev >> 31) {
		unsigned type = (unsigned)bits(ev, 10, 8), vec = (unsigned)bits(ev, 7, 0);
		bool errbit = bits(ev, 11, 11);
		FACT(bits(ev, 30, 12) == 0);
		FACT(type != 1 && type != 7); /* reserved; "other event" needs MTF */
		if (type == 2)
			FACT(vec == 2);
		if (type == 3)
			FACT(vec <= 31);
		bool errs = vec == 8 || (vec >= 10 && vec <= 14) || vec == 17;
		bool want = (pe || !k->unrestricted) && type == 3 && errs;
		if (!(type == 3 && vec == 21)) /* #CP: only where CET is; see the report */
			FACT(errbit == want);
		if (errbit)
			FACT(bits(s->pending_error, 31, 16) == 0);
		if (type == 4 || type == 5 || type == 6)
			FACT(s->pending_insn_len >= 1 && s->pending_insn_len <= 15);
		if (type == 0)
			FACT(bits(rf, 9, 9) && !sti && !movss);
		if (type == 2)
			FACT(!movss && !bits(intr, 3, 3));
		if (s->activity == 1)
			FACT(type == 0 || type == 2 || (type == 3 && (vec == 1 || vec == 18)));
	}

	/* XCR0 as XSETBV takes it (SDM Vol. 1 13.3): x87 on, only offered
	 * components, AVX needs SSE, opmask/ZMM_Hi256/Hi16_ZMM all or none
	 * and only with AVX. */
	const u64 x = s->xcr0;
	FACT(bits(x, 0, 0) == 1);
	FACT((x & ~k->xcr0_supported) == 0);
	if (bits(x, 2, 2))
		FACT(bits(x, 1, 1));
	FACT(bits(x, 7, 5) == 0 || bits(x, 7, 5) == 7);
	if (bits(x, 7, 5))
		FACT(bits(x, 2, 2));

	/* The XSAVE area as XRSTOR (standard form) takes it. */
	u64 bv, comp;
	u32 mxcsr;
	memcpy(&bv, s->xsave + 512, 8);
	memcpy(&comp, s->xsave + 520, 8);
	memcpy(&mxcsr, s->xsave + 24, 4);
	u32 top = k->xsave_max < 4096 ? k->xsave_max : 4096;
	if (x)
		FACT(s->xsave_len >= 576 && s->xsave_len <= top);
	FACT(s->xsave_len <= sizeof(s->xsave));
	FACT((bv & ~k->xcr0_supported) == 0);
	FACT(comp == 0);
	if (bits(bv, 2, 2)) /* the AVX component ends at 576 + 256 */
		FACT(s->xsave_len >= 832);
	if (bv >> 3)
		FACT(s->xsave_len >= k->xsave_max);
	FACT((mxcsr & ~(k->mxcsr_mask ? k->mxcsr_mask : 0xffbfu)) == 0);
	return true;
}

/* ---- the target ---- */

static struct vcpu_state st, copy;
#define HDR 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < HDR)
		return 0;
	struct vcpu_caps caps;
	make_caps(data[0], &caps);
	bases[(data[1] & 7) % NBASES](&st);
	bool overwrite = data[1] & 8;
	size_t off = ((size_t)data[2] | (size_t)data[3] << 8) % sizeof(st);
	u8 *p = (u8 *)&st;
	for (size_t i = HDR; i < size && off < sizeof(st); i++, off++)
		p[off] = overwrite ? data[i] : (u8)(p[off] ^ data[i]);
	copy = st;

	char why[256];
	memset(why, 'x', sizeof(why));
	int rc = vcpu_state_check(&st, &caps, why, sizeof(why));
	CHECK(rc == 0 || rc == -1);
	CHECK(!memcmp(&st, &copy, sizeof(st))); /* pure: the state is const */
	CHECK(memchr(why, '\0', sizeof(why)));
	size_t n = strlen(why);
	for (size_t i = 0; i < n; i++)
		CHECK(why[i] >= 0x20 && why[i] < 0x7f); /* one printable line */
	if (rc == 0) {
		CHECK(n == 0);
		if (!oracle(&st, &caps)) {
			fprintf(stderr, "fuzz_vcpu_state: accepted (caps byte %#x, base %u)\n", data[0],
				(unsigned)((data[1] & 7) % NBASES));
			__builtin_trap();
		}
	} else {
		CHECK(n > 11 && !strncmp(why, "cpu state: ", 11));
		CHECK(n < sizeof(why) - 1); /* the reason fits a line, not cut */
	}
	/* Any buffer gives the same answer; a short one a prefix of the reason. */
	CHECK(vcpu_state_check(&st, &caps, NULL, 0) == rc);
	const size_t lens[] = { 1, 5, 12, 40 };
	for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
		char small[40];
		memset(small, 'y', sizeof(small));
		CHECK(vcpu_state_check(&st, &caps, small, lens[j]) == rc);
		CHECK(memchr(small, '\0', lens[j]));
		CHECK(!strncmp(small, why, lens[j] - 1));
		CHECK(strlen(small) == (n < lens[j] - 1 ? n : lens[j] - 1));
	}
	return 0;
}

/* ---- seeds ---- */

static u8 sb[HDR + sizeof(struct vcpu_state)];

/* caps selector, base, XOR patch of len bytes at the offset of a field. */
static void seed_patch(u8 caps_sel, u8 base, size_t off, const void *patch, size_t len)
{
	sb[0] = caps_sel;
	sb[1] = base;
	sb[2] = (u8)off;
	sb[3] = (u8)(off >> 8);
	memcpy(sb + HDR, patch, len);
	seed_add(sb, HDR + len);
}

static void seed_xor64(u8 caps_sel, u8 base, size_t off, u64 x)
{
	seed_patch(caps_sel, base, off, &x, 8);
}

static void seed_xor32(u8 caps_sel, u8 base, size_t off, u32 x)
{
	seed_patch(caps_sel, base, off, &x, 4);
}

#define OFF(f) offsetof(struct vcpu_state, f)
#define SEG_OFF(i, f) (OFF(seg) + (i) * sizeof(struct vcpu_segment) + offsetof(struct vcpu_segment, f))

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!seed_dir())
		return 0;
	/* Each base, unchanged, on the CPUs it is good for. */
	static const u8 caps_sels[] = { 0x00, 0x01, 0x02, 0x38, 0x40 };
	for (unsigned b = 0; b < NBASES; b++)
		for (size_t c = 0; c < sizeof(caps_sels); c++)
			if (b != 4 || caps_sels[c] == 0x02)
				seed_patch(caps_sels[c], (u8)b, 0, "", 0);
	/* The whole start state, overwrite mode (what a stream's section holds). */
	base_start(&st);
	sb[0] = 0;
	sb[1] = 8;
	sb[2] = sb[3] = 0;
	memcpy(sb + HDR, &st, sizeof(st));
	seed_add(sb, sizeof(sb));

	/* Near misses: one rule broken each (all refused). */
	seed_xor64(0, 0, OFF(cr0), 1);                     /* PG without PE */
	seed_xor64(0, 0, OFF(rip), 0x0000800000000000ULL); /* RIP not canonical */
	seed_xor32(0, 0, OFF(ia32e_mode), 1);              /* LMA != IA-32e mode */
	seed_xor64(0, 0, OFF(efer), 0x100);                /* LMA without LME */
	seed_xor64(0, 0, OFF(cr4), 0x20);                  /* long mode without PAE */
	seed_xor64(0, 0, OFF(rflags), 0x2);                /* bit 1 clear */
	seed_xor64(0, 0, OFF(rflags), 1ULL << 22);         /* reserved bit */
	seed_xor64(0, 0, OFF(cr3), 1ULL << 39);            /* above 39 bits (fine with 40+) */
	seed_xor64(0x08, 0, OFF(cr3), 1ULL << 39);
	seed_xor64(0, 0, OFF(xcr0), 1);                    /* XCR0 without x87 */
	seed_xor64(0, 0, OFF(xcr0), 4);                    /* AVX without SSE */
	seed_xor32(0, 0, OFF(xsave_len), 832 ^ 4097);      /* too long */
	seed_xor32(0, 0, OFF(xsave_len), 832 ^ 512);       /* too short */
	seed_xor64(0, 0, OFF(dr7), 1ULL << 32);
	seed_xor64(0, 0, OFF(dr6), 1ULL << 63);
	seed_xor32(0, 0, OFF(activity), 2);
	seed_xor32(0, 0, SEG_OFF(VSEG_TR, attrib), 0x8b ^ 0x89); /* TSS not busy */
	seed_xor32(0, 0, SEG_OFF(VSEG_TR, attrib), 0x10000);     /* TR unusable */
	seed_xor32(0, 1, OFF(pending_event), 0x20 ^ ((2u << 8) | 3)); /* NMI with vector 3 */
	seed_xor32(0, 1, OFF(pending_event), 0x20 ^ ((3u << 8) | 14)); /* #PF without error code */
	seed_xor32(0, 2, OFF(pending_error), 0x10000);
	seed_xor32(0, 3, OFF(pending_event), 0x80000000u | (3u << 8) | 6); /* #UD while halted */
	seed_xor32(0x04, 3, OFF(cr0), 0);                  /* real mode without unrestricted guest */
	seed_xor64(0x40, 0, OFF(xsave) + 24, 0x40);        /* MXCSR.DAZ with the default mask */
	seed_xor64(0x01, 1, OFF(cr4), 1ULL << 21);         /* SMAP on Haswell */
	seed_xor32(0, 5, OFF(activity), 1);                /* HLT at CPL 3 */
	seed_xor32(0, 5, SEG_OFF(VSEG_DS, limit), 0x10000); /* not a virtual-8086 segment */
	exit(0);
}
