/*
 * lib/pt.c over a fake physical memory: 512 pages at physical 0x100000 +
 * index * 4096, handed out zeroed in order. Both formats are exercised: x86
 * host paging (present = bit 0, tables RW|P) and EPT (present = any of
 * R/W/X, tables RWX, leaves with memory type WB = 6 << 3). Expected entries
 * and indices follow the SDM's 4-level layout (Vol. 3 4.5, 29.3.2).
 */
#include "unit.h"
#include <tern/pt.h>

#define FM_BASE 0x100000ULL
#define FM_PAGES 512

static u64 fm_pages[FM_PAGES][PT_ENTRIES];
static unsigned fm_next, fm_limit;

static u64 fm_alloc(void *ctx)
{
	(void)ctx;
	if (fm_next >= fm_limit)
		return 0;
	return FM_BASE + (u64)fm_next++ * PAGE_SIZE;
}

static void *fm_map(void *ctx, u64 pa)
{
	(void)ctx;
	if (pa < FM_BASE || pa >= FM_BASE + (u64)fm_next * PAGE_SIZE || pa % PAGE_SIZE)
		unit_fail(__FILE__, __LINE__, "map of 0x%" PRIx64 ", not an allocated table", pa);
	return fm_pages[(pa - FM_BASE) / PAGE_SIZE];
}

#define X86_P 0x1ULL
#define X86_RW 0x2ULL
#define X86_US 0x4ULL
#define X86_NX (1ULL << 63)
#define EPT_RWX 0x7ULL
#define EPT_WB (6ULL << 3)

static struct pt new_pt(u64 present_mask, u64 table_flags, unsigned limit)
{
	memset(fm_pages, 0, sizeof(fm_pages));
	fm_next = 0;
	fm_limit = limit;
	struct pt pt = {
		.present_mask = present_mask, .table_flags = table_flags,
		.alloc = fm_alloc, .map = fm_map, .ctx = NULL,
	};
	CHECK_EQ(pt_init(&pt), 0);
	return pt;
}

static struct pt host_pt(void) { return new_pt(X86_P, X86_P | X86_RW, FM_PAGES); }
static struct pt ept_pt(void) { return new_pt(EPT_RWX, EPT_RWX, FM_PAGES); }

/* Physical address va translates to, or ~0 if unmapped; *level the leaf's level. */
static u64 translate(struct pt *pt, u64 va, int *level)
{
	int lvl = 0;
	u64 *e = pt_lookup(pt, va, &lvl);
	if (!e)
		return ~0ULL;
	u64 size = 1ULL << (12 + 9 * (lvl - 1));
	if (level)
		*level = lvl;
	return (*e & PT_ADDR_MASK & ~(size - 1)) | (va & (size - 1));
}

static u64 *table_at(u64 pa) { return fm_map(NULL, pa); }

TEST(init_allocates_a_zeroed_root)
{
	struct pt pt = host_pt();
	CHECK_EQ(pt.root, FM_BASE);
	CHECK_EQ(fm_next, 1);
	for (int i = 0; i < PT_ENTRIES; i++)
		CHECK_EQ(table_at(pt.root)[i], 0);
}

TEST(init_without_memory_fails)
{
	memset(fm_pages, 0, sizeof(fm_pages));
	fm_next = 0;
	fm_limit = 0;
	struct pt pt = { .present_mask = 1, .table_flags = 3, .alloc = fm_alloc, .map = fm_map };
	CHECK_EQ(pt_init(&pt), -1);
}

TEST(level_sizes)
{
	CHECK_EQ(pt_level_size(1), 0x1000);
	CHECK_EQ(pt_level_size(2), 0x200000);
	CHECK_EQ(pt_level_size(3), 0x40000000);
}

