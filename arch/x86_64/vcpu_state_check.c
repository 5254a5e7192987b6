/*
 * vcpu_state_check(): may this vCPU state be loaded here? Pure (host unit
 * tests and a fuzzer run it): every rule below is either a VM-entry check of
 * SDM Vol. 3 26.3.1 (guest state) and 26.2.1.3 (event injection), which
 * would fail the entry, or something that would fault in Tern itself while
 * it loads the state (WRMSR of a non-canonical LSTAR, MOV to DR6 with high
 * bits, XRSTOR of a bad header or MXCSR). The first rule broken is named.
 *
 * CR0 and CR4 are the guest's view (what MOV from CR reads); Tern forces
 * CR0.NE and CR4.VMXE on in the real register and keeps the guest's own
 * value in the read shadow, so those two are exempt from the fixed-0 bits.
 */
#include <tern/vcpu_state.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define CR0_PE (1ULL << 0)
#define CR0_NE (1ULL << 5)
#define CR0_WP (1ULL << 16)
#define CR0_NW (1ULL << 29)
#define CR0_CD (1ULL << 30)
#define CR0_PG (1ULL << 31)
#define CR0_DEFINED 0xe005003fULL /* PE MP EM TS ET NE WP AM NW CD PG */
#define CR4_PAE (1ULL << 5)
#define CR4_VMXE (1ULL << 13)
#define CR4_PCIDE (1ULL << 17)
#define CR4_CET (1ULL << 23)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)
#define RFLAGS_FIXED1 (1ULL << 1)
#define RFLAGS_TF (1ULL << 8)
#define RFLAGS_IF (1ULL << 9)
#define RFLAGS_VM (1ULL << 17)
#define RFLAGS_RESERVED (~0x3f7fd7ULL) /* 3, 5, 15, 22-63 */

#define AR_TYPE(a) ((a) & 0xf)
#define AR_S (1u << 4)
#define AR_DPL(a) (((a) >> 5) & 3)
#define AR_P (1u << 7)
#define AR_RESERVED_LO 0xf00u /* bits 11:8 */
#define AR_L (1u << 13)
#define AR_DB (1u << 14)
#define AR_G (1u << 15)
#define AR_UNUSABLE (1u << 16)
#define AR_RESERVED_HI 0xfffe0000u /* bits 31:17 */

#define INTR_STI (1u << 0)
#define INTR_MOVSS (1u << 1)
#define INTR_SMI (1u << 2)
#define INTR_NMI (1u << 3)
#define ACTIVITY_HLT 1u

#define EV_VALID (1u << 31)
#define EV_HAS_ERROR (1u << 11)
#define EV_RESERVED 0x7ffff000u
#define EV_TYPE(e) (((e) >> 8) & 7)
#define EV_VECTOR(e) ((e) & 0xff)
enum { EV_EXT = 0, EV_NMI = 2, EV_HW_EXC = 3, EV_SW_INT = 4, EV_PRIV_SW_EXC = 5, EV_SW_EXC = 6 };

/* Pending debug exceptions: B0-B3, enabled breakpoint, BS (SDM 24.4.2). */
#define DBG_ALLOWED 0x500fULL
#define DBG_BS (1ULL << 14)

#define XCR0_X87 1ULL
#define XCR0_SSE 2ULL
#define XCR0_AVX 4ULL
#define XSAVE_HEADER 512
#define XSAVE_MIN 576
#define XSAVE_AVX_END 832 /* the AVX component: offset 576, 256 bytes (standard format) */
#define MXCSR_OFFSET 24

static const char *const seg_name[VSEG_NR] = { "ES", "CS", "SS", "DS", "FS", "GS", "LDTR", "TR" };

