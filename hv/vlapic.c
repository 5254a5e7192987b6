/*
 * The guest's local APIC, x2APIC mode, one vCPU (contract in
 * include/tern/vlapic.h). Registers are plain fields; nothing ticks by
 * itself: the timer is a base (count, guest TSC) pair and a derived
 * deadline, the current count is computed from the elapsed guest TSC on
 * each read, and vlapic_tick() turns expiries into IRR bits. Section numbers
 * are those of the Intel SDM Vol. 3, chapter 11.
 */
#include <tern/vlapic.h>
#include <string.h>

/* x2APIC MSR addresses (table "x2APIC Operation, MSR Address Space"). */
enum {
	X_ID = 0x802, X_VERSION = 0x803, X_TPR = 0x808, X_PPR = 0x80a,
	X_EOI = 0x80b, X_LDR = 0x80d, X_SVR = 0x80f, X_ISR0 = 0x810,
	X_TMR0 = 0x818, X_IRR0 = 0x820, X_ESR = 0x828, X_LVT_CMCI = 0x82f,
	X_ICR = 0x830, X_LVT_TIMER = 0x832, X_LVT_ERROR = 0x837,
	X_TMICT = 0x838, X_TMCCT = 0x839, X_TDCR = 0x83e, X_SELF_IPI = 0x83f,
};

#define LVT_MASKED (1u << 16)
#define LVT_STATUS (1u << 12)     /* delivery status: always idle here */
#define LVT_REMOTE_IRR (1u << 14) /* LINT only; never set: no level sources */
#define LVT_DM(v) (((v) >> 8) & 7)
#define LVT_TIMER_MODE(v) (((v) >> 17) & 3)
enum { TIMER_ONESHOT, TIMER_PERIODIC, TIMER_TSC_DEADLINE, TIMER_RESERVED };

#define SVR_ENABLE (1u << 8)
/* Vector and enable, plus bit 9 (focus processor checking), kept as storage:
 * meaningless with one CPU, harmless to accept. Bit 12 (EOI-broadcast
 * suppression) is reserved because VLAPIC_VERSION does not offer it. */
#define SVR_VALID 0x3ffu
#define TDCR_VALID 0xbu

/* Delivery modes (ICR bits 10:8, LVT bits 10:8). */
enum { DM_FIXED, DM_LOWEST, DM_SMI, DM_RSVD3, DM_NMI, DM_INIT, DM_SIPI, DM_EXTINT };

/* ICR in x2APIC mode (11.12.9): delivery status (12) is gone; 13, 16-17 and
 * 20-31 are reserved; the destination is bits 63:32. */
#define ICR_RESERVED 0xfff33000ULL
enum { SH_NONE, SH_SELF, SH_ALL, SH_OTHERS };

/* Bits a WRMSR may set in each LVT: writable fields, plus the read-only
 * delivery status and remote IRR, which read-modify-write software hands
 * back and which are ignored rather than #GP. Indexed by enum vlapic_lvt. */
static const u32 lvt_writable[VLAPIC_LVT_COUNT] = {
	[VLAPIC_LVT_TIMER] = 0x700ff,   /* vector, mask, mode 18:17 */
	[VLAPIC_LVT_THERMAL] = 0x107ff, /* vector, delivery mode, mask */
	[VLAPIC_LVT_PERF] = 0x107ff,
	[VLAPIC_LVT_LINT0] = 0x1a7ff,   /* + polarity 13, trigger 15 */
	[VLAPIC_LVT_LINT1] = 0x1a7ff,
	[VLAPIC_LVT_ERROR] = 0x100ff,   /* vector, mask */
	[VLAPIC_LVT_CMCI] = 0x107ff,
};
#define LVT_READ_ONLY (LVT_STATUS | LVT_REMOTE_IRR)

/* ---- 256-bit vector sets ---- */

static bool vec_test(const u32 *bm, unsigned v) { return bm[v / 32] & (1u << (v % 32)); }
static void vec_set(u32 *bm, unsigned v) { bm[v / 32] |= 1u << (v % 32); }
static void vec_clear(u32 *bm, unsigned v) { bm[v / 32] &= ~(1u << (v % 32)); }

