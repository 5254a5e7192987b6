/*
 * Booting an unmodified Linux bzImage through the x86 64-bit boot protocol
 * (Linux Documentation/x86/boot.rst, "THE REAL-MODE KERNEL HEADER" and
 * "64-bit BOOT PROTOCOL"; the zero page is struct boot_params,
 * Documentation/x86/zero-page.rst). Pure code: it reads the image, plans
 * where everything goes in guest-physical memory, and writes into a flat
 * byte array standing for guest RAM. The guest then starts in long mode on
 * identity-mapped page tables with flat segments, RIP = plan.entry and
 * RSI = plan.zero_page.
 *
 * Use: linux_bzimage_parse() once per image, linux_boot_plan() with the
 * guest's memory map, then linux_boot_write() (or, piecewise,
 * linux_boot_params_build() for the zero page alone). Everything that comes
 * from the image is bounds-checked; errors are sentences in *err.
 */
#ifndef TERN_LINUX_BOOT_H
#define TERN_LINUX_BOOT_H

#include <tern/types.h>

/* ---- the setup header, at these offsets in the image and the zero page (boot.rst) ---- */
#define LINUX_HDR_SETUP_SECTS      0x1f1 /* u8: setup size in 512-byte sectors, 0 means 4 */
#define LINUX_HDR_SYSSIZE          0x1f4 /* u32: protected-mode code size in 16-byte units */
#define LINUX_HDR_BOOT_FLAG        0x1fe /* u16: 0xAA55 */
#define LINUX_HDR_JUMP             0x200 /* u8 0xEB, then u8 = header end - 0x202 */
#define LINUX_HDR_HEADER           0x202 /* u32: "HdrS" */
#define LINUX_HDR_VERSION          0x206 /* u16: boot protocol, major << 8 | minor */
#define LINUX_HDR_KERNEL_VERSION   0x20e /* u16: version string at this + 0x200 */
#define LINUX_HDR_TYPE_OF_LOADER   0x210 /* u8 */
#define LINUX_HDR_LOADFLAGS        0x211 /* u8 */
#define LINUX_HDR_RAMDISK_IMAGE    0x218 /* u32 */
#define LINUX_HDR_RAMDISK_SIZE     0x21c /* u32 */
#define LINUX_HDR_HEAP_END_PTR     0x224 /* u16 */
#define LINUX_HDR_EXT_LOADER_VER   0x226 /* u8 */
#define LINUX_HDR_EXT_LOADER_TYPE  0x227 /* u8 */
#define LINUX_HDR_CMD_LINE_PTR     0x228 /* u32 */
#define LINUX_HDR_INITRD_ADDR_MAX  0x22c /* u32: highest address the initrd may touch */
#define LINUX_HDR_KERNEL_ALIGNMENT 0x230 /* u32 */
#define LINUX_HDR_RELOCATABLE      0x234 /* u8 */
#define LINUX_HDR_XLOADFLAGS       0x236 /* u16 */
#define LINUX_HDR_CMDLINE_SIZE     0x238 /* u32: longest command line, without the NUL */
#define LINUX_HDR_HW_SUBARCH       0x23c /* u32: 0 = PC */
#define LINUX_HDR_HW_SUBARCH_DATA  0x240 /* u64 */
#define LINUX_HDR_PAYLOAD_OFFSET   0x248 /* u32: compressed kernel, from the protected-mode start */
#define LINUX_HDR_PAYLOAD_LENGTH   0x24c /* u32 */
#define LINUX_HDR_SETUP_DATA       0x250 /* u64: list of struct setup_data */
#define LINUX_HDR_PREF_ADDRESS     0x258 /* u64 */
#define LINUX_HDR_INIT_SIZE        0x260 /* u32: memory the kernel needs from its load address */
#define LINUX_HDR_END_2_12         0x268 /* end of the 2.12 header (handover_offset is last) */
#define LINUX_HDR_END_MAX          0x290 /* boot_params.edd_mbr_sig_buffer starts here */

#define LINUX_HDR_MAGIC 0x53726448u /* "HdrS" little-endian */
#define LINUX_BOOT_FLAG 0xaa55
#define LINUX_PROTO_MIN 0x020c      /* 2.12: xloadflags exists */

