/*
 * Tearing a VM down (vm_destroy: the destination of a failed migration, the
 * source after it handed its guest over): every page arch_vm_init and
 * arch_vcpu_init took goes back to the allocator, so a host can receive
 * guest after guest without leaking.
 */
#include <tern/arch.h>
#include <tern/mm.h>
#include <tern/pmm.h>
#include <tern/pt.h>
#include <tern/vm.h>
#include <stdlib.h>
#include "vmcs.h"
#include "vmx.h"

static void free_table_page(void *ctx, u64 pa)
{
	pmm_free(ctx, pa, 1);
}

void arch_vcpu_destroy(struct vcpu *vcpu, struct pmm *pmm)
{
	struct arch_vcpu *av = vcpu->arch;
	if (!av)
		return;
	/* VMCLEAR writes the VMCS back and makes it inactive: no CPU may cache
	 * it once its page is reused. */
	vmcs_clear(av->vmcs_pa);
	pmm_free(pmm, av->vmcs_pa, 1);
	pmm_free(pmm, av->msr_bitmap_pa, 1);
	u64 n = ALIGN_UP(sizeof(struct arch_vcpu), PAGE_SIZE) / PAGE_SIZE;
	pmm_free(pmm, virt_to_phys(av), n);
	vcpu->arch = NULL;
}

void arch_vm_destroy(struct vm *vm, struct pmm *pmm)
{
	struct arch_vm *av = vm->arch;
	if (!av)
		return;
	if (av->ept) {
		pt_destroy(av->ept, free_table_page, pmm);
		free(av->ept);
		/* No stale translation of the freed RAM may survive in the TLB. */
		ept_invalidate(av->eptp);
	}
	if (av->pml_pa)
		pmm_free(pmm, av->pml_pa, 1);
	free(av);
	vm->arch = NULL;
}
