/*
 * migrate/status.c and migrate/policy.c (tern/mig_policy.h): QEMU's status
 * machine, every transition allowed and refused; the convergence policy on
 * synthetic traces of the four workloads of the migration conventions (idle,
 * static, incrementer, hot set) at 8 and 32 MiB/s; the FITS boundary to the
 * byte; zero-duration rounds; the auto-converge throttle; the writable
 * working set on hand-made bitmaps; max-bandwidth pacing at its limits.
 * Every expected number below was worked out by hand from the rules in the
 * header and policy.c, not read back from the code.
 */
#include "unit.h"
#include <tern/bitmap.h>
#include <tern/mig_policy.h>

#define MIB 1048576ULL
#define BW8 (8 * MIB)   /* 8 MiB/s in bytes/s = 2048 pages/s */
#define BW32 (32 * MIB)
#define S_NS 1000000000ULL
#define RAM_PAGES 32768 /* 128 MiB */

/* ---- status ---- */

TEST(status_names_are_qemus)
{
	CHECK_STR_EQ(mig_status_name(MIG_NONE), "none");
	CHECK_STR_EQ(mig_status_name(MIG_SETUP), "setup");
	CHECK_STR_EQ(mig_status_name(MIG_ACTIVE), "active");
	CHECK_STR_EQ(mig_status_name(MIG_DEVICE), "device");
	CHECK_STR_EQ(mig_status_name(MIG_COMPLETED), "completed");
	CHECK_STR_EQ(mig_status_name(MIG_FAILED), "failed");
	CHECK_STR_EQ(mig_status_name(MIG_CANCELLING), "cancelling");
	CHECK_STR_EQ(mig_status_name(MIG_CANCELLED), "cancelled");
	CHECK_STR_EQ(mig_status_name(MIG_POSTCOPY_ACTIVE), "postcopy-active");
	CHECK_STR_EQ(mig_status_name(MIG_POSTCOPY_PAUSED), "postcopy-paused");
	CHECK_STR_EQ(mig_status_name(MIG_POSTCOPY_RECOVER), "postcopy-recover");
	CHECK_STR_EQ(mig_status_name(MIG_NR_STATUS), "unknown");
	CHECK_STR_EQ(mig_status_name((enum mig_status)-1), "unknown");
}

/* The allowed transitions; every other (status, event) pair is refused. */
static const struct { enum mig_status from; enum mig_event ev; enum mig_status to; } allowed[] = {
	{ MIG_NONE, MIG_EV_START, MIG_SETUP },
	{ MIG_SETUP, MIG_EV_SETUP_DONE, MIG_ACTIVE },
	{ MIG_ACTIVE, MIG_EV_STOP_COPY, MIG_DEVICE },
	{ MIG_DEVICE, MIG_EV_DONE, MIG_COMPLETED },
	{ MIG_SETUP, MIG_EV_ERROR, MIG_FAILED },
	{ MIG_ACTIVE, MIG_EV_ERROR, MIG_FAILED },
	{ MIG_DEVICE, MIG_EV_ERROR, MIG_FAILED },
	{ MIG_SETUP, MIG_EV_CANCEL, MIG_CANCELLING },
	{ MIG_ACTIVE, MIG_EV_CANCEL, MIG_CANCELLING },
	{ MIG_DEVICE, MIG_EV_CANCEL, MIG_CANCELLING },
	{ MIG_CANCELLING, MIG_EV_CANCELLED, MIG_CANCELLED },
	{ MIG_CANCELLING, MIG_EV_ERROR, MIG_CANCELLED },
	{ MIG_COMPLETED, MIG_EV_RESET, MIG_NONE },
	{ MIG_FAILED, MIG_EV_RESET, MIG_NONE },
	{ MIG_CANCELLED, MIG_EV_RESET, MIG_NONE },
	{ MIG_COMPLETED, MIG_EV_START, MIG_SETUP },
	{ MIG_FAILED, MIG_EV_START, MIG_SETUP },
	{ MIG_CANCELLED, MIG_EV_START, MIG_SETUP },
	{ MIG_ACTIVE, MIG_EV_POSTCOPY, MIG_POSTCOPY_ACTIVE },
	{ MIG_POSTCOPY_ACTIVE, MIG_EV_DONE, MIG_COMPLETED },
	{ MIG_POSTCOPY_ACTIVE, MIG_EV_ERROR, MIG_FAILED },
	{ MIG_POSTCOPY_ACTIVE, MIG_EV_CANCEL, MIG_CANCELLING },
	{ MIG_POSTCOPY_ACTIVE, MIG_EV_PAUSE, MIG_POSTCOPY_PAUSED },
	{ MIG_POSTCOPY_PAUSED, MIG_EV_RECOVER, MIG_POSTCOPY_RECOVER },
	{ MIG_POSTCOPY_PAUSED, MIG_EV_ERROR, MIG_FAILED },
	{ MIG_POSTCOPY_RECOVER, MIG_EV_RECOVERED, MIG_POSTCOPY_ACTIVE },
	{ MIG_POSTCOPY_RECOVER, MIG_EV_PAUSE, MIG_POSTCOPY_PAUSED },
	{ MIG_POSTCOPY_RECOVER, MIG_EV_ERROR, MIG_FAILED },
};

TEST(status_every_transition_allowed_or_refused)
{
	int n_allowed = 0, n_refused = 0;
	for (int s = 0; s < MIG_NR_STATUS; s++) {
		for (int e = MIG_EV_START; e < MIG_NR_EVENTS; e++) {
			int want = -1;
			for (size_t i = 0; i < ARRAY_SIZE(allowed); i++)
				if ((int)allowed[i].from == s && (int)allowed[i].ev == e)
					want = (int)allowed[i].to;
			enum mig_status st = (enum mig_status)s;
			int got = mig_status_step(&st, (enum mig_event)e);
			if (got != want)
				unit_fail(__FILE__, __LINE__, "%s + event %d: got %d, want %d",
					  mig_status_name((enum mig_status)s), e, got, want);
			CHECK_EQ(st, want < 0 ? s : want); /* unchanged when refused */
			want < 0 ? n_refused++ : n_allowed++;
		}
	}
	CHECK_EQ(n_allowed, 28);
	CHECK_EQ(n_refused, MIG_NR_STATUS * MIG_NR_EVENTS - 28);
}

