/*
 * migrate/stream.c: the migration stream's encoder (exact bytes and counts),
 * the push decoder (the same callbacks whatever the chunking, every bound
 * refused with its message and offset), the post-copy records and their
 * order rules, the reply decoder, the RAM digest and the destination's CPU
 * and TSC checks.
 */
#include "unit.h"
#include <tern/mig_stream.h>

/* ---- building streams ---- */

static u8 sb[64 << 10];
static size_t sl;

static void put(const void *p, size_t n)
{
	CHECK(sl + n <= sizeof(sb));
	memcpy(sb + sl, p, n);
	sl += n;
}

#define RAM_PAGES 64

static struct mig_header hdr(u64 ram)
{
	struct mig_header h;
	memset(&h, 0, sizeof(h));
	h.version = MIG_VERSION;
	h.page_size = MIG_PAGE_SIZE;
	h.ram_size = ram;
	h.tsc_hz = 3000000000ULL;
	h.caps = MIG_CAP_VALIDATE_RAM;
	h.fp.leaf1_ecx = 0x11111111;
	h.fp.leaf1_edx = 0x22222222;
	h.fp.leaf7_ebx = 0x33333333;
	h.fp.leaf7_ecx = 0x44444444;
	h.fp.leaf7_edx = 0x55555555;
	h.fp.ext1_ecx = 0x66666666;
	h.fp.ext1_edx = 0x77777777;
	h.fp.xcr0_mask = 0x8000000000000007ULL;
	return h;
}

static void s_start_with(u64 pages, u32 caps)
{
	struct mig_header h = hdr(pages * MIG_PAGE_SIZE);
	u8 b[MIG_HEADER_LEN];
	h.caps = caps;
	sl = 0;
	put(b, mig_enc_header(b, &h));
}

static void s_start(void)
{
	s_start_with(RAM_PAGES, MIG_CAP_VALIDATE_RAM);
}

/* The contents the tests send for a NORMAL page and a section. */
static void page_pattern(u8 *p, u64 gfn)
{
	for (int i = 0; i < MIG_PAGE_SIZE; i++)
		p[i] = (u8)(i * 7 + gfn * 13 + (i >> 8));
}

static u8 sec_byte(u32 id, u32 i)
{
	return (u8)(id * 31 + i * 3 + (i >> 9));
}

static void s_pages(u16 count)
{
	u8 b[3];
	put(b, mig_enc_pages_begin(b, count));
}

static void s_page(u64 gfn, int fill)
{
	static u8 page[MIG_PAGE_SIZE], e[MIG_PAGE_ENTRY_MAX];
	if (fill >= 0)
		memset(page, fill, sizeof(page));
	else
		page_pattern(page, gfn);
	put(e, mig_enc_page(e, gfn, page));
}

static void s_section(u32 id, u32 version, u32 len)
{
	u8 b[13];
	put(b, mig_enc_section_begin(b, id, version, len));
	for (u32 i = 0; i < len; i++) {
		u8 c = sec_byte(id, i);
		put(&c, 1);
	}
}

static void s_round(u32 r)
{
	u8 b[5];
	put(b, mig_enc_round(b, r));
}

static void s_end(bool has, u64 digest)
{
	u8 b[10];
	put(b, mig_enc_end(b, has, digest));
}

static void s_go(void)
{
	u8 b[1];
	put(b, mig_enc_go(b));
}

static void s_map(u64 first, const u64 *words, u16 nwords)
{
	static u8 b[MIG_MAP_HDR_LEN + 8 * (MIG_MAP_WORDS_MAX + 1)];
	CHECK(nwords <= MIG_MAP_WORDS_MAX + 1);
	put(b, mig_enc_map(b, first, words, nwords));
}

/* A MAP of one word. */
static void s_map1(u64 first, u64 word)
{
	s_map(first, &word, 1);
}

static void s_postcopy(u64 id)
{
	u8 b[9];
	put(b, mig_enc_postcopy(b, id));
}

static void s_resume(u64 id)
{
	u8 b[9];
	put(b, mig_enc_resume(b, id));
}

/* ---- recording what the decoder reports ---- */

struct ev {
	char type; /* H header, P page, F fill, S section, R round, E end, G go,
		    * M map, C postcopy, U resume */
	u64 a, b, c;
	int ok; /* the data was what was sent */
};

struct rec {
	struct ev ev[80];
	int n;
	int fail_at; /* the callback of event number fail_at refuses (-1: none) */
	bool silent; /* ... without a reason */
};

static int add(struct rec *r, struct ev e, char *why, size_t len)
{
	CHECK(r->n < (int)ARRAY_SIZE(r->ev));
	r->ev[r->n] = e;
	if (r->n++ == r->fail_at) {
		if (!r->silent)
			snprintf(why, len, "test: refusing event %d", r->fail_at);
		return -1;
	}
	return 0;
}

static int cb_header(void *ctx, const struct mig_header *h, char *why, size_t len)
{
	struct mig_header want = hdr(h->ram_size);
	want.caps = h->caps; /* the tests send several; c records which */
	int ok = !memcmp(h, &want, sizeof(want));
	return add(ctx, (struct ev){ 'H', h->ram_size, h->tsc_hz, h->caps, ok }, why, len);
}

static int cb_page(void *ctx, u64 gfn, const u8 *data, char *why, size_t len)
{
	u8 want[MIG_PAGE_SIZE];
	page_pattern(want, gfn);
	return add(ctx, (struct ev){ 'P', gfn, 0, 0, !memcmp(data, want, sizeof(want)) }, why, len);
}

static int cb_fill(void *ctx, u64 gfn, u8 byte, char *why, size_t len)
{
	return add(ctx, (struct ev){ 'F', gfn, byte, 0, 1 }, why, len);
}

static int cb_section(void *ctx, u32 id, u32 version, const u8 *data, u32 dlen, char *why,
		      size_t len)
{
	int ok = data != NULL;
	for (u32 i = 0; ok && i < dlen; i++)
		ok = data[i] == sec_byte(id, i);
	return add(ctx, (struct ev){ 'S', id, version, dlen, ok }, why, len);
}

static int cb_round(void *ctx, u32 round, char *why, size_t len)
{
	return add(ctx, (struct ev){ 'R', round, 0, 0, 1 }, why, len);
}

static int cb_end(void *ctx, bool has, u64 digest, char *why, size_t len)
{
	return add(ctx, (struct ev){ 'E', has, digest, 0, 1 }, why, len);
}

static struct mig_dec dec;

/* b: whether the post-copy live phase had begun when GO was reported. */
static int cb_go(void *ctx, char *why, size_t len)
{
	return add(ctx, (struct ev){ 'G', 0, dec.postcopy_live, 0, 1 }, why, len);
}

/* The words, folded: what the tests compare. */
static u64 words_hash(const u64 *words, u16 nwords)
{
	u64 h = 0;
	for (u16 i = 0; i < nwords; i++)
		h = (h ^ words[i]) * 0x100000001b3ULL + i;
	return h;
}

static int cb_map(void *ctx, u64 first, const u64 *words, u16 nwords, char *why, size_t len)
{
	int ok = words && (uintptr_t)words % _Alignof(u64) == 0 && !dec.postcopy_live;
	return add(ctx, (struct ev){ 'M', first, nwords, words_hash(words, nwords), ok }, why, len);
}

static int cb_postcopy(void *ctx, u64 id, char *why, size_t len)
{
	return add(ctx, (struct ev){ 'C', id, dec.postcopy_live, 0, 1 }, why, len);
}

static int cb_resume(void *ctx, u64 id, char *why, size_t len)
{
	return add(ctx, (struct ev){ 'U', id, dec.postcopy_live, 0, 1 }, why, len);
}

static const struct mig_dec_ops ops = {
	.header = cb_header,
	.page = cb_page,
	.fill = cb_fill,
	.section = cb_section,
	.round = cb_round,
	.end = cb_end,
	.go = cb_go,
	.map = cb_map,
	.postcopy = cb_postcopy,
	.resume = cb_resume,
};

static void rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	r->fail_at = -1;
}

/* Feed sb[0..sl) in pieces: cuts[] are the piece lengths (the rest after
 * them goes in one piece). Returns the total consumed. */
static size_t feed_cuts(struct rec *r, const size_t *cuts, int ncuts)
{
	size_t pos = 0, used = 0;
	mig_dec_init(&dec, &ops, r);
	for (int i = 0; i <= ncuts; i++) {
		size_t n = i < ncuts ? MIN(cuts[i], sl - pos) : sl - pos;
		size_t got = mig_dec_feed(&dec, sb + pos, n);
		CHECK(got <= n);
		CHECK_EQ(dec.bytes, used + got);
		/* Short only once the stream is over. */
		if (got < n)
			CHECK(dec.status != MIG_DEC_OK);
		used += got;
		pos += n;
	}
	return used;
}

static size_t feed_whole(struct rec *r)
{
	return feed_cuts(r, NULL, 0);
}

static void same_events(const struct rec *a, const struct rec *b)
{
	CHECK_EQ(a->n, b->n);
	for (int i = 0; i < a->n; i++) {
		CHECK_EQ(a->ev[i].type, b->ev[i].type);
		CHECK_EQ(a->ev[i].a, b->ev[i].a);
		CHECK_EQ(a->ev[i].b, b->ev[i].b);
		CHECK_EQ(a->ev[i].c, b->ev[i].c);
		CHECK_EQ(a->ev[i].ok, b->ev[i].ok);
	}
}

/* ---- encoder ---- */

