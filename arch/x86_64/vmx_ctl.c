/* VMX control and fixed-bit arithmetic (contract in vmx_ctl.h). */
#include "vmx_ctl.h"

int vmx_ctl_adjust(u64 cap, u32 required, u32 optional, u32 *out, u32 *missing)
{
	u32 must_be_one = (u32)cap, may_be_one = (u32)(cap >> 32);
	*missing = required & ~may_be_one;
	*out = ((required | optional) & may_be_one) | must_be_one;
	return *missing ? -1 : 0;
}

u64 vmx_cr_fix(u64 val, u64 fixed0, u64 fixed1, u64 exempt)
{
	return (val | (fixed0 & ~exempt)) & (fixed1 | exempt);
}
