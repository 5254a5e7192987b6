/* Powering the machine off through ACPI S5 (the console's `shutdown`). */
#include <tern/arch.h>
#include <tern/acpi.h>
#include <tern/log.h>
#include <tern/mm.h>
#include <string.h>
#include "cpu.h"

#define SLP_EN (1u << 13)
#define SCI_EN 1u

#define EFI_RT_SIGNATURE 0x56524553544e5552ULL /* "RUNTSERV" */
#define EFI_RT_RESET_SYSTEM 104                   /* offset of ResetSystem */
#define EFI_RESET_SHUTDOWN 2

typedef void (__attribute__((ms_abi)) *efi_reset_system_fn)(u32 type, u64 status, u64 size, void *data);

/* UEFI runtime services, called in physical mode (identity mapped). */
static void efi_power_off(u64 efi_runtime)
{
	const u8 *rt = phys_to_virt(efi_runtime);
	u64 sig, fn;
	if (!efi_runtime)
		return;
	memcpy(&sig, rt, sizeof(sig));
	memcpy(&fn, rt + EFI_RT_RESET_SYSTEM, sizeof(fn));
	if (sig != EFI_RT_SIGNATURE || !fn) {
		hv_printf("tern: the UEFI runtime services table is not valid\n");
		return;
	}
	((efi_reset_system_fn)fn)(EFI_RESET_SHUTDOWN, 0, 0, NULL);
}

void arch_power_off(u64 acpi_rsdp, u64 efi_runtime)
{
	struct acpi_sleep s;
	const char *err;
	if (acpi_s5_info(acpi_rsdp, &s, &err)) {
		hv_printf("tern: ACPI power off unavailable: %s\n", err);
		if (efi_runtime) {
			hv_printf("tern: powering off through UEFI ResetSystem\n");
			efi_power_off(efi_runtime);
		}
		hv_puts("tern: the machine did not power off\n");
		return;
	}
	/* Firmware may leave ACPI in legacy mode: ask it to switch first. */
	if (!(inw((u16)s.pm1a_cnt) & SCI_EN) && s.smi_cmd && s.acpi_enable) {
		outb((u16)s.smi_cmd, s.acpi_enable);
		for (int i = 0; i < 1000000 && !(inw((u16)s.pm1a_cnt) & SCI_EN); i++)
			cpu_relax();
	}
	outw((u16)s.pm1a_cnt, (u16)(s.slp_typ_a << 10 | SLP_EN));
	if (s.pm1b_cnt)
		outw((u16)s.pm1b_cnt, (u16)(s.slp_typ_b << 10 | SLP_EN));
	for (int i = 0; i < 1000000; i++)
		cpu_relax();
	hv_puts("tern: the machine did not power off\n");
}
