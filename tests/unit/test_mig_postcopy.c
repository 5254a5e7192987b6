/*
 * migrate/prepage.c and migrate/latency.c (tern/mig_postcopy.h): the
 * source's queue of page requests (FIFO, one copy of a gfn, full, wrapping
 * around its array), the pre-paging order (the window after a fault, then
 * the cursor, its wrap, nothing left, faults near and past the end of RAM)
 * and the fault latency (extremes, the median of odd and even samples, the
 * sample replaced in turn once full, empty), and migrate/pagemap.c's maps
 * (the last word of RAM that is not a multiple of 64 pages, records that
 * do not fit). Expected values are worked out from the header's rules by hand.
 */
#include "unit.h"
#include <tern/bitmap.h>
#include <tern/mig_postcopy.h>

/* ---- the request queue ---- */

static struct mig_req_queue q;

TEST(req_fifo)
{
	u64 g = 99;
	mig_req_init(&q);
	CHECK(!mig_req_pop(&q, &g));
	CHECK_EQ(g, 99); /* untouched when empty */
	CHECK(mig_req_push(&q, 30));
	CHECK(mig_req_push(&q, 10));
	CHECK(mig_req_push(&q, 20));
	CHECK_EQ(q.count, 3);
	CHECK(mig_req_pop(&q, &g));
	CHECK_EQ(g, 30);
	CHECK(mig_req_push(&q, 40));
	CHECK(mig_req_pop(&q, &g));
	CHECK_EQ(g, 10);
	CHECK(mig_req_pop(&q, &g));
	CHECK_EQ(g, 20);
	CHECK(mig_req_pop(&q, &g));
	CHECK_EQ(g, 40);
	CHECK(!mig_req_pop(&q, &g));
	CHECK_EQ(q.count, 0);
	CHECK_EQ(q.dropped, 0);
}

TEST(req_dedupe)
{
	u64 g;
	mig_req_init(&q);
	CHECK(mig_req_push(&q, 5));
	CHECK(mig_req_push(&q, 6));
	CHECK(!mig_req_push(&q, 5)); /* asked again: still one copy */
	CHECK(!mig_req_push(&q, 6));
	CHECK_EQ(q.count, 2);
	CHECK_EQ(q.dropped, 0);      /* a repeat is no drop */
	CHECK(mig_req_pop(&q, &g));
	CHECK_EQ(g, 5);
	CHECK(mig_req_push(&q, 5));  /* popped (being sent): may be queued again */
	CHECK(mig_req_pop(&q, &g));
	CHECK_EQ(g, 6);
	CHECK(mig_req_pop(&q, &g));
	CHECK_EQ(g, 5);
	CHECK(!mig_req_pop(&q, &g));
	/* gfn 0 is a page like any other. */
	CHECK(mig_req_push(&q, 0));
	CHECK(!mig_req_push(&q, 0));
	CHECK(mig_req_pop(&q, &g));
	CHECK_EQ(g, 0);
}

TEST(req_full)
{
	u64 g;
	mig_req_init(&q);
	for (u64 i = 0; i < MIG_REQ_QUEUE_MAX; i++)
		CHECK(mig_req_push(&q, 1000 + i));
	CHECK_EQ(q.count, MIG_REQ_QUEUE_MAX);
	CHECK(!mig_req_push(&q, 7));
	CHECK_EQ(q.dropped, 1);
	CHECK(!mig_req_push(&q, 8));
	CHECK_EQ(q.dropped, 2);
	CHECK(!mig_req_push(&q, 1000)); /* already queued: not a drop */
	CHECK_EQ(q.dropped, 2);
	CHECK_EQ(q.count, MIG_REQ_QUEUE_MAX);
	CHECK(mig_req_pop(&q, &g));
	CHECK_EQ(g, 1000);
	CHECK(mig_req_push(&q, 7)); /* room again */
	CHECK(!mig_req_push(&q, 9));
	CHECK_EQ(q.dropped, 3);
	for (u64 i = 1; i < MIG_REQ_QUEUE_MAX; i++) {
		CHECK(mig_req_pop(&q, &g));
		CHECK_EQ(g, 1000 + i);
	}
	CHECK(mig_req_pop(&q, &g));
	CHECK_EQ(g, 7);
	CHECK(!mig_req_pop(&q, &g));
}

