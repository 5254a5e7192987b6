/*
 * From either boot path to one boot_info: the 64-bit entry
 * (arch/x86_64/entry64.S) calls boot_main with the firmware's argument, and
 * we hand the core a boot_info that lives in our own image, so nothing the
 * firmware allocated has to survive.
 */
#include <tern/boot_info.h>
#include <tern/image.h>
#include <tern/mb2.h>
#include <tern/mm.h>
#include <tern/serial.h>
#include <tern/log.h>
#include <tern/panic.h>
#include <tern/hv.h>
#include <tern/arch.h>
#include <string.h>

extern char image_size[]; /* linker.ld */

u64 kernel_load_delta;
static struct boot_info boot_info;
static u8 rsdp_copy[64] __attribute__((aligned(16)));

void boot_main(u64 arg, u64 load_phys, u32 source);

/* The RSDP may live in memory we will reuse (GRUB's information): keep a copy. */
static void keep_rsdp(struct boot_info *bi)
{
	if (!bi->acpi_rsdp)
		return;
	memcpy(rsdp_copy, phys_to_virt(bi->acpi_rsdp), 36);
	bi->acpi_rsdp = virt_to_phys(rsdp_copy);
}

#define EFI_SYSTEM_TABLE_SIGNATURE 0x5453595320494249ULL /* "IBI SYST" */
#define EFI_ST_RUNTIME_SERVICES 88 /* offset of RuntimeServices (UEFI 2.x, x86-64) */

/* GRUB on UEFI hands over the system table, not the runtime services: find
 * them there, so that `shutdown` works on UEFI machines without ACPI. */
static void find_efi_runtime(struct boot_info *bi)
{
	u64 sig;
	if (!bi->efi_system_table)
		return;
	const u8 *st = phys_to_virt(bi->efi_system_table);
	memcpy(&sig, st, sizeof(sig));
	if (sig == EFI_SYSTEM_TABLE_SIGNATURE)
		memcpy(&bi->efi_runtime, st + EFI_ST_RUNTIME_SERVICES, sizeof(bi->efi_runtime));
}

void boot_main(u64 arg, u64 load_phys, u32 source)
{
	u64 entry_cycles = arch_cycles(); /* firmware and loader cost, for make bench */
	const char *err = NULL;

	kernel_load_delta = load_phys - TERN_LINK_PHYS;
	serial_init();
	hv_printf("\r\ntern: hypervisor starting at cycle %lu\n", entry_cycles);

	if (source == BOOT_SRC_MULTIBOOT2) {
		if (mb2_parse(phys_to_virt(arg), arg, &boot_info, &err))
			hv_panic("boot: %s", err);
		find_efi_runtime(&boot_info);
	} else {
		const struct boot_info *fw = phys_to_virt(arg);
		if (fw->magic != BOOT_INFO_MAGIC)
			hv_panic("boot: the loader's boot_info has a bad magic");
		boot_info = *fw;
	}
	boot_info.image_phys_start = load_phys;
	boot_info.image_phys_end = load_phys + (u64)image_size;
	keep_rsdp(&boot_info);
	hv_main(&boot_info);
}
