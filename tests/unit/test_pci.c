/*
 * drivers/pci.c over a fake configuration space. The fake models what the
 * scan and BAR sizing rely on (PCI Local Bus 3.0, 6.1-6.2.5): absent
 * functions read all ones, BARs keep only their address bits and hardwire
 * their type bits, a 64-bit BAR spans two dwords, the status half of the
 * command dword clears on one, and a single-function device may answer on
 * every function number (the scan must trust the header's multifunction
 * bit). It also checks that decoding is off whenever a BAR holds all ones.
 * The MCFG parser gets well-formed and malformed tables.
 */
#include "unit.h"
#include <tern/pci.h>

struct fake_fn {
	bool present;
	u8 bus, dev, fn;
	u32 cfg[64];      /* dword registers */
	u32 bar_mask[6];  /* address bits the BAR keeps; 0 = not implemented */
	u32 bar_ro[6];    /* hardwired low bits */
	u16 status;       /* RW1C bits kept apart from cfg[1] */
};

#define NFN 16
static struct fake_fn fns[NFN];
static int nfns;
static int sizing_violations, writes;

static struct fake_fn *find(u8 bus, u8 dev, u8 fn)
{
	for (int i = 0; i < nfns; i++)
		if (fns[i].present && fns[i].bus == bus && fns[i].dev == dev && fns[i].fn == fn)
			return &fns[i];
	return NULL;
}

static u32 fake_read32(const struct pci_cfg *c, u8 bus, u8 dev, u8 fn, u16 off)
{
	CHECK(c->ctx == fns);
	CHECK(off % 4 == 0 && off < 256);
	struct fake_fn *f = find(bus, dev, fn);
	if (!f)
		return ~0u;
	if (off == PCI_COMMAND)
		return (f->cfg[1] & 0xffff) | (u32)f->status << 16;
	return f->cfg[off / 4];
}

static void fake_write32(const struct pci_cfg *c, u8 bus, u8 dev, u8 fn, u16 off, u32 v)
{
	CHECK(off % 4 == 0 && off < 256);
	struct fake_fn *f = find(bus, dev, fn);
	writes++;
	if (!f)
		return;
	if (off == PCI_COMMAND) {
		f->cfg[1] = v & 0xffff;
		f->status &= (u16)~(v >> 16);
		return;
	}
	if (off >= PCI_BAR0 && off < PCI_BAR0 + 24) {
		int i = (off - PCI_BAR0) / 4;
		if (v == ~0u && f->bar_mask[i] && (f->cfg[1] & (PCI_COMMAND_IO | PCI_COMMAND_MEMORY)))
			sizing_violations++;
		f->cfg[off / 4] = (v & f->bar_mask[i]) | f->bar_ro[i];
		return;
	}
	f->cfg[off / 4] = v;
}

static struct pci_cfg fake_cfg = { fake_read32, fake_write32, 0, 0, 255, fns };

static struct fake_fn *add_fn(u8 bus, u8 dev, u8 fn, u16 vendor, u16 device, u8 hdr)
{
	CHECK(nfns < NFN);
	struct fake_fn *f = &fns[nfns++];
	memset(f, 0, sizeof(*f));
	f->present = true;
	f->bus = bus;
	f->dev = dev;
	f->fn = fn;
	f->cfg[0] = vendor | (u32)device << 16;
	f->cfg[2] = 0x02000001; /* class 02 (network), revision 1 */
	f->cfg[3] = (u32)hdr << 16;
	f->status = 0x0010;
	return f;
}

/* A BAR of size bytes at base; flags are the hardwired low bits. */
static void add_bar(struct fake_fn *f, int i, u64 base, u64 size, u32 flags)
{
	bool is64 = !(flags & 1) && (flags & 6) == PCI_BAR_MEM_TYPE_64;
	u64 mask = ~(size - 1);
	f->bar_ro[i] = flags;
	f->bar_mask[i] = (u32)mask & ((flags & 1) ? ~3u : ~0xfu);
	f->cfg[4 + i] = ((u32)base & f->bar_mask[i]) | flags;
	if (is64) {
		f->bar_mask[i + 1] = (u32)(mask >> 32);
		f->cfg[5 + i] = (u32)(base >> 32);
	}
}

