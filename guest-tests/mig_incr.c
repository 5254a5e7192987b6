/*
 * mig_incr: the "incrementer" migration workload, the one pre-copy cannot
 * catch up with. A u64 counter at the start of each page of a 32 MiB range
 * (or of all RAM above the image if that is smaller) is incremented in a
 * tight loop, one page after the other. Each increment first checks the
 * counter: in sweep s every counter must read s - 1, so a page a migration
 * lost or sent stale shows in the next sweep. Once per guest second it
 * prints the cumulative page writes (its unit of work) and the guest clock.
 * The clock is polled every CLOCK_EVERY pages, not once a sweep: after a
 * switch to post-copy each page of a sweep may wait for the network, and
 * a sweep then takes seconds of guest time without any clock jumping.
 */
#include "guest.h"
#include "mig_pattern.h"

#define RANGE (32ul << 20)
#define STRIDE (PAGE_SIZE / 8) /* u64 words per page */
#define CLOCK_EVERY 64         /* pages between clock polls (an RDTSC) */

int guest_main(u64 ram_size)
{
	u64 start = ALIGN_UP((u64)(uintptr_t)__image_end, PAGE_SIZE);
	u64 end = ALIGN_DOWN(ram_size, PAGE_SIZE);

	mig_clock_init();
	if (end <= start)
		mig_fail("RAM size 0x%lx leaves no pages above the image end 0x%lx", ram_size, start);
	u64 npages = MIN(RANGE, end - start) / PAGE_SIZE;
	volatile u64 *first = (volatile u64 *)start, *stop = first + npages * STRIDE;

	uprintf("mig: incr guest: %lu pages from 0x%lx to 0x%lx, one u64 per page\n", npages, start,
		start + npages * PAGE_SIZE);
	for (volatile u64 *p = first; p < stop; p += STRIDE)
		*p = 0;
	for (u64 sweep = 1;; sweep++) {
		for (volatile u64 *p = first; p < stop; p += STRIDE) {
			u64 v = *p;
			if (v != sweep - 1)
				mig_fail("incr page %lu: counter %lu, expected %lu", (u64)(uintptr_t)p / PAGE_SIZE,
					 v, sweep - 1);
			*p = v + 1;
			if (((uintptr_t)p / PAGE_SIZE) % CLOCK_EVERY == 0)
				mig_clock_poll(false);
		}
		u64 now = mig_clock_poll(false);
		if (mig_progress_due())
			uprintf("mig: incr ok: %lu page writes, sweep %lu, time %lu ns\n", sweep * npages,
				sweep, now);
	}
}
