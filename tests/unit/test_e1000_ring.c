/*
 * drivers/e1000_ring.c against a fake 8254x. The fake plays the device side
 * of SDM 317453 3.2/3.3: it owns TX descriptors from TDH up to TDT, sends
 * each (recording the bytes at the descriptor's address) and sets DD; it
 * fills RX descriptors from RDH while RDH != RDT and drops frames when the
 * ring is full, as the hardware does. "Physical" addresses are a fake
 * window translated back to the test's buffers, so a wrong address is
 * caught. Hostile write-backs (zero, runt and oversize lengths, missing EOP,
 * error bits, scribbled addresses, DD set again behind the driver's back)
 * must cost frames, never memory safety; ASan watches the buffers.
 */
#include "unit.h"
#include <tern/e1000_ring.h>

#define BUF 2048u
#define FAKE_PHYS 0x40000000ULL
#define MAX_FRAMES 4096

struct fake {
	struct e1000_ring tx, rx;
	struct e1000_tx_desc *txd;
	struct e1000_rx_desc *rxd;
	u32 tdh, tdt, rdh, rdt;      /* the device's registers */
	u32 rx_missed;               /* frames the full ring made it drop */
	u8 tx_status;                /* status bits set with DD on send */
	/* what went out on the wire */
	u32 nsent;
	u8 sent[MAX_FRAMES][BUF];
	u32 sent_len[MAX_FRAMES];
	/* what the stack got */
	u32 nrx;
	u8 got[MAX_FRAMES][BUF];
	u32 got_len[MAX_FRAMES];
	struct nic nic;
};

static struct fake *f;

static void ring_setup(struct e1000_ring *r, void *desc, u32 size, u64 phys)
{
	memset(r, 0, sizeof(*r));
	r->desc = desc;
	r->size = size;
	r->buf_size = BUF;
	r->buf_virt = malloc((size_t)size * BUF);
	r->buf_phys = phys;
	CHECK(r->buf_virt);
}

static void on_rx(struct nic *nic, const void *frame, u32 len, void *ctx);

static void setup(u32 size)
{
	if (f) {
		free(f->tx.buf_virt);
		free(f->rx.buf_virt);
		free(f->txd);
		free(f->rxd);
		free(f);
	}
	f = calloc(1, sizeof(*f));
	CHECK(f);
	f->txd = calloc(size, sizeof(*f->txd));
	f->rxd = calloc(size, sizeof(*f->rxd));
	ring_setup(&f->tx, f->txd, size, FAKE_PHYS);
	ring_setup(&f->rx, f->rxd, size, FAKE_PHYS + 0x10000000ULL);
	CHECK(e1000_ring_valid(&f->tx) && e1000_ring_valid(&f->rx));
	e1000_tx_init(&f->tx);
	f->tdh = f->tdt = 0;
	f->rdh = 0;
	f->rdt = e1000_rx_init(&f->rx);
	f->nic.rx = on_rx;
	f->nic.rx_ctx = f;
}

/* Device side: the buffer a descriptor points at, checked like an IOMMU would. */
static u8 *dev_map(const struct e1000_ring *r, u64 addr, u32 len)
{
	CHECK(addr >= r->buf_phys);
	u64 off = addr - r->buf_phys;
	CHECK(off % BUF == 0);
	CHECK(off / BUF < r->size);
	CHECK(len <= BUF);
	return r->buf_virt + off;
}

/* Send up to max frames from TDH towards TDT. */
static u32 dev_tx_run(u32 max)
{
	u32 n = 0;
	while (f->tdh != f->tdt && n < max) {
		struct e1000_tx_desc *d = &f->txd[f->tdh];
		CHECK_EQ(d->cmd, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS);
		CHECK(f->nsent < MAX_FRAMES);
		memcpy(f->sent[f->nsent], dev_map(&f->tx, d->addr, d->length), d->length);
		f->sent_len[f->nsent++] = d->length;
		d->status = E1000_TXD_STAT_DD | f->tx_status;
		f->tdh = e1000_ring_next(f->tdh, f->tx.size);
		n++;
	}
	return n;
}