TEST(status_out_of_range_refused)
{
	enum mig_status s = MIG_NR_STATUS;
	CHECK_EQ(mig_status_step(&s, MIG_EV_START), -1);
	CHECK_EQ(s, MIG_NR_STATUS);
	s = MIG_NONE;
	CHECK_EQ(mig_status_step(&s, MIG_NR_EVENTS), -1);
	CHECK_EQ(s, MIG_NONE);
}

TEST(status_paths)
{
	/* A whole migration, then a second one started from completed. */
	static const enum mig_event ok[] = { MIG_EV_START, MIG_EV_SETUP_DONE, MIG_EV_STOP_COPY,
					     MIG_EV_DONE, MIG_EV_START, MIG_EV_SETUP_DONE };
	static const enum mig_status ok_st[] = { MIG_SETUP, MIG_ACTIVE, MIG_DEVICE,
						 MIG_COMPLETED, MIG_SETUP, MIG_ACTIVE };
	enum mig_status s = MIG_NONE;
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		CHECK_EQ(mig_status_step(&s, ok[i]), ok_st[i]);
		CHECK_EQ(s, ok_st[i]);
	}
	/* Cancelled in the final copy; the teardown's error does not make it failed. */
	s = MIG_DEVICE;
	CHECK_EQ(mig_status_step(&s, MIG_EV_CANCEL), MIG_CANCELLING);
	CHECK_EQ(mig_status_step(&s, MIG_EV_CANCEL), -1); /* once is enough */
	CHECK_EQ(mig_status_step(&s, MIG_EV_DONE), -1);   /* no completing a cancelled one */
	CHECK_EQ(mig_status_step(&s, MIG_EV_ERROR), MIG_CANCELLED);
	CHECK_EQ(mig_status_step(&s, MIG_EV_ERROR), -1);
	CHECK_EQ(mig_status_step(&s, MIG_EV_RESET), MIG_NONE);
	CHECK_EQ(mig_status_step(&s, MIG_EV_RESET), -1);
}

TEST(status_busy)
{
	static const bool busy[MIG_NR_STATUS] = {
		[MIG_SETUP] = true, [MIG_ACTIVE] = true, [MIG_DEVICE] = true, [MIG_CANCELLING] = true,
		[MIG_POSTCOPY_ACTIVE] = true, [MIG_POSTCOPY_PAUSED] = true, [MIG_POSTCOPY_RECOVER] = true,
	};
	for (int s = 0; s < MIG_NR_STATUS; s++)
		CHECK_EQ(mig_status_busy((enum mig_status)s), busy[s]);
}

/* ---- parameters ---- */

TEST(params_default)
{
	struct mig_params p;
	memset(&p, 0xa5, sizeof(p));
	mig_params_default(&p);
	CHECK_EQ(p.downtime_limit_ms, 300);
	CHECK_EQ(p.max_bandwidth, 0);
	CHECK_EQ(p.auto_converge, true);
	CHECK_EQ(p.n1_pages, 50);
	CHECK_EQ(p.n2_rounds, 2);
	CHECK_EQ(p.n3_rounds, 30);
	CHECK_EQ(p.throttle_initial, 20);
	CHECK_EQ(p.throttle_max, 99);
}

TEST(policy_init)
{
	struct mig_policy p;
	memset(&p, 0x5a, sizeof(p));
	mig_policy_init(&p, NULL);
	CHECK_EQ(p.params.n3_rounds, 30);
	CHECK_EQ(p.bandwidth, 0);
	CHECK_EQ(p.dirty_rate, 0);
	CHECK_EQ(p.throttle, 0);
	CHECK_EQ(p.rounds, 0);
	CHECK_EQ(p.losing_rounds, 0);
	CHECK_EQ(p.nr_history, 0);
	CHECK_EQ(p.expected_downtime_ms, MIG_DOWNTIME_UNKNOWN);

	struct mig_params q;
	mig_params_default(&q);
	q.downtime_limit_ms = 50;
	q.n1_pages = 7;
	mig_policy_init(&p, &q);
	CHECK_EQ(p.params.downtime_limit_ms, 50);
	CHECK_EQ(p.params.n1_pages, 7);
}

TEST(reason_names)
{
	CHECK_STR_EQ(mig_reason_name(MIG_GO_ON), "iterate");
	CHECK_STR_EQ(mig_reason_name(MIG_STOP_FITS), "fits downtime-limit");
	CHECK_STR_EQ(mig_reason_name(MIG_STOP_N1), "few pages left (N1)");
	CHECK_STR_EQ(mig_reason_name(MIG_STOP_N2), "not converging (N2)");
	CHECK_STR_EQ(mig_reason_name(MIG_STOP_N3), "round limit (N3)");
	CHECK_STR_EQ(mig_reason_name((enum mig_reason)99), "unknown");
}

/* ---- convergence on synthetic traces ---- */

static struct mig_policy pol;

static void setup(void (*tweak)(struct mig_params *))
{
	struct mig_params q;
	mig_params_default(&q);
	if (tweak)
		tweak(&q);
	mig_policy_init(&pol, &q);
	pol.ram_pages = RAM_PAGES;
}

static enum mig_reason rnd(u64 sent, u64 bytes, u64 dirtied, u64 ns, u64 pending)
{
	struct mig_round r = {
		.round = pol.rounds + 1, .pages_sent = sent, .bytes_sent = bytes,
		.pages_dirtied = dirtied, .duration_ns = ns,
	};
	return mig_policy_round_end(&pol, &r, pending);
}

