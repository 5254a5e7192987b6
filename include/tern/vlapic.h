/*
 * The guest's local APIC in x2APIC mode (hv/vlapic.c): pure logic, one vCPU.
 * Register semantics follow the Intel SDM Vol. 3, chapter 11 ("Advanced
 * Programmable Interrupt Controller"), section 11.12 ("Extended xAPIC
 * (x2APIC)"), with the MSR map of table "x2APIC Operation, MSR Address
 * Space". The hypervisor forwards RDMSR/WRMSR of 0x800-0x8FF and of
 * IA32_TSC_DEADLINE (0x6E0) here, and IA32_APIC_BASE (0x1B) to
 * vlapic_get_base()/vlapic_set_base(); between guest slices it asks
 * vlapic_pending_vector() what to inject and vlapic_next_event_tsc() when to
 * run vlapic_tick() again.
 *
 * Not modelled: the xAPIC MMIO page (in xAPIC mode the x2APIC MSRs #GP and
 * nothing else reaches the registers), EOI-broadcast suppression (no I/O
 * APIC), other CPUs (IPIs to them are counted and dropped), thermal, perf
 * counter, CMCI and LINT sources (their LVTs are plain storage).
 *
 * Time is the guest's TSC throughout. The APIC timer counts at bus_hz/divide.
 * Context: one vCPU's exit path; no locking, no allocation.
 */
#ifndef TERN_VLAPIC_H
#define TERN_VLAPIC_H

#include <tern/types.h>

#define MSR_IA32_APIC_BASE 0x1b
#define MSR_IA32_TSC_DEADLINE 0x6e0
#define MSR_X2APIC_FIRST 0x800
#define MSR_X2APIC_LAST 0x8ff

#define APIC_BASE_BSP (1ULL << 8)
#define APIC_BASE_EXTD (1ULL << 10)
#define APIC_BASE_EN (1ULL << 11)
#define APIC_BASE_DEFAULT 0xfee00000ULL

/* Version register: version 0x15 (integrated APIC), 7 LVT entries (max LVT
 * index 6, CMCI included), bit 24 (EOI-broadcast suppression) clear. */
#define VLAPIC_VERSION 0x00060015u

/* LVT indices, in x2APIC MSR order apart from CMCI. */
enum vlapic_lvt {
	VLAPIC_LVT_TIMER,
	VLAPIC_LVT_THERMAL,
	VLAPIC_LVT_PERF,
	VLAPIC_LVT_LINT0,
	VLAPIC_LVT_LINT1,
	VLAPIC_LVT_ERROR,
	VLAPIC_LVT_CMCI,
	VLAPIC_LVT_COUNT
};

/* Error status register bits (SDM 11.5.3) this model can raise. */
#define VLAPIC_ESR_REDIRECTABLE (1u << 4)
#define VLAPIC_ESR_SEND_ILLEGAL (1u << 5)
#define VLAPIC_ESR_RECV_ILLEGAL (1u << 6)

struct vlapic {
	u64 apic_base;     /* IA32_APIC_BASE */
	u32 id;            /* x2APIC ID */
	u32 tpr, svr;
	u32 esr;           /* what ESR reads: latched at the last ESR write */
	u32 esr_pending;   /* errors seen since the last ESR write */
	u64 icr;
	u32 lvt[VLAPIC_LVT_COUNT];
	u32 irr[8], isr[8], tmr[8]; /* bit v%32 of word v/32 is vector v */

	/* One-shot/periodic timer: while tmr_running the counter had value
	 * tmr_base_count at guest TSC tmr_base_tsc and reaches zero at
	 * tmr_deadline (derived from the two and the divide). */
	u32 tmict, tdcr;
	bool tmr_running;
	u32 tmr_base_count;
	u64 tmr_base_tsc, tmr_deadline;
	u64 tsc_deadline;  /* IA32_TSC_DEADLINE, 0 = disarmed */

	bool nmi_pending;  /* an NMI IPI to self, for vlapic_take_nmi() */
	u64 tsc_hz, bus_hz;

	/* Statistics, not migrated. */
	u64 ipis_dropped;      /* IPIs to other (absent) CPUs, INIT/SIPI/SMI */
	u64 timer_fired;       /* expiries, masked ones included */
	u64 timer_skipped;     /* periodic expiries merged into a later one */
};

