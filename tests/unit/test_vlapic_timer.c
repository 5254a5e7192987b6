/*
 * hv/vlapic.c, the timer and migration: one-shot and periodic counting at
 * bus clock / divide (SDM 11.5.4), TSC-deadline mode (11.5.4.1), and the
 * save/load of the APIC state. The TSC runs at twice the bus clock unless a
 * test says otherwise, so one counter step at divide d is 2*d TSC ticks.
 */
#include "vlapic_test.h"

TEST(oneshot_fires_at_count_times_divide_times_ratio)
{
	setup();
	wr(LVTT, 0xef, T0);
	wr(TDCR, 0x0, T0); /* divide by 2 */
	wr(TMICT, 1000, T0);
	/* 1000 steps * 2 bus clocks * 2 TSC ticks per bus clock. */
	CHECK_EQ(vlapic_next_event_tsc(&a), T0 + 4000);
	CHECK_EQ(rd(TMCCT, T0), 1000);
	CHECK_EQ(rd(TMCCT, T0 + 3), 1000); /* 3 ticks: 1.5 bus clocks, 0 steps */
	CHECK_EQ(rd(TMCCT, T0 + 4), 999);
	CHECK_EQ(rd(TMCCT, T0 + 400), 900);
	CHECK_EQ(rd(TMCCT, T0 + 3999), 1);
	vlapic_tick(&a, T0 + 3999);
	CHECK(!irr_has(0xef));
	vlapic_tick(&a, T0 + 4000);
	CHECK(irr_has(0xef));
	CHECK_EQ(rd(TMCCT, T0 + 4000), 0);
	CHECK_EQ(rd(TMCCT, T0 + 90000), 0);
	CHECK_EQ(rd(TMICT, T0 + 90000), 1000);
	CHECK_EQ(vlapic_next_event_tsc(&a), UINT64_MAX);
	CHECK_EQ(a.timer_fired, 1);
}

TEST(oneshot_expiry_found_by_a_late_read)
{
	setup();
	wr(LVTT, 0xef, T0);
	wr(TDCR, 0xb, T0); /* divide by 1 */
	wr(TMICT, 10, T0);
	CHECK_EQ(rd(TMCCT, T0 + 500), 0); /* deadline T0+20 passed */
	CHECK(irr_has(0xef));
}

