/* Bitmaps of u64 words: one bit per guest page in the dirty log. */
#ifndef TERN_BITMAP_H
#define TERN_BITMAP_H

#include <tern/types.h>

#define BITMAP_WORDS(bits) (((bits) + 63) / 64)

static inline void bitmap_set(u64 *bm, u64 i) { bm[i / 64] |= 1ULL << (i % 64); }
static inline bool bitmap_test(const u64 *bm, u64 i) { return bm[i / 64] >> (i % 64) & 1; }

static inline u64 bitmap_weight(const u64 *bm, u64 bits)
{
	u64 n = 0;
	for (u64 w = 0; w < BITMAP_WORDS(bits); w++)
		n += (u64)__builtin_popcountll(bm[w]);
	return n;
}

/* The first set bit at or after i, or bits if none. */
static inline u64 bitmap_next(const u64 *bm, u64 bits, u64 i)
{
	while (i < bits) {
		u64 w = bm[i / 64] >> (i % 64);
		if (w)
			return MIN(i + (u64)__builtin_ctzll(w), bits);
		i = ALIGN_DOWN(i, 64) + 64;
	}
	return bits;
}

#endif