TEST(idle_guest_fits_after_round_1)
{
	setup(NULL);
	/* Round 1: all 32768 pages, nearly all zero: 1 MiB on the wire in 125 ms
	 * (8 MiB/s); 3 pages dirtied. Round 2 is the final copy of those 3. */
	CHECK_EQ(rnd(RAM_PAGES, MIB, 3, 125000000, 3), MIG_STOP_FITS);
	CHECK_EQ(pol.bandwidth, BW8);
	CHECK_EQ(pol.dirty_rate, 24);          /* 3 pages / 0.125 s */
	CHECK_EQ(pol.expected_downtime_ms, 2); /* 12288 B / 8 MiB/s = 1.46 ms, rounded up */
	CHECK_EQ(pol.rounds, 1);
	CHECK_EQ(pol.losing_rounds, 0);
	CHECK_EQ(pol.throttle, 0);
	CHECK_EQ(pol.nr_history, 1);
	CHECK_EQ(pol.history[0].pages_sent, RAM_PAGES);
}

TEST(idle_guest_without_bandwidth_stops_on_n1)
{
	setup(NULL);
	/* No duration measured: no FITS, but 3 <= N1. */
	CHECK_EQ(rnd(RAM_PAGES, MIB, 3, 0, 3), MIG_STOP_N1);
	CHECK_EQ(pol.bandwidth, 0);
	CHECK_EQ(pol.expected_downtime_ms, MIG_DOWNTIME_UNKNOWN);
}

TEST(idle_guest_with_boot_noise_fits_in_round_2)
{
	setup(NULL);
	/* 700 pages dirtied in round 1: 2.8 MB > 8 MiB/s x 300 ms = 614.4 pages. */
	CHECK_EQ(rnd(RAM_PAGES, MIB, 700, 125000000, 700), MIG_GO_ON);
	CHECK_EQ(pol.expected_downtime_ms, 342); /* 341.8 ms */
	CHECK_EQ(pol.throttle, 0);              /* converged: 700 < 32768 */
	/* Round 2: 700 pages, 2867200 B at 8 MiB/s = 341796875 ns; 2 dirtied. */
	CHECK_EQ(rnd(700, 700 * 4096, 2, 341796875, 2), MIG_STOP_FITS);
	CHECK_EQ(pol.bandwidth, BW8); /* (1 MiB + 2867200 B) / 0.466796875 s */
	CHECK_EQ(pol.rounds, 2);
	CHECK_EQ(pol.expected_downtime_ms, 1);
}

TEST(static_guest_8_and_32_mib)
{
	/* 126 MiB of data written before the migration, 512 zero pages as 16-byte
	 * records: 132128768 bytes in round 1; then 2 pages (the timer) dirtied. */
	setup(NULL);
	CHECK_EQ(rnd(RAM_PAGES, 132128768, 2, 15750000000ULL, 2), MIG_STOP_FITS);
	CHECK_EQ(pol.bandwidth, 8389128); /* 132128768 / 15.75 s */
	CHECK_EQ(pol.expected_downtime_ms, 1);
	CHECK_EQ(pol.dirty_rate, 0);      /* 2 / 15.75 s */
	setup(NULL);
	CHECK_EQ(rnd(RAM_PAGES, 132128768, 2, 3937500000ULL, 2), MIG_STOP_FITS);
	CHECK_EQ(pol.bandwidth, 33556512); /* 132128768 / 3.9375 s */
	CHECK_EQ(pol.expected_downtime_ms, 1);
	/* Nothing at all dirtied: fits with zero pending. */
	setup(NULL);
	CHECK_EQ(rnd(RAM_PAGES, 132128768, 0, 3937500000ULL, 0), MIG_STOP_FITS);
	CHECK_EQ(pol.expected_downtime_ms, 0);
}

/*
 * The incrementer: 8192 pages (32 MiB) re-dirtied every 0.5 ms, the link at
 * 8 MiB/s (2048 pages/s), the engine harvesting once a second after round 1.
 * Round 1: all RAM in 16 s, 8192 dirtied (converged, no throttle). Then each
 * round sends 2048 pages and 8192 get dirtied: dirty 32 MiB/s against 8 MiB/s.
 * need(t) = 100 - floor((100 - t) * 8 MiB/s * 50 / (100 * 32 MiB/s))
 *         = 100 - floor((100 - t) / 8): need(0) = 88, need(88) = 99, need(99) = 100.
 */
static enum mig_reason incr_round1(void)
{
	return rnd(RAM_PAGES, 128 * MIB, 8192, 16 * S_NS, 8192);
}

static enum mig_reason incr_round(void)
{
	return rnd(2048, 8 * MIB, 8192, S_NS, 8192);
}

TEST(incrementer_stops_on_n2_once_throttling_does_not_help)
{
	setup(NULL);
	CHECK_EQ(incr_round1(), MIG_GO_ON);
	CHECK_EQ(pol.bandwidth, BW8);
	CHECK_EQ(pol.dirty_rate, 512);
	CHECK_EQ(pol.expected_downtime_ms, 4000); /* 32 MiB at 8 MiB/s */
	CHECK_EQ(pol.throttle, 0);
	CHECK_EQ(pol.losing_rounds, 0);

	CHECK_EQ(incr_round(), MIG_GO_ON);
	CHECK_EQ(pol.bandwidth, BW8); /* (128 + 8) MiB / 17 s */
	CHECK_EQ(pol.dirty_rate, 8192);
	CHECK_EQ(pol.losing_rounds, 0); /* lost with the throttle at 0: it can rise */
	CHECK_EQ(pol.throttle, 88);

	/* Lost at 88, and the throttle did not help: the rate stayed 8192/s
	 * where 88% should have cut it to 983 (8192 * 2 * 100 > 8192 * (100 + 12)). */
	CHECK_EQ(incr_round(), MIG_GO_ON);
	CHECK_EQ(pol.dirty_rate, 8192);
	CHECK_EQ(pol.losing_rounds, 1);
	CHECK_EQ(pol.throttle, 99);
	CHECK_EQ(incr_round(), MIG_STOP_N2); /* lost at the cap */
	CHECK_EQ(pol.losing_rounds, 2);
	CHECK_EQ(pol.rounds, 4);
	CHECK_EQ(pol.throttle, 99);
	CHECK_EQ(pol.expected_downtime_ms, 4000);
}

