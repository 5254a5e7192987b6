/*
 * UEFI memory map -> boot_info regions, as pure C (no firmware calls, no EFI
 * headers) so that host unit tests can check it. Each descriptor is read via
 * struct efi_md_mirror at a stride of desc_size (firmware may use a larger
 * stride than the structure), its type folded into enum boot_mem_type, and the
 * region inserted into a base-sorted array where it is merged with a neighbour
 * of the same type that touches it. UEFI does not promise a sorted map, hence
 * the insertion; merging as we go keeps the array small on large machines.
 */
#include "memmap.h"

/* EFI_MEMORY_TYPE values (UEFI spec, table "Memory Type Usage"). */
enum {
	EFI_RESERVED = 0, EFI_LOADER_CODE = 1, EFI_LOADER_DATA = 2,
	EFI_BS_CODE = 3, EFI_BS_DATA = 4, EFI_RT_CODE = 5, EFI_RT_DATA = 6,
	EFI_CONVENTIONAL = 7, EFI_UNUSABLE = 8, EFI_ACPI_RECLAIM = 9,
	EFI_ACPI_NVS = 10,
};

u32 memmap_type_from_efi(u32 efi_type)
{
	switch (efi_type) {
	case EFI_CONVENTIONAL:
	case EFI_BS_CODE:
	case EFI_BS_DATA:
	case EFI_LOADER_CODE:
	case EFI_LOADER_DATA:
		return BOOT_MEM_USABLE;
	case EFI_ACPI_RECLAIM:
		return BOOT_MEM_ACPI_RECLAIM;
	case EFI_ACPI_NVS:
		return BOOT_MEM_ACPI_NVS;
	case EFI_RT_CODE:
	case EFI_RT_DATA:
		return BOOT_MEM_FW_RUNTIME;
	case EFI_UNUSABLE:
		return BOOT_MEM_BAD;
	default:
		return BOOT_MEM_RESERVED;
	}
}

static bool joins(const struct boot_mem_region *a, const struct boot_mem_region *b)
{
	return a->type == b->type && a->base + a->len == b->base;
}

/* Element-wise moves; the attribute keeps gcc from emitting memmove calls,
 * which the loader does not link against. */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
static void remove_at(struct boot_mem_region *out, u32 *n, u32 i)
{
	for (u32 j = i; j + 1 < *n; j++)
		out[j] = out[j + 1];
	(*n)--;
}

__attribute__((optimize("no-tree-loop-distribute-patterns")))
static void insert_at(struct boot_mem_region *out, u32 *n, u32 i,
		      const struct boot_mem_region *r)
{
	for (u32 j = *n; j > i; j--)
		out[j] = out[j - 1];
	out[i] = *r;
	(*n)++;
}

static int add_region(struct boot_mem_region *out, u32 *n, u32 max_out,
		      const struct boot_mem_region *r)
{
	u32 i = 0;

	while (i < *n && out[i].base <= r->base)
		i++;
	/* r goes between out[i-1] and out[i] */
	if (i > 0 && joins(&out[i - 1], r)) {
		out[i - 1].len += r->len;
		if (i < *n && joins(&out[i - 1], &out[i])) {
			out[i - 1].len += out[i].len;
			remove_at(out, n, i);
		}
		return 0;
	}
	if (i < *n && joins(r, &out[i])) {
		out[i].base = r->base;
		out[i].len += r->len;
		return 0;
	}
	if (*n >= max_out)
		return -1;
	insert_at(out, n, i, r);
	return 0;
}

int memmap_convert(const void *map, u64 map_size, u64 desc_size,
		   struct boot_mem_region *out, u32 max_out)
{
	const u8 *p = map;
	u32 n = 0;

	if (desc_size < sizeof(struct efi_md_mirror))
		return -1;
	for (u64 off = 0; off + desc_size <= map_size; off += desc_size) {
		const struct efi_md_mirror *d = (const void *)(p + off);
		struct boot_mem_region r;

		if (d->num_pages == 0)
			continue;
		r.base = d->phys_start;
		r.len = d->num_pages * PAGE_SIZE;
		r.type = memmap_type_from_efi(d->type);
		r.pad = 0;
		if (add_region(out, &n, max_out, &r) < 0)
			return -1;
	}
	return (int)n;
}
