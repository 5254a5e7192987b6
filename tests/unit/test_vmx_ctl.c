/*
 * arch/x86_64/vmx_ctl.c: VMX control adjustment from capability MSRs and
 * CR0/CR4 fixed bits (SDM Vol. 3 Appendix A.3-A.5, A.7-A.8). A capability
 * MSR's bits 31:0 are the allowed-0 settings (a 1 there: the control must be
 * 1), bits 63:32 the allowed-1 settings (a 0 there: the control must be 0).
 * The MSR values below were read on real CPUs.
 */
#include "unit.h"
#include "vmx_ctl.h"

/* Pin-based controls (SDM Vol. 3 Table 25-5). */
#define PIN_EXT_INT (1u << 0)
#define PIN_NMI (1u << 3)
#define PIN_VIRTUAL_NMI (1u << 5)
#define PIN_PREEMPT_TIMER (1u << 6)
#define PIN_POSTED_INT (1u << 7)
/* Primary processor-based controls (Table 25-6). */
#define PROC_HLT (1u << 7)
#define PROC_TERTIARY (1u << 17)
#define PROC_IO_BITMAPS (1u << 25)
#define PROC_MSR_BITMAPS (1u << 28)
#define PROC_SECONDARY (1u << 31)
/* VM-exit controls (Table 25-13). */
#define EXIT_HOST_64 (1u << 9)
#define EXIT_ACK_INT (1u << 15)
#define EXIT_SAVE_EFER (1u << 20)
#define EXIT_LOAD_EFER (1u << 21)
#define EXIT_LOAD_CET (1u << 28)

#define PINBASED_CAP 0x0000007f00000016ULL
#define PROCBASED_CAP 0xfff9fffe04006172ULL
#define EXIT_CAP 0x01ffffff00036dfbULL

#define CR0_PE (1ULL << 0)
#define CR0_ET (1ULL << 4)
#define CR0_NE (1ULL << 5)
#define CR0_NW (1ULL << 29)
#define CR0_CD (1ULL << 30)
#define CR0_PG (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define CR4_LA57 (1ULL << 12)
#define CR4_VMXE (1ULL << 13)
#define CR4_PKE (1ULL << 22)

#define CR0_FIXED0 0x80000021ULL
#define CR0_FIXED1 0xffffffffULL
#define CR4_FIXED0 0x2000ULL
#define CR4_FIXED1 0x3767ffULL

TEST(pinbased_required_and_optional_granted)
{
	u32 out = 0, missing = 0xdead;
	int rc = vmx_ctl_adjust(PINBASED_CAP, PIN_EXT_INT | PIN_NMI,
				PIN_VIRTUAL_NMI | PIN_PREEMPT_TIMER, &out, &missing);
	CHECK_EQ(rc, 0);
	CHECK_EQ(missing, 0);
	/* 0x09 required + 0x60 optional + 0x16 forced (bits 1, 2, 4) */
	CHECK_EQ(out, 0x7f);
}

TEST(optional_bit_not_allowed_is_dropped)
{
	u32 out = 0, missing = 0xdead;
	CHECK_EQ(vmx_ctl_adjust(PINBASED_CAP, PIN_EXT_INT, PIN_POSTED_INT, &out, &missing), 0);
	CHECK_EQ(missing, 0);
	CHECK_EQ(out, PIN_EXT_INT | 0x16);
	CHECK_EQ(out & PIN_POSTED_INT, 0);
}

TEST(required_bit_not_allowed_fails_and_is_reported)
{
	u32 out = 0, missing = 0;
	CHECK_EQ(vmx_ctl_adjust(PINBASED_CAP, PIN_EXT_INT | PIN_POSTED_INT, 0, &out, &missing), -1);
	CHECK_EQ(missing, PIN_POSTED_INT);
}

TEST(forced_one_bits_always_set)
{
	u32 out = 0, missing = 0xdead;
	CHECK_EQ(vmx_ctl_adjust(PINBASED_CAP, 0, 0, &out, &missing), 0);
	CHECK_EQ(out, 0x16);
	CHECK_EQ(missing, 0);
	CHECK_EQ(vmx_ctl_adjust(PROCBASED_CAP, 0, 0, &out, &missing), 0);
	CHECK_EQ(out, 0x04006172);
}

TEST(procbased_realistic)
{
	u32 out = 0, missing = 0xdead;
	u32 req = PROC_HLT | PROC_IO_BITMAPS | PROC_MSR_BITMAPS | PROC_SECONDARY;
	CHECK_EQ(vmx_ctl_adjust(PROCBASED_CAP, req, PROC_TERTIARY, &out, &missing), 0);
	CHECK_EQ(missing, 0);
	/* 0x92000080 | forced 0x04006172; tertiary (bit 17) not allowed here. */
	CHECK_EQ(out, 0x960061f2);
}

