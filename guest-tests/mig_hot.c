/*
 * mig_hot: the "hot set" migration workload. rep stosq rewrites a 2 MiB
 * hot set (64 KiB per instruction) over and over, a new value each pass;
 * the rest of RAM above the image (the cold part) is filled with xorshift
 * data once and never written again. Checks: before each pass one word of every hot page (a different
 * word each pass) must hold the previous pass's value, so a hot page lost in
 * the final copy shows before it is overwritten; every VERIFY_EVERY passes
 * the whole hot set and the next 256 cold pages (cycling) are verified fully.
 * The progress line (once per guest second) counts passes over the hot set,
 * its unit of work.
 *
 * The full verification is paced by passes, not by guest time: under a 99%
 * throttle a guest second holds 10 ms of CPU, and a per-second verification
 * (~60 ms of CPU) would then take all of it, so the pass rate would fall far
 * below the CPU share Tern gives. The clock is polled every CLOCK_EVERY pages
 * of it for the same reason: work between two polls is stretched 100x in
 * guest time by such a throttle, and the clock check must see Tern's waits,
 * not the guest's own loop. The per-pass check of one word per hot page
 * polls it too: right after a switch to post-copy every hot page it reads
 * may be a fault that waits for the network (512 of them: 2 s).
 */
#include "guest.h"
#include "mig_pattern.h"

#define HOT_BYTES (2ul << 20)
#define COLD_SEED 0xc01dc01dc01d0001ul
#define COLD_SLICE 256 /* cold pages verified per progress line */
#define WORDS (PAGE_SIZE / 8)
#define VERIFY_EVERY 256 /* passes between full verifications (~0.8 s unthrottled) */
#define CLOCK_EVERY 16   /* pages verified between clock polls */

static u8 *hot, *cold;
static u64 hot_pages, cold_pages, cold_pn, cold_cursor, cold_sweeps;

static u64 value_of(u64 pass)
{
	return mig_mix64(pass ^ 0x4807);
}

/* rep stosq over the hot set, CLOCK_EVERY pages per instruction with a
 * clock poll between: after a switch to post-copy each page it reaches may
 * wait for the network (measured: a whole-set rep stosq once stood 2.4 s). */
static void stos(u64 value)
{
	for (u64 pg = 0; pg < hot_pages; pg += CLOCK_EVERY) {
		void *d = hot + pg * PAGE_SIZE;
		u64 n = MIN((u64)CLOCK_EVERY, hot_pages - pg) * WORDS;

		__asm__ volatile("rep stosq" : "+D"(d), "+c"(n) : "a"(value) : "memory");
		mig_clock_poll(false);
	}
}

static void check_hot_word(u64 page, unsigned idx, u64 want, u64 pass)
{
	u64 got = ((const volatile u64 *)(hot + page * PAGE_SIZE))[idx];

	if (got != want)
		mig_fail("hot page %lu offset %u: read 0x%lx, want 0x%lx (pass %lu)",
			 (u64)(uintptr_t)hot / PAGE_SIZE + page, idx * 8, got, want, pass);
}

static void verify_cold_slice(void)
{
	u32 off;

	for (unsigned k = 0; k < COLD_SLICE && cold_pages; k++) {
		u8 *p = cold + cold_cursor * PAGE_SIZE;
		if (mig_xs_check(p, cold_pn + cold_cursor, COLD_SEED, &off))
			mig_fail("cold page %lu offset %u: read 0x%lx, want 0x%lx",
				 cold_pn + cold_cursor, off, ((const volatile u64 *)p)[off / 8],
				 mig_xs_word(cold_pn + cold_cursor, COLD_SEED, off / 8));
		if (k % CLOCK_EVERY == 0)
			mig_clock_poll(false);
		if (++cold_cursor == cold_pages) {
			cold_cursor = 0;
			cold_sweeps++;
		}
	}
}

int guest_main(u64 ram_size)
{
	u64 start = ALIGN_UP((u64)(uintptr_t)__image_end, PAGE_SIZE);
	u64 end = ALIGN_DOWN(ram_size, PAGE_SIZE);

	mig_clock_init();
	if (end < start + HOT_BYTES + PAGE_SIZE)
		mig_fail("RAM size 0x%lx leaves no 2 MiB hot set and cold page above 0x%lx", ram_size,
			 start);
	hot = (u8 *)start;
	hot_pages = HOT_BYTES / PAGE_SIZE;
	cold = hot + HOT_BYTES;
	cold_pn = (u64)(uintptr_t)cold / PAGE_SIZE;
	cold_pages = (end - (u64)(uintptr_t)cold) / PAGE_SIZE;
	uprintf("mig: hot guest: %lu hot pages at 0x%lx, %lu cold pages from 0x%lx to 0x%lx\n",
		hot_pages, start, cold_pages, (u64)(uintptr_t)cold, end);
	for (u64 i = 0; i < cold_pages; i++) {
		mig_xs_fill(cold + i * PAGE_SIZE, cold_pn + i, COLD_SEED);
		if (i % 64 == 0)
			mig_clock_poll(false);
	}
	stos(value_of(0));
	for (u64 pass = 1;; pass++) {
		u64 prev = value_of(pass - 1);
		for (u64 pg = 0; pg < hot_pages; pg++) {
			check_hot_word(pg, (unsigned)(pass % WORDS), prev, pass);
			/* After a switch to post-copy each of these may wait for
			 * the network: the clock must see the waits one by one. */
			if (pg % CLOCK_EVERY == 0)
				mig_clock_poll(false);
		}
		stos(value_of(pass));
		u64 now = mig_clock_poll(false);
		if (pass % VERIFY_EVERY == 0) {
			for (u64 pg = 0; pg < hot_pages; pg++) {
				for (unsigned i = 0; i < WORDS; i++)
					check_hot_word(pg, i, value_of(pass), pass);
				if (pg % CLOCK_EVERY == 0)
					mig_clock_poll(false);
			}
			verify_cold_slice();
		}
		if (mig_progress_due())
			uprintf("mig: hot ok: %lu passes, cold sweep %lu, time %lu ns\n", pass, cold_sweeps,
				now);
	}
}
