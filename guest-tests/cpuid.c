/*
 * Checks the CPU identity Tern presents (docs/guest-abi.md): CPUID.1:ECX has
 * the hypervisor bit (31) set and VMX (5), MONITOR (3) and x2APIC (21)
 * hidden; leaf 0x40000000 carries the "TernTernTern" signature with a sane
 * max leaf. Also checks the VERSION hypercall and that an unknown hypercall
 * number fails with -38 (ENOSYS) instead of stopping the VM.
 */
#include "guest.h"

int guest_main(u64 ram_size)
{
	u32 a, b, c, d;

	cpuid(1, 0, &a, &b, &c, &d);
	if (!(c & (1u << 31))) {
		report_fail("CPUID.1:ECX=0x%x: hypervisor bit 31 clear", c);
		return 1;
	}
	if (c & (1u << 5)) {
		report_fail("CPUID.1:ECX=0x%x: VMX bit 5 visible to the guest", c);
		return 1;
	}
	if (c & (1u << 3)) {
		report_fail("CPUID.1:ECX=0x%x: MONITOR bit 3 visible to the guest", c);
		return 1;
	}
	if (c & (1u << 21)) {
		report_fail("CPUID.1:ECX=0x%x: x2APIC bit 21 visible to the guest", c);
		return 1;
	}

	cpuid(TERN_CPUID_BASE, 0, &a, &b, &c, &d);
	char sig[13];
	memcpy(sig, &b, 4);
	memcpy(sig + 4, &c, 4);
	memcpy(sig + 8, &d, 4);
	sig[12] = '\0';
	for (int i = 0; i < 12; i++) /* keep the FAIL text printable */
		if (sig[i] < 0x20 || sig[i] > 0x7e)
			sig[i] = '?';
	if (memcmp(sig, TERN_CPUID_SIGNATURE, 12) != 0) {
		report_fail("CPUID.0x40000000 signature \"%s\" (EBX=0x%x ECX=0x%x EDX=0x%x), want \"%s\"",
			    sig, b, c, d, TERN_CPUID_SIGNATURE);
		return 1;
	}
	if (a < TERN_CPUID_BASE) {
		report_fail("CPUID.0x40000000 EAX=0x%x, want >= 0x40000000", a);
		return 1;
	}
	u32 max_leaf = a;

	s64 v = tern_version();
	if (v != TERN_HC_ABI_VERSION) {
		report_fail("hypercall VERSION returned %ld, want %d", v, TERN_HC_ABI_VERSION);
		return 1;
	}
	s64 r = hypercall(0x1234, 1, 2, 3);
	if (r != TERN_HC_ENOSYS) {
		report_fail("unknown hypercall 0x1234 returned %ld, want %d", r, TERN_HC_ENOSYS);
		return 1;
	}
	r = hypercall(TERN_HC_NR, 0, 0, 0);
	if (r != TERN_HC_ENOSYS) {
		report_fail("hypercall %d (first unused) returned %ld, want %d",
			    TERN_HC_NR, r, TERN_HC_ENOSYS);
		return 1;
	}

	report_pass("cpuid: hypervisor bit set, VMX hidden, signature %s, max leaf 0x%x, ABI version %ld",
		    sig, max_leaf, v);
	return 0;
}
