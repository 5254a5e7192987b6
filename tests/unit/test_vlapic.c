/*
 * hv/vlapic.c: the x2APIC as the Intel SDM Vol. 3 chapter 11 describes it.
 * Expected values are worked out here from the SDM: the MSR map of 11.12.1,
 * reset values of 11.4.7.1, PPR of 11.8.3.1, the timer of 11.5.4 (counts at
 * bus clock / divide; TSC-deadline mode 11.5.4.1), IA32_APIC_BASE of 11.12.5.
 * Clocks: the TSC runs at twice the bus clock unless a test says otherwise,
 * so one counter step at divide d is 2*d TSC ticks.
 */
#include "unit.h"
#include <tern/vlapic.h>

#define ID 0x23u /* cluster 2, bit 3 in the logical ID */
#define BUS_HZ 100000000ULL
#define TSC_HZ (2 * BUS_HZ)
#define T0 1000000ULL

enum {
	ID_R = 0x802, VER = 0x803, TPR = 0x808, PPR = 0x80a, EOI = 0x80b,
	LDR = 0x80d, SVR = 0x80f, ISR0 = 0x810, TMR0 = 0x818, IRR0 = 0x820,
	ESR = 0x828, CMCI = 0x82f, ICR = 0x830, LVTT = 0x832, THERM = 0x833,
	PERF = 0x834, LINT0 = 0x835, LINT1 = 0x836, LVTERR = 0x837,
	TMICT = 0x838, TMCCT = 0x839, TDCR = 0x83e, SELF = 0x83f, DEADLINE = 0x6e0,
};

static struct vlapic a;

static u64 rd(u32 msr, u64 now)
{
	u64 v = 0xdeadbeef;
	CHECK_EQ(vlapic_rdmsr(&a, msr, now, &v), 0);
	return v;
}

static void wr(u32 msr, u64 val, u64 now) { CHECK_EQ(vlapic_wrmsr(&a, msr, val, now), 0); }
static int wr_rc(u32 msr, u64 val) { return vlapic_wrmsr(&a, msr, val, T0); }
static int rd_rc(u32 msr)
{
	u64 v;
	return vlapic_rdmsr(&a, msr, T0, &v);
}

static bool irr_has(unsigned v) { return rd(IRR0 + v / 32, T0) & (1u << (v % 32)); }
static bool tmr_has(unsigned v) { return rd(TMR0 + v / 32, T0) & (1u << (v % 32)); }

/* A reset APIC, software-enabled with spurious vector 0xFF. */
static void setup(void)
{
	vlapic_init(&a, ID, TSC_HZ, BUS_HZ);
	wr(SVR, 0x1ff, T0);
}

/* Inject the pending vector as the hypervisor would; returns it. */
static int inject(void)
{
	int v = vlapic_pending_vector(&a);
	if (v >= 0)
		vlapic_accept(&a, v);
	return v;
}

TEST(reset_values)
{
	vlapic_init(&a, ID, TSC_HZ, BUS_HZ);
	CHECK_EQ(vlapic_get_base(&a), 0xfee00d00); /* base | EN | EXTD | BSP */
	CHECK_EQ(rd(ID_R, T0), ID);
	CHECK_EQ(rd(VER, T0), 0x00060015); /* 7 LVTs: max index 6 */
	CHECK_EQ(rd(TPR, T0), 0);
	CHECK_EQ(rd(PPR, T0), 0);
	CHECK_EQ(rd(LDR, T0), 0x00020008);
	CHECK_EQ(rd(SVR, T0), 0xff);
	for (u32 m = LVTT; m <= LVTERR; m++)
		CHECK_EQ(rd(m, T0), 0x10000);
	CHECK_EQ(rd(CMCI, T0), 0x10000);
	for (u32 i = 0; i < 8; i++) {
		CHECK_EQ(rd(ISR0 + i, T0), 0);
		CHECK_EQ(rd(TMR0 + i, T0), 0);
		CHECK_EQ(rd(IRR0 + i, T0), 0);
	}
	CHECK_EQ(rd(ESR, T0), 0);
	CHECK_EQ(rd(ICR, T0), 0);
	CHECK_EQ(rd(TMICT, T0), 0);
	CHECK_EQ(rd(TMCCT, T0), 0);
	CHECK_EQ(rd(TDCR, T0), 0);
	CHECK_EQ(rd(DEADLINE, T0), 0);
	CHECK_EQ(vlapic_pending_vector(&a), -1);
	CHECK_EQ(vlapic_next_event_tsc(&a), UINT64_MAX);
}

