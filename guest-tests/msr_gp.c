/*
 * Checks Tern's MSR allow-list: RDMSR and WRMSR of MSRs that are not on it
 * raise exactly one #GP in the guest (with error code 0, at the faulting
 * instruction), read-only MSRs refuse writes, and allowed MSRs work: EFER
 * reads back with LME, LMA and NXE set, TSC and MISC_ENABLE are readable.
 * A #GP handler skips the 2-byte RDMSR/WRMSR and counts the faults.
 */
#include "guest.h"

#define MSR_TSC 0x10
#define MSR_MISC_ENABLE 0x1a0
#define MSR_EFER 0xc0000080
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)
#define MSR_UNKNOWN_AMD 0xc0011234 /* unassigned in the AMD range */
#define MSR_UNKNOWN_KVM 0x4b564d00 /* KVM's wall clock: Tern is not KVM */

static volatile unsigned gp_count;
static volatile u64 gp_rip, gp_error;

static void on_gp(struct int_frame *f)
{
	const u8 *insn = (const u8 *)(uintptr_t)f->rip;

	gp_count++;
	gp_rip = f->rip;
	gp_error = f->error_code;
	/* Only skip what we expect to fault: 0F 32 (rdmsr) or 0F 30 (wrmsr). */
	if (insn[0] != 0x0f || (insn[1] != 0x32 && insn[1] != 0x30)) {
		report_fail("#GP at RIP 0x%lx on bytes %x %x, not RDMSR/WRMSR", f->rip, insn[0], insn[1]);
		tern_exit(1);
	}
	f->rip += 2;
}

/* Each returns the number of #GPs the access took; *at is the insn address. */
static unsigned try_rdmsr(u32 msr, u64 *val, u64 *at)
{
	u32 lo = 0, hi = 0;
	unsigned before = gp_count;

	__asm__ volatile("lea 1f(%%rip), %2\n1: rdmsr"
			 : "+a"(lo), "+d"(hi), "=&r"(*at) : "c"(msr) : "memory");
	*val = ((u64)hi << 32) | lo;
	return gp_count - before;
}

static unsigned try_wrmsr(u32 msr, u64 val, u64 *at)
{
	unsigned before = gp_count;

	__asm__ volatile("lea 1f(%%rip), %0\n1: wrmsr"
			 : "=&r"(*at) : "c"(msr), "a"((u32)val), "d"((u32)(val >> 32)) : "memory");
	return gp_count - before;
}

/* Expects exactly one #GP, error code 0, reported at the instruction itself. */
static int expect_gp(const char *what, u32 msr, unsigned n, u64 at)
{
	if (n != 1) {
		report_fail("%s 0x%x took %u #GP, want 1", what, msr, n);
		return 1;
	}
	if (gp_rip != at || gp_error != 0) {
		report_fail("%s 0x%x: #GP at RIP 0x%lx error 0x%lx, want RIP 0x%lx error 0",
			    what, msr, gp_rip, gp_error, at);
		return 1;
	}
	return 0;
}

static int rdmsr_must_fault(u32 msr)
{
	u64 v, at;
	unsigned n = try_rdmsr(msr, &v, &at);

	return expect_gp("rdmsr", msr, n, at);
}

static int wrmsr_must_fault(u32 msr, u64 val)
{
	u64 at;
	unsigned n = try_wrmsr(msr, val, &at);

	return expect_gp("wrmsr", msr, n, at);
}

/* Returns 0 and the value when the read is allowed, 1 after reporting FAIL. */
static int rdmsr_must_work(u32 msr, u64 *val)
{
	u64 at;
	unsigned n = try_rdmsr(msr, val, &at);

	if (n == 0)
		return 0;
	report_fail("rdmsr 0x%x took %u #GP, want none (MSR is allowed)", msr, n);
	return 1;
}

static int wrmsr_must_work(u32 msr, u64 val)
{
	u64 at;
	unsigned n = try_wrmsr(msr, val, &at);

	if (n == 0)
		return 0;
	report_fail("wrmsr 0x%x <- 0x%lx took %u #GP, want none (MSR is allowed)", msr, val, n);
	return 1;
}

int guest_main(u64 ram_size)
{
	idt_set_handler(13, on_gp);

	if (rdmsr_must_fault(MSR_UNKNOWN_AMD) || rdmsr_must_fault(MSR_UNKNOWN_KVM) ||
	    wrmsr_must_fault(MSR_UNKNOWN_KVM, 0x1000) || wrmsr_must_fault(MSR_UNKNOWN_AMD, 0))
		return 1;

	u64 efer, efer2;
	if (rdmsr_must_work(MSR_EFER, &efer))
		return 1;
	if ((efer & (EFER_LME | EFER_LMA | EFER_NXE)) != (EFER_LME | EFER_LMA | EFER_NXE)) {
		report_fail("EFER=0x%lx: want LME (bit 8), LMA (bit 10) and NXE (bit 11) set", efer);
		return 1;
	}
	/* Writing EFER back unchanged is allowed and must keep it intact. */
	if (wrmsr_must_work(MSR_EFER, efer) || rdmsr_must_work(MSR_EFER, &efer2))
		return 1;
	if (efer2 != efer) {
		report_fail("EFER changed from 0x%lx to 0x%lx by writing it back", efer, efer2);
		return 1;
	}

	u64 tsc, misc;
	if (rdmsr_must_work(MSR_TSC, &tsc) || rdmsr_must_work(MSR_MISC_ENABLE, &misc))
		return 1;
	/* MISC_ENABLE is read-only for the guest: even an unchanged write faults. */
	if (wrmsr_must_fault(MSR_MISC_ENABLE, misc))
		return 1;

	if (gp_count != 5) {
		report_fail("%u #GP in total, want 5", gp_count);
		return 1;
	}
	report_info("msr_gp: EFER=0x%lx MISC_ENABLE=0x%lx", efer, misc);
	report_pass("msr_gp: 5 disallowed accesses took one #GP each, EFER has LME|LMA|NXE");
	return 0;
}
