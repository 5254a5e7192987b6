/*
 * Physical page allocator (contract in tern/pmm.h). First fit over a bitmap,
 * starting from a moving hint; contiguous, aligned runs for guest RAM and
 * page tables. Context: boot CPU, no locking yet.
 */
#include <tern/pmm.h>
#include <string.h>

#define LOW_RESERVED (1ULL << 20)

static bool test_bit(const u64 *bm, u64 i) { return bm[i / 64] >> (i % 64) & 1; }
static void set_bit(u64 *bm, u64 i) { bm[i / 64] |= 1ULL << (i % 64); }
static void clear_bit(u64 *bm, u64 i) { bm[i / 64] &= ~(1ULL << (i % 64)); }

static void mark_range(struct pmm *pmm, u64 base, u64 len, bool used)
{
	if (!len)
		return;
	u64 first = used ? base / PAGE_SIZE : ALIGN_UP(base, PAGE_SIZE) / PAGE_SIZE;
	u64 end = used ? ALIGN_UP(base + len, PAGE_SIZE) / PAGE_SIZE : (base + len) / PAGE_SIZE;
	if (end > pmm->nr_frames)
		end = pmm->nr_frames;
	for (u64 f = first; f < end; f++) {
		if (used && !test_bit(pmm->bitmap, f)) {
			set_bit(pmm->bitmap, f);
			pmm->free_frames--;
		} else if (!used && test_bit(pmm->bitmap, f)) {
			clear_bit(pmm->bitmap, f);
			pmm->free_frames++;
		}
	}
}

static bool overlaps(u64 a, u64 alen, u64 b, u64 blen)
{
	return a < b + blen && b < a + alen;
}

/* Is [base, base+len) free of everything the allocator must not hand out? */
static bool range_is_clear(const struct boot_info *bi, u64 base, u64 len)
{
	if (base < LOW_RESERVED)
		return false;
	if (overlaps(base, len, bi->image_phys_start, bi->image_phys_end - bi->image_phys_start))
		return false;
	for (u32 i = 0; i < bi->nr_modules; i++)
		if (overlaps(base, len, bi->modules[i].base, bi->modules[i].len))
			return false;
	for (u32 i = 0; i < bi->nr_reserved; i++)
		if (overlaps(base, len, bi->reserved[i].base, bi->reserved[i].len))
			return false;
	for (u32 i = 0; i < bi->nr_mem; i++)
		if (bi->mem[i].type != BOOT_MEM_USABLE &&
		    overlaps(base, len, bi->mem[i].base, bi->mem[i].len))
			return false;
	return true;
}

/* The first page-aligned spot in a usable region that can hold the bitmap. */
static u64 place_bitmap(const struct boot_info *bi, u64 bytes)
{
	for (u32 i = 0; i < bi->nr_mem; i++) {
		const struct boot_mem_region *r = &bi->mem[i];
		if (r->type != BOOT_MEM_USABLE)
			continue;
		for (u64 pa = ALIGN_UP(MAX(r->base, LOW_RESERVED), PAGE_SIZE);
		     pa + bytes <= r->base + r->len; pa += PAGE_SIZE)
			if (range_is_clear(bi, pa, bytes))
				return pa;
	}
	return 0;
}

int pmm_init(struct pmm *pmm, const struct boot_info *bi, void *(*map)(u64 pa))
{
	u64 top = 0;
	memset(pmm, 0, sizeof(*pmm));
	for (u32 i = 0; i < bi->nr_mem; i++)
		if (bi->mem[i].type == BOOT_MEM_USABLE && bi->mem[i].len &&
		    bi->mem[i].base + bi->mem[i].len > top)
			top = bi->mem[i].base + bi->mem[i].len;
	if (!top)
		return -1;

	pmm->nr_frames = top / PAGE_SIZE;
	u64 bytes = ALIGN_UP(pmm->nr_frames, 64) / 8;
	pmm->bitmap_phys = place_bitmap(bi, bytes);
	if (!pmm->bitmap_phys)
		return -1;
	pmm->bitmap = map(pmm->bitmap_phys);
	memset(pmm->bitmap, 0xff, bytes);

	/* Free what is usable, then take back everything that must stay. */
	for (u32 i = 0; i < bi->nr_mem; i++)
		if (bi->mem[i].type == BOOT_MEM_USABLE)
			mark_range(pmm, bi->mem[i].base, bi->mem[i].len, false);
	for (u32 i = 0; i < bi->nr_mem; i++)
		if (bi->mem[i].type != BOOT_MEM_USABLE)
			mark_range(pmm, bi->mem[i].base, bi->mem[i].len, true);
	mark_range(pmm, 0, LOW_RESERVED, true);
	mark_range(pmm, bi->image_phys_start, bi->image_phys_end - bi->image_phys_start, true);
	for (u32 i = 0; i < bi->nr_modules; i++)
		mark_range(pmm, bi->modules[i].base, bi->modules[i].len, true);
	for (u32 i = 0; i < bi->nr_reserved; i++)
		mark_range(pmm, bi->reserved[i].base, bi->reserved[i].len, true);
	mark_range(pmm, pmm->bitmap_phys, bytes, true);
	pmm->total_usable = pmm->free_frames;
	return 0;
}

u64 pmm_alloc(struct pmm *pmm, u64 n, u64 align)
{
	u64 step = align / PAGE_SIZE;
	if (!n || !step || (step & (step - 1)) || n > pmm->nr_frames)
		return 0;
	for (int pass = 0; pass < 2; pass++) {
		u64 start = pass ? 0 : ALIGN_UP(pmm->hint, step);
		for (u64 f = start; f <= pmm->nr_frames - n; f += step) {
			u64 k = 0;
			while (k < n && !test_bit(pmm->bitmap, f + k))
				k++;
			if (k == n) {
				mark_range(pmm, f * PAGE_SIZE, n * PAGE_SIZE, true);
				pmm->hint = f + n;
				return f * PAGE_SIZE;
			}
			/* Skip past the used frame, keeping alignment. */
			f = ALIGN_DOWN(f + k, step);
		}
	}
	return 0;
}

void pmm_free(struct pmm *pmm, u64 pa, u64 n)
{
	mark_range(pmm, pa, n * PAGE_SIZE, false);
}

bool pmm_is_free(const struct pmm *pmm, u64 pa)
{
	u64 f = pa / PAGE_SIZE;
	return f < pmm->nr_frames && !test_bit(pmm->bitmap, f);
}