TEST(ldr_from_id)
{
	vlapic_init(&a, 0, TSC_HZ, BUS_HZ);
	CHECK_EQ(rd(LDR, T0), 0x00000001);
	vlapic_init(&a, 0x1f, TSC_HZ, BUS_HZ);
	CHECK_EQ(rd(LDR, T0), 0x00018000);
}

TEST(handles_msr)
{
	CHECK(vlapic_handles_msr(0x6e0));
	CHECK(vlapic_handles_msr(0x800));
	CHECK(vlapic_handles_msr(0x8ff));
	CHECK(!vlapic_handles_msr(0x7ff));
	CHECK(!vlapic_handles_msr(0x900));
	CHECK(!vlapic_handles_msr(0x1b));
}

TEST(write_to_read_only_gp)
{
	setup();
	static const u32 ro[] = { ID_R, VER, PPR, LDR, TMCCT };
	for (size_t i = 0; i < ARRAY_SIZE(ro); i++)
		CHECK_EQ(wr_rc(ro[i], 0), -1);
	for (u32 m = ISR0; m < IRR0 + 8; m++)
		CHECK_EQ(wr_rc(m, 0), -1);
	CHECK_EQ(rd(ID_R, T0), ID);
}

TEST(read_of_write_only_gp)
{
	setup();
	CHECK_EQ(rd_rc(EOI), -1);
	CHECK_EQ(rd_rc(SELF), -1);
}

TEST(reserved_addresses_gp)
{
	setup();
	static const u32 rsvd[] = { 0x800, 0x801, 0x804, 0x807, 0x809, 0x80c, 0x80e,
				    0x829, 0x82e, 0x831, 0x83a, 0x83d, 0x840, 0x8ff };
	for (size_t i = 0; i < ARRAY_SIZE(rsvd); i++) {
		CHECK_EQ(rd_rc(rsvd[i]), -1);
		CHECK_EQ(wr_rc(rsvd[i], 0), -1);
	}
}

TEST(read_write_registers)
{
	setup();
	wr(TPR, 0x5a, T0);
	CHECK_EQ(rd(TPR, T0), 0x5a);
	wr(SVR, 0x3ff, T0); /* vector 0xFF, enabled, focus bit */
	CHECK_EQ(rd(SVR, T0), 0x3ff);
	wr(LVTT, 0x400ef, T0); /* TSC-deadline, vector 0xEF */
	CHECK_EQ(rd(LVTT, T0), 0x400ef);
	wr(LVTT, 0x300ef, T0); /* periodic, masked */
	CHECK_EQ(rd(LVTT, T0), 0x300ef);
	wr(THERM, 0x004fa, T0); /* NMI delivery */
	CHECK_EQ(rd(THERM, T0), 0x004fa);
	wr(PERF, 0x10400, T0);
	CHECK_EQ(rd(PERF, T0), 0x10400);
	wr(LINT0, 0x1a700, T0); /* ExtINT, masked, level, active low */
	CHECK_EQ(rd(LINT0, T0), 0x1a700);
	wr(LINT1, 0x00400, T0);
	CHECK_EQ(rd(LINT1, T0), 0x00400);
	wr(LVTERR, 0xfe, T0);
	CHECK_EQ(rd(LVTERR, T0), 0xfe);
	wr(CMCI, 0xf1, T0);
	CHECK_EQ(rd(CMCI, T0), 0xf1);
	wr(TDCR, 0xb, T0);
	CHECK_EQ(rd(TDCR, T0), 0xb);
	wr(TMICT, 0xffffffff, T0);
	CHECK_EQ(rd(TMICT, T0), 0xffffffff);
	wr(ICR, 0x0000004200000000ULL | 0x4031, T0); /* to ID 0x42: dropped */
	CHECK_EQ(rd(ICR, T0), 0x0000004200004031ULL);
}

