/*
 * Tern's own page tables, built with the generic engine (lib/pt.c): an
 * identity map of physical memory (RAM write-back, everything else
 * uncached, at least the first 4 GiB for MMIO), and the image in the higher
 * half. Replaces whatever tables the loader left. Context: boot, once.
 */
#include <tern/arch.h>
#include <tern/boot_info.h>
#include <tern/image.h>
#include <tern/mm.h>
#include <tern/pmm.h>
#include <tern/pt.h>
#include <tern/panic.h>
#include <string.h>
#include "cpu.h"
#include "paging.h"

#define PTE_P (1ULL << 0)
#define PTE_W (1ULL << 1)
#define PTE_PWT (1ULL << 3)
#define PTE_PCD (1ULL << 4)

u64 paging_alloc_zeroed(void *ctx)
{
	u64 pa = pmm_alloc(ctx, 1, PAGE_SIZE);
	if (pa)
		memset(phys_to_virt(pa), 0, PAGE_SIZE);
	return pa;
}

void *paging_map_identity(void *ctx, u64 pa)
{
	return phys_to_virt(pa);
}

static bool is_ram(u32 type)
{
	return type == BOOT_MEM_USABLE || type == BOOT_MEM_ACPI_RECLAIM ||
	       type == BOOT_MEM_ACPI_NVS || type == BOOT_MEM_FW_RUNTIME;
}

void arch_paging_init(const struct boot_info *bi, struct pmm *pmm)
{
	struct pt pt = {
		.present_mask = PTE_P,
		.table_flags = PTE_P | PTE_W,
		.alloc = paging_alloc_zeroed,
		.map = paging_map_identity,
		.ctx = pmm,
	};
	u32 a, b, c, d;
	cpuid(0x80000001, 0, &a, &b, &c, &d);
	int max_level = (d & (1u << 26)) ? 3 : 2; /* 1 GiB pages? */

	u64 top = 4 * SZ_1G;
	for (u32 i = 0; i < bi->nr_mem; i++)
		top = MAX(top, ALIGN_UP(bi->mem[i].base + bi->mem[i].len, SZ_2M));

	if (pt_init(&pt) ||
	    pt_map(&pt, 0, 0, top, PTE_P | PTE_W | PTE_PCD | PTE_PWT, max_level))
		goto oom;
	for (u32 i = 0; i < bi->nr_mem; i++) {
		const struct boot_mem_region *r = &bi->mem[i];
		u64 base = ALIGN_DOWN(r->base, PAGE_SIZE);
		u64 end = ALIGN_UP(r->base + r->len, PAGE_SIZE);
		if (is_ram(r->type) && pt_map(&pt, base, base, end - base, PTE_P | PTE_W, max_level))
			goto oom;
	}
	u64 image_len = ALIGN_UP(bi->image_phys_end - bi->image_phys_start, PAGE_SIZE);
	if (pt_map(&pt, TERN_VIRT_BASE, bi->image_phys_start, image_len, PTE_P | PTE_W, 2))
		goto oom;
	write_cr3(pt.root);
	return;
oom:
	hv_panic("paging: out of memory building the host page tables");
}
