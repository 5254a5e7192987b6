/*
 * PCI configuration space, the bus scan and BARs. The two accessors at the
 * top are the only code that touches hardware (ports 0xCF8/0xCFC, or ECAM
 * memory found through ACPI MCFG); everything below them goes through
 * struct pci_cfg and is also built for the host unit tests, which plug in a
 * fake configuration space (tests/unit/test_pci.c). Firmware tables and
 * device registers are outside input: a malformed MCFG or a strange BAR
 * yields an error, never a fault. Context: boot and the service loop.
 */
#include <tern/mm.h>
#include <tern/pci.h>
#include <string.h>
#include "cpu.h"

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc
#define PCI_CONFIG_ENABLE 0x80000000u

#define PCI_LEGACY_CFG_SIZE 256
#define PCI_ECAM_CFG_SIZE 4096
#define PCI_ECAM_BUS_SHIFT 20
#define PCI_MAX_DEV 32
#define PCI_MAX_FN 8

/* ---- hardware accessors ---- */

static u32 legacy_addr(u8 bus, u8 dev, u8 fn, u16 off)
{
	return PCI_CONFIG_ENABLE | (u32)bus << 16 | (u32)dev << 11 | (u32)fn << 8 | (off & 0xfc);
}

static u32 legacy_read32(const struct pci_cfg *c, u8 bus, u8 dev, u8 fn, u16 off)
{
	if (off >= PCI_LEGACY_CFG_SIZE)
		return ~0u;
	outl(PCI_CONFIG_ADDRESS, legacy_addr(bus, dev, fn, off));
	return inl(PCI_CONFIG_DATA);
}

static void legacy_write32(const struct pci_cfg *c, u8 bus, u8 dev, u8 fn, u16 off, u32 v)
{
	if (off >= PCI_LEGACY_CFG_SIZE)
		return;
	outl(PCI_CONFIG_ADDRESS, legacy_addr(bus, dev, fn, off));
	outl(PCI_CONFIG_DATA, v);
}

/* NULL for a bus outside the MCFG range: it reads as absent. */
static volatile u32 *ecam_ptr(const struct pci_cfg *c, u8 bus, u8 dev, u8 fn, u16 off)
{
	if (bus < c->bus_start || bus > c->bus_end || off >= PCI_ECAM_CFG_SIZE)
		return NULL;
	u64 pa = c->ecam_base + ((u64)bus << PCI_ECAM_BUS_SHIFT | (u64)dev << 15 |
				 (u64)fn << 12 | (off & 0xffc));
	return phys_to_virt(pa);
}

static u32 ecam_read32(const struct pci_cfg *c, u8 bus, u8 dev, u8 fn, u16 off)
{
	volatile u32 *p = ecam_ptr(c, bus, dev, fn, off);
	return p ? *p : ~0u;
}

static void ecam_write32(const struct pci_cfg *c, u8 bus, u8 dev, u8 fn, u16 off, u32 v)
{
	volatile u32 *p = ecam_ptr(c, bus, dev, fn, off);
	if (p)
		*p = v;
}

void pci_cfg_legacy(struct pci_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->read32 = legacy_read32;
	c->write32 = legacy_write32;
	c->bus_end = 255;
}

/* ---- MCFG (PCI Firmware Specification 3.0, 4.1.2) ---- */

#define MCFG_HEADER_LEN 44 /* SDT header (36) + 8 reserved */
#define MCFG_ENTRY_LEN 16

int pci_mcfg_segment0(const void *mcfg, u64 *base, u8 *bus_start, u8 *bus_end)
{
	const u8 *t = mcfg;
	u32 len;

	if (!t)
		return -1;
	memcpy(&len, t + 4, 4);
	if (memcmp(t, "MCFG", 4) || len < MCFG_HEADER_LEN)
		return -1;
	for (u32 at = MCFG_HEADER_LEN; at + MCFG_ENTRY_LEN <= len; at += MCFG_ENTRY_LEN) {
		u64 b;
		u16 seg;
		memcpy(&b, t + at, 8);
		memcpy(&seg, t + at + 8, 2);
		u8 start = t[at + 10], end = t[at + 11];
		if (seg != 0)
			continue;
		/* Each bus takes 1 MiB, so the window is 1 MiB aligned. */
		if (!b || (b & ((1ULL << PCI_ECAM_BUS_SHIFT) - 1)) || start > end)
			return -1;
		*base = b;
		*bus_start = start;
		*bus_end = end;
		return 0;
	}
	return -1;
}

