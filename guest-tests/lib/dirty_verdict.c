/* The dirty-log verdict (contract in dirty_verdict.h). */
#include <tern/bitmap.h>
#include "dirty_verdict.h"

/* The lowest set bit's page number, for the first_* fields. */
static void note_first(u64 *first, u64 word, u64 bits)
{
	if (*first == DIRTY_NONE && bits)
		*first = word * 64 + (u64)__builtin_ctzll(bits);
}

void dirty_verdict(const u64 *log, const u64 *written, const u64 *explained, u64 nr_pages,
		   struct dirty_verdict *v)
{
	*v = (struct dirty_verdict){ .first_missed = DIRTY_NONE, .first_unexplained = DIRTY_NONE };
	for (u64 w = 0; w < BITMAP_WORDS(nr_pages); w++) {
		u64 left = nr_pages - w * 64;
		u64 valid = left >= 64 ? ~0ULL : (1ULL << left) - 1;
		u64 wrote = written[w] & valid, may = explained[w] & valid;
		u64 missed = wrote & ~log[w];
		u64 extra = log[w] & ~wrote;
		u64 unexplained = extra & ~may;
		v->logged += (u64)__builtin_popcountll(log[w]);
		v->missed += (u64)__builtin_popcountll(missed);
		v->explained += (u64)__builtin_popcountll(extra & may);
		v->unexplained += (u64)__builtin_popcountll(unexplained);
		note_first(&v->first_missed, w, missed);
		note_first(&v->first_unexplained, w, unexplained);
	}
}