TEST(host_map_4k_builds_three_tables)
{
	struct pt pt = host_pt();
	CHECK_EQ(pt_map(&pt, 0x5000, 0x123000, 0x1000, X86_P | X86_RW, 3), 0);
	CHECK_EQ(fm_next, 4); /* root + PDPT + PD + PT */
	u64 *pml4 = table_at(pt.root);
	CHECK_EQ(pml4[0], (FM_BASE + 0x1000) | 3);
	u64 *pdpt = table_at(FM_BASE + 0x1000);
	CHECK_EQ(pdpt[0], (FM_BASE + 0x2000) | 3);
	u64 *pd = table_at(FM_BASE + 0x2000);
	CHECK_EQ(pd[0], (FM_BASE + 0x3000) | 3);
	u64 *ptab = table_at(FM_BASE + 0x3000);
	CHECK_EQ(ptab[5], 0x123000 | 3);
	int level = 0;
	u64 *e = pt_lookup(&pt, 0x5000, &level);
	CHECK(e == &ptab[5]);
	CHECK_EQ(level, 1);
	CHECK_EQ(translate(&pt, 0x5abc, NULL), 0x123abc);
}

TEST(map_4k_leaf_never_has_size_bit)
{
	struct pt pt = host_pt();
	CHECK_EQ(pt_map(&pt, 0x3000, 0x9000, 0x1000, PT_LARGE | X86_P | X86_RW, 3), 0);
	int level = 0;
	u64 *e = pt_lookup(&pt, 0x3000, &level);
	CHECK(e);
	CHECK_EQ(level, 1);
	CHECK_EQ(*e, 0x9000 | 3);
}

TEST(host_map_2m_aligned_uses_one_large_leaf)
{
	struct pt pt = host_pt();
	CHECK_EQ(pt_map(&pt, 0x400000, 0x40600000, SZ_2M, X86_P | X86_RW | X86_NX, 3), 0);
	CHECK_EQ(fm_next, 3); /* root + PDPT + PD, no PT */
	int level = 0;
	u64 *e = pt_lookup(&pt, 0x400000, &level);
	CHECK(e == &table_at(FM_BASE + 0x2000)[2]);
	CHECK_EQ(level, 2);
	CHECK_EQ(*e, 0x40600000 | PT_LARGE | X86_NX | 3);
}

TEST(host_map_1g_aligned_uses_one_huge_leaf)
{
	struct pt pt = host_pt();
	CHECK_EQ(pt_map(&pt, 0xc0000000, 0x140000000, SZ_1G, X86_P | X86_RW, 3), 0);
	CHECK_EQ(fm_next, 2); /* root + PDPT */
	int level = 0;
	u64 *e = pt_lookup(&pt, 0xc0000000, &level);
	CHECK(e == &table_at(FM_BASE + 0x1000)[3]);
	CHECK_EQ(level, 3);
	CHECK_EQ(*e, 0x140000000 | PT_LARGE | 3);
}

TEST(max_level_caps_page_size)
{
	struct pt pt = host_pt();
	CHECK_EQ(pt_map(&pt, 0, 0, SZ_1G, X86_P | X86_RW, 2), 0);
	int level = 0;
	for (u64 va = 0; va < SZ_1G; va += SZ_2M) {
		CHECK_EQ(translate(&pt, va + 0x1234, &level), va + 0x1234);
		CHECK_EQ(level, 2);
	}
	CHECK_EQ(fm_next, 3);

	pt = host_pt();
	CHECK_EQ(pt_map(&pt, 0, 0, SZ_2M, X86_P | X86_RW, 1), 0);
	CHECK_EQ(translate(&pt, 0x1ff000, &level), 0x1ff000);
	CHECK_EQ(level, 1);
}

