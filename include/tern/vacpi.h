/*
 * The guest's ACPI tables (hv/vacpi.c): pure code. Builds the smallest
 * hardware-reduced ACPI platform a stock Linux accepts: RSDP (revision 2),
 * XSDT, FADT (ACPI 6.5 layout, HW_REDUCED_ACPI, sleep and reset registers in
 * I/O space), MADT (local APICs only, no I/O APIC, no 8259) and a DSDT whose
 * hand-emitted AML declares COM1 without an IRQ (so Linux's 8250 driver
 * polls it) and the \_S5 sleep type used for power off.
 *
 * The tables are written contiguously into one buffer that the guest sees
 * at guest_phys_base; the caller maps it there, reports [rsdp_gpa, rsdp_gpa
 * + size) as ACPI reclaimable (e820 type 3) and puts rsdp_gpa into the zero
 * page's acpi_rsdp_addr.
 */
#ifndef TERN_VACPI_H
#define TERN_VACPI_H

#include <tern/types.h>

/* APIC IDs below this are Local APIC (type 0) entries, the rest x2APIC
 * (type 9), as ACPI 6.5 section 5.2.12.12 asks. */
#define VACPI_X2APIC_FIRST_ID 255
#define VACPI_MAX_CPUS 1024

/* Hardware-reduced sleep control register (ACPI 6.5 section 4.8.3.7):
 * Linux writes (SLP_TYP << 2) | SLP_EN, SLP_TYP being \_S5's first value. */
#define VACPI_SLP_TYP_SHIFT 2
#define VACPI_SLP_TYP_MASK 0x1c
#define VACPI_SLP_EN 0x20
/* Sleep status register: WAK_STS. Linux writes it to clear it before
 * sleeping and then polls for it, so reads should return 0. */
#define VACPI_WAK_STS 0x80

/* Enough for VACPI_MAX_CPUS; one CPU needs well under 1 KiB. */
#define VACPI_BUF_MAX 16384

struct vacpi_config {
	u32 ncpus;          /* 1..VACPI_MAX_CPUS: APIC IDs 0..ncpus-1, all enabled */
	u16 sleep_ctl_port; /* SLEEP_CONTROL_REG, one byte wide */
	u16 sleep_sts_port; /* SLEEP_STATUS_REG, one byte wide, not sleep_ctl_port */
	u8 s5_slp_typ;      /* 0..7: the SLP_TYP of S5, \_S5's value */
	u16 reset_port;     /* RESET_REG, one byte wide */
	u8 reset_value;     /* RESET_VALUE: the byte that resets the VM */
	u16 com1_port;      /* the 16550's base; 8 ports */
};

struct vacpi_layout {
	u64 rsdp_gpa; /* == guest_phys_base: acpi_rsdp_addr */
	u64 size;     /* bytes used from guest_phys_base: the e820 ACPI range */
	u64 xsdt_gpa, fadt_gpa, madt_gpa, dsdt_gpa;
};

/*
 * Write all tables into buf[0..buf_size), which the guest sees at
 * guest_phys_base (16-byte aligned, the whole range below 2^64). 0 and *out
 * filled, or -1 with *err set (bad config, buffer too small): buf is never
 * written beyond buf_size, but may hold a partial image on error.
 */
int vacpi_build(void *buf, u64 buf_size, u64 guest_phys_base,
		const struct vacpi_config *cfg, struct vacpi_layout *out,
		const char **err);

/* What the guest's byte write to an I/O port means for the platform. */
enum vacpi_event {
	VACPI_EV_NONE,     /* not a port of ours, or a write with no effect */
	VACPI_EV_POWEROFF, /* SLP_EN with S5's SLP_TYP on the sleep control port */
	VACPI_EV_RESET,    /* reset_value on the reset port */
};

/* True if port is one the FADT declares (sleep control, status, reset):
 * the I/O exit handler claims these; reads of them return 0. */
bool vacpi_owns_port(const struct vacpi_config *cfg, u16 port);
enum vacpi_event vacpi_port_write(const struct vacpi_config *cfg, u16 port, u8 value);

/* The AML encoder's PkgLength (ACPI 6.5 section 20.2.4), exposed for the
 * unit tests: the encoding of a package whose body (after the PkgLength)
 * is body bytes, into out; its length 1..4, or 0 if it needs over 2^28. */
unsigned vacpi_pkglength(u64 body, u8 out[4]);

#endif