/* Write one descriptor back as a (possibly lying) device; false if the ring is full. */
static bool dev_rx_raw(const void *data, u32 copy, u16 len, u8 status, u8 errors)
{
	if (f->rdh == f->rdt) {
		f->rx_missed++;
		return false;
	}
	struct e1000_rx_desc *d = &f->rxd[f->rdh];
	CHECK_EQ(d->status, 0); /* the driver handed it over clean */
	memcpy(dev_map(&f->rx, d->addr, copy), data, copy);
	d->length = len;
	d->errors = errors;
	d->status = status;
	f->rdh = e1000_ring_next(f->rdh, f->rx.size);
	return true;
}

static bool dev_rx(const void *data, u32 len)
{
	return dev_rx_raw(data, len, (u16)len, E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP, 0);
}

/* Driver side, as drivers/e1000.c does it: one tail write per call. */
static int drv_send(const struct nic_frame *fr, int n)
{
	int taken = e1000_tx_queue(&f->tx, fr, n, &f->nic.stats);
	f->tdt = f->tx.next;
	return taken;
}

static int drv_poll(int budget)
{
	bool moved;
	int n = e1000_rx_poll(&f->rx, &f->nic, budget, &moved);
	if (moved)
		f->rdt = e1000_rx_tail(&f->rx);
	return n;
}

static void on_rx(struct nic *nic, const void *frame, u32 len, void *ctx)
{
	CHECK(ctx == f && nic == &f->nic);
	/* The frame lies inside exactly one RX buffer. */
	const u8 *p = frame, *base = f->rx.buf_virt;
	CHECK(p >= base && (u64)(p - base) % BUF == 0);
	CHECK((u64)(p - base) / BUF < f->rx.size);
	CHECK(len >= E1000_FRAME_MIN && len <= E1000_RX_FRAME_MAX && len <= BUF);
	CHECK(f->nrx < MAX_FRAMES);
	memcpy(f->got[f->nrx], frame, len);
	f->got_len[f->nrx++] = len;
}

/* A frame whose bytes say which one it is. */
static u32 make_frame(u8 *buf, u32 seq, u32 len)
{
	for (u32 i = 0; i < len; i++)
		buf[i] = (u8)(seq * 7 + i);
	memcpy(buf, &seq, sizeof(seq));
	return len;
}

static void check_frame(const u8 *buf, u32 len, u32 seq, u32 want_len)
{
	u8 tmp[BUF];
	CHECK_EQ(len, want_len);
	make_frame(tmp, seq, want_len);
	CHECK(!memcmp(buf, tmp, len));
}

static u32 len_for(u32 seq)
{
	return 60 + (seq * 97) % (1518 - 60 + 1); /* 60..1518 */
}

TEST(index_arithmetic)
{
	CHECK_EQ(e1000_ring_next(0, 8), 1);
	CHECK_EQ(e1000_ring_next(7, 8), 0);
	CHECK_EQ(e1000_ring_dist(2, 5, 8), 3);
	CHECK_EQ(e1000_ring_dist(6, 1, 8), 3);
	CHECK_EQ(e1000_ring_dist(4, 4, 8), 0);
}

TEST(geometry_checked)
{
	setup(8);
	struct e1000_ring r = f->tx;
	CHECK(e1000_ring_valid(&r));
	r.size = 12;
	CHECK(!e1000_ring_valid(&r));
	r.size = 0;
	CHECK(!e1000_ring_valid(&r));
	r = f->tx;
	r.next = 8;
	CHECK(!e1000_ring_valid(&r));
	r = f->tx;
	r.desc = NULL;
	CHECK(!e1000_ring_valid(&r));
}

TEST(rx_init_hands_all_but_one)
{
	setup(256);
	CHECK_EQ(f->rdt, 255);
	for (u32 i = 0; i < 256; i++) {
		CHECK_EQ(f->rxd[i].addr, f->rx.buf_phys + (u64)i * BUF);
		CHECK_EQ(f->rxd[i].status, 0);
	}
}

TEST(tx_one_frame)
{
	setup(256);
	u8 buf[BUF];
	struct nic_frame fr = { buf, make_frame(buf, 1, 60) };
	CHECK_EQ(drv_send(&fr, 1), 1);
	CHECK_EQ(f->tdt, 1);
	CHECK_EQ(e1000_tx_free(&f->tx), 254);
	CHECK_EQ(dev_tx_run(100), 1);
	check_frame(f->sent[0], f->sent_len[0], 1, 60);
	CHECK_EQ(e1000_tx_reclaim(&f->tx, &f->nic.stats), 1);
	CHECK_EQ(e1000_tx_free(&f->tx), 255);
	CHECK_EQ(f->nic.stats.tx_frames, 1);
	CHECK_EQ(f->nic.stats.tx_bytes, 60);
}

