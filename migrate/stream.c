/*
 * The migration stream codec (contract and wire format in tern/mig_stream.h,
 * reference in docs/migration-stream.md). Pure: no allocation, no I/O, no
 * clock; the hypervisor, the host unit tests and the fuzzer build this file
 * as it is.
 *
 * The decoder is a push parser built on one rule: every step of the format
 * is a fixed number of bytes (`need`) that is known before the first of them
 * arrives. The bytes of a step are either used in place, when the caller's
 * buffer holds all of them, or gathered in d->buf when they arrive split;
 * either way the step sees them contiguous, so the callbacks see the same
 * sequence whatever the chunking. Each step checks its field against the
 * format's limits before it trusts it, and a failure names the field's
 * stream offset.
 */
#include <tern/mig_stream.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- little-endian fields ---- */

static void put16(u8 *p, u16 v)
{
	p[0] = (u8)v;
	p[1] = (u8)(v >> 8);
}

static void put32(u8 *p, u32 v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (u8)(v >> (8 * i));
}

static void put64(u8 *p, u64 v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (u8)(v >> (8 * i));
}

static u16 get16(const u8 *p)
{
	return (u16)(p[0] | (p[1] << 8));
}

static u32 get32(const u8 *p)
{
	return (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24;
}

static u64 get64(const u8 *p)
{
	return (u64)get32(p) | (u64)get32(p + 4) << 32;
}

/*
 * A native u64 from any address. __builtin_memcpy, not memcpy: the kernel
 * is built -ffreestanding, where a plain memcpy stays a call, and these
 * loads sit in the per-word loops of the digest and the fill test.
 */
static u64 load64(const u8 *p)
{
	u64 v;
	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

/* ---- the fingerprint's place in the header ---- */

/* The fixed header fields after the magic: version .. fp_len. */
#define HDR_FIXED_LEN (4 + 4 + 8 + 8 + 4 + 4)
/* The fingerprint as sent: seven u32 feature words, the reserved u32, xcr0. */
#define FP_WIRE_LEN (8 * 4 + 8)
_Static_assert(FP_WIRE_LEN == sizeof(struct mig_cpu_fp), "fp_len is sizeof the fingerprint");
_Static_assert(MIG_HEADER_LEN == 8 + HDR_FIXED_LEN + FP_WIRE_LEN, "header layout");

/* The feature words in wire order, with the names errors use. */
static const struct {
	size_t off;
	const char *name;
} fp_words[] = {
	{ offsetof(struct mig_cpu_fp, leaf1_ecx), "leaf 1 ECX" },
	{ offsetof(struct mig_cpu_fp, leaf1_edx), "leaf 1 EDX" },
	{ offsetof(struct mig_cpu_fp, leaf7_ebx), "leaf 7 EBX" },
	{ offsetof(struct mig_cpu_fp, leaf7_ecx), "leaf 7 ECX" },
	{ offsetof(struct mig_cpu_fp, leaf7_edx), "leaf 7 EDX" },
	{ offsetof(struct mig_cpu_fp, ext1_ecx), "leaf 0x80000001 ECX" },
	{ offsetof(struct mig_cpu_fp, ext1_edx), "leaf 0x80000001 EDX" },
};

static u32 fp_word(const struct mig_cpu_fp *fp, size_t i)
{
	u32 v;
	memcpy(&v, (const u8 *)fp + fp_words[i].off, sizeof(v));
	return v;
}

static void fp_set_word(struct mig_cpu_fp *fp, size_t i, u32 v)
{
	memcpy((u8 *)fp + fp_words[i].off, &v, sizeof(v));
}

/* ---- encoder ---- */

size_t mig_enc_header(u8 out[MIG_HEADER_LEN], const struct mig_header *h)
{
	u8 *p = out;
	memcpy(p, MIG_MAGIC, 8);
	/* Version and page size are written as given, so tests and the fuzzer
	 * can make a header this end would refuse; the engine passes
	 * MIG_VERSION and MIG_PAGE_SIZE. */
	put32(p + 8, h->version);
	put32(p + 12, h->page_size);
	put64(p + 16, h->ram_size);
	put64(p + 24, h->tsc_hz);
	put32(p + 32, h->caps);
	put32(p + 36, (u32)sizeof(struct mig_cpu_fp));
	p += 8 + HDR_FIXED_LEN;
	for (size_t i = 0; i < ARRAY_SIZE(fp_words); i++, p += 4)
		put32(p, fp_word(&h->fp, i));
	put32(p, 0); /* reserved: always zero on the wire, whatever fp.pad holds */
	put64(p + 4, h->fp.xcr0_mask);
	return MIG_HEADER_LEN;
}

size_t mig_enc_pages_begin(u8 out[3], u16 count)
{
	out[0] = MIG_REC_PAGES;
	put16(out + 1, count);
	return 3;
}

size_t mig_enc_page(u8 out[MIG_PAGE_ENTRY_MAX], u64 gfn, const u8 *page)
{
	u8 byte;
	put64(out, gfn);
	if (mig_page_uniform(page, &byte)) {
		out[8] = MIG_PAGE_FILL;
		out[9] = byte;
		return 10;
	}
	out[8] = MIG_PAGE_NORMAL;
	memcpy(out + 9, page, MIG_PAGE_SIZE);
	return MIG_PAGE_ENTRY_MAX;
}

size_t mig_enc_section_begin(u8 out[MIG_SECTION_HDR_LEN], u32 id, u32 version, u32 len)
{
	out[0] = MIG_REC_SECTION;
	put32(out + 1, id);
	put32(out + 5, version);
	put32(out + 9, len);
	return MIG_SECTION_HDR_LEN;
}

size_t mig_enc_round(u8 out[5], u32 round)
{
	out[0] = MIG_REC_ROUND;
	put32(out + 1, round);
	return 5;
}

size_t mig_enc_end(u8 out[MIG_END_LEN], bool has_digest, u64 digest)
{
	out[0] = MIG_REC_END;
	out[1] = has_digest ? 1 : 0;
	if (!has_digest)
		return 2;
	put64(out + 2, digest);
	return MIG_END_LEN;
}

size_t mig_enc_go(u8 out[1])
{
	out[0] = MIG_REC_GO;
	return 1;
}

size_t mig_enc_accept(u8 out[1])
{
	out[0] = MIG_REP_ACCEPT;
	return 1;
}

size_t mig_enc_ack(u8 out[1])
{
	out[0] = MIG_REP_ACK;
	return 1;
}

size_t mig_enc_refuse(u8 *out, const char *reason)
{
	size_t n = reason ? strnlen(reason, MIG_REASON_MAX) : 0;
	out[0] = MIG_REP_REFUSE;
	put16(out + 1, (u16)n);
	memcpy(out + 3, reason ? reason : "", n);
	return 3 + n;
}

/* ---- post-copy encoders ---- */

/* MAP and HAVE share a layout: type, first_gfn, nwords, the words. */
static size_t enc_bitmap(u8 *out, u8 type, u64 first_gfn, const u64 *words, u16 nwords)
{
	out[0] = type;
	put64(out + 1, first_gfn);
	put16(out + 9, nwords);
	for (u16 i = 0; i < nwords; i++)
		put64(out + MIG_MAP_HDR_LEN + 8 * (size_t)i, words[i]);
	return MIG_MAP_HDR_LEN + 8 * (size_t)nwords;
}

static size_t enc_u64_rec(u8 out[9], u8 type, u64 v)
{
	out[0] = type;
	put64(out + 1, v);
	return 9;
}

size_t mig_enc_map(u8 *out, u64 first_gfn, const u64 *words, u16 nwords)
{
	return enc_bitmap(out, MIG_REC_MAP, first_gfn, words, nwords);
}

size_t mig_enc_postcopy(u8 out[9], u64 id)
{
	return enc_u64_rec(out, MIG_REC_POSTCOPY, id);
}

size_t mig_enc_resume(u8 out[9], u64 id)
{
	return enc_u64_rec(out, MIG_REC_RESUME, id);
}

size_t mig_enc_req(u8 out[9], u64 gfn)
{
	return enc_u64_rec(out, MIG_REP_REQ, gfn);
}

size_t mig_enc_have(u8 *out, u64 first_gfn, const u64 *words, u16 nwords)
{
	return enc_bitmap(out, MIG_REP_HAVE, first_gfn, words, nwords);
}

size_t mig_enc_have_end(u8 out[1])
{
	out[0] = MIG_REP_HAVE_END;
	return 1;
}

size_t mig_enc_complete(u8 out[1])
{
	out[0] = MIG_REP_COMPLETE;
	return 1;
}

/* ---- page bitmaps (MAP, HAVE): the rules both decoders apply ---- */

/*
 * The head of a bitmap record: first_gfn a multiple of 64, 1..max words,
 * all of them inside RAM rounded up to whole words (pages = 0: anywhere
 * below 2^64). Returns -1 when it holds, else the offset of the field at
 * fault from first_gfn (0 or 8), with why in msg.
 */
static int bitmap_head_check(const char *name, u64 first, u16 nwords, u16 max, u64 pages,
			     char *msg, size_t len)
{
	if (first % 64) {
		snprintf(msg, len, "%s first gfn %#llx is not a multiple of 64", name,
			 (unsigned long long)first);
		return 0;
	}
	if (nwords == 0 || nwords > max) {
		snprintf(msg, len, "%s word count %u (1..%u)", name, nwords, max);
		return 8;
	}
	/* In words, so that nothing overflows: 2^58 words span every u64 gfn. */
	u64 limit = pages ? (pages + 63) / 64 : 1ULL << 58;
	if (first / 64 >= limit || nwords > limit - first / 64) {
		if (pages)
			snprintf(msg, len, "%s for %u gfns from gfn %#llx goes past RAM (%llu pages)", name,
				 64u * nwords, (unsigned long long)first, (unsigned long long)pages);
		else
			snprintf(msg, len, "%s for %u gfns from gfn %#llx goes past the last gfn", name,
				 64u * nwords, (unsigned long long)first);
		return 0;
	}
	return -1;
}

/*
 * Words decoded from the wire into out; then the first set bit for a gfn at
 * or past pages (0: no bound): returns its word's index, its gfn in *gfn, or
 * -1 when there is none. Only the words that reach past pages can hold one.
 */
static int bitmap_words(u64 first, const u8 *f, u64 *out, u16 nwords, u64 pages, u64 *gfn)
{
	int bad = -1;
	for (u16 w = 0; w < nwords; w++) {
		out[w] = get64(f + 8 * (size_t)w);
		u64 base = first + 64 * (u64)w;
		if (bad >= 0 || !pages || base + 64 <= pages)
			continue;
		u64 past = out[w] & (base >= pages ? ~0ULL : ~0ULL << (pages - base));
		if (past) {
			*gfn = base + (u64)__builtin_ctzll(past);
			bad = w;
		}
	}
	return bad;
}

/* ---- pages and the RAM digest ---- */

bool mig_page_uniform(const u8 *page, u8 *byte)
{
	/* Word compares against the first byte repeated: the sender asks this of
	 * every page of every round, and most guest RAM is not uniform, so the
	 * usual answer comes from the first differing word. */
	u64 pat = page[0] * 0x0101010101010101ULL;
	for (size_t i = 0; i < MIG_PAGE_SIZE; i += 8)
		if (load64(page + i) != pat)
			return false;
	if (byte)
		*byte = page[0];
	return true;
}

/*
 * The digest exists to catch engine bugs (a page sent twice with stale data,
 * one never sent, a gfn off by one), not an attacker: the stream runs inside
 * TLS, which gives the cryptographic integrity. It must be fast, since both
 * ends read all of RAM with the guest stopped.
 *
 * Each page is hashed in four independent lanes (so the multiplies overlap
 * instead of waiting on each other), seeded with the page index so that the
 * same contents at another gfn hash differently. Every step
 * x -> ((x ^ w) * K) ^ (... >> 29) is a bijection of x for a fixed word w and
 * injective in w for a fixed x, and the page's lanes and the pages are folded
 * with steps of the same kind; so two RAM images that differ in a single
 * word (hence in any single byte) always give different digests, not merely
 * probably.
 */
#define DIG_K1 0x9e3779b97f4a7c15ULL /* odd: multiplying by it is invertible */
#define DIG_K2 0xff51afd7ed558ccdULL

static u64 dig_step(u64 x, u64 w)
{
	x = (x ^ w) * DIG_K1;
	return x ^ (x >> 29);
}

static u64 dig_page(u64 index, const u8 *p, size_t n)
{
	u64 seed = index * DIG_K2;
	u64 a = seed ^ 1, b = seed ^ 2, c = seed ^ 3, e = seed ^ 4;
	size_t i = 0;
	for (; i + 32 <= n; i += 32) {
		a = dig_step(a, load64(p + i));
		b = dig_step(b, load64(p + i + 8));
		c = dig_step(c, load64(p + i + 16));
		e = dig_step(e, load64(p + i + 24));
	}
	for (; i + 8 <= n; i += 8)
		a = dig_step(a, load64(p + i));
	if (i < n) { /* a short tail (RAM is whole pages; this is for callers that are not) */
		u64 w = 0;
		for (size_t k = 0; i + k < n; k++)
			w |= (u64)p[i + k] << (8 * k);
		b = dig_step(b, w);
	}
	u64 h = dig_step(seed, a);
	h = dig_step(h, b);
	h = dig_step(h, c);
	return dig_step(h, e);
}

u64 mig_ram_digest(const u8 *ram, u64 size)
{
	u64 h = dig_step(0x5445524e4d494731ULL /* "TERNMIG1" */, size);
	for (u64 off = 0, index = 0; off < size; off += MIG_PAGE_SIZE, index++) {
		size_t n = size - off < MIG_PAGE_SIZE ? (size_t)(size - off) : MIG_PAGE_SIZE;
		h = dig_step(h, dig_page(index, ram + off, n));
	}
	return h;
}

/* ---- compatibility checks for the destination ---- */

int mig_fp_check(const struct mig_cpu_fp *guest, const struct mig_cpu_fp *host, char *why,
		 size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(fp_words); i++) {
		u32 lacks = fp_word(guest, i) & ~fp_word(host, i);
		if (lacks) {
			if (why && len)
				snprintf(why, len, "cpu: %s lacks bits %#x the guest was shown",
					 fp_words[i].name, (unsigned)lacks);
			return -1;
		}
	}
	u64 lacks = guest->xcr0_mask & ~host->xcr0_mask;
	if (lacks) {
		if (why && len)
			snprintf(why, len, "cpu: XCR0 lacks bits %#llx the guest may enable",
				 (unsigned long long)lacks);
		return -1;
	}
	return 0;
}

/* At most 250 ppm, i.e. |src - dst| * 4000 <= src, measured against the
 * source: the guest calibrated its clock there. */
#define TSC_PPM_MAX 250

int mig_tsc_check(u64 src_hz, u64 dst_hz, char *why, size_t len)
{
	if (!src_hz || !dst_hz) {
		if (why && len)
			snprintf(why, len, "tsc: rate unknown (source %llu Hz, this host %llu Hz)",
				 (unsigned long long)src_hz, (unsigned long long)dst_hz);
		return -1;
	}
	u64 diff = src_hz > dst_hz ? src_hz - dst_hz : dst_hz - src_hz;
	/* diff * 10^6 / src > 250 without overflow: diff > floor(src / 4000) is
	 * the same test on integers. */
	u64 limit = src_hz / (1000000 / TSC_PPM_MAX);
	if (diff <= limit)
		return 0;
	/* In Hz, not ppm: a rounded ppm figure could read "250" for a pair
	 * just over the limit. */
	if (why && len)
		snprintf(why, len,
			 "tsc: source %llu Hz, this host %llu Hz: %llu Hz apart, more than %d ppm "
			 "(%llu Hz; Tern cannot scale the TSC)",
			 (unsigned long long)src_hz, (unsigned long long)dst_hz,
			 (unsigned long long)diff, TSC_PPM_MAX, (unsigned long long)limit);
	return -1;
}

/* ---- stream decoder ---- */

enum {
	P_MAGIC,        /* 8 bytes */
	P_HDR_FIXED,    /* version .. fp_len */
	P_HDR_FP,       /* the fingerprint */
	P_TYPE,         /* a record's type byte */
	P_PAGES_COUNT,  /* u16 */
	P_ENTRY,        /* u64 gfn, u8 kind */
	P_PAGE_DATA,    /* 4096 bytes */
	P_FILL_BYTE,    /* u8 */
	P_SECTION_HEAD, /* id, version, len */
	P_SECTION_DATA, /* len bytes */
	P_ROUND,        /* u32 */
	P_END_FLAG,     /* u8 has_digest */
	P_END_DIGEST,   /* u64 */
	P_MAP_HEAD,     /* u64 first_gfn, u16 nwords */
	P_MAP_WORDS,    /* nwords x u64 */
	P_POSTCOPY,     /* u64 id */
	P_RESUME,       /* u64 id */
};

_Static_assert(sizeof(((struct mig_dec *)0)->buf) >= MIG_SECTION_MAX, "a section fits d->buf");
_Static_assert(sizeof(((struct mig_dec *)0)->buf) >= MIG_PAGE_SIZE, "a page fits d->buf");
_Static_assert(sizeof(((struct mig_dec *)0)->buf) >= MIG_HEADER_LEN, "the header fits d->buf");
_Static_assert(sizeof(((struct mig_dec *)0)->buf) >= 8 * MIG_MAP_WORDS_MAX, "a MAP fits d->buf");

static const struct mig_dec_ops no_ops;

/* Every step returns 0 to go on or -1 once the decoder has failed. */
__printf(3, 4) static int dec_fail(struct mig_dec *d, u64 at, const char *fmt, ...);

static int dec_fail(struct mig_dec *d, u64 at, const char *fmt, ...)
{
	int n = snprintf(d->error, sizeof(d->error), "stream: byte %llu: ", (unsigned long long)at);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(d->error))
		vsnprintf(d->error + n, sizeof(d->error) - (size_t)n, fmt, ap);
	va_end(ap);
	d->status = MIG_DEC_ERROR;
	return -1;
}

