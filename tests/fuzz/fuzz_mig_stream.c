/*
 * Fuzz target: the migration stream's decoders (migrate/stream.c), i.e. what
 * a source, or anyone who reached the port, can send a destination, and
 * what a destination can answer a source.
 * Input: byte 0 = flags (bit 0: the reply channel instead of the stream;
 * bits 1-4: log2 of the largest chunk; bit 5: the receiver refuses event
 * number byte 3), bytes 1-3 seed the chunking, then the bytes on the wire.
 * Stream invariants: the callbacks see a valid header first and only once,
 * gfn < the header's page count, whole pages and sections of at most
 * MIG_SECTION_MAX (read to the last byte, so ASan sees any overrun), rounds
 * strictly increasing, nothing but GO after END and nothing after GO or an
 * error; a feed consumes all it is given while the stream goes on and
 * nothing once it is over; an error is one printable NUL-terminated line;
 * and fed whole or in random chunks the decoder reports exactly the same
 * events, consumed count, status and message.
 * Reply invariants: each reply consumes at least one byte and at most what
 * it was given, NONE only when it took everything; reasons are printable,
 * NUL-terminated, at most MIG_REASON_MAX; BAD is final and consumes nothing
 * more; whole and chunked feeds agree.
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
	bool header, end, go, refused;
	u32 round;
	u64 pages;
};

static void mix(struct obs *o, const void *p, size_t n)
{
	const u8 *b = p;
	for (size_t i = 0; i < n; i++)
		o->hash = (o->hash ^ b[i]) * 0x100000001b3ULL;
}

/* Every event: it comes after a header (but the header), never after GO,
 * and maybe it is the one the receiver refuses. */
static int event(struct obs *o, char type, char *why, size_t len)
{
	CHECK(!o->go && !o->refused);
	CHECK(type == 'H' ? !o->header : o->header);
	CHECK(!o->end || type == 'G');
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
	CHECK((h->caps & ~(u32)MIG_CAP_VALIDATE_RAM) == 0);
	CHECK(h->fp.pad == 0);
	int rc = event(o, 'H', why, len);
	o->header = true;
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
	int rc = event(o, 'E', why, len);
	o->end = true;
	mix(o, &has, 1);
	mix(o, &digest, 8);
	return rc;
}

static int s_go(void *ctx, char *why, size_t len)
{
	struct obs *o = ctx;
	CHECK(o->end);
	int rc = event(o, 'G', why, len);
	o->go = true;
	return rc;
}

static const struct mig_dec_ops ops = { s_header, s_page, s_fill, s_section, s_round, s_end, s_go };

static struct mig_dec dec;

struct result {
	struct obs o;
	size_t used;
	enum mig_dec_status status;
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
		CHECK(r->o.go);
	r->status = dec.status;
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
	CHECK(!strcmp(whole.error, chunked.error));
}

/* ---- replies ---- */

static u64 replies_run(const u8 *data, size_t size, bool chunk)
{
	static struct mig_reply_dec rd;
	char reason[MIG_REASON_MAX + 2];
	u64 h = 0xcbf29ce484222325ULL;
	size_t pos = 0, n = 0;
	mig_reply_init(&rd);
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
		CHECK(k == MIG_REPLY_ACCEPT || k == MIG_REPLY_ACK || k == MIG_REPLY_REFUSE);
		if (k != MIG_REPLY_REFUSE)
			CHECK(!reason[0]);
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
	max_chunk_log2 = (flags >> 1) & 15;
	data += 4;
	size -= 4;
	rng = seed;
	if (flags & 1)
		CHECK(replies_run(data, size, false) == replies_run(data, size, true));
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

static void seed_start(u8 flags, u64 ram)
{
	struct mig_header h;
	u8 b[MIG_HEADER_LEN];
	memset(&h, 0, sizeof(h));
	h.version = MIG_VERSION;
	h.page_size = MIG_PAGE_SIZE;
	h.ram_size = ram;
	h.tsc_hz = 3000000000ULL;
	h.caps = MIG_CAP_VALIDATE_RAM;
	h.fp.leaf1_ecx = 0x80202001;
	h.fp.leaf1_edx = 0x0789fbff;
	h.fp.xcr0_mask = 7;
	sl = 0;
	u8 pre[4] = { flags, 0x5a, 0xa5, 3 };
	put(pre, 4);
	put(b, mig_enc_header(b, &h));
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
