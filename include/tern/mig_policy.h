/*
 * The pre-copy engine's pure logic (migrate/policy.c, migrate/status.c):
 * QEMU's migration status machine, the convergence policy that decides
 * after each round whether to iterate or stop and copy, the auto-converge
 * throttle, and the bitmap bookkeeping that holds the writable working set
 * back for the final copy, and the hybrid rule that hands a migration that
 * will not converge over to post-copy. No clock, no I/O: the engine passes times and
 * counts in, so every rule is tested on synthetic traces on the host.
 */
#ifndef TERN_MIG_POLICY_H
#define TERN_MIG_POLICY_H

#include <tern/types.h>

/* ---- status (QEMU's names) ---- */

enum mig_status {
	MIG_NONE, MIG_SETUP, MIG_ACTIVE, MIG_DEVICE, MIG_COMPLETED, MIG_FAILED,
	MIG_CANCELLING, MIG_CANCELLED,
	MIG_POSTCOPY_ACTIVE,  /* the guest runs on the destination, pages still arriving */
	MIG_POSTCOPY_PAUSED,  /* ... and the link is gone: waiting for migrate_recover / migrate -r */
	MIG_POSTCOPY_RECOVER, /* reconnecting */
	MIG_NR_STATUS
};

enum mig_event {
	MIG_EV_START,      /* migrate / an incoming connection */
	MIG_EV_SETUP_DONE, /* header accepted: pages flow */
	MIG_EV_STOP_COPY,  /* the vCPU is paused for the final copy */
	MIG_EV_DONE,       /* handed over (source: ACK seen, GO sent; destination: GO seen) */
	MIG_EV_ERROR,
	MIG_EV_CANCEL,     /* migrate_cancel */
	MIG_EV_CANCELLED,  /* the cancel finished (the connection is closed) */
	MIG_EV_RESET,      /* a new migration may start (from a final status) */
	MIG_EV_POSTCOPY,   /* the switch to post-copy (the state goes, pages follow) */
	MIG_EV_PAUSE,      /* the link failed during post-copy */
	MIG_EV_RECOVER,    /* migrate -r / migrate_recover */
	MIG_EV_RECOVERED,  /* the new connection is up: pages flow again */
	MIG_NR_EVENTS
};

const char *mig_status_name(enum mig_status s);
/* The status after ev, or -1 (and *s unchanged) when ev is not allowed in *s. */
int mig_status_step(enum mig_status *s, enum mig_event ev);
/* True while a migration is in progress (setup, active, device, cancelling, postcopy-*). */
bool mig_status_busy(enum mig_status s);

/* ---- convergence ---- */

struct mig_params {
	u64 downtime_limit_ms; /* default 300 */
	u64 max_bandwidth;     /* bytes/s for the live phase; 0 = unlimited */
	bool auto_converge;    /* default on */
	u32 n1_pages;          /* stop when at most this many pages remain (50) */
	u32 n2_rounds;         /* ... or after this many rounds sending fewer than dirtied (2) */
	u32 n3_rounds;         /* ... or after this many rounds in all (30) */
	u32 throttle_initial;  /* first throttle step, percent (20) */
	u32 throttle_max;      /* percent (99) */
	bool postcopy;         /* QEMU's capability postcopy-ram: switch instead of
	                        * throttling or stopping (default off) */
};

void mig_params_default(struct mig_params *p);

struct mig_round {
	u32 round;          /* 1 = the first (all of RAM) */
	u64 pages_sent;
	u64 bytes_sent;
	u64 pages_dirtied;  /* logged during this round */
	u64 duration_ns;
};

#define MIG_HISTORY 32

enum mig_reason {
	MIG_GO_ON,
	MIG_STOP_FITS,      /* pending bytes fit bandwidth x downtime-limit */
	MIG_STOP_N1,        /* few pages left */
	MIG_STOP_N2,        /* rounds that did not shrink the dirty set */
	MIG_STOP_N3,        /* round limit */
	MIG_SWITCH_POSTCOPY, /* resume on the destination, which fetches the rest */
};

