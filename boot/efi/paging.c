/*
 * The hand-over page tables: eight 4 KiB pages below 4 GiB. [0, 4 GiB) is
 * identity mapped with 2 MiB pages (PML4[0] -> PDPT_lo -> four PDs), and the
 * higher-half window TERN_VIRT_BASE - (TERN_LINK_PHYS mod 2 MiB), i.e.
 * 0xffffffff80000000 (PML4[511], PDPT[510]), maps the 2 MiB-aligned physical
 * address just below the image with as many 2 MiB pages as the image needs.
 * Entries are present + writable, cacheability left to the MTRRs (WB RAM).
 */
#include <tern/image.h>
#include "loader.h"

#define PTE_P 0x1ULL
#define PTE_W 0x2ULL
#define PTE_PS 0x80ULL
#define PT_PAGES 8
#define IDX(va, shift) (((va) >> (shift)) & 511)

enum { PML4, PDPT_LO, PD_LO0, PDPT_HI = PD_LO0 + 4, PD_HI };

EFI_STATUS build_page_tables(const struct tern_image *img, u64 *cr3, struct boot_range *area)
{
	u64 base, *pt, win_va, win_pa, pages;
	EFI_STATUS st;

	st = alloc_low(PT_PAGES * PAGE_SIZE, &base);
	if (EFI_ERROR(st))
		return fail("no memory below 4 GiB for page tables", st);
	pt = (u64 *)(UINTN)base;
	ZeroMem(pt, PT_PAGES * PAGE_SIZE);
#define TABLE(i) (pt + (i) * 512)
#define PHYS(i) (base + (i) * PAGE_SIZE)

	TABLE(PML4)[0] = PHYS(PDPT_LO) | PTE_P | PTE_W;
	for (u64 g = 0; g < 4; g++) {
		TABLE(PDPT_LO)[g] = PHYS(PD_LO0 + g) | PTE_P | PTE_W;
		for (u64 i = 0; i < 512; i++)
			TABLE(PD_LO0 + g)[i] = (g * SZ_1G + i * SZ_2M) | PTE_P | PTE_W | PTE_PS;
	}

	win_va = TERN_VIRT_BASE - TERN_LINK_PHYS % SZ_2M;
	win_pa = img->load - TERN_LINK_PHYS % SZ_2M;
	pages = ALIGN_UP(TERN_LINK_PHYS % SZ_2M + img->size, SZ_2M) / SZ_2M;
	if (IDX(win_va, 21) + pages > 512 || (win_pa & (SZ_2M - 1)))
		return fail("hypervisor image does not fit one page directory", EFI_SUCCESS);
	TABLE(PML4)[IDX(win_va, 39)] = PHYS(PDPT_HI) | PTE_P | PTE_W;
	TABLE(PDPT_HI)[IDX(win_va, 30)] = PHYS(PD_HI) | PTE_P | PTE_W;
	for (u64 i = 0; i < pages; i++)
		TABLE(PD_HI)[IDX(win_va, 21) + i] = (win_pa + i * SZ_2M) | PTE_P | PTE_W | PTE_PS;
#undef TABLE
#undef PHYS

	*cr3 = base;
	area->base = base;
	area->len = PT_PAGES * PAGE_SIZE;
	return EFI_SUCCESS;
}