TEST(misaligned_pa_forces_smaller_pages)
{
	struct pt pt = host_pt();
	/* va is 1 GiB aligned, pa only 2 MiB aligned: 2 MiB pages. */
	CHECK_EQ(pt_map(&pt, 0x40000000, 0x80200000, SZ_1G, X86_P | X86_RW, 3), 0);
	int level = 0;
	CHECK_EQ(translate(&pt, 0x40000000, &level), 0x80200000);
	CHECK_EQ(level, 2);
	CHECK_EQ(translate(&pt, 0x7fffffff, &level), 0xc01fffff);
	CHECK_EQ(level, 2);
	/* va 2 MiB aligned, pa only 4 KiB aligned: 4 KiB pages. */
	pt = host_pt();
	CHECK_EQ(pt_map(&pt, 0x200000, 0x301000, SZ_2M, X86_P | X86_RW, 3), 0);
	CHECK_EQ(translate(&pt, 0x200000, &level), 0x301000);
	CHECK_EQ(level, 1);
	CHECK_EQ(translate(&pt, 0x3ff000, &level), 0x500000);
	CHECK_EQ(level, 1);
}

TEST(mixed_range_uses_largest_fitting_pages)
{
	struct pt pt = host_pt();
	/* [0x1ff000, 0x401000): one 4K, one 2M, one 4K. */
	CHECK_EQ(pt_map(&pt, 0x1ff000, 0x1ff000, 0x202000, X86_P | X86_RW, 3), 0);
	int level = 0;
	CHECK_EQ(translate(&pt, 0x1ff000, &level), 0x1ff000);
	CHECK_EQ(level, 1);
	CHECK_EQ(translate(&pt, 0x200000, &level), 0x200000);
	CHECK_EQ(level, 2);
	CHECK_EQ(translate(&pt, 0x3fffff, &level), 0x3fffff);
	CHECK_EQ(level, 2);
	CHECK_EQ(translate(&pt, 0x400000, &level), 0x400000);
	CHECK_EQ(level, 1);
	CHECK(pt_lookup(&pt, 0x1fe000, NULL) == NULL);
	CHECK(pt_lookup(&pt, 0x401000, NULL) == NULL);
}

TEST(lookup_inside_large_pages)
{
	struct pt pt = ept_pt();
	u64 fl = EPT_RWX | EPT_WB;
	CHECK_EQ(pt_map(&pt, SZ_1G, 3 * SZ_1G, SZ_1G, fl, 3), 0);
	CHECK_EQ(pt_map(&pt, 0x600000, 0x10a00000, SZ_2M, fl, 3), 0);
	int level = 0;
	u64 *e = pt_lookup(&pt, SZ_1G + 0x12345678, &level);
	CHECK(e);
	CHECK_EQ(level, 3);
	CHECK_EQ(*e, 3 * SZ_1G | PT_LARGE | fl);
	CHECK_EQ(translate(&pt, SZ_1G + 0x12345678, NULL), 3 * SZ_1G + 0x12345678);
	e = pt_lookup(&pt, 0x7fffff, &level);
	CHECK(e);
	CHECK_EQ(level, 2);
	CHECK_EQ(*e, 0x10a00000 | PT_LARGE | fl);
	CHECK_EQ(translate(&pt, 0x7fffff, NULL), 0x10bfffff);
}

TEST(lookup_level_pointer_may_be_null)
{
	struct pt pt = host_pt();
	CHECK_EQ(pt_map(&pt, 0, 0, SZ_2M, 3, 3), 0);
	CHECK(pt_lookup(&pt, 0x1000, NULL) != NULL);
}

TEST(unmapped_lookups_return_null)
{
	struct pt pt = host_pt();
	int level = 42;
	CHECK(pt_lookup(&pt, 0, &level) == NULL);
	CHECK_EQ(level, 42);
	CHECK_EQ(pt_map(&pt, 0x7000, 0x7000, 0x1000, 3, 3), 0);
	CHECK(pt_lookup(&pt, 0x6000, NULL) == NULL);          /* same PT */
	CHECK(pt_lookup(&pt, 0x8000, NULL) == NULL);
	CHECK(pt_lookup(&pt, 0x200000, NULL) == NULL);        /* same PD */
	CHECK(pt_lookup(&pt, 0x40000000, NULL) == NULL);      /* same PDPT */
	CHECK(pt_lookup(&pt, 0x8000000000, NULL) == NULL);    /* other PML4 slot */
	CHECK(pt_lookup(&pt, 0xffffffff80007000, NULL) == NULL);
}

