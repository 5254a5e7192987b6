/*
 * guest-tests/lib/mig_pattern.c, the patterns the migration guests judge a
 * migration by. Every way a migration can leave a page wrong must be caught
 * and located: any flipped byte (with its offset), a stale version (a lost
 * dirty page), another page's copy (swapped pages), zeros (a page never
 * sent); and the clock rule must refuse a step back and a leap.
 */
#include "unit.h"
#include "../../guest-tests/lib/mig_pattern.h"

#define PN 0x1234 /* a page number above a guest's image, as the guests use */

static u64 page[MIG_PAT_WORDS], other[MIG_PAT_WORDS];

TEST(fresh_pattern_verifies)
{
	for (u64 v = 1; v < 50; v++) {
		mig_pat_write(page, PN, v);
		CHECK_EQ(mig_pat_check(page, PN, v, NULL), 0);
		CHECK_EQ(mig_pat_classify(page, PN, v, NULL, NULL), MIG_PAT_GOOD);
	}
	/* The header words are readable as they are: page number and version. */
	CHECK_EQ(page[MIG_PAT_W_PAGE], PN);
	CHECK_EQ(page[MIG_PAT_W_VERSION], 49);
	/* Page 0 at version 0 (never used) still is no all-zero page. */
	mig_pat_write(page, 0, 0);
	CHECK_EQ(mig_pat_check(page, 0, 0, NULL), 0);
}

TEST(words_match_pat_word)
{
	mig_pat_write(page, PN, 7);
	for (unsigned i = 0; i < MIG_PAT_WORDS; i++)
		CHECK_EQ(page[i], mig_pat_word(PN, 7, i));
}

TEST(every_flipped_byte_found_at_its_offset)
{
	unsigned char *b = (unsigned char *)page;

	mig_pat_write(page, PN, 3);
	for (u32 off = 0; off < PAGE_SIZE; off++) {
		for (unsigned bit = 0; bit < 8; bit += 7) { /* lowest and highest bit */
			u32 got = 0xffffffff;
			b[off] ^= (unsigned char)(1u << bit);
			unsigned r = mig_pat_check(page, PN, 3, &got);
			CHECK_EQ(r, off / 8 + 1);
			CHECK_EQ(got, off);
			CHECK_EQ(mig_pat_classify(page, PN, 3, NULL, NULL), MIG_PAT_DAMAGED);
			b[off] ^= (unsigned char)(1u << bit);
		}
	}
	CHECK_EQ(mig_pat_check(page, PN, 3, NULL), 0);
}

TEST(first_of_several_differences_reported)
{
	u32 off = 0;

	mig_pat_write(page, PN, 3);
	((unsigned char *)page)[4000] ^= 0x10;
	((unsigned char *)page)[1001] ^= 0x01;
	CHECK_EQ(mig_pat_check(page, PN, 3, &off), 1001 / 8 + 1);
	CHECK_EQ(off, 1001);
}

TEST(stale_version_detected)
{
	u32 off = 0;
	u64 fp = 0, fv = 0;

	/* The source wrote version 5 then 6; a lost dirty page leaves 5 behind. */
	mig_pat_write(page, PN, 5);
	CHECK(mig_pat_check(page, PN, 6, &off) != 0);
	CHECK_EQ(off, MIG_PAT_W_VERSION * 8);
	CHECK_EQ(mig_pat_classify(page, PN, 6, &fp, &fv), MIG_PAT_STALE);
	CHECK_EQ(fp, PN);
	CHECK_EQ(fv, 5);
	/* A stale page whose version word alone was fixed is still caught: its data. */
	page[MIG_PAT_W_VERSION] = 6;
	CHECK_EQ(mig_pat_check(page, PN, 6, &off), 3);
	CHECK_EQ(off, 16);
}

TEST(no_version_implies_another)
{
	/* No data word of version v may equal the same word of v+1 (nothing silently stale). */
	for (u64 v = 1; v < 64; v++) {
		mig_pat_write(page, PN, v);
		mig_pat_write(other, PN, v + 1);
		for (unsigned i = 2; i < MIG_PAT_WORDS; i++)
			CHECK(page[i] != other[i]);
	}
}

TEST(swapped_page_detected)
{
	u32 off = 0;
	u64 fp = 0, fv = 0;

	mig_pat_write(page, PN + 1, 4); /* page PN+1's contents, same version, at PN */
	CHECK_EQ(mig_pat_check(page, PN, 4, &off), 1);
	CHECK_EQ(off, 0);
	CHECK_EQ(mig_pat_classify(page, PN, 4, &fp, &fv), MIG_PAT_OTHER_PAGE);
	CHECK_EQ(fp, PN + 1);
	CHECK_EQ(fv, 4);
	/* With its page word patched, its data still gives it away. */
	page[MIG_PAT_W_PAGE] = PN;
	CHECK_EQ(mig_pat_check(page, PN, 4, &off), 3);
}