TEST(read_only_lvt_bits_ignored)
{
	setup();
	/* Delivery status (12) and remote IRR (14) come back from a
	 * read-modify-write; they are accepted and read as 0 (idle). */
	wr(LINT0, 0x15700, T0);
	CHECK_EQ(rd(LINT0, T0), 0x10700);
	wr(LVTT, 0x110ef, T0);
	CHECK_EQ(rd(LVTT, T0), 0x100ef);
}

TEST(reserved_bits_gp)
{
	setup();
	CHECK_EQ(wr_rc(TPR, 0x100), -1);
	CHECK_EQ(wr_rc(TPR, 1ULL << 32), -1);
	CHECK_EQ(wr_rc(SVR, 0x11ff), -1); /* EOI-broadcast suppression not offered */
	CHECK_EQ(wr_rc(SVR, 0x5ff), -1);
	CHECK_EQ(wr_rc(LVTT, 0x60000), -1); /* timer mode 3 */
	CHECK_EQ(wr_rc(LVTT, 0x00100), -1); /* no delivery mode in the timer LVT */
	CHECK_EQ(wr_rc(LVTT, 0x80000), -1);
	CHECK_EQ(wr_rc(LVTERR, 0x00400), -1);
	CHECK_EQ(wr_rc(THERM, 0x08000), -1); /* trigger mode: LINT only */
	CHECK_EQ(wr_rc(CMCI, 0x02000), -1);
	CHECK_EQ(wr_rc(LINT1, 0x20000), -1);
	CHECK_EQ(wr_rc(LINT1, 1ULL << 40), -1);
	CHECK_EQ(wr_rc(TDCR, 0x4), -1);
	CHECK_EQ(wr_rc(TDCR, 0x10), -1);
	CHECK_EQ(wr_rc(TMICT, 1ULL << 32), -1);
	CHECK_EQ(wr_rc(EOI, 1), -1);
	CHECK_EQ(wr_rc(ESR, 1), -1);
	CHECK_EQ(wr_rc(SELF, 0x100), -1);
	static const unsigned icr_rsvd[] = { 12, 13, 16, 17, 20, 25, 31 };
	for (size_t i = 0; i < ARRAY_SIZE(icr_rsvd); i++)
		CHECK_EQ(wr_rc(ICR, 0x40 | (1ULL << icr_rsvd[i])), -1);
	/* Nothing of the refused writes stuck. */
	CHECK_EQ(rd(TPR, T0), 0);
	CHECK_EQ(rd(SVR, T0), 0x1ff);
	CHECK_EQ(rd(LVTT, T0), 0x10000);
	CHECK_EQ(rd(ICR, T0), 0);
	CHECK(!irr_has(0x40));
}

TEST(msrs_gp_outside_x2apic_mode)
{
	setup();
	CHECK_EQ(vlapic_set_base(&a, 0xfee00100, 39), 0); /* -> disabled */
	CHECK_EQ(rd_rc(ID_R), -1);
	CHECK_EQ(wr_rc(TPR, 0), -1);
	CHECK_EQ(vlapic_set_base(&a, 0xfee00900 | APIC_BASE_EN, 39), 0); /* xAPIC */
	CHECK_EQ(rd_rc(ID_R), -1);
	CHECK_EQ(vlapic_set_base(&a, 0xfee00d00, 39), 0); /* x2APIC */
	CHECK_EQ(rd(ID_R, T0), ID);
}

