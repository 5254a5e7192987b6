/*
 * The migration stream (docs/migration.md): versioned, sectioned and
 * self-describing, one direction from source to destination, with a small
 * reply channel back on the same connection. Pure: the encoder writes into
 * caller buffers, the decoder is a push parser that accepts its input split
 * at any byte, bounds every length against its own limits and the header's
 * RAM size, and never trusts a count. Both ends and the fuzzer use it.
 *
 * Wire format, all integers little-endian:
 *   header   "TERNMIG1" magic(8) u32 version u32 page_size u64 ram_size
 *            u64 tsc_hz u32 caps (MIG_CAP_*) u32 fp_len (= sizeof fingerprint)
 *            struct mig_cpu_fp (fixed fields, below)
 *   then records, each u8 type followed by:
 *   PAGES    u16 count (1..MIG_BATCH_MAX), then count times:
 *            u64 gfn, u8 kind: MIG_PAGE_NORMAL + 4096 bytes | MIG_PAGE_FILL + u8 byte
 *   SECTION  u32 id, u32 version, u32 len (<= MIG_SECTION_MAX), len bytes
 *   ROUND    u32 round (the round that starts now; strictly increasing)
 *   END      u8 has_digest, [u64 digest]   (last record of the stream but GO;
 *            in a post-copy stream the last of all, and without a digest)
 *   GO       (after ACK: the guest runs on the destination)
 *   MAP      u64 first_gfn (% 64 == 0), u16 nwords (1..MIG_MAP_WORDS_MAX),
 *            nwords x u64: bit b of word w = page first_gfn + 64 w + b is
 *            still to come (post-copy; only before POSTCOPY, never for a gfn
 *            outside RAM)
 *   POSTCOPY u64 id (nonzero): state complete, the MAP pages come later;
 *            only GO may follow, and after it the post-copy live phase
 *   RESUME   u64 id (nonzero): first record after a header with
 *            MIG_CAP_RESUME, and only there; the live phase follows
 *   In the live phase (after POSTCOPY + GO, or RESUME) only PAGES and END.
 * Destination -> source replies, each u8 type followed by:
 *   ACCEPT   (header checked: send pages)
 *   REFUSE   u16 len, len bytes of reason (len <= MIG_REASON_MAX)
 *   ACK      (everything loaded and validated; waiting for GO)
 *   REQ      u64 gfn: send this page first (post-copy)
 *   HAVE     u64 first_gfn, u16 nwords (1..MIG_HAVE_WORDS_MAX), nwords x u64:
 *            bit set = this page is here (a resumed destination's map)
 *   HAVE_END (the HAVE map is complete)
 *   COMPLETE (every page arrived: the source may free the VM)
 */
#ifndef TERN_MIG_STREAM_H
#define TERN_MIG_STREAM_H

#include <tern/types.h>

#define MIG_MAGIC "TERNMIG1"
#define MIG_VERSION 1
#define MIG_PAGE_SIZE 4096
#define MIG_BATCH_MAX 64
#define MIG_SECTION_MAX 16384
#define MIG_REASON_MAX 200
#define MIG_RAM_MAX (64ULL << 30)
#define MIG_MAP_WORDS_MAX 512 /* a MAP covers up to 32768 pages (128 MiB) */
#define MIG_HAVE_WORDS_MAX 16 /* a HAVE covers up to 1024 pages (4 MiB) */
#define MIG_MAP_HDR_LEN 11    /* type, u64 first_gfn, u16 nwords */

enum mig_rec {
	MIG_REC_PAGES = 1,
	MIG_REC_SECTION = 2,
	MIG_REC_ROUND = 3,
	MIG_REC_END = 4,
	MIG_REC_GO = 5,
	MIG_REC_MAP = 6,
	MIG_REC_POSTCOPY = 7,
	MIG_REC_RESUME = 8,
	/* replies */
	MIG_REP_ACCEPT = 0x81,
	MIG_REP_REFUSE = 0x82,
	MIG_REP_ACK = 0x83,
	MIG_REP_REQ = 0x84,
	MIG_REP_HAVE = 0x85,
	MIG_REP_HAVE_END = 0x86,
	MIG_REP_COMPLETE = 0x87,
};

enum mig_page_kind { MIG_PAGE_NORMAL = 0, MIG_PAGE_FILL = 1 };

enum mig_section_id {
	MIG_SEC_CPU = 1,   /* struct vcpu_state (tern/vcpu_state.h) */
	MIG_SEC_TIMER = 2, /* the guest's one-shot timer */
	MIG_SEC_UART = 3,  /* the virtual UART's registers */
	MIG_SEC_TIME = 4,  /* the VM's clock */
	MIG_SEC_PC = 5,    /* PC platform only: its LAPIC (struct vlapic_state) */
};

