/*
 * arch/x86_64/vcpu_state_check.c: the documented start state
 * (docs/guest-abi.md, long mode) on a Skylake-like CPU passes; each rule is
 * broken once by changing one field of it, and the reason must name it;
 * random byte flips of a good state never crash the check (ASan/UBSan).
 */
#include "unit.h"
#include <tern/vcpu_state.h>

#define AR_CODE64 0xa09bu
#define AR_DATA 0xc093u
#define AR_TSS64_BUSY 0x8bu
#define AR_UNUSABLE 0x10000u

/* The VMX fixed-bit MSRs and CPUID values of a Skylake server (and Bochs' model). */
static const struct vcpu_caps skylake = {
	.cr0_fixed0 = 0x80000021ULL, .cr0_fixed1 = 0xffffffffULL,
	.cr4_fixed0 = 0x2000ULL, .cr4_fixed1 = 0x3767ffULL,
	.unrestricted = true,
	.efer_allowed = 0xd01, /* SCE LME LMA NXE */
	.xcr0_supported = 7, .xsave_max = 832, .maxphyaddr = 39, .mxcsr_mask = 0xffff,
};

static struct vcpu_state st;
static struct vcpu_caps caps;
static char why[200];

static void seg(int i, u16 sel, u32 limit, u32 ar)
{
	st.seg[i] = (struct vcpu_segment){ .selector = sel, .limit = limit, .attrib = ar };
}

/* Tern's start state: guest_boot.c and docs/guest-abi.md. */
static void good(void)
{
	memset(&st, 0, sizeof(st));
	st.version = VCPU_STATE_VERSION;
	st.size = sizeof(st);
	st.rip = 0x100000;
	st.rsp = 0x80000;
	st.rdi = 64 << 20;
	st.rflags = 0x2;
	st.cr0 = 0x80010033; /* PE MP ET NE WP PG */
	st.cr3 = 0x2000;
	st.cr4 = 0x620;      /* PAE OSFXSR OSXMMEXCPT */
	st.efer = 0xd00;     /* LME LMA NXE */
	st.pat = 0x0007040600070406ULL;
	st.dr6 = 0xffff0ff0;
	st.dr7 = 0x400;
	seg(VSEG_CS, 0x08, 0xffffffff, AR_CODE64);
	for (int i = VSEG_ES; i <= VSEG_GS; i++)
		if (i != VSEG_CS)
			seg(i, 0x10, 0xffffffff, AR_DATA);
	seg(VSEG_TR, 0, 0x67, AR_TSS64_BUSY);
	seg(VSEG_LDTR, 0, 0, AR_UNUSABLE);
	st.gdtr_base = 0x1000;
	st.gdtr_limit = 0x17;
	st.ia32e_mode = 1;
	st.xcr0 = 1;
	st.xsave_len = 832;
	u16 fcw = 0x37f;
	u32 mxcsr = 0x1f80;
	memcpy(st.xsave, &fcw, 2);
	memcpy(st.xsave + 24, &mxcsr, 4);
	caps = skylake;
	why[0] = '\0';
}

static int check(void)
{
	return vcpu_state_check(&st, &caps, why, sizeof(why));
}

/* Refused, with a reason that starts "cpu state: " and contains text. */
#define REFUSED(text)                                                          \
	do {                                                                   \
		CHECK_EQ(check(), -1);                                         \
		CHECK(strncmp(why, "cpu state: ", 11) == 0);                   \
		if (!strstr(why, (text)))                                      \
			unit_fail(__FILE__, __LINE__, "reason \"%s\" lacks \"%s\"", why, (text)); \
		CHECK(!strchr(why, '\n'));                                     \
	} while (0)

static void set_xstate_bv(u64 bv)
{
	memcpy(st.xsave + 512, &bv, 8);
}

TEST(start_state_passes)
{
	good();
	CHECK_EQ(check(), 0);
	CHECK_STR_EQ(why, "");
}