static int vec_highest(const u32 *bm)
{
	for (int w = 7; w >= 0; w--)
		if (bm[w])
			return w * 32 + 31 - __builtin_clz(bm[w]);
	return -1;
}

/* ---- modes ---- */

static bool apic_enabled(const struct vlapic *a) { return a->apic_base & APIC_BASE_EN; }
static bool x2apic_mode(const struct vlapic *a)
{
	return (a->apic_base & (APIC_BASE_EN | APIC_BASE_EXTD)) == (APIC_BASE_EN | APIC_BASE_EXTD);
}
static bool sw_enabled(const struct vlapic *a) { return a->svr & SVR_ENABLE; }
static unsigned timer_mode(const struct vlapic *a) { return LVT_TIMER_MODE(a->lvt[VLAPIC_LVT_TIMER]); }

/* Logical ID in x2APIC mode (11.12.10.2): cluster in 31:16, one bit of 16. */
static u32 ldr_of(u32 id) { return ((id >> 4) << 16) | (1u << (id & 0xf)); }

/* ---- timer arithmetic (all in guest TSC ticks) ---- */

/* Divide configuration (11.5.4): bits 3,1,0; 111 is divide by 1. */
static u32 divisor(u32 tdcr)
{
	u32 idx = (tdcr & 3) | ((tdcr >> 1) & 4);
	return idx == 7 ? 1 : 2u << idx;
}

/* TSC ticks for the counter to run down count steps, rounded up so the
 * timer never fires early. Saturates (a deadline of UINT64_MAX is never). */
static u64 count_to_tsc(const struct vlapic *a, u64 count)
{
	unsigned __int128 bus = (unsigned __int128)count * divisor(a->tdcr);
	unsigned __int128 t = (bus * a->tsc_hz + a->bus_hz - 1) / a->bus_hz;
	return t > UINT64_MAX ? UINT64_MAX : (u64)t;
}

/* Counter steps done in elapsed TSC ticks (rounded down). */
static u64 tsc_to_count(const struct vlapic *a, u64 elapsed)
{
	unsigned __int128 bus = (unsigned __int128)elapsed * a->bus_hz / a->tsc_hz;
	return (u64)(bus / divisor(a->tdcr));
}

static u64 sat_add(u64 x, u64 y) { return x > UINT64_MAX - y ? UINT64_MAX : x + y; }

static void timer_start(struct vlapic *a, u64 base_tsc, u32 count)
{
	a->tmr_running = true;
	a->tmr_base_tsc = base_tsc;
	a->tmr_base_count = count;
	a->tmr_deadline = sat_add(base_tsc, count_to_tsc(a, count));
}

/* @pre vlapic_tick(a, now) ran: a running timer's deadline is after now. */
static u32 timer_current(const struct vlapic *a, u64 now)
{
	if (!a->tmr_running || timer_mode(a) == TIMER_TSC_DEADLINE)
		return 0;
	u64 elapsed = now > a->tmr_base_tsc ? now - a->tmr_base_tsc : 0;
	u64 done = tsc_to_count(a, elapsed);
	return done >= a->tmr_base_count ? 0 : a->tmr_base_count - (u32)done;
}

/* ---- interrupt acceptance ---- */

/* A fixed interrupt arrives at this APIC. Vectors 0-15 never reach IRR
 * (11.5.3); the caller raises the error. A software-disabled APIC takes no
 * new interrupts (what is already in IRR stays there, held). */
static void accept_fixed(struct vlapic *a, unsigned vec, bool level)
{
	if (!sw_enabled(a) || !apic_enabled(a))
		return;
	vec_set(a->irr, vec);
	if (level)
		vec_set(a->tmr, vec);
	else
		vec_clear(a->tmr, vec);
}

/* Errors are collected in esr_pending until the next ESR write latches them
 * (11.5.3). Each detection signals the LVT error entry; an illegal vector in
 * that entry is one more error but no second interrupt. */
