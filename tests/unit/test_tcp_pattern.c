/*
 * net/tcp_pattern.c: the test traffic pattern is SplitMix64 (seed 0) as
 * published, fill and check agree at every alignment, and the checker
 * reports the first wrong byte for loss, duplication, reordering and
 * corruption however the stream is cut into chunks.
 */
#include "unit.h"
#include <tern/tcp_pattern.h>

#define N 4096

static u8 ref[N];

/* Byte by byte from the definition, independently of the word paths. */
static void make_ref(u64 offset)
{
	for (u64 i = 0; i < N; i++) {
		u64 b = offset + i;
		ref[i] = (u8)(tcp_pattern_word(b / 8) >> (8 * (b % 8)));
	}
}

TEST(splitmix64_known_answers)
{
	CHECK_EQ(tcp_pattern_word(0), 0xe220a8397b1dcdafULL);
	CHECK_EQ(tcp_pattern_word(1), 0x6e789e6aa1b965f4ULL);
	CHECK_EQ(tcp_pattern_word(2), 0x06c45d188009454fULL);
	CHECK_EQ(tcp_pattern_word(3), 0xf88bb8a8724c81ecULL);
	u8 b[4];
	tcp_pattern_fill(b, 0, 4);
	CHECK_EQ(b[0], 0xaf);
	CHECK_EQ(b[3], 0x7b);
}

TEST(fill_matches_definition_at_any_alignment)
{
	static u8 buf[N + 16];
	u64 offsets[] = { 0, 1, 7, 8, 13, 1000003, (1ULL << 40) + 5 };
	for (size_t k = 0; k < sizeof(offsets) / sizeof(offsets[0]); k++) {
		make_ref(offsets[k]);
		for (size_t len = 0; len < 20; len++) {
			memset(buf, 0xee, sizeof(buf));
			tcp_pattern_fill(buf + 1, offsets[k], len);
			CHECK_EQ(buf[0], 0xee);
			CHECK(!memcmp(buf + 1, ref, len));
			CHECK_EQ(buf[1 + len], 0xee);
		}
		tcp_pattern_fill(buf + 3, offsets[k], N);
		CHECK(!memcmp(buf + 3, ref, N));
	}
}

/* Feed buf in chunks of the given sizes (cycled); the checker's verdict. */
static bool feed(struct tcp_pattern_check *c, const u8 *buf, size_t len,
		 const size_t *chunks, size_t nchunks)
{
	size_t pos = 0, k = 0;
	bool ok = true;
	while (pos < len) {
		size_t n = MIN(chunks[k++ % nchunks], len - pos);
		ok = tcp_pattern_check(c, buf + pos, n);
		pos += n;
	}
	return ok;
}

static const size_t chunk_sets[][3] = { { N, N, N }, { 1, 1, 1 }, { 1460, 1460, 1460 },
					{ 3, 8, 13 }, { 7, 1, 100 } };

TEST(check_accepts_the_pattern_in_any_chunking)
{
	static u8 buf[N];
	tcp_pattern_fill(buf, 0, N);
	for (size_t s = 0; s < ARRAY_SIZE(chunk_sets); s++) {
		struct tcp_pattern_check c;
		tcp_pattern_check_init(&c);
		CHECK(feed(&c, buf, N, chunk_sets[s], 3));
		CHECK(!c.bad);
		CHECK_EQ(c.offset, N);
	}
}

static void check_detects(const u8 *buf, size_t len, u64 want_bad)
{
	for (size_t s = 0; s < ARRAY_SIZE(chunk_sets); s++) {
		struct tcp_pattern_check c;
		tcp_pattern_check_init(&c);
		CHECK(!feed(&c, buf, len, chunk_sets[s], 3));
		CHECK(c.bad);
		CHECK_EQ(c.bad_offset, want_bad);
		CHECK_EQ(c.offset, len); /* counting goes on after the error */
	}
}

TEST(check_reports_first_bad_byte)
{
	static u8 buf[N];
	/* corruption of one bit */
	tcp_pattern_fill(buf, 0, N);
	buf[1000] ^= 0x10;
	check_detects(buf, N, 1000);

	/* loss: bytes 500..500+k missing, for shifts of every size class;
	 * the stream continues at 500 with what was at 500+k */
	size_t shifts[] = { 1, 7, 8, 64, 1460, 2048 };
	for (size_t i = 0; i < ARRAY_SIZE(shifts); i++) {
		size_t k = shifts[i];
		tcp_pattern_fill(buf, 0, 500);
		tcp_pattern_fill(buf + 500, 500 + k, N - 500);
		struct tcp_pattern_check c;
		tcp_pattern_check_init(&c);
		CHECK(!tcp_pattern_check(&c, buf, N));
		/* the first differing byte is at 500 unless the two streams
		 * happen to agree there (probability 1/256 per byte) */
		CHECK(c.bad_offset >= 500 && c.bad_offset < 504);
	}

	/* duplication: a 1460-byte segment delivered twice */
	tcp_pattern_fill(buf, 0, 2920);
	tcp_pattern_fill(buf + 2920, 1460, N - 2920);
	struct tcp_pattern_check c;
	tcp_pattern_check_init(&c);
	CHECK(!tcp_pattern_check(&c, buf, N));
	CHECK(c.bad_offset >= 2920 && c.bad_offset < 2924);

	/* reordering: two segments swapped */
	tcp_pattern_fill(buf, 1460, 1460);
	tcp_pattern_fill(buf + 1460, 0, 1460);
	tcp_pattern_check_init(&c);
	CHECK(!tcp_pattern_check(&c, buf, 2920));
	CHECK(c.bad_offset < 4);

	/* all zeros (a stream of nothing) fails at once */
	memset(buf, 0, N);
	tcp_pattern_check_init(&c);
	CHECK(!tcp_pattern_check(&c, buf, N));
	CHECK(c.bad_offset < 2);
}

TEST(kib_per_s)
{
	CHECK_EQ(tcp_pattern_kib_per_s(1024, 1000000000), 1);
	CHECK_EQ(tcp_pattern_kib_per_s(4194304, 500000000), 8192);
	CHECK_EQ(tcp_pattern_kib_per_s(100, 0), 0);
	/* no overflow for large transfers */
	CHECK_EQ(tcp_pattern_kib_per_s(1ULL << 50, 1000000000ULL * 1024), 1ULL << 30);
}

TEST(verdict_for_reports)
{
	struct tcp_pattern_check c;
	char buf[48];
	tcp_pattern_check_init(&c);
	CHECK_STR_EQ(tcp_pattern_verdict(&c, buf, sizeof(buf)), "ok");
	c.bad = true;
	c.bad_offset = 1234567;
	CHECK_STR_EQ(tcp_pattern_verdict(&c, buf, sizeof(buf)), "BAD at offset 1234567");
}