TEST(realistic_variants_pass)
{
	/* A kernel at CPL 0 with syscalls set up, AVX on, a timer interrupt pending. */
	good();
	st.rip = 0xffffffff81000000ULL;
	st.lstar = 0xffffffff81800000ULL;
	st.star = 0x0023001000000000ULL;
	st.sfmask = 0x47700;
	st.kernel_gs_base = 0xffff888000000000ULL;
	st.seg[VSEG_GS].base = 0xffff888007a00000ULL;
	st.xcr0 = 7;
	set_xstate_bv(7);
	st.rflags = 0x202;
	st.pending_event = (1u << 31) | 0x20;
	st.cr4 |= 1u << 18; /* OSXSAVE */
	CHECK_EQ(check(), 0);
	/* A guest that left paging and long mode (unrestricted guest): 32-bit flat. */
	good();
	st.cr0 = 0x11;
	st.efer = 0;
	st.ia32e_mode = 0;
	st.seg[VSEG_CS].attrib = 0xc09b;
	st.seg[VSEG_TR].attrib = 0x8b;
	CHECK_EQ(check(), 0);
	/* Real mode under unrestricted guest, a #GP in flight needs no error code there. */
	st.cr0 = 0x10;
	st.seg[VSEG_CS] = (struct vcpu_segment){ .selector = 0xf000, .base = 0xf0000, .limit = 0xffff, .attrib = 0x9b };
	for (int i = VSEG_ES; i <= VSEG_GS; i++)
		if (i != VSEG_CS)
			st.seg[i] = (struct vcpu_segment){ .limit = 0xffff, .attrib = 0x93 };
	st.pending_event = (1u << 31) | (3u << 8) | 13;
	CHECK_EQ(check(), 0);
	/* Halted with a pending timer, an SSE guest with XCR0 = x87 only. */
	good();
	st.activity = 1;
	set_xstate_bv(3);
	CHECK_EQ(check(), 0);
}

TEST(version_and_size)
{
	good();
	st.version = 2;
	REFUSED("version 2");
	good();
	st.size -= 8;
	REFUSED("size");
}

TEST(rip_rflags)
{
	good();
	st.rip = 0x0000800000000000ULL;
	REFUSED("RIP 0x800000000000 is not canonical");
	good();
	st.ia32e_mode = 0;
	st.efer = 0;
	st.seg[VSEG_TR].attrib = 0x8b;
	st.rip = 1ULL << 32;
	REFUSED("RIP");
	good();
	st.rflags = 0;
	REFUSED("RFLAGS");
	good();
	st.rflags = 0x2 | (1u << 15);
	REFUSED("RFLAGS");
	good();
	st.rflags = 0x2 | (1ULL << 22);
	REFUSED("RFLAGS");
	good();
	st.rflags = 0x2 | (1u << 17);
	REFUSED("RFLAGS.VM set in IA-32e mode");
}

TEST(cr0_cr4_cr3)
{
	good();
	st.cr0 &= ~1ULL; /* PG without PE */
	REFUSED("CR0.PG set without CR0.PE");
	good();
	st.cr0 |= 1ULL << 32;
	REFUSED("CR0");
	good();
	st.cr0 |= 1u << 29; /* NW without CD */
	REFUSED("CR0.NW");
	good();
	caps.unrestricted = false;
	st.cr0 = 0x80010033;
	CHECK_EQ(check(), 0);
	st.cr0 = 0x00010033; /* paging off is no longer allowed */
	st.efer = 0;
	st.ia32e_mode = 0;
	st.seg[VSEG_TR].attrib = 0x8b;
	REFUSED("CR0 0x10033 lacks bits 0x80000000");
	good();
	st.cr4 |= 1u << 13;
	REFUSED("CR4.VMXE");
	good();
	st.cr4 |= 1u << 23; /* CET: not in this CPU's fixed1 */
	REFUSED("CR4 sets reserved bit 0x800000");
	good();
	caps.cr4_fixed0 |= 1u << 9;
	st.cr4 &= ~(1ULL << 9);
	REFUSED("CR4 0x420 lacks bits 0x200");
	good();
	st.cr3 = 1ULL << 39;
	REFUSED("CR3");
	good();
	st.cr4 |= 1u << 17; /* PCIDE outside long mode */
	st.cr0 = 0x11;
	st.efer = 0;
	st.ia32e_mode = 0;
	st.seg[VSEG_TR].attrib = 0x8b;
	REFUSED("PCIDE");
}

TEST(efer)
{
	good();
	st.efer |= 1u << 12;
	REFUSED("EFER sets reserved bits 0x1000");
	good();
	st.ia32e_mode = 0;
	REFUSED("EFER.LMA (1) differs");
	good();
	st.efer &= ~0x100ULL; /* LMA without LME */
	REFUSED("EFER.LMA set without EFER.LME");
	good();
	st.cr4 &= ~0x20ULL; /* long mode without PAE */
	REFUSED("IA-32e mode needs CR0.PG and CR4.PAE");
	good();
	st.ia32e_mode = 2;
	REFUSED("IA-32e mode control 2");
	good();
	st.efer &= ~0x400ULL; /* LME on, LMA off, paging on */
	st.ia32e_mode = 0;
	st.seg[VSEG_TR].attrib = 0x8b;
	REFUSED("EFER.LME and EFER.LMA differ");
}

