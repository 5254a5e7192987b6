/*
 * An lwIP network interface over a struct nic (tern/nic.h). Transmit:
 * lwIP's linkoutput copies each frame into a slot of a FIFO, and
 * netif_nic_flush() hands the FIFO to the driver in batches at the end of
 * net_poll(), one doorbell per batch. Queueing also keeps the driver from
 * being re-entered: TCP answers incoming segments from inside nic_poll(),
 * and nothing in tern/nic.h allows send_batch() from the receive callback.
 * Receive: the driver lends each good frame to nic_rx() for the call only;
 * it is copied into a pool pbuf and given to ethernet_input. Frames come
 * from the network: lengths are checked here, contents by lwIP.
 * Context: service loop only.
 */
#include <tern/log.h>
#include <tern/net.h>
#include <tern/nic.h>
#include <string.h>
#include "lwip/etharp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/stats.h"
#include "netif/ethernet.h"

#define TX_SLOTS 128  /* a full send window (32 segments) several times over */
#define TX_BATCH 32   /* frames per nic_send_batch() call */

struct tx_slot {
	u32 len;
	u8 data[NIC_FRAME_MAX];
};

static struct {
	struct nic *nic;
	struct tx_slot slot[TX_SLOTS];
	u32 head, count;  /* FIFO of frames not yet taken by the driver */
	bool polling;     /* inside nic_poll(): never call the driver */
	u64 queue_drops;
} tx;

void netif_nic_set_polling(bool polling)
{
	tx.polling = polling;
}

u64 netif_nic_tx_queue_drops(void)
{
	return tx.queue_drops;
}

void netif_nic_flush(void)
{
	struct nic_frame f[TX_BATCH];
	while (tx.count && tx.nic && !tx.polling) {
		/* Frames up to the end of the ring or the batch, whichever first. */
		u32 n = MIN(MIN(tx.count, TX_BATCH), TX_SLOTS - tx.head);
		for (u32 i = 0; i < n; i++)
			f[i] = (struct nic_frame){ tx.slot[tx.head + i].data, tx.slot[tx.head + i].len };
		int taken = nic_send_batch(tx.nic, f, (int)n);
		if (taken <= 0)
			return; /* the ring is full: try again at the next poll */
		if ((u32)taken > n)
			taken = (int)n;
		tx.head = (tx.head + (u32)taken) % TX_SLOTS;
		tx.count -= (u32)taken;
		if ((u32)taken < n)
			return;
	}
}

static err_t nic_linkoutput(struct netif *netif, struct pbuf *p)
{
	if (p->tot_len < SIZEOF_ETH_HDR || p->tot_len > NIC_FRAME_MAX) {
		LINK_STATS_INC(link.lenerr);
		LINK_STATS_INC(link.drop);
		return ERR_IF;
	}
	if (tx.count == TX_SLOTS)
		netif_nic_flush();
	if (tx.count == TX_SLOTS) {
		/* TCP retransmits; ARP, ICMP and DHCP retry on their own. */
		tx.queue_drops++;
		LINK_STATS_INC(link.drop);
		return ERR_MEM;
	}
	struct tx_slot *s = &tx.slot[(tx.head + tx.count) % TX_SLOTS];
	s->len = pbuf_copy_partial(p, s->data, p->tot_len, 0);
	tx.count++;
	LINK_STATS_INC(link.xmit);
	return ERR_OK;
}

/* The driver's receive callback, from inside nic_poll(). */
static void nic_rx(struct nic *nic, const void *frame, u32 len, void *ctx)
{
	struct netif *netif = ctx;
	if (len < SIZEOF_ETH_HDR || len > NIC_FRAME_MAX) {
		LINK_STATS_INC(link.lenerr);
		LINK_STATS_INC(link.drop);
		return;
	}
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
	if (!p) {
		LINK_STATS_INC(link.memerr);
		LINK_STATS_INC(link.drop);
		return;
	}
	pbuf_take(p, frame, (u16_t)len);
	LINK_STATS_INC(link.recv);
	if (netif->input(p, netif) != ERR_OK)
		pbuf_free(p);
}

static err_t netif_nic_setup(struct netif *netif)
{
	struct nic *nic = netif->state;
	netif->name[0] = 'e';
	netif->name[1] = 'n';
	netif->hwaddr_len = ETH_HWADDR_LEN;
	memcpy(netif->hwaddr, nic->mac, ETH_HWADDR_LEN);
	netif->mtu = NIC_MTU;
	netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
	netif->output = etharp_output;
	netif->linkoutput = nic_linkoutput;
	netif_set_hostname(netif, "tern");
	return ERR_OK;
}

/*
 * Add netif over nic (no address yet: net.c sets it or starts DHCP) and
 * route the driver's received frames into it. 0 or -1.
 */
int netif_nic_attach(struct netif *netif, struct nic *nic)
{
	if (!netif_add(netif, NULL, NULL, NULL, nic, netif_nic_setup, ethernet_input))
		return -1;
	tx.nic = nic;
	nic->rx_ctx = netif;
	nic->rx = nic_rx;
	return 0;
}
