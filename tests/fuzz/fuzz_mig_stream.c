/*
 * Fuzz target: the migration stream's decoders (migrate/stream.c), i.e. what
 * a source, or anyone who reached the port, can send a destination, and
 * what a destination can answer a source.
 * Input: byte 0 = flags (bit 0: the reply channel instead of the stream;
 * bits 1-4: log2 of the largest chunk; bit 5: on the stream, the receiver
 * refuses event number byte 3; on the replies, REQ and HAVE are bounded by
 * 1 + 8 * byte 3 pages), bytes 1-3 seed the chunking, then the bytes on
 * the wire.
 * Stream invariants: the callbacks see a valid header first and only once,
 * gfn < the header's page count, whole pages and sections of at most
 * MIG_SECTION_MAX (read to the last byte, so ASan sees any overrun), rounds
 * strictly increasing, nothing but GO after END or POSTCOPY, MAPs aligned,
 * of 1..MIG_MAP_WORDS_MAX words with no bit outside RAM and only before
 * POSTCOPY, RESUME first after a header with MIG_CAP_RESUME and only there,
 * only pages and a digest-less END in the post-copy live phase (after
 * POSTCOPY + GO, or RESUME; d->postcopy_live says so), nothing after the
 * stream's end (GO, or END when live) or an error; a feed consumes all it
 * is given while the stream goes on and nothing once it is over; an error
 * is one printable NUL-terminated line; and fed whole or in random chunks
 * the decoder reports exactly the same events, consumed count, status,
 * phase and message.
 * Reply invariants: each reply consumes at least one byte and at most what
 * it was given, NONE only when it took everything; reasons are printable,
 * NUL-terminated, at most MIG_REASON_MAX; REQ and HAVE gfns are inside the
 * bound, HAVE aligned and of 1..MIG_HAVE_WORDS_MAX words; BAD is final and
 * consumes nothing more; whole and chunked feeds agree.
 */
#include <tern/mig_stream.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"

/* ---- chunking ---- */

static u32 rng;
static unsigned max_chunk_log2;

/* The next piece to feed: 1 .. 2^max_chunk_log2 bytes, at most left. */
static size_t next_chunk(size_t left)
{
	rng = rng * 1103515245u + 12345u;
	size_t n = 1 + (size_t)((rng >> 8) & ((1u << max_chunk_log2) - 1));
	return n < left ? n : left;
}

/* ---- the stream ---- */

struct obs {
	u64 hash; /* of every event and its data, in order */
	int events;
	int refuse_at; /* -1: none */
	bool header, end, refused;
	bool postcopy, live, resume_due;
	bool done; /* GO ended a pre-copy stream, or END the live phase */
	u32 round;
	u64 pages;
};

static struct mig_dec dec;

static void mix(struct obs *o, const void *p, size_t n)
{
	const u8 *b = p;
	for (size_t i = 0; i < n; i++)
		o->hash = (o->hash ^ b[i]) * 0x100000001b3ULL;
}

/* Every event: it comes after a header (but the header), never after the
 * stream ended, in an order the phase allows, and maybe it is the one the
 * receiver refuses. */
static int event(struct obs *o, char type, char *why, size_t len)
{
	CHECK(!o->done && !o->refused);
	CHECK(type == 'H' ? !o->header : o->header);
	CHECK(!o->end || type == 'G');
	CHECK(!o->postcopy || o->live || type == 'G');
	CHECK(!o->live || type == 'P' || type == 'F' || type == 'E');
	CHECK(!o->resume_due || type == 'U');
	/* GO and RESUME start the live phase (their callbacks check it) */
	if (type != 'G' && type != 'U')
		CHECK(dec.postcopy_live == o->live);
	CHECK(why && len > 0);
	mix(o, &type, 1);
	if (o->events++ == o->refuse_at) {
		/* Longer than the decoder's error buffer: it must cut it. */
		snprintf(why, len, "receiver: no (event %d) %0200d", o->refuse_at, 0);
		o->refused = true;
		return -1;
	}
	return 0;
}

