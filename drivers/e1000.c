/*
 * Driver for Intel 8254x gigabit controllers (82540EM as QEMU and Bochs
 * emulate it, and its 82545 siblings) with legacy descriptors, polled, no
 * interrupts, behind the struct nic interface (tern/nic.h). This file owns
 * the registers: reset, MAC address, link, ring registers, tail writes. The
 * ring logic itself is pure code in drivers/e1000_ring.c. It also holds
 * nic_probe(), which scans PCI and publishes the first NIC that comes up as
 * the_nic. Register numbers and sequences follow Intel's "PCI/PCI-X Family
 * of Gigabit Ethernet Controllers Software Developer's Manual" (317453),
 * chapter 14 (general configuration). Context: boot for the probe, the
 * service loop for everything else; one caller at a time.
 */
#include <tern/acpi.h>
#include <tern/arch.h>
#include <tern/e1000_ring.h>
#include <tern/log.h>
#include <tern/mm.h>
#include <tern/nic.h>
#include <tern/nic_probe.h>
#include <tern/panic.h>
#include <tern/pci.h>
#include <tern/pmm.h>
#include <stdio.h>
#include <string.h>
#include "e1000_regs.h"

#define E1000_RX_DESCS 256
#define E1000_TX_DESCS 256
#define E1000_BUF_SIZE 2048 /* RCTL.BSIZE 2048; also holds any TX frame */
#define E1000_BAR0_MIN (128u << 10)
/* Tern's page tables map at least [0, 4 GiB) uncached outside RAM. */
#define MAPPED_LIMIT (4ULL << 30)

#define RESET_TIMEOUT_NS 10000000ULL     /* reset completes in microseconds */
#define EEPROM_TIMEOUT_NS 10000000ULL
#define LINK_TIMEOUT_NS 1000000000ULL    /* auto-negotiation */
#define MAX_CANDIDATES 4

struct e1000 {
	struct nic nic;
	volatile u8 *regs;
	struct e1000_ring rx, tx;
	u64 rx_desc_pa, tx_desc_pa;
};

struct nic *the_nic;
static struct e1000 e1000_dev;

/* ---- registers: uncached MMIO, 32-bit accesses only ---- */

static u32 reg_read(struct e1000 *e, u32 reg)
{
	e1000_barrier();
	u32 v = *(volatile u32 *)(e->regs + reg);
	e1000_barrier();
	return v;
}

static void reg_write(struct e1000 *e, u32 reg, u32 v)
{
	e1000_barrier();
	*(volatile u32 *)(e->regs + reg) = v;
	e1000_barrier();
}

/* Wait until (reg & mask) == want; false on timeout. */
static bool reg_wait(struct e1000 *e, u32 reg, u32 mask, u32 want, u64 timeout_ns)
{
	u64 end = arch_time_ns() + timeout_ns;
	for (;;) {
		if ((reg_read(e, reg) & mask) == want)
			return true;
		if (arch_time_ns() > end)
			return false;
		arch_cpu_relax();
	}
}

/* ---- bring-up ---- */

static bool e1000_reset(struct e1000 *e)
{
	reg_write(e, E1000_IMC, ~0u);
	reg_write(e, E1000_CTRL, reg_read(e, E1000_CTRL) | E1000_CTRL_RST);
	/* 13.4.1: the bit clears itself; give the device a moment first. */
	u64 settle = arch_time_ns() + 1000;
	while (arch_time_ns() < settle)
		arch_cpu_relax();
	if (!reg_wait(e, E1000_CTRL, E1000_CTRL_RST, 0, RESET_TIMEOUT_NS))
		return false;
	/* Reset restores the interrupt mask; Tern polls, so mask all again. */
	reg_write(e, E1000_IMC, ~0u);
	(void)reg_read(e, E1000_ICR);
	return true;
}

static int eeprom_read(struct e1000 *e, u8 word, u16 *out)
{
	reg_write(e, E1000_EERD, E1000_EERD_START | (u32)word << E1000_EERD_ADDR_SHIFT);
	if (!reg_wait(e, E1000_EERD, E1000_EERD_DONE, E1000_EERD_DONE, EEPROM_TIMEOUT_NS))
		return -1;
	*out = (u16)(reg_read(e, E1000_EERD) >> E1000_EERD_DATA_SHIFT);
	return 0;
}