TEST(zero_page_detected)
{
	u32 off = 0xffff;

	memset(page, 0, sizeof(page));
	CHECK_EQ(mig_pat_check(page, PN, 1, &off), 1);
	CHECK_EQ(off, 0);
	CHECK_EQ(mig_pat_classify(page, PN, 1, NULL, NULL), MIG_PAT_DAMAGED);
	/* Zero data under a correct header (a page sent as "homogeneous" by mistake). */
	page[MIG_PAT_W_PAGE] = PN;
	page[MIG_PAT_W_VERSION] = 1;
	CHECK_EQ(mig_pat_check(page, PN, 1, &off), 3);
	CHECK_EQ(off, 16);
	/* And page 0 version 1 zeroed: its version word is not 0. */
	memset(page, 0, sizeof(page));
	CHECK(mig_pat_check(page, 0, 1, NULL) != 0);
}

TEST(check_word_guards_the_last_word)
{
	u32 off = 0;

	mig_pat_write(page, PN, 9);
	page[MIG_PAT_W_CHECK] = 0;
	CHECK_EQ(mig_pat_check(page, PN, 9, &off), MIG_PAT_WORDS);
	CHECK_EQ(off, PAGE_SIZE - 8 + (unsigned)__builtin_ctzll(mig_pat_word(PN, 9, MIG_PAT_W_CHECK)) / 8);
}

TEST(kind_names)
{
	CHECK_STR_EQ(mig_pat_kind_name(MIG_PAT_STALE), "stale copy");
	CHECK_STR_EQ(mig_pat_kind_name(MIG_PAT_OTHER_PAGE), "another page");
	CHECK_STR_EQ(mig_pat_kind_name(MIG_PAT_DAMAGED), "damaged");
}

TEST(xorshift_page_verifies_and_locates)
{
	const u64 seed = 0xc01dc01dull;
	unsigned char *b = (unsigned char *)page;

	mig_xs_fill(page, PN, seed);
	CHECK_EQ(mig_xs_check(page, PN, seed, NULL), 0);
	for (unsigned i = 0; i < MIG_PAT_WORDS; i += 37)
		CHECK_EQ(page[i], mig_xs_word(PN, seed, i));
	for (u32 off = 0; off < PAGE_SIZE; off++) {
		u32 got = 0;
		b[off] ^= 0x80;
		CHECK_EQ(mig_xs_check(page, PN, seed, &got), off / 8 + 1);
		CHECK_EQ(got, off);
		b[off] ^= 0x80;
	}
	/* Another page's data, another seed's data and zeros all fail at word 0. */
	CHECK_EQ(mig_xs_check(page, PN + 1, seed, NULL), 1);
	CHECK_EQ(mig_xs_check(page, PN, seed + 1, NULL), 1);
	memset(page, 0, sizeof(page));
	CHECK_EQ(mig_xs_check(page, PN, seed, NULL), 1);
	/* Seeded so no word is zero-stuck: xorshift64 never yields 0. */
	mig_xs_fill(page, 0, 0);
	for (unsigned i = 0; i < MIG_PAT_WORDS; i++)
		CHECK(page[i] != 0);
}

TEST(clock_accepts_steady_steps)
{
	struct mig_clock c = { 0 };

	CHECK_EQ(mig_clock_step(&c, 1000, 100), MIG_CLOCK_OK); /* first reading: anything */
	CHECK_EQ(mig_clock_step(&c, 1000, 100), MIG_CLOCK_OK); /* equal is not backwards */
	CHECK_EQ(mig_clock_step(&c, 1100, 100), MIG_CLOCK_OK); /* exactly the bound */
	CHECK_EQ(mig_clock_step(&c, 1150, 100), MIG_CLOCK_OK);
	CHECK_EQ(c.last, 1150);
	CHECK_EQ(c.max_step, 100);
}

TEST(clock_refuses_backwards_and_jumps)
{
	struct mig_clock c = { 0 };

	mig_clock_step(&c, 5000, 100);
	CHECK_EQ(mig_clock_step(&c, 4999, 100), MIG_CLOCK_BACKWARDS);
	CHECK_EQ(c.last, 5000); /* kept for the message */
	CHECK_EQ(mig_clock_step(&c, 5101, 100), MIG_CLOCK_JUMPED);
	CHECK_EQ(c.last, 5000);
	/* A clock restarted from zero on the destination is backwards, not a jump. */
	CHECK_EQ(mig_clock_step(&c, 0, 100), MIG_CLOCK_BACKWARDS);
	/* No wrap-around trick: a reading near 2^64 is a jump. */
	CHECK_EQ(mig_clock_step(&c, ~0ull, 100), MIG_CLOCK_JUMPED);
	CHECK_EQ(mig_clock_step(&c, 5050, 100), MIG_CLOCK_OK);
}