TEST(apic_base_transitions)
{
	setup();
	CHECK_EQ(vlapic_set_base(&a, 0xfee00900, 39), -1);      /* x2APIC -> xAPIC */
	CHECK_EQ(vlapic_set_base(&a, 0xfee00500, 39), -1);      /* EXTD without EN */
	CHECK_EQ(vlapic_set_base(&a, 0xfee00d00 | 0x200, 39), -1); /* bit 9 */
	CHECK_EQ(vlapic_set_base(&a, 0xfee00d01, 39), -1);     /* bit 0 */
	CHECK_EQ(vlapic_set_base(&a, (1ULL << 39) | 0xfee00d00, 39), -1);
	CHECK_EQ(vlapic_set_base(&a, (1ULL << 38) | 0xfee00d00, 39), 0);
	CHECK_EQ(vlapic_set_base(&a, 0xfee00d00, 39), 0);
	wr(TPR, 0x20, T0);
	wr(SELF, 0x80, T0);
	CHECK_EQ(vlapic_set_base(&a, 0xfee00000, 39), 0); /* disabled; BSP written 0 */
	CHECK_EQ(vlapic_get_base(&a), 0xfee00100);        /* BSP kept */
	CHECK_EQ(vlapic_pending_vector(&a), -1);
	CHECK_EQ(vlapic_set_base(&a, 0xfee00d00, 39), -1); /* disabled -> x2APIC */
	CHECK_EQ(vlapic_set_base(&a, 0xfee00900, 39), 0);
	CHECK_EQ(vlapic_set_base(&a, 0xfee00d00, 39), 0);
	/* Disabling reset the registers (11.4.3). */
	CHECK_EQ(rd(TPR, T0), 0);
	CHECK_EQ(rd(SVR, T0), 0xff);
	CHECK_EQ(rd(IRR0 + 4, T0), 0);
	CHECK_EQ(rd(ID_R, T0), ID);
}

TEST(ppr_from_tpr_and_isr)
{
	setup();
	wr(TPR, 0x3c, T0);
	CHECK_EQ(rd(PPR, T0), 0x3c); /* nothing in service: PPR = TPR */
	wr(SELF, 0x51, T0);
	CHECK_EQ(inject(), 0x51);
	CHECK_EQ(rd(ISR0 + 2, T0), 1u << (0x51 - 64));
	CHECK_EQ(rd(PPR, T0), 0x50); /* TPR class 3 < ISR class 5 */
	wr(TPR, 0x5f, T0);
	CHECK_EQ(rd(PPR, T0), 0x5f); /* equal classes: TPR */
	wr(TPR, 0x61, T0);
	CHECK_EQ(rd(PPR, T0), 0x61);
	wr(EOI, 0, T0);
	wr(TPR, 0, T0);
	CHECK_EQ(rd(PPR, T0), 0);
}

TEST(tpr_blocks_same_and_lower_class)
{
	setup();
	wr(SELF, 0x45, T0);
	wr(TPR, 0x40, T0);
	CHECK_EQ(vlapic_pending_vector(&a), -1); /* class 4 is not above 4 */
	wr(TPR, 0x4f, T0);
	CHECK_EQ(vlapic_pending_vector(&a), -1);
	wr(TPR, 0x3f, T0);
	CHECK_EQ(vlapic_pending_vector(&a), 0x45);
}

TEST(nested_vectors_accept_eoi_order)
{
	setup();
	wr(SELF, 0x30, T0);
	CHECK_EQ(inject(), 0x30);
	CHECK_EQ(vlapic_pending_vector(&a), -1);
	wr(SELF, 0x50, T0);
	CHECK_EQ(inject(), 0x50); /* higher class nests */
	wr(SELF, 0x35, T0);
	wr(SELF, 0x3a, T0);
	CHECK_EQ(vlapic_pending_vector(&a), -1); /* class 3 under 0x50 */
	wr(EOI, 0, T0);                          /* ends 0x50 */
	CHECK_EQ(rd(ISR0 + 1, T0), 1u << (0x30 - 32));
	CHECK_EQ(rd(ISR0 + 2, T0), 0);
	CHECK_EQ(vlapic_pending_vector(&a), -1); /* class 3 under 0x30 */
	wr(EOI, 0, T0);                          /* ends 0x30 */
	CHECK_EQ(inject(), 0x3a);                /* highest first */
	CHECK_EQ(vlapic_pending_vector(&a), -1);
	wr(EOI, 0, T0);
	CHECK_EQ(inject(), 0x35);
	wr(EOI, 0, T0);
	CHECK_EQ(vlapic_ppr(&a), 0);
	for (u32 i = 0; i < 8; i++)
		CHECK_EQ(rd(ISR0 + i, T0) | rd(IRR0 + i, T0), 0);
}

