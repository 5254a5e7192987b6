/*
 * PCI for Tern's own devices: configuration space through the legacy
 * 0xCF8/0xCFC ports or ECAM (memory-mapped, from the ACPI MCFG table),
 * a brute-force scan of every bus, BAR decoding and sizing, and turning on
 * memory decoding and bus mastering. Everything above the two accessors is
 * written against struct pci_cfg, so the host unit tests run it over a fake
 * configuration space. Nothing here prints: callers say what went wrong.
 * Context: boot, service loop; no locking (one CPU touches PCI).
 */
#ifndef TERN_PCI_H
#define TERN_PCI_H

#include <tern/types.h>

/* Configuration header offsets (PCI Local Bus 3.0, 6.1) */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_CLASS_REV 0x08 /* revision, prog-if, subclass, class */
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10

#define PCI_COMMAND_IO (1u << 0)
#define PCI_COMMAND_MEMORY (1u << 1)
#define PCI_COMMAND_MASTER (1u << 2)
#define PCI_COMMAND_INTX_DISABLE (1u << 10)

#define PCI_HEADER_MULTIFUNCTION 0x80
#define PCI_HEADER_TYPE_MASK 0x7f

#define PCI_BAR_IO_FLAG 0x1u
#define PCI_BAR_MEM_TYPE_MASK 0x6u
#define PCI_BAR_MEM_TYPE_64 0x4u
#define PCI_BAR_MEM_PREFETCH 0x8u

/* How configuration space is reached. read32/write32 take dword-aligned
 * offsets; a read of a missing function returns all ones. */
struct pci_cfg {
	u32 (*read32)(const struct pci_cfg *c, u8 bus, u8 dev, u8 fn, u16 off);
	void (*write32)(const struct pci_cfg *c, u8 bus, u8 dev, u8 fn, u16 off, u32 v);
	u64 ecam_base;          /* ECAM: address of bus 0's window; 0 = legacy ports */
	u8 bus_start, bus_end;  /* buses ECAM decodes */
	void *ctx;              /* for fake configuration spaces */
};

struct pci_dev {
	u8 bus, dev, fn;
	u8 header_type;         /* without the multifunction bit */
	u16 vendor, device;
	u8 class_code, subclass, prog_if, revision;
};

enum pci_bar_kind { PCI_BAR_NONE, PCI_BAR_MEM32, PCI_BAR_MEM64, PCI_BAR_IO };

struct pci_bar {
	enum pci_bar_kind kind;
	bool prefetchable;
	u64 base;
	u64 size;               /* 0 (and kind NONE): not implemented */
};

/* Legacy port access (offsets below 256 only). */
void pci_cfg_legacy(struct pci_cfg *c);
/*
 * ECAM for segment 0 from the MCFG table (a pointer to the whole table), if
 * its window lies below mapped_limit (the part of physical space Tern's page
 * tables map uncached). Returns 0, or -1 with *why set: the caller then uses
 * pci_cfg_legacy().
 */
int pci_cfg_ecam(struct pci_cfg *c, const void *mcfg, u64 mapped_limit, const char **why);
/*
 * Pure: the segment-0 entry of an MCFG table. Returns 0 with base (the
 * address of bus 0's window) and the bus range, or -1 if the table is
 * malformed or has no such entry.
 */
int pci_mcfg_segment0(const void *mcfg, u64 *base, u8 *bus_start, u8 *bus_end);

u16 pci_read16(const struct pci_cfg *c, const struct pci_dev *d, u16 off);
u32 pci_read32(const struct pci_cfg *c, const struct pci_dev *d, u16 off);

/*
 * Visit every function on every bus (bridges are not walked: scanning all
 * 256 buses with one vendor-id read per slot finds what is behind them).
 * Stops at the first visit that returns non-zero and returns that value;
 * 0 after a full scan.
 */
int pci_scan(const struct pci_cfg *c, int (*visit)(const struct pci_dev *d, void *ctx),
	     void *ctx);

/* Pure: kind, prefetchability and base of a BAR from its low and high dwords
 * (hi is used only for 64-bit memory BARs). */
void pci_bar_decode(u32 lo, u32 hi, struct pci_bar *bar);
/* Pure: size from what the BAR read back after all ones were written
 * (mask_hi only for 64-bit memory). 0 when nothing is decoded. */
u64 pci_bar_size(enum pci_bar_kind kind, u32 mask_lo, u32 mask_hi);
/*
 * Read and size BAR index (0-5 for a type-0 header, 0-1 for a bridge):
 * decoding is switched off while all ones are written, then the BAR and
 * the command register are restored. A 64-bit BAR also uses index + 1.
 * Returns 0, or -1 for an index that does not exist or a 64-bit BAR in the
 * last slot (bar->kind is then PCI_BAR_NONE).
 */
int pci_bar_probe(const struct pci_cfg *c, const struct pci_dev *d, int index,
		  struct pci_bar *bar);
/* Set bits in the command register (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER).
 * The status half of the dword is written as zero: its bits clear on one. */
void pci_enable(const struct pci_cfg *c, const struct pci_dev *d, u16 bits);
/* Clear bits in the command register, e.g. to stop a device's DMA. */
void pci_disable(const struct pci_cfg *c, const struct pci_dev *d, u16 bits);

#endif
