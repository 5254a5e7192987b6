/*
 * The dirty-log test hypercalls (TERN_HC_DIRTY_*): a guest that knows which
 * pages it wrote asks Tern to harvest the log and compare. A listed page
 * missing from the log is a lost write, the one error migration cannot
 * afford; logged pages the guest did not list are counted (its stack, its
 * page tables' A/D updates, this call's own result).
 */
#include <tern/bitmap.h>
#include <tern/dirty.h>
#include <tern/hypercall.h>
#include <tern/log.h>
#include <tern/vm.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_MISSES 8

s64 dirty_hc_start(struct vm *vm)
{
	if (dirty_log_start(vm))
		return TERN_HC_EINVAL;
	hv_log("vm%d: dirty log started (%s)\n", vm->id, dirty_mode_name(vm->dirty.mode));
	return vm->dirty.mode == DIRTY_PML ? 2 : 1;
}

s64 dirty_hc_check(struct vm *vm, u64 list_gpa, u64 count, u64 result_gpa)
{
	struct tern_dirty_check res = { .first_missed = ~0ULL };
	const u64 *list = vm_gpa_ptr(vm, list_gpa, count * sizeof(u64));
	struct tern_dirty_check *out = vm_gpa_ptr(vm, result_gpa, sizeof(res));
	if (!vm->dirty.active || count > TERN_DIRTY_CHECK_MAX || !list || !out)
		return TERN_HC_EINVAL;
	u64 pages = vm->dirty.nr_pages;
	u64 *logged = calloc(BITMAP_WORDS(pages), sizeof(u64));
	u64 *listed = calloc(BITMAP_WORDS(pages), sizeof(u64));
	s64 rc = TERN_HC_EINVAL;
	if (!logged || !listed)
		goto out;
	for (u64 i = 0; i < count; i++)
		if (list[i] >= pages)
			goto out;
	res.logged = dirty_log_harvest(vm, logged);
	for (u64 i = 0; i < count; i++) {
		u64 gfn = list[i];
		if (bitmap_test(listed, gfn))
			continue;
		bitmap_set(listed, gfn);
		if (bitmap_test(logged, gfn))
			continue;
		if (res.missed < REPORT_MISSES)
			hv_log("vm%d: dirty check: page %#lx was written but not logged\n", vm->id, gfn);
		if (!res.missed)
			res.first_missed = gfn;
		res.missed++;
	}
	for (u64 w = 0; w < BITMAP_WORDS(pages); w++)
		res.extra += (u64)__builtin_popcountll(logged[w] & ~listed[w]);
	hv_log("vm%d: dirty check (%s): %lu listed, %llu logged, %llu missed, %llu extra\n", vm->id,
	       dirty_mode_name(vm->dirty.mode), count, res.logged, res.missed, res.extra);
	*out = res;
	vm_mark_dirty(vm, result_gpa, sizeof(res)); /* Tern wrote guest memory */
	rc = (s64)res.missed;
out:
	free(logged);
	free(listed);
	return rc;
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
