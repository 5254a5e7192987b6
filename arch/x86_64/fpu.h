/* FPU/SSE/AVX state: host enablement and guest state switching. */
#ifndef X86_FPU_H
#define X86_FPU_H

#include <tern/types.h>

#define XCR0_X87 (1ULL << 0)
#define XCR0_SSE (1ULL << 1)
#define XCR0_AVX (1ULL << 2)

struct fpu_area {
	u8 data[4096];
} __attribute__((aligned(64)));

void fpu_host_init(void);
/* The XCR0 bits Tern supports for guests (x87, SSE, AVX where present). */
u64 fpu_xcr0_supported(void);
bool fpu_has_xsave(void);
/* Bytes of the standard-format area Tern saves guests in (576 without XSAVE). */
u32 fpu_xsave_size(void);
/* The MXCSR bits this CPU accepts (FXSAVE's MXCSR_MASK, 0xFFBF by default). */
u32 fpu_mxcsr_mask(void);
/*
 * Without XSAVE, FXRSTOR ignores the XSAVE header: put the components an
 * XSTATE_BV says are in their initial state there explicitly.
 */
void fpu_legacy_apply_xstate_bv(struct fpu_area *a, u64 xstate_bv);
/* Architectural reset state: FCW 0x37F, MXCSR 0x1F80, XCR0 = x87. */
void fpu_guest_reset(struct fpu_area *guest);
/*
 * Around every guest entry: save the host's state, load the guest's (XCR0
 * included), and back. Context: service loop, interrupts off.
 */
void fpu_enter_guest(struct fpu_area *host, struct fpu_area *guest, u64 guest_xcr0);
void fpu_leave_guest(struct fpu_area *host, struct fpu_area *guest, u64 guest_xcr0);

#endif