TEST(pat_and_debug_registers)
{
	good();
	st.pat = 0x0007040600070206ULL;
	REFUSED("PAT entry 1 has invalid memory type 2");
	good();
	st.pat = 0x0807040600070406ULL;
	REFUSED("PAT entry 7");
	good();
	st.dr7 |= 1ULL << 32;
	REFUSED("DR7 sets bits 63:32");
	good();
	st.dr6 |= 1ULL << 40;
	REFUSED("DR6 sets bits 63:32");
	good();
	st.dr2 = 0x1234000000000000ULL;
	REFUSED("DR2");
}

TEST(segment_bases_and_tables)
{
	good();
	st.seg[VSEG_FS].base = 0x0000800000000000ULL;
	REFUSED("FS base 0x800000000000 is not canonical");
	good();
	st.seg[VSEG_GS].base = 0x8000000000000000ULL;
	REFUSED("GS base");
	good();
	st.seg[VSEG_TR].base = 0x0001000000000000ULL;
	REFUSED("TR base");
	good();
	st.seg[VSEG_CS].base = 1ULL << 32;
	REFUSED("CS base");
	good();
	st.seg[VSEG_DS].base = 1ULL << 32;
	REFUSED("DS base");
	good();
	st.seg[VSEG_DS].attrib = AR_UNUSABLE; /* an unusable DS's base is not checked */
	st.seg[VSEG_DS].base = 1ULL << 32;
	CHECK_EQ(check(), 0);
	good();
	st.gdtr_base = 0x0000900000000000ULL;
	REFUSED("GDTR base");
	good();
	st.idtr_base = 0x0000900000000000ULL;
	REFUSED("IDTR base");
	good();
	st.idtr_limit = 0x10000;
	REFUSED("IDTR limit");
	good();
	st.seg[VSEG_SS].pad = 1;
	REFUSED("SS padding");
}

TEST(segment_attributes)
{
	good();
	st.seg[VSEG_CS].attrib = 0xa093; /* data, not code: only type 3 allowed, with DPL 0 */
	CHECK_EQ(check(), 0);
	st.seg[VSEG_CS].attrib = 0xa091;
	REFUSED("CS type 1");
	good();
	st.seg[VSEG_CS].attrib &= ~0x80u;
	REFUSED("CS is not present");
	good();
	st.seg[VSEG_CS].attrib |= 1u << 14; /* L and D */
	REFUSED("CS has both the L and D bits set");
	good();
	st.seg[VSEG_CS].attrib = 0xa0fb; /* DPL 3 code with SS DPL 0 */
	REFUSED("CS DPL 3 differs from SS DPL 0");
	good();
	st.seg[VSEG_CS].attrib |= AR_UNUSABLE;
	REFUSED("CS is unusable");
	good();
	st.seg[VSEG_CS].attrib |= 0x100;
	REFUSED("CS attributes 0xa19b set reserved bits");
	good();
	st.seg[VSEG_SS].attrib = 0xc09b; /* code in SS */
	REFUSED("SS type 11");
	good();
	st.seg[VSEG_DS].attrib = 0xc092; /* not accessed */
	REFUSED("DS type 2 is not accessed");
	good();
	st.seg[VSEG_ES].attrib = 0xc099; /* execute-only code */
	REFUSED("ES is execute-only");
	good();
	st.seg[VSEG_FS].attrib = 0xc083; /* S clear */
	REFUSED("FS is a system segment");
	good();
	st.seg[VSEG_GS].limit = 0xfffff; /* G set, low 12 bits not all ones... */
	st.seg[VSEG_GS].limit = 0xffff0;
	REFUSED("GS limit 0xffff0 does not match");
	good();
	st.seg[VSEG_DS].attrib = 0x4093; /* G clear with a 4 GiB limit */
	REFUSED("DS limit 0xffffffff does not match");
}

TEST(tr_and_ldtr)
{
	good();
	st.seg[VSEG_TR].attrib = 0x89; /* available, not busy */
	REFUSED("TR type 9 is not a busy 64-bit TSS");
	good();
	st.seg[VSEG_TR].attrib = 0x83; /* 16-bit busy TSS in long mode */
	REFUSED("TR type 3");
	good();
	st.seg[VSEG_TR].attrib |= AR_UNUSABLE;
	REFUSED("TR is unusable");
	good();
	st.seg[VSEG_TR].selector = 0x0c;
	REFUSED("TR selector");
	good();
	st.seg[VSEG_TR].attrib |= 0x10;
	REFUSED("TR is not a system segment");
	good();
	st.seg[VSEG_LDTR] = (struct vcpu_segment){ .selector = 0x18, .limit = 0xfff, .attrib = 0x82 };
	CHECK_EQ(check(), 0);
	st.seg[VSEG_LDTR].attrib = 0x89;
	REFUSED("LDTR type 9 is not an LDT");
	good();
	st.seg[VSEG_LDTR] = (struct vcpu_segment){ .limit = 0xfff, .attrib = 0x82,
						   .base = 0x0000800000000000ULL };
	REFUSED("LDTR base");
}

