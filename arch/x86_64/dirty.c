/*
 * Dirty page tracking on EPT (contract in tern/dirty.h, SDM 29.3.5 and
 * 29.3.6). Two mechanisms:
 *  - write protection: tracked leaves lose W; the first write to a page is an
 *    EPT violation that logs it and gives W back;
 *  - PML: tracked 4 KiB leaves have the EPT dirty flag clear; the CPU logs the
 *    GPA of each write that sets it into a 512-entry buffer, and exits when
 *    the buffer is full.
 * Large (2 MiB) leaves are write-protected in both modes and split on their
 * first write (like KVM's lazy split), so starting to log costs one pass over
 * the leaves, not one per 4 KiB page, and memory never written is never split.
 */
#include <tern/dirty.h>
#include <tern/mm.h>
#include <tern/pmm.h>
#include <tern/pt.h>
#include <string.h>
#include "cpu.h"
#include "vmcs.h"
#include "vmx.h"

#define EPT_W (1ULL << 1)
#define EPT_D (1ULL << 9)
#define PML_ENTRIES 512

bool arch_dirty_pml_available(void)
{
	return vmx_caps.pml;
}

u64 arch_cycles(void)
{
	return rdtsc();
}

static void protect_leaf(u64 *e, u64 va, int level, void *ctx)
{
	int mode = *(int *)ctx;
	if (level > 1 || mode == DIRTY_WP)
		*e &= ~EPT_W;
	else
		*e &= ~EPT_D;
}

static void unprotect_leaf(u64 *e, u64 va, int level, void *ctx)
{
	*e |= EPT_W;
}

int arch_dirty_start(struct vm *vm, int mode)
{
	struct arch_vm *av = vm->arch;
	if (mode == DIRTY_PML) {
		if (!av->pml_pa && !(av->pml_pa = pmm_alloc(av->pmm, 1, PAGE_SIZE)))
			return -1;
		memset(phys_to_virt(av->pml_pa), 0, PAGE_SIZE);
		vmcs_write(PML_ADDRESS, av->pml_pa);
		vmcs_write(GUEST_PML_INDEX, PML_ENTRIES - 1);
		vmcs_write(PROC_CONTROLS2, vmx_caps.proc2 | PROC2_PML);
	}
	av->dirty_mode = mode;
	pt_for_each_leaf(av->ept, 0, vm->ram_size, protect_leaf, &mode);
	ept_invalidate(av->eptp);
	return 0;
}

void arch_dirty_stop(struct vm *vm)
{
	struct arch_vm *av = vm->arch;
	if (av->dirty_mode == DIRTY_PML) {
		arch_dirty_collect(vm);
		vmcs_write(PROC_CONTROLS2, vmx_caps.proc2);
	}
	pt_for_each_leaf(av->ept, 0, vm->ram_size, unprotect_leaf, NULL);
	ept_invalidate(av->eptp);
}

void arch_dirty_collect(struct vm *vm)
{
	struct arch_vm *av = vm->arch;
	if (av->dirty_mode != DIRTY_PML || !vm->dirty.active)
		return;
	/* The index counts down from 511 and names the next free entry;
	 * after the last entry it wraps to 0xffff (SDM 29.3.6). */
	u16 index = (u16)vmcs_read(GUEST_PML_INDEX);
	unsigned first = index >= PML_ENTRIES ? 0 : index + 1u;
	const u64 *log = phys_to_virt(av->pml_pa);
	for (unsigned i = first; i < PML_ENTRIES; i++)
		dirty_log_mark_gfn(vm, log[i] >> PAGE_SHIFT);
	vmcs_write(GUEST_PML_INDEX, PML_ENTRIES - 1);
}

/*
 * One page-table walk for up to 64 pages: 64 consecutive 4 KiB pages that
 * start 64-aligned share one leaf table (512 entries), or one large leaf.
 */
void arch_dirty_rearm(struct vm *vm, u64 first_gfn, u64 bits)
{
	struct arch_vm *av = vm->arch;
	int level;
	u64 *e = pt_lookup(av->ept, first_gfn << PAGE_SHIFT, &level);
	if (!e || level > 1)
		return; /* still a protected large leaf: tracked already */
	u64 clear = av->dirty_mode == DIRTY_WP ? EPT_W : EPT_D;
	while (bits) {
		unsigned b = (unsigned)__builtin_ctzll(bits);
		bits &= bits - 1;
		e[b] &= ~clear;
	}
}

void arch_dirty_flush(struct vm *vm)
{
	ept_invalidate(vm->arch->eptp);
}

/* Split the large leaf at *e into 4 KiB leaves, ready for tracking. */
static bool split_for_tracking(struct arch_vm *av, u64 gpa)
{
	int level;
	u64 *e;
	while ((e = pt_lookup(av->ept, gpa, &level)) && level > 1) {
		if (pt_split(av->ept, e, level))
			return false;
		if (level == 2 && av->dirty_mode == DIRTY_PML) {
			/* PML tracks the new 4 KiB leaves through their dirty flags. */
			u64 *t = phys_to_virt(*e & PT_ADDR_MASK);
			for (unsigned i = 0; i < PT_ENTRIES; i++)
				t[i] = (t[i] | EPT_W) & ~EPT_D;
		}
	}
	return e != NULL;
}

bool dirty_write_fault(struct vcpu *vcpu, u64 gpa)
{
	struct vm *vm = vcpu->vm;
	struct arch_vm *av = vm->arch;
	int level;
	u64 *e = pt_lookup(av->ept, gpa, &level);
	if (!e)
		return false;
	vm->dirty.exits++;
	if (level > 1) {
		if (!split_for_tracking(av, gpa)) {
			vm_stop_error(vm, "dirty log: out of memory splitting EPT pages");
			return true;
		}
		e = pt_lookup(av->ept, gpa, &level);
		/* Other translations of the old large page are stale now. */
		ept_invalidate(av->eptp);
	}
	if (!(*e & EPT_W) || av->dirty_mode == DIRTY_WP) {
		*e |= EPT_W;
		dirty_log_mark_gfn(vm, gpa >> PAGE_SHIFT);
	} else {
		/* PML mode, freshly split: the retried write is logged by PML; log
		 * it here as well so the log never depends on the retry. */
		dirty_log_mark_gfn(vm, gpa >> PAGE_SHIFT);
	}
	return true;
}

void dirty_pml_full(struct vcpu *vcpu)
{
	vcpu->vm->dirty.exits++;
	arch_dirty_collect(vcpu->vm);
}