TEST(req_wrap)
{
	u64 g;
	mig_req_init(&q);
	/* Move head to 200, then fill: entries 56.. live at the array's start. */
	for (u64 i = 0; i < 200; i++) {
		CHECK(mig_req_push(&q, i));
		CHECK(mig_req_pop(&q, &g));
		CHECK_EQ(g, i);
	}
	CHECK_EQ(q.head, 200);
	for (u64 i = 0; i < MIG_REQ_QUEUE_MAX; i++)
		CHECK(mig_req_push(&q, 5000 + i));
	CHECK(!mig_req_push(&q, 5000 + 100)); /* stored at index 44: found across the wrap */
	CHECK(!mig_req_push(&q, 5000 + 255));
	CHECK(!mig_req_push(&q, 1));          /* full */
	CHECK_EQ(q.dropped, 1);
	for (u64 i = 0; i < MIG_REQ_QUEUE_MAX; i++) {
		CHECK(mig_req_pop(&q, &g));
		CHECK_EQ(g, 5000 + i);
	}
	CHECK(!mig_req_pop(&q, &g));
	CHECK_EQ(q.head, (200 + MIG_REQ_QUEUE_MAX) % MIG_REQ_QUEUE_MAX);
	/* Over many laps, FIFO holds. */
	u64 in = 0, out = 0;
	for (int lap = 0; lap < 1000; lap++) {
		for (int k = 0; k < 3; k++)
			CHECK(mig_req_push(&q, in++));
		for (int k = 0; k < 3; k++) {
			CHECK(mig_req_pop(&q, &g));
			CHECK_EQ(g, out++);
		}
	}
}

/* ---- pre-paging ---- */

#define PP_PAGES 1000
static u64 todo[BITMAP_WORDS(PP_PAGES)];
static struct mig_prepage pp;

static void todo_all(u64 nr)
{
	memset(todo, 0, sizeof(todo));
	for (u64 i = 0; i < nr; i++)
		bitmap_set(todo, i);
}

static void todo_clear(u64 i) { todo[i / 64] &= ~(1ULL << (i % 64)); }

/* The caller's loop: take the next page, send it (clear its bit). */
static u64 send_next(void)
{
	u64 g = mig_prepage_next(&pp, todo);
	if (g < pp.nr_pages) {
		CHECK(bitmap_test(todo, g));
		todo_clear(g);
	}
	return g;
}

TEST(prepage_cursor_order_without_faults)
{
	todo_all(PP_PAGES);
	mig_prepage_init(&pp, PP_PAGES);
	CHECK_EQ(mig_prepage_next(&pp, todo), 0);
	CHECK_EQ(mig_prepage_next(&pp, todo), 0); /* not sent yet: the same page again */
	for (u64 i = 0; i < PP_PAGES; i++)
		CHECK_EQ(send_next(), i);
	CHECK_EQ(send_next(), PP_PAGES);
}

TEST(prepage_window_after_fault_then_cursor)
{
	todo_all(PP_PAGES);
	mig_prepage_init(&pp, PP_PAGES);
	for (u64 i = 0; i < 10; i++)
		CHECK_EQ(send_next(), i);
	todo_clear(500); /* the faulting page: the request queue sent it */
	todo_clear(510); /* and a neighbour that some request sent too */
	mig_prepage_fault(&pp, 500);
	for (u64 i = 501; i < 500 + MIG_PREPAGE_WINDOW; i++) {
		if (i == 510)
			continue;
		CHECK_EQ(send_next(), i);
	}
	/* 501..563 gone: back to the cursor, which did not move. */
	CHECK_EQ(send_next(), 10);
	CHECK_EQ(send_next(), 11);
	/* A second fault replaces the window. */
	mig_prepage_fault(&pp, 700);
	CHECK_EQ(send_next(), 701);
	mig_prepage_fault(&pp, 100);
	CHECK_EQ(send_next(), 101);
	CHECK_EQ(send_next(), 102);
	/* The rest: every page exactly once, in cursor order, skipping those sent. */
	u64 n = 0, last = 0;
	for (u64 g; (g = send_next()) < PP_PAGES; n++) {
		/* The window's 61 left (103..163) first, then the cursor from 12. */
		if (n == 61)
			CHECK_EQ(g, 12);
		else if (n)
			CHECK(g > last);
		last = g;
	}
	CHECK_EQ(n, PP_PAGES - 10 - 2 - 62 - 2 - 1 - 2);
	CHECK_EQ(bitmap_weight(todo, PP_PAGES), 0);
}

