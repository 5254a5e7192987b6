/*
 * Internal interface of the UEFI loader (boot/efi/). The loader is a gnu-efi
 * application: efi_main (main.c) reads tern.cfg and the guest from the boot
 * volume (fileio.c), loads the embedded tern.elf (elf_load.c), builds the
 * hand-over page tables (paging.c), converts the final memory map (memmap.c),
 * exits Boot Services and jumps to the core (jump.S). Output goes to COM1 and,
 * while Boot Services last, to ConOut (console.c). Everything the core reads
 * lives below 4 GiB so that the identity map covers it.
 */
#ifndef TERN_EFI_LOADER_H
#define TERN_EFI_LOADER_H

#include <efi.h>
#include <efilib.h>
#include <tern/types.h>
#include <tern/boot_info.h>

#define LOW_MAX_ADDR 0xffffffffULL /* highest byte the loader may allocate */

/* console.c */
enum { LOG_SERIAL = 1, LOG_CON = 2, LOG_BOTH = 3 };
void serial_init(void);
void log_str(int where, const char *s);
void log_hex(int where, u64 v);
void log_dec(int where, u64 v);
void console_boot_services_gone(void);
EFI_STATUS fail(const char *what, EFI_STATUS st);
void __noreturn halt_forever(void);

/* fileio.c */
EFI_STATUS alloc_low(u64 bytes, u64 *addr);
EFI_STATUS open_volume(EFI_HANDLE device, EFI_FILE_HANDLE *root);
EFI_STATUS read_file(EFI_FILE_HANDLE root, const char *path, u64 *addr, u64 *len);

/* elf_load.c */
struct tern_image {
	u64 load;       /* physical address of TERN_LINK_PHYS's byte */
	u64 size;       /* tern_header.image_size */
	u64 entry64;    /* virtual */
};
EFI_STATUS load_tern_elf(const u8 *blob, u64 blob_len, struct tern_image *img);

/* paging.c */
EFI_STATUS build_page_tables(const struct tern_image *img, u64 *cr3, struct boot_range *area);

/* jump.S */
void __noreturn tern_efi_jump(u64 cr3, u64 entry64, u64 boot_info, u64 load_addr);

/* payload.S */
extern const u8 tern_elf_start[] __attribute__((visibility("hidden")));
extern const u8 tern_elf_end[] __attribute__((visibility("hidden")));
extern const u8 demo_elf_start[] __attribute__((visibility("hidden")));
extern const u8 demo_elf_end[] __attribute__((visibility("hidden")));

#endif