static void raise_error(struct vlapic *a, u32 bits)
{
	u32 lvt = a->lvt[VLAPIC_LVT_ERROR];
	a->esr_pending |= bits;
	if (lvt & LVT_MASKED)
		return;
	if ((lvt & 0xff) < 16)
		a->esr_pending |= VLAPIC_ESR_RECV_ILLEGAL;
	else
		accept_fixed(a, lvt & 0xff, false);
}

/* A local source signals through its LVT entry (only the timer does here:
 * no thermal, PMU, CMCI or LINT sources are modelled). */
static void lvt_signal(struct vlapic *a, enum vlapic_lvt i)
{
	u32 lvt = a->lvt[i];
	if (lvt & LVT_MASKED)
		return;
	if (i != VLAPIC_LVT_TIMER && i != VLAPIC_LVT_ERROR && LVT_DM(lvt) == DM_NMI) {
		a->nmi_pending = true;
		return;
	}
	if ((lvt & 0xff) < 16) {
		raise_error(a, VLAPIC_ESR_RECV_ILLEGAL);
		return;
	}
	accept_fixed(a, lvt & 0xff, false);
}

/* Does a non-shorthand destination name this APIC? *others: does it name
 * any other APIC too (all of which are absent)? */
static bool dest_is_self(const struct vlapic *a, u32 dest, bool logical, bool *others)
{
	if (dest == 0xffffffffu) { /* broadcast, physical and logical alike */
		*others = true;
		return true;
	}
	if (!logical) {
		*others = dest != a->id;
		return dest == a->id;
	}
	u32 ldr = ldr_of(a->id);
	bool self = (dest >> 16) == (ldr >> 16) && (dest & ldr & 0xffff);
	*others = dest != ldr;
	return self;
}

/*
 * An IPI from a WRMSR to the ICR (11.6.1, 11.12.9). Lowest-priority delivery
 * is not processed in x2APIC mode: it sets the redirectable-IPI error, which
 * takes precedence over an illegal vector (11.12.9). This is the only CPU:
 * whatever goes to other APICs is dropped and counted. For this APIC: fixed
 * sets IRR; NMI becomes nmi_pending for the hypervisor to inject; SMI, INIT,
 * SIPI and the reserved modes are dropped and counted: Tern models neither
 * SMM nor a vCPU reset by INIT, and no guest of ours sends them to itself.
 */
static void send_ipi(struct vlapic *a, u64 icr)
{
	unsigned vec = icr & 0xff, dm = (icr >> 8) & 7, sh = (icr >> 18) & 3;
	bool logical = icr & (1u << 11), level = icr & (1u << 15);
	bool self, others;

	switch (sh) {
	case SH_SELF: self = true, others = false; break;
	case SH_ALL: self = true, others = true; break;
	case SH_OTHERS: self = false, others = true; break;
	default: self = dest_is_self(a, (u32)(icr >> 32), logical, &others); break;
	}
	if (dm == DM_LOWEST) {
		raise_error(a, VLAPIC_ESR_REDIRECTABLE);
		return;
	}
	if (dm == DM_FIXED && vec < 16) {
		/* Not sent at all (11.5.3); received too if it was for us. */
		raise_error(a, VLAPIC_ESR_SEND_ILLEGAL | (self ? VLAPIC_ESR_RECV_ILLEGAL : 0));
		return;
	}
	if (others || !self)
		a->ipis_dropped++;
	if (!self)
		return;
	switch (dm) {
	case DM_FIXED: accept_fixed(a, vec, level); break;
	case DM_NMI: a->nmi_pending = true; break;
	default: if (!others) a->ipis_dropped++; break;
	}
}

/* ---- reset ---- */

/* Register state after power-up or reset (11.4.7.1), and after IA32_APIC_BASE
 * EN is cleared (11.4.3). ID, rates and IA32_APIC_BASE are the caller's. */
