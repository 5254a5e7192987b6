/*
 * One 4-level page-table engine for x86 host paging and for EPT: both are
 * trees of 512-entry tables with the address in bits 51:12 and bit 7 marking
 * a 2 MiB / 1 GiB leaf. The format differences (which bits mean present,
 * what a table entry carries) are data in struct pt. Pure code: tables are
 * reached through map(), allocated through alloc(), so the host unit tests
 * run it over fake memory.
 */
#ifndef TERN_PT_H
#define TERN_PT_H

#include <tern/types.h>

#define PT_ENTRIES 512
#define PT_ADDR_MASK 0x000ffffffffff000ULL
#define PT_LARGE (1ULL << 7)
#define PT_LEVELS 4

_Static_assert(PT_ENTRIES * sizeof(u64) == PAGE_SIZE, "a table is one page");

struct pt {
	u64 root;          /* physical address of the top table */
	u64 present_mask;  /* any of these bits set = entry in use */
	u64 table_flags;   /* flags of an entry that points to a table */
	u64 (*alloc)(void *ctx);      /* a zeroed page's physical address, 0 if none */
	void *(*map)(void *ctx, u64 pa);
	void *ctx;
};

/* Size mapped by one entry at level (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB). */
static inline u64 pt_level_size(int level)
{
	return 1ULL << (12 + 9 * (level - 1));
}

/* Allocate the root table. 0 or -1. */
int pt_init(struct pt *pt);
/*
 * Map [va, va+size) to [pa, pa+size) with leaf_flags, using the largest
 * pages up to max_level where alignment allows. va, pa, size 4 KiB aligned.
 * An existing large leaf in the way is split first. 0 or -1 (out of memory).
 */
int pt_map(struct pt *pt, u64 va, u64 pa, u64 size, u64 leaf_flags, int max_level);
/* The leaf entry mapping va and its level, or NULL if unmapped. */
u64 *pt_lookup(struct pt *pt, u64 va, int *level);
/* Replace a large leaf by a table of next-level leaves with the same mapping. */
int pt_split(struct pt *pt, u64 *entry, int level);
/*
 * Call fn for every present leaf that maps part of [va, va+size), in address
 * order, with the leaf's virtual base address and level. fn may change the
 * entry's flags but not what it points to.
 */
void pt_for_each_leaf(struct pt *pt, u64 va, u64 size,
		      void (*fn)(u64 *entry, u64 va, int level, void *ctx), void *ctx);
/*
 * Give every table page back through free_page (leaves are the caller's
 * memory and stay); the tree is then empty (root 0).
 */
void pt_destroy(struct pt *pt, void (*free_page)(void *ctx, u64 pa), void *ctx);

#endif
