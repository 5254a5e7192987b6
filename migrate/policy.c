/*
 * The pre-copy convergence policy (tern/mig_policy.h): after each round the
 * engine reports what it sent, what the guest dirtied and how long it took;
 * this file measures the link and the guest, decides whether to iterate or
 * stop and copy, sets the auto-converge throttle, paces the live phase under
 * max-bandwidth, keeps the writable working set back for the final copy
 * and, with post-copy allowed, decides when to switch to it.
 * No clock, no I/O, no floating point (the hypervisor builds with
 * -mgeneral-regs-only): every ratio is integer arithmetic, products are
 * formed in 128 bits so hours at 10 GB/s cannot overflow.
 */
#include <tern/bitmap.h>
#include <tern/mig_policy.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define NS_PER_S 1000000000ULL
#define MS_PER_S 1000ULL

/* a * b / c rounded down, saturating at ~0; c == 0 gives ~0. */
static u64 muldiv(u64 a, u64 b, u64 c)
{
	if (!c)
		return ~0ULL;
	unsigned __int128 q = (unsigned __int128)a * b / c;
	return q > ~0ULL ? ~0ULL : (u64)q;
}

/* a * b / c rounded up, saturating at ~0; c == 0 gives ~0. */
static u64 muldiv_up(u64 a, u64 b, u64 c)
{
	if (!c)
		return ~0ULL;
	unsigned __int128 p = (unsigned __int128)a * b;
	unsigned __int128 q = p / c + (p % c != 0);
	return q > ~0ULL ? ~0ULL : (u64)q;
}

void mig_params_default(struct mig_params *p)
{
	*p = (struct mig_params){
		.downtime_limit_ms = 300,
		.max_bandwidth = 0,
		.auto_converge = true,
		.n1_pages = 50,
		.n2_rounds = 2,
		.n3_rounds = 30,
		.throttle_initial = 20,
		.throttle_max = 99,
	};
}

void mig_policy_init(struct mig_policy *p, const struct mig_params *params)
{
	*p = (struct mig_policy){ 0 };
	if (params)
		p->params = *params;
	else
		mig_params_default(&p->params);
	p->expected_downtime_ms = MIG_DOWNTIME_UNKNOWN;
}

const char *mig_reason_name(enum mig_reason r)
{
	switch (r) {
	case MIG_GO_ON:
		return "iterate";
	case MIG_STOP_FITS:
		return "fits downtime-limit";
	case MIG_STOP_N1:
		return "few pages left (N1)";
	case MIG_STOP_N2:
		return "not converging (N2)";
	case MIG_STOP_N3:
		return "round limit (N3)";
	case MIG_SWITCH_POSTCOPY:
		return "switch to post-copy";
	}
	return "unknown";
}

static void history_push(struct mig_policy *p, const struct mig_round *r)
{
	if (p->nr_history == MIG_HISTORY) {
		for (u32 i = 1; i < MIG_HISTORY; i++)
			p->history[i - 1] = p->history[i];
		p->nr_history--;
	}
	p->history[p->nr_history++] = *r;
}

/*
 * The link: bytes over time of the last MIG_BW_WINDOW rounds that sent any
 * bytes (this one included), summed, not averaged per round, so a short round
 * that only filled TCP's buffers cannot pass for a fast link and a round that
 * sent nothing (all hot pages held) says nothing about it. When that window
 * has no duration (zero-duration rounds) the previous value stays.
 */
static void measure_bandwidth(struct mig_policy *p)
{
	u64 bytes = 0, ns = 0;
	u32 used = 0;

	for (u32 i = p->nr_history; i-- > 0 && used < MIG_BW_WINDOW;) {
		const struct mig_round *h = &p->history[i];
		if (!h->bytes_sent)
			continue;
		bytes += h->bytes_sent;
		ns += h->duration_ns;
		used++;
	}
	if (bytes && ns)
		p->bandwidth = muldiv(bytes, NS_PER_S, ns);
}

/*
 * The throttle that brings the guest's dirty rate down to MIG_AC_TARGET_PCT %
 * of the bandwidth. The dirty rate d (bytes/s) was measured under the present
 * throttle t, so the guest unthrottled dirties d * 100 / (100 - t); running
 * (100 - t') % of the time it dirties d * (100 - t') / (100 - t). Solving
 * d * (100 - t') / (100 - t) <= bw * TARGET / 100 for t':
 *     need = 100 - floor((100 - t) * bw * TARGET / (100 * d))
 * (the floor rounds the throttle up: never less than enough). 0 when the
 * guest dirties nothing.
 */
