/*
 * EPT for a VM's RAM, built with the same engine as the host page tables
 * (lib/pt.c): guest-physical [0, ram_size) -> the VM's contiguous host RAM,
 * read/write/execute, write-back, 2 MiB pages where aligned. Everything
 * outside RAM stays unmapped, so any guest access there is an EPT violation
 * that stops the VM (SDM 29.3.3).
 */
#include <tern/pt.h>
#include <tern/pmm.h>
#include <stdlib.h>
#include "vmx.h"
#include "paging.h"

#define EPT_R (1ULL << 0)
#define EPT_W (1ULL << 1)
#define EPT_X (1ULL << 2)
#define EPT_MT_WB (6ULL << 3)
#define EPTP_WB 6ULL
#define EPTP_WALK4 (3ULL << 3)
#define EPTP_AD (1ULL << 6)

int ept_build(struct vm *vm, struct pmm *pmm)
{
	struct arch_vm *av = vm->arch;
	struct pt *pt = calloc(1, sizeof(*pt));
	if (!pt)
		return -1;
	pt->present_mask = EPT_R | EPT_W | EPT_X;
	pt->table_flags = EPT_R | EPT_W | EPT_X;
	pt->alloc = paging_alloc_zeroed;
	pt->map = paging_map_identity;
	pt->ctx = pmm;
	if (pt_init(pt) ||
	    pt_map(pt, 0, vm->ram_hpa, vm->ram_size, EPT_R | EPT_W | EPT_X | EPT_MT_WB, 2))
		return -1;
	av->ept = pt;
	av->eptp = pt->root | EPTP_WB | EPTP_WALK4 | (vmx_caps.ept_ad ? EPTP_AD : 0);
	ept_invalidate(av->eptp);
	return 0;
}

void ept_invalidate(u64 eptp)
{
	struct { u64 eptp, zero; } desc = { eptp, 0 };
	u64 type = vmx_caps.invept_single ? 1 : 2;
	asm volatile("invept %0, %1" : : "m"(desc), "r"(type) : "cc", "memory");
}

/*
 * Post-copy (tern/vm.h, struct vm_absent): an absent page is a 4 KiB leaf
 * with R, W and X clear, its address kept, so giving it back is setting
 * them again. A large leaf in the way is split once, when the first page in
 * it goes absent.
 */
static u64 *leaf_4k(struct arch_vm *av, u64 gpa, bool split)
{
	struct pt *pt = av->ept;
	u64 *t = pt->map(pt->ctx, pt->root);
	for (int level = PT_LEVELS; level > 1; level--) {
		u64 *e = &t[(gpa >> (12 + 9 * (level - 1))) & (PT_ENTRIES - 1)];
		if (!(*e & pt->present_mask))
			return NULL;
		if ((*e & PT_LARGE) && (!split || pt_split(pt, e, level)))
			return NULL;
		t = pt->map(pt->ctx, *e & PT_ADDR_MASK);
	}
	return &t[(gpa >> 12) & (PT_ENTRIES - 1)];
}

int arch_ept_set_present(struct vm *vm, u64 gfn, bool present)
{
	u64 *e = leaf_4k(vm->arch, gfn << PAGE_SHIFT, !present);
	if (!e)
		return -1;
	if (present)
		*e |= EPT_R | EPT_W | EPT_X;
	else
		*e &= ~(EPT_R | EPT_W | EPT_X);
	return 0;
}

void arch_ept_flush(struct vm *vm)
{
	ept_invalidate(vm->arch->eptp);
}