/* loadflags (0x211) */
#define LINUX_LOADED_HIGH   0x01
#define LINUX_KASLR_FLAG    0x02
#define LINUX_QUIET_FLAG    0x20
#define LINUX_KEEP_SEGMENTS 0x40
#define LINUX_CAN_USE_HEAP  0x80

/* xloadflags (0x236) */
#define LINUX_XLF_KERNEL_64               0x01
#define LINUX_XLF_CAN_BE_LOADED_ABOVE_4G  0x02

#define LINUX_TYPE_OF_LOADER_UNDEFINED 0xff
#define LINUX_ENTRY_64_OFFSET 0x200 /* 64-bit entry, from the protected-mode start */

/* ---- the zero page (zero-page.rst) ---- */
#define LINUX_ZERO_PAGE_SIZE        4096
#define LINUX_BP_ACPI_RSDP_ADDR     0x070 /* u64 */
#define LINUX_BP_EXT_RAMDISK_IMAGE  0x0c0 /* u32: bits 63:32 of ramdisk_image */
#define LINUX_BP_EXT_RAMDISK_SIZE   0x0c4 /* u32 */
#define LINUX_BP_EXT_CMD_LINE_PTR   0x0c8 /* u32 */
#define LINUX_BP_E820_ENTRIES       0x1e8 /* u8 */
#define LINUX_BP_SENTINEL           0x1ef /* u8: nonzero means "loader did not zero me" */
#define LINUX_BP_E820_TABLE         0x2d0 /* 20-byte entries: u64 addr, u64 size, u32 type */
#define LINUX_BP_EDDBUF             0xd00 /* first field after the e820 table (and 48 bytes of padding) */
#define LINUX_E820_ENTRY_SIZE       20
#define LINUX_E820_MAX              128   /* E820_MAX_ENTRIES_ZEROPAGE */

_Static_assert(LINUX_BP_E820_TABLE + LINUX_E820_MAX * LINUX_E820_ENTRY_SIZE <= LINUX_BP_EDDBUF,
	       "e820_table: 128 entries of 20 bytes end before eddbuf");
_Static_assert(LINUX_HDR_SETUP_SECTS > LINUX_BP_SENTINEL && LINUX_HDR_END_MAX <= LINUX_BP_E820_TABLE,
	       "the setup header lies between the sentinel and the e820 table");

/* e820 types (ACPI address range types) */
#define LINUX_E820_RAM      1
#define LINUX_E820_RESERVED 2
#define LINUX_E820_ACPI     3
#define LINUX_E820_NVS      4
#define LINUX_E820_UNUSABLE 5

/*
 * The low-memory convention every PC loader follows: RAM up to the EBDA,
 * then EBDA, VGA window and BIOS ROM reserved up to 1 MiB. Linux needs the
 * RAM below it for its real-mode trampoline.
 */
#define LINUX_LOW_RAM_END 0x9f000
#define LINUX_HIGH_START  0x100000

/* A validated bzImage; points into the caller's image, which must outlive it. */
struct linux_image {
	const u8 *img;
	u64 len;
	u16 version;         /* boot protocol, 0x020f = 2.15 */
	u32 setup_len;       /* (setup_sects + 1) * 512: where the protected-mode code starts */
	u32 hdr_end;         /* the setup header is [0x1f1, hdr_end) */
	u64 payload_len;     /* syssize * 16: bytes loaded at the load address */
	u8 loadflags, relocatable;
	u16 xloadflags;
	u32 kernel_alignment;
	u64 pref_address;
	u32 init_size;
	u32 cmdline_size;
	u32 initrd_addr_max;
	const char *kernel_version; /* NUL-terminated inside the setup, or NULL */
	char err_buf[96];           /* holds *err when it needs numbers */
};

/*
 * A range of guest-physical memory the caller (Tern) has claimed. It
 * appears in the e820 map with its type; LINUX_MEM_BOOT_ONLY instead stays
 * usable RAM in the map but the loader places nothing there (Tern's start
 * page tables, GDT and stack, dead once Linux runs on its own).
 */
