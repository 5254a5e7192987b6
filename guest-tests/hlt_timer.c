/*
 * Checks Tern's one-shot timer and HLT: the TIMER hypercall rejects vectors
 * below 32, an armed timer wakes HLT and is delivered exactly once on the
 * requested vector no earlier than asked, and a timer that expires while
 * RFLAGS.IF = 0 stays pending (not lost, not delivered) until STI, after
 * which it arrives at once, i.e. Tern opens an interrupt window for it.
 *
 * Time is judged by two clocks: Tern's (TIME_NS) and the TSC read by the
 * guest itself, which Tern does not touch. The guest reports the raw figures
 * ("clocks: ...", "woke ... TSC ticks"); the harness checks them against the
 * emulator's configured rate, so a Tern clock that runs fast or slow, or a
 * timer that fires early by both Tern's and the guest's measure, fails.
 * The guest's own waits are in TSC ticks at the rate it measured.
 */
#include "guest.h"

#define TIMER_VEC 0x40
#define MS 1000000ull

static volatile unsigned ticks;
static volatile u64 last_vector;
static u64 tsc_per_ms; /* measured against Tern's clock in calibrate() */

static void on_timer(struct int_frame *f)
{
	last_vector = f->vector;
	ticks++;
}

/* Busy-waits on the TSC; interrupts untouched. */
static void tsc_delay_ms(u64 ms)
{
	u64 start = rdtsc();

	while (rdtsc() - start < ms * tsc_per_ms)
		cpu_pause();
}

/* The TSC rate by Tern's clock over 20 ms; reports both deltas. */
static int calibrate(void)
{
	u64 t0 = tern_time_ns(), c0 = rdtsc();
	delay_ns(20 * MS);
	u64 t1 = tern_time_ns(), c1 = rdtsc();

	if (t1 - t0 < 20 * MS || c1 <= c0) {
		report_fail("hlt_timer: a 20 ms wait took %lu ns by Tern and %lu TSC ticks", t1 - t0,
			    c1 - c0);
		return 1;
	}
	tsc_per_ms = (c1 - c0) * MS / (t1 - t0);
	report_info("hlt_timer: clocks: %lu ns by Tern, %lu TSC ticks", t1 - t0, c1 - c0);
	return 0;
}

int guest_main(u64 ram_size)
{
	s64 r = tern_timer(5, MS);
	if (r != TERN_HC_EINVAL) {
		report_fail("TIMER with vector 5 returned %ld, want %d", r, TERN_HC_EINVAL);
		return 1;
	}
	r = tern_timer(256, MS);
	if (r != TERN_HC_EINVAL) {
		report_fail("TIMER with vector 256 returned %ld, want %d", r, TERN_HC_EINVAL);
		return 1;
	}

	idt_set_handler(TIMER_VEC, on_timer);
	if (calibrate())
		return 1;

	/* 1. HLT wakes on the timer, no earlier than 2 ms after arming. */
	u64 c0 = rdtsc();
	u64 t0 = tern_time_ns();
	r = tern_timer(TIMER_VEC, 2 * MS);
	if (r != 0) {
		report_fail("TIMER(0x%x, 2 ms) returned %ld, want 0", TIMER_VEC, r);
		return 1;
	}
	/* Loop so a spurious wakeup is not mistaken for the timer. */
	while (ticks == 0 && rdtsc() - c0 < 1000 * tsc_per_ms) {
		sti_hlt();
		cli();
	}
	u64 t1 = tern_time_ns();
	u64 c1 = rdtsc();
	if (ticks == 0) {
		report_fail("timer armed for 2 ms not delivered after %lu us", (t1 - t0) / 1000);
		return 1;
	}
	if (last_vector != TIMER_VEC) {
		report_fail("timer delivered on vector 0x%lx, want 0x%x", last_vector, TIMER_VEC);
		return 1;
	}
	if (t1 - t0 < 2 * MS || c1 - c0 < 2 * tsc_per_ms) {
		report_fail("timer armed for 2 ms woke HLT after only %lu us by Tern, %lu TSC ticks",
			    (t1 - t0) / 1000, c1 - c0);
		return 1;
	}
	report_info("hlt_timer: woke %lu TSC ticks (%lu ns by Tern) after arming 2000000 ns",
		    c1 - c0, t1 - t0);

	/* One-shot: with interrupts open for another 5 ms nothing more arrives. */
	sti();
	tsc_delay_ms(5);
	cli();
	if (ticks != 1) {
		report_fail("one-shot timer delivered %u times, want 1", ticks);
		return 1;
	}

	/* 2. With IF = 0 an expired timer stays pending until STI. */
	ticks = 0;
	r = tern_timer(TIMER_VEC, 1 * MS);
	if (r != 0) {
		report_fail("TIMER(0x%x, 1 ms) returned %ld, want 0", TIMER_VEC, r);
		return 1;
	}
	tsc_delay_ms(3);
	if (ticks != 0) {
		report_fail("timer delivered %u times while RFLAGS.IF = 0", ticks);
		return 1;
	}
	/* The interrupt must be taken right after STI's shadow (the nop). */
	__asm__ volatile("sti; nop; cli" : : : "memory");
	unsigned at_sti = ticks;
	if (at_sti == 0) {
		/* Tell "late" from "lost" to make the failure precise. */
		u64 c2 = rdtsc();
		sti();
		while (ticks == 0 && rdtsc() - c2 < 100 * tsc_per_ms)
			cpu_pause();
		cli();
		if (ticks)
			report_fail("pending timer not delivered at STI, only %lu TSC ticks later",
				    rdtsc() - c2);
		else
			report_fail("pending timer lost: not delivered within 100 ms after STI");
		return 1;
	}
	if (at_sti != 1) {
		report_fail("pending timer delivered %u times at STI, want 1", at_sti);
		return 1;
	}

	report_pass("hlt_timer: invalid vectors rejected, HLT woken once on time, masked timer held until STI");
	return 0;
}