static int s_header(void *ctx, const struct mig_header *h, char *why, size_t len)
{
	struct obs *o = ctx;
	CHECK(h->version == MIG_VERSION && h->page_size == MIG_PAGE_SIZE);
	CHECK(h->ram_size && h->ram_size % MIG_PAGE_SIZE == 0 && h->ram_size <= MIG_RAM_MAX);
	CHECK((h->caps & ~(u32)(MIG_CAP_VALIDATE_RAM | MIG_CAP_RESUME)) == 0);
	CHECK(h->fp.pad == 0);
	int rc = event(o, 'H', why, len);
	o->header = true;
	o->resume_due = (h->caps & MIG_CAP_RESUME) != 0;
	o->pages = h->ram_size / MIG_PAGE_SIZE;
	mix(o, &h->ram_size, 8);
	mix(o, &h->tsc_hz, 8);
	mix(o, &h->fp, sizeof(h->fp));
	/* The destination's own checks must take any header. */
	char r[160];
	struct mig_cpu_fp host = { 0 };
	mig_fp_check(&h->fp, &host, r, sizeof(r));
	mig_tsc_check(h->tsc_hz, 3000000000ULL, r, sizeof(r));
	return rc;
}

static int s_page(void *ctx, u64 gfn, const u8 *data, char *why, size_t len)
{
	struct obs *o = ctx;
	CHECK(gfn < o->pages);
	CHECK(data);
	u8 byte;
	bool uniform = mig_page_uniform(data, &byte); /* reads all 4096 bytes */
	mix(o, &uniform, 1);
	mix(o, &gfn, 8);
	mix(o, data, MIG_PAGE_SIZE);
	return event(o, 'P', why, len);
}

static int s_fill(void *ctx, u64 gfn, u8 byte, char *why, size_t len)
{
	struct obs *o = ctx;
	CHECK(gfn < o->pages);
	mix(o, &gfn, 8);
	mix(o, &byte, 1);
	return event(o, 'F', why, len);
}

static int s_section(void *ctx, u32 id, u32 version, const u8 *data, u32 dlen, char *why,
		     size_t len)
{
	struct obs *o = ctx;
	CHECK(data);
	CHECK(dlen <= MIG_SECTION_MAX);
	mix(o, &id, 4);
	mix(o, &version, 4);
	mix(o, &dlen, 4);
	mix(o, data, dlen);
	return event(o, 'S', why, len);
}

static int s_round(void *ctx, u32 round, char *why, size_t len)
{
	struct obs *o = ctx;
	CHECK(round > o->round);
	o->round = round;
	mix(o, &round, 4);
	return event(o, 'R', why, len);
}

static int s_end(void *ctx, bool has, u64 digest, char *why, size_t len)
{
	struct obs *o = ctx;
	CHECK(!o->live || !has);
	int rc = event(o, 'E', why, len);
	o->end = true;
	o->done = o->live;
	mix(o, &has, 1);
	mix(o, &digest, 8);
	return rc;
}

static int s_go(void *ctx, char *why, size_t len)
{
	struct obs *o = ctx;
	CHECK(o->end || o->postcopy);
	int rc = event(o, 'G', why, len);
	o->live = o->postcopy;
	o->done = !o->postcopy;
	CHECK(dec.postcopy_live == o->live); /* already, as the callback runs */
	return rc;
}

/* A MAP or HAVE as the decoders hand it over: bounded as their rules say. */
static void check_bitmap(u64 first, const u64 *words, u16 nwords, u16 max, u64 pages)
{
	CHECK(words && (uintptr_t)words % _Alignof(u64) == 0);
	CHECK(first % 64 == 0);
	CHECK(nwords >= 1 && nwords <= max);
	if (!pages)
		return;
	CHECK(first / 64 + nwords <= (pages + 63) / 64);
	for (u16 w = 0; w < nwords; w++)
		for (int b = 0; b < 64; b++)
			if (words[w] >> b & 1)
				CHECK(first + 64 * (u64)w + (u64)b < pages);
}

