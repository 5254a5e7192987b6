/*
 * VMREAD/VMWRITE/VMCLEAR/VMPTRLD with their failure checks (SDM 30.2: CF=1
 * VMfailInvalid, ZF=1 VMfailValid with the error number in the VMCS).
 * Context: the CPU that has the VMCS current.
 */
#include <tern/panic.h>
#include "vmcs.h"

static __noreturn void vmcs_fail(const char *op, enum vmcs_field f, u64 v, void *caller)
{
	u64 err = 0;
	asm volatile("vmread %1, %0" : "=r"(err) : "r"((u64)VM_INSTRUCTION_ERROR) : "cc");
	hv_panic("%s of VMCS field %#x (value %#lx) failed, VM-instruction error %lu, called from %p",
		 op, f, v, err, caller);
}

u64 vmcs_read_checked(enum vmcs_field f, void *caller)
{
	u64 v;
	bool ok;
	asm volatile("vmread %2, %0" : "=r"(v), "=@cca"(ok) : "r"((u64)f) : "cc");
	if (!ok)
		vmcs_fail("VMREAD", f, 0, caller);
	return v;
}

void vmcs_write_checked(enum vmcs_field f, u64 v, void *caller)
{
	bool ok;
	asm volatile("vmwrite %1, %2" : "=@cca"(ok) : "r"(v), "r"((u64)f) : "cc");
	if (!ok)
		vmcs_fail("VMWRITE", f, v, caller);
}

void vmcs_clear(u64 pa)
{
	bool ok;
	asm volatile("vmclear %1" : "=@cca"(ok) : "m"(pa) : "cc", "memory");
	if (!ok)
		hv_panic("VMCLEAR of %#lx failed", pa);
}

void vmcs_load(u64 pa)
{
	bool ok;
	asm volatile("vmptrld %1" : "=@cca"(ok) : "m"(pa) : "cc", "memory");
	if (!ok)
		hv_panic("VMPTRLD of %#lx failed", pa);
}
