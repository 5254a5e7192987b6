/*
 * The page maps of post-copy (tern/mig_postcopy.h). Small, but where an
 * off-by-one loses a page: the last word of a map whose RAM is not a
 * multiple of 64 pages, and a record that claims pages past the end. Pure:
 * the destination (MAP, HAVE) and the source (HAVE, what to resend) use it,
 * and the unit tests check it.
 */
#include <tern/bitmap.h>
#include <tern/mig_postcopy.h>

/* The valid bits of word w of a map of nr_pages bits. */
static u64 word_mask(u64 w, u64 nr_pages)
{
	if ((w + 1) * 64 <= nr_pages)
		return ~0ULL;
	return w * 64 >= nr_pages ? 0 : (1ULL << (nr_pages % 64)) - 1;
}

void mig_map_invert(u64 *out, const u64 *in, u64 nr_pages)
{
	for (u64 w = 0; w < BITMAP_WORDS(nr_pages); w++)
		out[w] = ~(in ? in[w] : 0) & word_mask(w, nr_pages);
}

bool mig_map_apply(u64 *map, u64 nr_pages, u64 first_gfn, const u64 *words, u16 nwords,
		   bool replace)
{
	u64 first = first_gfn / 64;
	if (first_gfn % 64 || first > BITMAP_WORDS(nr_pages) || nwords > BITMAP_WORDS(nr_pages) - first)
		return false;
	for (u16 i = 0; i < nwords; i++)
		if (words[i] & ~word_mask(first + i, nr_pages))
			return false;
	for (u16 i = 0; i < nwords; i++)
		map[first + i] = replace ? words[i] : map[first + i] | words[i];
	return true;
}