static void reset_regs(struct vlapic *a)
{
	a->tpr = 0;
	a->svr = 0xff;
	a->esr = a->esr_pending = 0;
	a->icr = 0;
	for (int i = 0; i < VLAPIC_LVT_COUNT; i++)
		a->lvt[i] = LVT_MASKED;
	memset(a->irr, 0, sizeof(a->irr));
	memset(a->isr, 0, sizeof(a->isr));
	memset(a->tmr, 0, sizeof(a->tmr));
	a->tmict = a->tdcr = 0;
	a->tmr_running = false;
	a->tmr_base_count = 0;
	a->tmr_base_tsc = a->tmr_deadline = 0;
	a->tsc_deadline = 0;
	a->nmi_pending = false;
}

void vlapic_init(struct vlapic *a, u32 apic_id, u64 tsc_hz, u64 bus_hz)
{
	memset(a, 0, sizeof(*a));
	a->id = apic_id;
	a->tsc_hz = tsc_hz ? tsc_hz : 1;
	a->bus_hz = bus_hz ? bus_hz : 1;
	a->apic_base = APIC_BASE_DEFAULT | APIC_BASE_BSP | APIC_BASE_EN | APIC_BASE_EXTD;
	reset_regs(a);
}

/* ---- IA32_APIC_BASE (11.4.4, 11.12.5) ---- */

u64 vlapic_get_base(const struct vlapic *a) { return a->apic_base; }

static u64 base_reserved(unsigned phys_bits)
{
	if (phys_bits < 32)
		phys_bits = 32;
	if (phys_bits > 52)
		phys_bits = 52;
	/* Bits 7:0 and 9, and the address bits the CPU does not have. */
	return 0x2ffULL | ~((1ULL << phys_bits) - 1);
}

int vlapic_set_base(struct vlapic *a, u64 val, unsigned phys_bits)
{
	bool en = val & APIC_BASE_EN, x2 = val & APIC_BASE_EXTD;

	if (val & base_reserved(phys_bits))
		return -1;
	if (x2 && !en)
		return -1; /* the invalid state */
	if (x2apic_mode(a) && en && !x2)
		return -1; /* x2APIC -> xAPIC: only through disabled */
	if (!apic_enabled(a) && x2)
		return -1; /* disabled -> x2APIC: only through xAPIC */
	val = (val & ~APIC_BASE_BSP) | (a->apic_base & APIC_BASE_BSP);
	if (apic_enabled(a) && !en)
		reset_regs(a);
	a->apic_base = val;
	return 0;
}

/* ---- registers ---- */

bool vlapic_handles_msr(u32 msr)
{
	return msr == MSR_IA32_TSC_DEADLINE || (msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST);
}

u32 vlapic_ppr(const struct vlapic *a)
{
	int isrv = vec_highest(a->isr);
	u32 isr_class = isrv < 0 ? 0 : (u32)isrv & 0xf0;
	return (a->tpr & 0xf0) >= isr_class ? a->tpr : isr_class;
}

static int lvt_index(u32 msr)
{
	if (msr == X_LVT_CMCI)
		return VLAPIC_LVT_CMCI;
	if (msr >= X_LVT_TIMER && msr <= X_LVT_ERROR)
		return (int)(msr - X_LVT_TIMER);
	return -1;
}