enum mig_caps {
	MIG_CAP_VALIDATE_RAM = 1u << 0, /* END carries the RAM digest */
	MIG_CAP_RESUME = 1u << 1,       /* RESUME follows: a post-copy stream taken up again */
};

/* The CPU features the guest was shown, and the XCR0 it may use. */
struct mig_cpu_fp {
	u32 leaf1_ecx, leaf1_edx;
	u32 leaf7_ebx, leaf7_ecx, leaf7_edx;
	u32 ext1_ecx, ext1_edx; /* 0x80000001 */
	u32 pad;
	u64 xcr0_mask;
};

struct mig_header {
	u32 version;
	u32 page_size;
	u64 ram_size;
	u64 tsc_hz;
	u32 caps;
	struct mig_cpu_fp fp;
};

#define MIG_HEADER_LEN (8 + 4 + 4 + 8 + 8 + 4 + 4 + sizeof(struct mig_cpu_fp))
#define MIG_PAGE_ENTRY_MAX (8 + 1 + MIG_PAGE_SIZE)
#define MIG_SECTION_HDR_LEN 13 /* type, id, version, length */
#define MIG_END_LEN 10         /* type, flags, digest (the most an END takes) */

/* ---- encoder: each returns the bytes written (never more than stated) ---- */

size_t mig_enc_header(u8 out[MIG_HEADER_LEN], const struct mig_header *h);
/* Start a PAGES record of count entries: 3 bytes. */
size_t mig_enc_pages_begin(u8 out[3], u16 count);
/* One page entry: a FILL entry (10 bytes) when all 4096 bytes are equal, else
 * NORMAL (MIG_PAGE_ENTRY_MAX bytes). */
size_t mig_enc_page(u8 out[MIG_PAGE_ENTRY_MAX], u64 gfn, const u8 *page);
/* Section header (13 bytes); the caller sends len bytes of data after it. */
size_t mig_enc_section_begin(u8 out[MIG_SECTION_HDR_LEN], u32 id, u32 version, u32 len);
size_t mig_enc_round(u8 out[5], u32 round);
size_t mig_enc_end(u8 out[MIG_END_LEN], bool has_digest, u64 digest);
size_t mig_enc_go(u8 out[1]);
size_t mig_enc_accept(u8 out[1]);
size_t mig_enc_ack(u8 out[1]);
/* REFUSE with reason cut to MIG_REASON_MAX; out has 3 + MIG_REASON_MAX bytes. */
size_t mig_enc_refuse(u8 *out, const char *reason);
/*
 * Post-copy. The MAP and HAVE encoders write first_gfn, nwords and the words
 * as given (the rules are the decoder's, so tests can build bad records).
 * MAP record: out holds MIG_MAP_HDR_LEN + 8 * nwords bytes; returns that.
 */
size_t mig_enc_map(u8 *out, u64 first_gfn, const u64 *words, u16 nwords);
size_t mig_enc_postcopy(u8 out[9], u64 id);
size_t mig_enc_resume(u8 out[9], u64 id);
size_t mig_enc_req(u8 out[9], u64 gfn);
/* HAVE reply: out holds MIG_MAP_HDR_LEN + 8 * nwords bytes (nwords <= MIG_HAVE_WORDS_MAX). */
size_t mig_enc_have(u8 *out, u64 first_gfn, const u64 *words, u16 nwords);
size_t mig_enc_have_end(u8 out[1]);
size_t mig_enc_complete(u8 out[1]);

/* True when all bytes of page are equal (*byte is that value). */
bool mig_page_uniform(const u8 *page, u8 *byte);
/* Digest of all guest RAM for validate-ram (not cryptographic: TLS is). */
u64 mig_ram_digest(const u8 *ram, u64 size);

/*
 * The destination's checks of a header, for its header callback. Each
 * returns 0, or -1 with a one-line reason in why (for REFUSE).
 * mig_fp_check: every feature bit of every fingerprint word the guest was
 * shown is also offered by this host, and the guest's xcr0_mask is a subset
 * of the host's ("cpu: leaf 7 EBX lacks bits 0x20 the guest was shown").
 * mig_tsc_check: the rates differ by at most 250 ppm of the source's (Tern
 * cannot scale the TSC); a rate of 0 (unknown) is refused.
 */
int mig_fp_check(const struct mig_cpu_fp *guest, const struct mig_cpu_fp *host, char *why,
		 size_t len);
int mig_tsc_check(u64 src_hz, u64 dst_hz, char *why, size_t len);

