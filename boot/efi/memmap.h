/*
 * Pure conversion of a UEFI memory map into boot_info regions. No EFI headers
 * and no firmware calls: memmap.c reads the descriptors through a local mirror
 * of EFI_MEMORY_DESCRIPTOR, so the host unit tests can feed it hand-made maps.
 */
#ifndef TERN_EFI_MEMMAP_H
#define TERN_EFI_MEMMAP_H

#include <tern/types.h>
#include <tern/boot_info.h>

/* Mirrors EFI_MEMORY_DESCRIPTOR (UEFI 2.x); firmware strides by desc_size. */
struct efi_md_mirror {
	u32 type;
	u32 pad;
	u64 phys_start;
	u64 virt_start;
	u64 num_pages;
	u64 attribute;
};

/* EFI_MEMORY_TYPE -> enum boot_mem_type. */
u32 memmap_type_from_efi(u32 efi_type);

/*
 * Converts map_size bytes of descriptors (stride desc_size) into out[],
 * sorted by base, adjacent regions of one type merged. Returns the number of
 * regions, or -1 if desc_size is too small or more than max_out are needed.
 */
int memmap_convert(const void *map, u64 map_size, u64 desc_size,
		   struct boot_mem_region *out, u32 max_out);

#endif