static int s_map(void *ctx, u64 first, const u64 *words, u16 nwords, char *why, size_t len)
{
	struct obs *o = ctx;
	check_bitmap(first, words, nwords, MIG_MAP_WORDS_MAX, o->pages);
	mix(o, &first, 8);
	mix(o, &nwords, 2);
	mix(o, words, 8 * (size_t)nwords);
	return event(o, 'M', why, len);
}

static int s_postcopy(void *ctx, u64 id, char *why, size_t len)
{
	struct obs *o = ctx;
	CHECK(id && !o->postcopy && !o->end);
	int rc = event(o, 'C', why, len);
	o->postcopy = true;
	mix(o, &id, 8);
	return rc;
}

static int s_resume(void *ctx, u64 id, char *why, size_t len)
{
	struct obs *o = ctx;
	CHECK(id && o->resume_due);
	int rc = event(o, 'U', why, len);
	o->resume_due = false;
	o->live = true;
	CHECK(dec.postcopy_live);
	mix(o, &id, 8);
	return rc;
}

static const struct mig_dec_ops ops = {
	.header = s_header,
	.page = s_page,
	.fill = s_fill,
	.section = s_section,
	.round = s_round,
	.end = s_end,
	.go = s_go,
	.map = s_map,
	.postcopy = s_postcopy,
	.resume = s_resume,
};

struct result {
	struct obs o;
	size_t used;
	enum mig_dec_status status;
	bool live;
	char error[sizeof(dec.error)];
};

static void stream_run(const u8 *data, size_t size, bool chunk, int refuse_at, struct result *r)
{
	memset(r, 0, sizeof(*r));
	r->o.refuse_at = refuse_at;
	r->o.hash = 0xcbf29ce484222325ULL;
	mig_dec_init(&dec, &ops, &r->o);
	size_t pos = 0;
	while (pos < size) {
		size_t n = chunk ? next_chunk(size - pos) : size - pos;
		size_t got = mig_dec_feed(&dec, data + pos, n);
		CHECK(got <= n);
		CHECK(dec.bytes == r->used + got);
		r->used += got;
		if (dec.status == MIG_DEC_OK)
			CHECK(got == n);
		else
			CHECK(mig_dec_feed(&dec, data + pos, n) == 0);
		pos += n;
	}
	CHECK(memchr(dec.error, '\0', sizeof(dec.error)));
	for (const char *c = dec.error; *c; c++)
		CHECK(*c >= 0x20 && *c < 0x7f); /* one printable line */
	if (dec.status == MIG_DEC_ERROR)
		CHECK(dec.error[0]);
	if (dec.status == MIG_DEC_DONE)
		CHECK(r->o.done);
	else if (dec.status == MIG_DEC_OK)
		CHECK(!r->o.done);
	r->status = dec.status;
	r->live = dec.postcopy_live;
	memcpy(r->error, dec.error, sizeof(r->error));
}

static struct result whole, chunked;

static void fuzz_stream(const u8 *data, size_t size, int refuse_at)
{
	stream_run(data, size, false, refuse_at, &whole);
	stream_run(data, size, true, refuse_at, &chunked);
	CHECK(whole.o.hash == chunked.o.hash);
	CHECK(whole.o.events == chunked.o.events);
	CHECK(whole.used == chunked.used);
	CHECK(whole.status == chunked.status);
	CHECK(whole.live == chunked.live);
	CHECK(!strcmp(whole.error, chunked.error));
}

/* ---- replies ---- */

static void mix64(u64 *h, u64 v)
{
	*h = (*h ^ v) * 0x100000001b3ULL;
}

