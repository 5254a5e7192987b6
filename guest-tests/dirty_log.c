/*
 * dirty_log: proves Tern's dirty log exact from inside the guest, judged by
 * the guest. In rounds it writes a pseudo-random set of pages (always the
 * first and the last page of RAM), some with plain stores, some with
 * `rep stosq` across a page boundary, and makes the CPU itself write a
 * page-table page by going through a mapping whose accessed/dirty bits are
 * clear. After each round Tern harvests the log into a bitmap here
 * (TERN_HC_DIRTY_LOG) and dirty_verdict() compares it with the pages this
 * program wrote: a written page missing from the log fails, and so does a
 * logged page this program cannot explain. What it can explain: the boot
 * structures below TERN_GUEST_BOOT_END (GDT, Tern's page tables, which the
 * CPU's A/D updates write), its own writable image (data, bss, stack), its
 * own page tables and its three bitmaps (the log buffer Tern fills shows in
 * the next round). Everything else in RAM, text and rodata included, must
 * stay out of the log; a log of every page fails.
 */
#include "guest.h"
#include <tern/bitmap.h>
#include "dirty_verdict.h"

#define AD_WINDOW 0x80000000ULL /* virtual 2 GiB: mapped through our own PT */
#define AD_TARGET 0x800000ULL   /* ...onto guest-physical 8 MiB */
#define AD_PAGES 16
#define PTE_P 1ULL
#define PTE_W 2ULL
#define PTE_A 0x20ULL
#define PTE_D 0x40ULL
#define SHOW_PAGES 8 /* unexplained pages printed one by one */

extern char __data_start[];

static u64 rng = 0x9e3779b97f4a7c15ULL;
static u64 nr_pages, log_bytes;
static u64 *log_bm, *wrote, *may; /* bitmaps of nr_pages bits, after the image */
static u64 *ad_pt; /* our page table page: its A/D bits are set by the CPU */
static u64 pool_first, pool_end; /* gfns free for random writes */

static u64 next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void note(u64 gfn)
{
	bitmap_set(wrote, gfn);
}

static void may_range(u64 start, u64 end)
{
	for (u64 gfn = start / PAGE_SIZE; gfn < ALIGN_UP(end, PAGE_SIZE) / PAGE_SIZE; gfn++)
		bitmap_set(may, gfn);
}

static void touch(u64 gfn, u64 value)
{
	volatile u64 *p = (volatile u64 *)(gfn * PAGE_SIZE + (next_rand() % 512) * 8);
	*p = value;
	note(gfn);
}

/* 32 bytes with rep stosq, starting 16 bytes before the end of gfn. */
static void touch_string(u64 gfn, u64 value)
{
	u64 dst = gfn * PAGE_SIZE + PAGE_SIZE - 16, count = 4;
	__asm__ volatile("rep stosq" : "+D"(dst), "+c"(count) : "a"(value) : "memory");
	note(gfn);
	note(gfn + 1);
}

/* PML4[0] -> PDPT; PDPT[2] -> our PD -> our PT -> AD_TARGET pages. */
static void ad_setup(u64 pd_gpa, u64 pt_gpa)
{
	u64 *pml4 = (u64 *)(read_cr3() & ~0xfffULL);
	u64 *pdpt = (u64 *)(pml4[0] & 0x000ffffffffff000ULL);
	u64 *pd = (u64 *)pd_gpa;
	ad_pt = (u64 *)pt_gpa;
	memset(pd, 0, PAGE_SIZE);
	memset(ad_pt, 0, PAGE_SIZE);
	for (u64 i = 0; i < AD_PAGES; i++)
		ad_pt[i] = (AD_TARGET + i * PAGE_SIZE) | PTE_P | PTE_W;
	pd[0] = pt_gpa | PTE_P | PTE_W;
	pdpt[AD_WINDOW >> 30] = pd_gpa | PTE_P | PTE_W;
	write_cr3(read_cr3());
}

/* Only the CPU writes ad_pt here: the A bit on a read, A and D on a write. */
static void ad_access(u64 round)
{
	volatile u64 *win = (volatile u64 *)AD_WINDOW;
	u64 i = round % AD_PAGES;
	(void)win[i * 512];
	win[((i + 1) % AD_PAGES) * 512] = round;
	note((u64)ad_pt / PAGE_SIZE);
	note(AD_TARGET / PAGE_SIZE + (i + 1) % AD_PAGES);
}

static void ad_reset(void)
{
	for (u64 i = 0; i < AD_PAGES; i++) {
		ad_pt[i] &= ~(PTE_A | PTE_D);
		__asm__ volatile("invlpg (%0)" : : "r"(AD_WINDOW + i * PAGE_SIZE) : "memory");
	}
	note((u64)ad_pt / PAGE_SIZE);
}