TEST(host_entry_without_present_bit_is_unmapped)
{
	struct pt pt = host_pt();
	CHECK_EQ(pt_map(&pt, 0, 0x5000, 0x1000, X86_P | X86_RW, 3), 0);
	u64 *e = pt_lookup(&pt, 0, NULL);
	CHECK(e);
	*e = 0x5000 | X86_RW; /* not present, other bits left over */
	CHECK(pt_lookup(&pt, 0, NULL) == NULL);
}

TEST(ept_any_access_bit_means_present)
{
	struct pt pt = ept_pt();
	CHECK_EQ(pt_map(&pt, 0x2000, 0x9000, 0x1000, 0x4 | EPT_WB, 3), 0); /* execute-only */
	u64 *e = pt_lookup(&pt, 0x2000, NULL);
	CHECK(e);
	CHECK_EQ(*e, 0x9000 | 0x4 | EPT_WB);
	u64 *pml4 = table_at(pt.root);
	CHECK_EQ(pml4[0] & ~PT_ADDR_MASK, EPT_RWX);
}

TEST(split_2m_to_4k_keeps_other_511_pages)
{
	struct pt pt = host_pt();
	u64 fl = X86_P | X86_RW | X86_US | X86_NX;
	CHECK_EQ(pt_map(&pt, 0x200000, 0x40000000, SZ_2M, fl, 3), 0);
	unsigned before = fm_next;
	CHECK_EQ(pt_map(&pt, 0x205000, 0x7000000, 0x1000, X86_P | X86_RW, 3), 0);
	CHECK_EQ(fm_next, before + 1); /* just the new PT */
	u64 *pd = table_at(FM_BASE + 0x2000);
	CHECK_EQ(pd[1], (FM_BASE + (u64)before * PAGE_SIZE) | 3); /* now a table */
	for (u64 i = 0; i < 512; i++) {
		int level = 0;
		u64 *e = pt_lookup(&pt, 0x200000 + i * 0x1000, &level);
		CHECK(e);
		CHECK_EQ(level, 1);
		if (i == 5)
			CHECK_EQ(*e, 0x7000000 | 3);
		else
			CHECK_EQ(*e, (0x40000000 + i * 0x1000) | fl);
		CHECK_EQ(*e & PT_LARGE, 0);
	}
}

TEST(ept_split_2m_keeps_memory_type)
{
	struct pt pt = ept_pt();
	u64 fl = EPT_RWX | EPT_WB;
	CHECK_EQ(pt_map(&pt, 0, 0x80000000, SZ_2M, fl, 3), 0);
	CHECK_EQ(pt_map(&pt, 0x1ff000, 0x1000, 0x1000, 0x1 | EPT_WB, 3), 0);
	for (u64 i = 0; i < 511; i++) {
		int level = 0;
		u64 *e = pt_lookup(&pt, i * 0x1000, &level);
		CHECK(e);
		CHECK_EQ(level, 1);
		CHECK_EQ(*e, (0x80000000 + i * 0x1000) | fl);
	}
	CHECK_EQ(*pt_lookup(&pt, 0x1ff000, NULL), 0x1000 | 0x1 | EPT_WB);
	u64 *pd = table_at(FM_BASE + 0x2000);
	CHECK_EQ(pd[0] & ~PT_ADDR_MASK, EPT_RWX);
}

TEST(split_1g_to_2m_keeps_large_leaves)
{
	struct pt pt = ept_pt();
	u64 fl = EPT_RWX | EPT_WB;
	CHECK_EQ(pt_map(&pt, 0, 0x200000000, SZ_1G, fl, 3), 0);
	CHECK_EQ(pt_map(&pt, 0x400000, 0x10000000, SZ_2M, fl, 3), 0);
	for (u64 i = 0; i < 512; i++) {
		int level = 0;
		u64 *e = pt_lookup(&pt, i * SZ_2M + 0x800, &level);
		CHECK(e);
		CHECK_EQ(level, 2);
		u64 want = i == 2 ? 0x10000000 : 0x200000000 + i * SZ_2M;
		CHECK_EQ(*e, want | PT_LARGE | fl);
	}
}

