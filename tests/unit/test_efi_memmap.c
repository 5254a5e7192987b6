/*
 * boot/efi/memmap.c: the UEFI memory map folded into boot_info regions.
 * EFI types (UEFI spec 2.x, 7.2): 0 reserved, 1/2 loader code/data, 3/4 boot
 * services code/data, 5/6 runtime code/data, 7 conventional, 8 unusable,
 * 9 ACPI reclaim, 10 ACPI NVS, 11 MMIO. Descriptors are read with the
 * firmware's descriptor size, which may exceed the structure we know.
 */
#include "unit.h"
#include "../../boot/efi/memmap.h"
#include <string.h>

struct desc48 {
	struct efi_md_mirror m;
	u64 vendor_extra; /* firmware descriptors may be larger than the spec's */
};

static struct desc48 map[600];
static int nmap;
static struct boot_mem_region out[BOOT_MAX_MEM];

static void add(u32 type, u64 base, u64 pages)
{
	memset(&map[nmap], 0xcc, sizeof(map[nmap]));
	map[nmap].m.type = type;
	map[nmap].m.phys_start = base;
	map[nmap].m.num_pages = pages;
	nmap++;
}

static int convert(void)
{
	return memmap_convert(map, (u64)nmap * sizeof(struct desc48), sizeof(struct desc48), out,
			      BOOT_MAX_MEM);
}

TEST(types_fold_sort_and_merge)
{
	nmap = 0;
	add(7, 0x100000, 0x100);    /* conventional 1M..2M */
	add(2, 0x200000, 0x10);     /* loader data: usable after ExitBootServices, joins */
	add(0, 0xf0000000, 0x1000); /* reserved */
	add(3, 0x0, 0x9f);          /* boot services code */
	add(9, 0x300000, 1);        /* ACPI reclaim */
	add(4, 0x210000, 0xf0);     /* boot services data: joins up to 3M */
	add(10, 0x301000, 1);       /* ACPI NVS */
	add(5, 0x302000, 2);        /* runtime code */
	add(6, 0x304000, 1);        /* runtime data: joins runtime code */
	add(8, 0x305000, 1);        /* unusable */
	add(11, 0x306000, 1);       /* MMIO */
	add(7, 0x400000, 0);        /* empty: ignored */
	add(1, 0x9f000, 1);         /* closes the gap: one region 0..0xa0000 */
	CHECK_EQ(convert(), 8);
	CHECK_EQ(out[0].base, 0);
	CHECK_EQ(out[0].len, 0xa0000);
	CHECK_EQ(out[0].type, BOOT_MEM_USABLE);
	CHECK_EQ(out[1].base, 0x100000);
	CHECK_EQ(out[1].len, 0x200000);
	CHECK_EQ(out[1].type, BOOT_MEM_USABLE);
	CHECK_EQ(out[2].type, BOOT_MEM_ACPI_RECLAIM);
	CHECK_EQ(out[3].type, BOOT_MEM_ACPI_NVS);
	CHECK_EQ(out[4].type, BOOT_MEM_FW_RUNTIME);
	CHECK_EQ(out[4].len, 0x3000);
	CHECK_EQ(out[5].type, BOOT_MEM_BAD);
	CHECK_EQ(out[6].type, BOOT_MEM_RESERVED);
	CHECK_EQ(out[7].base, 0xf0000000);
	CHECK_EQ(out[7].type, BOOT_MEM_RESERVED);
}

TEST(middle_region_joins_both_neighbours)
{
	nmap = 0;
	add(7, 0x1000000, 0x10);
	add(7, 0x1020000, 0x10);
	add(7, 0x1010000, 0x10);
	CHECK_EQ(convert(), 1);
	CHECK_EQ(out[0].base, 0x1000000);
	CHECK_EQ(out[0].len, 0x30000);
}

TEST(descriptor_size_smaller_than_the_structure_is_refused)
{
	nmap = 0;
	add(7, 0x100000, 1);
	CHECK_EQ(memmap_convert(map, sizeof(struct desc48), 32, out, BOOT_MAX_MEM), -1);
}

TEST(too_many_disjoint_regions_is_an_error)
{
	nmap = 0;
	for (int i = 0; i < 300; i++)
		add(7, (u64)i * 0x10000, 1);
	CHECK_EQ(convert(), -1);
}

TEST(many_touching_usable_regions_merge_into_one)
{
	nmap = 0;
	for (int i = 599; i >= 0; i--)
		add(i & 1 ? 7 : 4, (u64)i * 0x1000, 1);
	CHECK_EQ(convert(), 1);
	CHECK_EQ(out[0].len, 600 * 0x1000);
}