/*
 * A round that did not shrink the dirty set counts for N2 below the cap only
 * when the throttle, raised for it, did not help: the rate fell by less than
 * half of what (100 - t) / (100 - t0) predicts. Link 1000 pages/s; round 2 at
 * throttle 0 measures 1000 pages/s and raises the throttle to 50, so round 3
 * should see 500: up to 750 it helped, from 751 it did not
 * (rate * 2 * 100 > 1000 * (100 + 50)).
 */
static void rounds_1_2_then_50(void)
{
	setup(NULL);
	CHECK_EQ(rnd(RAM_PAGES, RAM_PAGES * 4096ULL, 16000, RAM_PAGES * 1000000ULL, 16000), MIG_GO_ON);
	CHECK_EQ(rnd(16000, 16000 * 4096ULL, 16000, 16 * S_NS, 16000), MIG_GO_ON);
	CHECK_EQ(pol.dirty_rate, 1000);
	CHECK_EQ(pol.losing_rounds, 0); /* lost at 0: the throttle can rise */
	CHECK_EQ(pol.throttle, 50);
}

TEST(throttle_that_helps_is_no_loss)
{
	rounds_1_2_then_50();
	CHECK_EQ(rnd(12000, 12000 * 4096ULL, 12000, 16 * S_NS, 12000), MIG_GO_ON);
	CHECK_EQ(pol.dirty_rate, 750);
	CHECK_EQ(pol.losing_rounds, 0);
	rounds_1_2_then_50();
	CHECK_EQ(rnd(12016, 12016 * 4096ULL, 12016, 16 * S_NS, 12016), MIG_GO_ON);
	CHECK_EQ(pol.dirty_rate, 751);
	CHECK_EQ(pol.losing_rounds, 1);
	/* The same rate with all of RAM dirtied says nothing: no loss below the cap. */
	rounds_1_2_then_50();
	CHECK_EQ(rnd(RAM_PAGES, RAM_PAGES * 4096ULL, RAM_PAGES, RAM_PAGES * 1000000ULL, RAM_PAGES),
		 MIG_GO_ON);
	CHECK_EQ(pol.dirty_rate, 1000);
	CHECK_EQ(pol.losing_rounds, 0);
}

TEST(incrementer_without_auto_converge_stops_on_n2_at_once)
{
	setup(NULL);
	pol.params.auto_converge = false;
	CHECK_EQ(incr_round1(), MIG_GO_ON);
	CHECK_EQ(incr_round(), MIG_GO_ON);
	CHECK_EQ(pol.losing_rounds, 1);
	CHECK_EQ(incr_round(), MIG_STOP_N2);
	CHECK_EQ(pol.rounds, 3);
	CHECK_EQ(pol.throttle, 0);
}

static void no_n2(struct mig_params *q) { q->n2_rounds = 0; }

TEST(incrementer_throttle_rises_to_cap_then_n3)
{
	static const u32 want[] = { 0, 88, 99 }; /* after rounds 1, 2, 3; 99 from then on */
	setup(no_n2);
	u32 last = 0;
	for (u32 i = 1; i <= 29; i++) {
		CHECK_EQ(i == 1 ? incr_round1() : incr_round(), MIG_GO_ON);
		CHECK_EQ(pol.throttle, i <= 3 ? want[i - 1] : 99);
		CHECK(pol.throttle >= last);
		if (i > 1 && last < 99)
			CHECK(pol.throttle > last); /* each losing round, until the cap */
		last = pol.throttle;
	}
	CHECK_EQ(pol.losing_rounds, 27); /* rounds 3-29: round 1 won, round 2 ran at 0 (it could rise) */
	CHECK_EQ(incr_round(), MIG_STOP_N3);
	CHECK_EQ(pol.rounds, 30);
	CHECK_EQ(pol.nr_history, 30);
}

TEST(incrementer_without_auto_converge)
{
	setup(no_n2);
	pol.params.auto_converge = false;
	CHECK_EQ(incr_round1(), MIG_GO_ON);
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(incr_round(), MIG_GO_ON);
		CHECK_EQ(pol.throttle, 0);
	}
}

/*
 * A guest immune to the throttle (its set is re-dirtied however slowly it
 * runs) and 1.25 times as fast as the link: 2560 pages dirtied per 1 s round
 * while 2048 go out. need(t) = 100 - floor((100 - t) * 0.4).
 */
static void no_stops(struct mig_params *q) { q->n2_rounds = 0; q->n3_rounds = 0; }
static void no_stops_initial_70(struct mig_params *q) { no_stops(q); q->throttle_initial = 70; }

static void run_immune(const u32 *want, size_t n)
{
	CHECK_EQ(rnd(RAM_PAGES, 128 * MIB, 2560, 16 * S_NS, 2560), MIG_GO_ON);
	CHECK_EQ(pol.throttle, 0);
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ(rnd(2048, 8 * MIB, 2560, S_NS, 2560), MIG_GO_ON);
		if (pol.throttle != want[i])
			unit_fail(__FILE__, __LINE__, "round %zu: throttle %u, want %u", i + 2,
				  pol.throttle, want[i]);
	}
}

TEST(throttle_follows_the_rates)
{
	/* need 60; 84 (need 84 > 60 + 10); 94 (need 94 = 84 + 10); 99 (104 capped) */
	static const u32 want[] = { 60, 84, 94, 99, 99 };
	setup(no_stops);
	run_immune(want, ARRAY_SIZE(want));
}

TEST(throttle_initial_and_step_are_floors)
{
	/* 70 (initial > need 60); 88 (need 88 > 80); 98 (step: need 96 < 88 + 10); 99 */
	static const u32 want[] = { 70, 88, 98, 99 };
	setup(no_stops_initial_70);
	run_immune(want, ARRAY_SIZE(want));
}

TEST(throttle_max_caps)
{
	setup(no_stops);
	pol.params.throttle_max = 50;
	static const u32 want[] = { 50, 50 };
	run_immune(want, ARRAY_SIZE(want));
}

/*
 * A guest that the throttle slows: unthrottled it dirties 4000 distinct pages
 * a second over all of RAM, 4 times the link (1000 pages/s = 4096000 B/s).
 * Rounds 1-3 dirty all of RAM (the measured rate saturates at the link's,
 * need = 50 + t/2): 50, 75, 88. At 88 it dirties 480 pages/s, under half the
 * link: rounds converge (15728, 7549, 3623, 1739, 834, 400 pages pending), the
 * throttle stays at need = 88 (relaxed, never raised) and round 10 leaves 192
 * pages = 786432 B <= 4096000 x 0.3 s.
 */