TEST(header_bytes_exact)
{
	struct mig_header h = hdr(64ULL << 20);
	h.fp.pad = 0xdeadbeef; /* reserved: never sent */
	u8 b[MIG_HEADER_LEN + 8];
	memset(b, 0xee, sizeof(b));
	CHECK_EQ(MIG_HEADER_LEN, 80);
	CHECK_EQ(mig_enc_header(b, &h), 80);
	static const u8 want[80] = {
		'T', 'E', 'R', 'N', 'M', 'I', 'G', '1',
		1, 0, 0, 0,                   /* version */
		0x00, 0x10, 0, 0,             /* page size 4096 */
		0, 0, 0, 4, 0, 0, 0, 0,       /* 64 MiB */
		0x00, 0x5e, 0xd0, 0xb2, 0, 0, 0, 0, /* 3000000000 */
		1, 0, 0, 0,                   /* caps */
		40, 0, 0, 0,                  /* fp_len */
		0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22,
		0x33, 0x33, 0x33, 0x33, 0x44, 0x44, 0x44, 0x44,
		0x55, 0x55, 0x55, 0x55, 0x66, 0x66, 0x66, 0x66,
		0x77, 0x77, 0x77, 0x77, 0, 0, 0, 0,
		7, 0, 0, 0, 0, 0, 0, 0x80,    /* xcr0 */
	};
	CHECK(!memcmp(b, want, 80));
	CHECK_EQ(b[80], 0xee);
}

TEST(record_bytes_exact)
{
	u8 b[16];
	memset(b, 0, sizeof(b));
	CHECK_EQ(mig_enc_pages_begin(b, 0x1234), 3);
	CHECK(!memcmp(b, "\x01\x34\x12", 3));
	CHECK_EQ(mig_enc_section_begin(b, 0x01020304, 7, 0xa0b0c0d0), 13);
	CHECK(!memcmp(b, "\x02\x04\x03\x02\x01\x07\x00\x00\x00\xd0\xc0\xb0\xa0", 13));
	CHECK_EQ(mig_enc_round(b, 0x11223344), 5);
	CHECK(!memcmp(b, "\x03\x44\x33\x22\x11", 5));
	memset(b, 0xee, sizeof(b));
	CHECK_EQ(mig_enc_end(b, false, 0x1234), 2);
	CHECK(!memcmp(b, "\x04\x00\xee", 3));
	CHECK_EQ(mig_enc_end(b, true, 0x0102030405060708ULL), 10);
	CHECK(!memcmp(b, "\x04\x01\x08\x07\x06\x05\x04\x03\x02\x01", 10));
	CHECK_EQ(mig_enc_go(b), 1);
	CHECK_EQ(b[0], 5);
	CHECK_EQ(mig_enc_accept(b), 1);
	CHECK_EQ(b[0], 0x81);
	CHECK_EQ(mig_enc_ack(b), 1);
	CHECK_EQ(b[0], 0x83);
}

TEST(refuse_bytes_and_cut)
{
	u8 b[3 + MIG_REASON_MAX + 8];
	memset(b, 0xee, sizeof(b));
	CHECK_EQ(mig_enc_refuse(b, "no"), 5);
	CHECK(!memcmp(b, "\x82\x02\x00no\xee", 6));
	CHECK_EQ(mig_enc_refuse(b, ""), 3);
	CHECK(!memcmp(b, "\x82\x00\x00", 3));
	char longer[400];
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	memset(b, 0xee, sizeof(b));
	CHECK_EQ(mig_enc_refuse(b, longer), 3 + MIG_REASON_MAX);
	CHECK_EQ(b[1], MIG_REASON_MAX);
	CHECK_EQ(b[2], 0);
	CHECK_EQ(b[3 + MIG_REASON_MAX], 0xee);
}

TEST(page_uniform_and_fill_choice)
{
	static u8 page[MIG_PAGE_SIZE], e[MIG_PAGE_ENTRY_MAX];
	u8 byte = 0;
	memset(page, 0xab, sizeof(page));
	CHECK(mig_page_uniform(page, &byte));
	CHECK_EQ(byte, 0xab);
	CHECK_EQ(mig_enc_page(e, 0x0102030405060708ULL, page), 10);
	CHECK(!memcmp(e, "\x08\x07\x06\x05\x04\x03\x02\x01\x01\xab", 10));
	static const int spots[] = { 0, 1, 7, 8, 2048, 4095 };
	for (size_t i = 0; i < ARRAY_SIZE(spots); i++) {
		memset(page, 0, sizeof(page));
		page[spots[i]] = 1;
		CHECK(!mig_page_uniform(page, &byte));
		CHECK_EQ(mig_enc_page(e, 9, page), MIG_PAGE_ENTRY_MAX);
		CHECK_EQ(MIG_PAGE_ENTRY_MAX, 8 + 1 + 4096);
		CHECK_EQ(e[0], 9);
		CHECK_EQ(e[8], MIG_PAGE_NORMAL);
		CHECK(!memcmp(e + 9, page, MIG_PAGE_SIZE));
	}
}

/* ---- digest ---- */

#define DIG_PAGES 8
static u8 ram[DIG_PAGES * MIG_PAGE_SIZE];

static void ram_fill(void)
{
	for (int p = 0; p < DIG_PAGES; p++)
		page_pattern(ram + p * MIG_PAGE_SIZE, (u64)p);
}

TEST(digest_is_deterministic_and_size_sensitive)
{
	ram_fill();
	u64 d = mig_ram_digest(ram, sizeof(ram));
	CHECK_EQ(mig_ram_digest(ram, sizeof(ram)), d);
	CHECK(mig_ram_digest(ram, sizeof(ram) - MIG_PAGE_SIZE) != d);
	/* All-zero RAM of two sizes must differ too. */
	static u8 zero[2 * MIG_PAGE_SIZE];
	CHECK(mig_ram_digest(zero, MIG_PAGE_SIZE) != mig_ram_digest(zero, 2 * MIG_PAGE_SIZE));
}

TEST(digest_sees_every_single_byte_change)
{
	ram_fill();
	u64 d = mig_ram_digest(ram, sizeof(ram));
	/* Every byte of the first and last page and a stride through the
	 * middle, each flipped to two other values. */
	for (size_t i = 0; i < sizeof(ram);
	     i += i < MIG_PAGE_SIZE || i >= sizeof(ram) - MIG_PAGE_SIZE ? 1 : 97) {
		u8 old = ram[i];
		ram[i] = old ^ 0x01;
		CHECK(mig_ram_digest(ram, sizeof(ram)) != d);
		ram[i] = old ^ 0x80;
		CHECK(mig_ram_digest(ram, sizeof(ram)) != d);
		ram[i] = old;
	}
	CHECK_EQ(mig_ram_digest(ram, sizeof(ram)), d);
}

TEST(digest_corrupted_page_byte)
{
	/* What validate-ram exists for: one byte of one page arrived wrong. */
	ram_fill();
	u64 d = mig_ram_digest(ram, sizeof(ram));
	ram[3 * MIG_PAGE_SIZE + 1234]++;
	CHECK(mig_ram_digest(ram, sizeof(ram)) != d);
}

TEST(digest_sees_page_order)
{
	ram_fill();
	u64 d = mig_ram_digest(ram, sizeof(ram));
	static u8 tmp[MIG_PAGE_SIZE];
	/* Swap pages 2 and 5. */
	memcpy(tmp, ram + 2 * MIG_PAGE_SIZE, MIG_PAGE_SIZE);
	memcpy(ram + 2 * MIG_PAGE_SIZE, ram + 5 * MIG_PAGE_SIZE, MIG_PAGE_SIZE);
	memcpy(ram + 5 * MIG_PAGE_SIZE, tmp, MIG_PAGE_SIZE);
	CHECK(mig_ram_digest(ram, sizeof(ram)) != d);
	/* The same page contents at another gfn: a page sent to gfn+1. */
	memset(ram, 0, sizeof(ram));
	ram[100] = 1;
	u64 at0 = mig_ram_digest(ram, sizeof(ram));
	ram[100] = 0;
	ram[MIG_PAGE_SIZE + 100] = 1;
	CHECK(mig_ram_digest(ram, sizeof(ram)) != at0);
	/* Two words swapped inside a page. */
	ram_fill();
	u8 w[8];
	memcpy(w, ram + 64, 8);
	memcpy(ram + 64, ram + 72, 8);
	memcpy(ram + 72, w, 8);
	CHECK(mig_ram_digest(ram, sizeof(ram)) != d);
}

/* ---- decoder: chunking ---- */

static size_t full_len; /* without the trailing bytes */

static void build_full(void)
{
	s_start();
	s_round(1);
	s_pages(3);
	s_page(0, -1);
	s_page(1, 0x00);
	s_page(RAM_PAGES - 1, -1);
	s_section(MIG_SEC_CPU, 1, 0);
	s_section(MIG_SEC_TIMER, 3, 1);
	s_pages(1);
	s_page(5, 0xab);
	s_round(2);
	s_section(MIG_SEC_UART, 1, 100);
	s_section(MIG_SEC_TIME, 2, MIG_SECTION_MAX);
	s_pages(2);
	s_page(2, -1);
	s_page(3, 0xff);
	s_round(7);
	s_end(true, 0x1122334455667788ULL);
	s_go();
	full_len = sl;
	put("XYZ", 3); /* after GO: never consumed */
}