/* ---- decoder (source -> destination direction) ---- */

struct mig_dec_ops {
	/* Each returns 0 to go on, or -1 after writing a reason into why. */
	int (*header)(void *ctx, const struct mig_header *h, char *why, size_t len);
	int (*page)(void *ctx, u64 gfn, const u8 *data, char *why, size_t len);
	int (*fill)(void *ctx, u64 gfn, u8 byte, char *why, size_t len);
	int (*section)(void *ctx, u32 id, u32 version, const u8 *data, u32 dlen, char *why,
		       size_t len);
	int (*round)(void *ctx, u32 round, char *why, size_t len);
	int (*end)(void *ctx, bool has_digest, u64 digest, char *why, size_t len);
	int (*go)(void *ctx, char *why, size_t len);
	/* Post-copy. words: nwords aligned, host-order words, valid only
	 * during the call; every set bit is a gfn inside RAM. */
	int (*map)(void *ctx, u64 first_gfn, const u64 *words, u16 nwords, char *why, size_t len);
	int (*postcopy)(void *ctx, u64 id, char *why, size_t len);
	int (*resume)(void *ctx, u64 id, char *why, size_t len);
};

enum mig_dec_status { MIG_DEC_OK, MIG_DEC_DONE, MIG_DEC_ERROR };

struct mig_dec {
	const struct mig_dec_ops *ops;
	void *ctx;
	enum mig_dec_status status;
	char error[160];   /* why, once status is MIG_DEC_ERROR */
	u64 ram_size;      /* from the header; bounds every gfn */
	u64 bytes;         /* consumed so far */
	/*
	 * True once the post-copy live phase began: after GO that followed
	 * POSTCOPY (the guest runs here while pages still arrive), or after
	 * RESUME. From then on only PAGES and END come, and END (no digest)
	 * ends the stream (MIG_DEC_DONE).
	 */
	bool postcopy_live;
	/* parser state: private */
	int phase;
	u32 need, have;
	u32 count_left;
	u32 round;
	bool header_seen, end_seen;
	bool postcopy_seen; /* POSTCOPY came: GO must be next */
	bool resume_due;    /* the header has MIG_CAP_RESUME: RESUME must be next */
	u32 sec_id, sec_version, sec_len;
	u64 gfn;
	u64 map_first;
	u16 map_nwords;
	u64 words[MIG_MAP_WORDS_MAX]; /* a MAP's words, decoded for its callback */
	u8 buf[MIG_SECTION_MAX + 64];
};

void mig_dec_init(struct mig_dec *d, const struct mig_dec_ops *ops, void *ctx);
/*
 * Feed len bytes. Returns the bytes consumed: all of them unless the stream
 * ended (after GO, or in a post-copy stream after END) or failed. After an
 * error, status is MIG_DEC_ERROR, the reason is in d->error and every later
 * call consumes nothing.
 */
size_t mig_dec_feed(struct mig_dec *d, const u8 *data, size_t len);

/* ---- replies (destination -> source), same rules ---- */

enum mig_reply_kind {
	MIG_REPLY_NONE,
	MIG_REPLY_ACCEPT,
	MIG_REPLY_REFUSE,
	MIG_REPLY_ACK,
	MIG_REPLY_REQ,
	MIG_REPLY_HAVE,
	MIG_REPLY_HAVE_END,
	MIG_REPLY_COMPLETE,
	MIG_REPLY_BAD,
};

struct mig_reply_dec {
	/* Set by the caller after mig_reply_init: the guest's pages, bounding
	 * REQ and HAVE gfns (0 = no bound). */
	u64 ram_pages;
	/* Outputs, valid when mig_reply_feed returned REQ (gfn) or HAVE (the
	 * rest: words in host order, every set bit a gfn below ram_pages). */
	u64 gfn;
	u64 first_gfn;
	u16 nwords;
	u64 words[MIG_HAVE_WORDS_MAX];
	/* private */
	u32 have, need;
	int phase;
	u8 buf[3 + MIG_REASON_MAX + 1];
	u64 bytes; /* consumed so far (for the offsets in BAD's description) */
};

void mig_reply_init(struct mig_reply_dec *r);
/*
 * Consume bytes until one reply is complete: returns it (reason, NUL-ended,
 * for REFUSE; a description for BAD; the fields above for REQ and HAVE)
 * with *used set to the bytes consumed, or MIG_REPLY_NONE when all of data
 * was consumed without completing one.
 */
enum mig_reply_kind mig_reply_feed(struct mig_reply_dec *r, const u8 *data, size_t len,
				   size_t *used, char *reason, size_t reason_len);

#endif
