/*
 * Fuzz target: the e1000 register path (drivers/e1000.c: probe, reset,
 * MAC, ring set-up, link, RX/TX doorbells) against a fake 8254x whose
 * registers say whatever the input says. The driver is compiled into this
 * file with its MMIO barrier redirected to the fake, which sees each write
 * the driver made since the last barrier (write-only registers hold a
 * sentinel, so every write shows) and answers with the device's side.
 *
 * The input, read from the front (zeros once used up): the PCI functions
 * found (ids, BAR0 base and size, which ring allocations fail), then, as
 * time passes, the device's register values (reset that never ends, a MAC
 * that is zero or multicast, an EEPROM that never answers, link flapping),
 * then operations on the NIC: RX write-backs and polls, TX batches, link
 * queries.
 * Invariants: no panic, no access outside the register window or the
 * rings (ASan); a probe that fails leaves no NIC, no ring memory allocated
 * and every device it touched with RX and TX off and bus mastering
 * disabled; a NIC that comes up has a unicast, non-zero MAC; ring base and
 * length registers name the memory Tern allocated, written before EN; RDT
 * and TDT always index inside the ring; every frame handed to the stack
 * lies inside the RX buffers.
 */
#include <tern/e1000_ring.h>
#include <sys/mman.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"

static void dev_barrier(void);
#undef e1000_barrier
#define e1000_barrier() dev_barrier()
#include "../../drivers/e1000.c"

#define WIN_BASE 0x60000000UL /* below the 4 GiB Tern maps, as a real BAR */
#define WIN_SIZE (128u << 10)
#define SENTINEL 0x5a5a5a5au
#define MAX_ALLOCS 8
#define MAX_FUNCS 5

/* ---- the input ---- */
static const u8 *in;
static size_t in_len, in_pos;

static u8 get8(void)
{
	return in_pos < in_len ? in[in_pos++] : 0;
}

static u32 get32(void)
{
	u32 v = 0;
	for (int i = 0; i < 4; i++)
		v |= (u32)get8() << (8 * i);
	return v;
}

/* ---- fake memory (pmm) ---- */
static struct alloc {
	u8 *p;
	u64 pages;
} allocs[MAX_ALLOCS];
static u8 fail_mask; /* bit i: the i-th allocation fails */
static int nr_allocs_tried;

u64 pmm_alloc(struct pmm *pmm, u64 n, u64 align)
{
	CHECK(n > 0 && align == PAGE_SIZE);
	if (fail_mask >> (nr_allocs_tried++ & 7) & 1)
		return 0;
	for (int i = 0; i < MAX_ALLOCS; i++) {
		if (allocs[i].p)
			continue;
		allocs[i].p = aligned_alloc(PAGE_SIZE, n * PAGE_SIZE);
		CHECK(allocs[i].p);
		memset(allocs[i].p, 0xa5, PAGE_SIZE); /* pages come dirty */
		allocs[i].pages = n;
		return (u64)allocs[i].p;
	}
	return 0;
}

void pmm_free(struct pmm *pmm, u64 pa, u64 n)
{
	for (int i = 0; i < MAX_ALLOCS; i++) {
		if ((u64)allocs[i].p == pa) {
			CHECK(allocs[i].pages == n); /* freed with the size it had */
			free(allocs[i].p);
			allocs[i].p = NULL;
			return;
		}
	}
	CHECK(!"pmm_free of memory that was not allocated");
}

static int live_allocs(void)
{
	int n = 0;
	for (int i = 0; i < MAX_ALLOCS; i++)
		n += allocs[i].p != NULL;
	return n;
}

/* Does [pa, pa + len) lie inside one live allocation? */
static bool in_alloc(u64 pa, u64 len)
{
	for (int i = 0; i < MAX_ALLOCS; i++) {
		u64 b = (u64)allocs[i].p;
		if (allocs[i].p && pa >= b && len <= allocs[i].pages * PAGE_SIZE - (pa - b))
			return true;
	}
	return false;
}

/* ---- the fake device: a register window and its state ---- */
static volatile u32 *win;
static u32 shadow[WIN_SIZE / 4];