TEST(tx_all_lengths_in_order)
{
	setup(256);
	u8 buf[BUF];
	for (u32 len = 14; len <= 1518; len++) {
		struct nic_frame fr = { buf, make_frame(buf, len, len) };
		CHECK_EQ(drv_send(&fr, 1), 1);
		dev_tx_run(1);
	}
	CHECK_EQ(f->nsent, 1518 - 14 + 1);
	for (u32 i = 0; i < f->nsent; i++)
		check_frame(f->sent[i], f->sent_len[i], 14 + i, 14 + i);
	CHECK_EQ(f->nic.stats.tx_dropped, 0);
}

TEST(tx_ring_full_then_drains)
{
	setup(8);
	u8 buf[16][BUF];
	struct nic_frame fr[16];
	for (u32 i = 0; i < 16; i++)
		fr[i] = (struct nic_frame){ buf[i], make_frame(buf[i], i, len_for(i)) };
	CHECK_EQ(drv_send(fr, 16), 7); /* one slot always stays empty */
	CHECK_EQ(e1000_tx_free(&f->tx), 0);
	CHECK_EQ(drv_send(fr + 7, 9), 0);
	CHECK_EQ(dev_tx_run(3), 3);
	CHECK_EQ(drv_send(fr + 7, 9), 3); /* reclaimed three on the way in */
	dev_tx_run(100);
	CHECK_EQ(drv_send(fr + 10, 6), 6);
	dev_tx_run(100);
	CHECK_EQ(f->nsent, 16);
	for (u32 i = 0; i < 16; i++)
		check_frame(f->sent[i], f->sent_len[i], i, len_for(i));
}

TEST(tx_wraps_many_times)
{
	setup(8);
	u8 buf[5][BUF];
	u32 seq = 0;
	while (seq < 2000) {
		struct nic_frame fr[5];
		for (u32 i = 0; i < 5; i++)
			fr[i] = (struct nic_frame){ buf[i], make_frame(buf[i], seq + i, len_for(seq + i)) };
		int n = drv_send(fr, 5);
		seq += (u32)n;
		dev_tx_run(3);
		if (seq > MAX_FRAMES - 8)
			break;
	}
	dev_tx_run(100);
	CHECK_EQ(f->nsent, seq);
	for (u32 i = 0; i < seq; i++)
		check_frame(f->sent[i], f->sent_len[i], i, len_for(i));
}

TEST(tx_bad_frames_consumed_and_counted)
{
	setup(8);
	u8 buf[2048] = { 0 };
	struct nic_frame fr[] = {
		{ buf, 0 }, { buf, 13 }, { buf, 1519 }, { NULL, 60 }, { buf, 2048 },
		{ buf, make_frame(buf, 9, 100) },
	};
	CHECK_EQ(drv_send(fr, 6), 6);
	CHECK_EQ(f->nic.stats.tx_dropped, 5);
	CHECK_EQ(f->nic.stats.tx_frames, 1);
	CHECK_EQ(dev_tx_run(100), 1);
	check_frame(f->sent[0], f->sent_len[0], 9, 100);
}

TEST(tx_errors_counted)
{
	setup(8);
	u8 buf[BUF];
	struct nic_frame fr[2] = { { buf, 60 }, { buf, 60 } };
	f->tx_status = E1000_TXD_STAT_EC;
	drv_send(fr, 2);
	dev_tx_run(100);
	e1000_tx_reclaim(&f->tx, &f->nic.stats);
	CHECK_EQ(f->nic.stats.tx_errors, 2);
	CHECK_EQ(e1000_tx_free(&f->tx), 7);
}

TEST(tx_reclaim_waits_for_dd)
{
	setup(8);
	u8 buf[BUF];
	struct nic_frame fr[3] = { { buf, 60 }, { buf, 60 }, { buf, 60 } };
	drv_send(fr, 3);
	CHECK_EQ(e1000_tx_reclaim(&f->tx, &f->nic.stats), 0);
	/* A DD beyond the first undone descriptor does not let reclaim skip ahead. */
	f->txd[1].status = E1000_TXD_STAT_DD;
	CHECK_EQ(e1000_tx_reclaim(&f->tx, &f->nic.stats), 0);
	dev_tx_run(1);
	CHECK_EQ(e1000_tx_reclaim(&f->tx, &f->nic.stats), 2);
	CHECK_EQ(e1000_tx_free(&f->tx), 6);
}

