/*
 * FPU state. With XSAVE the host runs with XCR0 = every component Tern
 * supports and the guest with the XCR0 it set through XSETBV. Without
 * XSAVE, FXSAVE/FXRSTOR do the same for x87+SSE. Eager switching on every
 * exit costs a few hundred cycles and keeps the rules simple; lazy switching
 * can come once exits are measured to matter. The guest area is always in
 * the standard (non-compacted) format, XSAVE not XSAVEC/XSAVES: it is what
 * a vCPU state carries (vcpu_state.c) and what any XRSTOR reads back.
 */
#include <string.h>
#include "cpu.h"
#include "fpu.h"

static bool have_xsave;
static u64 host_xcr0;
static u32 xsave_size = 576; /* legacy region + header: all FXSAVE has */
static u32 mxcsr_mask = 0xffbf;

bool fpu_has_xsave(void) { return have_xsave; }
u64 fpu_xcr0_supported(void) { return host_xcr0; }
u32 fpu_xsave_size(void) { return xsave_size; }
u32 fpu_mxcsr_mask(void) { return mxcsr_mask; }

/* MXCSR_MASK from an FXSAVE image (bytes 28-31); 0 means the default 0xFFBF. */
static void probe_mxcsr_mask(void)
{
	static struct fpu_area probe;
	u32 m;
	memset(&probe, 0, sizeof(probe));
	asm volatile("fxsave64 %0" : "+m"(probe));
	memcpy(&m, probe.data + 28, sizeof(m));
	if (m)
		mxcsr_mask = m;
}

void fpu_host_init(void)
{
	u32 a, b, c, d;
	write_cr0((read_cr0() & ~(CR0_EM | CR0_TS)) | CR0_MP | CR0_NE);
	write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
	cpuid(1, 0, &a, &b, &c, &d);
	have_xsave = c & (1u << 26);
	host_xcr0 = XCR0_X87 | XCR0_SSE;
	if (have_xsave) {
		write_cr4(read_cr4() | CR4_OSXSAVE);
		cpuid(0xd, 0, &a, &b, &c, &d);
		host_xcr0 = a & (XCR0_X87 | XCR0_SSE | XCR0_AVX);
		xsetbv(0, host_xcr0);
		cpuid(0xd, 0, &a, &b, &c, &d); /* EBX: the area for the XCR0 now set */
		xsave_size = b;
	}
	asm volatile("fninit");
	probe_mxcsr_mask();
}

void fpu_legacy_apply_xstate_bv(struct fpu_area *a, u64 xstate_bv)
{
	if (!(xstate_bv & XCR0_X87)) {
		/* x87 initial state: FCW 0x37F, everything else 0 (FTW 0 = all empty). */
		u16 fcw = 0x37f;
		memset(a->data, 0, 24);
		memset(a->data + 32, 0, 128);
		memcpy(a->data, &fcw, sizeof(fcw));
	}
	if (!(xstate_bv & XCR0_SSE))
		memset(a->data + 160, 0, 256); /* XMM0-15; MXCSR stays live */
}

void fpu_guest_reset(struct fpu_area *guest)
{
	memset(guest, 0, sizeof(*guest));
	u16 fcw = 0x37f;
	u32 mxcsr = 0x1f80;
	memcpy(guest->data + 0, &fcw, sizeof(fcw));
	memcpy(guest->data + 24, &mxcsr, sizeof(mxcsr));
}

static void save(struct fpu_area *a)
{
	if (have_xsave)
		asm volatile("xsave64 %0" : "+m"(*a) : "a"(~0u), "d"(~0u));
	else
		asm volatile("fxsave64 %0" : "+m"(*a));
}

static void restore(struct fpu_area *a)
{
	if (have_xsave)
		asm volatile("xrstor64 %0" : : "m"(*a), "a"(~0u), "d"(~0u));
	else
		asm volatile("fxrstor64 %0" : : "m"(*a));
}

/*
 * Save and restore always run under the host's XCR0: SSE registers stay
 * usable when a guest's XCR0 omits SSE, so a narrower mask would lose them.
 * The guest's XCR0 is loaded last and dropped first.
 */
void fpu_enter_guest(struct fpu_area *host, struct fpu_area *guest, u64 guest_xcr0)
{
	save(host);
	restore(guest);
	if (have_xsave && guest_xcr0 != host_xcr0)
		xsetbv(0, guest_xcr0);
}

void fpu_leave_guest(struct fpu_area *host, struct fpu_area *guest, u64 guest_xcr0)
{
	if (have_xsave && guest_xcr0 != host_xcr0)
		xsetbv(0, host_xcr0);
	save(guest);
	restore(host);
}