TEST(msrs)
{
	good();
	st.lstar = 0x0000800000000000ULL;
	REFUSED("LSTAR");
	good();
	st.cstar = 0x00ff000000000000ULL;
	REFUSED("CSTAR");
	good();
	st.kernel_gs_base = 0x0000800000001000ULL;
	REFUSED("KERNEL_GS_BASE");
	good();
	st.sysenter_esp = 0x4000000000000000ULL;
	REFUSED("SYSENTER_ESP");
	good();
	st.sysenter_eip = 0x4000000000000000ULL;
	REFUSED("SYSENTER_EIP");
	good();
	st.sfmask = 1ULL << 32;
	REFUSED("SFMASK");
	good();
	st.tsc_aux = 1ULL << 32;
	REFUSED("TSC_AUX");
}

TEST(activity_and_interruptibility)
{
	good();
	st.activity = 2; /* shutdown */
	REFUSED("activity state 2");
	good();
	st.activity = 1;
	st.seg[VSEG_SS].attrib = 0xc0f3;
	st.seg[VSEG_CS].attrib = 0xa0fb;
	REFUSED("HLT activity state at CPL 3");
	good();
	st.interruptibility = 1u << 5;
	REFUSED("interruptibility 0x20 sets reserved bits");
	good();
	st.interruptibility = 3;
	st.rflags |= 1u << 9;
	REFUSED("both STI and MOV SS");
	good();
	st.interruptibility = 1; /* STI blocking with IF clear */
	REFUSED("STI blocking with RFLAGS.IF clear");
	good();
	st.interruptibility = 4;
	REFUSED("SMI");
	good();
	st.pending_dbg = 1u << 4;
	REFUSED("pending debug exceptions 0x10");
	good();
	st.interruptibility = 2;
	st.rflags |= 1u << 8; /* TF with MOV SS blocking needs BS pending */
	REFUSED("BS");
	st.pending_dbg = 1u << 14;
	CHECK_EQ(check(), 0);
}

TEST(pending_events)
{
	good();
	st.rflags |= 1u << 9;
	st.pending_event = (1u << 31) | (3u << 8) | 32; /* hardware exception 32 */
	REFUSED("pending hardware exception with vector 32");
	st.pending_event = (1u << 31) | (0u << 8) | 14; /* external interrupt 14 */
	REFUSED("pending external interrupt with exception vector 14");
	st.pending_event = (1u << 31) | (3u << 8) | 14; /* #PF without its error code */
	REFUSED("lacks an error code");
	st.pending_event = (1u << 31) | (1u << 11) | (3u << 8) | 6; /* #UD with one */
	REFUSED("must not have an error code");
	st.pending_event = (1u << 31) | (1u << 11) | (3u << 8) | 13;
	st.pending_error = 0x10000;
	REFUSED("pending error code 0x10000");
	st.pending_error = 0;
	CHECK_EQ(check(), 0);
	st.pending_event = (1u << 31) | (1u << 8) | 40; /* reserved type 1 */
	REFUSED("reserved type 1");
	st.pending_event = (1u << 31) | (7u << 8);
	REFUSED("reserved type 7");
	st.pending_event = (1u << 31) | (2u << 8) | 3;
	REFUSED("pending NMI with vector 3");
	st.pending_event = (1u << 31) | (4u << 8) | 0x80; /* INT 0x80 */
	st.pending_insn_len = 0;
	REFUSED("instruction length 0");
	st.pending_insn_len = 2;
	CHECK_EQ(check(), 0);
	st.pending_event = (1u << 31) | (6u << 8) | 5;
	REFUSED("pending software exception with vector 5");
	st.pending_event = (1u << 31) | (1u << 20) | 0x20;
	REFUSED("reserved bits");
	st.pending_event = (1u << 31) | 0x20;
	st.rflags &= ~(1ULL << 9);
	REFUSED("interrupts are blocked");
	/* Not valid: the rest of the field is not looked at. */
	st.pending_event = 0x7fffffff;
	CHECK_EQ(check(), 0);
}