TEST(rx_frames_in_order_all_sizes)
{
	setup(256);
	u8 buf[BUF];
	u32 seq = 0;
	for (u32 len = 60; len <= 1518; len++) {
		CHECK(dev_rx(buf, make_frame(buf, seq++, len)));
		if (len % 50 == 0)
			drv_poll(64);
	}
	while (drv_poll(64))
		;
	CHECK_EQ(f->nrx, seq);
	for (u32 i = 0; i < seq; i++)
		check_frame(f->got[i], f->got_len[i], i, 60 + i);
	CHECK_EQ(f->nic.stats.rx_frames, seq);
	CHECK_EQ(f->nic.stats.rx_errors, 0);
	CHECK_EQ(f->rx_missed, 0);
}

TEST(rx_budget_respected)
{
	setup(16);
	u8 buf[BUF];
	for (u32 i = 0; i < 10; i++)
		dev_rx(buf, make_frame(buf, i, 64));
	CHECK_EQ(drv_poll(3), 3);
	CHECK_EQ(f->rdt, 2);
	CHECK_EQ(drv_poll(0), 0);
	CHECK_EQ(drv_poll(100), 7);
	CHECK_EQ(drv_poll(100), 0);
	for (u32 i = 0; i < 10; i++)
		check_frame(f->got[i], f->got_len[i], i, 64);
}

TEST(rx_ring_full_device_drops)
{
	setup(8);
	u8 buf[BUF];
	u32 seq = 0, delivered_by_dev = 0;
	for (u32 i = 0; i < 12; i++)
		delivered_by_dev += dev_rx(buf, make_frame(buf, seq++, 100));
	CHECK_EQ(delivered_by_dev, 7); /* size - 1: the held-back descriptor */
	CHECK_EQ(f->rx_missed, 5);
	CHECK_EQ(drv_poll(100), 7);
	CHECK(dev_rx(buf, make_frame(buf, 99, 100)));
	CHECK_EQ(drv_poll(100), 1);
	check_frame(f->got[7], f->got_len[7], 99, 100);
}

TEST(rx_wraps_many_times)
{
	setup(8);
	u8 buf[BUF];
	u32 sent = 0;
	for (u32 round = 0; round < 600; round++) {
		for (u32 k = 0; k < round % 9; k++) {
			u32 seq = f->nrx + (f->rdh >= f->rx.next ? f->rdh - f->rx.next
								 : f->rx.size - f->rx.next + f->rdh);
			if (dev_rx(buf, make_frame(buf, seq, len_for(seq))))
				sent++;
		}
		drv_poll((int)(round % 5) + 1);
	}
	while (drv_poll(8))
		;
	CHECK_EQ(f->nrx, sent);
	for (u32 i = 0; i < sent; i++)
		check_frame(f->got[i], f->got_len[i], i, len_for(i));
}

TEST(rx_error_bits_drop)
{
	setup(16);
	u8 buf[BUF];
	make_frame(buf, 1, 100);
	u8 dd_eop = E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP;
	dev_rx_raw(buf, 100, 100, dd_eop, 0x01); /* CE */
	dev_rx_raw(buf, 100, 100, dd_eop, 0x80); /* RXE */
	dev_rx_raw(buf, 100, 100, dd_eop, 0x60); /* TCPE|IPE: checksums, not the frame */
	CHECK_EQ(drv_poll(10), 1);
	CHECK_EQ(f->nic.stats.rx_errors, 2);
	check_frame(f->got[0], f->got_len[0], 1, 100);
}

TEST(rx_hostile_lengths_never_overrun)
{
	setup(16);
	u8 buf[BUF];
	make_frame(buf, 3, BUF);
	u8 dd_eop = E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP;
	u16 lens[] = { 0, 1, 13, 1523, 2048, 2049, 4096, 65535 };
	for (u32 i = 0; i < ARRAY_SIZE(lens); i++)
		dev_rx_raw(buf, BUF, lens[i], dd_eop, 0);
	dev_rx_raw(buf, 1522, 1522, dd_eop, 0); /* largest legal: VLAN-tagged 1518 */
	CHECK_EQ(drv_poll(100), 1);
	CHECK_EQ(f->got_len[0], 1522);
	CHECK_EQ(f->nic.stats.rx_errors, ARRAY_SIZE(lens));
	/* Every descriptor went back clean and pointing at its own buffer. */
	for (u32 i = 0; i < 16; i++)
		CHECK_EQ(f->rxd[i].addr, f->rx.buf_phys + (u64)i * BUF);
}

