/*
 * A check lwIP 2.1.3 lacks, run on every TCP segment for a connection
 * before lwIP sees it (LWIP_HOOK_TCP_INPACKET_PCB, lwipopts.h).
 *
 * lwIP compares sequence numbers as signed 32-bit differences. A segment
 * whose first byte lies about 2^31 before rcv_nxt looks both "before" and
 * "after" rcv_nxt, and tcp_receive() then asserts ("insane offset!"), which
 * panics the hypervisor: any host on the network could stop Tern with one
 * packet. No segment that far from rcv_nxt can be acceptable (RFC 9293
 * 3.10.7.4 accepts only what overlaps the receive window, at most 1 GiB
 * even with window scaling), so drop it unseen, as the RFC allows for an
 * unacceptable segment carrying no RST we must honour. Until the SYN is
 * answered (SYN_SENT) rcv_nxt means nothing, and TIME_WAIT never reaches
 * tcp_receive(), so those pass untouched.
 */
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "lwip_hooks.h"

/* How far from rcv_nxt a segment may start: past any receive window. */
#define GUARD_SPAN 0x40000000u

err_t net_tcp_inpacket(struct tcp_pcb *pcb, struct tcp_hdr *hdr)
{
	if (pcb->state == LISTEN || pcb->state == CLOSED || pcb->state == SYN_SENT ||
	    pcb->state == TIME_WAIT)
		return ERR_OK;
	/* lwIP has turned the header to host order before calling us. */
	u32_t behind = pcb->rcv_nxt - hdr->seqno, ahead = hdr->seqno - pcb->rcv_nxt;
	if (behind < GUARD_SPAN || ahead < GUARD_SPAN)
		return ERR_OK;
	TCP_STATS_INC(tcp.drop);
	return ERR_VAL;
}
