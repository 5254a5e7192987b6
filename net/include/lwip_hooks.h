/*
 * Hooks lwIP calls into Tern (named in lwipopts.h, included by lwIP's own
 * sources). net_tcp_isn: initial sequence numbers after RFC 6528 (a 4 us
 * clock plus a keyed hash of the connection's addresses and ports), so an
 * off-path attacker cannot guess them; lwIP's default is a counter.
 * net_tcp_inpacket: drops segments lwIP 2.1.3 would assert on (a sequence
 * number about 2^31 from rcv_nxt); ERR_OK lets a segment through.
 */
#ifndef TERN_LWIP_HOOKS_H
#define TERN_LWIP_HOOKS_H

#include "lwip/err.h"
#include "lwip/ip_addr.h"

struct tcp_pcb;
struct tcp_hdr;

u32_t net_tcp_isn(const ip_addr_t *local_ip, u16_t local_port,
		  const ip_addr_t *remote_ip, u16_t remote_port);

err_t net_tcp_inpacket(struct tcp_pcb *pcb, struct tcp_hdr *hdr);

#endif
