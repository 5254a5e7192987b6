/*
 * The dirty-log verdict, judged by the guest and not by Tern: the guest
 * holds Tern's harvested log (TERN_HC_DIRTY_LOG copies it out) beside two
 * bitmaps of its own, the pages it wrote (each must be logged) and the
 * pages whose logging it can explain without having listed a write (its
 * page tables, which the CPU's A/D updates write; its stack, data and
 * bookkeeping; the log buffer Tern filled). A written page missing from the
 * log is a lost write; a logged page outside both is a log that lies
 * (reporting every page would pass a test that only counts misses).
 * Pure: the guests and a host unit test (tests/unit/test_dirty_verdict.c)
 * compile the same file.
 */
#ifndef GUEST_DIRTY_VERDICT_H
#define GUEST_DIRTY_VERDICT_H

#include <tern/types.h>

#define DIRTY_NONE (~0ULL) /* no such page */

struct dirty_verdict {
	u64 logged;            /* pages the log reports, including any past the last page */
	u64 missed;            /* written, not logged: must be 0 */
	u64 explained;         /* logged, not written, explainable */
	u64 unexplained;       /* logged, neither written nor explainable: must be 0 */
	u64 first_missed;      /* gfn, or DIRTY_NONE */
	u64 first_unexplained; /* gfn, or DIRTY_NONE */
};

/*
 * Compare log with written and explained, bitmaps of nr_pages bits (one
 * bit per 4 KiB page, BITMAP_WORDS(nr_pages) words each). Bits of written
 * and explained past nr_pages are ignored; bits of log past nr_pages are
 * pages that do not exist and count as unexplained.
 */
void dirty_verdict(const u64 *log, const u64 *written, const u64 *explained, u64 nr_pages,
		   struct dirty_verdict *v);

static inline bool dirty_verdict_exact(const struct dirty_verdict *v)
{
	return v->missed == 0 && v->unexplained == 0;
}

#endif
