/*
 * Fuzz target: the e1000 descriptor rings (drivers/e1000_ring.c) against a
 * device that lies. The input picks the ring geometry (8..64 descriptors,
 * buffers of 14..4096 bytes, allocated exactly) and is then a list of
 * operations: the device writes back RX descriptors with arbitrary length,
 * status and error bits (honestly at RDH, or anywhere, DD behind the
 * driver's back, scribbled addresses, a re-arm of the whole ring from
 * inside the receive callback); the driver polls with arbitrary budgets;
 * TX frames of arbitrary lengths are queued, sent, completed with error
 * bits, or "completed" by a DD the device never should have set.
 * Invariants (the contract in tern/e1000_ring.h): RX poll does exactly
 * what a reference model of that contract predicts from the descriptors
 * as they were before the poll (which descriptors it consumes, which
 * frames it delivers, to which buffer, with which length, every consumed
 * descriptor counted once as a frame, an error, a drop or a continuation),
 * hands each consumed descriptor back clean and pointing at its own
 * buffer, touches no other; frames handed on lie within one buffer; RDT
 * is one behind next; TX never gives the device a descriptor that points
 * outside its buffer or a length outside [14, min(1518, buf_size)], sends
 * frames in order and intact (unless the device faked DD), and accounts
 * every frame it is given as queued or dropped.
 */
#include <tern/e1000_ring.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"

#define RX_PHYS 0x40000000ULL
#define TX_PHYS 0x80000000ULL
#define MAX_RING 64
#define FIFO 1024

/* The input, read from the front; zeros once it is used up. */
static const u8 *in;
static size_t in_len, in_pos;

static u8 get8(void)
{
	return in_pos < in_len ? in[in_pos++] : 0;
}

static u16 get16(void)
{
	u16 lo = get8();
	return (u16)(lo | get8() << 8);
}

static struct {
	struct e1000_ring rx, tx;
	struct e1000_rx_desc *rxd;
	struct e1000_tx_desc *txd;
	u32 rdh, rdt, tdh, tdt;
	struct nic nic;
	bool rearm;                   /* the next callback re-arms the ring */
	bool model_disc;              /* the model's "inside a spread frame" */
	bool tx_faked;                /* a TX DD was set behind the driver's back */
	u32 seq;
	/* Frames the RX callback got during one poll: slot and length. */
	u32 got, got_slot[MAX_RING], got_len[MAX_RING];
	/* TX frames queued and not yet sent, in order: length and first word. */
	u32 txq_len[FIFO], txq_tag[FIFO], txq_head, txq_count;
} f;

static volatile u32 sink; /* reads the consumer makes, for ASan */

static void ring_alloc(struct e1000_ring *r, void *desc, u32 size, u32 buf_size, u64 phys)
{
	memset(r, 0, sizeof(*r));
	r->desc = desc;
	r->size = size;
	r->buf_size = buf_size;
	r->buf_virt = malloc((size_t)size * buf_size);
	r->buf_phys = phys;
	CHECK(e1000_ring_valid(r));
}

static void on_rx(struct nic *nic, const void *frame, u32 len, void *ctx)
{
	const u8 *p = frame, *base = f.rx.buf_virt;
	CHECK(ctx == &f && nic == &f.nic);
	CHECK(p >= base && (u64)(p - base) % f.rx.buf_size == 0);
	u32 slot = (u32)((u64)(p - base) / f.rx.buf_size);
	CHECK(slot < f.rx.size);
	CHECK(len >= E1000_FRAME_MIN && len <= E1000_RX_FRAME_MAX && len <= f.rx.buf_size);
	/* The stack reads the whole frame (ASan checks it lies in the block). */
	for (u32 i = 0; i < len; i += 64)
		sink += p[i];
	sink += p[len - 1];
	CHECK(f.got < MAX_RING);
	f.got_slot[f.got] = slot;
	f.got_len[f.got++] = len;
	if (f.rearm) {
		f.rearm = false;
		for (u32 i = 0; i < f.rx.size; i++) {
			f.rxd[i].length = get16();
			f.rxd[i].status = E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP;
		}
	}
}