static u32 throttle_needed(const struct mig_policy *p)
{
	unsigned __int128 d = (unsigned __int128)p->dirty_rate * PAGE_SIZE;
	if (!d)
		return 0;
	unsigned __int128 keep = (unsigned __int128)(100 - MIN(p->throttle, 100)) * p->bandwidth *
				 MIG_AC_TARGET_PCT / (100 * d);
	return keep >= 100 ? 0 : (u32)(100 - keep);
}

/*
 * Auto-converge, after a round that does not stop the migration (t is the
 * throttle in percent, need as in throttle_needed):
 * - the round converged, pages_dirtied < pages_sent (the dirty set shrank):
 *   relax, t = min(t, need); never raised on such a round;
 * - the round did not converge (pages_dirtied >= pages_sent, some dirtied)
 *   and need > t (the guest, at its present throttle, dirties faster than
 *   MIG_AC_TARGET_PCT % of the bandwidth): raise,
 *       t = min(throttle_max, max(need, t == 0 ? throttle_initial : t + MIG_THROTTLE_STEP));
 * - otherwise t stays.
 * "The guest outruns the link" is judged by the page counts of the round, not
 * by comparing two measured rates: a guest that dirties all of RAM every round
 * measures dirty_rate * 4096 == bandwidth (both are RAM / round time) and a
 * strict comparison of rates would never throttle it, nor would the stream's
 * per-page overhead let it win. The rates size the throttle.
 * The throttle stays as it is when the round stops the migration (the vCPU is
 * paused anyway) and is 0 while auto-converge is off, or post-copy is allowed:
 * post-copy, not a slowed guest, is then the answer to a guest that outruns
 * the link.
 */
static void auto_converge(struct mig_policy *p, const struct mig_round *r)
{
	if (!p->params.auto_converge || p->params.postcopy) {
		p->throttle = 0;
		return;
	}
	if (!p->bandwidth)
		return;
	u32 need = throttle_needed(p);
	if (r->pages_dirtied < r->pages_sent) {
		if (need < p->throttle)
			p->throttle = need;
		return;
	}
	if (!r->pages_dirtied || need <= p->throttle)
		return;
	u32 lo = p->throttle ? p->throttle + MIG_THROTTLE_STEP : p->params.throttle_initial;
	u32 t = MAX(need, lo);
	p->throttle = MIN(t, p->params.throttle_max);
}

/*
 * A round is lost (it counts towards N2) when it made no progress: the guest
 * dirtied at least as many pages as the round sent, so the next round is no
 * smaller. The slides count rounds that sent *fewer* than were dirtied; a
 * guest that rewrites all of RAM every round sends exactly what it dirties
 * and that rule never fired (measured on Bochs: mig_incr ran to N3, 30 rounds
 * and 27x its RAM, for the same downtime).
 * With auto-converge a lost round counts only once throttling is of no more
 * use: the throttle is at its cap, or it rose for this round and the dirty
 * rate fell by less than half of what the smaller CPU share should give,
 * i.e. rate * 2 * (100 - t0) > rate0 * ((100 - t0) + (100 - t)) (t0, rate0:
 * the round before). That is a guest rewriting a set that any round covers
 * whatever its speed (the hot set, the incrementer): throttling it to 99%
 * only slows it for nothing. A round that dirtied all of RAM says nothing
 * either way (its rate is clipped at RAM / round time, however fast the
 * guest wrote) and only counts at the cap. While the throttle still helps, the next round
 * may win (measured: N2 after two early losses stopped a guest on Bochs with
 * 1477 pages pending, a 5 s downtime, where ten more throttled rounds
 * converged within the limit).
 * With post-copy allowed the throttle never runs, so a lost round is lost.
 */