static bool mac_valid(const u8 *m)
{
	static const u8 zero[6];
	return memcmp(m, zero, 6) && !(m[0] & 1); /* not zero, not multicast */
}

/* RAL0/RAH0 hold the address once the device has loaded its EEPROM (after
 * reset, 5.6.1); read the EEPROM words 0-2 ourselves only if they do not. */
static int e1000_read_mac(struct e1000 *e, const char **why)
{
	u8 *m = e->nic.mac;
	u32 ral = reg_read(e, E1000_RAL0), rah = reg_read(e, E1000_RAH0);

	for (int i = 0; i < 4; i++)
		m[i] = (u8)(ral >> (8 * i));
	m[4] = (u8)rah;
	m[5] = (u8)(rah >> 8);
	if (mac_valid(m))
		return 0;
	for (u8 w = 0; w < 3; w++) {
		u16 v;
		if (eeprom_read(e, w, &v)) {
			*why = "no MAC in RAL0 and the EEPROM does not answer";
			return -1;
		}
		m[2 * w] = (u8)v;
		m[2 * w + 1] = (u8)(v >> 8);
	}
	if (!mac_valid(m)) {
		*why = "no valid MAC address in RAL0 or the EEPROM";
		return -1;
	}
	reg_write(e, E1000_RAL0, (u32)m[0] | (u32)m[1] << 8 | (u32)m[2] << 16 | (u32)m[3] << 24);
	reg_write(e, E1000_RAH0, (u32)m[4] | (u32)m[5] << 8 | E1000_RAH_AV);
	return 0;
}

/* RX and TX descriptors are both 16 bytes (tern/e1000_ring.h asserts it). */
#define DESC_BYTES sizeof(struct e1000_rx_desc)

/* One descriptor page and one block of buffers per ring. */
static int ring_alloc(struct e1000_ring *r, struct pmm *pmm, u32 size, u64 *desc_pa)
{
	u64 desc_bytes = (u64)size * DESC_BYTES;
	u64 buf_bytes = (u64)size * E1000_BUF_SIZE;

	*desc_pa = pmm_alloc(pmm, ALIGN_UP(desc_bytes, PAGE_SIZE) / PAGE_SIZE, PAGE_SIZE);
	if (!*desc_pa)
		return -1;
	r->buf_phys = pmm_alloc(pmm, ALIGN_UP(buf_bytes, PAGE_SIZE) / PAGE_SIZE, PAGE_SIZE);
	if (!r->buf_phys) {
		pmm_free(pmm, *desc_pa, ALIGN_UP(desc_bytes, PAGE_SIZE) / PAGE_SIZE);
		return -1;
	}
	r->desc = phys_to_virt(*desc_pa);
	r->buf_virt = phys_to_virt(r->buf_phys);
	r->buf_size = E1000_BUF_SIZE;
	r->size = size;
	r->next = r->clean = 0;
	HV_ASSERT(e1000_ring_valid(r));
	return 0;
}

static void ring_free(struct e1000_ring *r, struct pmm *pmm, u64 desc_pa)
{
	if (!r->desc)
		return;
	pmm_free(pmm, desc_pa, ALIGN_UP((u64)r->size * DESC_BYTES, PAGE_SIZE) / PAGE_SIZE);
	pmm_free(pmm, r->buf_phys, ALIGN_UP((u64)r->size * E1000_BUF_SIZE, PAGE_SIZE) / PAGE_SIZE);
	memset(r, 0, sizeof(*r));
}

/* 14.4: receive ring, then RCTL with EN last. */
static void e1000_rx_setup(struct e1000 *e)
{
	u32 tail = e1000_rx_init(&e->rx);
	reg_write(e, E1000_RCTL, 0);
	for (u32 i = 0; i < E1000_MTA_WORDS; i++)
		reg_write(e, E1000_MTA + 4 * i, 0);
	reg_write(e, E1000_RDBAL, (u32)e->rx_desc_pa);
	reg_write(e, E1000_RDBAH, (u32)(e->rx_desc_pa >> 32));
	reg_write(e, E1000_RDLEN, e->rx.size * (u32)sizeof(struct e1000_rx_desc));
	reg_write(e, E1000_RDH, 0);
	reg_write(e, E1000_RDT, tail);
	reg_write(e, E1000_RDTR, 0);
	reg_write(e, E1000_RADV, 0);
	/* No checksum offload: the stack checks, and IPE/TCPE never appear. */
	reg_write(e, E1000_RXCSUM, 0);
	reg_write(e, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM | E1000_RCTL_SECRC |
				 E1000_RCTL_BSIZE_2048);
}

