/*
 * boot_info: the one hand-over record from firmware to the hypervisor core.
 *
 * Both boot paths fill it: the multiboot2 entry (boot/mb2/) parses GRUB's
 * information structure into it, and the UEFI loader (boot/efi/) builds it
 * before ExitBootServices. From there on the core never looks at firmware
 * structures again. It is plain data with fixed-size arrays so that it can be
 * built in one address space and read in another.
 */
#ifndef TERN_BOOT_INFO_H
#define TERN_BOOT_INFO_H

#define BOOT_INFO_MAGIC 0x4f464e494e524554ULL /* "TERNINFO" little-endian */

#define BOOT_SRC_MULTIBOOT2 1
#define BOOT_SRC_UEFI 2

#ifndef __ASSEMBLER__
#include <tern/types.h>

/* Memory types, after the firmware's own types have been folded in. */
enum boot_mem_type {
	BOOT_MEM_USABLE = 1,       /* free RAM once the hypervisor owns the machine */
	BOOT_MEM_RESERVED = 2,     /* firmware, MMIO, anything unknown */
	BOOT_MEM_ACPI_RECLAIM = 3, /* ACPI tables: kept, they are read later */
	BOOT_MEM_ACPI_NVS = 4,
	BOOT_MEM_BAD = 5,
	BOOT_MEM_FW_RUNTIME = 6,   /* UEFI runtime services code/data */
};

#define BOOT_MAX_MEM 256
#define BOOT_MAX_MODULES 8
#define BOOT_MAX_RESERVED 8
#define BOOT_CMDLINE_LEN 512
#define BOOT_MODNAME_LEN 64
#define BOOT_MODARGS_LEN 512

struct boot_mem_region {
	u64 base;
	u64 len;
	u32 type; /* enum boot_mem_type */
	u32 pad;
};

/* A file the firmware loaded for us (a GRUB module or a file on the ESP). */
struct boot_module {
	u64 base; /* physical */
	u64 len;
	char name[BOOT_MODNAME_LEN]; /* first word of its command line, e.g. "guest" */
	char args[BOOT_MODARGS_LEN]; /* the rest of it (a Linux kernel's command line) */
};

/* A physical range in use at hand-over that the page allocator must skip. */
struct boot_range {
	u64 base;
	u64 len;
};

struct boot_info {
	u64 magic;
	u32 source; /* BOOT_SRC_* */
	u32 nr_mem;
	u32 nr_modules;
	u32 nr_reserved;
	u64 acpi_rsdp;        /* physical address of the RSDP, 0 if unknown */
	u64 efi_runtime;      /* UEFI runtime services table (physical), 0 if none */
	u64 efi_system_table; /* multiboot2 on UEFI: GRUB's EFI64 tag (physical), 0 if none */
	u64 image_phys_start; /* the hypervisor image, bss included */
	u64 image_phys_end;
	char cmdline[BOOT_CMDLINE_LEN];
	struct boot_mem_region mem[BOOT_MAX_MEM];
	struct boot_module modules[BOOT_MAX_MODULES];
	struct boot_range reserved[BOOT_MAX_RESERVED];
};

#endif /* __ASSEMBLER__ */
#endif
