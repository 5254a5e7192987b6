/*
 * e1000 descriptor rings without the device: which descriptors the device
 * finished, what to hand to the stack, where the tail goes. drivers/e1000.c
 * owns the registers and calls these; the host unit tests call them against
 * a fake device. Descriptor fields the device writes (status, length,
 * errors) are read once each, after DD is seen, and the length is checked
 * before a byte of the buffer is handed on, so a confused or hostile device
 * can make Tern drop frames but never read or write outside a buffer.
 * Context: the service loop, single caller.
 */
#include <tern/e1000_ring.h>
#include <string.h>

/* A field the device may change under us: read it exactly once, here. */
#define DEV_READ(x) (*(const volatile __typeof__(x) *)&(x))

bool e1000_ring_valid(const struct e1000_ring *r)
{
	return r->desc && r->buf_virt && r->size >= E1000_RING_ALIGN &&
	       r->size <= E1000_RING_MAX && r->size % E1000_RING_ALIGN == 0 &&
	       r->buf_size >= E1000_FRAME_MIN && r->next < r->size && r->clean < r->size;
}

static u8 *slot_buf(const struct e1000_ring *r, u32 i)
{
	return r->buf_virt + (u64)i * r->buf_size;
}

static u64 slot_phys(const struct e1000_ring *r, u32 i)
{
	return r->buf_phys + (u64)i * r->buf_size;
}

/* ---- receive ---- */

/* Hand descriptor i back with its own buffer; addr is rewritten because the
 * device could have scribbled on it and we only trust our own copy. */
static void rx_reset_desc(struct e1000_ring *r, u32 i)
{
	struct e1000_rx_desc *d = (struct e1000_rx_desc *)r->desc + i;
	d->addr = slot_phys(r, i);
	d->length = 0;
	d->csum = 0;
	d->errors = 0;
	d->special = 0;
	d->status = 0;
}

u32 e1000_rx_init(struct e1000_ring *r)
{
	r->next = 0;
	r->clean = 0;
	r->discarding = false;
	for (u32 i = 0; i < r->size; i++)
		rx_reset_desc(r, i);
	return r->size - 1;
}

u32 e1000_rx_tail(const struct e1000_ring *r)
{
	return r->next == 0 ? r->size - 1 : r->next - 1;
}

enum rx_verdict { RX_GOOD, RX_BAD, RX_SKIP };

/*
 * Judge one finished descriptor. A frame that does not end in its first
 * descriptor cannot happen with 2048-byte buffers and LPE off, so the
 * device is confused: drop it, counted once, and skip the descriptors
 * that continue it up to and including the one with EOP.
 */
static enum rx_verdict rx_judge(struct e1000_ring *r, u8 status, u8 errors, u32 len)
{
	bool eop = status & E1000_RXD_STAT_EOP;

	if (r->discarding) {
		if (eop)
			r->discarding = false;
		return RX_SKIP;
	}
	if (!eop) {
		r->discarding = true;
		return RX_BAD;
	}
	if (errors & E1000_RXD_ERR_FRAME)
		return RX_BAD;
	if (len < E1000_FRAME_MIN || len > E1000_RX_FRAME_MAX || len > r->buf_size)
		return RX_BAD;
	return RX_GOOD;
}

int e1000_rx_poll(struct e1000_ring *r, struct nic *nic, int budget, bool *moved)
{
	struct e1000_rx_desc *ring = r->desc;
	struct nic_stats *st = &nic->stats;
	int delivered = 0;

	*moved = false;
	/* At most one lap: a device that keeps setting DD cannot hold us here. */
	for (u32 seen = 0; delivered < budget && seen < r->size; seen++) {
		struct e1000_rx_desc *d = &ring[r->next];
		u8 status = DEV_READ(d->status);
		if (!(status & E1000_RXD_STAT_DD))
			break;
		e1000_barrier(); /* the write-back is complete once DD is seen */
		u32 len = DEV_READ(d->length);
		u8 errors = DEV_READ(d->errors);

		switch (rx_judge(r, status, errors, len)) {
		case RX_GOOD:
			if (!nic->rx) {
				st->rx_dropped++;
				break;
			}
			/* The buffer is lent for the call only: rx must copy. */
			nic->rx(nic, slot_buf(r, r->next), len, nic->rx_ctx);
			st->rx_frames++;
			st->rx_bytes += len;
			delivered++;
			break;
		case RX_BAD:
			st->rx_errors++;
			break;
		case RX_SKIP:
			break;
		}
		rx_reset_desc(r, r->next);
		r->next = e1000_ring_next(r->next, r->size);
		*moved = true;
	}
	/* Descriptors rewritten before the caller moves RDT past them. */
	e1000_barrier();
	return delivered;
}

/* ---- transmit ---- */

void e1000_tx_init(struct e1000_ring *r)
{
	memset(r->desc, 0, (size_t)r->size * sizeof(struct e1000_tx_desc));
	r->next = 0;
	r->clean = 0;
	r->discarding = false;
}

u32 e1000_tx_free(const struct e1000_ring *r)
{
	/* One slot stays empty: TDT == TDH means "nothing to send". */
	return r->size - 1 - e1000_ring_dist(r->clean, r->next, r->size);
}

u32 e1000_tx_reclaim(struct e1000_ring *r, struct nic_stats *st)
{
	struct e1000_tx_desc *ring = r->desc;
	u32 n = 0;

	/* Only descriptors we handed over ([clean, next)) can come back. */
	while (r->clean != r->next) {
		struct e1000_tx_desc *d = &ring[r->clean];
		u8 status = DEV_READ(d->status);
		if (!(status & E1000_TXD_STAT_DD))
			break;
		if (status & (E1000_TXD_STAT_EC | E1000_TXD_STAT_LC))
			st->tx_errors++;
		d->status = 0;
		r->clean = e1000_ring_next(r->clean, r->size);
		n++;
	}
	return n;
}

static bool tx_len_ok(const struct e1000_ring *r, const struct nic_frame *f)
{
	return f->data && f->len >= E1000_FRAME_MIN && f->len <= NIC_FRAME_MAX &&
	       f->len <= r->buf_size;
}

int e1000_tx_queue(struct e1000_ring *r, const struct nic_frame *frames, int n,
		   struct nic_stats *st)
{
	struct e1000_tx_desc *ring = r->desc;
	int i;

	e1000_tx_reclaim(r, st);
	for (i = 0; i < n; i++) {
		const struct nic_frame *f = &frames[i];
		if (!tx_len_ok(r, f)) {
			st->tx_dropped++;
			continue;
		}
		if (!e1000_tx_free(r))
			break;
		u32 slot = r->next;
		struct e1000_tx_desc *d = &ring[slot];
		memcpy(slot_buf(r, slot), f->data, f->len);
		d->addr = slot_phys(r, slot);
		d->length = (u16)f->len;
		d->cso = 0;
		d->css = 0;
		d->special = 0;
		/* RS on every frame: reclaim waits for DD on each descriptor. */
		d->cmd = E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS;
		d->status = 0;
		r->next = e1000_ring_next(slot, r->size);
		st->tx_frames++;
		st->tx_bytes += f->len;
	}
	/* Descriptors and buffers written before the caller moves TDT. */
	e1000_barrier();
	return i;
}