TEST(eoi_with_nothing_in_service)
{
	setup();
	wr(EOI, 0, T0);
	CHECK_EQ(vlapic_ppr(&a), 0);
}

TEST(accept_ignores_bad_vectors)
{
	setup();
	vlapic_accept(&a, 0x40); /* not in IRR */
	vlapic_accept(&a, -1);
	vlapic_accept(&a, 300);
	vlapic_accept(&a, 5);
	for (u32 i = 0; i < 8; i++)
		CHECK_EQ(rd(ISR0 + i, T0), 0);
}

TEST(self_ipi_msr)
{
	setup();
	wr(SELF, 0xe3, T0);
	CHECK_EQ(rd(IRR0 + 7, T0), 1u << 3);
	CHECK(!tmr_has(0xe3));
	CHECK_EQ(inject(), 0xe3);
	CHECK_EQ(rd(ISR0 + 7, T0), 1u << 3);
	CHECK_EQ(rd(IRR0 + 7, T0), 0);
}

TEST(icr_fixed_to_self)
{
	setup();
	wr(ICR, ((u64)ID << 32) | 0x41, T0); /* physical, fixed, edge */
	CHECK(irr_has(0x41));
	CHECK(!tmr_has(0x41));
	wr(ICR, ((u64)ID << 32) | 0xc000 | 0x42, T0); /* level trigger, assert */
	CHECK(irr_has(0x42));
	CHECK(tmr_has(0x42));
	wr(ICR, (1u << 18) | 0x43, T0); /* shorthand self */
	CHECK(irr_has(0x43));
	wr(ICR, (2u << 18) | 0x44, T0); /* all including self */
	CHECK(irr_has(0x44));
	CHECK_EQ(a.ipis_dropped, 1); /* the "all" part beyond us */
	wr(ICR, (0x00020008ULL << 32) | 0x800 | 0x45, T0); /* logical, our bit */
	CHECK(irr_has(0x45));
	wr(ICR, (0x0002000cULL << 32) | 0x800 | 0x46, T0); /* ours and another */
	CHECK(irr_has(0x46));
	wr(ICR, (0xffffffffULL << 32) | 0x47, T0); /* broadcast */
	CHECK(irr_has(0x47));
	wr(ICR, (u64)ID << 32 | 0x100 | 0x48, T0); /* lowest priority: us */
	CHECK(irr_has(0x48));
	CHECK_EQ(a.ipis_dropped, 3);
}

TEST(icr_other_destinations_dropped)
{
	setup();
	wr(ICR, ((u64)(ID + 1) << 32) | 0x41, T0);
	wr(ICR, (3u << 18) | 0x42, T0);                     /* all excluding self */
	wr(ICR, (0x00030008ULL << 32) | 0x800 | 0x43, T0); /* other cluster */
	wr(ICR, (0x00020004ULL << 32) | 0x800 | 0x44, T0); /* other CPU, our cluster */
	CHECK_EQ(a.ipis_dropped, 4);
	for (u32 i = 0; i < 8; i++)
		CHECK_EQ(rd(IRR0 + i, T0), 0);
	CHECK_EQ(rd(ESR, T0), 0);
}