static const struct ev full_events[] = {
	{ 'H', RAM_PAGES * MIG_PAGE_SIZE, 3000000000ULL, MIG_CAP_VALIDATE_RAM, 1 },
	{ 'R', 1, 0, 0, 1 },
	{ 'P', 0, 0, 0, 1 },
	{ 'F', 1, 0x00, 0, 1 },
	{ 'P', RAM_PAGES - 1, 0, 0, 1 },
	{ 'S', MIG_SEC_CPU, 1, 0, 1 },
	{ 'S', MIG_SEC_TIMER, 3, 1, 1 },
	{ 'F', 5, 0xab, 0, 1 },
	{ 'R', 2, 0, 0, 1 },
	{ 'S', MIG_SEC_UART, 1, 100, 1 },
	{ 'S', MIG_SEC_TIME, 2, MIG_SECTION_MAX, 1 },
	{ 'P', 2, 0, 0, 1 },
	{ 'F', 3, 0xff, 0, 1 },
	{ 'R', 7, 0, 0, 1 },
	{ 'E', 1, 0x1122334455667788ULL, 0, 1 },
	{ 'G', 0, 0, 0, 1 },
};

static struct rec ref;

static void check_full(const struct rec *r, size_t used)
{
	CHECK_EQ(dec.status, MIG_DEC_DONE);
	CHECK_STR_EQ(dec.error, "");
	CHECK_EQ(used, full_len);
	same_events(r, &ref);
}

TEST(decode_whole_stream)
{
	build_full();
	CHECK_EQ(full_len, 80 + 5 + 3 + 4105 + 10 + 4105 + 13 + 14 + 3 + 10 + 5 + 113 +
				   13 + MIG_SECTION_MAX + 3 + 4105 + 10 + 5 + 10 + 1);
	rec_init(&ref);
	size_t used = feed_whole(&ref);
	CHECK_EQ(dec.status, MIG_DEC_DONE);
	CHECK_EQ(used, full_len);
	CHECK_EQ(dec.ram_size, RAM_PAGES * MIG_PAGE_SIZE);
	CHECK_EQ(ref.n, (int)ARRAY_SIZE(full_events));
	struct rec want;
	rec_init(&want);
	memcpy(want.ev, full_events, sizeof(full_events));
	want.n = ARRAY_SIZE(full_events);
	same_events(&ref, &want);
	/* Done: later bytes are not consumed. */
	CHECK_EQ(mig_dec_feed(&dec, sb, 10), 0);
	CHECK_EQ(dec.status, MIG_DEC_DONE);
	CHECK_EQ(ref.n, (int)ARRAY_SIZE(full_events));
}

TEST(decode_byte_by_byte)
{
	build_full();
	rec_init(&ref);
	feed_whole(&ref);
	struct rec r;
	rec_init(&r);
	mig_dec_init(&dec, &ops, &r);
	size_t used = 0;
	for (size_t i = 0; i < sl; i++)
		used += mig_dec_feed(&dec, sb + i, 1);
	check_full(&r, used);
}

TEST(decode_every_two_piece_split)
{
	build_full();
	rec_init(&ref);
	feed_whole(&ref);
	static struct rec r;
	for (size_t cut = 0; cut <= sl; cut++) {
		rec_init(&r);
		check_full(&r, feed_cuts(&r, &cut, 1));
	}
}

TEST(decode_random_chunks)
{
	build_full();
	rec_init(&ref);
	feed_whole(&ref);
	static struct rec r;
	u64 x = 0x9e3779b97f4a7c15ULL;
	for (int run = 0; run < 300; run++) {
		size_t cuts[4096];
		int n = 0;
		/* Pieces from 1 byte up to 2^(run % 16): small ones split every
		 * field, large ones go through the no-copy path. */
		size_t total = 0, scale = (size_t)1 << (run % 16);
		while (total < sl && n < (int)ARRAY_SIZE(cuts)) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			cuts[n] = 1 + (size_t)(x % scale);
			total += cuts[n++];
		}
		rec_init(&r);
		check_full(&r, feed_cuts(&r, cuts, n));
	}
}

TEST(decode_empty_feeds_change_nothing)
{
	build_full();
	rec_init(&ref);
	mig_dec_init(&dec, &ops, &ref);
	CHECK_EQ(mig_dec_feed(&dec, sb, 0), 0);
	CHECK_EQ(mig_dec_feed(&dec, sb, 40), 40);
	CHECK_EQ(mig_dec_feed(&dec, sb + 40, 0), 0);
	CHECK_EQ(ref.n, 0);
	CHECK_EQ(mig_dec_feed(&dec, sb + 40, 40), 40);
	CHECK_EQ(ref.n, 1);
	CHECK_EQ(dec.status, MIG_DEC_OK);
}

TEST(decode_null_ops_accept_everything)
{
	build_full();
	static const struct mig_dec_ops none;
	mig_dec_init(&dec, &none, NULL);
	CHECK_EQ(mig_dec_feed(&dec, sb, sl), full_len);
	CHECK_EQ(dec.status, MIG_DEC_DONE);
	mig_dec_init(&dec, NULL, NULL);
	CHECK_EQ(mig_dec_feed(&dec, sb, sl), full_len);
	CHECK_EQ(dec.status, MIG_DEC_DONE);
	/* Only some callbacks set. */
	struct mig_dec_ops some = { 0 };
	some.round = cb_round;
	some.go = cb_go;
	struct rec r;
	rec_init(&r);
	mig_dec_init(&dec, &some, &r);
	CHECK_EQ(mig_dec_feed(&dec, sb, sl), full_len);
	CHECK_EQ(r.n, 4);
	CHECK_EQ(r.ev[2].a, 7);
	CHECK_EQ(r.ev[3].type, 'G');
}

TEST(decode_truncated_stream_waits)
{
	build_full();
	struct rec r;
	rec_init(&r);
	mig_dec_init(&dec, &ops, &r);
	CHECK_EQ(mig_dec_feed(&dec, sb, full_len - 1), full_len - 1);
	CHECK_EQ(dec.status, MIG_DEC_OK); /* the caller decides what EOF now means */
	CHECK_EQ(r.n, (int)ARRAY_SIZE(full_events) - 1);
}

/* ---- decoder: refusals ---- */

/*
 * sb[0..sl) must fail with exactly msg, having consumed exactly used bytes
 * and seen nev events, fed whole and byte by byte alike; afterwards nothing
 * more is consumed.
 */
static void refused(const char *msg, size_t used, int nev)
{
	struct rec r;
	rec_init(&r);
	mig_dec_init(&dec, &ops, &r);
	CHECK_EQ(mig_dec_feed(&dec, sb, sl), used);
	CHECK_EQ(dec.status, MIG_DEC_ERROR);
	CHECK_STR_EQ(dec.error, msg);
	CHECK_EQ(r.n, nev);
	CHECK_EQ(mig_dec_feed(&dec, sb, sl), 0);
	CHECK_EQ(mig_dec_feed(&dec, (const u8 *)"\x05", 1), 0);
	CHECK_EQ(dec.status, MIG_DEC_ERROR);
	CHECK_STR_EQ(dec.error, msg);

	rec_init(&r);
	mig_dec_init(&dec, &ops, &r);
	size_t total = 0;
	for (size_t i = 0; i < sl; i++)
		total += mig_dec_feed(&dec, sb + i, 1);
	CHECK_EQ(total, used);
	CHECK_STR_EQ(dec.error, msg);
	CHECK_EQ(r.n, nev);
}

static void s_header_patch(size_t off, const void *p, size_t n)
{
	s_start();
	memcpy(sb + off, p, n);
}

TEST(refuse_bad_magic)
{
	s_start();
	memcpy(sb, "GET / HT", 8);
	refused("stream: byte 0: magic \"GET / HT\" is not \"TERNMIG1\" (not a Tern migration stream)",
		8, 0);
	s_start();
	sb[7] = '2';
	refused("stream: byte 0: magic \"TERNMIG2\" is not \"TERNMIG1\" (not a Tern migration stream)",
		8, 0);
	s_start();
	sb[0] = 0;
	sb[1] = '"';
	refused("stream: byte 0: magic \"..RNMIG1\" is not \"TERNMIG1\" (not a Tern migration stream)",
		8, 0);
}

TEST(refuse_header_fields)
{
	s_header_patch(8, "\x02\0\0\0", 4);
	refused("stream: byte 8: version 2 (this end speaks 1)", 40, 0);
	s_header_patch(12, "\x00\x20\0\0", 4);
	refused("stream: byte 12: page size 8192 (expected 4096)", 40, 0);
	s_header_patch(16, "\0\0\0\0\0\0\0\0", 8);
	refused("stream: byte 16: RAM size 0 (a nonzero multiple of 4096, at most 68719476736)", 40, 0);
	s_header_patch(16, "\x01\x10\0\0\0\0\0\0", 8);
	refused("stream: byte 16: RAM size 4097 (a nonzero multiple of 4096, at most 68719476736)", 40,
		0);
	s_header_patch(16, "\0\x10\0\0\x10\0\0\0", 8);
	refused("stream: byte 16: RAM size 68719480832 (a nonzero multiple of 4096, at most "
		"68719476736)",
		40, 0);
	s_header_patch(32, "\x07\0\0\0", 4);
	refused("stream: byte 32: unknown capabilities 0x4", 40, 0);
	s_header_patch(32, "\x00\0\0\x80", 4);
	refused("stream: byte 32: unknown capabilities 0x80000000", 40, 0);
	s_header_patch(36, "\x2c\0\0\0", 4);
	refused("stream: byte 36: CPU fingerprint length 44 (expected 40)", 40, 0);
	s_header_patch(68, "\x01\0\0\0", 4);
	refused("stream: byte 68: CPU fingerprint reserved word 0x1 (must be 0)", 80, 0);
}

