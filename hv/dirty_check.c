/*
 * The dirty-log hypercalls for test and benchmark guests (TERN_HC_DIRTY_*,
 * docs/guest-abi.md). Tern does not judge its own log here: DIRTY_LOG hands
 * the harvested bitmap to the guest, which knows what it wrote and decides
 * (guest-tests/lib/dirty_verdict.c). Tern only prints the count, a figure.
 * Arguments come from the guest and are checked before any use.
 */
#include <tern/bitmap.h>
#include <tern/dirty.h>
#include <tern/hypercall.h>
#include <tern/log.h>
#include <tern/vm.h>

s64 dirty_hc_start(struct vm *vm)
{
	if (dirty_log_start(vm))
		return TERN_HC_EINVAL;
	hv_log("vm%d: dirty log started (%s)\n", vm->id, dirty_mode_name(vm->dirty.mode));
	return vm->dirty.mode == DIRTY_PML ? 2 : 1;
}

s64 dirty_hc_log(struct vm *vm, u64 bitmap_gpa, u64 bytes)
{
	u64 len = BITMAP_WORDS(vm->dirty.nr_pages) * sizeof(u64);
	if (!vm->dirty.active || bytes < len || bitmap_gpa % sizeof(u64))
		return TERN_HC_EINVAL;
	u64 *out = vm_gpa_ptr(vm, bitmap_gpa, len); /* RAM is page-aligned: so is out */
	if (!out)
		return TERN_HC_EINVAL;
	u64 pages = dirty_log_harvest(vm, out);
	/* Tern wrote guest memory after the harvest: the next log shows it. */
	vm_mark_dirty(vm, bitmap_gpa, len);
	hv_log("vm%d: dirty log (%s): %lu pages handed to the guest\n", vm->id,
	       dirty_mode_name(vm->dirty.mode), pages);
	return (s64)pages;
}

s64 dirty_hc_harvest(struct vm *vm, u64 stats_gpa)
{
	struct tern_dirty_stats *out = vm_gpa_ptr(vm, stats_gpa, sizeof(*out));
	if (!vm->dirty.active || !out)
		return TERN_HC_EINVAL;
	struct tern_dirty_stats st;
	st.pages = dirty_log_harvest(vm, NULL);
	st.exits = vm->dirty.exits;
	st.harvest_cycles = vm->dirty.last_harvest_tsc;
	st.start_cycles = vm->dirty.start_tsc_cost;
	*out = st;
	vm_mark_dirty(vm, stats_gpa, sizeof(st));
	return (s64)st.pages;
}