TEST(divide_encodings)
{
	static const struct { u32 tdcr, div; } t[] = {
		{ 0x0, 2 }, { 0x1, 4 }, { 0x2, 8 }, { 0x3, 16 },
		{ 0x8, 32 }, { 0x9, 64 }, { 0xa, 128 }, { 0xb, 1 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		vlapic_init(&a, ID, 3 * BUS_HZ, BUS_HZ); /* 3 TSC ticks a bus clock */
		wr(SVR, 0x1ff, T0);
		wr(LVTT, 0xef, T0);
		wr(TDCR, t[i].tdcr, T0);
		wr(TMICT, 10, T0);
		CHECK_EQ(vlapic_next_event_tsc(&a), T0 + 10 * t[i].div * 3);
		CHECK_EQ(rd(TMCCT, T0 + 3 * t[i].div), 9);
	}
}

TEST(fractional_ratio_rounds_deadline_up)
{
	vlapic_init(&a, ID, 3, 2); /* 1.5 TSC ticks a bus clock */
	wr(SVR, 0x1ff, T0);
	wr(LVTT, 0xef, T0);
	wr(TDCR, 0xb, T0);
	wr(TMICT, 1, T0);
	CHECK_EQ(vlapic_next_event_tsc(&a), T0 + 2);
	CHECK_EQ(rd(TMCCT, T0 + 1), 1);
	vlapic_tick(&a, T0 + 1);
	CHECK(!irr_has(0xef));
	vlapic_tick(&a, T0 + 2);
	CHECK(irr_has(0xef));
}

TEST(periodic_no_drift_over_1000_periods)
{
	setup();
	wr(LVTT, 0x200ef, T0); /* periodic */
	wr(TDCR, 0xb, T0);
	wr(TMICT, 500, T0); /* period 500 * 1 * 2 = 1000 TSC ticks */
	for (u64 k = 1; k <= 1000; k++) {
		u64 due = T0 + k * 1000;
		CHECK_EQ(vlapic_next_event_tsc(&a), due);
		vlapic_tick(&a, due - 1);
		CHECK(!irr_has(0xef));
		/* The hypervisor is late by up to 999 ticks: still no drift. */
		vlapic_tick(&a, due + (k * 37) % 1000);
		CHECK_EQ(inject(), 0xef);
		wr(EOI, 0, due + 999);
	}
	CHECK_EQ(vlapic_next_event_tsc(&a), T0 + 1001 * 1000);
	CHECK_EQ(a.timer_fired, 1000);
	CHECK_EQ(a.timer_skipped, 0);
	CHECK_EQ(rd(TMCCT, T0 + 1000 * 1000 + 250), 375);
}

TEST(periodic_skips_missed_periods)
{
	setup();
	wr(LVTT, 0x200ef, T0);
	wr(TDCR, 0xb, T0);
	wr(TMICT, 500, T0);
	vlapic_tick(&a, T0 + 5500); /* periods ending at 1000..5000 passed */
	CHECK(irr_has(0xef));
	CHECK_EQ(a.timer_fired, 1);
	CHECK_EQ(a.timer_skipped, 4);
	CHECK_EQ(vlapic_next_event_tsc(&a), T0 + 6000);
	CHECK_EQ(rd(TMCCT, T0 + 5500), 250);
}

TEST(tmict_zero_stops_timer)
{
	setup();
	wr(LVTT, 0x200ef, T0);
	wr(TMICT, 100, T0);
	wr(TMICT, 0, T0 + 10);
	CHECK_EQ(vlapic_next_event_tsc(&a), UINT64_MAX);
	CHECK_EQ(rd(TMCCT, T0 + 10), 0);
	vlapic_tick(&a, T0 + 100000);
	CHECK(!irr_has(0xef));
}

TEST(tmict_rewrite_restarts)
{
	setup();
	wr(LVTT, 0xef, T0);
	wr(TDCR, 0xb, T0);
	wr(TMICT, 100, T0);
	wr(TMICT, 50, T0 + 150);
	CHECK_EQ(vlapic_next_event_tsc(&a), T0 + 250);
	CHECK_EQ(rd(TMCCT, T0 + 150), 50);
}

TEST(divide_change_mid_count)
{
	setup();
	wr(LVTT, 0xef, T0);
	wr(TDCR, 0x0, T0);   /* divide by 2: 4 TSC ticks a step */
	wr(TMICT, 1000, T0);
	wr(TDCR, 0xb, T0 + 400); /* 100 steps done, 900 left at 2 ticks each */
	CHECK_EQ(rd(TMCCT, T0 + 400), 900);
	CHECK_EQ(vlapic_next_event_tsc(&a), T0 + 400 + 1800);
	CHECK_EQ(rd(TMCCT, T0 + 600), 800);
}

TEST(oneshot_to_periodic_disarms)
{
	setup();
	wr(LVTT, 0xef, T0);
	wr(TDCR, 0xb, T0);
	wr(TMICT, 100, T0); /* 200 ticks */
	wr(LVTT, 0x100ef, T0 + 20); /* only the mask changes: still counting */
	wr(LVTT, 0xef, T0 + 30);
	CHECK_EQ(vlapic_next_event_tsc(&a), T0 + 200);
	wr(LVTT, 0x200ef, T0 + 50); /* the mode changes: disarmed */
	CHECK_EQ(vlapic_next_event_tsc(&a), UINT64_MAX);
	CHECK_EQ(rd(TMCCT, T0 + 50), 0);
	CHECK_EQ(rd(TMICT, T0 + 50), 100);
	vlapic_tick(&a, T0 + 1000);
	CHECK(!irr_has(0xef));
	wr(TMICT, 100, T0 + 1000); /* rearmed, periodic */
	vlapic_tick(&a, T0 + 1200);
	CHECK(irr_has(0xef));
	CHECK_EQ(vlapic_next_event_tsc(&a), T0 + 1400);
}

TEST(masked_timer_counts_without_irr)
{
	setup();
	wr(LVTT, 0x100ef, T0); /* masked one-shot */
	wr(TDCR, 0xb, T0);
	wr(TMICT, 100, T0);
	CHECK_EQ(vlapic_next_event_tsc(&a), UINT64_MAX);
	CHECK_EQ(rd(TMCCT, T0 + 100), 50);
	CHECK_EQ(rd(TMCCT, T0 + 200), 0);
	CHECK_EQ(a.timer_fired, 1);
	CHECK(!irr_has(0xef));
	wr(LVTT, 0xef, T0 + 300); /* unmasking later delivers nothing */
	vlapic_tick(&a, T0 + 400);
	CHECK(!irr_has(0xef));
}

TEST(masked_periodic_keeps_its_phase)
{
	setup();
	wr(LVTT, 0x300ef, T0); /* masked periodic */
	wr(TDCR, 0xb, T0);
	wr(TMICT, 100, T0); /* period 200 */
	wr(LVTT, 0x200ef, T0 + 1050); /* unmask: expiries at 200..1000 lost */
	CHECK(!irr_has(0xef));
	CHECK_EQ(vlapic_next_event_tsc(&a), T0 + 1200);
	CHECK_EQ(rd(TMCCT, T0 + 1050), 75);
}

TEST(timer_illegal_vector_is_an_error)
{
	setup();
	wr(LVTT, 0x0a, T0);
	wr(TDCR, 0xb, T0);
	wr(TMICT, 1, T0);
	vlapic_tick(&a, T0 + 2);
	wr(ESR, 0, T0 + 2);
	CHECK_EQ(rd(ESR, T0 + 2), 0x40);
	CHECK_EQ(rd(IRR0, T0 + 2), 0);
}

TEST(tsc_deadline_arm_fire_disarm)
{
	setup();
	wr(LVTT, 0x400ef, T0);
	wr(DEADLINE, T0 + 5000, T0);
	CHECK_EQ(rd(DEADLINE, T0), T0 + 5000);
	CHECK_EQ(vlapic_next_event_tsc(&a), T0 + 5000);
	CHECK_EQ(rd(TMCCT, T0), 0);
	vlapic_tick(&a, T0 + 4999);
	CHECK(!irr_has(0xef));
	vlapic_tick(&a, T0 + 5000);
	CHECK(irr_has(0xef));
	CHECK_EQ(rd(DEADLINE, T0 + 5000), 0);
	CHECK_EQ(vlapic_next_event_tsc(&a), UINT64_MAX);
	CHECK_EQ(inject(), 0xef);
	wr(EOI, 0, T0 + 5001);
	wr(DEADLINE, T0 + 9000, T0 + 6000);
	wr(DEADLINE, 0, T0 + 7000); /* disarm */
	CHECK_EQ(vlapic_next_event_tsc(&a), UINT64_MAX);
	vlapic_tick(&a, T0 + 10000);
	CHECK(!irr_has(0xef));
}

TEST(tsc_deadline_in_the_past_fires_at_once)
{
	setup();
	wr(LVTT, 0x400ef, T0);
	wr(DEADLINE, T0 - 1, T0);
	CHECK(irr_has(0xef));
	CHECK_EQ(rd(DEADLINE, T0), 0);
}

TEST(tsc_deadline_ignored_in_other_modes)
{
	setup();
	wr(LVTT, 0xef, T0); /* one-shot */
	wr(DEADLINE, T0 + 10, T0);
	CHECK_EQ(rd(DEADLINE, T0), 0);
	vlapic_tick(&a, T0 + 20);
	CHECK(!irr_has(0xef));
	wr(LVTT, 0x400ef, T0 + 20);
	wr(TMICT, 100, T0 + 20); /* ignored in TSC-deadline mode */
	CHECK_EQ(rd(TMICT, T0 + 20), 0);
	CHECK_EQ(vlapic_next_event_tsc(&a), UINT64_MAX);
}

TEST(mode_switch_disarms)
{
	setup();
	wr(LVTT, 0x400ef, T0);
	wr(DEADLINE, T0 + 100, T0);
	wr(LVTT, 0xef, T0 + 10); /* to one-shot */
	CHECK_EQ(vlapic_next_event_tsc(&a), UINT64_MAX);
	wr(LVTT, 0x400ef, T0 + 20);
	CHECK_EQ(rd(DEADLINE, T0 + 20), 0);
	vlapic_tick(&a, T0 + 200);
	CHECK(!irr_has(0xef));
	wr(LVTT, 0x200ef, T0 + 200); /* to periodic, then running */
	wr(TMICT, 100, T0 + 200);
	wr(LVTT, 0x400ef, T0 + 210); /* to TSC-deadline */
	CHECK_EQ(rd(TMICT, T0 + 210), 0);
	CHECK_EQ(rd(TMCCT, T0 + 210), 0);
	CHECK_EQ(vlapic_next_event_tsc(&a), UINT64_MAX);
	vlapic_tick(&a, T0 + 100000);
	CHECK(!irr_has(0xef));
}

/* ---- migration ---- */

static void busy_state(void)
{
	setup();
	wr(TPR, 0x20, T0);
	wr(LVTERR, 0xfe, T0);
	wr(LINT0, 0x10700, T0);
	wr(SELF, 0x61, T0);
	CHECK_EQ(inject(), 0x61);
	wr(SELF, 0x52, T0);
	wr(ICR, ((u64)ID << 32) | 0x8000 | 0x70, T0); /* level: TMR */
	wr(SELF, 0x03, T0);                           /* an error pending */
	wr(LVTT, 0x200ef, T0);
	wr(TDCR, 0x1, T0);    /* divide by 4: 8 ticks a step */
	wr(TMICT, 1000, T0);  /* period 8000 */
	wr(TDCR, 0x0, T0 + 800); /* 100 done: 900 left at 4 ticks each */
}

TEST(save_load_same_behaviour)
{
	busy_state();
	struct vlapic_state s;
	vlapic_save(&a, &s);
	CHECK_EQ(s.version, VLAPIC_STATE_VERSION);
	struct vlapic orig = a;
	const char *err = NULL;
	vlapic_init(&a, 7, 1, 1);
	CHECK_EQ(vlapic_load(&a, &s, &err), 0);
	/* Same reads, same deadlines, same injections on both. */
	u64 times[] = { T0 + 800, T0 + 1000, T0 + 4400, T0 + 8000, T0 + 30000 };
	struct vlapic loaded = a;
	for (int side = 0; side < 2; side++) {
		a = side ? loaded : orig;
		CHECK_EQ(vlapic_next_event_tsc(&a), T0 + 800 + 3600);
		CHECK_EQ(rd(TMCCT, T0 + 1000), 850);
		CHECK_EQ(rd(PPR, T0 + 1000), 0x60);
		CHECK_EQ(rd(ID_R, T0 + 1000), ID);
		CHECK(tmr_has(0x70));
		wr(ESR, 0, T0 + 1000);
		CHECK_EQ(rd(ESR, T0 + 1000), 0x60);
		vlapic_tick(&a, T0 + 4400);
		wr(EOI, 0, T0 + 4400); /* ends 0x61 */
		CHECK_EQ(inject(), 0xfe); /* the error interrupt of SELF 0x03 */
		wr(EOI, 0, T0 + 4400);
		CHECK_EQ(inject(), 0xef);
		wr(EOI, 0, T0 + 4401);
		CHECK_EQ(inject(), 0x70);
		wr(EOI, 0, T0 + 4402);
		CHECK_EQ(inject(), 0x52);
		wr(EOI, 0, T0 + 4403);
		CHECK_EQ(vlapic_pending_vector(&a), -1);
		CHECK_EQ(vlapic_next_event_tsc(&a), T0 + 4400 + 4000);
		for (size_t i = 0; i < ARRAY_SIZE(times); i++)
			vlapic_tick(&a, times[i]);
		CHECK_EQ(vlapic_next_event_tsc(&a), T0 + 4400 + 4000 * 7);
	}
}

TEST(load_then_late_deadline_fires)
{
	setup();
	wr(LVTT, 0x400ef, T0);
	wr(DEADLINE, T0 + 100, T0);
	struct vlapic_state s;
	vlapic_save(&a, &s);
	const char *err = NULL;
	vlapic_init(&a, ID, TSC_HZ, BUS_HZ);
	CHECK_EQ(vlapic_load(&a, &s, &err), 0);
	CHECK_EQ(vlapic_next_event_tsc(&a), T0 + 100);
	vlapic_tick(&a, T0 + 100000); /* the move took long: fires, not lost */
	CHECK(irr_has(0xef));
}

typedef void (*corrupt_fn)(struct vlapic_state *);
static void c_version(struct vlapic_state *s) { s->version = 2; }
static void c_tsc_hz(struct vlapic_state *s) { s->tsc_hz = 0; }
static void c_bus_hz(struct vlapic_state *s) { s->bus_hz = 0; }
static void c_base_rsvd(struct vlapic_state *s) { s->apic_base |= 0x200; }
static void c_base_high(struct vlapic_state *s) { s->apic_base |= 1ULL << 60; }
static void c_base_invalid(struct vlapic_state *s) { s->apic_base &= ~APIC_BASE_EN; }
static void c_tpr(struct vlapic_state *s) { s->tpr = 0x100; }
static void c_svr(struct vlapic_state *s) { s->svr |= 0x1000; }
static void c_esr(struct vlapic_state *s) { s->esr = 0x80; }
static void c_esr_pending(struct vlapic_state *s) { s->esr_pending = 0x1; }
static void c_icr(struct vlapic_state *s) { s->icr |= 1u << 12; }
static void c_lvt(struct vlapic_state *s) { s->lvt[VLAPIC_LVT_ERROR] |= 0x700; }
static void c_lvt_status(struct vlapic_state *s) { s->lvt[VLAPIC_LVT_LINT0] |= 1u << 12; }
static void c_lvt_mode(struct vlapic_state *s) { s->lvt[VLAPIC_LVT_TIMER] |= 0x60000; }
static void c_unmasked(struct vlapic_state *s) { s->svr &= ~0x100u; }
static void c_irr(struct vlapic_state *s) { s->irr[0] |= 1u << 3; }
static void c_isr(struct vlapic_state *s) { s->isr[0] |= 1u << 15; }
static void c_tmr(struct vlapic_state *s) { s->tmr[0] |= 1; }
static void c_tdcr(struct vlapic_state *s) { s->tdcr = 0x4; }
static void c_running(struct vlapic_state *s) { s->tmr_running = 2; }
static void c_nmi(struct vlapic_state *s) { s->nmi_pending = 7; }
static void c_count(struct vlapic_state *s) { s->tmr_base_count = s->tmict + 1; }
static void c_count0(struct vlapic_state *s) { s->tmr_base_count = 0; }
static void c_tmict0(struct vlapic_state *s) { s->tmict = 0; }
static void c_deadline(struct vlapic_state *s) { s->tsc_deadline = T0 + 5; }
static void c_dl_running(struct vlapic_state *s) { s->lvt[VLAPIC_LVT_TIMER] = 0x400ef; }

TEST(load_refuses_corrupt_states)
{
	static const corrupt_fn bad[] = {
		c_version, c_tsc_hz, c_bus_hz, c_base_rsvd, c_base_high,
		c_base_invalid, c_tpr, c_svr, c_esr, c_esr_pending, c_icr, c_lvt,
		c_lvt_status, c_lvt_mode, c_unmasked, c_irr, c_isr, c_tmr, c_tdcr,
		c_running, c_nmi, c_count, c_count0, c_tmict0, c_deadline, c_dl_running,
	};
	busy_state();
	struct vlapic_state good;
	vlapic_save(&a, &good);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct vlapic_state s = good;
		bad[i](&s);
		vlapic_init(&a, 9, TSC_HZ, BUS_HZ);
		struct vlapic before = a;
		const char *err = NULL;
		if (vlapic_load(&a, &s, &err) != -1)
			unit_fail(__FILE__, __LINE__, "corruption %zu accepted", i);
		CHECK(err != NULL && err[0]);
		CHECK(memcmp(&before, &a, sizeof(a)) == 0); /* untouched */
	}
	struct vlapic_state s = good;
	const char *err = NULL;
	CHECK_EQ(vlapic_load(&a, &s, &err), 0);
}

TEST(load_accepts_tsc_deadline_state)
{
	setup();
	wr(LVTT, 0x400ef, T0);
	wr(DEADLINE, T0 + 10, T0);
	struct vlapic_state s;
	vlapic_save(&a, &s);
	const char *err = NULL;
	CHECK_EQ(vlapic_load(&a, &s, &err), 0);
	CHECK_EQ(rd(DEADLINE, T0), T0 + 10);
}
