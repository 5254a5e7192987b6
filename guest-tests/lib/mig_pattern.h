/*
 * Memory patterns that let a guest prove a live migration right from the
 * inside (docs/migration-guests.md). The verdict is the guest's: it knows
 * what every page must hold, Tern does not.
 *
 * Versioned pages (mig_verify): each 4 KiB page of the checked range holds
 *   word 0        its guest-physical page number
 *   word 1        its version (how often the guest has written it; >= 1)
 *   words 2..510  data implied by (page, version, word index)
 *   word 511      a check word, a hash of (page, version)
 * The guest keeps the version it last wrote for each page in a table in its
 * own RAM, so a page that is a stale copy (a dirty page the migration lost),
 * another page's copy (swapped pages) or zeros (a page never sent) differs
 * from what the table says it must be.
 *
 * Xorshift pages (mig_static, mig_hot's cold part): 512 words of an
 * xorshift64 stream seeded by (page, seed), written once and re-checked.
 *
 * Clock steps: a clock read must never go backwards nor leap by more than a
 * bound since the previous read.
 *
 * The first part is pure (the host unit test tests/unit/test_mig_pattern.c
 * compiles it); the guest-side helpers below it exist only in guests.
 */
#ifndef GUEST_MIG_PATTERN_H
#define GUEST_MIG_PATTERN_H

#include <tern/types.h>

#define MIG_PAT_WORDS (PAGE_SIZE / 8) /* 512 u64 words per page */
#define MIG_PAT_W_PAGE 0
#define MIG_PAT_W_VERSION 1
#define MIG_PAT_W_CHECK (MIG_PAT_WORDS - 1)

/* A strong 64-bit mixer (splitmix64's finalizer); one per page, not per word. */
u64 mig_mix64(u64 x);

/* One step of xorshift64 (state must be non-zero); returns the new state. */
static inline u64 mig_xorshift64(u64 *s)
{
	u64 x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* ---- versioned pages ---- */

/* What word `idx` of page `page_no` at `version` must hold. */
u64 mig_pat_word(u64 page_no, u64 version, unsigned idx);

/* Fill one 4 KiB page with the pattern of (page_no, version). */
void mig_pat_write(void *page, u64 page_no, u64 version);

/*
 * 0 when the page holds exactly what mig_pat_write(page, page_no, version)
 * wrote; otherwise 1 + the index of the first word that differs, and
 * *bad_offset (if not NULL) is the byte offset in the page of the first
 * differing byte.
 */
unsigned mig_pat_check(const void *page, u64 page_no, u64 version, u32 *bad_offset);

/* What a page that failed mig_pat_check holds instead, from its own words. */
enum mig_pat_kind {
	MIG_PAT_GOOD,       /* what was expected */
	MIG_PAT_STALE,      /* an intact pattern of this page at another version */
	MIG_PAT_OTHER_PAGE, /* an intact pattern of another page (*found_page) */
	MIG_PAT_DAMAGED,    /* not an intact pattern of any (page, version) */
};
enum mig_pat_kind mig_pat_classify(const void *page, u64 page_no, u64 version, u64 *found_page,
				   u64 *found_version);
const char *mig_pat_kind_name(enum mig_pat_kind k);

/* ---- xorshift pages ---- */

/* What word `idx` of page `page_no` holds under `seed`. */
u64 mig_xs_word(u64 page_no, u64 seed, unsigned idx);
void mig_xs_fill(void *page, u64 page_no, u64 seed);
/* Same convention as mig_pat_check. */
unsigned mig_xs_check(const void *page, u64 page_no, u64 seed, u32 *bad_offset);

/* ---- clock steps ---- */

enum mig_clock_verdict { MIG_CLOCK_OK, MIG_CLOCK_BACKWARDS, MIG_CLOCK_JUMPED };

struct mig_clock {
	u64 last;     /* the previous accepted reading */
	u64 max_step; /* the largest accepted step so far (a figure) */
	bool started;
};

/*
 * Judge reading `now` against the previous one: it must not be smaller, and
 * must not exceed it by more than `bound`. On MIG_CLOCK_OK it becomes the
 * previous reading; otherwise c->last stays, for the failure message.
 */
enum mig_clock_verdict mig_clock_step(struct mig_clock *c, u64 now, u64 bound);

/* ---- guest-side helpers (guests only: hypercalls, UART, timer) ---- */
#ifndef TERN_HOST_TEST

/* Largest accepted step between two consecutive readings of either clock. */
#define MIG_CLOCK_BOUND_NS 2000000000ul /* 2 s of guest time */
#define MIG_TIMER_VEC 0x41                /* the vector mig_sleep_ns arms */
#define MIG_PROGRESS_NS 1000000000ul     /* progress lines at most once per guest second */

/*
 * Calibrate the TSC against TIME_NS (20 ms) and take the first readings of
 * both clocks. Every guest calls it first.
 */
void mig_clock_init(void);
/*
 * Read the TSC, and TIME_NS when `force` or when about 50 ms of TSC have
 * passed since the last TIME_NS read (a hypercall is a VM exit; the TSC is
 * not). Either clock going backwards or leaping beyond MIG_CLOCK_BOUND_NS
 * is a failure (mig_fail). Returns the latest TIME_NS reading.
 */
u64 mig_clock_poll(bool force);
u64 mig_tsc_per_s(void);
/* True at most once per MIG_PROGRESS_NS of the latest TIME_NS reading. */
bool mig_progress_due(void);
/* Sleep on the Tern timer (vector MIG_TIMER_VEC) for at least ns; interrupts off after. */
void mig_sleep_ns(u64 ns);

/*
 * A failure: the text (prefixed with "mig: FAIL ") goes out once through the
 * REPORT hypercall and then as a serial line about once a second forever,
 * so a harness that looks late still sees it. The guest stops working.
 */
void mig_fail(const char *fmt, ...) __printf(1, 2) __noreturn;
/* A failure of versioned page page_no (mig_verify's format). */
void mig_fail_page(const void *page, u64 page_no, u64 version) __noreturn;

#endif /* !TERN_HOST_TEST */

#endif