static u64 replies_run(const u8 *data, size_t size, bool chunk, u64 ram_pages)
{
	static struct mig_reply_dec rd;
	char reason[MIG_REASON_MAX + 2];
	u64 h = 0xcbf29ce484222325ULL;
	size_t pos = 0, n = 0;
	mig_reply_init(&rd);
	rd.ram_pages = ram_pages;
	while (pos < size) {
		if (!n)
			n = chunk ? next_chunk(size - pos) : size - pos;
		size_t used = ~(size_t)0;
		enum mig_reply_kind k = mig_reply_feed(&rd, data + pos, n, &used, reason, sizeof(reason));
		CHECK(used <= n);
		CHECK(memchr(reason, '\0', sizeof(reason)));
		CHECK(strlen(reason) <= MIG_REASON_MAX);
		for (const char *c = reason; *c; c++)
			CHECK(*c >= 0x20 && *c < 0x7f);
		pos += used;
		n -= used;
		if (k == MIG_REPLY_NONE) { /* where these fall depends on the chunking */
			CHECK(n == 0);
			continue;
		}
		h = (h ^ (u64)k) * 0x100000001b3ULL;
		if (k == MIG_REPLY_BAD) {
			CHECK(reason[0]);
			h = (h ^ pos) * 0x100000001b3ULL;
			CHECK(mig_reply_feed(&rd, data, size, &used, reason, sizeof(reason)) ==
			      MIG_REPLY_BAD);
			CHECK(used == 0);
			break;
		}
		CHECK(used >= 1); /* so the loop ends */
		CHECK(k == MIG_REPLY_ACCEPT || k == MIG_REPLY_ACK || k == MIG_REPLY_REFUSE ||
		      k == MIG_REPLY_REQ || k == MIG_REPLY_HAVE || k == MIG_REPLY_HAVE_END ||
		      k == MIG_REPLY_COMPLETE);
		if (k != MIG_REPLY_REFUSE)
			CHECK(!reason[0]);
		if (k == MIG_REPLY_REQ) {
			CHECK(!ram_pages || rd.gfn < ram_pages);
			mix64(&h, rd.gfn);
		}
		if (k == MIG_REPLY_HAVE) {
			check_bitmap(rd.first_gfn, rd.words, rd.nwords, MIG_HAVE_WORDS_MAX, ram_pages);
			mix64(&h, rd.first_gfn);
			for (u16 w = 0; w < rd.nwords; w++)
				mix64(&h, rd.words[w]);
		}
		for (const char *c = reason; *c; c++)
			h = (h ^ (u8)*c) * 0x100000001b3ULL;
	}
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	u8 flags = data[0];
	u32 seed = (u32)data[1] | (u32)data[2] << 8 | (u32)data[3] << 16;
	int refuse_at = flags & 0x20 ? data[3] : -1;
	u64 ram_pages = flags & 0x20 ? 1 + 8 * (u64)data[3] : 0;
	max_chunk_log2 = (flags >> 1) & 15;
	data += 4;
	size -= 4;
	rng = seed;
	if (flags & 1)
		CHECK(replies_run(data, size, false, ram_pages) ==
		      replies_run(data, size, true, ram_pages));
	else
		fuzz_stream(data, size, refuse_at);
	return 0;
}

/* ---- seeds ---- */

static u8 sb[24576];
static size_t sl;

static void put(const void *p, size_t n)
{
	if (sl + n > sizeof(sb))
		abort();
	memcpy(sb + sl, p, n);
	sl += n;
}

static void seed_start_caps(u8 flags, u64 ram, u32 caps)
{
	struct mig_header h;
	u8 b[MIG_HEADER_LEN];
	memset(&h, 0, sizeof(h));
	h.version = MIG_VERSION;
	h.page_size = MIG_PAGE_SIZE;
	h.ram_size = ram;
	h.tsc_hz = 3000000000ULL;
	h.caps = caps;
	h.fp.leaf1_ecx = 0x80202001;
	h.fp.leaf1_edx = 0x0789fbff;
	h.fp.xcr0_mask = 7;
	sl = 0;
	u8 pre[4] = { flags, 0x5a, 0xa5, 3 };
	put(pre, 4);
	put(b, mig_enc_header(b, &h));
}

