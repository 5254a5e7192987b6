/*
 * Finding Tern's own NIC at boot: scan PCI, bring up the first supported
 * controller (drivers/e1000.c) and publish it as the_nic (tern/nic.h).
 */
#ifndef TERN_NIC_PROBE_H
#define TERN_NIC_PROBE_H

#include <tern/types.h>

struct pmm;

/*
 * Context: boot, once, after the page allocator, Tern's page tables and the
 * clock are up. acpi_rsdp (0 if unknown) leads to the MCFG table for ECAM.
 * Prints one line with the result. Returns 0 with the_nic set, or -1 with
 * the_nic NULL (no supported device, or it could not be brought up); never
 * panics over a missing or odd device.
 */
int nic_probe(struct pmm *pmm, u64 acpi_rsdp);

#endif