/* One ring as the device sees it: base (BAL, BAH), length, tail, control. */
struct dev_ring {
	u64 base;
	u32 len;
	bool base_set[2], len_set;
	u32 ctl; /* RCTL or TCTL, last written */
	bool ctl_written;
};

static struct {
	int reset_left;   /* time steps until CTRL.RST clears; < 0: never */
	int eerd_left;    /* time steps until EERD.DONE; < 0: never */
	u16 eeprom[3];
	struct dev_ring rx, tx;
	u64 now;
} dev;

/* What the driver only writes: shown as the sentinel so each write differs. */
static const u32 write_only[] = {
	E1000_IMC, E1000_RCTL, E1000_TCTL, E1000_RDBAL, E1000_RDBAH, E1000_RDLEN, E1000_RDH,
	E1000_RDT, E1000_TDBAL, E1000_TDBAH, E1000_TDLEN, E1000_TDH, E1000_TDT,
};

static u32 reg(u32 off)
{
	return win[off / 4];
}

static void set_reg(u32 off, u32 v)
{
	win[off / 4] = v;
	shadow[off / 4] = v;
}

/* A write to a ring's registers; rel is the offset from its BAL (the RX and
 * TX blocks have the same layout). */
static void ring_write(struct dev_ring *r, u32 rel, u32 v)
{
	switch (rel) {
	case E1000_RDBAL - E1000_RDBAL:
		r->base = (r->base & ~0xffffffffULL) | v;
		r->base_set[0] = true;
		break;
	case E1000_RDBAH - E1000_RDBAL:
		r->base = (r->base & 0xffffffffULL) | (u64)v << 32;
		r->base_set[1] = true;
		break;
	case E1000_RDLEN - E1000_RDBAL:
		r->len = v;
		r->len_set = true;
		break;
	case E1000_RDT - E1000_RDBAL:
		CHECK(r->len_set && r->len && (u64)v * 16 < r->len);
		break;
	}
}

/* RCTL/TCTL: with EN, base and length came first (14.4, 14.5) and name
 * memory Tern allocated. */
static void ring_control(struct dev_ring *r, u32 v, bool enable)
{
	r->ctl = v;
	r->ctl_written = true;
	if (!enable)
		return;
	CHECK(r->base_set[0] && r->base_set[1] && r->len_set);
	CHECK(r->len && r->len % 128 == 0 && in_alloc(r->base, r->len));
}

static void on_write(u32 off, u32 v)
{
	if (off >= E1000_RDBAL && off <= E1000_RDT) {
		ring_write(&dev.rx, off - E1000_RDBAL, v);
		return;
	}
	if (off >= E1000_TDBAL && off <= E1000_TDT) {
		ring_write(&dev.tx, off - E1000_TDBAL, v);
		return;
	}
	switch (off) {
	case E1000_CTRL:
		if (v & E1000_CTRL_RST) {
			u8 k = get8();
			dev.reset_left = k == 0xff ? -1 : k % 4;
			/* Reset reloads RAL0/RAH0 from the EEPROM: whatever it holds. */
			set_reg(E1000_RAL0, get32());
			set_reg(E1000_RAH0, get32());
			if (!dev.reset_left)
				set_reg(E1000_CTRL, v & ~E1000_CTRL_RST);
		}
		break;
	case E1000_EERD:
		if (v & E1000_EERD_START) {
			u8 k = get8();
			dev.eerd_left = k == 0xff ? -1 : k % 3;
			set_reg(E1000_EERD, v & ~E1000_EERD_DONE);
		}
		break;
	case E1000_RCTL:
		ring_control(&dev.rx, v, v & E1000_RCTL_EN);
		break;
	case E1000_TCTL:
		ring_control(&dev.tx, v, v & E1000_TCTL_EN);
		break;
	}
}

/* Every MMIO access is bracketed by barriers: the writes since the last one
 * show as registers that differ from what the device last put there. */