TEST(throttled_guest_converges_just_enough)
{
	static const u32 want_t[] = { 50, 75, 88, 88, 88, 88, 88, 88, 88, 88 };
	static const u64 want_pending[] = { 32768, 32768, 32768, 15728, 7549, 3623, 1739, 834, 400, 192 };
	setup(NULL);
	u64 pending = RAM_PAGES;
	enum mig_reason why = MIG_GO_ON;
	u32 n = 0;
	while (why == MIG_GO_ON && n < 30) {
		u64 sent = pending, ns = sent * 1000000; /* 1000 pages/s */
		u64 rate = 4000 * (100 - pol.throttle) / 100;
		u64 dirtied = MIN((u64)RAM_PAGES, rate * ns / S_NS);
		u32 before = pol.throttle;
		why = rnd(sent, sent * 4096, dirtied, ns, dirtied);
		pending = dirtied;
		CHECK(n < ARRAY_SIZE(want_t));
		CHECK_EQ(pending, want_pending[n]);
		CHECK_EQ(pol.throttle, want_t[n]);
		if (dirtied < sent)
			CHECK(pol.throttle <= before);
		CHECK_EQ(pol.bandwidth, 4096000);
		n++;
	}
	CHECK_EQ(why, MIG_STOP_FITS);
	CHECK_EQ(n, 10);
	CHECK_EQ(pol.losing_rounds, 0);
	CHECK_EQ(pol.expected_downtime_ms, 192); /* 192 pages at 1000 pages/s */
}

TEST(throttle_relaxes_never_rises_on_converged_round)
{
	setup(no_stops);
	/* Link 1000 pages/s. A round that did not converge: 1000 sent, 4000
	 * dirtied in 1 s: need = 100 - floor(100 * 1000 * 50 / (100 * 4000)) = 88. */
	CHECK_EQ(rnd(1000, 4096000, 4000, S_NS, 4000), MIG_GO_ON);
	CHECK_EQ(pol.throttle, 88);
	/* Converged (900 < 1000) but 900 pages/s: need(88) = 100 - floor(12 * 50 / 90) = 94:
	 * not raised on a converged round. */
	CHECK_EQ(rnd(1000, 4096000, 900, S_NS, 900), MIG_GO_ON);
	CHECK_EQ(pol.throttle, 88);
	/* Converged with 60 pages/s: need(88) = 100 - floor(12 * 500 / 60) = 0: off. */
	CHECK_EQ(rnd(1000, 4096000, 60, S_NS, 900), MIG_GO_ON);
	CHECK_EQ(pol.throttle, 0);
	/* Not converged (300 sent, 300 dirtied in 1 s, the link underused), but
	 * 300 pages/s is under half the window's (1000 + 300) / 2 s = 650 pages/s:
	 * need = 100 - floor(100 * 650 * 50 / (100 * 300)) < 0: stays 0. */
	CHECK_EQ(rnd(300, 300 * 4096, 300, S_NS, 900), MIG_GO_ON);
	CHECK_EQ(pol.bandwidth, 650 * 4096);
	CHECK_EQ(pol.throttle, 0);
	/* 110 sent and dirtied: window (300 + 110) / 2 s = 205 pages/s,
	 * need = 100 - floor(50 * 205 / 110) = 7: raised to throttle_initial. */
	CHECK_EQ(rnd(110, 110 * 4096, 110, S_NS, 900), MIG_GO_ON);
	CHECK_EQ(pol.bandwidth, 205 * 4096);
	CHECK_EQ(pol.throttle, 20);
}

/*
 * The hot set: rep stosd over 2 MiB (512 pages), nothing else touched, through
 * the bitmaps as the engine keeps them.
 */
static u64 hs_send[RAM_PAGES / 64], hs_held[RAM_PAGES / 64], hs_prev[RAM_PAGES / 64],
	hs_dirty[RAM_PAGES / 64];

static u64 hot_harvest(void)
{
	memset(hs_send, 0, sizeof(hs_send)); /* the engine sent all of it */
	memset(hs_dirty, 0, sizeof(hs_dirty));
	for (u64 i = 4096; i < 4096 + 512; i++)
		bitmap_set(hs_dirty, i);
	u64 n = mig_select_next(hs_send, hs_held, hs_prev, hs_dirty, RAM_PAGES, true);
	return n + bitmap_weight(hs_held, RAM_PAGES);
}

static bool held_is_hot_set(void)
{
	for (u64 i = 0; i < RAM_PAGES; i++)
		if (bitmap_test(hs_held, i) != (i >= 4096 && i < 4096 + 512))
			return false;
	return true;
}

TEST(hot_set_fits_at_8_mib)
{
	memset(hs_held, 0, sizeof(hs_held));
	memset(hs_prev, 0, sizeof(hs_prev));
	setup(NULL);
	u64 pending = hot_harvest();
	CHECK_EQ(pending, 512);
	/* 2 MiB <= 8 MiB/s x 300 ms: stop with the hot set pending. */
	CHECK_EQ(rnd(RAM_PAGES, 128 * MIB, 512, 16 * S_NS, pending), MIG_STOP_FITS);
	CHECK_EQ(pol.expected_downtime_ms, 250);
	CHECK_EQ(bitmap_weight(hs_send, RAM_PAGES), 512);
}