TEST(prepage_window_over_sent_pages_and_the_cursor)
{
	todo_all(PP_PAGES);
	mig_prepage_init(&pp, PP_PAGES);
	for (u64 i = 0; i < 10; i++)
		CHECK_EQ(send_next(), i);
	/* Fault on a page already there: its window 6..68 starts at 10. */
	mig_prepage_fault(&pp, 5);
	for (u64 i = 10; i < 69; i++)
		CHECK_EQ(send_next(), i);
	CHECK_EQ(send_next(), 69); /* the cursor finds it, after the sent ones */
	/* A window with nothing left falls through at once. */
	mig_prepage_fault(&pp, 2);
	CHECK_EQ(send_next(), 70);
}

TEST(prepage_fault_near_the_end)
{
	todo_all(PP_PAGES);
	mig_prepage_init(&pp, PP_PAGES);
	mig_prepage_fault(&pp, 990); /* window 991..999, clipped */
	for (u64 i = 991; i < PP_PAGES; i++)
		CHECK_EQ(send_next(), i);
	CHECK_EQ(send_next(), 0);
	mig_prepage_fault(&pp, PP_PAGES - 1); /* the last page: no neighbours */
	CHECK_EQ(pp.near, pp.near_end);
	CHECK_EQ(send_next(), 1);
	mig_prepage_fault(&pp, PP_PAGES - MIG_PREPAGE_WINDOW); /* window ends at the last page */
	CHECK_EQ(pp.near_end, PP_PAGES);
	CHECK_EQ(send_next(), PP_PAGES - MIG_PREPAGE_WINDOW + 1);
	/* Out of range: ignored, the window stays. */
	mig_prepage_fault(&pp, PP_PAGES);
	mig_prepage_fault(&pp, ~0ULL);
	CHECK_EQ(send_next(), PP_PAGES - MIG_PREPAGE_WINDOW + 2);
	CHECK_EQ(pp.near_end, PP_PAGES);
}

TEST(prepage_wraps_once_around)
{
	memset(todo, 0, sizeof(todo));
	mig_prepage_init(&pp, PP_PAGES);
	bitmap_set(todo, 3);
	bitmap_set(todo, 600);
	CHECK_EQ(send_next(), 3);
	CHECK_EQ(mig_prepage_next(&pp, todo), 600);
	CHECK_EQ(pp.cursor, 600);
	/* A page behind the cursor (a send the engine had to retry) and one
	 * ahead: the one ahead first, then the wrap finds the other. */
	bitmap_set(todo, 7);
	bitmap_set(todo, 999);
	CHECK_EQ(send_next(), 600);
	CHECK_EQ(send_next(), 999);
	CHECK_EQ(send_next(), 7);
	CHECK_EQ(pp.cursor, 7);
	CHECK_EQ(send_next(), PP_PAGES);
	CHECK_EQ(send_next(), PP_PAGES);
}

TEST(prepage_none_left)
{
	memset(todo, 0, sizeof(todo));
	mig_prepage_init(&pp, PP_PAGES);
	CHECK_EQ(mig_prepage_next(&pp, todo), PP_PAGES);
	mig_prepage_fault(&pp, 10);
	CHECK_EQ(mig_prepage_next(&pp, todo), PP_PAGES);
	CHECK_EQ(mig_prepage_next(&pp, todo), PP_PAGES);
	/* No RAM at all: the bitmap is never read. */
	mig_prepage_init(&pp, 0);
	mig_prepage_fault(&pp, 0);
	CHECK_EQ(mig_prepage_next(&pp, NULL), 0);
}

TEST(prepage_bits_past_the_end_ignored)
{
	u64 bm[2] = { 0, ~0ULL << 6 }; /* 70 pages: only 64..69 of word 1 are pages */
	mig_prepage_init(&pp, 70);
	mig_prepage_fault(&pp, 66); /* window 67..69 */
	CHECK_EQ(mig_prepage_next(&pp, bm), 70);
	bm[1] |= 1ULL << 5;         /* page 69 */
	CHECK_EQ(mig_prepage_next(&pp, bm), 69);
}

/* 64 GiB of RAM, one page in 4096 still to send: linear in the bitmap's
 * words over the whole run (quadratic would take minutes under ASan). */
#define BIG_PAGES (16ULL << 20)
static u64 big[BITMAP_WORDS(BIG_PAGES)];