static void reset_fake(void)
{
	memset(fns, 0, sizeof(fns));
	nfns = 0;
	sizing_violations = 0;
	writes = 0;
}

/* A small machine: host bridge, an e1000, a multifunction chipset device,
 * a single-function device that answers on all function numbers, a bridge,
 * and devices on buses behind it. */
static void build_machine(void)
{
	reset_fake();
	add_fn(0, 0, 0, 0x8086, 0x1237, 0);
	struct fake_fn *nic = add_fn(0, 3, 0, 0x8086, 0x100e, 0);
	add_bar(nic, 0, 0xfebc0000, 128 << 10, 0);
	add_bar(nic, 1, 0xc000, 64, 1);
	nic->bar_mask[1] &= 0xffff; /* decodes 16 I/O address bits only */
	nic->cfg[5] &= 0xffff;
	nic->cfg[1] = PCI_COMMAND_IO | PCI_COMMAND_MEMORY;
	add_fn(0, 0x1f, 0, 0x8086, 0x2918, PCI_HEADER_MULTIFUNCTION);
	add_fn(0, 0x1f, 2, 0x8086, 0x2922, 0);
	add_fn(0, 0x1f, 3, 0x8086, 0x2930, 0);
	add_fn(0, 5, 0, 0x1234, 0x1111, 0);
	add_fn(0, 5, 1, 0x1234, 0x1111, 0); /* ghost: fn 0 says single-function */
	add_fn(0, 6, 0, 0x8086, 0x244e, 1); /* PCI-to-PCI bridge */
	struct fake_fn *big = add_fn(2, 0, 0, 0x1af4, 0x1041, 0);
	add_bar(big, 2, 0x800000000ULL, 16 << 20, PCI_BAR_MEM_TYPE_64 | PCI_BAR_MEM_PREFETCH);
	add_fn(255, 31, 0, 0x10ec, 0x8139, PCI_HEADER_MULTIFUNCTION);
	add_fn(255, 31, 7, 0x10ec, 0x8139, 0);
}

struct seen {
	int n;
	struct pci_dev d[NFN];
	int stop_at;
};

static int record(const struct pci_dev *d, void *ctx)
{
	struct seen *s = ctx;
	CHECK(s->n < NFN);
	s->d[s->n++] = *d;
	return s->n == s->stop_at ? 42 : 0;
}

static void check_bdf(const struct pci_dev *d, u8 bus, u8 dev, u8 fn, u16 device)
{
	CHECK_EQ(d->bus, bus);
	CHECK_EQ(d->dev, dev);
	CHECK_EQ(d->fn, fn);
	CHECK_EQ(d->device, device);
}

TEST(bar_decode)
{
	struct pci_bar b;
	pci_bar_decode(0xc001, 0, &b);
	CHECK_EQ(b.kind, PCI_BAR_IO);
	CHECK_EQ(b.base, 0xc000);
	pci_bar_decode(0xfebc0000, 0x12345678, &b);
	CHECK_EQ(b.kind, PCI_BAR_MEM32);
	CHECK_EQ(b.base, 0xfebc0000);
	CHECK(!b.prefetchable);
	pci_bar_decode(0xe000000c, 0x8, &b);
	CHECK_EQ(b.kind, PCI_BAR_MEM64);
	CHECK(b.prefetchable);
	CHECK_EQ(b.base, 0x8e0000000ULL);
	pci_bar_decode(0x000d0002, 0, &b); /* below-1M type */
	CHECK_EQ(b.kind, PCI_BAR_MEM32);
	CHECK_EQ(b.base, 0xd0000);
	pci_bar_decode(0x00000006, 0, &b); /* reserved type */
	CHECK_EQ(b.kind, PCI_BAR_NONE);
}