TEST(hot_set_held_back_at_1000_pages_per_s)
{
	memset(hs_held, 0, sizeof(hs_held));
	memset(hs_prev, 0, sizeof(hs_prev));
	setup(NULL);
	/* 512 pages > 300 fit in 300 ms at 1000 pages/s. */
	u64 pending = hot_harvest();
	CHECK_EQ(rnd(RAM_PAGES, RAM_PAGES * 4096ULL, 512, RAM_PAGES * 1000000ULL, pending), MIG_GO_ON);
	CHECK_EQ(pol.throttle, 0);
	/* Round 2 sends the 512 (dirtied in round 1 only); they are dirtied again:
	 * now hot, held for the final copy, nothing left to send. */
	pending = hot_harvest();
	CHECK_EQ(pending, 512);
	CHECK(held_is_hot_set());
	CHECK_EQ(bitmap_weight(hs_send, RAM_PAGES), 0);
	/* 512 sent, 512 dirtied: not converged, 1000 pages/s = the link: need 50. */
	CHECK_EQ(rnd(512, 512 * 4096, 512, 512000000, pending), MIG_GO_ON);
	CHECK_EQ(pol.losing_rounds, 0);
	CHECK_EQ(pol.throttle, 50);
	/* Rounds 3 and 4 send nothing in 100 ms and the whole set is dirtied
	 * again: losing, and the throttle does not help (the set is rewritten
	 * however slowly the guest runs), so both count for N2. Round 3 ran at
	 * 50: 5120 pages/s against 1000 at 0 (a rate that rose). */
	pending = hot_harvest();
	CHECK_EQ(rnd(0, 0, 512, 100000000, pending), MIG_GO_ON);
	CHECK_EQ(pol.bandwidth, 4096000); /* a round without bytes does not count */
	CHECK_EQ(pol.dirty_rate, 5120);
	CHECK_EQ(pol.losing_rounds, 1);
	CHECK_EQ(pol.throttle, 96);       /* 100 - floor(50 * 1000 * 50 / (100 * 5120)) */
	/* Round 4 at 96: 5120 again where it should have fallen to 410;
	 * 5120 * 2 * 50 > 5120 * (50 + 4). */
	pending = hot_harvest();
	CHECK_EQ(rnd(0, 0, 512, 100000000, pending), MIG_STOP_N2);
	CHECK_EQ(pol.losing_rounds, 2);
	CHECK_EQ(pol.rounds, 4);
	CHECK_EQ(pol.throttle, 96); /* not raised on the stopping round */
	CHECK_EQ(pending, 512);
	CHECK(held_is_hot_set());
	/* The final copy: the held set goes. */
	memset(hs_dirty, 0, sizeof(hs_dirty));
	CHECK_EQ(mig_select_next(hs_send, hs_held, hs_prev, hs_dirty, RAM_PAGES, false), 512);
	CHECK_EQ(bitmap_weight(hs_held, RAM_PAGES), 0);
}

TEST(fits_boundary_exact)
{
	/* 4096000 B/s x 300 ms = 1228800 B = exactly 300 pages. */
	setup(NULL);
	CHECK_EQ(rnd(1000, 4096000, 0, S_NS, 300), MIG_STOP_FITS);
	CHECK_EQ(pol.expected_downtime_ms, 300);
	setup(NULL);
	CHECK_EQ(rnd(1000, 4096000, 0, S_NS, 301), MIG_GO_ON);
	CHECK_EQ(pol.expected_downtime_ms, 301);
	/* 8 MiB/s x 300 ms = 2516582.4 B = 614.4 pages. */
	setup(NULL);
	CHECK_EQ(rnd(2048, BW8, 0, S_NS, 614), MIG_STOP_FITS);
	CHECK_EQ(pol.expected_downtime_ms, 300); /* 299.8 */
	setup(NULL);
	CHECK_EQ(rnd(2048, BW8, 0, S_NS, 615), MIG_GO_ON);
	CHECK_EQ(pol.expected_downtime_ms, 301); /* 300.3 */
	/* 32 MiB/s: 2457.6 pages. */
	setup(NULL);
	CHECK_EQ(rnd(8192, BW32, 0, S_NS, 2457), MIG_STOP_FITS);
	setup(NULL);
	CHECK_EQ(rnd(8192, BW32, 0, S_NS, 2458), MIG_GO_ON);
}

TEST(fits_counts_the_state_sections)
{
	/* 1228800 B fit in 300 ms at 4096000 B/s: 299 pages + 4096 B of state
	 * do, 300 pages + 1 B do not. */
	setup(NULL);
	pol.final_extra_bytes = 4096;
	CHECK_EQ(rnd(1000, 4096000, 0, S_NS, 299), MIG_STOP_FITS);
	CHECK_EQ(pol.expected_downtime_ms, 300);
	setup(NULL);
	pol.final_extra_bytes = 1;
	CHECK_EQ(rnd(1000, 4096000, 0, S_NS, 300), MIG_GO_ON);
	CHECK_EQ(pol.expected_downtime_ms, 301); /* 300.0002 rounded up */
}

static void limit0(struct mig_params *q) { q->downtime_limit_ms = 0; }

TEST(stop_rules_in_order)
{
	/* FITS before N1: 10 pages fit, and 10 <= 50. */
	setup(NULL);
	CHECK_EQ(rnd(1000, 4096000, 0, S_NS, 10), MIG_STOP_FITS);
	/* N1 at 50, not at 51 (no bandwidth: FITS cannot apply). */
	setup(NULL);
	CHECK_EQ(rnd(1000, 4096000, 0, 0, 50), MIG_STOP_N1);
	setup(NULL);
	CHECK_EQ(rnd(1000, 4096000, 0, 0, 51), MIG_GO_ON);
	/* downtime-limit 0: only zero pending fits; 1 page is N1. */
	setup(limit0);
	CHECK_EQ(rnd(1000, 4096000, 0, S_NS, 0), MIG_STOP_FITS);
	setup(limit0);
	CHECK_EQ(rnd(1000, 4096000, 1, S_NS, 1), MIG_STOP_N1);
	/* N1 before N2: two losing rounds, 40 pages left. */
	setup(NULL);
	pol.params.auto_converge = false; /* the KVM Forum rules alone */
	CHECK_EQ(rnd(10, 40960, 2000, 0, 2000), MIG_GO_ON);
	CHECK_EQ(rnd(10, 40960, 2000, 0, 40), MIG_STOP_N1);
	/* N2 before N3: N3 = 2, two losing rounds. */
	setup(NULL);
	pol.params.auto_converge = false; /* the KVM Forum rules alone */
	pol.params.n3_rounds = 2;
	CHECK_EQ(rnd(10, 40960, 2000, 0, 2000), MIG_GO_ON);
	CHECK_EQ(rnd(10, 40960, 2000, 0, 2000), MIG_STOP_N2);
	/* N2 counts losing rounds in total, not in a row. */
	setup(NULL);
	pol.params.auto_converge = false; /* the KVM Forum rules alone */
	CHECK_EQ(rnd(10, 40960, 2000, 0, 2000), MIG_GO_ON);   /* losing */
	CHECK_EQ(rnd(3000, 40960, 2000, 0, 2000), MIG_GO_ON); /* winning */
	CHECK_EQ(rnd(2001, 40960, 2000, 0, 2000), MIG_GO_ON); /* winning by one page */
	CHECK_EQ(pol.losing_rounds, 1);
	CHECK_EQ(rnd(2000, 40960, 2000, 0, 2000), MIG_STOP_N2); /* even: the set did not shrink */
	CHECK_EQ(pol.losing_rounds, 2);
	/* A round that dirtied nothing is never lost, even having sent nothing. */
	setup(NULL);
	pol.params.auto_converge = false;
	CHECK_EQ(rnd(0, 0, 0, 0, 2000), MIG_GO_ON);
	CHECK_EQ(pol.losing_rounds, 0);
	/* N3 when the count reaches 30, not before. */
	setup(NULL);
	for (int i = 1; i < 30; i++)
		CHECK_EQ(rnd(2000, 40960, 1000, 0, 1000), MIG_GO_ON);
	CHECK_EQ(rnd(2000, 40960, 1000, 0, 1000), MIG_STOP_N3);
}

