/*
 * Hooks lwIP calls into Tern (named in lwipopts.h, included by lwIP's own
 * sources). net_tcp_isn: initial sequence numbers after RFC 6528 (a 4 us
 * clock plus a keyed hash of the connection's addresses and ports), so an
 * off-path attacker cannot guess them; lwIP's default is a counter.
 */
#ifndef TERN_LWIP_HOOKS_H
#define TERN_LWIP_HOOKS_H

#include "lwip/ip_addr.h"

u32_t net_tcp_isn(const ip_addr_t *local_ip, u16_t local_port,
		  const ip_addr_t *remote_ip, u16_t remote_port);

#endif