/* Carve the bitmaps and our page tables out of the RAM after the image. */
static u64 layout(void)
{
	u64 at = ALIGN_UP((u64)__image_end, PAGE_SIZE), bm = ALIGN_UP(log_bytes, PAGE_SIZE);
	log_bm = (u64 *)at;
	wrote = (u64 *)(at + bm);
	may = (u64 *)(at + 2 * bm);
	u64 pd_gpa = at + 3 * bm;
	memset(wrote, 0, log_bytes);
	memset(may, 0, log_bytes);
	may_range(0, TERN_GUEST_BOOT_END);
	may_range((u64)__data_start, (u64)__image_end);
	may_range(at, pd_gpa + 2 * PAGE_SIZE); /* the bitmaps, our PD and PT */
	ad_setup(pd_gpa, pd_gpa + PAGE_SIZE);
	return pd_gpa / PAGE_SIZE + 2;
}

static void show_unexplained(u64 round)
{
	unsigned shown = 0;
	for (u64 gfn = 0; gfn < nr_pages && shown < SHOW_PAGES; gfn++)
		if (bitmap_test(log_bm, gfn) && !bitmap_test(wrote, gfn) && !bitmap_test(may, gfn)) {
			uprintf("dirty_log: round %lu: page 0x%lx logged, never written\n", round, gfn);
			shown++;
		}
}

static int check(u64 round, u64 k)
{
	s64 rc = hypercall(TERN_HC_DIRTY_LOG, (u64)log_bm, log_bytes, 0);
	if (rc < 0) {
		report_fail("dirty_log: round %lu: DIRTY_LOG returned %ld", round, rc);
		return -1;
	}
	struct dirty_verdict v;
	dirty_verdict(log_bm, wrote, may, nr_pages, &v);
	if (v.logged != (u64)rc) {
		report_fail("dirty_log: round %lu: Tern said %ld pages, its bitmap holds %lu",
			    round, rc, v.logged);
		return -1;
	}
	if (v.missed) {
		report_fail("dirty_log: round %lu: %lu written pages missing from the log, first 0x%lx",
			    round, v.missed, v.first_missed);
		return -1;
	}
	if (v.unexplained) {
		show_unexplained(round);
		report_fail("dirty_log: round %lu: %lu pages logged that were not written, first 0x%lx",
			    round, v.unexplained, v.first_unexplained);
		return -1;
	}
	uprintf("dirty_log: round %lu: %lu random pages, %lu written, %lu logged, %lu explained extra\n",
		round, k, bitmap_weight(wrote, nr_pages), v.logged, v.explained);
	memset(wrote, 0, log_bytes);
	return 0;
}

int guest_main(u64 ram_size)
{
	static const u64 sizes[] = { 1, 7, 64, 512, 2048, 4000, 300, 1 };
	nr_pages = ram_size / PAGE_SIZE;
	log_bytes = TERN_DIRTY_LOG_BYTES(ram_size);
	u64 last = nr_pages - 1;
	pool_first = layout();
	pool_end = last; /* the last page is written every round anyway */

	s64 mode = hypercall(TERN_HC_DIRTY_START, 0, 0, 0);
	if (mode < 0) {
		report_fail("dirty_log: DIRTY_START returned %ld", mode);
		return 1;
	}
	uprintf("dirty_log: logging with %s, RAM %lu pages\n", mode == 2 ? "PML" : "write protection",
		nr_pages);
	/* Round 0: nothing but this program's own bookkeeping since the start. */
	if (check(0, 0))
		return 1;

	u64 total = 0;
	for (u64 r = 1; r <= ARRAY_SIZE(sizes); r++) {
		u64 k = sizes[r - 1];
		touch(0, r);
		touch(last, r);
		for (u64 i = 0; i < k; i++) {
			u64 gfn = pool_first + next_rand() % (pool_end - pool_first - 1);
			if (i % 4 == 3)
				touch_string(gfn, r);
			else
				touch(gfn, r * 1000 + i);
		}
		if (r % 2)
			ad_access(r);
		else
			ad_reset();
		total += k;
		if (check(r, k))
			return 1;
	}
	hypercall(TERN_HC_DIRTY_STOP, 0, 0, 0);
	report_pass("dirty_log: %lu rounds, %lu random pages, the log held every written page and "
		    "nothing unexplained (%s)", (u64)ARRAY_SIZE(sizes), total,
		    mode == 2 ? "PML" : "write protection");
	return 0;
}