__attribute__((format(printf, 3, 4))) static int refuse(char *why, size_t len, const char *fmt, ...)
{
	if (why && len) {
		int n = snprintf(why, len, "cpu state: ");
		if (n >= 0 && (size_t)n < len) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(why + n, len - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -1;
}

/* 48-bit linear addresses: bits 63:47 all equal. */
static bool canonical(u64 a)
{
	u64 top = a >> 47;
	return top == 0 || top == 0x1ffff;
}

static bool usable(const struct vcpu_segment *g)
{
	return !(g->attrib & AR_UNUSABLE);
}

/* The limit's granularity must match G (26.3.1.2). */
static bool limit_fits_g(const struct vcpu_segment *g)
{
	bool gran = g->attrib & AR_G;
	if ((g->limit & 0xfff) != 0xfff && gran)
		return false;
	if ((g->limit & 0xfff00000) && !gran)
		return false;
	return true;
}

struct ctx {
	const struct vcpu_state *s;
	const struct vcpu_caps *caps;
	char *why;
	size_t len;
	bool pe, pg, ia32e, v86;
};

static int check_control(struct ctx *c)
{
	const struct vcpu_state *s = c->s;
	const struct vcpu_caps *k = c->caps;
	u64 exempt0 = CR0_NE | (k->unrestricted ? CR0_PE | CR0_PG : 0);

	if (s->cr0 & ~CR0_DEFINED)
		return refuse(c->why, c->len, "CR0 %#llx sets reserved bits %#llx",
			      (unsigned long long)s->cr0, (unsigned long long)(s->cr0 & ~CR0_DEFINED));
	if ((k->cr0_fixed0 & ~exempt0) & ~s->cr0)
		return refuse(c->why, c->len, "CR0 %#llx lacks bits %#llx this CPU requires",
			      (unsigned long long)s->cr0,
			      (unsigned long long)((k->cr0_fixed0 & ~exempt0) & ~s->cr0));
	/* CD and NW never reach the real CR0: Tern keeps them in the shadow. */
	if (s->cr0 & ~(k->cr0_fixed1 | CR0_CD | CR0_NW))
		return refuse(c->why, c->len, "CR0 sets bits %#llx this CPU cannot run a guest with",
			      (unsigned long long)(s->cr0 & ~(k->cr0_fixed1 | CR0_CD | CR0_NW)));
	if ((s->cr0 & CR0_PG) && !(s->cr0 & CR0_PE))
		return refuse(c->why, c->len, "CR0.PG set without CR0.PE");
	if ((s->cr0 & CR0_NW) && !(s->cr0 & CR0_CD))
		return refuse(c->why, c->len, "CR0.NW set without CR0.CD");

	if (s->cr4 & CR4_VMXE)
		return refuse(c->why, c->len, "CR4.VMXE set (VMX is hidden from guests)");
	if ((k->cr4_fixed0 & ~CR4_VMXE) & ~s->cr4)
		return refuse(c->why, c->len, "CR4 %#llx lacks bits %#llx this CPU requires",
			      (unsigned long long)s->cr4,
			      (unsigned long long)((k->cr4_fixed0 & ~CR4_VMXE) & ~s->cr4));
	if (s->cr4 & ~k->cr4_fixed1)
		return refuse(c->why, c->len, "CR4 sets reserved bit %#llx",
			      (unsigned long long)(s->cr4 & ~k->cr4_fixed1));
	if ((s->cr4 & CR4_CET) && !(s->cr0 & CR0_WP))
		return refuse(c->why, c->len, "CR4.CET set without CR0.WP");
	if ((s->cr4 & CR4_PCIDE) && !c->ia32e)
		return refuse(c->why, c->len, "CR4.PCIDE set outside IA-32e mode");

	unsigned pa = k->maxphyaddr ? k->maxphyaddr : 36;
	if (pa < 64 && (s->cr3 >> pa))
		return refuse(c->why, c->len, "CR3 %#llx sets bits above the %u-bit physical address width",
			      (unsigned long long)s->cr3, pa);

	if (s->ia32e_mode > 1)
		return refuse(c->why, c->len, "IA-32e mode control %u is not 0 or 1", s->ia32e_mode);
	if (s->efer & ~k->efer_allowed)
		return refuse(c->why, c->len, "EFER sets reserved bits %#llx",
			      (unsigned long long)(s->efer & ~k->efer_allowed));
	if (!!(s->efer & EFER_LMA) != c->ia32e)
		return refuse(c->why, c->len, "EFER.LMA (%u) differs from the IA-32e mode control (%u)",
			      !!(s->efer & EFER_LMA), s->ia32e_mode);
	if ((s->efer & EFER_LMA) && !(s->efer & EFER_LME))
		return refuse(c->why, c->len, "EFER.LMA set without EFER.LME");
	if (c->pg && !!(s->efer & EFER_LME) != !!(s->efer & EFER_LMA))
		return refuse(c->why, c->len, "EFER.LME and EFER.LMA differ with paging on");
	if (c->ia32e && (!c->pg || !(s->cr4 & CR4_PAE)))
		return refuse(c->why, c->len, "IA-32e mode needs CR0.PG and CR4.PAE");

	for (int i = 0; i < 8; i++) {
		u8 t = (u8)(s->pat >> (8 * i));
		if (t == 2 || t == 3 || t > 7)
			return refuse(c->why, c->len, "PAT entry %d has invalid memory type %u", i, t);
	}
	if (s->dr6 >> 32 || s->dr7 >> 32)
		return refuse(c->why, c->len, "DR%d sets bits 63:32", s->dr6 >> 32 ? 6 : 7);
	const u64 dr[4] = { s->dr0, s->dr1, s->dr2, s->dr3 };
	for (int i = 0; i < 4; i++)
		if (!canonical(dr[i]))
			return refuse(c->why, c->len, "DR%d %#llx is not canonical", i,
				      (unsigned long long)dr[i]);
	return 0;
}

static int check_rflags_rip(struct ctx *c)
{
	const struct vcpu_state *s = c->s;
	if (!(s->rflags & RFLAGS_FIXED1) || (s->rflags & RFLAGS_RESERVED))
		return refuse(c->why, c->len, "RFLAGS %#llx: reserved bits wrong (bit 1 must be 1; 3, 5, 15, 22-63 must be 0)",
			      (unsigned long long)s->rflags);
	if ((s->rflags & RFLAGS_VM) && (c->ia32e || !c->pe))
		return refuse(c->why, c->len, "RFLAGS.VM set in %s", c->ia32e ? "IA-32e mode" : "real mode");
	bool code64 = c->ia32e && (s->seg[VSEG_CS].attrib & AR_L);
	if (code64 && !canonical(s->rip))
		return refuse(c->why, c->len, "RIP %#llx is not canonical", (unsigned long long)s->rip);
	if (!code64 && (s->rip >> 32))
		return refuse(c->why, c->len, "RIP %#llx above 4 GiB outside 64-bit code",
			      (unsigned long long)s->rip);
	return 0;
}

/* Virtual-8086 mode: every segment as real mode would make it (26.3.1.2). */
static int check_v86_segments(struct ctx *c)
{
	for (int i = VSEG_ES; i <= VSEG_GS; i++) {
		const struct vcpu_segment *g = &c->s->seg[i];
		if (g->base != (u64)g->selector << 4 || g->limit != 0xffff || g->attrib != 0xf3)
			return refuse(c->why, c->len, "%s is not a virtual-8086 segment (base %#llx, limit %#x, attributes %#x)",
				      seg_name[i], (unsigned long long)g->base, g->limit, g->attrib);
	}
	return 0;
}

/* Reserved attribute bits, present, and limit against G: common to usable segments. */
static int check_seg_common(struct ctx *c, int i)
{
	const struct vcpu_segment *g = &c->s->seg[i];
	if (g->attrib & (AR_RESERVED_LO | AR_RESERVED_HI))
		return refuse(c->why, c->len, "%s attributes %#x set reserved bits", seg_name[i], g->attrib);
	if (!(g->attrib & AR_P))
		return refuse(c->why, c->len, "%s is not present", seg_name[i]);
	if (!limit_fits_g(g))
		return refuse(c->why, c->len, "%s limit %#x does not match its granularity bit",
			      seg_name[i], g->limit);
	return 0;
}

static int check_segments(struct ctx *c)
{
	const struct vcpu_state *s = c->s;
	const struct vcpu_segment *cs = &s->seg[VSEG_CS], *ss = &s->seg[VSEG_SS];
	const struct vcpu_segment *tr = &s->seg[VSEG_TR], *ldtr = &s->seg[VSEG_LDTR];

	for (int i = 0; i < VSEG_NR; i++)
		if (s->seg[i].pad || s->seg[i].pad2)
			return refuse(c->why, c->len, "%s padding is not zero", seg_name[i]);
	/* Bases: 63:32 zero for CS (and SS/DS/ES when usable), canonical for the rest. */
	if (cs->base >> 32)
		return refuse(c->why, c->len, "CS base %#llx above 4 GiB", (unsigned long long)cs->base);
	const int low_segs[] = { VSEG_SS, VSEG_DS, VSEG_ES };
	for (size_t j = 0; j < 3; j++) {
		const struct vcpu_segment *g = &s->seg[low_segs[j]];
		if (usable(g) && (g->base >> 32))
			return refuse(c->why, c->len, "%s base %#llx above 4 GiB", seg_name[low_segs[j]],
				      (unsigned long long)g->base);
	}
	const int wide_segs[] = { VSEG_FS, VSEG_GS, VSEG_TR, VSEG_LDTR };
	for (size_t j = 0; j < 4; j++) {
		const struct vcpu_segment *g = &s->seg[wide_segs[j]];
		if ((wide_segs[j] != VSEG_LDTR || usable(g)) && !canonical(g->base))
			return refuse(c->why, c->len, "%s base %#llx is not canonical", seg_name[wide_segs[j]],
				      (unsigned long long)g->base);
	}
	if (tr->selector & 4)
		return refuse(c->why, c->len, "TR selector %#x points into the LDT", tr->selector);
	if (usable(ldtr) && (ldtr->selector & 4))
		return refuse(c->why, c->len, "LDTR selector %#x points into the LDT", ldtr->selector);
	if (!c->caps->unrestricted && (ss->selector & 3) != (cs->selector & 3))
		return refuse(c->why, c->len, "SS RPL differs from CS RPL");

	if (c->v86) {
		if (check_v86_segments(c))
			return -1;
	} else {
		/* CS: accessed code, or accessed read/write data under unrestricted guest. */
		unsigned t = AR_TYPE(cs->attrib);
		bool data3 = c->caps->unrestricted && t == 3;
		if (cs->attrib & AR_UNUSABLE)
			return refuse(c->why, c->len, "CS is unusable");
		if (!(t == 9 || t == 11 || t == 13 || t == 15 || data3))
			return refuse(c->why, c->len, "CS type %u is not accessed code", t);
		if (!(cs->attrib & AR_S))
			return refuse(c->why, c->len, "CS is a system segment");
		if (check_seg_common(c, VSEG_CS))
			return -1;
		if (data3 && AR_DPL(cs->attrib) != 0)
			return refuse(c->why, c->len, "CS DPL %u with a data type (must be 0)", AR_DPL(cs->attrib));
		if ((t == 9 || t == 11) && AR_DPL(cs->attrib) != AR_DPL(ss->attrib))
			return refuse(c->why, c->len, "CS DPL %u differs from SS DPL %u", AR_DPL(cs->attrib),
				      AR_DPL(ss->attrib));
		if ((t == 13 || t == 15) && AR_DPL(cs->attrib) > AR_DPL(ss->attrib))
			return refuse(c->why, c->len, "conforming CS DPL %u above SS DPL %u",
				      AR_DPL(cs->attrib), AR_DPL(ss->attrib));
		if (c->ia32e && (cs->attrib & AR_L) && (cs->attrib & AR_DB))
			return refuse(c->why, c->len, "CS has both the L and D bits set");
		/* SS: CPL comes from its DPL even when it is unusable. */
		if ((data3 || !c->pe) && AR_DPL(ss->attrib) != 0)
			return refuse(c->why, c->len, "SS DPL %u must be 0 %s", AR_DPL(ss->attrib),
				      c->pe ? "with a data-type CS" : "in real mode");
		if (!c->caps->unrestricted && AR_DPL(ss->attrib) != (ss->selector & 3u))
			return refuse(c->why, c->len, "SS DPL differs from its RPL");
		if (usable(ss)) {
			if (AR_TYPE(ss->attrib) != 3 && AR_TYPE(ss->attrib) != 7)
				return refuse(c->why, c->len, "SS type %u is not read/write accessed data",
					      AR_TYPE(ss->attrib));
			if (!(ss->attrib & AR_S))
				return refuse(c->why, c->len, "SS is a system segment");
			if (check_seg_common(c, VSEG_SS))
				return -1;
		}
		const int data_segs[] = { VSEG_DS, VSEG_ES, VSEG_FS, VSEG_GS };
		for (size_t j = 0; j < 4; j++) {
			int i = data_segs[j];
			const struct vcpu_segment *g = &s->seg[i];
			if (!usable(g))
				continue;
			unsigned dt = AR_TYPE(g->attrib);
			if (!(dt & 1))
				return refuse(c->why, c->len, "%s type %u is not accessed", seg_name[i], dt);
			if ((dt & 8) && !(dt & 2))
				return refuse(c->why, c->len, "%s is execute-only code", seg_name[i]);
			if (!(g->attrib & AR_S))
				return refuse(c->why, c->len, "%s is a system segment", seg_name[i]);
			if (check_seg_common(c, i))
				return -1;
			if (!c->caps->unrestricted && dt <= 11 && AR_DPL(g->attrib) < (g->selector & 3u))
				return refuse(c->why, c->len, "%s DPL below its RPL", seg_name[i]);
		}
	}

	/* TR: a busy TSS, 64-bit in IA-32e mode, always usable. */
	unsigned tt = AR_TYPE(tr->attrib);
	if (tr->attrib & AR_UNUSABLE)
		return refuse(c->why, c->len, "TR is unusable");
	if (c->ia32e ? tt != 11 : (tt != 3 && tt != 11))
		return refuse(c->why, c->len, "TR type %u is not a busy %sTSS", tt, c->ia32e ? "64-bit " : "");
	if (tr->attrib & AR_S)
		return refuse(c->why, c->len, "TR is not a system segment");
	if (check_seg_common(c, VSEG_TR))
		return -1;
	if (usable(ldtr)) {
		if (AR_TYPE(ldtr->attrib) != 2)
			return refuse(c->why, c->len, "LDTR type %u is not an LDT", AR_TYPE(ldtr->attrib));
		if (ldtr->attrib & AR_S)
			return refuse(c->why, c->len, "LDTR is not a system segment");
		if (check_seg_common(c, VSEG_LDTR))
			return -1;
	}

	if (!canonical(s->gdtr_base) || !canonical(s->idtr_base))
		return refuse(c->why, c->len, "%s base %#llx is not canonical",
			      canonical(s->gdtr_base) ? "IDTR" : "GDTR",
			      (unsigned long long)(canonical(s->gdtr_base) ? s->idtr_base : s->gdtr_base));
	if (s->gdtr_limit >> 16 || s->idtr_limit >> 16)
		return refuse(c->why, c->len, "%s limit %#x above 0xffff", s->gdtr_limit >> 16 ? "GDTR" : "IDTR",
			      s->gdtr_limit >> 16 ? s->gdtr_limit : s->idtr_limit);
	return 0;
}

/* What WRMSR would #GP on when Tern loads them (and SYSENTER's VM-entry check). */
static int check_msrs(struct ctx *c)
{
	const struct vcpu_state *s = c->s;
	const struct { const char *name; u64 v; } canon[] = {
		{ "LSTAR", s->lstar }, { "CSTAR", s->cstar }, { "KERNEL_GS_BASE", s->kernel_gs_base },
		{ "SYSENTER_ESP", s->sysenter_esp }, { "SYSENTER_EIP", s->sysenter_eip },
	};
	for (size_t i = 0; i < ARRAY_SIZE(canon); i++)
		if (!canonical(canon[i].v))
			return refuse(c->why, c->len, "%s %#llx is not canonical", canon[i].name,
				      (unsigned long long)canon[i].v);
	if (s->sfmask >> 32)
		return refuse(c->why, c->len, "SFMASK %#llx sets bits 63:32", (unsigned long long)s->sfmask);
	if (s->tsc_aux >> 32)
		return refuse(c->why, c->len, "TSC_AUX %#llx sets bits 63:32", (unsigned long long)s->tsc_aux);
	if (s->sysenter_cs >> 32)
		return refuse(c->why, c->len, "SYSENTER_CS %#llx sets bits 63:32",
			      (unsigned long long)s->sysenter_cs);
	return 0;
}

static bool exception_has_error(unsigned v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
}

static int check_events(struct ctx *c)
{
	const struct vcpu_state *s = c->s;
	u32 intr = s->interruptibility, ev = s->pending_event;

	if (s->activity > ACTIVITY_HLT)
		return refuse(c->why, c->len, "activity state %u (only active 0 and HLT 1)", s->activity);
	if (s->activity == ACTIVITY_HLT && AR_DPL(s->seg[VSEG_SS].attrib) != 0)
		return refuse(c->why, c->len, "HLT activity state at CPL %u", AR_DPL(s->seg[VSEG_SS].attrib));
	if (intr & ~0xfu)
		return refuse(c->why, c->len, "interruptibility %#x sets reserved bits", intr);
	if ((intr & INTR_STI) && (intr & INTR_MOVSS))
		return refuse(c->why, c->len, "interruptibility blocks by both STI and MOV SS");
	if ((intr & INTR_STI) && !(s->rflags & RFLAGS_IF))
		return refuse(c->why, c->len, "STI blocking with RFLAGS.IF clear");
	if (intr & INTR_SMI)
		return refuse(c->why, c->len, "SMI blocking outside SMM");
	if ((intr & (INTR_STI | INTR_MOVSS)) && s->activity != 0)
		return refuse(c->why, c->len, "STI/MOV SS blocking in the HLT state");

	if (s->pending_dbg & ~DBG_ALLOWED)
		return refuse(c->why, c->len, "pending debug exceptions %#llx set reserved bits",
			      (unsigned long long)s->pending_dbg);
	/* DEBUGCTL.BTF is always 0 here (Tern loads DEBUGCTL = 0). */
	if (((intr & (INTR_STI | INTR_MOVSS)) || s->activity == ACTIVITY_HLT) &&
	    !!(s->pending_dbg & DBG_BS) != !!(s->rflags & RFLAGS_TF))
		return refuse(c->why, c->len, "pending single-step (BS) does not match RFLAGS.TF");

	if (!(ev & EV_VALID))
		return 0;
	unsigned type = EV_TYPE(ev), vec = EV_VECTOR(ev);
	if (ev & EV_RESERVED)
		return refuse(c->why, c->len, "pending event %#x sets reserved bits", ev);
	switch (type) {
	case EV_EXT:
		if (vec < 32)
			return refuse(c->why, c->len, "pending external interrupt with exception vector %u", vec);
		if (!(s->rflags & RFLAGS_IF) || (intr & (INTR_STI | INTR_MOVSS)))
			return refuse(c->why, c->len, "pending external interrupt while interrupts are blocked");
		break;
	case EV_NMI:
		if (vec != 2)
			return refuse(c->why, c->len, "pending NMI with vector %u", vec);
		if (intr & (INTR_MOVSS | INTR_NMI))
			return refuse(c->why, c->len, "pending NMI while NMIs are blocked");
		break;
	case EV_HW_EXC:
		if (vec >= 32)
			return refuse(c->why, c->len, "pending hardware exception with vector %u", vec);
		if (vec == 2)
			return refuse(c->why, c->len, "pending hardware exception with the NMI vector");
		break;
	case EV_SW_INT:
		break;
	case EV_PRIV_SW_EXC:
		if (vec != 1)
			return refuse(c->why, c->len, "pending privileged software exception with vector %u", vec);
		break;
	case EV_SW_EXC:
		if (vec != 3 && vec != 4)
			return refuse(c->why, c->len, "pending software exception with vector %u", vec);
		break;
	default:
		return refuse(c->why, c->len, "pending event of reserved type %u", type);
	}
	/* Real mode (unrestricted guest, PE = 0) delivers no error codes. */
	bool want_error = c->pe && type == EV_HW_EXC && exception_has_error(vec);
	if (!!(ev & EV_HAS_ERROR) != want_error)
		return refuse(c->why, c->len, "pending event %#x %s an error code", ev,
			      want_error ? "lacks" : "must not have");
	if ((ev & EV_HAS_ERROR) && (s->pending_error >> 16))
		return refuse(c->why, c->len, "pending error code %#x above 0xffff", s->pending_error);
	if ((type == EV_SW_INT || type == EV_PRIV_SW_EXC || type == EV_SW_EXC) &&
	    (s->pending_insn_len == 0 || s->pending_insn_len > 15))
		return refuse(c->why, c->len, "pending software event with instruction length %u",
			      s->pending_insn_len);
	if (s->activity == ACTIVITY_HLT && type != EV_EXT && type != EV_NMI &&
	    !(type == EV_HW_EXC && (vec == 1 || vec == 18)))
		return refuse(c->why, c->len, "pending event type %u vector %u in the HLT state", type, vec);
	return 0;
}

static int check_xsave(struct ctx *c)
{
	const struct vcpu_state *s = c->s;
	const struct vcpu_caps *k = c->caps;
	u64 bv, comp;
	u32 mxcsr;

	if (!(s->xcr0 & XCR0_X87))
		return refuse(c->why, c->len, "XCR0 %#llx lacks x87 (bit 0)", (unsigned long long)s->xcr0);
	if (s->xcr0 & ~k->xcr0_supported)
		return refuse(c->why, c->len, "XCR0 %#llx sets bits %#llx this CPU does not offer",
			      (unsigned long long)s->xcr0, (unsigned long long)(s->xcr0 & ~k->xcr0_supported));
	if ((s->xcr0 & XCR0_AVX) && !(s->xcr0 & XCR0_SSE))
		return refuse(c->why, c->len, "XCR0 %#llx enables AVX without SSE", (unsigned long long)s->xcr0);
	/* SDM Vol. 1 13.3: the AVX-512 bits 7:5 go together, and only with AVX
	 * (else XSETBV with it faults in Tern; found by fuzz_vcpu_state). */
	if ((s->xcr0 & 0xe0) && ((s->xcr0 & 0xe0) != 0xe0 || !(s->xcr0 & XCR0_AVX)))
		return refuse(c->why, c->len, "XCR0 %#llx enables AVX-512 state partly or without AVX",
			      (unsigned long long)s->xcr0);
	u32 max = MIN((u32)VCPU_XSAVE_MAX, k->xsave_max);
	if (s->xsave_len < XSAVE_MIN || s->xsave_len > max)
		return refuse(c->why, c->len, "XSAVE area of %u bytes (must be %u..%u)", s->xsave_len,
			      XSAVE_MIN, max);
	if (s->pad)
		return refuse(c->why, c->len, "padding is not zero");

	memcpy(&bv, s->xsave + XSAVE_HEADER, sizeof(bv));
	memcpy(&comp, s->xsave + XSAVE_HEADER + 8, sizeof(comp));
	/* The legacy x87/SSE region is live whatever XCR0 says (FXSAVE reaches
	 * it), and Tern saves guests under its own XCR0; so x87 and SSE may be
	 * in use with any XCR0, the other components only when XCR0 has them. */
	if (bv & ~(s->xcr0 | XCR0_X87 | XCR0_SSE))
		return refuse(c->why, c->len, "XSAVE header XSTATE_BV %#llx outside XCR0 %#llx",
			      (unsigned long long)bv, (unsigned long long)s->xcr0);
	if (bv & ~k->xcr0_supported)
		return refuse(c->why, c->len, "XSAVE header XSTATE_BV %#llx has components this CPU lacks",
			      (unsigned long long)bv);
	if (comp)
		return refuse(c->why, c->len, "XSAVE area in compacted form (XCOMP_BV %#llx)",
			      (unsigned long long)comp);
	for (int i = XSAVE_HEADER + 16; i < XSAVE_MIN; i++)
		if (s->xsave[i])
			return refuse(c->why, c->len, "XSAVE header reserved byte %d is not zero", i - XSAVE_HEADER);
	if ((bv & XCR0_AVX) && s->xsave_len < XSAVE_AVX_END)
		return refuse(c->why, c->len, "XSAVE area of %u bytes cannot hold the AVX state", s->xsave_len);
	/* Components above AVX: offsets are the CPU's (CPUID 0xD), so the whole area. */
	if ((bv >> 3) && s->xsave_len != k->xsave_max)
		return refuse(c->why, c->len, "XSAVE area of %u bytes, not the %u its components need",
			      s->xsave_len, k->xsave_max);
	memcpy(&mxcsr, s->xsave + MXCSR_OFFSET, sizeof(mxcsr));
	u32 mask = k->mxcsr_mask ? k->mxcsr_mask : 0xffbf;
	if (mxcsr & ~mask)
		return refuse(c->why, c->len, "MXCSR %#x sets bits %#x this CPU does not have", mxcsr,
			      mxcsr & ~mask);
	return 0;
}

int vcpu_state_check(const struct vcpu_state *s, const struct vcpu_caps *caps, char *why,
		     size_t why_len)
{
	if (why && why_len)
		why[0] = '\0';
	if (s->version != VCPU_STATE_VERSION)
		return refuse(why, why_len, "version %u, this Tern loads version %u", s->version,
			      VCPU_STATE_VERSION);
	if (s->size != sizeof(*s))
		return refuse(why, why_len, "size %u bytes, this Tern's is %zu", s->size, sizeof(*s));

	struct ctx c = {
		.s = s, .caps = caps, .why = why, .len = why_len,
		.pe = s->cr0 & CR0_PE, .pg = s->cr0 & CR0_PG, .ia32e = s->ia32e_mode == 1,
		.v86 = s->rflags & RFLAGS_VM,
	};
	if (check_control(&c) || check_rflags_rip(&c) || check_segments(&c) || check_msrs(&c) ||
	    check_events(&c) || check_xsave(&c))
		return -1;
	return 0;
}
