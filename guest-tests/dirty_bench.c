/*
 * dirty_bench: figures for `make bench`, not a pass/fail test. For several K
 * (up to every free page of RAM) it writes K distinct pages per round, first
 * with the dirty log off, then on, and prints two lines per K:
 *   bench: dirty MODE K= ram= pages= exits= exits/kpage= start= harvest=
 *   bench: work MODE K= off= on= slowdown=
 * (exits per 1000 dirty pages keeps PML's floor, 1.95, readable)
 * Cycles are TSC ticks; on Bochs (ips = TSC rate) they count instructions,
 * Tern's exit handling included, so on/off is the guest's slowdown.
 */
#include "guest.h"

#define ROUNDS 3

static struct tern_dirty_stats stats;

/* One unit of guest work: one store to each of k distinct pages. */
static u64 write_pages(u64 first, u64 k, u64 value)
{
	u64 t0 = rdtsc();
	for (u64 i = 0; i < k; i++)
		*(volatile u64 *)((first + i) * PAGE_SIZE) = value;
	return rdtsc() - t0;
}

int guest_main(u64 ram_size)
{
	u64 first = ALIGN_UP((u64)__image_end, PAGE_SIZE) / PAGE_SIZE;
	u64 free_pages = ram_size / PAGE_SIZE - first;
	const u64 ks[] = { 16, 256, 4096, free_pages };

	for (unsigned i = 0; i < ARRAY_SIZE(ks); i++) {
		u64 k = MIN(ks[i], free_pages), off = 0, on = 0, exits = 0, harvest = 0, pages = 0;
		for (int r = 0; r < ROUNDS; r++)
			off += write_pages(first, k, (u64)r);
		s64 mode = hypercall(TERN_HC_DIRTY_START, 0, 0, 0);
		if (mode < 0) {
			report_fail("dirty_bench: DIRTY_START returned %ld", mode);
			return 1;
		}
		hypercall(TERN_HC_DIRTY_HARVEST, (u64)&stats, 0, 0); /* clean slate */
		u64 exits0 = stats.exits;
		for (int r = 0; r < ROUNDS; r++) {
			on += write_pages(first, k, (u64)r + 100);
			hypercall(TERN_HC_DIRTY_HARVEST, (u64)&stats, 0, 0);
			pages += stats.pages;
			harvest += stats.harvest_cycles;
		}
		exits = stats.exits - exits0;
		hypercall(TERN_HC_DIRTY_STOP, 0, 0, 0);
		uprintf("bench: dirty %s K=%lu ram=%lu pages=%lu exits=%lu exits/kpage=%lu start=%llu "
			"harvest=%lu\n", mode == 2 ? "pml" : "wp", k, ram_size / PAGE_SIZE, pages, exits,
			pages ? exits * 1000 / pages : 0, stats.start_cycles, harvest / ROUNDS);
		uprintf("bench: work %s K=%lu off=%lu on=%lu slowdown=%lu%%\n", mode == 2 ? "pml" : "wp",
			k, off / ROUNDS, on / ROUNDS, off ? (on * 100 / off) - 100 : 0);
	}
	report_pass("dirty_bench: done");
	return 0;
}