TEST(zero_duration_rounds)
{
	setup(NULL);
	/* Bytes in no time: no bandwidth, no rate, no FITS, no throttle, no division. */
	CHECK_EQ(rnd(1000, 4096000, 2000, 0, 2000), MIG_GO_ON);
	CHECK_EQ(pol.bandwidth, 0);
	CHECK_EQ(pol.dirty_rate, 0);
	CHECK_EQ(pol.expected_downtime_ms, MIG_DOWNTIME_UNKNOWN);
	CHECK_EQ(pol.throttle, 0);
	/* Nothing at all in no time. */
	CHECK_EQ(rnd(0, 0, 0, 0, 2000), MIG_GO_ON);
	CHECK_EQ(pol.bandwidth, 0);
	/* A measured round: the window is this round and the zero-duration one
	 * (the last two that sent bytes): 8192000 B in 1 s. */
	CHECK_EQ(rnd(1000, 4096000, 500, S_NS, 2000), MIG_GO_ON);
	CHECK_EQ(pol.bandwidth, 8192000);
	CHECK_EQ(pol.dirty_rate, 500);
	/* Another zero-duration round: the rate stays, the window still has 1 s. */
	CHECK_EQ(rnd(1000, 4096000, 5, 0, 2000), MIG_GO_ON);
	CHECK_EQ(pol.bandwidth, 8192000);
	CHECK_EQ(pol.dirty_rate, 500);
	CHECK_EQ(pol.expected_downtime_ms, 1000); /* 8192000 B at 8192000 B/s */
}

TEST(history_keeps_the_last_rounds)
{
	setup(no_stops);
	for (u32 i = 1; i <= MIG_HISTORY + 8; i++)
		CHECK_EQ(rnd(i, i * 4096ULL, i, S_NS, 1000), MIG_GO_ON);
	CHECK_EQ(pol.nr_history, MIG_HISTORY);
	CHECK_EQ(pol.rounds, MIG_HISTORY + 8);
	for (u32 i = 0; i < MIG_HISTORY; i++) {
		CHECK_EQ(pol.history[i].round, i + 9);
		CHECK_EQ(pol.history[i].pages_sent, i + 9);
	}
	/* Window: rounds 39 and 40, (39 + 40) pages in 2 s. */
	CHECK_EQ(pol.bandwidth, 79 * 4096 / 2);
}

/* ---- the writable working set ---- */

static void set_bits(u64 *bm, const int *bits, size_t n)
{
	for (size_t i = 0; i < n; i++)
		bitmap_set(bm, (u64)bits[i]);
}

static bool bits_are(const u64 *bm, u64 words, const int *bits, size_t n)
{
	u64 want[4] = { 0 };
	set_bits(want, bits, n);
	return memcmp(want, bm, words * 8) == 0;
}

#define BITS(...) (const int[]){ __VA_ARGS__ }, ARRAY_SIZE(((const int[]){ __VA_ARGS__ }))

TEST(select_hold_on)
{
	/* 100 pages: word 1 has 36 valid bits. */
	u64 send[2] = { 0 }, held[2] = { 0 }, prev[2] = { 0 }, dirty[2] = { 0 };
	set_bits(prev, BITS(1, 2, 70));
	set_bits(held, BITS(3, 5));
	set_bits(dirty, BITS(1, 3, 4, 99));
	dirty[1] |= ~0ULL << 36; /* garbage beyond nr_pages must not leak */
	/* held' = dirty & (prev | held) = {1, 3}; send = (dirty & ~held') | (held & ~dirty) = {4, 99, 5} */
	CHECK_EQ(mig_select_next(send, held, prev, dirty, 100, true), 3);
	CHECK(bits_are(send, 2, BITS(4, 5, 99)));
	CHECK(bits_are(held, 2, BITS(1, 3)));
	CHECK(bits_are(prev, 2, BITS(1, 3, 4, 99)));
}

TEST(select_held_page_clean_goes_next_round)
{
	u64 send[1] = { 0 }, held[1] = { 0 }, prev[1] = { 0 }, dirty[1] = { 0 };
	/* Page 7 dirtied in rounds 1, 2, 3, clean in 4; page 9 in rounds 1 and 3. */
	static const u64 dirt[4] = { 1 << 7 | 1 << 9, 1 << 7, 1 << 7 | 1 << 9, 0 };
	static const u64 want_send[4] = { 1 << 7 | 1 << 9, 0, 1 << 9, 1 << 7 };
	static const u64 want_held[4] = { 0, 1 << 7, 1 << 7, 0 };
	for (int r = 0; r < 4; r++) {
		send[0] = 0; /* sent */
		dirty[0] = dirt[r];
		CHECK_EQ(mig_select_next(send, held, prev, dirty, 64, true),
			 __builtin_popcountll(want_send[r]));
		CHECK_EQ(send[0], want_send[r]);
		CHECK_EQ(held[0], want_held[r]);
		CHECK_EQ(prev[0], dirt[r]);
	}
}