TEST(header_limits_accepted)
{
	/* The largest RAM, and the smallest. */
	s_header_patch(16, "\0\0\0\0\x10\0\0\0", 8);
	struct rec r;
	rec_init(&r);
	mig_dec_init(&dec, &ops, &r);
	CHECK_EQ(mig_dec_feed(&dec, sb, sl), 80);
	CHECK_EQ(dec.status, MIG_DEC_OK);
	CHECK_EQ(dec.ram_size, MIG_RAM_MAX);
	CHECK_EQ(r.n, 1);
	CHECK_EQ(r.ev[0].ok, 1);
	s_header_patch(16, "\0\x10\0\0\0\0\0\0", 8);
	s_pages(1);
	s_page(0, 3);
	rec_init(&r);
	mig_dec_init(&dec, &ops, &r);
	CHECK_EQ(mig_dec_feed(&dec, sb, sl), sl);
	CHECK_EQ(r.n, 2);
	CHECK_EQ(r.ev[1].type, 'F');
}

TEST(refuse_page_counts)
{
	s_start();
	s_pages(0);
	refused("stream: byte 81: page count 0 (1..64)", 83, 1);
	s_start();
	s_pages(65);
	refused("stream: byte 81: page count 65 (1..64)", 83, 1);
	/* 64 is fine. */
	s_start();
	s_pages(MIG_BATCH_MAX);
	for (int i = 0; i < MIG_BATCH_MAX; i++)
		s_page((u64)i, i);
	s_round(1);
	struct rec r;
	rec_init(&r);
	mig_dec_init(&dec, &ops, &r);
	CHECK_EQ(mig_dec_feed(&dec, sb, sl), sl);
	CHECK_EQ(dec.status, MIG_DEC_OK);
	CHECK_EQ(r.n, 1 + MIG_BATCH_MAX + 1);
	CHECK_EQ(r.ev[MIG_BATCH_MAX].a, MIG_BATCH_MAX - 1);
	CHECK_EQ(r.ev[MIG_BATCH_MAX + 1].type, 'R');
}

TEST(refuse_gfn_outside_ram)
{
	s_start();
	s_pages(2);
	s_page(RAM_PAGES - 1, 1);
	s_page(RAM_PAGES, 1);
	/* 80 header, 3 PAGES, 10 first entry: the second gfn at 93. */
	refused("stream: byte 93: gfn 0x40 outside RAM (64 pages)", 102, 2);
	s_start();
	s_pages(1);
	s_page(~0ULL, -1);
	refused("stream: byte 83: gfn 0xffffffffffffffff outside RAM (64 pages)", 92, 1);
}

TEST(refuse_page_kind)
{
	s_start();
	s_pages(1);
	s_page(4, 9);
	sb[83 + 8] = 2;
	refused("stream: byte 91: unknown page kind 2 (gfn 0x4)", 92, 1);
}

TEST(refuse_unknown_record)
{
	s_start();
	s_round(1);
	put("\x42", 1);
	refused("stream: byte 85: unknown record type 0x42", 86, 2);
	s_start();
	put("\x00", 1);
	refused("stream: byte 80: unknown record type 0x00", 81, 1);
	/* A reply in the wrong direction. */
	s_start();
	put("\x81", 1);
	refused("stream: byte 80: unknown record type 0x81", 81, 1);
	/* A second header. */
	s_start();
	put(sb, 80);
	refused("stream: byte 80: unknown record type 0x54", 81, 1);
}

TEST(refuse_section_length)
{
	s_start();
	u8 b[13];
	put(b, mig_enc_section_begin(b, MIG_SEC_CPU, 1, MIG_SECTION_MAX + 1));
	refused("stream: byte 89: section 1 length 16385 (at most 16384)", 93, 1);
	s_start();
	put(b, mig_enc_section_begin(b, 9, 1, 0xffffffff));
	refused("stream: byte 89: section 9 length 4294967295 (at most 16384)", 93, 1);
}

TEST(refuse_rounds_not_increasing)
{
	s_start();
	s_round(0);
	refused("stream: byte 81: round 0 (rounds start at 1)", 85, 1);
	s_start();
	s_round(3);
	s_round(3);
	refused("stream: byte 86: round 3 after round 3 (rounds must increase)", 90, 2);
	s_start();
	s_round(5);
	s_round(4);
	refused("stream: byte 86: round 4 after round 5 (rounds must increase)", 90, 2);
}

TEST(refuse_after_end)
{
	s_start();
	s_end(false, 0);
	s_pages(1);
	refused("stream: byte 82: PAGES record after END (only GO may follow)", 83, 2);
	s_start();
	s_end(true, 1);
	s_end(true, 1);
	refused("stream: byte 90: END record after END (only GO may follow)", 91, 2);
	s_start();
	s_end(false, 0);
	s_round(1);
	refused("stream: byte 82: ROUND record after END (only GO may follow)", 83, 2);
	s_start();
	s_end(false, 0);
	s_section(1, 1, 0);
	refused("stream: byte 82: SECTION record after END (only GO may follow)", 83, 2);
	s_start();
	s_end(false, 0);
	put("\x99", 1);
	refused("stream: byte 82: unknown record type 0x99 after END (only GO may follow)", 83, 2);
	s_start();
	put("\x04\x02", 2);
	refused("stream: byte 81: END digest flag 2 (0 or 1)", 82, 1);
}

TEST(refuse_go_before_end)
{
	s_start();
	s_round(1);
	s_go();
	refused("stream: byte 85: GO before END or POSTCOPY", 86, 2);
	s_start();
	s_go();
	refused("stream: byte 80: GO before END or POSTCOPY", 81, 1);
}

TEST(end_without_digest_then_go)
{
	s_start();
	s_end(false, 0);
	s_go();
	put("\x05\x05", 2);
	struct rec r;
	rec_init(&r);
	mig_dec_init(&dec, &ops, &r);
	CHECK_EQ(mig_dec_feed(&dec, sb, sl), 83);
	CHECK_EQ(dec.status, MIG_DEC_DONE);
	CHECK_EQ(r.n, 3);
	CHECK_EQ(r.ev[1].type, 'E');
	CHECK_EQ(r.ev[1].a, 0);
	CHECK_EQ(r.ev[1].b, 0);
	CHECK_EQ(r.ev[2].type, 'G');
}

TEST(callback_refusal_stops_with_its_reason)
{
	build_full();
	for (int at = 0; at < (int)ARRAY_SIZE(full_events); at++) {
		struct rec r;
		rec_init(&r);
		r.fail_at = at;
		mig_dec_init(&dec, &ops, &r);
		size_t used = mig_dec_feed(&dec, sb, sl);
		CHECK(used < sl);
		CHECK_EQ(dec.status, MIG_DEC_ERROR);
		char want[64];
		snprintf(want, sizeof(want), "test: refusing event %d", at);
		CHECK_STR_EQ(dec.error, want);
		CHECK_EQ(r.n, at + 1);
		CHECK_EQ(mig_dec_feed(&dec, sb + used, sl - used), 0);
		CHECK_EQ(r.n, at + 1);
	}
}

TEST(callback_refusal_without_reason)
{
	build_full();
	struct rec r;
	rec_init(&r);
	r.fail_at = 3; /* the fill of gfn 1: its byte at 80 + 5 + 3 + 4105 + 9 */
	r.silent = true;
	mig_dec_init(&dec, &ops, &r);
	CHECK_EQ(mig_dec_feed(&dec, sb, sl), 80 + 5 + 3 + 4105 + 10);
	CHECK_STR_EQ(dec.error, "stream: byte 4202: page refused by the receiver");
	rec_init(&r);
	r.fail_at = 0;
	r.silent = true;
	mig_dec_init(&dec, &ops, &r);
	CHECK_EQ(mig_dec_feed(&dec, sb, sl), 80);
	CHECK_STR_EQ(dec.error, "stream: byte 0: header refused by the receiver");
}

static int cb_round_multiline(void *ctx, u32 round, char *why, size_t len)
{
	snprintf(why, len, "two\nlines\tand a bell\a");
	return -1;
}

TEST(callback_reason_kept_to_one_line)
{
	s_start();
	s_round(1);
	struct mig_dec_ops o = { 0 };
	o.round = cb_round_multiline;
	mig_dec_init(&dec, &o, NULL);
	CHECK_EQ(mig_dec_feed(&dec, sb, sl), sl);
	CHECK_EQ(dec.status, MIG_DEC_ERROR);
	CHECK_STR_EQ(dec.error, "two?lines?and a bell?");
}

/* ---- post-copy records ---- */

TEST(postcopy_record_bytes_exact)
{
	u8 b[MIG_MAP_HDR_LEN + 16 + 8];
	memset(b, 0xee, sizeof(b));
	const u64 w[2] = { 0x1122334455667788ULL, 1 };
	CHECK_EQ(mig_enc_map(b, 0x40, w, 2), MIG_MAP_HDR_LEN + 16);
	CHECK(!memcmp(b, "\x06\x40\0\0\0\0\0\0\0\x02\x00"
			 "\x88\x77\x66\x55\x44\x33\x22\x11\x01\0\0\0\0\0\0\0\xee",
		      MIG_MAP_HDR_LEN + 17));
	memset(b, 0xee, sizeof(b));
	CHECK_EQ(mig_enc_have(b, 0x0102030405060708ULL, w + 1, 1), MIG_MAP_HDR_LEN + 8);
	CHECK(!memcmp(b, "\x85\x08\x07\x06\x05\x04\x03\x02\x01\x01\x00\x01\0\0\0\0\0\0\0\xee",
		      MIG_MAP_HDR_LEN + 9));
	CHECK_EQ(mig_enc_postcopy(b, 0x0102030405060708ULL), 9);
	CHECK(!memcmp(b, "\x07\x08\x07\x06\x05\x04\x03\x02\x01", 9));
	CHECK_EQ(mig_enc_resume(b, 0xa1), 9);
	CHECK(!memcmp(b, "\x08\xa1\0\0\0\0\0\0\0", 9));
	CHECK_EQ(mig_enc_req(b, 0x1234), 9);
	CHECK(!memcmp(b, "\x84\x34\x12\0\0\0\0\0\0", 9));
	CHECK_EQ(mig_enc_have_end(b), 1);
	CHECK_EQ(b[0], 0x86);
	CHECK_EQ(mig_enc_complete(b), 1);
	CHECK_EQ(b[0], 0x87);
}