#define LINUX_MEM_BOOT_ONLY 0
struct linux_mem_range {
	u64 base, size; /* page aligned, size > 0 */
	u32 type;       /* LINUX_E820_RESERVED/ACPI/NVS/UNUSABLE or LINUX_MEM_BOOT_ONLY */
};
#define LINUX_MAX_RANGES 32

/* The guest's memory: RAM is [0, ram_size), minus the claimed ranges. */
struct linux_guest_mem {
	u64 ram_size;                        /* page aligned, > 1 MiB, <= 1 TiB */
	const struct linux_mem_range *ranges;
	u32 n_ranges;                        /* <= LINUX_MAX_RANGES; no two overlap */
	u64 acpi_rsdp;                       /* for boot_params.acpi_rsdp_addr; 0 = none */
};

struct linux_e820_entry {
	u64 addr, size;
	u32 type;
};

/* Where everything goes (guest-physical addresses). */
struct linux_boot_plan {
	u64 kernel_addr;  /* the protected-mode code is copied here */
	u64 kernel_end;   /* kernel_addr + init_size: the kernel owns [kernel_addr, this) */
	u64 entry;        /* kernel_addr + 0x200: RIP */
	u64 zero_page;    /* RSI */
	u64 cmdline_addr;
	u32 cmdline_len;  /* without the NUL */
	u64 initrd_addr;  /* 0 when initrd_size is 0 */
	u64 initrd_size;
	u64 acpi_rsdp;
	u32 e820_entries;
	struct linux_e820_entry e820[LINUX_E820_MAX];
	char err_buf[96]; /* holds *err when it needs numbers */
};

/*
 * Validate a bzImage of len bytes: "HdrS", boot_flag, protocol >= 2.12,
 * LOADED_HIGH, XLF_KERNEL_64, setup_sects and syssize inside the file, and
 * every field the plan uses within sane bounds. Trailing bytes after
 * setup + syssize * 16 (a Secure Boot signature) are allowed and not
 * loaded. Returns 0 and fills *out, or -1 with *err set.
 */
int linux_bzimage_parse(const void *img, u64 len, struct linux_image *out, const char **err);

/*
 * Plan the boot: the e820 map from mem; the kernel at pref_address when
 * [pref, pref + init_size) is usable RAM, else (relocatable kernels) at the
 * lowest kernel_alignment-aligned address above pref_address where it fits;
 * the initrd (initrd_size bytes, 0 = none) page aligned as high as
 * initrd_addr_max allows (the end of RAM with XLF_CAN_BE_LOADED_ABOVE_4G);
 * the zero page and the command line (cmdline_len bytes plus a NUL, at
 * most cmdline_size) in the lowest free pages. Nothing overlaps anything
 * else or a claimed range. Returns 0, or -1 with *err set.
 */
int linux_boot_plan(const struct linux_image *k, const struct linux_guest_mem *mem, u64 initrd_size,
		    u64 cmdline_len, struct linux_boot_plan *plan, const char **err);

/*
 * Write the zero page for plan into zp (LINUX_ZERO_PAGE_SIZE bytes): zeroed,
 * the setup header copied from the image, then type_of_loader 0xff,
 * loadflags = LOADED_HIGH, the command line, initrd, e820 map and RSDP.
 * Returns 0, or -1 with *err set (a plan that the image cannot take).
 */
int linux_boot_params_build(const struct linux_image *k, const struct linux_boot_plan *plan,
			    u8 *zp, const char **err);

/*
 * Write the whole boot into ram (ram_size bytes, guest-physical 0 at
 * ram[0]): the protected-mode code, the command line (plan->cmdline_len
 * bytes of cmdline, then a NUL), the initrd (plan->initrd_size bytes) and
 * the zero page. Every range is checked against ram_size first; on error
 * nothing is written. Returns 0, or -1 with *err set.
 */
int linux_boot_write(const struct linux_image *k, const struct linux_boot_plan *plan,
		     const char *cmdline, const void *initrd, u8 *ram, u64 ram_size, const char **err);

#endif