/*
 * A callback's verdict. Its reason becomes the decoder's error as written
 * (the destination sends it back in REFUSE); one that refused without saying
 * why gets a reason that names the record and where it is.
 */
static int dec_verdict(struct mig_dec *d, int rc, u64 at, const char *what)
{
	if (rc == 0) {
		d->error[0] = '\0'; /* whatever it wrote is no error */
		return 0;
	}
	if (!d->error[0])
		return dec_fail(d, at, "%s refused by the receiver", what);
	/* One printable line, whatever the callback wrote: it goes to a log
	 * and, in REFUSE, to the other end. */
	d->error[sizeof(d->error) - 1] = '\0';
	for (char *c = d->error; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			*c = '?';
	d->status = MIG_DEC_ERROR;
	return -1;
}

/* Before each callback: an empty reason, so one it left unset is seen. */
static char *why(struct mig_dec *d)
{
	d->error[0] = '\0';
	return d->error;
}

static int expect(struct mig_dec *d, int phase, u32 need)
{
	d->phase = phase;
	d->need = need;
	return 0;
}

/* A record type for a message: "PAGES record", "unknown record type 0x42". */
static const char *rec_what(u8 type, char *buf, size_t len)
{
	static const char *const names[] = {
		[MIG_REC_PAGES] = "PAGES",	 [MIG_REC_SECTION] = "SECTION",
		[MIG_REC_ROUND] = "ROUND",	 [MIG_REC_END] = "END",
		[MIG_REC_GO] = "GO",		 [MIG_REC_MAP] = "MAP",
		[MIG_REC_POSTCOPY] = "POSTCOPY", [MIG_REC_RESUME] = "RESUME",
	};
	if (type < ARRAY_SIZE(names) && names[type])
		snprintf(buf, len, "%s record", names[type]);
	else
		snprintf(buf, len, "unknown record type 0x%02x", type);
	return buf;
}

static int dec_header_fixed(struct mig_dec *d, const u8 *f, u64 at)
{
	u32 version = get32(f), page_size = get32(f + 4), caps = get32(f + 24);
	u32 fp_len = get32(f + 28);
	u64 ram = get64(f + 8);

	/* Version first: a later version may lay out the rest differently. */
	if (version != MIG_VERSION)
		return dec_fail(d, at, "version %u (this end speaks %u)", version, MIG_VERSION);
	if (page_size != MIG_PAGE_SIZE)
		return dec_fail(d, at + 4, "page size %u (expected %u)", page_size, MIG_PAGE_SIZE);
	if (!ram || ram % MIG_PAGE_SIZE || ram > MIG_RAM_MAX)
		return dec_fail(d, at + 8,
				"RAM size %llu (a nonzero multiple of %u, at most %llu)",
				(unsigned long long)ram, MIG_PAGE_SIZE, (unsigned long long)MIG_RAM_MAX);
	/* A capability asks the destination to do something: one it does not
	 * know it cannot honour. */
	const u32 known = MIG_CAP_VALIDATE_RAM | MIG_CAP_RESUME;
	if (caps & ~known)
		return dec_fail(d, at + 24, "unknown capabilities %#x", caps & ~known);
	if (fp_len != sizeof(struct mig_cpu_fp))
		return dec_fail(d, at + 28, "CPU fingerprint length %u (expected %u)", fp_len,
				(unsigned)sizeof(struct mig_cpu_fp));
	d->ram_size = ram;
	/* Keep what the fingerprint step needs to build the header. */
	memmove(d->buf + MIG_HEADER_LEN, f, HDR_FIXED_LEN);
	return expect(d, P_HDR_FP, FP_WIRE_LEN);
}

static int dec_header_fp(struct mig_dec *d, const u8 *f, u64 at)
{
	u32 reserved = get32(f + 7 * 4);
	if (reserved)
		return dec_fail(d, at + 7 * 4, "CPU fingerprint reserved word %#x (must be 0)", reserved);

	const u8 *fx = d->buf + MIG_HEADER_LEN; /* saved by dec_header_fixed */
	struct mig_header h;
	memset(&h, 0, sizeof(h));
	h.version = get32(fx);
	h.page_size = get32(fx + 4);
	h.ram_size = get64(fx + 8);
	h.tsc_hz = get64(fx + 16);
	h.caps = get32(fx + 24);
	for (size_t i = 0; i < ARRAY_SIZE(fp_words); i++)
		fp_set_word(&h.fp, i, get32(f + 4 * i));
	h.fp.xcr0_mask = get64(f + 8 * 4);
	d->header_seen = true;
	d->resume_due = (h.caps & MIG_CAP_RESUME) != 0;
	expect(d, P_TYPE, 1);
	if (!d->ops->header)
		return 0;
	return dec_verdict(d, d->ops->header(d->ctx, &h, why(d), sizeof(d->error)),
			   at - 8 - HDR_FIXED_LEN, "header");
}

/*
 * Which records may come where. A resumed stream starts with RESUME; END
 * and POSTCOPY let only GO follow; the post-copy live phase (the guest runs
 * on the destination) takes pages and the END that closes it, nothing that
 * would change state the guest already uses.
 */
static int dec_type_allowed(struct mig_dec *d, u8 type, u64 at)
{
	char what[40];
	if (d->resume_due && type != MIG_REC_RESUME)
		return dec_fail(d, at, "%s where RESUME must come (the header has MIG_CAP_RESUME)",
				rec_what(type, what, sizeof(what)));
	if (d->end_seen && type != MIG_REC_GO)
		return dec_fail(d, at, "%s after END (only GO may follow)",
				rec_what(type, what, sizeof(what)));
	if (d->postcopy_live && type != MIG_REC_PAGES && type != MIG_REC_END)
		return dec_fail(d, at, "%s in the post-copy phase (only PAGES and END may come)",
				rec_what(type, what, sizeof(what)));
	if (d->postcopy_seen && !d->postcopy_live && type != MIG_REC_GO)
		return dec_fail(d, at, "%s after POSTCOPY (only GO may follow)",
				rec_what(type, what, sizeof(what)));
	return 0;
}

static int dec_type(struct mig_dec *d, u8 type, u64 at)
{
	if (dec_type_allowed(d, type, at))
		return -1;
	switch (type) {
	case MIG_REC_PAGES:
		return expect(d, P_PAGES_COUNT, 2);
	case MIG_REC_SECTION:
		return expect(d, P_SECTION_HEAD, 12);
	case MIG_REC_ROUND:
		return expect(d, P_ROUND, 4);
	case MIG_REC_END:
		return expect(d, P_END_FLAG, 1);
	case MIG_REC_GO:
		/* GO answers ACK, which the destination sends once END (or
		 * POSTCOPY) was loaded. After POSTCOPY the stream goes on: the
		 * pages the MAP records named follow while the guest runs. */
		if (d->postcopy_seen)
			d->postcopy_live = true;
		else if (d->end_seen)
			d->status = MIG_DEC_DONE;
		else
			return dec_fail(d, at, "GO before END or POSTCOPY");
		if (!d->ops->go)
			return 0;
		return dec_verdict(d, d->ops->go(d->ctx, why(d), sizeof(d->error)), at, "GO");
	case MIG_REC_MAP:
		return expect(d, P_MAP_HEAD, MIG_MAP_HDR_LEN - 1);
	case MIG_REC_POSTCOPY:
		return expect(d, P_POSTCOPY, 8);
	case MIG_REC_RESUME:
		if (!d->resume_due)
			return dec_fail(d, at, "RESUME record, but the header lacks MIG_CAP_RESUME");
		return expect(d, P_RESUME, 8);
	default:
		return dec_fail(d, at, "unknown record type 0x%02x", type);
	}
}

static int dec_entry_done(struct mig_dec *d)
{
	if (--d->count_left)
		return expect(d, P_ENTRY, 9);
	return expect(d, P_TYPE, 1);
}

static int dec_section(struct mig_dec *d, const u8 *data, u64 at)
{
	expect(d, P_TYPE, 1);
	if (!d->ops->section)
		return 0;
	return dec_verdict(d,
			   d->ops->section(d->ctx, d->sec_id, d->sec_version, data, d->sec_len, why(d),
					   sizeof(d->error)),
			   at, "section");
}

static int dec_map_head(struct mig_dec *d, const u8 *f, u64 at)
{
	char msg[120];
	d->map_first = get64(f);
	d->map_nwords = get16(f + 8);
	int off = bitmap_head_check("MAP", d->map_first, d->map_nwords, MIG_MAP_WORDS_MAX,
				    d->ram_size / MIG_PAGE_SIZE, msg, sizeof(msg));
	if (off >= 0)
		return dec_fail(d, at + (u64)off, "%s", msg);
	return expect(d, P_MAP_WORDS, 8 * (u32)d->map_nwords);
}

static int dec_map_words(struct mig_dec *d, const u8 *f, u64 at)
{
	u64 pages = d->ram_size / MIG_PAGE_SIZE, gfn = 0;
	int w = bitmap_words(d->map_first, f, d->words, d->map_nwords, pages, &gfn);
	if (w >= 0)
		return dec_fail(d, at + 8 * (u64)w, "MAP bit for gfn %#llx outside RAM (%llu pages)",
				(unsigned long long)gfn, (unsigned long long)pages);
	expect(d, P_TYPE, 1);
	if (!d->ops->map)
		return 0;
	return dec_verdict(d,
			   d->ops->map(d->ctx, d->map_first, d->words, d->map_nwords, why(d),
				       sizeof(d->error)),
			   at - (MIG_MAP_HDR_LEN - 1), "MAP");
}

/* POSTCOPY and RESUME: the migration's id, which is never 0. */
static int dec_id(struct mig_dec *d, const u8 *f, u64 at)
{
	u64 id = get64(f);
	bool resume = d->phase == P_RESUME;
	const char *name = resume ? "RESUME" : "POSTCOPY";
	if (!id)
		return dec_fail(d, at, "%s id 0 (a migration's id is nonzero)", name);
	expect(d, P_TYPE, 1);
	int (*cb)(void *, u64, char *, size_t) = resume ? d->ops->resume : d->ops->postcopy;
	if (resume) {
		d->resume_due = false;
		d->postcopy_live = true;
	} else {
		d->postcopy_seen = true;
	}
	if (!cb)
		return 0;
	return dec_verdict(d, cb(d->ctx, id, why(d), sizeof(d->error)), at, name);
}

/* END's flag and digest read; in the live phase END is the last record. */
static int dec_end(struct mig_dec *d, bool has_digest, u64 digest, u64 at)
{
	d->end_seen = true;
	expect(d, P_TYPE, 1);
	if (d->postcopy_live)
		d->status = MIG_DEC_DONE;
	if (!d->ops->end)
		return 0;
	return dec_verdict(d, d->ops->end(d->ctx, has_digest, digest, why(d), sizeof(d->error)), at,
			   "END");
}

/* One complete step: need bytes at f, the first of them at stream offset at. */
static int dec_step(struct mig_dec *d, const u8 *f, u64 at)
{
	u64 pages = d->ram_size / MIG_PAGE_SIZE;

	switch (d->phase) {
	case P_MAGIC:
		if (memcmp(f, MIG_MAGIC, 8)) {
			char seen[9];
			for (int i = 0; i < 8; i++)
				seen[i] = f[i] >= 0x20 && f[i] < 0x7f && f[i] != '"' ? (char)f[i] : '.';
			seen[8] = '\0';
			return dec_fail(d, at, "magic \"%s\" is not \"%s\" (not a Tern migration stream)",
					seen, MIG_MAGIC);
		}
		return expect(d, P_HDR_FIXED, HDR_FIXED_LEN);
	case P_HDR_FIXED:
		return dec_header_fixed(d, f, at);
	case P_HDR_FP:
		return dec_header_fp(d, f, at);
	case P_TYPE:
		return dec_type(d, f[0], at);
	case P_PAGES_COUNT:
		d->count_left = get16(f);
		if (d->count_left == 0 || d->count_left > MIG_BATCH_MAX)
			return dec_fail(d, at, "page count %u (1..%u)", d->count_left, MIG_BATCH_MAX);
		return expect(d, P_ENTRY, 9);
	case P_ENTRY:
		d->gfn = get64(f);
		if (d->gfn >= pages)
			return dec_fail(d, at, "gfn %#llx outside RAM (%llu pages)",
					(unsigned long long)d->gfn, (unsigned long long)pages);
		if (f[8] == MIG_PAGE_NORMAL)
			return expect(d, P_PAGE_DATA, MIG_PAGE_SIZE);
		if (f[8] == MIG_PAGE_FILL)
			return expect(d, P_FILL_BYTE, 1);
		return dec_fail(d, at + 8, "unknown page kind %u (gfn %#llx)", f[8],
				(unsigned long long)d->gfn);
	case P_PAGE_DATA:
		dec_entry_done(d);
		if (!d->ops->page)
			return 0;
		return dec_verdict(d, d->ops->page(d->ctx, d->gfn, f, why(d), sizeof(d->error)), at,
				   "page");
	case P_FILL_BYTE:
		dec_entry_done(d);
		if (!d->ops->fill)
			return 0;
		return dec_verdict(d, d->ops->fill(d->ctx, d->gfn, f[0], why(d), sizeof(d->error)),
				   at, "page");
	case P_SECTION_HEAD:
		d->sec_id = get32(f);
		d->sec_version = get32(f + 4);
		d->sec_len = get32(f + 8);
		if (d->sec_len > MIG_SECTION_MAX)
			return dec_fail(d, at + 8, "section %u length %u (at most %u)", d->sec_id,
					d->sec_len, MIG_SECTION_MAX);
		if (d->sec_len == 0) /* no data step: a step of 0 bytes would never run */
			return dec_section(d, d->buf, at);
		return expect(d, P_SECTION_DATA, d->sec_len);
	case P_SECTION_DATA:
		return dec_section(d, f, at);
	case P_ROUND: {
		u32 round = get32(f);
		if (round <= d->round) {
			if (d->round == 0)
				return dec_fail(d, at, "round 0 (rounds start at 1)");
			return dec_fail(d, at, "round %u after round %u (rounds must increase)", round,
					d->round);
		}
		d->round = round;
		expect(d, P_TYPE, 1);
		if (!d->ops->round)
			return 0;
		return dec_verdict(d, d->ops->round(d->ctx, round, why(d), sizeof(d->error)), at,
				   "round");
	}
	case P_END_FLAG:
		if (f[0] > 1)
			return dec_fail(d, at, "END digest flag %u (0 or 1)", f[0]);
		if (f[0] && d->postcopy_live)
			return dec_fail(d, at,
					"END with a digest in a post-copy stream (the guest ran on the "
					"destination: its RAM cannot match a digest)");
		if (f[0])
			return expect(d, P_END_DIGEST, 8);
		return dec_end(d, false, 0, at);
	case P_END_DIGEST:
		return dec_end(d, true, get64(f), at - 1);
	case P_MAP_HEAD:
		return dec_map_head(d, f, at);
	case P_MAP_WORDS:
		return dec_map_words(d, f, at);
	case P_POSTCOPY:
	case P_RESUME:
		return dec_id(d, f, at);
	}
	return dec_fail(d, at, "decoder phase %d (a bug)", d->phase);
}

void mig_dec_init(struct mig_dec *d, const struct mig_dec_ops *ops, void *ctx)
{
	memset(d, 0, sizeof(*d));
	d->ops = ops ? ops : &no_ops;
	d->ctx = ctx;
	d->status = MIG_DEC_OK;
	expect(d, P_MAGIC, 8);
}

size_t mig_dec_feed(struct mig_dec *d, const u8 *data, size_t len)
{
	size_t pos = 0;
	while (d->status == MIG_DEC_OK && pos < len) {
		const u8 *f;
		size_t avail = len - pos;
		if (d->have == 0 && avail >= d->need) {
			/* The whole step is in the caller's buffer: no copy. */
			f = data + pos;
			pos += d->need;
			d->bytes += d->need;
		} else {
			size_t take = MIN((size_t)(d->need - d->have), avail);
			memcpy(d->buf + d->have, data + pos, take);
			d->have += (u32)take;
			pos += take;
			d->bytes += take;
			if (d->have < d->need)
				break;
			f = d->buf;
			d->have = 0;
		}
		dec_step(d, f, d->bytes - d->need);
	}
	return pos;
}

/* ---- replies ---- */

enum { R_TYPE, R_REFUSE_LEN, R_REFUSE_TEXT, R_REQ, R_HAVE_HEAD, R_HAVE_WORDS, R_BAD };

_Static_assert(sizeof(((struct mig_reply_dec *)0)->buf) >= 8 * MIG_HAVE_WORDS_MAX,
	       "a HAVE's words fit r->buf");

void mig_reply_init(struct mig_reply_dec *r)
{
	memset(r, 0, sizeof(*r));
	r->phase = R_TYPE;
	r->need = 1;
}

/* Copy s to out (NUL-ended, cut to fit), printable ASCII only: a reason goes
 * to the operator's console and log. */
static void copy_printable(char *out, size_t out_len, const u8 *s, size_t n)
{
	if (!out || !out_len)
		return;
	size_t i = 0;
	for (; i < n && i + 1 < out_len; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
	out[i] = '\0';
}

/* The decoder is dead from here on: the description stays in r->buf, so
 * every later call can give it again. */
__printf(3, 4) static void reply_bad(struct mig_reply_dec *r, u64 at, const char *fmt, ...);

static void reply_bad(struct mig_reply_dec *r, u64 at, const char *fmt, ...)
{
	char *s = (char *)r->buf;
	int n = snprintf(s, sizeof(r->buf), "reply: byte %llu: ", (unsigned long long)at);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(r->buf))
		vsnprintf(s + n, sizeof(r->buf) - (size_t)n, fmt, ap);
	va_end(ap);
	r->phase = R_BAD;
}

static void reply_expect(struct mig_reply_dec *r, int phase, u32 need)
{
	r->phase = phase;
	r->need = need;
}

/* A HAVE's head (at: the stream offset of first_gfn). */
static void reply_have_head(struct mig_reply_dec *r, u64 at)
{
	char msg[120];
	r->first_gfn = get64(r->buf);
	r->nwords = get16(r->buf + 8);
	int off = bitmap_head_check("HAVE", r->first_gfn, r->nwords, MIG_HAVE_WORDS_MAX,
				    r->ram_pages, msg, sizeof(msg));
	if (off >= 0)
		reply_bad(r, at + (u64)off, "%s", msg);
	else
		reply_expect(r, R_HAVE_WORDS, 8 * (u32)r->nwords);
}

static enum mig_reply_kind reply_have_words(struct mig_reply_dec *r, u64 at)
{
	u64 gfn = 0;
	int w = bitmap_words(r->first_gfn, r->buf, r->words, r->nwords, r->ram_pages, &gfn);
	if (w >= 0) {
		reply_bad(r, at + 8 * (u64)w, "HAVE bit for gfn %#llx outside RAM (%llu pages)",
			  (unsigned long long)gfn, (unsigned long long)r->ram_pages);
		return MIG_REPLY_NONE;
	}
	reply_expect(r, R_TYPE, 1);
	return MIG_REPLY_HAVE;
}

enum mig_reply_kind mig_reply_feed(struct mig_reply_dec *r, const u8 *data, size_t len,
				   size_t *used, char *reason, size_t reason_len)
{
	size_t pos = 0;
	enum mig_reply_kind kind = MIG_REPLY_NONE;

	if (reason && reason_len)
		reason[0] = '\0';
	while (r->phase != R_BAD && kind == MIG_REPLY_NONE && pos < len) {
		/* Replies are small: gather every step in r->buf, the one copy
		 * costs nothing and keeps this short. */
		size_t take = MIN((size_t)(r->need - r->have), len - pos);
		memcpy(r->buf + r->have, data + pos, take);
		r->have += (u32)take;
		pos += take;
		r->bytes += take;
		if (r->have < r->need)
			break;
		u64 at = r->bytes - r->need;
		r->have = 0;
		switch (r->phase) {
		case R_TYPE:
			switch (r->buf[0]) {
			case MIG_REP_ACCEPT:
				kind = MIG_REPLY_ACCEPT;
				break;
			case MIG_REP_ACK:
				kind = MIG_REPLY_ACK;
				break;
			case MIG_REP_REFUSE:
				reply_expect(r, R_REFUSE_LEN, 2);
				break;
			case MIG_REP_REQ:
				reply_expect(r, R_REQ, 8);
				break;
			case MIG_REP_HAVE:
				reply_expect(r, R_HAVE_HEAD, MIG_MAP_HDR_LEN - 1);
				break;
			case MIG_REP_HAVE_END:
				kind = MIG_REPLY_HAVE_END;
				break;
			case MIG_REP_COMPLETE:
				kind = MIG_REPLY_COMPLETE;
				break;
			default:
				reply_bad(r, at, "unknown reply type 0x%02x", r->buf[0]);
				break;
			}
			break;
		case R_REFUSE_LEN: {
			u16 n = get16(r->buf);
			if (n > MIG_REASON_MAX) {
				reply_bad(r, at, "REFUSE reason length %u (at most %u)", n, MIG_REASON_MAX);
				break;
			}
			if (n == 0) {
				kind = MIG_REPLY_REFUSE;
				r->phase = R_TYPE;
				r->need = 1;
				break;
			}
			r->phase = R_REFUSE_TEXT;
			r->need = n;
			break;
		}
		case R_REFUSE_TEXT:
			copy_printable(reason, reason_len, r->buf, r->need);
			kind = MIG_REPLY_REFUSE;
			r->phase = R_TYPE;
			r->need = 1;
			break;
		case R_REQ:
			r->gfn = get64(r->buf);
			if (r->ram_pages && r->gfn >= r->ram_pages) {
				reply_bad(r, at, "REQ gfn %#llx outside RAM (%llu pages)",
					  (unsigned long long)r->gfn, (unsigned long long)r->ram_pages);
				break;
			}
			kind = MIG_REPLY_REQ;
			reply_expect(r, R_TYPE, 1);
			break;
		case R_HAVE_HEAD:
			reply_have_head(r, at);
			break;
		case R_HAVE_WORDS:
			kind = reply_have_words(r, at);
			break;
		}
	}
	*used = pos;
	if (r->phase == R_BAD) {
		copy_printable(reason, reason_len, r->buf, strnlen((char *)r->buf, sizeof(r->buf)));
		return MIG_REPLY_BAD;
	}
	return kind;
}
