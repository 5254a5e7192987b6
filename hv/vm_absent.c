/*
 * Post-copy on the destination (contract in tern/vm.h, struct vm_absent):
 * the guest runs before all of its RAM has arrived. A page still to come
 * is absent from EPT; whoever needs it first, the guest (an EPT violation)
 * or Tern acting for the guest (string I/O, the page walk behind it,
 * hypercall arguments), makes the vCPU wait and asks the migration engine
 * for it. The instruction stays unretired, so once the page is in, the
 * vCPU runs it again as if nothing had happened. Tern never reads or writes
 * an absent page: the page that arrives later would overwrite what it wrote,
 * or what it read would be stale.
 */
#include <tern/arch.h>
#include <tern/bitmap.h>
#include <tern/log.h>
#include <tern/migrate.h>
#include <tern/vm.h>
#include <stdlib.h>
#include <string.h>

int vm_absent_begin(struct vm *vm, const u64 *map)
{
	u64 pages = vm->ram_size / PAGE_SIZE, words = BITMAP_WORDS(pages);
	u64 *m = calloc(words, sizeof(u64));
	if (!m)
		return -1;
	memcpy(m, map, words * sizeof(u64));
	if (pages % 64)
		m[words - 1] &= (1ULL << (pages % 64)) - 1;
	for (u64 g = bitmap_next(m, pages, 0); g < pages; g = bitmap_next(m, pages, g + 1)) {
		if (arch_ept_set_present(vm, g, false)) {
			/* Undo: every page taken away so far is given back. */
			for (u64 u = bitmap_next(m, pages, 0); u < g; u = bitmap_next(m, pages, u + 1))
				arch_ept_set_present(vm, u, true);
			arch_ept_flush(vm);
			free(m);
			return -1;
		}
	}
	vm->vcpu.waiting = false;
	vm->absent.count = bitmap_weight(m, pages);
	if (!vm->absent.count) { /* everything is here already */
		free(m);
		return 0;
	}
	vm->absent.map = m;
	arch_ept_flush(vm);
	return 0;
}

static void wait_for(struct vcpu *vcpu, u64 gfn)
{
	vcpu->waiting = true;
	vcpu->wait_gfn = gfn;
	vcpu->wait_since_ns = arch_time_ns();
	migrate_page_wanted(gfn);
}

bool vm_fetch(struct vcpu *vcpu, u64 gpa, u64 len)
{
	struct vm *vm = vcpu->vm;
	if (!vm->absent.map || !len)
		return true;
	u64 first = gpa / PAGE_SIZE, last = (gpa + len - 1) / PAGE_SIZE;
	for (u64 g = first; g <= last; g++)
		if (vm_page_absent(vm, g)) {
			vm->stats.absent_fetches++;
			wait_for(vcpu, g);
			return false;
		}
	return true;
}

void vm_absent_fault(struct vcpu *vcpu, u64 gfn)
{
	vcpu->vm->stats.absent_faults++;
	wait_for(vcpu, gfn);
}

void vm_page_arrived(struct vm *vm, u64 gfn)
{
	if (!vm_page_absent(vm, gfn))
		return;
	vm->absent.map[gfn / 64] &= ~(1ULL << (gfn % 64));
	vm->absent.count--;
	/* Cannot fail: the leaf is a 4 KiB one since vm_absent_begin. */
	arch_ept_set_present(vm, gfn, true);
	vm->absent.flush = true;
	struct vcpu *vcpu = &vm->vcpu;
	if (vcpu->waiting && vcpu->wait_gfn == gfn) {
		u64 waited = arch_time_ns() - vcpu->wait_since_ns;
		vm->stats.blocked_ns += waited;
		vcpu->waiting = false;
		migrate_page_latency(waited);
	}
	if (!vm->absent.count) {
		vm_absent_flush(vm);
		free(vm->absent.map);
		vm->absent.map = NULL;
	}
}

void vm_absent_flush(struct vm *vm)
{
	if (!vm->absent.flush)
		return;
	vm->absent.flush = false;
	arch_ept_flush(vm);
}

void vm_absent_end(struct vm *vm)
{
	free(vm->absent.map);
	vm->absent.map = NULL;
	vm->absent.count = 0;
	vm->absent.flush = false;
	vm->vcpu.waiting = false;
}