/*
 * sb[0..sl) holds a stream of len bytes (then bytes never consumed): it
 * must end DONE in the post-copy live phase with exactly the events want,
 * fed whole, byte by byte and cut in two at every byte.
 */
static void decodes_to(const struct ev *want, int nwant, size_t len)
{
	static struct rec r, w;
	rec_init(&w);
	memcpy(w.ev, want, sizeof(*want) * (size_t)nwant);
	w.n = nwant;
	rec_init(&r);
	CHECK_EQ(feed_whole(&r), len);
	CHECK_EQ(dec.status, MIG_DEC_DONE);
	CHECK_STR_EQ(dec.error, "");
	CHECK(dec.postcopy_live);
	same_events(&r, &w);
	CHECK_EQ(mig_dec_feed(&dec, sb, 10), 0);

	rec_init(&r);
	mig_dec_init(&dec, &ops, &r);
	size_t used = 0;
	for (size_t i = 0; i < sl; i++)
		used += mig_dec_feed(&dec, sb + i, 1);
	CHECK_EQ(used, len);
	CHECK_EQ(dec.status, MIG_DEC_DONE);
	same_events(&r, &w);

	for (size_t cut = 0; cut <= sl; cut++) {
		rec_init(&r);
		CHECK_EQ(feed_cuts(&r, &cut, 1), len);
		CHECK_EQ(dec.status, MIG_DEC_DONE);
		CHECK(dec.postcopy_live);
		same_events(&r, &w);
	}
}

#define PC_PAGES 200 /* not a multiple of 64: the last MAP word is partial */
#define PC_ID 0x1234567890abcdefULL
static const u64 pc_map0[4] = { ~3ULL, ~0ULL, 0x8000000000000001ULL, 0xff };
static const u64 pc_map1[2] = { 0x10, 0x80 };
static size_t pc_len, pc_go_end; /* the stream's length; the bytes up to GO */

/* A post-copy migration: pre-copy, the state, what is still to come, POSTCOPY,
 * GO, then the pages the destination lacks, and END. */
static void build_postcopy(void)
{
	s_start_with(PC_PAGES, 0);
	s_round(1);
	s_pages(2);
	s_page(0, -1);
	s_page(1, 0);
	s_section(MIG_SEC_CPU, 1, 64);
	s_section(MIG_SEC_UART, 2, 0);
	s_map(0, pc_map0, 4);
	s_map(128, pc_map1, 2);
	s_postcopy(PC_ID);
	s_go();
	pc_go_end = sl;
	s_pages(2);
	s_page(2, -1);
	s_page(PC_PAGES - 1, 0xaa);
	s_pages(1);
	s_page(130, 1);
	s_end(false, 0);
	pc_len = sl;
	put("\x01\x01\x00", 3); /* after END: never consumed */
}

static int postcopy_events(struct ev *e)
{
	int n = 0;
	e[n++] = (struct ev){ 'H', PC_PAGES * MIG_PAGE_SIZE, 3000000000ULL, 0, 1 };
	e[n++] = (struct ev){ 'R', 1, 0, 0, 1 };
	e[n++] = (struct ev){ 'P', 0, 0, 0, 1 };
	e[n++] = (struct ev){ 'F', 1, 0, 0, 1 };
	e[n++] = (struct ev){ 'S', MIG_SEC_CPU, 1, 64, 1 };
	e[n++] = (struct ev){ 'S', MIG_SEC_UART, 2, 0, 1 };
	e[n++] = (struct ev){ 'M', 0, 4, words_hash(pc_map0, 4), 1 };
	e[n++] = (struct ev){ 'M', 128, 2, words_hash(pc_map1, 2), 1 };
	e[n++] = (struct ev){ 'C', PC_ID, 0, 0, 1 };
	e[n++] = (struct ev){ 'G', 0, 1, 0, 1 }; /* the live phase has begun */
	e[n++] = (struct ev){ 'P', 2, 0, 0, 1 };
	e[n++] = (struct ev){ 'F', PC_PAGES - 1, 0xaa, 0, 1 };
	e[n++] = (struct ev){ 'F', 130, 1, 0, 1 };
	e[n++] = (struct ev){ 'E', 0, 0, 0, 1 };
	return n;
}

TEST(decode_postcopy_stream)
{
	build_postcopy();
	CHECK_EQ(pc_len, 80 + 5 + 3 + 4105 + 10 + 77 + 13 + 43 + 27 + 9 + 1 + 3 + 4105 + 10 + 13 + 2);
	struct ev want[16];
	decodes_to(want, postcopy_events(want), pc_len);
}

TEST(postcopy_go_keeps_the_stream_open)
{
	build_postcopy();
	struct rec r;
	rec_init(&r);
	mig_dec_init(&dec, &ops, &r);
	CHECK_EQ(mig_dec_feed(&dec, sb, pc_go_end - 1), pc_go_end - 1);
	CHECK(!dec.postcopy_live); /* POSTCOPY alone does not start it */
	CHECK_EQ(mig_dec_feed(&dec, sb + pc_go_end - 1, 1), 1);
	CHECK_EQ(dec.status, MIG_DEC_OK);
	CHECK(dec.postcopy_live);
	CHECK_EQ(r.n, 10);
	CHECK_EQ(r.ev[9].type, 'G');
	/* Everything up to END is consumed, the stream still open. */
	CHECK_EQ(mig_dec_feed(&dec, sb + pc_go_end, pc_len - pc_go_end - 1), pc_len - pc_go_end - 1);
	CHECK_EQ(dec.status, MIG_DEC_OK);
	CHECK_EQ(mig_dec_feed(&dec, sb + pc_len - 1, 4), 1);
	CHECK_EQ(dec.status, MIG_DEC_DONE);
	CHECK_EQ(r.n, 14);
	/* NULL callbacks take the same stream. */
	mig_dec_init(&dec, NULL, NULL);
	CHECK_EQ(mig_dec_feed(&dec, sb, sl), pc_len);
	CHECK_EQ(dec.status, MIG_DEC_DONE);
	CHECK(dec.postcopy_live);
}

#define RS_ID 0xfeedULL

static size_t build_resumed(void)
{
	s_start_with(RAM_PAGES, MIG_CAP_RESUME | MIG_CAP_VALIDATE_RAM);
	s_resume(RS_ID);
	s_pages(2);
	s_page(5, 7);
	s_page(RAM_PAGES - 1, -1);
	s_end(false, 0);
	size_t len = sl;
	put("\x05\x04", 2);
	return len;
}

TEST(decode_resumed_stream)
{
	size_t len = build_resumed();
	CHECK_EQ(len, 80 + 9 + 3 + 10 + 4105 + 2);
	static const struct ev want[] = {
		{ 'H', RAM_PAGES * MIG_PAGE_SIZE, 3000000000ULL, MIG_CAP_RESUME | MIG_CAP_VALIDATE_RAM, 1 },
		{ 'U', RS_ID, 1, 0, 1 }, /* live from RESUME on */
		{ 'F', 5, 7, 0, 1 },
		{ 'P', RAM_PAGES - 1, 0, 0, 1 },
		{ 'E', 0, 0, 0, 1 },
	};
	decodes_to(want, ARRAY_SIZE(want), len);
}