TEST(prepage_is_cheap_on_a_sparse_bitmap)
{
	memset(big, 0, sizeof(big));
	for (u64 i = 4095; i < BIG_PAGES; i += 4096)
		bitmap_set(big, i);
	mig_prepage_init(&pp, BIG_PAGES);
	u64 n = 0;
	for (u64 g; (g = mig_prepage_next(&pp, big)) < BIG_PAGES; n++) {
		CHECK_EQ(g, 4095 + n * 4096);
		big[g / 64] &= ~(1ULL << (g % 64));
		if (n % 97 == 0)
			mig_prepage_fault(&pp, g); /* windows over empty words */
	}
	CHECK_EQ(n, BIG_PAGES / 4096);
}

/* ---- fault latency ---- */

static struct mig_lat lat;

TEST(lat_empty)
{
	memset(&lat, 0x5a, sizeof(lat));
	mig_lat_init(&lat);
	CHECK_EQ(lat.count, 0);
	CHECK_EQ(lat.min, 0);
	CHECK_EQ(lat.max, 0);
	CHECK_EQ(lat.total, 0);
	CHECK_EQ(lat.kept, 0);
	CHECK_EQ(mig_lat_median(&lat), 0);
}

TEST(lat_min_max_median_odd)
{
	mig_lat_init(&lat);
	mig_lat_add(&lat, 500);
	CHECK_EQ(lat.min, 500);
	CHECK_EQ(lat.max, 500);
	CHECK_EQ(mig_lat_median(&lat), 500);
	mig_lat_add(&lat, 100);
	mig_lat_add(&lat, 900);
	mig_lat_add(&lat, 300);
	mig_lat_add(&lat, 700);
	CHECK_EQ(lat.count, 5);
	CHECK_EQ(lat.min, 100);
	CHECK_EQ(lat.max, 900);
	CHECK_EQ(lat.total, 2500);
	CHECK_EQ(mig_lat_median(&lat), 500);
	CHECK_EQ(mig_lat_median(&lat), 500); /* reordered, same answer */
	CHECK_EQ(lat.kept, 5);
}

TEST(lat_median_even_is_lower_middle)
{
	mig_lat_init(&lat);
	mig_lat_add(&lat, 40);
	mig_lat_add(&lat, 10);
	CHECK_EQ(mig_lat_median(&lat), 10);
	mig_lat_add(&lat, 30);
	mig_lat_add(&lat, 20);
	CHECK_EQ(mig_lat_median(&lat), 20);
	/* A zero latency is a value, not "empty". */
	mig_lat_init(&lat);
	mig_lat_add(&lat, 0);
	mig_lat_add(&lat, 7);
	CHECK_EQ(lat.min, 0);
	CHECK_EQ(mig_lat_median(&lat), 0);
}

TEST(lat_median_with_repeats_and_orders)
{
	/* Equal values throughout, rising, falling: index (n - 1) / 2 of the sorted sample. */
	mig_lat_init(&lat);
	for (int i = 0; i < MIG_LAT_SAMPLES; i++)
		mig_lat_add(&lat, 42);
	CHECK_EQ(mig_lat_median(&lat), 42);
	mig_lat_init(&lat);
	for (u64 i = 0; i < MIG_LAT_SAMPLES; i++)
		mig_lat_add(&lat, 1000 + i);
	CHECK_EQ(mig_lat_median(&lat), 1000 + 511);
	mig_lat_init(&lat);
	for (u64 i = MIG_LAT_SAMPLES; i-- > 0;)
		mig_lat_add(&lat, i % 3 ? i : 5000); /* a third outliers, some repeated */
	/* Sorted: the 682 values i with i % 3 != 0 (1, 2, 4, ...), then 342 x 5000;
	 * index 511 is the 512th such i: 3 * 255 + 2 = 767. */
	CHECK_EQ(mig_lat_median(&lat), 767);
}