int pci_cfg_ecam(struct pci_cfg *c, const void *mcfg, u64 mapped_limit, const char **why)
{
	u64 base;
	u8 start, end;

	if (!mcfg) {
		*why = "no ACPI MCFG table";
		return -1;
	}
	if (pci_mcfg_segment0(mcfg, &base, &start, &end)) {
		*why = "MCFG has no usable segment 0 entry";
		return -1;
	}
	u64 top = base + ((u64)end + 1) * (1ULL << PCI_ECAM_BUS_SHIFT);
	if (top < base || top > mapped_limit) {
		*why = "ECAM window lies above the mapped range";
		return -1;
	}
	memset(c, 0, sizeof(*c));
	c->read32 = ecam_read32;
	c->write32 = ecam_write32;
	c->ecam_base = base;
	c->bus_start = start;
	c->bus_end = end;
	return 0;
}

/* ---- generic over struct pci_cfg ---- */

u32 pci_read32(const struct pci_cfg *c, const struct pci_dev *d, u16 off)
{
	return c->read32(c, d->bus, d->dev, d->fn, off & ~3u);
}

u16 pci_read16(const struct pci_cfg *c, const struct pci_dev *d, u16 off)
{
	return (u16)(pci_read32(c, d, off) >> ((off & 2) * 8));
}

static void pci_write32(const struct pci_cfg *c, const struct pci_dev *d, u16 off, u32 v)
{
	c->write32(c, d->bus, d->dev, d->fn, off & ~3u, v);
}

/* Fill d from its header; false if no function answers there. */
static bool probe_function(const struct pci_cfg *c, struct pci_dev *d)
{
	u32 id = pci_read32(c, d, PCI_VENDOR_ID);
	u16 vendor = (u16)id;

	if (vendor == 0xffff || vendor == 0)
		return false;
	d->vendor = vendor;
	d->device = (u16)(id >> 16);
	u32 cls = pci_read32(c, d, PCI_CLASS_REV);
	d->revision = (u8)cls;
	d->prog_if = (u8)(cls >> 8);
	d->subclass = (u8)(cls >> 16);
	d->class_code = (u8)(cls >> 24);
	d->header_type = (u8)(pci_read16(c, d, PCI_HEADER_TYPE) & PCI_HEADER_TYPE_MASK);
	return true;
}

int pci_scan(const struct pci_cfg *c, int (*visit)(const struct pci_dev *d, void *ctx),
	     void *ctx)
{
	for (u32 bus = 0; bus < 256; bus++) {
		for (u8 dev = 0; dev < PCI_MAX_DEV; dev++) {
			struct pci_dev d = { .bus = (u8)bus, .dev = dev, .fn = 0 };
			if (!probe_function(c, &d))
				continue; /* no function 0: no device (3.0, 6.2.1) */
			bool multi = pci_read16(c, &d, PCI_HEADER_TYPE) & PCI_HEADER_MULTIFUNCTION;
			int rc = visit(&d, ctx);
			if (rc)
				return rc;
			for (u8 fn = 1; multi && fn < PCI_MAX_FN; fn++) {
				struct pci_dev f = { .bus = (u8)bus, .dev = dev, .fn = fn };
				if (!probe_function(c, &f))
					continue;
				rc = visit(&f, ctx);
				if (rc)
					return rc;
			}
		}
	}
	return 0;
}