/* 14.5: transmit ring, TIPG, then TCTL. */
static void e1000_tx_setup(struct e1000 *e)
{
	e1000_tx_init(&e->tx);
	reg_write(e, E1000_TCTL, 0);
	reg_write(e, E1000_TDBAL, (u32)e->tx_desc_pa);
	reg_write(e, E1000_TDBAH, (u32)(e->tx_desc_pa >> 32));
	reg_write(e, E1000_TDLEN, e->tx.size * (u32)sizeof(struct e1000_tx_desc));
	reg_write(e, E1000_TDH, 0);
	reg_write(e, E1000_TDT, 0);
	reg_write(e, E1000_TIDV, 0);
	reg_write(e, E1000_TIPG, E1000_TIPG_COPPER);
	reg_write(e, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP |
				 E1000_TCTL_CT_DEFAULT << E1000_TCTL_CT_SHIFT |
				 E1000_TCTL_COLD_FD << E1000_TCTL_COLD_SHIFT);
}

/* ---- struct nic_ops ---- */

static int e1000_send_batch(struct nic *nic, const struct nic_frame *frames, int n)
{
	struct e1000 *e = nic->priv;
	if (n <= 0)
		return 0;
	u32 old = e->tx.next;
	int taken = e1000_tx_queue(&e->tx, frames, n, &nic->stats);
	if (e->tx.next != old)
		reg_write(e, E1000_TDT, e->tx.next); /* one doorbell per batch */
	return taken;
}

static int e1000_poll(struct nic *nic, int budget)
{
	struct e1000 *e = nic->priv;
	bool moved;
	if (budget <= 0)
		return 0;
	int n = e1000_rx_poll(&e->rx, nic, budget, &moved);
	if (moved)
		reg_write(e, E1000_RDT, e1000_rx_tail(&e->rx));
	return n;
}

static bool e1000_link_up(struct nic *nic)
{
	struct e1000 *e = nic->priv;
	return reg_read(e, E1000_STATUS) & E1000_STATUS_LU;
}

static const struct nic_ops e1000_ops = {
	.send_batch = e1000_send_batch,
	.poll = e1000_poll,
	.link_up = e1000_link_up,
};

/* ---- probe ---- */

static bool e1000_supported(u16 vendor, u16 device)
{
	static const u16 ids[] = {
		0x100e, /* 82540EM desktop: QEMU "e1000", Bochs */
		0x1015, /* 82540EM LOM */
		0x100f, /* 82545EM copper: QEMU "e1000-82545em" */
		0x1026, /* 82545GM copper */
	};
	if (vendor != 0x8086)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++)
		if (ids[i] == device)
			return true;
	return false;
}

/* Map BAR0 and turn the device on; a reason on failure. */
static int e1000_attach(struct e1000 *e, const struct pci_cfg *cfg, const struct pci_dev *d,
			struct pmm *pmm, const char **why)
{
	struct pci_bar bar;