TEST(map_4k_inside_1g_splits_twice)
{
	struct pt pt = host_pt();
	u64 fl = X86_P | X86_RW;
	CHECK_EQ(pt_map(&pt, 0, 0, SZ_1G, fl, 3), 0);
	CHECK_EQ(fm_next, 2);
	CHECK_EQ(pt_map(&pt, 0x2345000, 0xabc000, 0x1000, fl, 3), 0);
	CHECK_EQ(fm_next, 4); /* a PD from the 1G split, a PT from the 2M split */
	int level = 0;
	CHECK_EQ(translate(&pt, 0x2345123, &level), 0xabc123);
	CHECK_EQ(level, 1);
	/* The rest of that 2 MiB page: 4K leaves, identity. */
	for (u64 va = 0x2200000; va < 0x2400000; va += 0x1000) {
		if (va == 0x2345000)
			continue;
		CHECK_EQ(translate(&pt, va, &level), va);
		CHECK_EQ(level, 1);
		CHECK_EQ(*pt_lookup(&pt, va, NULL) & PT_LARGE, 0);
	}
	/* The other 511 2 MiB pages of the 1 GiB: large leaves, identity. */
	for (u64 va = 0; va < SZ_1G; va += SZ_2M) {
		if (va == 0x2200000)
			continue;
		CHECK_EQ(translate(&pt, va + 0x1fffff, &level), va + 0x1fffff);
		CHECK_EQ(level, 2);
	}
}

TEST(large_map_over_finer_table_keeps_table)
{
	struct pt pt = host_pt();
	u64 fl = X86_P | X86_RW;
	CHECK_EQ(pt_map(&pt, 0x201000, 0x999000, 0x1000, fl, 3), 0);
	u64 *pd = table_at(FM_BASE + 0x2000);
	u64 pt_entry = pd[1];
	CHECK(pt_entry & X86_P);
	unsigned before = fm_next;
	CHECK_EQ(pt_map(&pt, 0x200000, 0x40000000, SZ_2M, fl, 3), 0);
	CHECK_EQ(fm_next, before);
	CHECK_EQ(pd[1], pt_entry); /* still the same table */
	for (u64 i = 0; i < 512; i++) {
		int level = 0;
		CHECK_EQ(translate(&pt, 0x200000 + i * 0x1000, &level), 0x40000000 + i * 0x1000);
		CHECK_EQ(level, 1);
	}
}

TEST(huge_map_over_finer_table_keeps_table)
{
	struct pt pt = ept_pt();
	u64 fl = EPT_RWX | EPT_WB;
	CHECK_EQ(pt_map(&pt, 0x40200000, 0x1000000, SZ_2M, fl, 3), 0);
	u64 *pdpt = table_at(FM_BASE + 0x1000);
	u64 pd_entry = pdpt[1];
	CHECK_EQ(pt_map(&pt, SZ_1G, 4 * SZ_1G, SZ_1G, fl, 3), 0);
	CHECK_EQ(pdpt[1], pd_entry);
	int level = 0;
	for (u64 off = 0; off < SZ_1G; off += SZ_2M) {
		CHECK_EQ(translate(&pt, SZ_1G + off + 0x1000, &level), 4 * SZ_1G + off + 0x1000);
		CHECK_EQ(level, 2);
	}
}

TEST(remap_same_level_overwrites_leaf)
{
	struct pt pt = host_pt();
	CHECK_EQ(pt_map(&pt, 0x200000, 0x200000, SZ_2M, 3, 3), 0);
	CHECK_EQ(pt_map(&pt, 0x200000, 0x600000, SZ_2M, 3 | X86_NX, 3), 0);
	int level = 0;
	u64 *e = pt_lookup(&pt, 0x200000, &level);
	CHECK_EQ(level, 2);
	CHECK_EQ(*e, 0x600000 | PT_LARGE | X86_NX | 3);
}