/* The device's view of a buffer address: must be the descriptor's own. */
static u8 *dev_map(const struct e1000_ring *r, u32 idx, u64 addr)
{
	if (addr != r->buf_phys + (u64)idx * r->buf_size)
		return NULL;
	return r->buf_virt + (u64)idx * r->buf_size;
}

/* An honest write-back at RDH (the hardware drops the frame if RDH == RDT). */
static void dev_rx(void)
{
	u16 len = get16();
	u8 status = get8(), errors = get8();
	if (f.rdh == f.rdt)
		return;
	struct e1000_rx_desc *d = &f.rxd[f.rdh];
	u8 *buf = dev_map(&f.rx, f.rdh, d->addr);
	if (buf) {
		u32 n = len < f.rx.buf_size ? len : f.rx.buf_size;
		for (u32 i = 0; i < n; i++)
			buf[i] = (u8)(f.seq + i);
	}
	f.seq++;
	d->length = len;
	d->errors = errors;
	d->status = status;
	f.rdh = e1000_ring_next(f.rdh, f.rx.size);
}

/* A lie anywhere in the ring, addresses included. */
static void dev_rx_hostile(void)
{
	u32 i = get16() % f.rx.size;
	u8 what = get8();
	struct e1000_rx_desc *d = &f.rxd[i];
	d->length = get16();
	d->status = get8();
	d->errors = get8();
	if (what & 1)
		d->addr = (u64)get16() << 12;
}

/* The contract's prediction for one poll, from the descriptors as they were. */
static void drv_poll(void)
{
	int budget = get8() % 80;
	bool rearm = f.rearm;
	struct e1000_rx_desc before[MAX_RING];
	struct nic_stats st0 = f.nic.stats;
	u32 next0 = f.rx.next;
	memcpy(before, f.rxd, f.rx.size * sizeof(*before));

	f.got = 0;
	bool moved;
	int n = e1000_rx_poll(&f.rx, &f.nic, budget, &moved);
	if (moved)
		f.rdt = e1000_rx_tail(&f.rx);
	CHECK(n >= 0 && n <= budget && f.rx.next < f.rx.size);
	CHECK(f.rdt == (f.rx.next + f.rx.size - 1) % f.rx.size);
	if (rearm) { /* the model's picture of the ring is stale: resynchronise */
		f.model_disc = f.rx.discarding;
		return;
	}

	u32 next = next0, delivered = 0, frames = 0, errors = 0, dropped = 0, seen = 0;
	bool disc = f.model_disc;
	for (; (int)delivered < budget && seen < f.rx.size; seen++) {
		const struct e1000_rx_desc *d = &before[next];
		if (!(d->status & E1000_RXD_STAT_DD))
			break;
		bool eop = d->status & E1000_RXD_STAT_EOP;
		if (disc) {
			disc = !eop;
		} else if (!eop) {
			disc = true;
			errors++;
		} else if ((d->errors & E1000_RXD_ERR_FRAME) || d->length < E1000_FRAME_MIN ||
			   d->length > E1000_RX_FRAME_MAX || d->length > f.rx.buf_size) {
			errors++;
		} else if (!f.nic.rx) {
			dropped++;
		} else {
			CHECK(delivered < f.got);
			CHECK(f.got_slot[delivered] == next && f.got_len[delivered] == d->length);
			delivered++;
			frames++;
		}
		/* Handed back clean, pointing at its own buffer. */
		const struct e1000_rx_desc *now = &f.rxd[next];
		CHECK(now->status == 0 && now->length == 0 && now->errors == 0);
		CHECK(now->addr == f.rx.buf_phys + (u64)next * f.rx.buf_size);
		next = e1000_ring_next(next, f.rx.size);
	}
	f.model_disc = disc;
	CHECK((u32)n == delivered && f.got == delivered);
	CHECK(f.rx.next == next && f.rx.discarding == disc);
	CHECK(moved == (seen > 0));
	CHECK(f.nic.stats.rx_frames - st0.rx_frames == frames);
	CHECK(f.nic.stats.rx_errors - st0.rx_errors == errors);
	CHECK(f.nic.stats.rx_dropped - st0.rx_dropped == dropped);
	/* Descriptors it did not consume are as they were. */
	for (u32 k = seen, i = next; k < f.rx.size; k++, i = e1000_ring_next(i, f.rx.size))
		CHECK(!memcmp(&f.rxd[i], &before[i], sizeof(before[i])));
}

