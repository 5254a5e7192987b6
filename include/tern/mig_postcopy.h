/*
 * Post-copy's pure bookkeeping (migrate/prepage.c, migrate/latency.c): the
 * source's queue of pages the destination faulted on, the order in which it
 * pushes the rest (pre-paging), and the page-fault latency the destination
 * measures. No clock, no I/O, no allocation: the engine passes gfns and
 * times in, so every rule is tested on the host.
 */
#ifndef TERN_MIG_POSTCOPY_H
#define TERN_MIG_POSTCOPY_H

#include <tern/types.h>

/* Source: page requests from the destination, served first, FIFO; a gfn queued once at a time. */
#define MIG_REQ_QUEUE_MAX 256
struct mig_req_queue {
	u64 gfn[MIG_REQ_QUEUE_MAX];
	u32 head, count;
	u64 dropped; /* full: not queued */
};
void mig_req_init(struct mig_req_queue *q);
/* Queue gfn; false when it is already queued (no-op) or the queue is full (counted in dropped). */
bool mig_req_push(struct mig_req_queue *q, u64 gfn);
/* The oldest queued gfn; false when empty. */
bool mig_req_pop(struct mig_req_queue *q, u64 *gfn);

/*
 * Pre-paging: the order in which the source pushes the pages still to send
 * after the switch. After a fault at gfn, the pages following it
 * (gfn+1 .. gfn+MIG_PREPAGE_WINDOW-1) go first, the guest tends to touch its
 * neighbours next; otherwise the rest in address order from a cursor that
 * wraps once around. A later fault replaces the window; a fault at or past
 * nr_pages is ignored.
 */
#define MIG_PREPAGE_WINDOW 64
struct mig_prepage {
	u64 nr_pages, cursor, near, near_end; /* window: [near, near_end) */
};
void mig_prepage_init(struct mig_prepage *p, u64 nr_pages);
void mig_prepage_fault(struct mig_prepage *p, u64 gfn);
/*
 * The next gfn whose bit is set in todo (nr_pages bits, tern/bitmap.h
 * layout), nr_pages when none is; does not clear the bit (the caller does
 * when it sends): until then, the same gfn comes back.
 */
u64 mig_prepage_next(struct mig_prepage *p, const u64 *todo);

/*
 * Page-fault latency (ns) of post-copy: count, min, max, total over all;
 * median over a kept sample of at most MIG_LAT_SAMPLES (the first ones, then
 * each new one replaces a kept one in turn). min and max are 0 while empty;
 * total saturates.
 */
#define MIG_LAT_SAMPLES 1024
struct mig_lat {
	u64 count, min, max, total;
	u32 kept, next;
	u64 sample[MIG_LAT_SAMPLES];
};
void mig_lat_init(struct mig_lat *l);
void mig_lat_add(struct mig_lat *l, u64 ns);
/* The median of the kept sample (lower middle for an even count), 0 when empty; may reorder sample[]. */
u64 mig_lat_median(struct mig_lat *l);

/*
 * The page maps of post-copy (migrate/pagemap.c): MAP (pages still to come),
 * the destination's absent set and HAVE (the pages it holds), all bitmaps of
 * nr_pages bits in tern/bitmap.h's layout.
 * mig_map_invert: out = the pages not set in in; bits past nr_pages stay
 * clear (HAVE from the absent set; what to resend from HAVE). in NULL: none
 * set. mig_map_apply: a record's words at first_gfn, ORed into map (MAP) or
 * replacing its words (HAVE); false, map untouched, when first_gfn is not a
 * multiple of 64, the words reach past nr_pages rounded up to 64, or a bit
 * for a page past nr_pages is set.
 */
void mig_map_invert(u64 *out, const u64 *in, u64 nr_pages);
bool mig_map_apply(u64 *map, u64 nr_pages, u64 first_gfn, const u64 *words, u16 nwords,
		   bool replace);

#endif
