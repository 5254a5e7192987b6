/*
 * The page-table engine (contract in tern/pt.h). Walks from the root,
 * allocating intermediate tables on demand; splits large leaves when a
 * smaller mapping has to go inside one.
 */
#include <tern/pt.h>

static u64 *table_of(struct pt *pt, u64 entry)
{
	return pt->map(pt->ctx, entry & PT_ADDR_MASK);
}

static unsigned index_at(u64 va, int level)
{
	return (va >> (12 + 9 * (level - 1))) & (PT_ENTRIES - 1);
}

static bool present(const struct pt *pt, u64 e)
{
	return e & pt->present_mask;
}

static bool is_leaf(u64 e, int level)
{
	return level == 1 || (e & PT_LARGE);
}

int pt_init(struct pt *pt)
{
	pt->root = pt->alloc(pt->ctx);
	return pt->root ? 0 : -1;
}

int pt_split(struct pt *pt, u64 *entry, int level)
{
	u64 e = *entry;
	if (level < 2 || !(e & PT_LARGE))
		return -1;
	u64 tpa = pt->alloc(pt->ctx);
	if (!tpa)
		return -1;
	u64 *t = pt->map(pt->ctx, tpa);
	u64 sub = pt_level_size(level - 1);
	u64 flags = e & ~PT_ADDR_MASK;
	if (level - 1 == 1)
		flags &= ~PT_LARGE; /* a 4 KiB leaf has no size bit */
	for (unsigned i = 0; i < PT_ENTRIES; i++)
		t[i] = ((e & PT_ADDR_MASK) + i * sub) | flags;
	*entry = tpa | pt->table_flags;
	return 0;
}

/* The entry for va at target level, creating tables (and splitting) above it. */
static u64 *walk_create(struct pt *pt, u64 va, int target)
{
	u64 *t = pt->map(pt->ctx, pt->root);
	for (int level = PT_LEVELS; level > target; level--) {
		u64 *e = &t[index_at(va, level)];
		if (!present(pt, *e)) {
			u64 tpa = pt->alloc(pt->ctx);
			if (!tpa)
				return NULL;
			*e = tpa | pt->table_flags;
		} else if (is_leaf(*e, level) && pt_split(pt, e, level)) {
			return NULL;
		}
		t = table_of(pt, *e);
	}
	return &t[index_at(va, target)];
}

int pt_map(struct pt *pt, u64 va, u64 pa, u64 size, u64 leaf_flags, int max_level)
{
	while (size) {
		int level = max_level;
		while (level > 1 && ((va | pa) & (pt_level_size(level) - 1) ||
				     size < pt_level_size(level)))
			level--;
		u64 *e = walk_create(pt, va, level);
		/* Keep an existing finer-grained table: map inside it instead. */
		while (e && level > 1 && present(pt, *e) && !is_leaf(*e, level))
			e = walk_create(pt, va, --level);
		if (!e)
			return -1;
		u64 flags = leaf_flags & ~PT_LARGE;
		if (level > 1)
			flags |= PT_LARGE;
		*e = pa | flags;
		va += pt_level_size(level);
		pa += pt_level_size(level);
		size -= pt_level_size(level);
	}
	return 0;
}

u64 *pt_lookup(struct pt *pt, u64 va, int *level_out)
{
	u64 *t = pt->map(pt->ctx, pt->root);
	for (int level = PT_LEVELS; level >= 1; level--) {
		u64 *e = &t[index_at(va, level)];
		if (!present(pt, *e))
			return NULL;
		if (is_leaf(*e, level)) {
			if (level_out)
				*level_out = level;
			return e;
		}
		t = table_of(pt, *e);
	}
	return NULL;
}

/* Sign-extend bit 47: the top-level slots 256-511 are the upper half. */
static u64 canonical(u64 va)
{
	return (u64)((s64)(va << 16) >> 16);
}

/* [start, last] is inclusive so that a range ending at 2^64 does not wrap. */
static void visit(struct pt *pt, u64 *table, int level, u64 base, u64 start, u64 last,
		  void (*fn)(u64 *, u64, int, void *), void *ctx)
{
	u64 span = pt_level_size(level);
	for (unsigned i = 0; i < PT_ENTRIES; i++) {
		u64 va = canonical(base + i * span);
		if (va + (span - 1) < start || va > last)
			continue;
		u64 *e = &table[i];
		if (!present(pt, *e))
			continue;
		if (is_leaf(*e, level))
			fn(e, va, level, ctx);
		else
			visit(pt, table_of(pt, *e), level - 1, va, start, last, fn, ctx);
	}
}

void pt_for_each_leaf(struct pt *pt, u64 va, u64 size,
		      void (*fn)(u64 *entry, u64 va, int level, void *ctx), void *ctx)
{
	if (size)
		visit(pt, pt->map(pt->ctx, pt->root), PT_LEVELS, 0, va, va + (size - 1), fn, ctx);
}

static void free_tables(struct pt *pt, u64 table_pa, int level, void (*free_page)(void *, u64),
			void *ctx)
{
	u64 *table = pt->map(pt->ctx, table_pa);
	for (unsigned i = 0; level > 1 && i < PT_ENTRIES; i++)
		if (present(pt, table[i]) && !is_leaf(table[i], level))
			free_tables(pt, table[i] & PT_ADDR_MASK, level - 1, free_page, ctx);
	free_page(ctx, table_pa);
}

void pt_destroy(struct pt *pt, void (*free_page)(void *ctx, u64 pa), void *ctx)
{
	if (pt->root)
		free_tables(pt, pt->root, PT_LEVELS, free_page, ctx);
	pt->root = 0;
}
