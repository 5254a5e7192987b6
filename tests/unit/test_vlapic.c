/*
 * hv/vlapic.c, registers and interrupt delivery: the x2APIC MSR map and its
 * #GP rules (SDM 11.12.1), reset values (11.4.7.1), IA32_APIC_BASE (11.12.5),
 * PPR (11.8.3.1), IPIs (11.6.1, 11.12.9) and the ESR (11.5.3). Expected
 * values are worked out by hand from those sections.
 */
#include "vlapic_test.h"

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
	CHECK_EQ(a.ipis_dropped, 3);
	CHECK_EQ(rd(ESR, T0), 0);
}

TEST(icr_lowest_priority_is_a_redirectable_ipi_error)
{
	setup();
	wr(ICR, ((u64)ID << 32) | 0x100 | 0x48, T0);
	CHECK(!irr_has(0x48));
	wr(ICR, (1u << 18) | 0x100 | 0x02, T0); /* illegal vector too: */
	wr(ESR, 0, T0);
	CHECK_EQ(rd(ESR, T0), 0x10); /* redirectable IPI only */
	CHECK_EQ(rd(IRR0, T0), 0);
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