TEST(bar_size_arithmetic)
{
	CHECK_EQ(pci_bar_size(PCI_BAR_MEM32, 0xfffe0000, 0), 128 << 10);
	CHECK_EQ(pci_bar_size(PCI_BAR_MEM32, 0xfffe0008, 0), 128 << 10); /* flag bits ignored */
	CHECK_EQ(pci_bar_size(PCI_BAR_MEM32, 0x80000000, 0), 0x80000000ULL);
	CHECK_EQ(pci_bar_size(PCI_BAR_MEM32, 0xfffffff0, 0), 16);
	CHECK_EQ(pci_bar_size(PCI_BAR_MEM32, 0, 0), 0);
	CHECK_EQ(pci_bar_size(PCI_BAR_IO, 0xffffffc1, 0), 64);
	CHECK_EQ(pci_bar_size(PCI_BAR_IO, 0x0000ffc1, 0), 64); /* 16-bit decoder */
	CHECK_EQ(pci_bar_size(PCI_BAR_IO, 0x00000001, 0), 0);
	CHECK_EQ(pci_bar_size(PCI_BAR_MEM64, 0xff00000c, 0xffffffff), 16 << 20);
	CHECK_EQ(pci_bar_size(PCI_BAR_MEM64, 0x0000000c, 0xffffffff), 1ULL << 32);
	CHECK_EQ(pci_bar_size(PCI_BAR_MEM64, 0x0000000c, 0xfffffff0), 1ULL << 36);
	CHECK_EQ(pci_bar_size(PCI_BAR_MEM64, 0x0000000c, 0), 0);
	CHECK_EQ(pci_bar_size(PCI_BAR_NONE, 0xffffffff, 0xffffffff), 0);
}

TEST(scan_finds_every_function_once)
{
	build_machine();
	struct seen s = { 0 };
	CHECK_EQ(pci_scan(&fake_cfg, record, &s), 0);
	CHECK_EQ(s.n, 10);
	check_bdf(&s.d[0], 0, 0, 0, 0x1237);
	check_bdf(&s.d[1], 0, 3, 0, 0x100e);
	check_bdf(&s.d[2], 0, 5, 0, 0x1111);
	check_bdf(&s.d[3], 0, 6, 0, 0x244e);
	check_bdf(&s.d[4], 0, 0x1f, 0, 0x2918);
	check_bdf(&s.d[5], 0, 0x1f, 2, 0x2922);
	check_bdf(&s.d[6], 0, 0x1f, 3, 0x2930);
	check_bdf(&s.d[7], 2, 0, 0, 0x1041);
	check_bdf(&s.d[8], 255, 31, 0, 0x8139);
	check_bdf(&s.d[9], 255, 31, 7, 0x8139);
	CHECK_EQ(s.d[1].vendor, 0x8086);
	CHECK_EQ(s.d[1].class_code, 0x02);
	CHECK_EQ(s.d[1].revision, 1);
	CHECK_EQ(s.d[3].header_type, 1);
	CHECK_EQ(s.d[4].header_type, 0); /* multifunction bit stripped */
	CHECK_EQ(writes, 0);             /* scanning only reads */
}

TEST(scan_stops_when_asked)
{
	build_machine();
	struct seen s = { .stop_at = 2 };
	CHECK_EQ(pci_scan(&fake_cfg, record, &s), 42);
	CHECK_EQ(s.n, 2);
}

TEST(scan_empty_bus)
{
	reset_fake();
	struct seen s = { 0 };
	CHECK_EQ(pci_scan(&fake_cfg, record, &s), 0);
	CHECK_EQ(s.n, 0);
}

