/*
 * mig_static: the "static" migration workload. All RAM above the image is
 * filled once with xorshift data (mig_xs_fill, seeded by page number), then
 * the guest idles on the timer and every 100 ms re-verifies the next slice
 * of 128 pages, cycling through all of it, so every byte is checked again
 * and again (a 16 MiB guest every ~3 s). Verifying only reads: the workload
 * dirties nothing after the fill but its own stack and counters.
 */
#include "guest.h"
#include "mig_pattern.h"

#define SEED 0x57a71c57a71c0001ul
#define TICK_NS 100000000ul /* 100 ms */
#define SLICE 128            /* pages verified per tick */

static u8 *base;
static u64 first_pn, npages;

static void verify(u64 i)
{
	u32 off;

	if (mig_xs_check(base + i * PAGE_SIZE, first_pn + i, SEED, &off)) {
		const volatile u64 *w = (const volatile u64 *)(base + i * PAGE_SIZE);
		mig_fail("static page %lu offset %u: read 0x%lx, want 0x%lx", first_pn + i, off,
			 w[off / 8], mig_xs_word(first_pn + i, SEED, off / 8));
	}
}

int guest_main(u64 ram_size)
{
	u64 start = ALIGN_UP((u64)(uintptr_t)__image_end, PAGE_SIZE);
	u64 end = ALIGN_DOWN(ram_size, PAGE_SIZE);
	u64 cursor = 0, sweeps = 0, verified = 0;

	mig_clock_init();
	if (end <= start)
		mig_fail("RAM size 0x%lx leaves no pages above the image end 0x%lx", ram_size, start);
	base = (u8 *)start;
	first_pn = start / PAGE_SIZE;
	npages = (end - start) / PAGE_SIZE;
	uprintf("mig: static guest: %lu pages from 0x%lx to 0x%lx, xorshift, %u pages per %lu ms\n",
		npages, start, end, SLICE, TICK_NS / 1000000);
	for (u64 i = 0; i < npages; i++) {
		mig_xs_fill(base + i * PAGE_SIZE, first_pn + i, SEED);
		if (i % 64 == 0)
			mig_clock_poll(false);
	}
	uprintf("mig: static filled: %lu pages, time %lu ns\n", npages, mig_clock_poll(true));
	for (;;) {
		mig_sleep_ns(TICK_NS);
		for (u64 k = 0; k < SLICE; k++) {
			verify(cursor);
			if (++cursor == npages) {
				cursor = 0;
				sweeps++;
			}
		}
		verified += SLICE;
		u64 now = mig_clock_poll(true);
		if (mig_progress_due())
			uprintf("mig: static ok: %lu pages verified, sweep %lu, time %lu ns\n", verified,
				sweeps, now);
	}
}