TEST(xcr0_and_xsave)
{
	good();
	st.xcr0 = 2;
	REFUSED("XCR0 0x2 lacks x87");
	good();
	st.xcr0 = 5;
	REFUSED("enables AVX without SSE");
	good();
	st.xcr0 = 0x1f;
	REFUSED("XCR0 0x1f sets bits 0x18");
	/* AVX-512 (bits 7:5): all three and AVX, or none (fuzz_vcpu_state's find). */
	static const u64 partial[] = { 0x27, 0xe3, 0xc7, 0x21 };
	for (unsigned i = 0; i < ARRAY_SIZE(partial); i++) {
		good();
		caps.xcr0_supported = 0xe7;
		caps.xsave_max = 2688;
		st.xcr0 = partial[i];
		REFUSED("enables AVX-512 state partly or without AVX");
	}
	good();
	st.xsave_len = 512;
	REFUSED("XSAVE area of 512 bytes");
	good();
	st.xsave_len = 1024;
	REFUSED("XSAVE area of 1024 bytes");
	good();
	caps.xsave_max = 8192;
	st.xsave_len = VCPU_XSAVE_MAX + 1;
	REFUSED("XSAVE area of 4097 bytes");
	good();
	set_xstate_bv(4); /* AVX in use with XCR0 = x87 */
	REFUSED("XSTATE_BV 0x4 outside XCR0");
	good();
	st.xcr0 = 7;
	set_xstate_bv(7);
	st.xsave_len = 576;
	REFUSED("cannot hold the AVX state");
	good();
	caps.xcr0_supported = 3;
	set_xstate_bv(4);
	st.xcr0 = 1;
	REFUSED("XSTATE_BV 0x4");
	good();
	st.xsave[512 + 8] = 1; /* XCOMP_BV */
	REFUSED("compacted");
	good();
	st.xsave[512 + 63] = 1;
	REFUSED("reserved byte 63");
	good();
	u32 mxcsr = 0x10000;
	memcpy(st.xsave + 24, &mxcsr, 4);
	REFUSED("MXCSR 0x10000");
	good();
	caps.mxcsr_mask = 0; /* the FXSAVE default: no DAZ */
	mxcsr = 0x1fc0;
	memcpy(st.xsave + 24, &mxcsr, 4);
	REFUSED("MXCSR 0x1fc0 sets bits 0x40");
}

TEST(why_buffer_edges)
{
	good();
	st.version = 9;
	CHECK_EQ(vcpu_state_check(&st, &caps, NULL, 0), -1);
	char tiny[4] = "xyz";
	CHECK_EQ(vcpu_state_check(&st, &caps, tiny, sizeof(tiny)), -1);
	CHECK_STR_EQ(tiny, "cpu");
	char mid[16];
	CHECK_EQ(vcpu_state_check(&st, &caps, mid, sizeof(mid)), -1);
	CHECK_STR_EQ(mid, "cpu state: vers");
}

/* xorshift64: a fixed sequence, so a failure reproduces. */
static u64 rng = 0x9e3779b97f4a7c15ULL;
static u64 next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

TEST(random_flips_never_crash)
{
	/* Flips land in the first 1 KiB (all registers plus the XSAVE
	 * header) three times as often as in the rest of the area. */
	int refused = 0, passed = 0;
	for (int round = 0; round < 20000; round++) {
		good();
		int n = 1 + (int)(next() % 4);
		for (int k = 0; k < n; k++) {
			u64 r = next();
			size_t off = (r & 3) ? (r >> 8) % 1024 : (r >> 8) % sizeof(st);
			((u8 *)&st)[off] ^= (u8)(1u << ((r >> 4) & 7));
		}
		/* The caps' integer fields too (a bool holds only 0 or 1). */
		if ((next() & 7) == 0) {
			u64 *f[] = { &caps.cr0_fixed0, &caps.cr0_fixed1, &caps.cr4_fixed0,
				     &caps.cr4_fixed1, &caps.efer_allowed, &caps.xcr0_supported };
			*f[next() % 6] ^= 1ULL << (next() % 64);
			caps.xsave_max ^= (u32)(next() & 0x1ff);
			caps.maxphyaddr ^= (u8)next();
			caps.mxcsr_mask ^= (u32)next();
		}
		memset(why, 'x', sizeof(why));
		int rc = check();
		CHECK(rc == 0 || rc == -1);
		CHECK(memchr(why, '\0', sizeof(why)) != NULL);
		if (rc) {
			refused++;
			CHECK(strncmp(why, "cpu state: ", 11) == 0);
		} else {
			passed++;
		}
	}
	CHECK(refused > 1000);
	CHECK(passed > 1000);
}
