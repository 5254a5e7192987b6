/*
 * dirty_log: proves Tern's dirty log exact from inside the guest. In rounds
 * it writes a pseudo-random set of pages (always including the first and the
 * last page of RAM), some with plain stores, some with `rep stosq` across a
 * page boundary, and makes the CPU itself write a page-table page by
 * accessing memory through a mapping whose accessed/dirty bits are clear.
 * After each round it hands Tern the list of pages it wrote; Tern harvests
 * the log and compares. Any written page the log missed fails the test.
 * Pages logged but not listed (this program's stack and data, Tern's own
 * page-table pages at 0x2000, the result structure) are counted as extra.
 */
#include "guest.h"

#define MAX_LIST 8192
#define AD_WINDOW 0x80000000ULL /* virtual 2 GiB: mapped through our own PT */
#define AD_TARGET 0x800000ULL   /* ...onto guest-physical 8 MiB */
#define AD_PAGES 16
#define PTE_P 1ULL
#define PTE_W 2ULL
#define PTE_A 0x20ULL
#define PTE_D 0x40ULL

static u64 list[MAX_LIST];
static u64 nlist;
static u64 rng = 0x9e3779b97f4a7c15ULL;
static struct tern_dirty_check result;
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
	if (nlist < MAX_LIST)
		list[nlist++] = gfn;
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

static int check(u64 round, u64 k)
{
	s64 rc = hypercall(TERN_HC_DIRTY_CHECK, (u64)list, nlist, (u64)&result);
	if (rc < 0) {
		report_fail("dirty_log: round %lu: DIRTY_CHECK returned %ld", round, rc);
		return -1;
	}
	if (rc > 0 || result.missed) {
		report_fail("dirty_log: round %lu: %llu written pages missing from the log, first 0x%llx",
			    round, result.missed, result.first_missed);
		return -1;
	}
	uprintf("dirty_log: round %lu: %lu random pages, %lu listed, %llu logged, %llu extra\n",
		round, k, nlist, result.logged, result.extra);
	nlist = 0;
	return 0;
}

int guest_main(u64 ram_size)
{
	static const u64 sizes[] = { 1, 7, 64, 512, 2048, 4000, 300, 1 };
	u64 last = ram_size / PAGE_SIZE - 1;
	u64 pd_gpa = ALIGN_UP((u64)__image_end, PAGE_SIZE), pt_gpa = pd_gpa + PAGE_SIZE;
	pool_first = pt_gpa / PAGE_SIZE + 1;
	pool_end = last; /* the last page is written every round anyway */
	ad_setup(pd_gpa, pt_gpa);

	s64 mode = hypercall(TERN_HC_DIRTY_START, 0, 0, 0);
	if (mode < 0) {
		report_fail("dirty_log: DIRTY_START returned %ld", mode);
		return 1;
	}
	uprintf("dirty_log: logging with %s, RAM %lu pages\n", mode == 2 ? "PML" : "write protection",
		last + 1);
	/* Round 0 sees everything written before logging was clean: start fresh. */
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
	report_pass("dirty_log: %lu rounds, %lu random pages, every written page was logged (%s)",
		    (u64)ARRAY_SIZE(sizes), total, mode == 2 ? "PML" : "write protection");
	return 0;
}