int vlapic_rdmsr(struct vlapic *a, u32 msr, u64 now_tsc, u64 *val)
{
	vlapic_tick(a, now_tsc);
	if (msr == MSR_IA32_TSC_DEADLINE) {
		/* Zero outside TSC-deadline mode and once the deadline fired. */
		*val = timer_mode(a) == TIMER_TSC_DEADLINE ? a->tsc_deadline : 0;
		return 0;
	}
	if (!x2apic_mode(a) || msr < MSR_X2APIC_FIRST || msr > MSR_X2APIC_LAST)
		return -1;
	int lvt = lvt_index(msr);
	if (lvt >= 0) {
		*val = a->lvt[lvt];
		return 0;
	}
	if (msr >= X_ISR0 && msr < X_IRR0 + 8) {
		unsigned w = (msr - X_ISR0) % 8;
		const u32 *bm = msr < X_TMR0 ? a->isr : msr < X_IRR0 ? a->tmr : a->irr;
		*val = bm[w];
		return 0;
	}
	switch (msr) {
	case X_ID: *val = a->id; break;
	case X_VERSION: *val = VLAPIC_VERSION; break;
	case X_TPR: *val = a->tpr; break;
	case X_PPR: *val = vlapic_ppr(a); break;
	case X_LDR: *val = ldr_of(a->id); break;
	case X_SVR: *val = a->svr; break;
	case X_ESR: *val = a->esr; break;
	case X_ICR: *val = a->icr; break;
	case X_TMICT: *val = a->tmict; break;
	case X_TMCCT: *val = timer_current(a, now_tsc); break;
	case X_TDCR: *val = a->tdcr; break;
	default: return -1; /* EOI, SELF_IPI (write-only), reserved */
	}
	return 0;
}

static void do_eoi(struct vlapic *a)
{
	/* No I/O APIC: a level-triggered vector's EOI has no one to tell. */
	int v = vec_highest(a->isr);
	if (v >= 0)
		vec_clear(a->isr, (unsigned)v);
}

static int write_lvt(struct vlapic *a, int i, u64 val)
{
	if (val & ~(u64)(lvt_writable[i] | LVT_READ_ONLY))
		return -1;
	u32 v = (u32)val & lvt_writable[i];
	if (i == VLAPIC_LVT_TIMER) {
		unsigned mode = LVT_TIMER_MODE(v);
		if (mode == TIMER_RESERVED)
			return -1;
		/* A write that changes the mode disarms the timer (11.5.4.1):
		 * the count stops (TMICT keeps its value until TSC-deadline
		 * mode, where it reads 0) and IA32_TSC_DEADLINE clears. */
		if (mode != timer_mode(a)) {
			a->tmr_running = false;
			a->tsc_deadline = 0;
			if (mode == TIMER_TSC_DEADLINE)
				a->tmict = 0;
		}
	}
	/* A software-disabled APIC keeps every LVT masked (11.4.7.2). Fixed
	 * entries with vectors 0-15 are not flagged here (the SDM says "may");
	 * they raise the error when they deliver. */
	if (!sw_enabled(a))
		v |= LVT_MASKED;
	a->lvt[i] = v;
	return 0;
}

static int write_tdcr(struct vlapic *a, u64 val, u64 now)
{
	if (val & ~(u64)TDCR_VALID)
		return -1;
	/* The count left keeps running down, at the new rate from now on. */
	u32 cur = timer_current(a, now);
	a->tdcr = (u32)val;
	if (a->tmr_running && cur)
		timer_start(a, now, cur);
	return 0;
}

int vlapic_wrmsr(struct vlapic *a, u32 msr, u64 val, u64 now_tsc)
{
	vlapic_tick(a, now_tsc);
	if (msr == MSR_IA32_TSC_DEADLINE) {
		if (timer_mode(a) != TIMER_TSC_DEADLINE)
			return 0; /* ignored in the other modes */
		a->tsc_deadline = val;
		vlapic_tick(a, now_tsc); /* a deadline already passed fires now */
		return 0;
	}
	if (!x2apic_mode(a) || msr < MSR_X2APIC_FIRST || msr > MSR_X2APIC_LAST)
		return -1;
	int lvt = lvt_index(msr);
	if (lvt >= 0)
		return write_lvt(a, lvt, val);
	switch (msr) {
	case X_TPR:
		if (val & ~0xffULL)
			return -1;
		a->tpr = (u32)val;
		return 0;
	case X_EOI:
		if (val)
			return -1;
		do_eoi(a);
		return 0;
	case X_SVR:
		if (val & ~(u64)SVR_VALID)
			return -1;
		a->svr = (u32)val;
		if (!sw_enabled(a))
			for (int i = 0; i < VLAPIC_LVT_COUNT; i++)
				a->lvt[i] |= LVT_MASKED;
		return 0;
	case X_ESR:
		if (val)
			return -1;
		a->esr = a->esr_pending;
		a->esr_pending = 0;
		return 0;
	case X_ICR:
		if (val & ICR_RESERVED)
			return -1;
		a->icr = val;
		send_ipi(a, val);
		return 0;
	case X_TMICT:
		if (val >> 32)
			return -1;
		if (timer_mode(a) == TIMER_TSC_DEADLINE)
			return 0; /* ignored in TSC-deadline mode (11.5.4.1) */
		a->tmict = (u32)val;
		if (val)
			timer_start(a, now_tsc, (u32)val);
		else
			a->tmr_running = false; /* a write of 0 stops the timer */
		return 0;
	case X_TDCR:
		return write_tdcr(a, val, now_tsc);
	case X_SELF_IPI:
		if (val & ~0xffULL)
			return -1;
		/* Fixed, edge, to self (11.12.11). */
		send_ipi(a, (val & 0xff) | ((u64)SH_SELF << 18));
		return 0;
	default:
		return -1; /* read-only registers and reserved addresses */
	}
}

