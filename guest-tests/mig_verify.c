/*
 * mig_verify: the guest the migration end-to-end tests run. It proves from
 * the inside that every page arrived, at its latest version, and that the
 * clock carried on (docs/migration-guests.md has the lines it prints).
 *
 * RAM from the image end up is a version table (u32 per page, in the
 * guest's own RAM so it migrates with the pages) and then the checked pages
 * (mig_pattern.h's versioned pattern). All pages are written at version 1,
 * then forever: a batch of pages is rewritten at version + 1 (scattered
 * random pages, a drifting random walk and a sequential sweep, so both
 * scattered and dense dirtying happen), then every page is verified against
 * the table, and the table's sum against the write count. A page is also
 * verified just before it is rewritten, so a stale page cannot be hidden by
 * being overwritten before the next full pass. Any mismatch stops the work
 * and the failure is printed every second (mig_fail).
 */
#include "guest.h"
#include "mig_pattern.h"

#define CLOCK_EVERY 64 /* pages between clock polls while verifying */

static u8 *base;        /* first checked page */
static u32 *table;      /* table[i]: the version page i last got */
static u64 first_pn;    /* base's page number */
static u64 npages;
static u64 writes, passes;
static u64 rng = 0x9d2c5680a5a5f00dull;
static u64 walk, sweep; /* cursors of the random walk and the sweep */

static inline void *page_at(u64 i)
{
	return base + i * PAGE_SIZE;
}

static void verify_page(u64 i)
{
	if (mig_pat_check(page_at(i), first_pn + i, table[i], NULL))
		mig_fail_page(page_at(i), first_pn + i, table[i]);
}

static void rewrite_page(u64 i)
{
	verify_page(i); /* a stale page must not be overwritten unseen */
	u32 v = table[i] + 1;
	mig_pat_write(page_at(i), first_pn + i, v);
	table[i] = v;
	writes++;
}

static u64 rand_below(u64 n)
{
	return mig_xorshift64(&rng) % n;
}

/*
 * One batch, 8-28 pages: its shape changes from pass to pass. Sized so that
 * on Bochs (a pass over 8 MiB is about 60 ms) the guest dirties a few
 * hundred distinct pages a second, about the emulated link's rate: the
 * migration must work for its convergence (and auto-converge may throttle)
 * without every test taking minutes; mig_incr is the guest that outruns
 * the link by far.
 */
static void write_batch(void)
{
	u64 scatter = 4 + rand_below(8), steps = 2 + rand_below(6), run = 2 + rand_below(10);

	for (u64 k = 0; k < scatter; k++)
		rewrite_page(rand_below(npages));
	for (u64 k = 0; k < steps; k++) {
		/* A step of -8..+8 pages: npages - 8 % npages is -8 modulo npages. */
		walk = (walk + npages - 8 % npages + rand_below(17)) % npages;
		rewrite_page(walk);
	}
	for (u64 k = 0; k < run; k++) {
		rewrite_page(sweep);
		sweep = (sweep + 1) % npages;
	}
}

static void verify_all(void)
{
	u64 sum = 0;

	for (u64 i = 0; i < npages; i++) {
		verify_page(i);
		sum += table[i];
		if (i % CLOCK_EVERY == 0)
			mig_clock_poll(false);
	}
	/* Each write bumped one entry by one: a stale table page shows here. */
	if (sum != npages + writes)
		mig_fail("version table sum %lu, expected %lu (%lu pages, %lu writes)", sum,
			 npages + writes, npages, writes);
}

int guest_main(u64 ram_size)
{
	u64 start = ALIGN_UP((u64)(uintptr_t)__image_end, PAGE_SIZE);
	u64 end = ALIGN_DOWN(ram_size, PAGE_SIZE);

	mig_clock_init();
	if (end <= start + 2 * PAGE_SIZE)
		mig_fail("RAM size 0x%lx leaves no pages above the image end 0x%lx", ram_size, start);
	/* The table takes the first pages; 1024 entries per table page. */
	u64 avail = (end - start) / PAGE_SIZE;
	u64 table_pages = (avail + 1024) / 1025;
	npages = avail - table_pages;
	table = (u32 *)start;
	base = (u8 *)(start + table_pages * PAGE_SIZE);
	first_pn = (u64)(uintptr_t)base / PAGE_SIZE;
	walk = npages / 2;

	uprintf("mig: verify guest: %lu pages from 0x%lx to 0x%lx, pattern v1\n", npages,
		(u64)(uintptr_t)base, end);
	for (u64 i = 0; i < npages; i++) {
		mig_pat_write(page_at(i), first_pn + i, 1);
		table[i] = 1;
	}
	for (;;) {
		write_batch();
		verify_all();
		passes++;
		u64 now = mig_clock_poll(true); /* both clocks at every pass */
		if (mig_progress_due())
			uprintf("mig: pass %lu ok: %lu pages verified, %lu writes, clock ok, time %lu ns\n",
				passes, npages, writes, now);
	}
}
