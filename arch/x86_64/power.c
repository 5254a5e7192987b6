/* Powering the machine off through ACPI S5 (the console's `shutdown`). */
#include <tern/arch.h>
#include <tern/acpi.h>
#include <tern/log.h>
#include "cpu.h"

#define SLP_EN (1u << 13)
#define SCI_EN 1u

void arch_power_off(u64 acpi_rsdp)
{
	struct acpi_sleep s;
	const char *err;
	if (acpi_s5_info(acpi_rsdp, &s, &err)) {
		hv_printf("tern: cannot power off: %s\n", err);
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
