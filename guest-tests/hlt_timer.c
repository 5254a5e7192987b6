/*
 * Checks Tern's one-shot timer and HLT: the TIMER hypercall rejects vectors
 * below 32, an armed timer wakes HLT and is delivered exactly once on the
 * requested vector no earlier than asked, and a timer that expires while
 * RFLAGS.IF = 0 stays pending (not lost, not delivered) until STI, after
 * which it arrives at once, i.e. Tern opens an interrupt window for it.
 */
#include "guest.h"

#define TIMER_VEC 0x40
#define MS 1000000ull

static volatile unsigned ticks;
static volatile u64 last_vector;

static void on_timer(struct int_frame *f)
{
	last_vector = f->vector;
	ticks++;
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

	/* 1. HLT wakes on the timer, no earlier than 2 ms after arming. */
	u64 t0 = tern_time_ns();
	r = tern_timer(TIMER_VEC, 2 * MS);
	if (r != 0) {
		report_fail("TIMER(0x%x, 2 ms) returned %ld, want 0", TIMER_VEC, r);
		return 1;
	}
	/* Loop so a spurious wakeup is not mistaken for the timer. */
	while (ticks == 0 && tern_time_ns() - t0 < 1000 * MS) {
		sti_hlt();
		cli();
	}
	u64 t1 = tern_time_ns();
	if (ticks == 0) {
		report_fail("timer armed for 2 ms not delivered after %lu us", (t1 - t0) / 1000);
		return 1;
	}
	if (last_vector != TIMER_VEC) {
		report_fail("timer delivered on vector 0x%lx, want 0x%x", last_vector, TIMER_VEC);
		return 1;
	}
	if (t1 - t0 < 2 * MS) {
		report_fail("timer armed for 2 ms woke HLT after only %lu us", (t1 - t0) / 1000);
		return 1;
	}
	u64 woke_us = (t1 - t0) / 1000;

	/* One-shot: with interrupts open for another 5 ms nothing more arrives. */
	sti();
	delay_ns(5 * MS);
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
	delay_ns(3 * MS);
	if (ticks != 0) {
		report_fail("timer delivered %u times while RFLAGS.IF = 0", ticks);
		return 1;
	}
	/* The interrupt must be taken right after STI's shadow (the nop). */
	__asm__ volatile("sti; nop; cli" : : : "memory");
	unsigned at_sti = ticks;
	if (at_sti == 0) {
		/* Tell "late" from "lost" to make the failure precise. */
		u64 t2 = tern_time_ns();
		sti();
		while (ticks == 0 && tern_time_ns() - t2 < 100 * MS)
			cpu_pause();
		cli();
		if (ticks)
			report_fail("pending timer not delivered at STI, only %lu us later",
				    (tern_time_ns() - t2) / 1000);
		else
			report_fail("pending timer lost: not delivered within 100 ms after STI");
		return 1;
	}
	if (at_sti != 1) {
		report_fail("pending timer delivered %u times at STI, want 1", at_sti);
		return 1;
	}

	report_info("hlt_timer: HLT woke %lu us after arming a 2 ms timer", woke_us);
	report_pass("hlt_timer: invalid vectors rejected, HLT woken once on time, masked timer held until STI");
	return 0;
}
