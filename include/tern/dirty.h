/*
 * The per-VM dirty log, for the migration engine (and calc_dirty_rate).
 * Pages the guest (or Tern on its behalf) writes while logging is on are set
 * in a bitmap; harvest hands over the pages dirtied since the last harvest
 * and clears them. The hardware mechanism is the CPU layer's: EPT write
 * protection, or Page Modification Logging where the CPU has it.
 *
 * Ordering, so that no write is lost (docs/dirty-tracking.md): harvest first
 * collects what the hardware logged (drains PML), then gets and clears the
 * bitmap, then re-arms tracking (write-protect / clear EPT dirty bits) for
 * exactly the pages it returns, then invalidates EPT translations. A write
 * that lands between the get-and-clear and the re-arm is logged again at the
 * next harvest: pages may be reported twice, never missed.
 * Context: the service loop, while the vCPU is out of the guest.
 */
#ifndef TERN_DIRTY_H
#define TERN_DIRTY_H

#include <tern/types.h>

struct vm;

enum dirty_mode {
	DIRTY_AUTO, /* as a preference: PML if present, else write protection */
	DIRTY_WP,
	DIRTY_PML,
};

struct dirty_log {
	bool active;
	enum dirty_mode mode;      /* the mechanism in use while active */
	enum dirty_mode preferred; /* boot option dirty= or console dirty_log_mode */
	u64 nr_pages;
	u64 *bitmap;               /* dirtied since the last harvest */
	u64 pages_logged;          /* bits newly set since logging started */
	u64 harvests;
	u64 pages_harvested;
	u64 exits;                 /* EPT write faults or PML-full exits spent on logging */
	u64 tern_writes;           /* pages marked for Tern's own writes */
	u64 start_tsc_cost;        /* CPU time of the last start, in TSC ticks */
	u64 last_harvest_tsc;      /* CPU time of the last harvest, in TSC ticks */
	/* calc_dirty_rate */
	u64 rate_end_ns;           /* 0: no measurement running */
	u64 rate_start_ns;
	u64 rate_pages;            /* result of the last measurement */
	u64 rate_ns;
};

const char *dirty_mode_name(enum dirty_mode m);
/* Start logging (all pages clean). 0, or -1 if the VM cannot log. */
int dirty_log_start(struct vm *vm);
/*
 * Copy the pages dirtied since the last harvest into out (a bitmap of
 * nr_pages bits, may be NULL to discard), clear them and re-arm tracking.
 * Returns the number of pages.
 */
u64 dirty_log_harvest(struct vm *vm, u64 *out);
void dirty_log_stop(struct vm *vm);
/* Parse "auto", "pml", "wp"; -1 if none. */
int dirty_mode_parse(const char *s);
/* calc_dirty_rate: log for secs seconds, then report distinct pages/s. */
int dirty_rate_start(struct vm *vm, u64 secs);
/* Finish a due measurement; called from the service loop. */
void dirty_rate_poll(struct vm *vm, u64 now_ns);
/* Record that guest page gfn was written (called by the CPU layer). */
void dirty_log_mark_gfn(struct vm *vm, u64 gfn);
/*
 * The dirty-log test hypercalls (hv/dirty_check.c, docs/guest-abi.md):
 * TERN_HC_DIRTY_START, _LOG and _HARVEST. Arguments come from the guest.
 */
s64 dirty_hc_start(struct vm *vm);
s64 dirty_hc_log(struct vm *vm, u64 bitmap_gpa, u64 bytes);
s64 dirty_hc_harvest(struct vm *vm, u64 stats_gpa);
/* Tern wrote [gpa, gpa+len) of guest memory itself (device models, loading). */
void vm_mark_dirty(struct vm *vm, u64 gpa, u64 len);

#endif
