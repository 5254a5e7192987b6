/*
 * The dirty log's bookkeeping (contract and ordering in tern/dirty.h). The
 * CPU layer does the hardware part through arch_dirty_*() in tern/arch.h.
 */
#include <tern/arch.h>
#include <tern/bitmap.h>
#include <tern/dirty.h>
#include <tern/log.h>
#include <tern/vm.h>
#include <stdlib.h>
#include <string.h>

int dirty_log_start(struct vm *vm)
{
	struct dirty_log *d = &vm->dirty;
	if (d->active)
		return 0;
	if (vm->absent.map) {
		hv_log("vm%d: dirty log: pages of this VM are still arriving (post-copy)\n", vm->id);
		return -1;
	}
	enum dirty_mode mode = d->preferred;
	if (mode == DIRTY_AUTO)
		mode = arch_dirty_pml_available() ? DIRTY_PML : DIRTY_WP;
	if (mode == DIRTY_PML && !arch_dirty_pml_available()) {
		hv_log("vm%d: dirty log: PML not available on this CPU\n", vm->id);
		return -1;
	}
	d->nr_pages = vm->ram_size / PAGE_SIZE;
	if (!d->bitmap) {
		d->bitmap = calloc(BITMAP_WORDS(d->nr_pages), sizeof(u64));
		if (!d->bitmap)
			return -1;
	}
	memset(d->bitmap, 0, BITMAP_WORDS(d->nr_pages) * sizeof(u64));
	d->pages_logged = d->harvests = d->pages_harvested = d->exits = d->tern_writes = 0;
	d->mode = mode;
	u64 t0 = arch_cycles();
	if (arch_dirty_start(vm, mode))
		return -1;
	d->start_tsc_cost = arch_cycles() - t0;
	d->active = true;
	return 0;
}

void dirty_log_mark_gfn(struct vm *vm, u64 gfn)
{
	struct dirty_log *d = &vm->dirty;
	if (!d->active || gfn >= d->nr_pages || bitmap_test(d->bitmap, gfn))
		return;
	bitmap_set(d->bitmap, gfn);
	d->pages_logged++;
}

void vm_mark_dirty(struct vm *vm, u64 gpa, u64 len)
{
	if (!vm->dirty.active || !len)
		return;
	for (u64 gfn = gpa / PAGE_SIZE; gfn <= (gpa + len - 1) / PAGE_SIZE; gfn++) {
		dirty_log_mark_gfn(vm, gfn);
		vm->dirty.tern_writes++;
	}
}

u64 dirty_log_harvest(struct vm *vm, u64 *out)
{
	struct dirty_log *d = &vm->dirty;
	if (!d->active)
		return 0;
	u64 t0 = arch_cycles();
	arch_dirty_collect(vm);
	u64 words = BITMAP_WORDS(d->nr_pages), n = 0;
	for (u64 w = 0; w < words; w++) {
		u64 bits = d->bitmap[w];
		if (!bits) {
			if (out)
				out[w] = 0;
			continue;
		}
		d->bitmap[w] = 0;
		if (out)
			out[w] = bits;
		n += (u64)__builtin_popcountll(bits);
		/* Re-arm tracking for exactly the pages handed over. */
		arch_dirty_rearm(vm, w * 64, bits);
	}
	arch_dirty_flush(vm);
	d->harvests++;
	d->pages_harvested += n;
	d->last_harvest_tsc = arch_cycles() - t0;
	return n;
}

void dirty_log_stop(struct vm *vm)
{
	struct dirty_log *d = &vm->dirty;
	if (!d->active)
		return;
	arch_dirty_stop(vm);
	d->active = false;
}

int dirty_rate_start(struct vm *vm, u64 secs)
{
	struct dirty_log *d = &vm->dirty;
	if (d->active || dirty_log_start(vm))
		return -1;
	d->rate_start_ns = arch_time_ns();
	d->rate_end_ns = d->rate_start_ns + secs * 1000000000ULL;
	return 0;
}

void dirty_rate_poll(struct vm *vm, u64 now_ns)
{
	struct dirty_log *d = &vm->dirty;
	if (!d->rate_end_ns || now_ns < d->rate_end_ns)
		return;
	d->rate_pages = dirty_log_harvest(vm, NULL);
	d->rate_ns = now_ns - d->rate_start_ns;
	d->rate_end_ns = 0;
	dirty_log_stop(vm);
	u64 per_s = d->rate_pages * 1000000000ULL / (d->rate_ns ? d->rate_ns : 1);
	hv_log("vm%d: dirty rate: %lu pages/s (%lu KiB/s), %lu distinct pages in %lu ms (%s)\n",
	       vm->id, per_s, per_s * (PAGE_SIZE / 1024), d->rate_pages, d->rate_ns / 1000000,
	       dirty_mode_name(d->mode));
}
