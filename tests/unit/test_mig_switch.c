/*
 * The hybrid switch of migrate/policy.c (tern/mig_policy.h, postcopy on):
 * the incrementer and the hot set, which pre-copy stops on N2, switch in
 * round 2; a guest dirtying well under half the link converges and stops
 * on FITS; the MIG_PC_SWITCH_PCT boundary; a lost round, N3 and no
 * measured bandwidth each switch; round 1 never does; the throttle stays 0;
 * why[] names the figures; with postcopy off nothing changes. Expected
 * numbers are worked out by hand from the rules in the header.
 */
#include "unit.h"
#include <tern/mig_policy.h>

#define MIB 1048576ULL
#define S_NS 1000000000ULL
#define MS_NS 1000000ULL
#define RAM_PAGES 32768 /* 128 MiB */
#define LINK 4096000ULL /* 1000 pages/s */

static struct mig_policy pol;

static void setup(bool postcopy)
{
	struct mig_params q;
	mig_params_default(&q);
	q.postcopy = postcopy;
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

TEST(postcopy_off_by_default)
{
	struct mig_params q;
	memset(&q, 0xa5, sizeof(q));
	mig_params_default(&q);
	CHECK_EQ(q.postcopy, false);
	CHECK_STR_EQ(mig_reason_name(MIG_SWITCH_POSTCOPY), "switch to post-copy");
	mig_policy_init(&pol, NULL);
	CHECK_EQ(pol.params.postcopy, false);
	CHECK_STR_EQ(pol.why, "");
}

/* The incrementer of test_mig_policy.c: 8192 pages rewritten every 0.5 ms, 8 MiB/s. */
static enum mig_reason incr_round1(void) { return rnd(RAM_PAGES, 128 * MIB, 8192, 16 * S_NS, 8192); }
static enum mig_reason incr_round(void) { return rnd(2048, 8 * MIB, 8192, S_NS, 8192); }

TEST(incrementer_switches_in_round_2)
{
	setup(true);
	CHECK_EQ(incr_round1(), MIG_GO_ON); /* 32 MiB pending, but round 1 never switches */
	CHECK_STR_EQ(pol.why, "");
	CHECK_EQ(pol.throttle, 0);
	/* 32 MiB/s dirtied against 8 MiB/s, and 2048 sent < 8192 dirtied. */
	CHECK_EQ(incr_round(), MIG_SWITCH_POSTCOPY);
	CHECK_EQ(pol.rounds, 2);
	CHECK_EQ(pol.throttle, 0);
	CHECK_EQ(pol.expected_downtime_ms, 4000);
	CHECK_STR_EQ(pol.why, "round 2: 8192 pages pending (32.0 MiB) need 4000 ms at 8192 KiB/s, "
			      "over the 300 ms limit; the guest dirtied 8192 pages/s (32.0 MiB/s, "
			      "400% of the link)");
}

TEST(incrementer_with_postcopy_off_unchanged)
{
	/* As in test_mig_policy.c: throttle 0, 88, 99, then N2 in round 4. */
	setup(false);
	static const u32 want_t[] = { 0, 88, 99, 99 };
	for (u32 i = 1; i <= 4; i++) {
		CHECK_EQ(i == 1 ? incr_round1() : incr_round(), i < 4 ? MIG_GO_ON : MIG_STOP_N2);
		CHECK_EQ(pol.throttle, want_t[i - 1]);
		CHECK_STR_EQ(pol.why, "");
	}
	CHECK_EQ(pol.losing_rounds, 2);
}

/* The hot set (512 pages rewritten) at 1000 pages/s: today N2 in round 4. */
TEST(hot_set_switches_in_round_2)
{
	setup(true);
	CHECK_EQ(rnd(RAM_PAGES, RAM_PAGES * 4096ULL, 512, RAM_PAGES * MS_NS, 512), MIG_GO_ON);
	CHECK_EQ(pol.dirty_rate, 15); /* 512 in 32.768 s */
	/* 512 sent, 512 dirtied in 0.512 s: lost, and 1000 pages/s = the link. */
	CHECK_EQ(rnd(512, 512 * 4096, 512, 512 * MS_NS, 512), MIG_SWITCH_POSTCOPY);
	CHECK_EQ(pol.bandwidth, LINK);
	CHECK_EQ(pol.throttle, 0);
	CHECK_STR_EQ(pol.why, "round 2: 512 pages pending (2.0 MiB) need 512 ms at 4000 KiB/s, "
			      "over the 300 ms limit; the guest dirtied 1000 pages/s (3.9 MiB/s, "
			      "100% of the link)");
}

/* 250 distinct pages/s against 1000 pages/s: the set quarters every round. */
static void converging_guest(bool postcopy)
{
	static const u64 dirtied[] = { 8192, 2048, 512, 128 };
	setup(postcopy);
	u64 sent = RAM_PAGES;
	for (u32 i = 0; i < ARRAY_SIZE(dirtied); i++) {
		enum mig_reason why = rnd(sent, sent * 4096, dirtied[i], sent * MS_NS, dirtied[i]);
		CHECK_EQ(pol.dirty_rate, 250);
		CHECK_EQ(pol.bandwidth, LINK);
		CHECK_EQ(pol.throttle, 0);
		CHECK_STR_EQ(pol.why, "");
		/* 128 pages fit 300 ms at 1000 pages/s; 512 do not. */
		CHECK_EQ(why, i < 3 ? MIG_GO_ON : MIG_STOP_FITS);
		sent = dirtied[i];
	}
	CHECK_EQ(pol.rounds, 4);
	CHECK_EQ(pol.losing_rounds, 0);
}

TEST(converging_guest_never_switches)
{
	converging_guest(true);
	converging_guest(false);
}

/* Dirtying exactly half the link switches, however well the round went. */
TEST(rate_boundary_half_the_link)
{
	setup(true);
	CHECK_EQ(rnd(RAM_PAGES, RAM_PAGES * 4096ULL, 16384, RAM_PAGES * MS_NS, 16384), MIG_GO_ON);
	CHECK_EQ(pol.dirty_rate, 500); /* half, in round 1: no switch */
	/* 16384 sent, 8192 dirtied (the round won) at 500 pages/s = 50%. */
	CHECK_EQ(rnd(16384, 16384 * 4096ULL, 8192, 16384 * MS_NS, 8192), MIG_SWITCH_POSTCOPY);
	CHECK_STR_EQ(pol.why, "round 2: 8192 pages pending (32.0 MiB) need 8192 ms at 4000 KiB/s, "
			      "over the 300 ms limit; the guest dirtied 500 pages/s (2.0 MiB/s, "
			      "50% of the link)");

	/* One page fewer: 8191 in 16.384 s = 499 pages/s, 49.9%: pre-copy goes on
	 * and, halving the set each round, fits in round 7 (255 pages). */
	setup(true);
	CHECK_EQ(rnd(RAM_PAGES, RAM_PAGES * 4096ULL, 16384, RAM_PAGES * MS_NS, 16384), MIG_GO_ON);
	u64 sent = 16384, dirtied = 8191;
	for (u32 round = 2; dirtied > 255; round++) {
		CHECK_EQ(rnd(sent, sent * 4096, dirtied, sent * MS_NS, dirtied), MIG_GO_ON);
		CHECK_EQ(pol.dirty_rate, 499);
		CHECK_EQ(pol.rounds, round);
		sent = dirtied;
		dirtied /= 2;
	}
	CHECK_EQ(rnd(sent, sent * 4096, dirtied, sent * MS_NS, dirtied), MIG_STOP_FITS);
	CHECK_EQ(pol.rounds, 7);
	CHECK_EQ(pol.throttle, 0);
}

/*
 * A lost round switches even when the guest is slow: round 2 takes 7.232 s
 * for 1232 pages (the link half idle) and 1232 get dirtied. The window:
 * 34000 pages in 40 s = 850 pages/s; 1232 / 7.232 s = 170 pages/s, 20%.
 */
TEST(lost_round_switches_at_a_low_rate)
{
	setup(true);
	CHECK_EQ(rnd(RAM_PAGES, RAM_PAGES * 4096ULL, 1232, RAM_PAGES * MS_NS, 1232), MIG_GO_ON);
	CHECK_EQ(rnd(1232, 1232 * 4096, 1232, 7232 * MS_NS, 1232), MIG_SWITCH_POSTCOPY);
	CHECK_EQ(pol.bandwidth, 850 * 4096);
	CHECK_EQ(pol.dirty_rate, 170);
	CHECK_EQ(pol.expected_downtime_ms, 1450); /* 1449.4 rounded up */
	CHECK_STR_EQ(pol.why, "round 2: 1232 pages pending (4.8 MiB) need 1450 ms at 3400 KiB/s, "
			      "over the 300 ms limit; the guest dirtied 170 pages/s (0.7 MiB/s, "
			      "20% of the link); the round sent 1232 pages, 1232 got dirtied");
	/* One page more sent: won, and 20% goes on. */
	setup(true);
	CHECK_EQ(rnd(RAM_PAGES, RAM_PAGES * 4096ULL, 1232, RAM_PAGES * MS_NS, 1233), MIG_GO_ON);
	CHECK_EQ(rnd(1233, 1233 * 4096, 1232, 7232 * MS_NS, 1232), MIG_GO_ON);
	CHECK_STR_EQ(pol.why, "");
}

TEST(n3_switches_instead_of_stopping)
{
	setup(true);
	pol.params.n3_rounds = 2;
	CHECK_EQ(rnd(RAM_PAGES, RAM_PAGES * 4096ULL, 8192, RAM_PAGES * MS_NS, 8192), MIG_GO_ON);
	CHECK_EQ(rnd(8192, 8192 * 4096ULL, 2048, 8192 * MS_NS, 2048), MIG_SWITCH_POSTCOPY);
	CHECK_STR_EQ(pol.why, "round 2: 2048 pages pending (8.0 MiB) need 2048 ms at 4000 KiB/s, "
			      "over the 300 ms limit; the guest dirtied 250 pages/s (1.0 MiB/s, "
			      "25% of the link); round limit 2 (N3)");
	/* Postcopy off: the same trace stops on N3. */
	setup(false);
	pol.params.n3_rounds = 2;
	CHECK_EQ(rnd(RAM_PAGES, RAM_PAGES * 4096ULL, 8192, RAM_PAGES * MS_NS, 8192), MIG_GO_ON);
	CHECK_EQ(rnd(8192, 8192 * 4096ULL, 2048, 8192 * MS_NS, 2048), MIG_STOP_N3);
	CHECK_STR_EQ(pol.why, "");
}

TEST(n1_and_fits_still_stop_precopy)
{
	/* Lost rounds at 400% of the link, but what is left is small: 50 pages
	 * do not fit 1 ms at 8 MiB/s (2 pages), N1 stops. */
	setup(true);
	pol.params.downtime_limit_ms = 1;
	CHECK_EQ(incr_round1(), MIG_GO_ON);
	CHECK_EQ(rnd(2048, 8 * MIB, 8192, S_NS, 51), MIG_SWITCH_POSTCOPY);
	setup(true);
	pol.params.downtime_limit_ms = 1;
	CHECK_EQ(incr_round1(), MIG_GO_ON);
	CHECK_EQ(rnd(2048, 8 * MIB, 8192, S_NS, 50), MIG_STOP_N1);
	CHECK_STR_EQ(pol.why, "");
	setup(true);
	CHECK_EQ(incr_round1(), MIG_GO_ON);
	CHECK_EQ(rnd(2048, 8 * MIB, 8192, S_NS, 614), MIG_STOP_FITS); /* 614.4 pages fit */
	setup(true);
	CHECK_EQ(incr_round1(), MIG_GO_ON);
	CHECK_EQ(rnd(2048, 8 * MIB, 8192, S_NS, 615), MIG_SWITCH_POSTCOPY);
}

TEST(no_bandwidth_lost_round_switches)
{
	/* Zero-duration rounds: no bandwidth, no rate, but the rounds are lost. */
	setup(true);
	CHECK_EQ(rnd(1000, 4096000, 2000, 0, 2000), MIG_GO_ON);
	CHECK_EQ(pol.losing_rounds, 1); /* with post-copy a lost round is lost */
	CHECK_EQ(rnd(1000, 4096000, 2000, 0, 2000), MIG_SWITCH_POSTCOPY);
	CHECK_STR_EQ(pol.why, "round 2: 2000 pages pending (7.8 MiB), no bandwidth measured; "
			      "the guest dirtied 0 pages/s (0.0 MiB/s); the round sent 1000 pages, "
			      "2000 got dirtied");
	/* Won and unmeasured: nothing to judge the rate by, pre-copy goes on. */
	setup(true);
	CHECK_EQ(rnd(1000, 4096000, 500, 0, 2000), MIG_GO_ON);
	CHECK_EQ(rnd(1000, 4096000, 500, 0, 2000), MIG_GO_ON);
	/* Nothing dirtied, nothing sent (all held): not lost, an idle guest. */
	CHECK_EQ(rnd(0, 0, 0, 0, 2000), MIG_GO_ON);
}

TEST(round_1_never_switches)
{
	/* All of RAM dirtied in round 1 at the link's rate: lost, 100%. */
	setup(true);
	CHECK_EQ(rnd(RAM_PAGES, 128 * MIB, RAM_PAGES, 16 * S_NS, RAM_PAGES), MIG_GO_ON);
	CHECK_STR_EQ(pol.why, "");
	CHECK_EQ(pol.throttle, 0); /* postcopy off: 50 (test below) */
	CHECK_EQ(rnd(2048, 8 * MIB, 8192, S_NS, 8192), MIG_SWITCH_POSTCOPY);
	/* Round 1 with N3 = 1: pre-copy's stop, not a switch. */
	setup(true);
	pol.params.n3_rounds = 1;
	CHECK_EQ(rnd(RAM_PAGES, 128 * MIB, RAM_PAGES, 16 * S_NS, RAM_PAGES), MIG_STOP_N3);
	CHECK_STR_EQ(pol.why, "");
}

TEST(throttle_stays_0_with_postcopy)
{
	/* The round-1 trace above without postcopy: need = 100 - 50 = 50. */
	setup(false);
	CHECK_EQ(rnd(RAM_PAGES, 128 * MIB, RAM_PAGES, 16 * S_NS, RAM_PAGES), MIG_GO_ON);
	CHECK_EQ(pol.throttle, 50);
	CHECK_EQ(pol.losing_rounds, 0);
	/* With postcopy and N2/N3 off, over many converging-but-slow rounds
	 * (won rounds, 499 pages/s): never throttled. */
	setup(true);
	pol.params.n2_rounds = 0;
	pol.params.n3_rounds = 0;
	for (int i = 0; i < 40; i++) {
		CHECK_EQ(rnd(4096, 4096 * 4096, 2044, 4096 * MS_NS, 100000), MIG_GO_ON);
		CHECK_EQ(pol.dirty_rate, 499);
		CHECK_EQ(pol.throttle, 0);
	}
}

TEST(why_cleared_on_the_next_round)
{
	setup(true);
	CHECK_EQ(incr_round1(), MIG_GO_ON);
	CHECK_EQ(incr_round(), MIG_SWITCH_POSTCOPY);
	CHECK(pol.why[0]);
	CHECK_EQ(rnd(2048, 8 * MIB, 0, S_NS, 0), MIG_STOP_FITS);
	CHECK_STR_EQ(pol.why, "");
}

TEST(why_fits_in_its_buffer)
{
	/* Huge figures: the line is cut, never overrun, and ends in a NUL. */
	setup(true);
	pol.final_extra_bytes = ~0ULL / 2;
	CHECK_EQ(rnd(1, 4096, 1ULL << 40, 1, 1ULL << 50), MIG_GO_ON);
	CHECK_EQ(rnd(1, 4096, 1ULL << 40, 1, 1ULL << 50), MIG_SWITCH_POSTCOPY);
	CHECK(strlen(pol.why) < sizeof(pol.why));
	CHECK(!strncmp(pol.why, "round 2: 1125899906842624 pages pending", 39));
}
