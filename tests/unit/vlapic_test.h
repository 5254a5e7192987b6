/*
 * Shared by the hv/vlapic.c tests (test_vlapic.c: registers and delivery;
 * test_vlapic_timer.c: timer and migration): the x2APIC as the Intel SDM
 * Vol. 3 chapter 11 describes it. MSR numbers, the test APIC's ID and clocks,
 * and helpers that fail the test on an unexpected #GP. Clocks: the TSC runs at twice the bus clock unless a test says otherwise,
 * so one counter step at divide d is 2*d TSC ticks.
 */
#ifndef TERN_VLAPIC_TEST_H
#define TERN_VLAPIC_TEST_H

#include "unit.h"
#include <tern/vlapic.h>

#define VT_HELPER __attribute__((unused)) static

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

VT_HELPER u64 rd(u32 msr, u64 now)
{
	u64 v = 0xdeadbeef;
	CHECK_EQ(vlapic_rdmsr(&a, msr, now, &v), 0);
	return v;
}

VT_HELPER void wr(u32 msr, u64 val, u64 now) { CHECK_EQ(vlapic_wrmsr(&a, msr, val, now), 0); }
VT_HELPER int wr_rc(u32 msr, u64 val) { return vlapic_wrmsr(&a, msr, val, T0); }
VT_HELPER int rd_rc(u32 msr)
{
	u64 v;
	return vlapic_rdmsr(&a, msr, T0, &v);
}

VT_HELPER bool irr_has(unsigned v) { return rd(IRR0 + v / 32, T0) & (1u << (v % 32)); }
VT_HELPER bool tmr_has(unsigned v) { return rd(TMR0 + v / 32, T0) & (1u << (v % 32)); }

/* A reset APIC, software-enabled with spurious vector 0xFF. */
VT_HELPER void setup(void)
{
	vlapic_init(&a, ID, TSC_HZ, BUS_HZ);
	wr(SVR, 0x1ff, T0);
}

/* Inject the pending vector as the hypervisor would; returns it. */
VT_HELPER int inject(void)
{
	int v = vlapic_pending_vector(&a);
	if (v >= 0)
		vlapic_accept(&a, v);
	return v;
}

#endif
