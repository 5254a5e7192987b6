/*
 * guest-tests/lib/dirty_verdict.c, the comparison the dirty-log guests judge
 * Tern's log with. Each wrong log a broken tracker could produce must fail:
 * every page, a page short (first, last, across a word), one page off,
 * pages past the end of RAM; extras the guest can explain must pass.
 */
#include "unit.h"
#include <tern/bitmap.h>
#include "../../guest-tests/lib/dirty_verdict.h"

#define PAGES 1000 /* not a multiple of 64: the last word is partial */
#define WORDS BITMAP_WORDS(PAGES)

static u64 log_[WORDS], wrote[WORDS], may[WORDS];
static struct dirty_verdict v;

/* A fixed, scattered set of written pages with both ends of RAM in it. */
static void setup(void)
{
	memset(log_, 0, sizeof(log_));
	memset(wrote, 0, sizeof(wrote));
	memset(may, 0, sizeof(may));
	u64 x = 12345;
	for (int i = 0; i < 200; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		bitmap_set(wrote, (x >> 33) % PAGES);
	}
	bitmap_set(wrote, 0);
	bitmap_set(wrote, 63);
	bitmap_set(wrote, 64);
	bitmap_set(wrote, PAGES - 1);
	memcpy(log_, wrote, sizeof(log_));
}

static void judge(void)
{
	dirty_verdict(log_, wrote, may, PAGES, &v);
}

static void clear_bit(u64 *bm, u64 i)
{
	bm[i / 64] &= ~(1ULL << (i % 64));
}

TEST(exact_log_passes)
{
	setup();
	judge();
	CHECK(dirty_verdict_exact(&v));
	CHECK_EQ(v.logged, bitmap_weight(wrote, PAGES));
	CHECK_EQ(v.missed, 0);
	CHECK_EQ(v.explained, 0);
	CHECK_EQ(v.first_missed, DIRTY_NONE);
	CHECK_EQ(v.first_unexplained, DIRTY_NONE);
}

TEST(log_of_every_page_fails)
{
	setup();
	memset(log_, 0xff, sizeof(log_));
	judge();
	CHECK(!dirty_verdict_exact(&v));
	CHECK_EQ(v.missed, 0);
	CHECK_EQ(v.logged, WORDS * 64);
	/* Every page not written is unexplained, and so are the 24 past the end. */
	CHECK_EQ(v.unexplained, WORDS * 64 - bitmap_weight(wrote, PAGES));
	u64 first = 0;
	while (bitmap_test(wrote, first))
		first++;
	CHECK_EQ(v.first_unexplained, first);
}

TEST(log_of_every_page_passes_only_if_all_explained)
{
	setup();
	memset(log_, 0xff, sizeof(log_));
	memset(may, 0xff, sizeof(may));
	judge();
	/* Pages past the end of RAM are never explainable. */
	CHECK_EQ(v.unexplained, WORDS * 64 - PAGES);
	CHECK_EQ(v.first_unexplained, PAGES);
	CHECK_EQ(v.explained, PAGES - bitmap_weight(wrote, PAGES));
}

TEST(one_page_missing_fails_at_either_end_and_across_a_word)
{
	static const u64 gone[] = { 0, 63, 64, PAGES - 1 };
	for (unsigned i = 0; i < ARRAY_SIZE(gone); i++) {
		setup();
		memset(may, 0xff, sizeof(may)); /* explaining extras cannot hide a miss */
		clear_bit(log_, gone[i]);
		judge();
		CHECK(!dirty_verdict_exact(&v));
		CHECK_EQ(v.missed, 1);
		CHECK_EQ(v.first_missed, gone[i]);
		CHECK_EQ(v.unexplained, 0);
	}
}

TEST(empty_log_fails_when_pages_were_written)
{
	setup();
	memset(log_, 0, sizeof(log_));
	judge();
	CHECK_EQ(v.missed, bitmap_weight(wrote, PAGES));
	CHECK_EQ(v.first_missed, 0);
	CHECK_EQ(v.logged, 0);
}

/* A tracker that logs gfn+1 or gfn-1 (an off-by-one in the GPA shift). */
TEST(log_one_page_off_fails_both_ways)
{
	for (int dir = -1; dir <= 1; dir += 2) {
		setup();
		memset(log_, 0, sizeof(log_));
		for (u64 p = 0; p < PAGES; p++)
			if (bitmap_test(wrote, p) && (s64)p + dir >= 0 && p + (u64)dir < WORDS * 64)
				bitmap_set(log_, p + (u64)dir);
		judge();
		CHECK(v.missed > 0);
		CHECK(v.unexplained > 0);
	}
}

TEST(page_past_the_end_fails)
{
	setup();
	bitmap_set(log_, PAGES);
	judge();
	CHECK_EQ(v.unexplained, 1);
	CHECK_EQ(v.first_unexplained, PAGES);
	setup();
	bitmap_set(log_, WORDS * 64 - 1);
	judge();
	CHECK_EQ(v.first_unexplained, WORDS * 64 - 1);
}

TEST(explained_extras_pass_and_are_counted)
{
	setup();
	for (u64 p = 100; p < 110; p++) {
		bitmap_set(may, p);
		if (!bitmap_test(wrote, p))
			bitmap_set(log_, p);
	}
	u64 extra = 0;
	for (u64 p = 100; p < 110; p++)
		extra += !bitmap_test(wrote, p);
	judge();
	CHECK(dirty_verdict_exact(&v));
	CHECK_EQ(v.explained, extra);
	/* One more extra, one page outside what the guest explains. */
	u64 p = 110;
	while (bitmap_test(wrote, p))
		p++;
	bitmap_set(log_, p);
	judge();
	CHECK_EQ(v.unexplained, 1);
	CHECK_EQ(v.first_unexplained, p);
}

/* Stray bits in the guest's own bitmaps past RAM are not pages it wrote. */
TEST(bits_past_the_end_of_the_guests_bitmaps_are_ignored)
{
	setup();
	wrote[WORDS - 1] |= ~0ULL << (PAGES % 64);
	may[WORDS - 1] |= ~0ULL << (PAGES % 64);
	judge();
	CHECK(dirty_verdict_exact(&v));
}

TEST(a_whole_number_of_words_and_zero_pages)
{
	u64 l[2] = { 1ULL << 63, 1 }, w[2] = { 1ULL << 63, 0 }, m[2] = { 0 };
	dirty_verdict(l, w, m, 128, &v);
	CHECK_EQ(v.unexplained, 1);
	CHECK_EQ(v.first_unexplained, 64);
	dirty_verdict(l, w, m, 64, &v); /* the second word is not read */
	CHECK(dirty_verdict_exact(&v));
	CHECK_EQ(v.logged, 1);
	dirty_verdict(NULL, NULL, NULL, 0, &v);
	CHECK(dirty_verdict_exact(&v));
	CHECK_EQ(v.logged, 0);
}