static void drv_send(void)
{
	u8 buf[8][4200];
	struct nic_frame fr[8];
	int n = get8() % 8 + 1;
	for (int i = 0; i < n; i++) {
		u32 len = get16() % 4200;
		memset(buf[i], (u8)f.seq, len);
		if (len >= 4)
			memcpy(buf[i], &f.seq, 4);
		fr[i] = (struct nic_frame){ (get8() & 0x0f) ? buf[i] : NULL, len };
		f.seq++;
	}
	struct nic_stats st0 = f.nic.stats;
	int taken = e1000_tx_queue(&f.tx, fr, n, &f.nic.stats);
	f.tdt = f.tx.next;
	CHECK(taken >= 0 && taken <= n);
	CHECK((f.nic.stats.tx_frames - st0.tx_frames) + (f.nic.stats.tx_dropped - st0.tx_dropped) ==
	      (u64)taken);
	CHECK(e1000_tx_free(&f.tx) <= f.tx.size - 1 && f.tx.next < f.tx.size && f.tx.clean < f.tx.size);
	for (int i = 0; i < taken; i++) {
		bool ok = fr[i].data && fr[i].len >= E1000_FRAME_MIN && fr[i].len <= NIC_FRAME_MAX &&
			  fr[i].len <= f.tx.buf_size;
		if (!ok || f.txq_count == FIFO)
			continue;
		u32 tag = 0;
		memcpy(&tag, fr[i].data, 4);
		u32 k = (f.txq_head + f.txq_count++) % FIFO;
		f.txq_len[k] = fr[i].len;
		f.txq_tag[k] = tag;
	}
}

/* The device sends from TDH towards TDT and sets DD (with EC/LC if told). */
static void dev_tx(void)
{
	u32 max = get8() % 16;
	u8 status = E1000_TXD_STAT_DD | (get8() & (E1000_TXD_STAT_EC | E1000_TXD_STAT_LC));
	for (u32 n = 0; f.tdh != f.tdt && n < max; n++) {
		struct e1000_tx_desc *d = &f.txd[f.tdh];
		CHECK(d->cmd == (E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS));
		CHECK(d->length >= E1000_FRAME_MIN && d->length <= NIC_FRAME_MAX &&
		      d->length <= f.tx.buf_size);
		u8 *buf = dev_map(&f.tx, f.tdh, d->addr);
		CHECK(buf);
		for (u32 i = 0; i < d->length; i += 64)
			sink += buf[i];
		sink += buf[d->length - 1];
		if (!f.tx_faked && f.txq_count) {
			u32 tag;
			memcpy(&tag, buf, 4);
			CHECK(d->length == f.txq_len[f.txq_head] && tag == f.txq_tag[f.txq_head]);
		}
		if (f.txq_count) {
			f.txq_head = (f.txq_head + 1) % FIFO;
			f.txq_count--;
		}
		d->status = status;
		f.tdh = e1000_ring_next(f.tdh, f.tx.size);
	}
}