TEST(postcopy_callback_refusals)
{
	build_postcopy();
	struct ev want[16];
	int n = postcopy_events(want);
	for (int at = 0; at < n; at++) {
		struct rec r;
		rec_init(&r);
		r.fail_at = at;
		mig_dec_init(&dec, &ops, &r);
		size_t used = mig_dec_feed(&dec, sb, sl);
		CHECK(used <= pc_len);
		CHECK_EQ(dec.status, MIG_DEC_ERROR);
		char msg[64];
		snprintf(msg, sizeof(msg), "test: refusing event %d", at);
		CHECK_STR_EQ(dec.error, msg);
		CHECK_EQ(r.n, at + 1);
	}
	/* Without a reason: named after the record, at its first field. */
	static const struct {
		int at;
		const char *msg;
	} silent[] = {
		{ 6, "stream: byte 4294: MAP refused by the receiver" },
		{ 8, "stream: byte 4364: POSTCOPY refused by the receiver" },
		{ 9, "stream: byte 4372: GO refused by the receiver" },
		{ 13, "stream: byte 8505: END refused by the receiver" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(silent); i++) {
		struct rec r;
		rec_init(&r);
		r.fail_at = silent[i].at;
		r.silent = true;
		mig_dec_init(&dec, &ops, &r);
		mig_dec_feed(&dec, sb, sl);
		CHECK_STR_EQ(dec.error, silent[i].msg);
	}
	build_resumed();
	struct rec r;
	rec_init(&r);
	r.fail_at = 1;
	r.silent = true;
	mig_dec_init(&dec, &ops, &r);
	CHECK_EQ(mig_dec_feed(&dec, sb, sl), 89);
	CHECK_STR_EQ(dec.error, "stream: byte 81: RESUME refused by the receiver");
}

TEST(map_limits_accepted)
{
	/* MIG_MAP_WORDS_MAX words, all set, over RAM of exactly that many pages. */
	static u64 w[MIG_MAP_WORDS_MAX];
	memset(w, 0xff, sizeof(w));
	s_start_with(64 * MIG_MAP_WORDS_MAX, 0);
	s_map(0, w, MIG_MAP_WORDS_MAX);
	s_round(1);
	struct rec r;
	rec_init(&r);
	mig_dec_init(&dec, &ops, &r);
	CHECK_EQ(mig_dec_feed(&dec, sb, sl), sl);
	CHECK_EQ(dec.status, MIG_DEC_OK);
	CHECK_EQ(r.n, 3);
	CHECK_EQ(r.ev[1].type, 'M');
	CHECK_EQ(r.ev[1].b, MIG_MAP_WORDS_MAX);
	CHECK_EQ(r.ev[1].c, words_hash(w, MIG_MAP_WORDS_MAX));
	CHECK_EQ(r.ev[1].ok, 1);
	/* The last page of RAM that ends inside a word, and a MAP of none. */
	s_start_with(100, 0);
	s_map(0, (const u64[]){ 1, 1ULL << 35 }, 2);
	s_map1(64, 0);
	rec_init(&r);
	mig_dec_init(&dec, &ops, &r);
	CHECK_EQ(mig_dec_feed(&dec, sb, sl), sl);
	CHECK_EQ(dec.status, MIG_DEC_OK);
	CHECK_EQ(r.n, 3);
}

TEST(refuse_map_fields)
{
	s_start();
	s_map1(1, 1);
	refused("stream: byte 81: MAP first gfn 0x1 is not a multiple of 64", 91, 1);
	s_start();
	s_map1(32, 1);
	refused("stream: byte 81: MAP first gfn 0x20 is not a multiple of 64", 91, 1);
	s_start();
	s_map(0, NULL, 0);
	refused("stream: byte 89: MAP word count 0 (1..512)", 91, 1);
	static u64 w[MIG_MAP_WORDS_MAX + 1];
	s_start_with(64 * (MIG_MAP_WORDS_MAX + 1), 0);
	s_map(0, w, MIG_MAP_WORDS_MAX + 1);
	refused("stream: byte 89: MAP word count 513 (1..512)", 91, 1);
	/* Past RAM rounded up to whole words. */
	s_start();
	s_map(0, w, 2);
	refused("stream: byte 81: MAP for 128 gfns from gfn 0 goes past RAM (64 pages)", 91, 1);
	s_start();
	s_map1(64, 0);
	refused("stream: byte 81: MAP for 64 gfns from gfn 0x40 goes past RAM (64 pages)", 91, 1);
	s_start();
	s_map1(0xffffffffffffffc0ULL, 0);
	refused("stream: byte 81: MAP for 64 gfns from gfn 0xffffffffffffffc0 goes past RAM (64 "
		"pages)",
		91, 1);
	s_start_with(100, 0);
	s_map(64, w, 2);
	refused("stream: byte 81: MAP for 128 gfns from gfn 0x40 goes past RAM (100 pages)", 91, 1);
}

TEST(refuse_map_bits_past_ram)
{
	/* gfn 100 of 100 pages: word 1's bit 36, at 80 + 11 + 8. */
	s_start_with(100, 0);
	s_map(0, (const u64[]){ 0, 1ULL << 36 }, 2);
	refused("stream: byte 99: MAP bit for gfn 0x64 outside RAM (100 pages)", 107, 1);
	s_start_with(100, 0);
	s_map1(64, 0x8000000000000000ULL);
	refused("stream: byte 91: MAP bit for gfn 0x7f outside RAM (100 pages)", 99, 1);
}

/* s_start(), then a record of each type that is not GO, one per stream:
 * each must be refused at byte at with "<record> " + tail. */
static void refused_all_but(void (*prefix)(void), u8 allowed1, u8 allowed2, size_t at, int nev,
			    const char *tail)
{
	static const u8 types[] = { MIG_REC_PAGES, MIG_REC_SECTION, MIG_REC_ROUND, MIG_REC_END,
				    MIG_REC_GO,	   MIG_REC_MAP,	    MIG_REC_POSTCOPY, MIG_REC_RESUME,
				    0x42 };
	static const char *const what[] = { "PAGES record", "SECTION record",  "ROUND record",
					    "END record",   "GO record",       "MAP record",
					    "POSTCOPY record", "RESUME record", "unknown record type 0x42" };
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		if (types[i] == allowed1 || types[i] == allowed2)
			continue;
		prefix();
		put(&types[i], 1);
		char msg[160];
		snprintf(msg, sizeof(msg), "stream: byte %zu: %s %s", at, what[i], tail);
		refused(msg, at + 1, nev);
	}
}

static void pre_postcopy(void)
{
	s_start();
	s_postcopy(9);
}

static void pre_postcopy_go(void)
{
	pre_postcopy();
	s_go();
}

static void pre_end(void)
{
	s_start();
	s_end(false, 0);
}

static void pre_resume_cap(void)
{
	s_start_with(RAM_PAGES, MIG_CAP_RESUME);
}

static void pre_resumed(void)
{
	pre_resume_cap();
	s_resume(3);
}

TEST(refuse_records_out_of_place)
{
	refused_all_but(pre_postcopy, MIG_REC_GO, MIG_REC_GO, 89, 2,
			"after POSTCOPY (only GO may follow)");
	refused_all_but(pre_end, MIG_REC_GO, MIG_REC_GO, 82, 2, "after END (only GO may follow)");
	refused_all_but(pre_postcopy_go, MIG_REC_PAGES, MIG_REC_END, 90, 3,
			"in the post-copy phase (only PAGES and END may come)");
	refused_all_but(pre_resumed, MIG_REC_PAGES, MIG_REC_END, 89, 2,
			"in the post-copy phase (only PAGES and END may come)");
	refused_all_but(pre_resume_cap, MIG_REC_RESUME, MIG_REC_RESUME, 80, 1,
			"where RESUME must come (the header has MIG_CAP_RESUME)");
	/* And after pages of the live phase, too. */
	pre_postcopy_go();
	s_pages(1);
	s_page(3, 3);
	s_map1(0, 1);
	refused("stream: byte 103: MAP record in the post-copy phase (only PAGES and END may come)",
		104, 4);
}

TEST(refuse_resume_without_cap)
{
	s_start();
	s_resume(1);
	refused("stream: byte 80: RESUME record, but the header lacks MIG_CAP_RESUME", 81, 1);
	s_start();
	s_round(1);
	s_resume(1);
	refused("stream: byte 85: RESUME record, but the header lacks MIG_CAP_RESUME", 86, 2);
}

TEST(refuse_ids_zero)
{
	s_start();
	s_postcopy(0);
	refused("stream: byte 81: POSTCOPY id 0 (a migration's id is nonzero)", 89, 1);
	pre_resume_cap();
	s_resume(0);
	refused("stream: byte 81: RESUME id 0 (a migration's id is nonzero)", 89, 1);
}

TEST(refuse_end_digest_in_postcopy)
{
	pre_postcopy_go();
	s_end(true, 1);
	refused("stream: byte 91: END with a digest in a post-copy stream (the guest ran on the "
		"destination: its RAM cannot match a digest)",
		92, 3);
	pre_resumed();
	s_pages(1);
	s_page(0, 0);
	s_end(true, 1);
	refused("stream: byte 103: END with a digest in a post-copy stream (the guest ran on the "
		"destination: its RAM cannot match a digest)",
		104, 3);
	/* The flag's own rule comes first. */
	pre_resumed();
	put("\x04\x02", 2);
	refused("stream: byte 90: END digest flag 2 (0 or 1)", 91, 2);
}

/* ---- replies ---- */

static struct mig_reply_dec rd;

TEST(replies_in_one_buffer)
{
	u8 b[64];
	size_t n = 0, used;
	char reason[MIG_REASON_MAX + 1];
	n += mig_enc_accept(b + n);
	n += mig_enc_refuse(b + n, "cpu: no");
	n += mig_enc_ack(b + n);
	n += mig_enc_refuse(b + n, "");
	mig_reply_init(&rd);
	CHECK_EQ(mig_reply_feed(&rd, b, n, &used, reason, sizeof(reason)), MIG_REPLY_ACCEPT);
	CHECK_EQ(used, 1);
	CHECK_EQ(mig_reply_feed(&rd, b + 1, n - 1, &used, reason, sizeof(reason)), MIG_REPLY_REFUSE);
	CHECK_EQ(used, 10);
	CHECK_STR_EQ(reason, "cpu: no");
	CHECK_EQ(mig_reply_feed(&rd, b + 11, n - 11, &used, reason, sizeof(reason)), MIG_REPLY_ACK);
	CHECK_EQ(used, 1);
	CHECK_EQ(mig_reply_feed(&rd, b + 12, n - 12, &used, reason, sizeof(reason)), MIG_REPLY_REFUSE);
	CHECK_EQ(used, 3);
	CHECK_STR_EQ(reason, "");
	CHECK_EQ(mig_reply_feed(&rd, b + 15, 0, &used, reason, sizeof(reason)), MIG_REPLY_NONE);
	CHECK_EQ(used, 0);
}