TEST(icr_nmi_init_sipi)
{
	setup();
	wr(ICR, (1u << 18) | 0x400 | 0x02, T0); /* NMI to self */
	CHECK(vlapic_take_nmi(&a));
	CHECK(!vlapic_take_nmi(&a));
	wr(ICR, (1u << 18) | 0x500, T0); /* INIT to self: dropped */
	wr(ICR, ((u64)ID << 32) | 0x600 | 0x9a, T0); /* SIPI to self: dropped */
	wr(ICR, (3u << 18) | 0x600 | 0x08, T0); /* SIPI to the others */
	CHECK_EQ(a.ipis_dropped, 3);
	CHECK(!vlapic_take_nmi(&a));
	for (u32 i = 0; i < 8; i++)
		CHECK_EQ(rd(IRR0 + i, T0), 0);
	CHECK_EQ(rd(ESR, T0), 0); /* vectors below 16 are fine for these */
}

TEST(esr_illegal_vector_latched_on_write)
{
	setup();
	wr(SELF, 0x0f, T0);
	CHECK_EQ(rd(ESR, T0), 0); /* not visible before the write */
	wr(ESR, 0, T0);
	CHECK_EQ(rd(ESR, T0), 0x60); /* send + receive illegal vector */
	CHECK_EQ(rd(IRR0, T0), 0);
	wr(ESR, 0, T0);
	CHECK_EQ(rd(ESR, T0), 0); /* nothing new since */
	wr(ICR, ((u64)(ID + 1) << 32) | 0x05, T0); /* to another CPU */
	wr(ESR, 0, T0);
	CHECK_EQ(rd(ESR, T0), 0x20); /* send only */
	CHECK_EQ(a.ipis_dropped, 0); /* never sent */
}

TEST(error_lvt_interrupt)
{
	setup();
	wr(LVTERR, 0xfe, T0);
	wr(ICR, (1u << 18) | 0x01, T0);
	CHECK_EQ(vlapic_pending_vector(&a), 0xfe);
	/* An error vector that is itself illegal: one more error, no IRR. */
	setup();
	wr(LVTERR, 0x03, T0);
	wr(ICR, ((u64)(ID + 1) << 32) | 0x02, T0);
	wr(ESR, 0, T0);
	CHECK_EQ(rd(ESR, T0), 0x60);
	CHECK_EQ(rd(IRR0, T0), 0);
}

TEST(software_disabled)
{
	vlapic_init(&a, ID, TSC_HZ, BUS_HZ); /* SVR 0xFF: disabled */
	wr(LVTT, 0x000ef, T0);
	CHECK_EQ(rd(LVTT, T0), 0x100ef); /* stays masked */
	wr(SELF, 0x80, T0);
	CHECK(!irr_has(0x80));
	wr(SVR, 0x1ff, T0);
	wr(LVTT, 0x000ef, T0);
	wr(LVTERR, 0xfe, T0);
	CHECK_EQ(rd(LVTT, T0), 0x000ef);
	wr(SELF, 0x80, T0);
	CHECK(irr_has(0x80));
	wr(SVR, 0x0ff, T0); /* disable: every LVT masked, IRR held */
	CHECK_EQ(rd(LVTT, T0), 0x100ef);
	CHECK_EQ(rd(LVTERR, T0), 0x100fe);
	CHECK(irr_has(0x80));
	CHECK_EQ(vlapic_pending_vector(&a), -1);
	wr(SVR, 0x1ff, T0);
	CHECK_EQ(vlapic_pending_vector(&a), 0x80);
	CHECK_EQ(rd(LVTT, T0), 0x100ef); /* re-enabling leaves them masked */
}

/* ---- timer ---- */

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

TEST(oneshot_to_periodic_keeps_counting)
{
	setup();
	wr(LVTT, 0xef, T0);
	wr(TDCR, 0xb, T0);
	wr(TMICT, 100, T0); /* 200 ticks */
	wr(LVTT, 0x200ef, T0 + 50);
	CHECK_EQ(vlapic_next_event_tsc(&a), T0 + 200);
	vlapic_tick(&a, T0 + 200);
	CHECK(irr_has(0xef));
	CHECK_EQ(vlapic_next_event_tsc(&a), T0 + 400); /* now periodic */
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
static void c_reserved(struct vlapic_state *s) { s->reserved = 1; }
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
		c_version, c_reserved, c_tsc_hz, c_bus_hz, c_base_rsvd, c_base_high,
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