static void dev_barrier(void)
{
	static const u32 readable[] = { E1000_CTRL, E1000_EERD, E1000_RAL0, E1000_RAH0 };
	for (size_t i = 0; i < ARRAY_SIZE(readable); i++) {
		u32 off = readable[i], v = reg(off);
		if (v != shadow[off / 4]) {
			shadow[off / 4] = v;
			on_write(off, v);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(write_only); i++) {
		u32 off = write_only[i], v = reg(off);
		if (v != SENTINEL) {
			on_write(off, v);
			set_reg(off, SENTINEL);
		}
	}
}

/* Time passes for the device too: reset and EEPROM reads finish, the link
 * and the interrupt cause change as the input says. */
u64 arch_time_ns(void)
{
	dev.now += 1000000; /* 1 ms a look: the driver's waits end within ~1000 looks */
	if (dev.reset_left > 0 && !--dev.reset_left)
		set_reg(E1000_CTRL, reg(E1000_CTRL) & ~E1000_CTRL_RST);
	if (dev.eerd_left > 0 && !--dev.eerd_left) {
		u32 e = reg(E1000_EERD), w = (e >> E1000_EERD_ADDR_SHIFT) & 0xff;
		u16 data = w < 3 ? dev.eeprom[w] : (u16)get32();
		set_reg(E1000_EERD, (e & 0xff00) | E1000_EERD_DONE | (u32)data << E1000_EERD_DATA_SHIFT);
	}
	u8 what = get8();
	if (what & 1)
		set_reg(E1000_STATUS, get32());
	if (what & 2)
		set_reg(E1000_ICR, get32());
	return dev.now;
}

void arch_cpu_relax(void)
{
}

/* ---- fake PCI: the functions and BARs the input describes ---- */
static struct {
	int n;
	struct pci_dev d[MAX_FUNCS];
	struct pci_bar bar[MAX_FUNCS];
	u16 command[MAX_FUNCS];
	bool touched[MAX_FUNCS]; /* BAR0 mapped: the driver talked to it */
} pci;

static int func_index(const struct pci_dev *d)
{
	for (int i = 0; i < pci.n; i++)
		if (pci.d[i].dev == d->dev)
			return i;
	CHECK(!"unknown PCI function");
	return -1;
}

const void *acpi_find_table(u64 rsdp_phys, const char sig[4]) { return NULL; }
int pci_cfg_ecam(struct pci_cfg *c, const void *mcfg, u64 lim, const char **why)
{
	*why = "no MCFG";
	return -1;
}
void pci_cfg_legacy(struct pci_cfg *c) { memset(c, 0, sizeof(*c)); }

int pci_scan(const struct pci_cfg *c, int (*visit)(const struct pci_dev *d, void *ctx), void *ctx)
{
	for (int i = 0; i < pci.n; i++) {
		int r = visit(&pci.d[i], ctx);
		if (r)
			return r;
	}
	return 0;
}

int pci_bar_probe(const struct pci_cfg *c, const struct pci_dev *d, int index, struct pci_bar *bar)
{
	CHECK(index == 0);
	*bar = pci.bar[func_index(d)];
	return bar->kind == PCI_BAR_NONE ? -1 : 0;
}

void pci_enable(const struct pci_cfg *c, const struct pci_dev *d, u16 bits)
{
	int i = func_index(d);
	pci.command[i] |= bits;
	if (bits & PCI_COMMAND_MEMORY) {
		CHECK(pci.bar[i].base == WIN_BASE); /* only a BAR the driver accepted */
		pci.touched[i] = true;
	}
}

void pci_disable(const struct pci_cfg *c, const struct pci_dev *d, u16 bits)
{
	pci.command[func_index(d)] &= (u16)~bits;
}

/* ---- logging ---- */
void hv_printf(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
}

void hv_panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	CHECK(!"hv_panic: a device must never panic Tern");
	abort();
}

/* ---- the stack's side ---- */
static u64 frames_seen;

static void on_rx(struct nic *nic, const void *frame, u32 len, void *ctx)
{
	struct e1000 *e = nic->priv;
	u64 p = (u64)frame, base = (u64)e->rx.buf_virt;
	CHECK(len >= E1000_FRAME_MIN && len <= E1000_BUF_SIZE);
	CHECK(p >= base && p + len <= base + (u64)e->rx.size * e->rx.buf_size);
	CHECK((p - base) % e->rx.buf_size == 0);
	volatile u8 sum = 0;
	for (u32 i = 0; i < len; i++) /* the stack reads it all (ASan) */
		sum += ((const u8 *)frame)[i];
	(void)sum;
	frames_seen++;
}