TEST(reply_split_at_every_byte)
{
	u8 b[3 + MIG_REASON_MAX];
	char msg[MIG_REASON_MAX + 1], reason[MIG_REASON_MAX + 1];
	for (int i = 0; i < MIG_REASON_MAX; i++)
		msg[i] = (char)('a' + i % 26);
	msg[MIG_REASON_MAX] = '\0';
	size_t n = mig_enc_refuse(b, msg);
	CHECK_EQ(n, 3 + MIG_REASON_MAX);
	for (size_t cut = 0; cut <= n; cut++) {
		size_t used;
		mig_reply_init(&rd);
		enum mig_reply_kind k = mig_reply_feed(&rd, b, cut, &used, reason, sizeof(reason));
		if (cut < n) {
			CHECK_EQ(k, MIG_REPLY_NONE);
			CHECK_EQ(used, cut);
			k = mig_reply_feed(&rd, b + cut, n - cut, &used, reason, sizeof(reason));
			CHECK_EQ(used, n - cut);
		}
		CHECK_EQ(k, MIG_REPLY_REFUSE);
		CHECK_STR_EQ(reason, msg);
	}
	/* Byte by byte. */
	mig_reply_init(&rd);
	for (size_t i = 0; i < n; i++) {
		size_t used;
		enum mig_reply_kind k = mig_reply_feed(&rd, b + i, 1, &used, reason, sizeof(reason));
		CHECK_EQ(used, 1);
		CHECK_EQ(k, i + 1 < n ? MIG_REPLY_NONE : MIG_REPLY_REFUSE);
	}
	CHECK_STR_EQ(reason, msg);
}

TEST(reply_reason_sanitized_and_cut)
{
	u8 b[32];
	size_t used;
	char reason[8];
	size_t n = mig_enc_refuse(b, "a\tb\x1b[2Jc\x7f\xff");
	mig_reply_init(&rd);
	char big[64];
	CHECK_EQ(mig_reply_feed(&rd, b, n, &used, big, sizeof(big)), MIG_REPLY_REFUSE);
	CHECK_STR_EQ(big, "a?b?[2Jc??");
	mig_reply_init(&rd);
	CHECK_EQ(mig_reply_feed(&rd, b, n, &used, reason, sizeof(reason)), MIG_REPLY_REFUSE);
	CHECK_STR_EQ(reason, "a?b?[2J");
	CHECK_EQ(used, n);
	/* No room for a reason at all. */
	mig_reply_init(&rd);
	CHECK_EQ(mig_reply_feed(&rd, b, n, &used, NULL, 0), MIG_REPLY_REFUSE);
	/* A NUL inside the reason does not end it early for the decoder. */
	mig_reply_init(&rd);
	CHECK_EQ(mig_reply_feed(&rd, (const u8 *)"\x82\x03\x00x\0y\x83", 7, &used, big, sizeof(big)),
		 MIG_REPLY_REFUSE);
	CHECK_EQ(used, 6);
	CHECK_STR_EQ(big, "x?y");
}

TEST(reply_bad_bytes)
{
	size_t used;
	char reason[MIG_REASON_MAX + 1];
	mig_reply_init(&rd);
	CHECK_EQ(mig_reply_feed(&rd, (const u8 *)"\x81\x83\x05\x81", 4, &used, reason, sizeof(reason)),
		 MIG_REPLY_ACCEPT);
	CHECK_EQ(mig_reply_feed(&rd, (const u8 *)"\x83\x05\x81", 3, &used, reason, sizeof(reason)),
		 MIG_REPLY_ACK);
	CHECK_EQ(mig_reply_feed(&rd, (const u8 *)"\x05\x81", 2, &used, reason, sizeof(reason)),
		 MIG_REPLY_BAD);
	CHECK_EQ(used, 1);
	CHECK_STR_EQ(reason, "reply: byte 2: unknown reply type 0x05");
	/* Dead from here on: nothing consumed, the same description. */
	reason[0] = 'x';
	CHECK_EQ(mig_reply_feed(&rd, (const u8 *)"\x81", 1, &used, reason, sizeof(reason)),
		 MIG_REPLY_BAD);
	CHECK_EQ(used, 0);
	CHECK_STR_EQ(reason, "reply: byte 2: unknown reply type 0x05");

	/* A reason longer than MIG_REASON_MAX. */
	mig_reply_init(&rd);
	CHECK_EQ(mig_reply_feed(&rd, (const u8 *)"\x83\x82\xc9\x00zz", 6, &used, reason, sizeof(reason)),
		 MIG_REPLY_ACK);
	CHECK_EQ(mig_reply_feed(&rd, (const u8 *)"\x82\xc9\x00zz", 5, &used, reason, sizeof(reason)),
		 MIG_REPLY_BAD);
	CHECK_EQ(used, 3);
	CHECK_STR_EQ(reason, "reply: byte 2: REFUSE reason length 201 (at most 200)");
	/* Exactly MIG_REASON_MAX is fine (reply_split_at_every_byte). */
}

/* ---- post-copy replies ---- */

struct rep_ev {
	enum mig_reply_kind k;
	u64 a, b, c;
};

/*
 * Decode b[0..n) with ram_pages, fed as b[0..cut) and then the rest (or
 * byte by byte when bytewise), into out; stops after BAD. Returns the
 * number of replies; *reason ends as the last reason or description.
 */
static int reply_events(const u8 *b, size_t n, u64 ram_pages, size_t cut, bool bytewise,
			struct rep_ev *out, int max, char *reason, size_t reason_len)
{
	int nev = 0;
	mig_reply_init(&rd);
	rd.ram_pages = ram_pages;
	for (size_t start = 0; start < n;) {
		size_t end = bytewise ? start + 1 : start < cut ? cut : n;
		for (size_t pos = start; pos < end;) {
			size_t used;
			enum mig_reply_kind k =
				mig_reply_feed(&rd, b + pos, end - pos, &used, reason, reason_len);
			CHECK(used <= end - pos);
			pos += used;
			if (k == MIG_REPLY_NONE) {
				CHECK_EQ(pos, end);
				break;
			}
			CHECK(nev < max);
			struct rep_ev e = { k, 0, 0, 0 };
			if (k == MIG_REPLY_REQ)
				e.a = rd.gfn;
			if (k == MIG_REPLY_HAVE) {
				e.a = rd.first_gfn;
				e.b = rd.nwords;
				e.c = words_hash(rd.words, rd.nwords);
			}
			if (k == MIG_REPLY_BAD) {
				e.a = pos;
				out[nev++] = e;
				return nev;
			}
			CHECK(used > 0);
			out[nev++] = e;
		}
		start = end;
	}
	return nev;
}

TEST(postcopy_replies_split_at_every_byte)
{
	static const u64 h1[1] = { 0xf0 };
	static u64 h16[MIG_HAVE_WORDS_MAX];
	for (int i = 0; i < MIG_HAVE_WORDS_MAX; i++)
		h16[i] = 0x0101010101010101ULL << (i % 8);
	const u64 pages = 64 + 64 * MIG_HAVE_WORDS_MAX; /* the last HAVE ends at the last page */
	u8 b[256];
	size_t n = 0;
	n += mig_enc_accept(b + n);
	n += mig_enc_req(b + n, 5);
	n += mig_enc_have(b + n, 0, h1, 1);
	n += mig_enc_have(b + n, 64, h16, MIG_HAVE_WORDS_MAX);
	n += mig_enc_have_end(b + n);
	n += mig_enc_req(b + n, pages - 1);
	n += mig_enc_complete(b + n);
	n += mig_enc_ack(b + n);
	CHECK_EQ(n, 1 + 9 + 19 + MIG_MAP_HDR_LEN + 8 * MIG_HAVE_WORDS_MAX + 1 + 9 + 1 + 1);
	const struct rep_ev want[] = {
		{ MIG_REPLY_ACCEPT, 0, 0, 0 },
		{ MIG_REPLY_REQ, 5, 0, 0 },
		{ MIG_REPLY_HAVE, 0, 1, words_hash(h1, 1) },
		{ MIG_REPLY_HAVE, 64, MIG_HAVE_WORDS_MAX, words_hash(h16, MIG_HAVE_WORDS_MAX) },
		{ MIG_REPLY_HAVE_END, 0, 0, 0 },
		{ MIG_REPLY_REQ, pages - 1, 0, 0 },
		{ MIG_REPLY_COMPLETE, 0, 0, 0 },
		{ MIG_REPLY_ACK, 0, 0, 0 },
	};
	char reason[MIG_REASON_MAX + 1];
	for (size_t cut = 0; cut <= n + 1; cut++) {
		struct rep_ev got[16];
		int k = reply_events(b, n, pages, cut, cut == n + 1, got, 16, reason, sizeof(reason));
		CHECK_EQ(k, (int)ARRAY_SIZE(want));
		for (int i = 0; i < k; i++) {
			CHECK_EQ(got[i].k, want[i].k);
			CHECK_EQ(got[i].a, want[i].a);
			CHECK_EQ(got[i].b, want[i].b);
			CHECK_EQ(got[i].c, want[i].c);
		}
		CHECK_STR_EQ(reason, "");
	}
	/* No bound: any gfn, and a HAVE up to the last one there is. */
	n = mig_enc_req(b, ~0ULL);
	n += mig_enc_have(b + n, 0xffffffffffffffc0ULL, h1, 1);
	struct rep_ev got[4];
	CHECK_EQ(reply_events(b, n, 0, 0, false, got, 4, reason, sizeof(reason)), 2);
	CHECK_EQ(got[0].a, ~0ULL);
	CHECK_EQ(got[1].a, 0xffffffffffffffc0ULL);
}

/* b[0..n) with ram_pages: every reply but the last good, the last BAD with
 * msg after using bytes up to bad_end; the same byte by byte. */