TEST(rx_frame_without_eop_dropped_whole)
{
	setup(16);
	u8 buf[BUF];
	make_frame(buf, 5, 200);
	dev_rx_raw(buf, 200, 200, E1000_RXD_STAT_DD, 0);
	dev_rx_raw(buf, 200, 200, E1000_RXD_STAT_DD, 0);
	dev_rx_raw(buf, 200, 200, E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP, 0);
	dev_rx(buf, 200);
	CHECK_EQ(drv_poll(10), 1);
	CHECK_EQ(f->nic.stats.rx_errors, 1);
	check_frame(f->got[0], f->got_len[0], 5, 200);
	CHECK(!f->rx.discarding);
}

TEST(rx_without_receiver_counts_dropped)
{
	setup(8);
	u8 buf[BUF];
	f->nic.rx = NULL;
	for (u32 i = 0; i < 5; i++)
		dev_rx(buf, 64);
	CHECK_EQ(drv_poll(10), 0);
	CHECK_EQ(f->nic.stats.rx_dropped, 5);
	CHECK_EQ(f->rdt, 4);
	CHECK_EQ(f->rx.next, 5);
}

TEST(rx_scribbled_address_restored)
{
	setup(8);
	u8 buf[BUF];
	dev_rx(buf, make_frame(buf, 1, 64));
	f->rxd[0].addr = 0xdeadbeef000ULL; /* the device rewrote it: ignored */
	CHECK_EQ(drv_poll(10), 1);
	check_frame(f->got[0], f->got_len[0], 1, 64);
	CHECK_EQ(f->rxd[0].addr, f->rx.buf_phys);
}

/* A device that keeps setting DD (here: from inside the callback) cannot keep poll busy. */
static void rearm_all(struct nic *nic, const void *frame, u32 len, void *ctx)
{
	for (u32 i = 0; i < f->rx.size; i++) {
		f->rxd[i].length = 64;
		f->rxd[i].status = E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP;
	}
	f->nrx++;
}

TEST(rx_poll_bounded_by_one_lap)
{
	setup(8);
	u8 buf[BUF];
	dev_rx(buf, 64);
	f->nic.rx = rearm_all;
	CHECK_EQ(drv_poll(1000000), 8);
	CHECK_EQ(f->rx.next, 0);
}

/* Random interleaving of both directions on a small ring: nothing lost, reordered or bent. */
TEST(random_interleaving)
{
	setup(16);
	u8 buf[8][BUF];
	u32 tx_seq = 0, rx_seq = 0, rx_ok = 0;
	u32 lens[MAX_FRAMES];
	srand(1234);
	for (int step = 0; step < 20000 && tx_seq < MAX_FRAMES - 16 && rx_seq < MAX_FRAMES - 16; step++) {
		switch (rand() % 4) {
		case 0: {
			int n = rand() % 8 + 1;
			struct nic_frame fr[8];
			for (int i = 0; i < n; i++)
				fr[i] = (struct nic_frame){ buf[i],
							    make_frame(buf[i], tx_seq + (u32)i, len_for(tx_seq + (u32)i)) };
			tx_seq += (u32)drv_send(fr, n);
			break;
		}
		case 1:
			dev_tx_run((u32)rand() % 6);
			break;
		case 2: {
			u32 len = 60 + (u32)rand() % (1518 - 60 + 1);
			u8 tmp[BUF];
			if (dev_rx(tmp, make_frame(tmp, rx_ok, len)))
				lens[rx_ok++] = len;
			rx_seq++;
			break;
		}
		case 3:
			drv_poll(rand() % 6);
			break;
		}
	}
	dev_tx_run(1000);
	while (drv_poll(16))
		;
	CHECK_EQ(f->nsent, tx_seq);
	for (u32 i = 0; i < tx_seq; i++)
		check_frame(f->sent[i], f->sent_len[i], i, len_for(i));
	CHECK_EQ(f->nrx, rx_ok);
	for (u32 i = 0; i < rx_ok; i++)
		check_frame(f->got[i], f->got_len[i], i, lens[i]);
	CHECK_EQ(rx_ok + f->rx_missed, rx_seq);
}