/* Reset state (SDM 11.4.7.1) of the BSP with ID apic_id, already in x2APIC
 * mode (IA32_APIC_BASE = 0xFEE00000 | BSP | EN | EXTD): the only mode whose
 * registers this model exposes. @pre tsc_hz, bus_hz non-zero (0 reads as 1). */
void vlapic_init(struct vlapic *a, u32 apic_id, u64 tsc_hz, u64 bus_hz);

/* IA32_APIC_BASE. set: 0, or -1 for #GP (reserved bits, address bits at or
 * above phys_bits, the invalid EN=0/EXTD=1 state, x2APIC -> xAPIC, disabled ->
 * x2APIC; SDM 11.12.5). Clearing EN resets the registers (SDM 11.4.3). The
 * BSP bit keeps its reset value whatever is written. */
u64 vlapic_get_base(const struct vlapic *a);
int vlapic_set_base(struct vlapic *a, u64 val, unsigned phys_bits);

/* True for the MSRs vlapic_rdmsr/wrmsr answer: 0x6E0 and 0x800-0x8FF. */
bool vlapic_handles_msr(u32 msr);

/* RDMSR/WRMSR at guest TSC now_tsc: 0, or -1 meaning "inject #GP(0)". Both
 * first bring the timer up to now_tsc (vlapic_tick). */
int vlapic_rdmsr(struct vlapic *a, u32 msr, u64 now_tsc, u64 *val);
int vlapic_wrmsr(struct vlapic *a, u32 msr, u64 val, u64 now_tsc);

/* The vector to inject now: the highest in IRR whose priority class is above
 * PPR's, or -1 (none, or the APIC disabled in software or globally). */
int vlapic_pending_vector(const struct vlapic *a);
/* The hypervisor injected vec (a vector vlapic_pending_vector returned): it
 * moves from IRR to ISR. Other values are ignored. */
void vlapic_accept(struct vlapic *a, int vec);
/* Takes (and clears) a pending self-NMI; inject NMI when true. */
bool vlapic_take_nmi(struct vlapic *a);
/* PPR as the guest would read it (SDM 11.8.3.1). */
u32 vlapic_ppr(const struct vlapic *a);

/* Guest TSC of the next timer expiry that sets an IRR bit, or UINT64_MAX.
 * A masked timer reports none: its expiries change nothing the hypervisor
 * must act on, and MSR reads bring its state up to date themselves. */
u64 vlapic_next_event_tsc(const struct vlapic *a);
/* Fires every timer due at now_tsc into IRR. A periodic timer re-arms from
 * its previous deadline, not from now, so it does not drift; when several
 * periods have passed it fires once and skips to the period containing now
 * (IRR holds one bit per vector anyway; timer_skipped counts the rest). */
void vlapic_tick(struct vlapic *a, u64 now_tsc);

/* Migration: a plain, versioned copy. The timer is kept as guest TSC values,
 * valid on the destination because the guest's TSC continues there. */
#define VLAPIC_STATE_VERSION 1
struct vlapic_state {
	u32 version;
	u32 id;
	u64 apic_base;
	u64 tsc_hz, bus_hz;
	u32 tpr, svr, esr, esr_pending;
	u64 icr;
	u32 lvt[VLAPIC_LVT_COUNT];
	u32 irr[8], isr[8], tmr[8];
	u32 tmict, tdcr;
	u32 tmr_running;   /* 0 or 1 */
	u32 tmr_base_count;
	u32 nmi_pending;   /* 0 or 1 */
	u64 tmr_base_tsc;
	u64 tsc_deadline;
};
/* No padding: every byte of the stream is a checked field. */
_Static_assert(sizeof(struct vlapic_state) == 216, "vlapic_state layout");

void vlapic_save(const struct vlapic *a, struct vlapic_state *s);
/* Validates every field of s (outside input) and, only if all are valid,
 * replaces a's state; statistics restart at zero. 0, or -1 with *err naming
 * the first bad field. */
int vlapic_load(struct vlapic *a, const struct vlapic_state *s, const char **err);

#endif