/* ---- delivery and timers ---- */

int vlapic_pending_vector(const struct vlapic *a)
{
	if (!apic_enabled(a) || !sw_enabled(a))
		return -1;
	int v = vec_highest(a->irr);
	if (v < 0 || ((u32)v & 0xf0) <= (vlapic_ppr(a) & 0xf0))
		return -1;
	return v;
}

void vlapic_accept(struct vlapic *a, int vec)
{
	if (vec < 16 || vec > 255 || !vec_test(a->irr, (unsigned)vec))
		return;
	vec_clear(a->irr, (unsigned)vec);
	vec_set(a->isr, (unsigned)vec);
}

bool vlapic_take_nmi(struct vlapic *a)
{
	bool n = a->nmi_pending;
	a->nmi_pending = false;
	return n;
}

u64 vlapic_next_event_tsc(const struct vlapic *a)
{
	if (a->lvt[VLAPIC_LVT_TIMER] & LVT_MASKED)
		return UINT64_MAX;
	if (timer_mode(a) == TIMER_TSC_DEADLINE)
		return a->tsc_deadline ? a->tsc_deadline : UINT64_MAX;
	return a->tmr_running ? a->tmr_deadline : UINT64_MAX;
}

void vlapic_tick(struct vlapic *a, u64 now)
{
	if (timer_mode(a) == TIMER_TSC_DEADLINE) {
		if (a->tsc_deadline && now >= a->tsc_deadline) {
			a->tsc_deadline = 0; /* the MSR reads 0 once it fired */
			a->timer_fired++;
			lvt_signal(a, VLAPIC_LVT_TIMER);
		}
		return;
	}
	if (!a->tmr_running || now < a->tmr_deadline)
		return;
	a->timer_fired++;
	lvt_signal(a, VLAPIC_LVT_TIMER);
	if (timer_mode(a) != TIMER_PERIODIC || a->tmr_deadline == UINT64_MAX) {
		a->tmr_running = false;
		return;
	}
	u64 period = count_to_tsc(a, a->tmict), base = a->tmr_deadline;
	if (now - base >= period) {
		u64 k = (now - base) / period;
		a->timer_skipped += k;
		base += k * period; /* <= now: no overflow */
	}
	timer_start(a, base, a->tmict);
}

/* ---- migration ---- */

void vlapic_save(const struct vlapic *a, struct vlapic_state *s)
{
	memset(s, 0, sizeof(*s));
	s->version = VLAPIC_STATE_VERSION;
	s->id = a->id;
	s->apic_base = a->apic_base;
	s->tsc_hz = a->tsc_hz;
	s->bus_hz = a->bus_hz;
	s->tpr = a->tpr;
	s->svr = a->svr;
	s->esr = a->esr;
	s->esr_pending = a->esr_pending;
	s->icr = a->icr;
	memcpy(s->lvt, a->lvt, sizeof(s->lvt));
	memcpy(s->irr, a->irr, sizeof(s->irr));
	memcpy(s->isr, a->isr, sizeof(s->isr));
	memcpy(s->tmr, a->tmr, sizeof(s->tmr));
	s->tmict = a->tmict;
	s->tdcr = a->tdcr;
	s->tmr_running = a->tmr_running;
	s->tmr_base_count = a->tmr_base_count;
	s->tmr_base_tsc = a->tmr_base_tsc;
	s->tsc_deadline = a->tsc_deadline;
	s->nmi_pending = a->nmi_pending;
}