TEST(select_hold_off_sends_everything)
{
	u64 send[2] = { 0 }, held[2] = { 0 }, prev[2] = { 0 }, dirty[2] = { 0 };
	set_bits(send, BITS(0));        /* not sent yet: stays */
	set_bits(held, BITS(1, 2, 66));
	set_bits(prev, BITS(2, 66));
	set_bits(dirty, BITS(2, 3, 90));
	CHECK_EQ(mig_select_next(send, held, prev, dirty, 91, false), 6);
	CHECK(bits_are(send, 2, BITS(0, 1, 2, 3, 66, 90)));
	CHECK_EQ(held[0], 0);
	CHECK_EQ(held[1], 0);
	CHECK(bits_are(prev, 2, BITS(2, 3, 90)));
}

TEST(select_bits_beyond_nr_pages_stay_zero)
{
	u64 send[2], held[2], prev[2] = { 0 }, dirty[2];
	memset(send, 0, sizeof(send));
	send[1] = ~0ULL << 6; /* garbage beyond the end */
	held[0] = 0;
	held[1] = ~0ULL;  /* bits 64..127 held, only 64..69 are pages */
	dirty[0] = 0;
	dirty[1] = ~0ULL;
	/* 70 pages. held' = dirty & held = 64..69; send = nothing new in range
	 * (all of 64..69 dirty and held); the garbage in send is cleared. */
	CHECK_EQ(mig_select_next(send, held, prev, dirty, 70, true), 0);
	CHECK_EQ(send[1], 0);
	CHECK_EQ(held[1], 0x3f);
	CHECK_EQ(prev[1], 0x3f);
	/* Final copy: 6 held + 6 dirty in range, no more. */
	CHECK_EQ(mig_select_next(send, held, prev, dirty, 70, false), 6);
	CHECK_EQ(send[1], 0x3f);
	CHECK_EQ(held[1], 0);
	/* Exactly one word: all 64 bits are pages. */
	u64 s1 = 0, h1 = 0, p1 = 0, d1 = ~0ULL;
	CHECK_EQ(mig_select_next(&s1, &h1, &p1, &d1, 64, true), 64);
	CHECK_EQ(s1, ~0ULL);
	/* No pages: no word touched. */
	CHECK_EQ(mig_select_next(NULL, NULL, NULL, NULL, 0, true), 0);
}

/* ---- pacing and the downtime floor ---- */

TEST(allowance_arithmetic)
{
	setup(NULL);
	CHECK_EQ(mig_policy_allowance(&pol, 0, 0, 5 * S_NS), ~0ULL); /* unlimited */
	CHECK_EQ(mig_policy_allowance(&pol, 123, 7, 0), ~0ULL);
	pol.params.max_bandwidth = BW8;
	CHECK_EQ(mig_policy_allowance(&pol, 0, 100, 100 + S_NS), BW8);
	CHECK_EQ(mig_policy_allowance(&pol, 1000, 100, 100 + S_NS), BW8 - 1000);
	CHECK_EQ(mig_policy_allowance(&pol, BW8, 100, 100 + S_NS), 0);
	CHECK_EQ(mig_policy_allowance(&pol, BW8 + 1, 100, 100 + S_NS), 0); /* ahead: 0, not negative */
	CHECK_EQ(mig_policy_allowance(&pol, 0, 100, 100), 0);
	CHECK_EQ(mig_policy_allowance(&pol, 0, 200, 100), 0);              /* clock before start */
	CHECK_EQ(mig_policy_allowance(&pol, 0, 0, 1000000), 8388);         /* 8388.608 B in 1 ms, rounded down */
	/* 10 GB/s for 10 hours: 3.6e14 B, 3.6e13 ns x 1e10 B/s would overflow 64 bits. */
	pol.params.max_bandwidth = 10000000000ULL;
	CHECK_EQ(mig_policy_allowance(&pol, 0, 0, 36000 * S_NS), 360000000000000ULL);
	CHECK_EQ(mig_policy_allowance(&pol, 100000000000000ULL, S_NS, 36001 * S_NS),
		 260000000000000ULL);
	CHECK_EQ(mig_policy_allowance(&pol, 0, 0, 1), 10);
	/* 584 years at 10 GB/s: 1.8e20 B saturates at ~0. */
	CHECK_EQ(mig_policy_allowance(&pol, 0, 0, ~0ULL), ~0ULL);
	CHECK_EQ(mig_policy_allowance(&pol, 5, 0, ~0ULL), ~0ULL - 5);
	pol.params.max_bandwidth = 3;
	CHECK_EQ(mig_policy_allowance(&pol, 0, 0, 1), 0);
	CHECK_EQ(mig_policy_allowance(&pol, 0, 0, 333333334), 1);
}

TEST(downtime_floor)
{
	CHECK_EQ(mig_downtime_floor_ms(BW8, BW8, 500000), 1000);       /* 1000.5 ms */
	CHECK_EQ(mig_downtime_floor_ms(2516582, BW8, 1000000), 300);   /* 299.99990 + 1 */
	CHECK_EQ(mig_downtime_floor_ms(2 * MIB, BW32, 0), 62);         /* 62.5 */
	CHECK_EQ(mig_downtime_floor_ms(0, BW8, 2500000), 2);
	CHECK_EQ(mig_downtime_floor_ms(0, 0, 2500000), 2);
	CHECK_EQ(mig_downtime_floor_ms(1, 0, 0), ~0ULL);               /* no bandwidth: unbounded */
	CHECK_EQ(mig_downtime_floor_ms(1ULL << 50, 1, 0), ~0ULL / 1000000); /* saturated ns */
	CHECK_EQ(mig_downtime_floor_ms(64 * SZ_1G, 10000000000ULL, 0), 6871); /* 6871.9 */
}