/* ---- one input ---- */
static void setup_pci(void)
{
	static const u16 ids[] = { 0x100e, 0x1015, 0x100f, 0x1026, 0x10d3 };
	u8 b = get8();
	pci.n = b % (MAX_FUNCS + 1);
	fail_mask = get8();
	for (int i = 0; i < pci.n; i++) {
		u8 k = get8();
		struct pci_dev *d = &pci.d[i];
		memset(d, 0, sizeof(*d));
		d->dev = (u8)i;
		d->vendor = k & 0x80 ? 0x10ec : 0x8086;
		d->device = ids[k % ARRAY_SIZE(ids)];
		struct pci_bar *bar = &pci.bar[i];
		u8 how = get8();
		bar->kind = (enum pci_bar_kind)(how & 3);
		switch ((how >> 2) & 7) {
		case 0: bar->base = 0; bar->size = WIN_SIZE; break;         /* unassigned */
		case 1: bar->base = WIN_BASE; bar->size = 64u << 10; break; /* too small */
		case 2: bar->base = 0xfffe0000ULL; bar->size = 1ULL << 20; break; /* past 4 GiB */
		case 3: bar->base = 0x100000000ULL; bar->size = WIN_SIZE; break;
		case 4: bar->base = ~0ULL - 0xffff; bar->size = WIN_SIZE; break; /* wraps */
		default: bar->base = WIN_BASE; bar->size = (u64)WIN_SIZE << (how >> 6); break;
		}
	}
}

static void reset_device(void)
{
	memset(&dev, 0, sizeof(dev));
	for (u32 i = 0; i < WIN_SIZE / 4; i++)
		win[i] = shadow[i] = 0;
	for (size_t i = 0; i < ARRAY_SIZE(write_only); i++)
		set_reg(write_only[i], SENTINEL);
	for (int i = 0; i < 3; i++)
		dev.eeprom[i] = (u16)get32();
}

static void rx_writeback(struct e1000 *e)
{
	u8 n = get8() % 8;
	for (u8 k = 0; k < n; k++) {
		struct e1000_rx_desc *d = (struct e1000_rx_desc *)e->rx.desc + get8() % e->rx.size;
		d->length = (u16)get32();
		d->errors = get8();
		d->status = get8();
	}
}

static void tx_batch(struct e1000 *e)
{
	static u8 payload[E1000_BUF_SIZE + 64];
	struct nic_frame f[8];
	u8 n = get8() % 8;
	for (u8 k = 0; k < n; k++)
		f[k] = (struct nic_frame){ .data = payload, .len = get32() % sizeof(payload) };
	/* The device may complete anything, also what it was never given. */
	u8 dd = get8() % 8;
	for (u8 k = 0; k < dd; k++)
		((struct e1000_tx_desc *)e->tx.desc)[get8() % e->tx.size].status = get8();
	int taken = e1000_ops.send_batch(&e->nic, f, n);
	CHECK(taken >= 0 && taken <= n);
}

static void run_nic(void)
{
	struct nic *nic = the_nic;
	struct e1000 *e = nic->priv;
	CHECK(nic->ops == &e1000_ops && e == &e1000_dev);
	CHECK(mac_valid(nic->mac));
	CHECK(dev.rx.ctl & E1000_RCTL_EN && dev.tx.ctl & E1000_TCTL_EN);
	nic->rx = on_rx;
	for (int ops = 0; ops < 64 && in_pos < in_len; ops++) {
		u64 before = nic->stats.rx_frames;
		switch (get8() % 4) {
		case 0:
			rx_writeback(e);
			CHECK(nic->ops->poll(nic, get8() % 64) >= 0);
			CHECK(nic->stats.rx_frames - before == frames_seen);
			frames_seen = 0;
			break;
		case 1:
			tx_batch(e);
			break;
		case 2:
			(void)nic->ops->link_up(nic);
			break;
		case 3:
			(void)arch_time_ns();
			break;
		}
		CHECK(e1000_ring_valid(&e->rx) && e1000_ring_valid(&e->tx));
	}
}

