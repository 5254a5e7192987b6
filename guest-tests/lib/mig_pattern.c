/* Migration-proof memory patterns (contract in mig_pattern.h). */
#include "mig_pattern.h"

/*
 * Words 2..510 of a versioned page are seed + i * WEYL: one add per word,
 * so a pass over 16 MiB stays cheap on Bochs, while the per-page seed
 * (two mixer rounds of page and version) makes pages and versions unrelated.
 */
#define WEYL 0x9e3779b97f4a7c15ull
#define PAT_MAGIC 0x5445524e4d494721ull /* "TERNMIG!": keeps version 0 of page 0 non-zero */

u64 mig_mix64(u64 x)
{
	x += WEYL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static u64 pat_seed(u64 page_no, u64 version)
{
	return mig_mix64(page_no ^ mig_mix64(version ^ PAT_MAGIC));
}

/* The byte offset of the first differing byte of word i (x86 is little-endian). */
static unsigned bad_at(unsigned i, u64 diff, u32 *bad_offset)
{
	if (bad_offset)
		*bad_offset = i * 8 + (unsigned)__builtin_ctzll(diff) / 8;
	return i + 1;
}

u64 mig_pat_word(u64 page_no, u64 version, unsigned idx)
{
	u64 seed = pat_seed(page_no, version);

	if (idx == MIG_PAT_W_PAGE)
		return page_no;
	if (idx == MIG_PAT_W_VERSION)
		return version;
	if (idx == MIG_PAT_W_CHECK)
		return mig_mix64(seed);
	return seed + idx * WEYL;
}

/* Volatile: the memory itself is what is under test; no access may be elided. */
void mig_pat_write(void *page, u64 page_no, u64 version)
{
	volatile u64 *w = page;
	u64 seed = pat_seed(page_no, version), e = seed + 2 * WEYL;

	w[MIG_PAT_W_PAGE] = page_no;
	w[MIG_PAT_W_VERSION] = version;
	for (unsigned i = 2; i < MIG_PAT_W_CHECK; i++, e += WEYL)
		w[i] = e;
	w[MIG_PAT_W_CHECK] = mig_mix64(seed);
}

unsigned mig_pat_check(const void *page, u64 page_no, u64 version, u32 *bad_offset)
{
	const volatile u64 *w = page;
	u64 seed = pat_seed(page_no, version), e = seed + 2 * WEYL, diff;

	if ((diff = w[MIG_PAT_W_PAGE] ^ page_no))
		return bad_at(MIG_PAT_W_PAGE, diff, bad_offset);
	if ((diff = w[MIG_PAT_W_VERSION] ^ version))
		return bad_at(MIG_PAT_W_VERSION, diff, bad_offset);
	/* Four words per branch (the pass time on Bochs is instructions); the
	 * word loop after it finds the exact word in a bad block and does the rest. */
	unsigned i = 2;
	for (; i + 4 <= MIG_PAT_W_CHECK; i += 4, e += 4 * WEYL)
		if ((w[i] ^ e) | (w[i + 1] ^ (e + WEYL)) | (w[i + 2] ^ (e + 2 * WEYL)) |
		    (w[i + 3] ^ (e + 3 * WEYL)))
			break;
	for (; i < MIG_PAT_W_CHECK; i++, e += WEYL)
		if ((diff = w[i] ^ e))
			return bad_at(i, diff, bad_offset);
	if ((diff = w[MIG_PAT_W_CHECK] ^ mig_mix64(seed)))
		return bad_at(MIG_PAT_W_CHECK, diff, bad_offset);
	return 0;
}

enum mig_pat_kind mig_pat_classify(const void *page, u64 page_no, u64 version, u64 *found_page,
				   u64 *found_version)
{
	const volatile u64 *w = page;
	u64 p = w[MIG_PAT_W_PAGE], v = w[MIG_PAT_W_VERSION];

	if (found_page)
		*found_page = p;
	if (found_version)
		*found_version = v;
	/* The page's own header names a (page, version): is the rest that pattern? */
	if (mig_pat_check(page, p, v, NULL))
		return MIG_PAT_DAMAGED;
	if (p != page_no)
		return MIG_PAT_OTHER_PAGE;
	return v == version ? MIG_PAT_GOOD : MIG_PAT_STALE;
}

const char *mig_pat_kind_name(enum mig_pat_kind k)
{
	switch (k) {
	case MIG_PAT_GOOD:
		return "good";
	case MIG_PAT_STALE:
		return "stale copy";
	case MIG_PAT_OTHER_PAGE:
		return "another page";
	default:
		return "damaged";
	}
}

/* ---- xorshift pages ---- */

static u64 xs_state(u64 page_no, u64 seed)
{
	return mig_mix64(page_no ^ seed) | 1; /* xorshift64 must not start at 0 */
}

u64 mig_xs_word(u64 page_no, u64 seed, unsigned idx)
{
	u64 s = xs_state(page_no, seed), x = 0;

	for (unsigned i = 0; i <= idx; i++)
		x = mig_xorshift64(&s);
	return x;
}

void mig_xs_fill(void *page, u64 page_no, u64 seed)
{
	volatile u64 *w = page;
	u64 s = xs_state(page_no, seed);

	for (unsigned i = 0; i < MIG_PAT_WORDS; i++)
		w[i] = mig_xorshift64(&s);
}

unsigned mig_xs_check(const void *page, u64 page_no, u64 seed, u32 *bad_offset)
{
	const volatile u64 *w = page;
	u64 s = xs_state(page_no, seed), diff;

	for (unsigned i = 0; i < MIG_PAT_WORDS; i++)
		if ((diff = w[i] ^ mig_xorshift64(&s)))
			return bad_at(i, diff, bad_offset);
	return 0;
}

/* ---- clock steps ---- */

enum mig_clock_verdict mig_clock_step(struct mig_clock *c, u64 now, u64 bound)
{
	if (c->started) {
		if (now < c->last)
			return MIG_CLOCK_BACKWARDS;
		if (now - c->last > bound)
			return MIG_CLOCK_JUMPED;
		if (now - c->last > c->max_step)
			c->max_step = now - c->last;
	}
	c->last = now;
	c->started = true;
	return MIG_CLOCK_OK;
}

/* ---- guest-side helpers ---- */
#ifndef TERN_HOST_TEST
#include "guest.h"

static u64 tsc_per_s;
static struct mig_clock clk_ns, clk_tsc;
static u64 tsc_at_ns_read; /* TSC when TIME_NS was last read */
static u64 last_progress_ns;
static volatile u64 sleep_ticks;
static char fail_text[200];

u64 mig_tsc_per_s(void)
{
	return tsc_per_s;
}

void mig_clock_init(void)
{
	u64 t0 = tern_time_ns(), c0 = rdtsc();
	delay_ns(20000000);
	u64 t1 = tern_time_ns(), c1 = rdtsc();

	if (t1 <= t0 || c1 <= c0)
		mig_fail("clock calibration: TIME_NS %lu -> %lu, TSC %lu -> %lu", t0, t1, c0, c1);
	tsc_per_s = (c1 - c0) * 1000000000ull / (t1 - t0);
	if (!tsc_per_s)
		tsc_per_s = 1;
	mig_clock_step(&clk_ns, t1, MIG_CLOCK_BOUND_NS);
	mig_clock_step(&clk_tsc, c1, ~0ull);
	tsc_at_ns_read = c1;
	last_progress_ns = t1;
}

static void judge(struct mig_clock *c, const char *name, u64 now, u64 bound, const char *unit)
{
	switch (mig_clock_step(c, now, bound)) {
	case MIG_CLOCK_OK:
		return;
	case MIG_CLOCK_BACKWARDS:
		mig_fail("clock went backwards: %s from %lu to %lu %s", name, c->last, now, unit);
	case MIG_CLOCK_JUMPED:
		mig_fail("clock jumped: %s from %lu to %lu %s (+%lu, bound %lu)", name, c->last, now,
			 unit, now - c->last, bound);
	}
}

u64 mig_clock_poll(bool force)
{
	u64 tsc = rdtsc();

	/* The TSC bound is MIG_CLOCK_BOUND_NS at the rate measured at start. */
	judge(&clk_tsc, "TSC", tsc, MIG_CLOCK_BOUND_NS / 1000000 * tsc_per_s / 1000, "ticks");
	if (force || tsc - tsc_at_ns_read >= tsc_per_s / 20) {
		judge(&clk_ns, "TIME_NS", tern_time_ns(), MIG_CLOCK_BOUND_NS, "ns");
		tsc_at_ns_read = tsc;
	}
	return clk_ns.last;
}

bool mig_progress_due(void)
{
	if (clk_ns.last - last_progress_ns < MIG_PROGRESS_NS)
		return false;
	last_progress_ns = clk_ns.last;
	return true;
}

static void on_sleep_tick(struct int_frame *f)
{
	sleep_ticks++;
}

void mig_sleep_ns(u64 ns)
{
	u64 before = sleep_ticks;

	idt_set_handler(MIG_TIMER_VEC, on_sleep_tick);
	tern_timer(MIG_TIMER_VEC, ns);
	/* Loop: only the timer's interrupt ends the sleep, not a spurious wake-up. */
	while (sleep_ticks == before) {
		sti_hlt();
		cli();
	}
}

void mig_fail(const char *fmt, ...)
{
	va_list ap;
	int n = format(fail_text, sizeof(fail_text), "mig: FAIL ");

	va_start(ap, fmt);
	vformat(fail_text + n, sizeof(fail_text) - (size_t)n, fmt, ap);
	va_end(ap);
	report_fail("%s", fail_text);
	/* No more work: the failure stays on screen, once a second, forever. */
	for (;;) {
		uprintf("%s\n", fail_text);
		mig_sleep_ns(1000000000ull);
	}
}

void mig_fail_page(const void *page, u64 page_no, u64 version)
{
	u32 off = 0;
	u64 fp, fv;
	unsigned bad = mig_pat_check(page, page_no, version, &off);
	enum mig_pat_kind k = mig_pat_classify(page, page_no, version, &fp, &fv);
	unsigned i = bad ? bad - 1 : 0;
	u64 got = ((const volatile u64 *)page)[i];

	if (k == MIG_PAT_OTHER_PAGE)
		mig_fail("page %lu offset %u: expected version %lu, found %lu (another page: %lu; "
			 "read 0x%lx, want 0x%lx)", page_no, off, version, fv, fp, got,
			 mig_pat_word(page_no, version, i));
	mig_fail("page %lu offset %u: expected version %lu, found %lu (%s; read 0x%lx, want 0x%lx)",
		 page_no, off, version, fv, mig_pat_kind_name(k), got, mig_pat_word(page_no, version, i));
}

#endif /* !TERN_HOST_TEST */