	if (pci_bar_probe(cfg, d, 0, &bar) ||
	    (bar.kind != PCI_BAR_MEM32 && bar.kind != PCI_BAR_MEM64)) {
		*why = "BAR0 is not a memory BAR";
		return -1;
	}
	if (!bar.base) {
		*why = "BAR0 was not assigned by the firmware";
		return -1;
	}
	if (bar.size < E1000_BAR0_MIN || bar.base + bar.size > MAPPED_LIMIT ||
	    bar.base + bar.size < bar.base) {
		*why = "BAR0 is too small or lies above the mapped 4 GiB";
		return -1;
	}
	hv_printf("tern: %s: %04x:%04x, BAR0 %#lx (%lu KiB)\n", e->nic.name, d->vendor,
		  d->device, bar.base, bar.size >> 10);
	pci_enable(cfg, d, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
	e->regs = phys_to_virt(bar.base);

	if (!e1000_reset(e)) {
		*why = "the device did not come out of reset";
		return -1;
	}
	u32 ctrl = reg_read(e, E1000_CTRL);
	ctrl &= ~(E1000_CTRL_LRST | E1000_CTRL_PHY_RST | E1000_CTRL_VME | E1000_CTRL_ILOS);
	reg_write(e, E1000_CTRL, ctrl | E1000_CTRL_SLU | E1000_CTRL_ASDE);
	/* No flow control: the pause-frame registers must be zero (14.3). */
	reg_write(e, E1000_FCAL, 0);
	reg_write(e, E1000_FCAH, 0);
	reg_write(e, E1000_FCT, 0);
	reg_write(e, E1000_FCTTV, 0);
	if (e1000_read_mac(e, why))
		return -1;
	if (ring_alloc(&e->rx, pmm, E1000_RX_DESCS, &e->rx_desc_pa) ||
	    ring_alloc(&e->tx, pmm, E1000_TX_DESCS, &e->tx_desc_pa)) {
		*why = "out of memory for the rings";
		return -1;
	}
	e1000_rx_setup(e);
	e1000_tx_setup(e);
	return 0;
}

/* Quiet a device we gave up on so it cannot DMA into freed pages. */
static void e1000_detach(struct e1000 *e, const struct pci_cfg *cfg, const struct pci_dev *d,
			 struct pmm *pmm)
{
	if (e->regs) {
		reg_write(e, E1000_RCTL, 0);
		reg_write(e, E1000_TCTL, 0);
		e1000_reset(e);
		pci_disable(cfg, d, PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY);
	}
	ring_free(&e->rx, pmm, e->rx_desc_pa);
	ring_free(&e->tx, pmm, e->tx_desc_pa);
	memset(e, 0, sizeof(*e));
}

struct probe_scan {
	struct pci_dev found[MAX_CANDIDATES];
	int nr_found, nr_functions;
};

static int probe_visit(const struct pci_dev *d, void *ctx)
{
	struct probe_scan *s = ctx;
	s->nr_functions++;
	if (e1000_supported(d->vendor, d->device) && s->nr_found < MAX_CANDIDATES)
		s->found[s->nr_found++] = *d;
	return 0;
}

static void pci_setup(struct pci_cfg *cfg, u64 acpi_rsdp, char *how, size_t len)
{
	const char *why;
	const void *mcfg = acpi_rsdp ? acpi_find_table(acpi_rsdp, "MCFG") : NULL;

	if (!pci_cfg_ecam(cfg, mcfg, MAPPED_LIMIT, &why)) {
		snprintf(how, len, "ECAM at %#lx, buses %u-%u", cfg->ecam_base,
			 cfg->bus_start, cfg->bus_end);
		return;
	}
	pci_cfg_legacy(cfg);
	snprintf(how, len, "legacy ports (%s)", why);
}

int nic_probe(struct pmm *pmm, u64 acpi_rsdp)
{
	static struct pci_cfg cfg;
	struct probe_scan scan = { 0 };
	char how[96];

	the_nic = NULL;
	pci_setup(&cfg, acpi_rsdp, how, sizeof(how));
	pci_scan(&cfg, probe_visit, &scan);
	hv_printf("tern: pci: %d functions, config space through %s\n", scan.nr_functions, how);

	for (int i = 0; i < scan.nr_found; i++) {
		const struct pci_dev *d = &scan.found[i];
		struct e1000 *e = &e1000_dev;
		const char *why = "";

		memset(e, 0, sizeof(*e));
		snprintf(e->nic.name, sizeof(e->nic.name), "e1000 %02x:%02x.%x", d->bus, d->dev,
			 d->fn);
		if (e1000_attach(e, &cfg, d, pmm, &why)) {
			hv_printf("tern: %s: %s; not used\n", e->nic.name, why);
			e1000_detach(e, &cfg, d, pmm);
			continue;
		}
		e->nic.ops = &e1000_ops;
		e->nic.priv = e;
		/* Auto-negotiation takes a moment; a cable may also come later. */
		bool up = reg_wait(e, E1000_STATUS, E1000_STATUS_LU, E1000_STATUS_LU,
				   LINK_TIMEOUT_NS);
		const u8 *m = e->nic.mac;
		hv_printf("tern: %s MAC %02x:%02x:%02x:%02x:%02x:%02x, link %s\n", e->nic.name,
			  m[0], m[1], m[2], m[3], m[4], m[5], up ? "up" : "down");
		the_nic = &e->nic;
		return 0;
	}
	hv_printf("tern: no supported NIC found\n");
	return -1;
}
