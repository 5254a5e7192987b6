/*
 * The NIC interface between drivers (drivers/e1000.c, later virtio-net or
 * e1000e) and the network stack (net/). A driver fills a struct nic and
 * registers it; the stack sends frame batches and polls for received frames,
 * which the driver hands to the receive callback one by one. Polled, no
 * interrupts: the service loop calls nic_poll() between guest slices.
 * The NIC belongs to Tern; guests never see it.
 */
#ifndef TERN_NIC_H
#define TERN_NIC_H

#include <tern/types.h>

#define NIC_MTU 1500
#define NIC_FRAME_MAX 1518 /* without FCS */

struct nic;

struct nic_frame {
	const void *data;
	u32 len;
};

struct nic_stats {
	u64 rx_frames, rx_bytes, rx_dropped, rx_errors;
	u64 tx_frames, tx_bytes, tx_dropped, tx_errors;
};

struct nic_ops {
	/* Queue up to n frames for transmission; returns how many were taken. */
	int (*send_batch)(struct nic *nic, const struct nic_frame *frames, int n);
	/* Deliver up to budget received frames to nic->rx; returns how many. */
	int (*poll)(struct nic *nic, int budget);
	bool (*link_up)(struct nic *nic);
};

struct nic {
	char name[16];     /* "e1000 00:03.0" */
	u8 mac[6];
	const struct nic_ops *ops;
	void *priv;        /* the driver's state */
	struct nic_stats stats;
	/* Set by the stack: called from poll() for each good frame. */
	void (*rx)(struct nic *nic, const void *frame, u32 len, void *ctx);
	void *rx_ctx;
};

/* The NIC Tern found at boot, or NULL. */
extern struct nic *the_nic;

static inline int nic_send_batch(struct nic *n, const struct nic_frame *f, int count)
{
	return n->ops->send_batch(n, f, count);
}

static inline int nic_poll(struct nic *n, int budget)
{
	return n->ops->poll(n, budget);
}

#endif