TEST(high_half_index_math)
{
	struct pt pt = host_pt();
	u64 va = 0xffffffff80100000ULL;
	CHECK_EQ(pt_map(&pt, va, 0x100000, 0x1000, 3, 3), 0);
	/* PML4 511, PDPT 510, PD 0, PT 256. */
	u64 *pml4 = table_at(pt.root);
	for (int i = 0; i < 511; i++)
		CHECK_EQ(pml4[i], 0);
	CHECK(pml4[511] & X86_P);
	u64 *pdpt = table_at(pml4[511] & PT_ADDR_MASK);
	for (int i = 0; i < 512; i++)
		CHECK_EQ(pdpt[i] != 0, i == 510);
	u64 *pd = table_at(pdpt[510] & PT_ADDR_MASK);
	for (int i = 0; i < 512; i++)
		CHECK_EQ(pd[i] != 0, i == 0);
	u64 *ptab = table_at(pd[0] & PT_ADDR_MASK);
	for (int i = 0; i < 512; i++)
		CHECK_EQ(ptab[i] != 0, i == 256);
	CHECK_EQ(ptab[256], 0x100000 | 3);
	CHECK_EQ(translate(&pt, va + 0x42, NULL), 0x100042);
	CHECK(pt_lookup(&pt, 0x0000007f80100000ULL, NULL) == NULL); /* same low 39 bits */
}

TEST(high_half_2m_map)
{
	struct pt pt = host_pt();
	CHECK_EQ(pt_map(&pt, 0xffffffff80000000ULL, 0, 16 * SZ_2M, 3, 3), 0);
	int level = 0;
	CHECK_EQ(translate(&pt, 0xffffffff81fedcbaULL, &level), 0x1fedcba);
	CHECK_EQ(level, 2);
	CHECK(pt_lookup(&pt, 0xffffffff82000000ULL, NULL) == NULL);
}

TEST(out_of_memory_for_tables_fails)
{
	struct pt pt = new_pt(X86_P, 3, 2); /* root + one more page */
	CHECK_EQ(pt_map(&pt, 0, 0, 0x1000, 3, 3), -1);
	CHECK(pt_lookup(&pt, 0, NULL) == NULL);
}

TEST(out_of_memory_for_split_keeps_large_leaf)
{
	struct pt pt = new_pt(X86_P, 3, 3); /* root, PDPT, PD: nothing left */
	CHECK_EQ(pt_map(&pt, 0, 0x40000000, SZ_2M, 3, 3), 0);
	CHECK_EQ(pt_map(&pt, 0x1000, 0x5000, 0x1000, 3, 3), -1);
	int level = 0;
	u64 *e = pt_lookup(&pt, 0x1000, &level);
	CHECK(e);
	CHECK_EQ(level, 2);
	CHECK_EQ(*e, 0x40000000 | PT_LARGE | 3);
}

TEST(out_of_memory_midway_through_range)
{
	struct pt pt = new_pt(X86_P, 3, 4);
	/* The first 2 MiB fit in one PT; the next needs a second PT: none left. */
	CHECK_EQ(pt_map(&pt, 0x1000, 0x1000, SZ_2M, 3, 3), -1);
	CHECK_EQ(translate(&pt, 0x1000, NULL), 0x1000);
	CHECK_EQ(translate(&pt, 0x1ff000, NULL), 0x1ff000);
	CHECK(pt_lookup(&pt, 0x200000, NULL) == NULL);
}

TEST(split_rejects_non_large_entries)
{
	struct pt pt = host_pt();
	u64 e = 0x5000 | 3;
	CHECK_EQ(pt_split(&pt, &e, 2), -1);
	CHECK_EQ(e, 0x5000 | 3);
	e = 0x5000 | PT_LARGE | 3;
	CHECK_EQ(pt_split(&pt, &e, 1), -1);
	CHECK_EQ(e, 0x5000 | PT_LARGE | 3);
}

