/*
 * Checks that all guest RAM above the image is usable and distinct: every
 * 8-byte word of every 4 KiB page from __image_end to the RAM size Tern
 * passed in RDI is written with a pattern derived from its address and a
 * seed, then all of it is read back; a second pass with another seed (and
 * inverted bits) catches words that kept the old value or alias each other.
 * Below the image lie the boot structures and the unused start-up stack,
 * which are left alone.
 */
#include "guest.h"

/* A word's expected value: address and seed mixed so no two words agree. */
static inline u64 pattern(u64 addr, u64 seed)
{
	return (addr ^ seed) * 0x9e3779b97f4a7c15ull;
}

static void fill(u64 start, u64 end, u64 seed, u64 invert)
{
	for (u64 a = start; a < end; a += 8)
		*(volatile u64 *)a = pattern(a, seed) ^ invert;
}

/* Returns the number of bad words; reports the first one as INFO. */
static u64 verify(u64 start, u64 end, u64 seed, u64 invert)
{
	u64 bad = 0;

	for (u64 a = start; a < end; a += 8) {
		u64 want = pattern(a, seed) ^ invert;
		u64 got = *(volatile u64 *)a;
		if (got != want && bad++ == 0)
			report_info("memtest: first mismatch at 0x%lx: read 0x%lx, want 0x%lx", a, got, want);
	}
	return bad;
}

int guest_main(u64 ram_size)
{
	u64 start = ALIGN_UP((u64)(uintptr_t)__image_end, PAGE_SIZE);
	u64 end = ALIGN_DOWN(ram_size, PAGE_SIZE);

	if (end <= start) {
		report_fail("memtest: RAM size 0x%lx leaves no pages above the image end 0x%lx",
			    ram_size, start);
		return 1;
	}
	u64 pages = (end - start) / PAGE_SIZE;
	uprintf("memtest: testing 0x%lx..0x%lx (%lu pages)\n", start, end, pages);

	static const struct { u64 seed, invert; } passes[] = {
		{ 0x5445524e00000001ull, 0 },
		{ 0xa5a5a5a55a5a5a5aull, ~0ull },
	};
	for (unsigned p = 0; p < ARRAY_SIZE(passes); p++) {
		fill(start, end, passes[p].seed, passes[p].invert);
		u64 bad = verify(start, end, passes[p].seed, passes[p].invert);
		if (bad) {
			report_fail("memtest: pass %u: %lu bad words in 0x%lx..0x%lx", p + 1, bad, start, end);
			return 1;
		}
		uprintf("memtest: pass %u ok\n", p + 1);
	}

	report_info("memtest: %lu pages checked (0x%lx..0x%lx, RAM 0x%lx)", pages, start, end, ram_size);
	report_pass("memtest: all RAM above the image holds two address patterns");
	return 0;
}