static void release_all(void)
{
	for (int i = 0; i < MAX_ALLOCS; i++) {
		free(allocs[i].p);
		allocs[i].p = NULL;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	in = data;
	in_len = size;
	in_pos = 0;
	nr_allocs_tried = 0;
	frames_seen = 0;
	memset(&pci, 0, sizeof(pci));
	setup_pci();
	reset_device();
	static struct pmm pmm;
	int rc = nic_probe(&pmm, 0);
	if (rc) {
		CHECK(the_nic == NULL);
		CHECK(live_allocs() == 0); /* nothing leaked by the attempts */
		for (int i = 0; i < pci.n; i++) {
			if (!pci.touched[i])
				continue;
			/* Given up on: quiet, so it cannot DMA into freed pages. */
			CHECK(dev.rx.ctl_written && !(dev.rx.ctl & E1000_RCTL_EN));
			CHECK(dev.tx.ctl_written && !(dev.tx.ctl & E1000_TCTL_EN));
			CHECK(!(pci.command[i] & PCI_COMMAND_MASTER));
		}
	} else {
		CHECK(the_nic != NULL);
		CHECK(live_allocs() == 4); /* two rings: descriptors and buffers each */
		run_nic();
	}
	release_all();
	the_nic = NULL;
	return 0;
}

/* ---- seeds ---- */
static u8 seed[256];
static size_t slen;

static void put8(u8 v) { if (slen < sizeof(seed)) seed[slen++] = v; }
static void put32(u32 v) { for (int i = 0; i < 4; i++) put8((u8)(v >> (8 * i))); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	win = mmap((void *)WIN_BASE, WIN_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	CHECK(win == (volatile u32 *)WIN_BASE);
	if (!seed_dir())
		return 0;
	/* One 82540EM that comes up: reset done at once, MAC 52:54:00:12:34:56
	 * in RAL0/RAH0, link up; then a poll, a TX batch and a link query. */
	slen = 0;
	put8(1); put8(0); put8(0); put8(5 << 2 | PCI_BAR_MEM32);
	put32(0x1234); put32(0x5678); put32(0x9abc); /* EEPROM words */
	put8(0); put32(0x12005452); put32(0x80005634); /* reset: at once; RAL0, RAH0 */
	put8(1); put32(E1000_STATUS_LU | E1000_STATUS_FD); /* the settle look: link up */
	for (int i = 0; i < 8; i++)
		put8(0);
	put8(0); put8(2); put8(0); put32(64); put8(0); put8(E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP);
	put8(8);
	put8(1); put8(2); put32(60); put32(1514); put8(1); put8(0); put8(E1000_TXD_STAT_DD);
	put8(2);
	seed_add(seed, slen);
	/* The MAC only in the EEPROM, read through EERD after a slow reset. */
	slen = 0;
	put8(1); put8(0); put8(0); put8(5 << 2 | PCI_BAR_MEM64);
	put32(0x5452); put32(0x1200); put32(0x5634);
	put8(2); put32(0); put32(0);
	for (int i = 0; i < 4; i++)
		put8(0);
	put8(0); put8(0); put8(0);
	put8(1); put32(E1000_STATUS_LU);
	seed_add(seed, slen);
	/* Two functions: the first's BAR is unassigned, the second never leaves reset. */
	slen = 0;
	put8(2); put8(0); put8(1); put8(0 << 2 | PCI_BAR_MEM32); put8(2); put8(6 << 2 | PCI_BAR_MEM32);
	put32(0); put32(0); put32(0);
	put8(0xff); put32(0x12005452); put32(0x80005634);
	seed_add(seed, slen);
	/* Memory runs out for the TX descriptors: the RX ring must be given back. */
	slen = 0;
	put8(1); put8(0x04); put8(0); put8(5 << 2 | PCI_BAR_MEM32);
	put32(0); put32(0); put32(0);
	put8(0); put32(0x12005452); put32(0x80005634);
	seed_add(seed, slen);
	exit(0);
}