static void reply_refused(const u8 *b, size_t n, u64 ram_pages, const char *msg, size_t bad_end)
{
	char reason[MIG_REASON_MAX + 1];
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		struct rep_ev got[8];
		int k = reply_events(b, n, ram_pages, 0, bytewise, got, 8, reason, sizeof(reason));
		CHECK(k >= 1);
		CHECK_EQ(got[k - 1].k, MIG_REPLY_BAD);
		CHECK_EQ(got[k - 1].a, bad_end);
		CHECK_STR_EQ(reason, msg);
		size_t used;
		CHECK_EQ(mig_reply_feed(&rd, b, n, &used, reason, sizeof(reason)), MIG_REPLY_BAD);
		CHECK_EQ(used, 0);
	}
}

TEST(postcopy_replies_refused)
{
	u8 b[MIG_MAP_HDR_LEN + 8 * (MIG_HAVE_WORDS_MAX + 1) + 16];
	static const u64 w[MIG_HAVE_WORDS_MAX + 1];
	size_t n;

	n = mig_enc_ack(b);
	n += mig_enc_req(b + n, 64);
	reply_refused(b, n, 64, "reply: byte 2: REQ gfn 0x40 outside RAM (64 pages)", 10);
	n = mig_enc_req(b, ~0ULL);
	reply_refused(b, n, 1, "reply: byte 1: REQ gfn 0xffffffffffffffff outside RAM (1 pages)", 9);

	n = mig_enc_have(b, 0, w, 0);
	reply_refused(b, n, 0, "reply: byte 9: HAVE word count 0 (1..16)", 11);
	n = mig_enc_have(b, 0, w, MIG_HAVE_WORDS_MAX + 1);
	reply_refused(b, n, 0, "reply: byte 9: HAVE word count 17 (1..16)", 11);
	n = mig_enc_have(b, 3, w, 1);
	reply_refused(b, n, 0, "reply: byte 1: HAVE first gfn 0x3 is not a multiple of 64", 11);
	n = mig_enc_have(b, 0, w, 2);
	reply_refused(b, n, 64, "reply: byte 1: HAVE for 128 gfns from gfn 0 goes past RAM (64 pages)",
		      11);
	n = mig_enc_have(b, 0xffffffffffffffc0ULL, w, 2);
	reply_refused(b, n, 0,
		      "reply: byte 1: HAVE for 128 gfns from gfn 0xffffffffffffffc0 goes past the last "
		      "gfn",
		      11);
	/* gfn 70 of 70 pages: bit 6 of the word at 11. */
	n = mig_enc_have(b, 64, (const u64[]){ 0x40 }, 1);
	reply_refused(b, n, 70, "reply: byte 11: HAVE bit for gfn 0x46 outside RAM (70 pages)", 19);
	n = mig_enc_have(b, 64, (const u64[]){ 0x3f }, 1);
	struct rep_ev got[2];
	char reason[64];
	CHECK_EQ(reply_events(b, n, 70, 0, false, got, 2, reason, sizeof(reason)), 1);
	CHECK_EQ(got[0].k, MIG_REPLY_HAVE);
}

/* ---- the destination's checks ---- */

TEST(fp_check_subset)
{
	struct mig_cpu_fp g = hdr(4096).fp, h = g;
	char why[128] = "";
	CHECK_EQ(mig_fp_check(&g, &h, why, sizeof(why)), 0);
	/* The host may offer more. */
	h.leaf7_ebx |= 0x80000000;
	h.xcr0_mask |= 0xe0;
	CHECK_EQ(mig_fp_check(&g, &h, why, sizeof(why)), 0);
	/* The guest's reserved word is no feature. */
	g.pad = 0xffffffff;
	CHECK_EQ(mig_fp_check(&g, &h, why, sizeof(why)), 0);
	CHECK_EQ(mig_fp_check(&(struct mig_cpu_fp){ 0 }, &(struct mig_cpu_fp){ 0 }, why, sizeof(why)),
		 0);
}

TEST(fp_check_names_leaf_and_bits)
{
	struct mig_cpu_fp g = hdr(4096).fp, h = g;
	char why[128];
	h.leaf7_ebx &= ~0x20u;
	g.leaf7_ebx |= 0x20;
	CHECK_EQ(mig_fp_check(&g, &h, why, sizeof(why)), -1);
	CHECK_STR_EQ(why, "cpu: leaf 7 EBX lacks bits 0x20 the guest was shown");

	static const struct {
		size_t off;
		const char *msg;
	} cases[] = {
		{ offsetof(struct mig_cpu_fp, leaf1_ecx), "cpu: leaf 1 ECX lacks bits 0x80000001 the guest was shown" },
		{ offsetof(struct mig_cpu_fp, leaf1_edx), "cpu: leaf 1 EDX lacks bits 0x80000001 the guest was shown" },
		{ offsetof(struct mig_cpu_fp, leaf7_ebx), "cpu: leaf 7 EBX lacks bits 0x80000001 the guest was shown" },
		{ offsetof(struct mig_cpu_fp, leaf7_ecx), "cpu: leaf 7 ECX lacks bits 0x80000001 the guest was shown" },
		{ offsetof(struct mig_cpu_fp, leaf7_edx), "cpu: leaf 7 EDX lacks bits 0x80000001 the guest was shown" },
		{ offsetof(struct mig_cpu_fp, ext1_ecx), "cpu: leaf 0x80000001 ECX lacks bits 0x80000001 the guest was shown" },
		{ offsetof(struct mig_cpu_fp, ext1_edx), "cpu: leaf 0x80000001 EDX lacks bits 0x80000001 the guest was shown" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct mig_cpu_fp gg, hh;
		memset(&gg, 0, sizeof(gg));
		memset(&hh, 0xff, sizeof(hh));
		u32 all = 0xffffffff, lacking = 0x7ffffffe;
		memcpy((u8 *)&gg + cases[i].off, &all, 4);
		memcpy((u8 *)&hh + cases[i].off, &lacking, 4);
		CHECK_EQ(mig_fp_check(&gg, &hh, why, sizeof(why)), -1);
		CHECK_STR_EQ(why, cases[i].msg);
		memcpy((u8 *)&hh + cases[i].off, &all, 4);
		CHECK_EQ(mig_fp_check(&gg, &hh, why, sizeof(why)), 0);
	}

	g = h = hdr(4096).fp;
	h.xcr0_mask = 0x7;
	g.xcr0_mask = 0xe7;
	CHECK_EQ(mig_fp_check(&g, &h, why, sizeof(why)), -1);
	CHECK_STR_EQ(why, "cpu: XCR0 lacks bits 0xe0 the guest may enable");
	CHECK_EQ(mig_fp_check(&g, &h, NULL, 0), -1);
}

TEST(tsc_check_250_ppm_boundary)
{
	char why[200] = "";
	const u64 src = 4000000000ULL; /* 250 ppm of it: exactly 1000000 Hz */
	CHECK_EQ(mig_tsc_check(src, src, why, sizeof(why)), 0);
	CHECK_EQ(mig_tsc_check(src, src + 1000000, why, sizeof(why)), 0);
	CHECK_EQ(mig_tsc_check(src, src - 1000000, why, sizeof(why)), 0);
	CHECK_EQ(mig_tsc_check(src, src + 1000001, why, sizeof(why)), -1);
	CHECK_STR_EQ(why, "tsc: source 4000000000 Hz, this host 4001000001 Hz: 1000001 Hz apart, "
			  "more than 250 ppm (1000000 Hz; Tern cannot scale the TSC)");
	CHECK_EQ(mig_tsc_check(src, src - 1000001, why, sizeof(why)), -1);
	CHECK_STR_EQ(why, "tsc: source 4000000000 Hz, this host 3998999999 Hz: 1000001 Hz apart, "
			  "more than 250 ppm (1000000 Hz; Tern cannot scale the TSC)");
	CHECK_EQ(mig_tsc_check(3000000000ULL, 3001000000ULL, why, sizeof(why)), -1);
	CHECK_STR_EQ(why, "tsc: source 3000000000 Hz, this host 3001000000 Hz: 1000000 Hz apart, "
			  "more than 250 ppm (750000 Hz; Tern cannot scale the TSC)");
	CHECK_EQ(mig_tsc_check(0, src, why, sizeof(why)), -1);
	CHECK_STR_EQ(why, "tsc: rate unknown (source 0 Hz, this host 4000000000 Hz)");
	CHECK_EQ(mig_tsc_check(src, 0, why, sizeof(why)), -1);
	CHECK_EQ(mig_tsc_check(1, ~0ULL, NULL, 0), -1);
	CHECK_EQ(mig_tsc_check(~0ULL, ~0ULL, NULL, 0), 0);
	CHECK_EQ(mig_tsc_check(1, ~0ULL, why, sizeof(why)), -1);
}

/* mig_ram_digest of the pages of ram_fill(), all of them, none, and a page and 43 bytes. */
#define GOLDEN_RAM 0x8eeef24e0297c07bULL
#define GOLDEN_EMPTY 0x26a8fac58def4520ULL
#define GOLDEN_TAIL 0x9e3245222d85a1d0ULL
TEST(digest_golden_values)
{
	/* Both ends compute the digest, possibly from different builds: its
	 * definition is part of the format and must not drift. */
	ram_fill();
	CHECK_EQ(mig_ram_digest(ram, sizeof(ram)), GOLDEN_RAM);
	CHECK_EQ(mig_ram_digest(ram, 0), GOLDEN_EMPTY);
	/* Sizes that are not whole pages reach the word and byte tails. */
	CHECK_EQ(mig_ram_digest(ram, MIG_PAGE_SIZE + 32 + 8 + 3), GOLDEN_TAIL);
}