TEST(split_directly)
{
	struct pt pt = host_pt();
	u64 e = 0x80000000 | PT_LARGE | X86_NX | 3;
	CHECK_EQ(pt_split(&pt, &e, 3), 0);
	CHECK_EQ(e, (FM_BASE + 0x1000) | 3);
	u64 *t = table_at(FM_BASE + 0x1000);
	CHECK_EQ(t[0], 0x80000000 | PT_LARGE | X86_NX | 3);
	CHECK_EQ(t[511], (0x80000000 + 511 * SZ_2M) | PT_LARGE | X86_NX | 3);
}

/* ---- pt_for_each_leaf ---- */

struct visit_log {
	int n;
	u64 va[1100];
	int level[1100];
	u64 *entry[1100];
};

static void record_leaf(u64 *entry, u64 va, int level, void *ctx)
{
	struct visit_log *log = ctx;
	if (log->n < 1100) {
		log->va[log->n] = va;
		log->level[log->n] = level;
		log->entry[log->n] = entry;
	}
	log->n++;
}

static struct visit_log vlog;

static void visit_range(struct pt *pt, u64 va, u64 size)
{
	memset(&vlog, 0, sizeof(vlog));
	pt_for_each_leaf(pt, va, size, record_leaf, &vlog);
}

static void map_mixed(struct pt *pt)
{
	u64 fl = EPT_RWX | EPT_WB;
	CHECK_EQ(pt_map(pt, 0x1000, 0x1000, 0x1000, fl, 3), 0);
	CHECK_EQ(pt_map(pt, 0x200000, 0x200000, SZ_2M, fl, 3), 0);
	CHECK_EQ(pt_map(pt, SZ_1G, SZ_1G, SZ_1G, fl, 3), 0);
	CHECK_EQ(pt_map(pt, 0x8000000000ULL, 0x3000, 0x1000, fl, 3), 0); /* PML4 slot 1 */
}

TEST(for_each_leaf_visits_in_address_order)
{
	struct pt pt = ept_pt();
	map_mixed(&pt);
	visit_range(&pt, 0, 1ULL << 40);
	CHECK_EQ(vlog.n, 4);
	CHECK_EQ(vlog.va[0], 0x1000);
	CHECK_EQ(vlog.level[0], 1);
	CHECK_EQ(vlog.va[1], 0x200000);
	CHECK_EQ(vlog.level[1], 2);
	CHECK_EQ(vlog.va[2], SZ_1G);
	CHECK_EQ(vlog.level[2], 3);
	CHECK_EQ(vlog.va[3], 0x8000000000ULL);
	CHECK_EQ(vlog.level[3], 1);
	for (int i = 0; i < 4; i++)
		CHECK(vlog.entry[i] == pt_lookup(&pt, vlog.va[i], NULL));
}

TEST(for_each_leaf_reports_partly_covered_leaves_by_base)
{
	struct pt pt = ept_pt();
	map_mixed(&pt);
	visit_range(&pt, 0x300000, 0x1000);
	CHECK_EQ(vlog.n, 1);
	CHECK_EQ(vlog.va[0], 0x200000);
	CHECK_EQ(vlog.level[0], 2);
	visit_range(&pt, 0x1fff000, SZ_1G); /* [0x1fff000, 0x41fff000): the 1G leaf */
	CHECK_EQ(vlog.n, 1);
	CHECK_EQ(vlog.va[0], SZ_1G);
}

TEST(for_each_leaf_range_ends_are_exclusive)
{
	struct pt pt = ept_pt();
	map_mixed(&pt);
	visit_range(&pt, 0x2000, 0x200000 - 0x2000); /* [0x2000, 0x200000) */
	CHECK_EQ(vlog.n, 0);
	visit_range(&pt, 0x1000, 0x1000);
	CHECK_EQ(vlog.n, 1);
	CHECK_EQ(vlog.va[0], 0x1000);
	visit_range(&pt, 0, 0x1000);
	CHECK_EQ(vlog.n, 0);
}

TEST(for_each_leaf_size_zero_visits_nothing)
{
	struct pt pt = ept_pt();
	map_mixed(&pt);
	visit_range(&pt, 0x1000, 0);
	CHECK_EQ(vlog.n, 0);
}