TEST(procbased_missing_bits_all_reported)
{
	u32 out = 0, missing = 0;
	/* Allowed-1 0xfff9fffe: bits 0, 17 and 18 can never be 1. */
	u32 req = PROC_HLT | PROC_TERTIARY | (1u << 18) | (1u << 0);
	CHECK_EQ(vmx_ctl_adjust(PROCBASED_CAP, req, 0, &out, &missing), -1);
	CHECK_EQ(missing, 0x00060001);
}

TEST(exit_controls_realistic)
{
	u32 out = 0, missing = 0xdead;
	u32 req = EXIT_HOST_64 | EXIT_ACK_INT | EXIT_SAVE_EFER | EXIT_LOAD_EFER;
	CHECK_EQ(vmx_ctl_adjust(EXIT_CAP, req, EXIT_LOAD_CET, &out, &missing), 0);
	CHECK_EQ(missing, 0);
	CHECK_EQ(out, 0x0033effb); /* 0x308200 | 0x36dfb */
}

TEST(everything_allowed_everything_granted)
{
	u32 out = 0, missing = 0xdead;
	CHECK_EQ(vmx_ctl_adjust(0xffffffff00000000ULL, 0x0000ffff, 0xffff0000, &out, &missing), 0);
	CHECK_EQ(out, 0xffffffff);
	CHECK_EQ(missing, 0);
}

TEST(nothing_allowed_nothing_granted)
{
	u32 out = 0xdead, missing = 0;
	CHECK_EQ(vmx_ctl_adjust(0, 0, 0xffffffff, &out, &missing), 0);
	CHECK_EQ(out, 0);
	CHECK_EQ(vmx_ctl_adjust(0, 0x80000001, 0, &out, &missing), -1);
	CHECK_EQ(missing, 0x80000001);
}

TEST(cr0_unrestricted_guest_keeps_pe_pg_free)
{
	u64 ex = CR0_PE | CR0_PG;
	CHECK_EQ(vmx_cr_fix(0, CR0_FIXED0, CR0_FIXED1, ex), CR0_NE);
	CHECK_EQ(vmx_cr_fix(CR0_ET, CR0_FIXED0, CR0_FIXED1, ex), CR0_ET | CR0_NE);
	CHECK_EQ(vmx_cr_fix(CR0_PE | CR0_PG | CR0_ET, CR0_FIXED0, CR0_FIXED1, ex),
		 CR0_PE | CR0_PG | CR0_ET | CR0_NE);
	CHECK_EQ(vmx_cr_fix(CR0_PE, CR0_FIXED0, CR0_FIXED1, ex), CR0_PE | CR0_NE);
}

TEST(cr0_without_exemption_forces_pe_pg_ne)
{
	CHECK_EQ(vmx_cr_fix(0, CR0_FIXED0, CR0_FIXED1, 0), 0x80000021);
	CHECK_EQ(vmx_cr_fix(CR0_CD | CR0_NW | CR0_ET, CR0_FIXED0, CR0_FIXED1, 0),
		 0xe0000031);
}

TEST(cr0_bits_outside_fixed1_cleared)
{
	CHECK_EQ(vmx_cr_fix(1ULL << 32, CR0_FIXED0, CR0_FIXED1, CR0_PE | CR0_PG), CR0_NE);
	CHECK_EQ(vmx_cr_fix(~0ULL, CR0_FIXED0, CR0_FIXED1, 0), 0xffffffff);
}

TEST(cr4_vmxe_forced_and_unsupported_bits_cleared)
{
	CHECK_EQ(vmx_cr_fix(0, CR4_FIXED0, CR4_FIXED1, 0), CR4_VMXE);
	CHECK_EQ(vmx_cr_fix(CR4_PAE, CR4_FIXED0, CR4_FIXED1, 0), CR4_PAE | CR4_VMXE);
	CHECK_EQ(vmx_cr_fix(CR4_PAE | CR4_PKE, CR4_FIXED0, CR4_FIXED1, 0), CR4_PAE | CR4_VMXE);
	CHECK_EQ(vmx_cr_fix(CR4_LA57, CR4_FIXED0, CR4_FIXED1, 0), CR4_VMXE);
	CHECK_EQ(vmx_cr_fix(~0ULL, CR4_FIXED0, CR4_FIXED1, 0), CR4_FIXED1);
}

TEST(exempt_bits_pass_through_even_when_fixed1_clear)
{
	/* An exempt bit is left as the caller gave it, whichever way. */
	CHECK_EQ(vmx_cr_fix(CR0_PG, CR0_FIXED0, 0x7fffffff, CR0_PG), CR0_PG | 0x21);
	CHECK_EQ(vmx_cr_fix(0, CR0_FIXED0, 0x7fffffff, CR0_PG), 0x21);
}