static void seed_start(u8 flags, u64 ram)
{
	seed_start_caps(flags, ram, MIG_CAP_VALIDATE_RAM);
}

static void seed_page(u64 gfn, int fill)
{
	static u8 page[MIG_PAGE_SIZE], e[MIG_PAGE_ENTRY_MAX];
	for (int i = 0; i < MIG_PAGE_SIZE; i++)
		page[i] = fill >= 0 ? (u8)fill : (u8)(i ^ gfn);
	put(e, mig_enc_page(e, gfn, page));
}

static void seed_section(u32 id, u32 len)
{
	u8 b[13];
	put(b, mig_enc_section_begin(b, id, 1, len));
	for (u32 i = 0; i < len; i++) {
		u8 c = (u8)(i * 7);
		put(&c, 1);
	}
}

static void seed_tail(void)
{
	u8 b[10];
	put(b, mig_enc_round(b, 2));
	put(b, mig_enc_end(b, true, 0x0123456789abcdefULL));
	put(b, mig_enc_go(b));
}

/* Post-copy: a whole migration, a refused one, a resumed one; the replies. */
static void seed_postcopy(void)
{
	u8 b[MIG_MAP_HDR_LEN + 8 * MIG_HAVE_WORDS_MAX];
	const u64 map[3] = { ~1ULL, 0x8000000000000001ULL, 0x3 }; /* 130 pages */
	for (int i = 0; i < 2; i++) {
		seed_start_caps(i ? 0x2c : 0x08, 130 * MIG_PAGE_SIZE, 0);
		put(b, mig_enc_round(b, 1));
		put(b, mig_enc_pages_begin(b, 1));
		seed_page(0, -1);
		seed_section(MIG_SEC_CPU, 40);
		put(b, mig_enc_map(b, 0, map, 3));
		put(b, mig_enc_postcopy(b, 0x1122334455667788ULL));
		put(b, mig_enc_go(b));
		put(b, mig_enc_pages_begin(b, 2));
		seed_page(129, 0x11);
		seed_page(64, -1);
		put(b, mig_enc_end(b, false, 0));
		seed_add(sb, sl);
	}
	seed_start_caps(0x0c, 16 * MIG_PAGE_SIZE, MIG_CAP_RESUME);
	put(b, mig_enc_resume(b, 0x1122334455667788ULL));
	put(b, mig_enc_pages_begin(b, 2));
	seed_page(3, 0);
	seed_page(15, -1);
	put(b, mig_enc_end(b, false, 0));
	seed_add(sb, sl);

	/* Replies bounded to 1 + 8 * 130 = 1041 pages, then without a bound. */
	static u64 have[MIG_HAVE_WORDS_MAX];
	for (int w = 0; w < MIG_HAVE_WORDS_MAX; w++)
		have[w] = 0x5555555555555555ULL << (w & 1);
	for (int i = 0; i < 2; i++) {
		sl = 0;
		u8 pre[4] = { i ? 0x03 : 0x21, 0x12, 0x34, 130 };
		put(pre, 4);
		put(b, mig_enc_accept(b));
		put(b, mig_enc_req(b, 1040));
		put(b, mig_enc_have(b, 0, have, MIG_HAVE_WORDS_MAX));
		put(b, mig_enc_have(b, 1024, have, 1));
		put(b, mig_enc_have_end(b));
		put(b, mig_enc_req(b, 7));
		put(b, mig_enc_complete(b));
		put(b, mig_enc_ack(b));
		seed_add(sb, sl);
	}
	/* MAP and HAVE of gfn 0, 1 word; POSTCOPY, RESUME id 1; REQ gfn 0. */
	seed_dict("\x06\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00", MIG_MAP_HDR_LEN);
	seed_dict("\x85\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00", MIG_MAP_HDR_LEN);
	seed_dict("\x07\x01\x00\x00\x00\x00\x00\x00\x00", 9);
	seed_dict("\x08\x01\x00\x00\x00\x00\x00\x00\x00", 9);
	seed_dict("\x84\x00\x00\x00\x00\x00\x00\x00\x00", 9);
	seed_dict("\x86\x87", 2);             /* HAVE_END, COMPLETE */
	seed_dict("\x02\x00\x00\x00", 4);     /* caps: RESUME */
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!seed_dir())
		return 0;
	u8 b[16];
	/* A whole small migration, in small and in large chunks. */
	for (int i = 0; i < 2; i++) {
		seed_start(i ? 0x1e : 0x06, 16 * MIG_PAGE_SIZE);
		put(b, mig_enc_round(b, 1));
		put(b, mig_enc_pages_begin(b, 3));
		seed_page(0, -1);
		seed_page(1, 0);
		seed_page(15, 0xcc);
		seed_section(MIG_SEC_CPU, 0);
		seed_section(MIG_SEC_UART, 8);
		seed_section(MIG_SEC_TIME, 300);
		seed_tail();
		seed_add(sb, sl);
	}
	/* Fill pages only, the receiver refusing the third event. */
	seed_start(0x2a, 4 * MIG_PAGE_SIZE);
	put(b, mig_enc_round(b, 1));
	put(b, mig_enc_pages_begin(b, 4));
	for (int g = 0; g < 4; g++)
		seed_page((u64)g, g);
	seed_tail();
	seed_add(sb, sl);
	/* The largest section. */
	seed_start(0x10, 1 * MIG_PAGE_SIZE);
	seed_section(MIG_SEC_CPU, MIG_SECTION_MAX);
	put(b, mig_enc_end(b, false, 0));
	put(b, mig_enc_go(b));
	seed_add(sb, sl);
	/* The header alone, and one with trailing bytes after GO. */
	seed_start(0x02, 1ULL << 30);
	seed_add(sb, sl);
	put(b, mig_enc_end(b, false, 0));
	put(b, mig_enc_go(b));
	put("\x01\x01\x00", 3);
	seed_add(sb, sl);
	/* Replies: every kind, then a bad byte. */
	sl = 0;
	put("\x01\x33\x44\x00", 4);
	put(b, mig_enc_accept(b));
	u8 r[3 + MIG_REASON_MAX];
	put(r, mig_enc_refuse(r, "cpu: leaf 7 EBX lacks bits 0x20 the guest was shown"));
	put(b, mig_enc_ack(b));
	put(r, mig_enc_refuse(r, ""));
	put("\x07", 1);
	seed_add(sb, sl);
	seed_postcopy();

	seed_dict(MIG_MAGIC, 8);
	seed_dict("\x01\x00\x00\x00\x00\x10\x00\x00", 8); /* version 1, 4096-byte pages */
	seed_dict("\x28\x00\x00\x00", 4);                 /* fp_len */
	static const u8 recs[][3] = { { MIG_REC_PAGES, 1, 0 }, { MIG_REC_SECTION, 1, 0 },
				      { MIG_REC_ROUND, 1, 0 }, { MIG_REC_END, 1, 0 },
				      { MIG_REC_GO, 0, 0 },    { MIG_REP_REFUSE, 4, 0 } };
	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
		seed_dict(recs[i], 3);
	seed_dict("\x00\x00\x00\x00\x00\x00\x00\x00\x00", 9); /* gfn 0, NORMAL */
	seed_dict("\x00\x00\x00\x00\x00\x00\x00\x00\x01", 9); /* gfn 0, FILL */
	exit(0);
}
