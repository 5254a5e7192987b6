/*
 * mig_idle: the "idle" migration workload (a hlt loop). The guest sleeps on
 * Tern's one-shot timer, 10 ms at a time, and judges each wake-up: both
 * clocks must go forward by no more than MIG_CLOCK_BOUND_NS, and the timer
 * must not fire before it was due. Once per guest second it prints the
 * cumulative tick count (its unit of work) and the guest clock. A timer lost
 * by a migration leaves the guest asleep: the harness sees the lines stop.
 */
#include "guest.h"
#include "mig_pattern.h"

#define TICK_NS 10000000ul /* 10 ms */

int guest_main(u64 ram_size)
{
	u64 ticks = 0;

	mig_clock_init();
	uprintf("mig: idle guest: timer %lu ms, clock bound %lu ms\n", TICK_NS / 1000000,
		MIG_CLOCK_BOUND_NS / 1000000);
	for (;;) {
		u64 armed = mig_clock_poll(true);
		mig_sleep_ns(TICK_NS);
		u64 now = mig_clock_poll(true);
		if (now - armed < TICK_NS)
			mig_fail("timer woke after %lu ns, armed for %lu ns", now - armed, TICK_NS);
		ticks++;
		if (mig_progress_due())
			uprintf("mig: idle ok: %lu ticks, time %lu ns\n", ticks, now);
	}
}
