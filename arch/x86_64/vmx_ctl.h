/*
 * VMX control computation from the capability MSRs (pure; unit-tested).
 * A capability MSR holds in bits 31:0 the controls that must be 1
 * (allowed-0 settings) and in bits 63:32 those that may be 1 (allowed-1),
 * SDM Vol. 3 Appendix A.3-A.5.
 */
#ifndef X86_VMX_CTL_H
#define X86_VMX_CTL_H

#include <tern/types.h>

/*
 * *out = required | the optional bits the CPU allows | the bits it forces.
 * Returns 0, or -1 with *missing = the required bits the CPU cannot set.
 */
int vmx_ctl_adjust(u64 cap, u32 required, u32 optional, u32 *out, u32 *missing);

/*
 * A CR0/CR4 value made legal for VMX operation: bits set in fixed0 forced
 * to 1, bits clear in fixed1 forced to 0, except the bits in exempt (CR0.PE
 * and CR0.PG under unrestricted guest).
 */
u64 vmx_cr_fix(u64 val, u64 fixed0, u64 fixed1, u64 exempt);

#endif