static const char *state_check(const struct vlapic_state *s)
{
	if (s->version != VLAPIC_STATE_VERSION)
		return "version";
	if (!s->tsc_hz || !s->bus_hz)
		return "tsc_hz/bus_hz";
	if ((s->apic_base & base_reserved(52)) ||
	    ((s->apic_base & APIC_BASE_EXTD) && !(s->apic_base & APIC_BASE_EN)))
		return "apic_base";
	if (s->tpr > 0xff)
		return "tpr";
	if (s->svr & ~SVR_VALID)
		return "svr";
	const u32 esr_known =
		VLAPIC_ESR_REDIRECTABLE | VLAPIC_ESR_SEND_ILLEGAL | VLAPIC_ESR_RECV_ILLEGAL;
	if ((s->esr | s->esr_pending) & ~esr_known)
		return "esr";
	if (s->icr & ICR_RESERVED)
		return "icr";
	for (int i = 0; i < VLAPIC_LVT_COUNT; i++) {
		if (s->lvt[i] & ~lvt_writable[i])
			return "lvt";
		if (!(s->svr & SVR_ENABLE) && !(s->lvt[i] & LVT_MASKED))
			return "lvt unmasked while software-disabled";
	}
	unsigned mode = LVT_TIMER_MODE(s->lvt[VLAPIC_LVT_TIMER]);
	if (mode == TIMER_RESERVED)
		return "lvt timer mode";
	if ((s->irr[0] | s->isr[0] | s->tmr[0]) & 0xffff)
		return "irr/isr/tmr vector below 16";
	if (s->tdcr & ~TDCR_VALID)
		return "tdcr";
	if (s->tmr_running > 1 || s->nmi_pending > 1)
		return "flag";
	if (s->tmr_running &&
	    (mode == TIMER_TSC_DEADLINE || !s->tmict || !s->tmr_base_count ||
	     s->tmr_base_count > s->tmict))
		return "timer count";
	if (mode == TIMER_TSC_DEADLINE && s->tmict)
		return "tmict in TSC-deadline mode";
	if (mode != TIMER_TSC_DEADLINE && s->tsc_deadline)
		return "tsc_deadline outside TSC-deadline mode";
	return NULL;
}

int vlapic_load(struct vlapic *a, const struct vlapic_state *s, const char **err)
{
	const char *bad = state_check(s);
	if (bad) {
		if (err)
			*err = bad;
		return -1;
	}
	struct vlapic n;
	memset(&n, 0, sizeof(n));
	n.id = s->id;
	n.apic_base = s->apic_base;
	n.tsc_hz = s->tsc_hz;
	n.bus_hz = s->bus_hz;
	n.tpr = s->tpr;
	n.svr = s->svr;
	n.esr = s->esr;
	n.esr_pending = s->esr_pending;
	n.icr = s->icr;
	memcpy(n.lvt, s->lvt, sizeof(n.lvt));
	memcpy(n.irr, s->irr, sizeof(n.irr));
	memcpy(n.isr, s->isr, sizeof(n.isr));
	memcpy(n.tmr, s->tmr, sizeof(n.tmr));
	n.tmict = s->tmict;
	n.tdcr = s->tdcr;
	n.tsc_deadline = s->tsc_deadline;
	n.nmi_pending = s->nmi_pending;
	if (s->tmr_running)
		timer_start(&n, s->tmr_base_tsc, s->tmr_base_count);
	*a = n;
	return 0;
}