void pci_bar_decode(u32 lo, u32 hi, struct pci_bar *bar)
{
	memset(bar, 0, sizeof(*bar));
	if (lo & PCI_BAR_IO_FLAG) {
		bar->kind = PCI_BAR_IO;
		bar->base = lo & ~3u;
		return;
	}
	bar->prefetchable = lo & PCI_BAR_MEM_PREFETCH;
	switch (lo & PCI_BAR_MEM_TYPE_MASK) {
	case 0x0: /* anywhere in 32 bits */
	case 0x2: /* below 1 MiB (PCI 2.x): still a 32-bit address */
		bar->kind = PCI_BAR_MEM32;
		bar->base = lo & ~0xfu;
		break;
	case PCI_BAR_MEM_TYPE_64:
		bar->kind = PCI_BAR_MEM64;
		bar->base = (u64)hi << 32 | (lo & ~0xfu);
		break;
	default: /* reserved type */
		bar->kind = PCI_BAR_NONE;
		break;
	}
}

u64 pci_bar_size(enum pci_bar_kind kind, u32 mask_lo, u32 mask_hi)
{
	u32 m32;
	u64 m64;

	switch (kind) {
	case PCI_BAR_IO:
		m32 = mask_lo & ~3u;
		if (!m32)
			return 0;
		/* Devices that decode 16 I/O address bits may read the upper half as 0. */
		if (!(m32 >> 16))
			m32 |= 0xffff0000u;
		return (u32)(~m32 + 1);
	case PCI_BAR_MEM32:
		m32 = mask_lo & ~0xfu;
		return m32 ? (u32)(~m32 + 1) : 0;
	case PCI_BAR_MEM64:
		m64 = (u64)mask_hi << 32 | (mask_lo & ~0xfu);
		return m64 ? ~m64 + 1 : 0;
	default:
		return 0;
	}
}

static int bar_count(const struct pci_dev *d)
{
	switch (d->header_type) {
	case 0: return 6;
	case 1: return 2; /* PCI-to-PCI bridge */
	default: return 0;
	}
}

int pci_bar_probe(const struct pci_cfg *c, const struct pci_dev *d, int index,
		  struct pci_bar *bar)
{
	memset(bar, 0, sizeof(*bar));
	if (index < 0 || index >= bar_count(d))
		return -1;
	u16 off = (u16)(PCI_BAR0 + 4 * index);
	u32 lo = pci_read32(c, d, off), hi = 0;
	bool is64 = !(lo & PCI_BAR_IO_FLAG) &&
		    (lo & PCI_BAR_MEM_TYPE_MASK) == PCI_BAR_MEM_TYPE_64;
	if (is64) {
		if (index + 1 >= bar_count(d))
			return -1;
		hi = pci_read32(c, d, off + 4);
	}
	pci_bar_decode(lo, hi, bar);
	if (bar->kind == PCI_BAR_NONE)
		return 0;

	/* While the BAR holds all ones it may decode over anything: decoding off. */
	u16 cmd = pci_read16(c, d, PCI_COMMAND);
	pci_write32(c, d, PCI_COMMAND, cmd & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
	pci_write32(c, d, off, ~0u);
	u32 mask_lo = pci_read32(c, d, off), mask_hi = 0;
	if (is64) {
		pci_write32(c, d, off + 4, ~0u);
		mask_hi = pci_read32(c, d, off + 4);
		pci_write32(c, d, off + 4, hi);
	}
	pci_write32(c, d, off, lo);
	pci_write32(c, d, PCI_COMMAND, cmd);

	bar->size = pci_bar_size(bar->kind, mask_lo, mask_hi);
	if (!bar->size)
		memset(bar, 0, sizeof(*bar));
	return 0;
}

void pci_enable(const struct pci_cfg *c, const struct pci_dev *d, u16 bits)
{
	u16 cmd = pci_read16(c, d, PCI_COMMAND);
	pci_write32(c, d, PCI_COMMAND, (u16)(cmd | bits));
}

void pci_disable(const struct pci_cfg *c, const struct pci_dev *d, u16 bits)
{
	u16 cmd = pci_read16(c, d, PCI_COMMAND);
	pci_write32(c, d, PCI_COMMAND, (u16)(cmd & ~bits));
}