struct mig_policy {
	struct mig_params params;
	u64 bandwidth;          /* bytes/s measured over the last round(s) */
	u64 dirty_rate;         /* pages/s measured over the last round */
	u32 throttle;           /* percent of the vCPU's time taken away */
	u32 rounds;
	u32 losing_rounds;      /* rounds that sent no more pages than got dirtied (with
	                         * auto-converge: only those where throttling no longer
	                         * helps; policy.c, round_lost) */
	/* Set by the engine after init: */
	u64 ram_pages;          /* the guest's RAM */
	u64 final_extra_bytes;  /* what the final copy sends besides the pages (state, END) */
	u32 prev_throttle;      /* the throttle during the round before */
	u64 prev_dirty_rate;    /* and its dirty rate */
	u64 expected_downtime_ms;
	struct mig_round history[MIG_HISTORY]; /* the last rounds, oldest first */
	u32 nr_history;
	char why[200];          /* one line with the figures when round_end returns
	                         * MIG_SWITCH_POSTCOPY, else empty */
};

/* expected_downtime_ms while no bandwidth has been measured yet. */
#define MIG_DOWNTIME_UNKNOWN (~0ULL)
/*
 * Tuning of migrate/policy.c (the rules are spelled out there):
 * bandwidth is measured over the last MIG_BW_WINDOW rounds that sent bytes;
 * auto-converge aims the guest's dirty rate at MIG_AC_TARGET_PCT % of the
 * bandwidth (the dirty set then at least halves each round) and, once on,
 * raises the throttle by at least MIG_THROTTLE_STEP points per round that
 * did not shrink the dirty set. N2 counts losing rounds in total, not in a
 * row, and with auto-converge only those where throttling no longer helps
 * (at its cap, or raised without lowering the dirty rate); n2_rounds or
 * n3_rounds 0 turns that rule off.
 * With postcopy, from round 2 on, a round whose pending bytes do not fit
 * switches to post-copy (MIG_SWITCH_POSTCOPY) when the guest dirties at
 * least MIG_PC_SWITCH_PCT % of the bandwidth in bytes/s (the next round
 * could not halve the set unthrottled), or the round was lost (it sent no
 * more pages than got dirtied), or N2 or N3 would stop; N1 still stops,
 * and the throttle stays 0.
 */
#define MIG_BW_WINDOW 2
#define MIG_AC_TARGET_PCT 50
#define MIG_THROTTLE_STEP 10
#define MIG_PC_SWITCH_PCT 50

/* params NULL: mig_params_default. */
void mig_policy_init(struct mig_policy *p, const struct mig_params *params);
/*
 * A round ended with r; pending_pages will be sent next (the dirty set).
 * Updates bandwidth, dirty rate, expected downtime and, with auto-converge,
 * the throttle; returns why to stop, MIG_SWITCH_POSTCOPY (filling why[])
 * or MIG_GO_ON to run another round.
 */
enum mig_reason mig_policy_round_end(struct mig_policy *p, const struct mig_round *r,
				     u64 pending_pages);
const char *mig_reason_name(enum mig_reason r);
/*
 * Live-phase pacing with max-bandwidth: bytes the engine may hand to TCP now,
 * given bytes sent since start_ns of the phase and now_ns. ~0 when unlimited.
 */
u64 mig_policy_allowance(const struct mig_policy *p, u64 sent, u64 start_ns, u64 now_ns);
/* Downtime floor: bytes / bandwidth + rtt, in ms. */
u64 mig_downtime_floor_ms(u64 bytes, u64 bandwidth, u64 rtt_ns);

/*
 * The writable working set. The engine holds four bitmaps of nr_pages bits:
 * dirty (harvested at the end of a round), prev (dirty of the round before),
 * held (hot pages waiting for the final copy) and send (what the next round
 * sends). With hold true: held' = dirty & (prev | held) (dirtied again:
 * still hot), send = (dirty & ~held') | (held & ~dirty) (a held page that
 * stayed clean for a round is current now and goes); with hold false (the
 * final copy): send = dirty | held, held' = 0. Then prev = dirty. send is
 * ORed into, never cleared (the engine clears bits as it sends).
 * Returns the number of pages in send.
 */
u64 mig_select_next(u64 *send, u64 *held, u64 *prev, const u64 *dirty, u64 nr_pages, bool hold);

#endif