TEST(bar_probe_mem32_and_io)
{
	build_machine();
	struct pci_dev d = { .bus = 0, .dev = 3, .fn = 0 };
	struct fake_fn *f = find(0, 3, 0);
	struct pci_bar b;
	CHECK_EQ(pci_bar_probe(&fake_cfg, &d, 0, &b), 0);
	CHECK_EQ(b.kind, PCI_BAR_MEM32);
	CHECK_EQ(b.base, 0xfebc0000);
	CHECK_EQ(b.size, 128 << 10);
	CHECK_EQ(pci_bar_probe(&fake_cfg, &d, 1, &b), 0);
	CHECK_EQ(b.kind, PCI_BAR_IO);
	CHECK_EQ(b.base, 0xc000);
	CHECK_EQ(b.size, 64);
	CHECK_EQ(pci_bar_probe(&fake_cfg, &d, 2, &b), 0); /* not implemented */
	CHECK_EQ(b.kind, PCI_BAR_NONE);
	CHECK_EQ(b.size, 0);
	/* Everything restored, decoding was off while sizing, status untouched. */
	CHECK_EQ(f->cfg[4], 0xfebc0000);
	CHECK_EQ(f->cfg[5], 0xc001);
	CHECK_EQ(f->cfg[1], PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	CHECK_EQ(f->status, 0x0010);
	CHECK_EQ(sizing_violations, 0);
}

TEST(bar_probe_mem64_above_4g)
{
	build_machine();
	struct pci_dev d = { .bus = 2, .dev = 0, .fn = 0, .header_type = 0 };
	struct fake_fn *f = find(2, 0, 0);
	struct pci_bar b;
	CHECK_EQ(pci_bar_probe(&fake_cfg, &d, 2, &b), 0);
	CHECK_EQ(b.kind, PCI_BAR_MEM64);
	CHECK(b.prefetchable);
	CHECK_EQ(b.base, 0x800000000ULL);
	CHECK_EQ(b.size, 16 << 20);
	CHECK_EQ(f->cfg[6], 0x0000000c);
	CHECK_EQ(f->cfg[7], 0x8);
	CHECK_EQ(sizing_violations, 0);
}

TEST(bar_probe_rejects_bad_index)
{
	build_machine();
	struct pci_dev d = { .bus = 2, .dev = 0, .fn = 0, .header_type = 0 };
	struct pci_bar b;
	CHECK_EQ(pci_bar_probe(&fake_cfg, &d, 6, &b), -1);
	CHECK_EQ(pci_bar_probe(&fake_cfg, &d, -1, &b), -1);
	/* A 64-bit BAR in the last slot has no upper half. */
	struct fake_fn *f = find(2, 0, 0);
	f->bar_ro[5] = PCI_BAR_MEM_TYPE_64;
	f->bar_mask[5] = 0xfff00000;
	f->cfg[9] = 0xfe000000 | PCI_BAR_MEM_TYPE_64;
	CHECK_EQ(pci_bar_probe(&fake_cfg, &d, 5, &b), -1);
	CHECK_EQ(b.kind, PCI_BAR_NONE);
	/* A bridge has two BARs; other header types none. */
	struct pci_dev br = { .bus = 0, .dev = 6, .fn = 0, .header_type = 1 };
	CHECK_EQ(pci_bar_probe(&fake_cfg, &br, 1, &b), 0);
	CHECK_EQ(pci_bar_probe(&fake_cfg, &br, 2, &b), -1);
	struct pci_dev cb = { .bus = 0, .dev = 6, .fn = 0, .header_type = 2 };
	CHECK_EQ(pci_bar_probe(&fake_cfg, &cb, 0, &b), -1);
}

TEST(command_bits_set_and_cleared_status_kept)
{
	build_machine();
	struct pci_dev d = { .bus = 0, .dev = 3, .fn = 0 };
	struct fake_fn *f = find(0, 3, 0);
	f->status = 0xf900; /* error bits a write of ones would clear */
	pci_enable(&fake_cfg, &d, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	CHECK_EQ(f->cfg[1], PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	CHECK_EQ(f->status, 0xf900);
	CHECK_EQ(pci_read16(&fake_cfg, &d, PCI_COMMAND), f->cfg[1]);
	CHECK_EQ(pci_read16(&fake_cfg, &d, PCI_DEVICE_ID), 0x100e);
	pci_disable(&fake_cfg, &d, PCI_COMMAND_MASTER | PCI_COMMAND_IO);
	CHECK_EQ(f->cfg[1], PCI_COMMAND_MEMORY);
	CHECK_EQ(f->status, 0xf900);
}

/* An MCFG table with the given entries {base, segment, start, end}. */
static u32 make_mcfg(u8 *t, const u64 (*e)[4], int n)
{
	u32 len = 44 + 16 * (u32)n;
	memset(t, 0, len);
	memcpy(t, "MCFG", 4);
	memcpy(t + 4, &len, 4);
	for (int i = 0; i < n; i++) {
		u8 *p = t + 44 + 16 * i;
		u16 seg = (u16)e[i][1];
		memcpy(p, &e[i][0], 8);
		memcpy(p + 8, &seg, 2);
		p[10] = (u8)e[i][2];
		p[11] = (u8)e[i][3];
	}
	return len;
}

TEST(mcfg_segment0)
{
	u8 t[128];
	u64 base;
	u8 s, e;
	const u64 two[2][4] = { { 0xe0000000, 1, 0, 255 }, { 0xb0000000, 0, 0, 255 } };
	make_mcfg(t, two, 2);
	CHECK_EQ(pci_mcfg_segment0(t, &base, &s, &e), 0);
	CHECK_EQ(base, 0xb0000000);
	CHECK_EQ(s, 0);
	CHECK_EQ(e, 255);

	make_mcfg(t, two, 1); /* only segment 1 */
	CHECK_EQ(pci_mcfg_segment0(t, &base, &s, &e), -1);
	const u64 odd[1][4] = { { 0xb0080000, 0, 0, 255 } };
	make_mcfg(t, odd, 1);
	CHECK_EQ(pci_mcfg_segment0(t, &base, &s, &e), -1);
	const u64 rev[1][4] = { { 0xb0000000, 0, 9, 3 } };
	make_mcfg(t, rev, 1);
	CHECK_EQ(pci_mcfg_segment0(t, &base, &s, &e), -1);
	/* A length that cuts the entry short: the entry is not read. */
	u32 len = make_mcfg(t, two + 1, 1) - 1;
	memcpy(t + 4, &len, 4);
	CHECK_EQ(pci_mcfg_segment0(t, &base, &s, &e), -1);
	memcpy(t, "APIC", 4);
	CHECK_EQ(pci_mcfg_segment0(t, &base, &s, &e), -1);
	CHECK_EQ(pci_mcfg_segment0(NULL, &base, &s, &e), -1);
}

TEST(ecam_only_below_mapped_limit)
{
	u8 t[128];
	struct pci_cfg c;
	const char *why = NULL;
	const u64 q35[1][4] = { { 0xb0000000, 0, 0, 255 } };
	make_mcfg(t, q35, 1);
	CHECK_EQ(pci_cfg_ecam(&c, t, 4ULL << 30, &why), 0);
	CHECK_EQ(c.ecam_base, 0xb0000000);
	CHECK_EQ(c.bus_end, 255);
	CHECK(c.read32 && c.write32);
	/* The window's last bus would end at 0xc0000000: a limit below fails. */
	CHECK_EQ(pci_cfg_ecam(&c, t, 0xbff00000ULL, &why), -1);
	CHECK(why && strstr(why, "above"));
	const u64 high[1][4] = { { 0x4000000000ULL, 0, 0, 63 } };
	make_mcfg(t, high, 1);
	CHECK_EQ(pci_cfg_ecam(&c, t, 4ULL << 30, &why), -1);
	CHECK_EQ(pci_cfg_ecam(&c, NULL, 4ULL << 30, &why), -1);
	CHECK(strstr(why, "no ACPI MCFG"));
	pci_cfg_legacy(&c);
	CHECK(c.read32 && c.write32 && c.ecam_base == 0);
}