TEST(lat_replacement_past_the_sample)
{
	mig_lat_init(&lat);
	for (int i = 0; i < MIG_LAT_SAMPLES; i++)
		mig_lat_add(&lat, 1000);
	CHECK_EQ(lat.kept, MIG_LAT_SAMPLES);
	CHECK_EQ(lat.next, 0);
	/* 600 faster ones replace the first 600 kept. */
	for (int i = 0; i < 600; i++)
		mig_lat_add(&lat, 5);
	CHECK_EQ(lat.kept, MIG_LAT_SAMPLES);
	CHECK_EQ(lat.next, 600);
	CHECK_EQ(lat.sample[599], 5);
	CHECK_EQ(lat.sample[600], 1000);
	CHECK_EQ(lat.count, MIG_LAT_SAMPLES + 600);
	CHECK_EQ(lat.min, 5);
	CHECK_EQ(lat.max, 1000);
	CHECK_EQ(lat.total, MIG_LAT_SAMPLES * 1000 + 600 * 5);
	CHECK_EQ(mig_lat_median(&lat), 5); /* 600 fives of 1024: the middle is a five */
	/* Round the ring: next wraps to 0 and the sample is all new values. */
	for (int i = 0; i < MIG_LAT_SAMPLES - 600; i++)
		mig_lat_add(&lat, 77);
	CHECK_EQ(lat.next, 0);
	for (int i = 0; i < MIG_LAT_SAMPLES; i++)
		mig_lat_add(&lat, 300 + (u64)i);
	CHECK_EQ(lat.next, 0);
	CHECK_EQ(mig_lat_median(&lat), 300 + 511);
	CHECK_EQ(lat.min, 5);    /* over all, not the sample */
	CHECK_EQ(lat.max, 1323);
	CHECK_EQ(lat.count, 3 * MIG_LAT_SAMPLES);
}

TEST(lat_total_saturates)
{
	mig_lat_init(&lat);
	mig_lat_add(&lat, ~0ULL - 1);
	mig_lat_add(&lat, 5);
	CHECK_EQ(lat.total, ~0ULL);
	CHECK_EQ(lat.max, ~0ULL - 1);
	CHECK_EQ(lat.min, 5);
	CHECK_EQ(mig_lat_median(&lat), 5);
}

/* ---- the page maps (migrate/pagemap.c) ---- */

TEST(map_invert_masks_the_last_word)
{
	u64 in[3] = { 0x1, 0, 0x2 }, out[3];
	mig_map_invert(out, in, 130); /* 130 pages: 2 bits of word 2 are RAM */
	CHECK_EQ(out[0], ~0x1ULL);
	CHECK_EQ(out[1], ~0ULL);
	CHECK_EQ(out[2], 0x1);        /* page 129 was set, page 128 not; nothing past 130 */
	mig_map_invert(out, NULL, 130); /* nothing absent: every page is here */
	CHECK_EQ(out[0], ~0ULL);
	CHECK_EQ(out[2], 0x3);
	u64 whole[2] = { 0, 0 }, o2[2];
	mig_map_invert(o2, whole, 128); /* a multiple of 64: no mask */
	CHECK_EQ(o2[1], ~0ULL);
}

TEST(map_invert_twice_is_the_map)
{
	u64 in[2] = { 0x8000000000000001ULL, 0x5 }, a[2], b[2];
	mig_map_invert(a, in, 67);
	mig_map_invert(b, a, 67);
	CHECK_EQ(b[0], in[0]);
	CHECK_EQ(b[1], in[1]);
}

TEST(map_apply_or_and_replace)
{
	u64 map[3] = { 0x10, 0, 0 };
	u64 w[2] = { 0x1, 0x3 };
	CHECK(mig_map_apply(map, 130, 0, w, 2, false));
	CHECK_EQ(map[0], 0x11);
	CHECK_EQ(map[1], 0x3);
	u64 r[1] = { 0x2 };
	CHECK(mig_map_apply(map, 130, 0, r, 1, true));
	CHECK_EQ(map[0], 0x2);
	u64 last[1] = { 0x3 };      /* pages 128, 129: the last two */
	CHECK(mig_map_apply(map, 130, 128, last, 1, false));
	CHECK_EQ(map[2], 0x3);
}

TEST(map_apply_refuses_what_does_not_fit)
{
	u64 map[3] = { 0, 0, 0 };
	u64 w[3] = { 1, 1, 1 };
	u64 past[1] = { 0x4 };      /* page 130 of 130 */
	CHECK(!mig_map_apply(map, 130, 1, w, 1, false));    /* not a multiple of 64 */
	CHECK(!mig_map_apply(map, 130, 64, w, 3, false));   /* words 1..3 of 3 */
	CHECK(!mig_map_apply(map, 130, 192, w, 1, false));  /* word 3 */
	CHECK(!mig_map_apply(map, 130, 128, past, 1, false));
	CHECK(!mig_map_apply(map, 130, ~0ULL << 6, w, 1, false)); /* no wrap-around */
	CHECK_EQ(map[0] | map[1] | map[2], 0);                    /* untouched */
}
