/*
 * The few ACPI facts Tern needs, read from the firmware's tables: how to
 * enter S5 (power off). Tables come from firmware and are checked (lengths,
 * checksums) before use.
 */
#ifndef TERN_ACPI_H
#define TERN_ACPI_H

#include <tern/types.h>

struct acpi_sleep {
	u32 pm1a_cnt, pm1b_cnt; /* I/O ports, 0 if absent */
	u32 smi_cmd;
	u8 acpi_enable;
	u16 slp_typ_a, slp_typ_b;
};

/* Find the system description table with this signature, or NULL. */
const void *acpi_find_table(u64 rsdp_phys, const char sig[4]);
/* Fill s for S5. 0, or -1 with *err set. */
int acpi_s5_info(u64 rsdp_phys, struct acpi_sleep *s, const char **err);

#endif