static bool round_lost(const struct mig_policy *p, const struct mig_round *r)
{
	if (!r->pages_dirtied || r->pages_sent > r->pages_dirtied)
		return false;
	if (!p->params.auto_converge || p->params.postcopy || p->throttle >= p->params.throttle_max)
		return true;
	if (p->throttle <= p->prev_throttle || !p->prev_dirty_rate || r->pages_dirtied >= p->ram_pages)
		return false;
	u64 keep0 = 100 - p->prev_throttle, keep = 100 - p->throttle;
	return (unsigned __int128)p->dirty_rate * 2 * keep0 >
	       (unsigned __int128)p->prev_dirty_rate * (keep0 + keep);
}

/* x * scale / unit in tenths, rounded to the nearest: 32 for 3.2 MiB. */
static u64 tenths(u64 x, u64 scale, u64 unit)
{
	unsigned __int128 t = ((unsigned __int128)x * scale * 10 + unit / 2) / unit;
	return t > ~0ULL ? ~0ULL : (u64)t;
}

__printf(3, 4)
static void why_add(char *buf, size_t size, const char *fmt, ...)
{
	size_t n = strlen(buf);
	if (n + 1 >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + n, size - n, fmt, ap);
	va_end(ap);
}

/*
 * The hybrid rule, after a round from the second on whose pending bytes do
 * not fit and are more than N1 (today's stop reason why, MIG_GO_ON or N2 or
 * N3). Pre-copy keeps round 1 (the cold pages, most of RAM, cross the link
 * once and are never requested) and every round that can still converge;
 * it is given up when
 * - the guest dirties at least MIG_PC_SWITCH_PCT % of the bandwidth (bytes
 *   per second): unthrottled, the next round cannot halve the set, so
 *   iterating only resends pages that post-copy would send once;
 * - the round was lost (no more pages sent than dirtied, some dirtied: a
 *   round that dirtied nothing is an idle guest that the next round
 *   finishes), whatever the rates say (a hot set rewritten in a burst);
 * - N2 or N3 would stop: the stop-and-copy would take longer than the limit,
 *   post-copy's downtime is the state sections only.
 */
static bool dirty_rate_high(const struct mig_policy *p)
{
	return p->bandwidth && (unsigned __int128)p->dirty_rate * PAGE_SIZE * 100 >=
				       (unsigned __int128)p->bandwidth * MIG_PC_SWITCH_PCT;
}

static bool no_progress(const struct mig_round *r)
{
	return r->pages_dirtied && r->pages_sent <= r->pages_dirtied;
}

static bool switch_wanted(const struct mig_policy *p, const struct mig_round *r, enum mig_reason why)
{
	return dirty_rate_high(p) || no_progress(r) || why == MIG_STOP_N2 || why == MIG_STOP_N3;
}

/* why[]: the figures behind the switch, on one line for the console. */
static void switch_explain(struct mig_policy *p, const struct mig_round *r, u64 pending_pages,
			   enum mig_reason why)
{
	char *w = p->why;
	size_t size = sizeof(p->why);
	u64 mib = tenths(pending_pages, PAGE_SIZE, 1024 * 1024);
	u64 dmib = tenths(p->dirty_rate, PAGE_SIZE, 1024 * 1024);

	w[0] = 0;
	why_add(w, size, "round %u: %llu pages pending (%llu.%llu MiB)", p->rounds,
		(unsigned long long)pending_pages, (unsigned long long)(mib / 10),
		(unsigned long long)(mib % 10));
	if (p->bandwidth)
		why_add(w, size, " need %llu ms at %llu KiB/s, over the %llu ms limit",
			(unsigned long long)p->expected_downtime_ms,
			(unsigned long long)(p->bandwidth / 1024),
			(unsigned long long)p->params.downtime_limit_ms);
	else
		why_add(w, size, ", no bandwidth measured");
	why_add(w, size, "; the guest dirtied %llu pages/s (%llu.%llu MiB/s",
		(unsigned long long)p->dirty_rate, (unsigned long long)(dmib / 10),
		(unsigned long long)(dmib % 10));
	if (p->bandwidth)
		why_add(w, size, ", %llu%% of the link)",
			(unsigned long long)muldiv(p->dirty_rate, PAGE_SIZE * 100, p->bandwidth));
	else
		why_add(w, size, ")");
	/* The rate explains itself; else say which other rule fired. */
	if (dirty_rate_high(p))
		return;
	if (no_progress(r))
		why_add(w, size, "; the round sent %llu pages, %llu got dirtied",
			(unsigned long long)r->pages_sent, (unsigned long long)r->pages_dirtied);
	else if (why == MIG_STOP_N2)
		why_add(w, size, "; %u rounds lost (N2)", p->losing_rounds);
	else
		why_add(w, size, "; round limit %u (N3)", p->params.n3_rounds);
}

