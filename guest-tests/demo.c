/*
 * The default demo guest, not a test: it shows a VM running under Tern for as
 * long as you watch. Each round it checks the first word of every page above
 * its image against what the previous round wrote there, writes a new value
 * (round number mixed with the page address), and sleeps 100 ms in HLT on
 * Tern's timer so it does not spin. About once a second of Tern's clock it
 * prints a heartbeat with the round, the pages verified and the errors.
 */
#include "guest.h"

#define TIMER_VEC 0x40
#define MS 1000000ull
#define MAX_ERROR_LINES 8 /* keep a broken memory from flooding the console */

static volatile u64 ticks;

static void on_timer(struct int_frame *f)
{
	ticks++;
}

static inline u64 pattern(u64 round, u64 page)
{
	return page ^ (round * 0x9e3779b97f4a7c15ull) ^ 0x44454d4f00000000ull;
}

int guest_main(u64 ram_size)
{
	u64 start = ALIGN_UP((u64)(uintptr_t)__image_end, PAGE_SIZE);
	u64 end = ALIGN_DOWN(ram_size, PAGE_SIZE);
	u64 verified = 0, errors = 0;

	idt_set_handler(TIMER_VEC, on_timer);
	uprintf("Tern demo guest: %lu MiB RAM\n", ram_size >> 20);
	if (end <= start)
		end = start; /* no free pages: still run the heartbeat */

	u64 last_beat = tern_time_ns();
	for (u64 round = 1;; round++) {
		for (u64 page = start; page < end; page += PAGE_SIZE) {
			volatile u64 *w = (volatile u64 *)(uintptr_t)page;
			if (round > 1) {
				u64 got = *w, want = pattern(round - 1, page);
				if (got != want && errors++ < MAX_ERROR_LINES)
					uprintf("demo: page 0x%lx holds 0x%lx, want 0x%lx\n", page, got, want);
				verified++;
			}
			*w = pattern(round, page);
		}

		u64 now = tern_time_ns();
		if (now - last_beat >= 1000 * MS) {
			uprintf("demo: round %lu, %lu pages verified, %lu errors\n", round, verified, errors);
			last_beat = now;
		}

		tern_timer(TIMER_VEC, 100 * MS);
		sti_hlt();
		cli();
	}
}