static void dev_tx_hostile(void)
{
	u32 i = get16() % f.tx.size;
	f.txd[i].status = get8();
	f.tx_faked = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const u32 buf_sizes[] = { 2048, 1024, 1522, 1523, 14, 100, 2047, 4096 };
	in = data;
	in_len = size;
	in_pos = 0;
	memset(&f, 0, sizeof(f));
	u8 g = get8();
	u32 ring = 8 * (1 + (g & 7));
	u32 buf_size = buf_sizes[(g >> 3) & 7];
	f.rxd = calloc(ring, sizeof(*f.rxd));
	f.txd = calloc(ring, sizeof(*f.txd));
	ring_alloc(&f.rx, f.rxd, ring, buf_size, RX_PHYS);
	ring_alloc(&f.tx, f.txd, ring, buf_size, TX_PHYS);
	f.rdt = e1000_rx_init(&f.rx);
	CHECK(f.rdt == ring - 1);
	e1000_tx_init(&f.tx);
	f.nic.rx = on_rx;
	f.nic.rx_ctx = &f;

	while (in_pos < in_len) {
		switch (get8() % 8) {
		case 0: case 1: dev_rx(); break;
		case 2: drv_poll(); break;
		case 3: dev_rx_hostile(); break;
		case 4: f.rearm = true; break;
		case 5: drv_send(); break;
		case 6: dev_tx(); break;
		case 7:
			if (get8() & 1)
				dev_tx_hostile();
			else
				f.nic.rx = f.nic.rx ? NULL : on_rx;
			break;
		}
	}
	free(f.rx.buf_virt);
	free(f.tx.buf_virt);
	free(f.rxd);
	free(f.txd);
	return 0;
}

/* ---- seeds: a well-behaved device, then the usual lies ---- */

static u8 seed[512];
static size_t slen;

static void op(int n, ...)
{
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		seed[slen++] = (u8)va_arg(ap, int);
	va_end(ap);
}

/* op 0: an honest write-back of len bytes with DD|EOP (or the given bits). */
static void rx(u16 len, u8 status, u8 errors)
{
	op(5, 0, len & 0xff, len >> 8, status, errors);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!seed_dir())
		return 0;
	const u8 ok = E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP;
	/* 8 descriptors of 2048 bytes: frames of every kind, polls, wrap-around. */
	slen = 0;
	op(1, 0x00);
	for (int i = 0; i < 10; i++)
		rx((u16)(60 + i * 140), ok, 0);
	op(2, 2, 3);
	for (int i = 0; i < 6; i++)
		rx((u16)(64 + i), ok, 0);
	op(2, 2, 64);
	rx(13, ok, 0);
	rx(1523, ok, 0);
	rx(100, ok, 0x01);
	rx(100, ok, 0x60);
	rx(200, E1000_RXD_STAT_DD, 0);
	rx(200, ok, 0);
	rx(200, 0, 0);
	op(2, 2, 64);
	seed_add(seed, slen);
	/* 16 descriptors of 1522 bytes; hostile write-backs and a re-arm. */
	slen = 0;
	op(1, 0x11);
	rx(1522, ok, 0);
	op(7, 3, 5, 0, 1, 64, 0, ok);
	op(1, 0);
	op(1, 4);
	rx(64, ok, 0);
	op(2, 2, 50);
	op(2, 7, 0);
	rx(64, ok, 0);
	op(2, 2, 50);
	seed_add(seed, slen);
	/* TX: queue, send with collisions, fake DD, queue again. */
	slen = 0;
	op(1, 0x08);
	op(8, 5, 3, 60, 0, 1, 0xdc, 5, 1);
	op(3, 0, 0, 1);
	op(3, 6, 2, E1000_TXD_STAT_EC);
	op(8, 5, 2, 0, 0, 1, 14, 0, 1);
	op(3, 6, 15, 0);
	op(5, 7, 1, 3, 0, E1000_TXD_STAT_DD);
	op(8, 5, 2, 100, 0, 1, 200, 0, 1);
	op(3, 6, 15, 0);
	seed_add(seed, slen);
	exit(0);
}