enum mig_reason mig_policy_round_end(struct mig_policy *p, const struct mig_round *r,
				     u64 pending_pages)
{
	p->rounds++;
	p->why[0] = 0;
	history_push(p, r);
	measure_bandwidth(p);
	if (r->duration_ns)
		p->dirty_rate = muldiv(r->pages_dirtied, NS_PER_S, r->duration_ns);
	if (round_lost(p, r))
		p->losing_rounds++;
	p->prev_throttle = p->throttle;
	p->prev_dirty_rate = p->dirty_rate;

	/* The final copy also carries the state sections (final_extra_bytes):
	 * leaving them out let measured downtimes overshoot the limit. */
	u64 pending_bytes = pending_pages * PAGE_SIZE + p->final_extra_bytes;
	/* Rounded up, so FITS holds exactly when expected <= downtime-limit. */
	p->expected_downtime_ms = p->bandwidth ? muldiv_up(pending_bytes, MS_PER_S, p->bandwidth)
					       : MIG_DOWNTIME_UNKNOWN;

	enum mig_reason why = MIG_GO_ON;
	/* pending_bytes <= bandwidth * limit_ms / 1000, without rounding. */
	if (p->bandwidth && (unsigned __int128)pending_bytes * MS_PER_S <=
				    (unsigned __int128)p->bandwidth * p->params.downtime_limit_ms)
		why = MIG_STOP_FITS;
	else if (pending_pages <= p->params.n1_pages)
		why = MIG_STOP_N1;
	else if (p->params.n2_rounds && p->losing_rounds >= p->params.n2_rounds)
		why = MIG_STOP_N2;
	else if (p->params.n3_rounds && p->rounds >= p->params.n3_rounds)
		why = MIG_STOP_N3;

	if (p->params.postcopy && p->rounds >= 2 && why != MIG_STOP_FITS && why != MIG_STOP_N1 &&
	    switch_wanted(p, r, why)) {
		switch_explain(p, r, pending_pages, why);
		return MIG_SWITCH_POSTCOPY;
	}
	if (why == MIG_GO_ON)
		auto_converge(p, r);
	return why;
}

u64 mig_policy_allowance(const struct mig_policy *p, u64 sent, u64 start_ns, u64 now_ns)
{
	u64 bw = p->params.max_bandwidth;
	if (!bw)
		return ~0ULL;
	if (now_ns <= start_ns)
		return 0;
	u64 allowed = muldiv(bw, now_ns - start_ns, NS_PER_S);
	return allowed > sent ? allowed - sent : 0;
}

u64 mig_downtime_floor_ms(u64 bytes, u64 bandwidth, u64 rtt_ns)
{
	if (!bandwidth)
		return bytes ? ~0ULL : rtt_ns / (NS_PER_S / MS_PER_S);
	u64 ns = muldiv(bytes, NS_PER_S, bandwidth);
	ns = ns > ~0ULL - rtt_ns ? ~0ULL : ns + rtt_ns;
	return ns / (NS_PER_S / MS_PER_S);
}

u64 mig_select_next(u64 *send, u64 *held, u64 *prev, const u64 *dirty, u64 nr_pages, bool hold)
{
	u64 words = BITMAP_WORDS(nr_pages);
	u64 n = 0;

	for (u64 w = 0; w < words; w++) {
		u64 valid = ~0ULL;
		if (w == words - 1 && nr_pages % 64)
			valid = (1ULL << (nr_pages % 64)) - 1;
		u64 d = dirty[w] & valid, h = held[w] & valid;
		u64 nh, s;
		if (hold) {
			nh = d & (prev[w] | h);     /* dirtied again: still hot */
			s = (d & ~nh) | (h & ~d);   /* new dirt, and held pages that stayed clean */
		} else {
			nh = 0;
			s = d | h;                  /* the final copy: everything */
		}
		send[w] = (send[w] | s) & valid;
		held[w] = nh;
		prev[w] = d;
		n += (u64)__builtin_popcountll(send[w]);
	}
	return n;
}