TEST(for_each_leaf_empty_tree)
{
	struct pt pt = host_pt();
	visit_range(&pt, 0, 1ULL << 47);
	CHECK_EQ(vlog.n, 0);
}

TEST(for_each_leaf_after_split_sees_every_4k)
{
	struct pt pt = ept_pt();
	u64 fl = EPT_RWX | EPT_WB;
	CHECK_EQ(pt_map(&pt, 0, 0, SZ_2M, fl, 3), 0);
	CHECK_EQ(pt_map(&pt, 0x5000, 0x5000, 0x1000, fl, 3), 0);
	visit_range(&pt, 0, SZ_2M);
	CHECK_EQ(vlog.n, 512);
	for (int i = 0; i < 512; i++) {
		CHECK_EQ(vlog.va[i], (u64)i * 0x1000);
		CHECK_EQ(vlog.level[i], 1);
	}
}

static void clear_write(u64 *entry, u64 va, int level, void *ctx)
{
	(void)va;
	(void)level;
	(void)ctx;
	*entry &= ~0x2ULL; /* EPT write permission */
}

TEST(for_each_leaf_callback_may_change_flags)
{
	struct pt pt = ept_pt();
	map_mixed(&pt);
	pt_for_each_leaf(&pt, 0, 2 * SZ_1G, clear_write, NULL);
	CHECK_EQ(*pt_lookup(&pt, 0x1000, NULL), 0x1000 | 0x5 | EPT_WB);
	CHECK_EQ(*pt_lookup(&pt, 0x200000, NULL), 0x200000 | PT_LARGE | 0x5 | EPT_WB);
	CHECK_EQ(*pt_lookup(&pt, SZ_1G, NULL), SZ_1G | PT_LARGE | 0x5 | EPT_WB);
	/* Outside the range: untouched. */
	CHECK_EQ(*pt_lookup(&pt, 0x8000000000ULL, NULL), 0x3000 | EPT_RWX | EPT_WB);
}

/*
 * Regression (was a bug): pt_for_each_leaf() rebuilds addresses from table
 * indices without sign extension (PML4 slot 511 becomes 0xff8000000000), so
 * a canonical high-half range such as the hypervisor's own mapping at
 * 0xffffffff80000000 matches no leaf; tern/pt.h promises it for host paging
 * as well as EPT.
 */
TEST(for_each_leaf_high_half)
{
	struct pt pt = host_pt();
	CHECK_EQ(pt_map(&pt, 0xffffffff80100000ULL, 0x100000, 0x1000, 3, 3), 0);
	visit_range(&pt, 0xffffffff80000000ULL, SZ_2M);
	CHECK_EQ(vlog.n, 1);
	CHECK_EQ(vlog.va[0], 0xffffffff80100000ULL);
}

static unsigned freed[FM_PAGES + 1], nfreed;

static void record_free(void *ctx, u64 pa)
{
	(void)ctx;
	if (nfreed < FM_PAGES + 1)
		freed[nfreed++] = (unsigned)((pa - FM_BASE) / PAGE_SIZE);
}

/* pt_destroy gives back every table page exactly once, and nothing else. */
TEST(destroy_frees_every_table_once)
{
	struct pt pt = ept_pt();
	map_mixed(&pt);
	CHECK_EQ(pt_split(&pt, pt_lookup(&pt, 0x200000, NULL), 2), 0);
	unsigned tables = fm_next;
	nfreed = 0;
	pt_destroy(&pt, record_free, NULL);
	CHECK_EQ(nfreed, tables);
	bool seen[FM_PAGES] = { false };
	for (unsigned i = 0; i < nfreed; i++) {
		CHECK(freed[i] < tables);
		CHECK(!seen[freed[i]]);
		seen[freed[i]] = true;
	}
	CHECK_EQ(pt.root, 0);
	pt_destroy(&pt, record_free, NULL); /* empty: nothing more */
	CHECK_EQ(nfreed, tables);
}
