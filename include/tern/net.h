/*
 * Tern's own TCP/IP (docs/network.md): one lwIP instance (NO_SYS=1, raw
 * API) over the_nic. Everything runs on the boot CPU in the service loop:
 * net_poll() receives frames, runs lwIP's timers and sends what was queued;
 * the console commands below start work that completes asynchronously
 * (results arrive through hv_log). Other users of lwIP (the network
 * console) call lwIP's raw API from the same loop: from their own
 * callbacks, from sys_timeout() handlers, or from console commands.
 */
#ifndef TERN_NET_H
#define TERN_NET_H

#include <tern/types.h>

struct hv_config;
struct netif;
struct nic;

/*
 * Context: boot, once, after nic_probe(). Configures the_nic with cfg's
 * static address (ip=, gw=) or DHCP (ip=dhcp). Prints one line saying what
 * it did; returns 0 when the stack is up, -1 when networking stays off (no
 * NIC, no ip=). Never panics over configuration.
 */
int net_init(const struct hv_config *cfg);
/* Context: service loop. Cheap when networking is off or idle. */
void net_poll(void);
/* True once net_init() brought the stack up (an address may still be pending). */
bool net_up(void);

/* ---- console commands (hv/console.c); each prints its own answer ---- */
void net_info(void);                     /* info network */
void net_ping(const char *addr, const char *count);          /* count may be NULL */
void net_send(const char *addr, const char *port, const char *bytes);

/*
 * net_send's argument check, shared with its TLS twin: 0 with the parsed
 * values (the address in network byte order), or -1 after printing why
 * they are wrong (or networking is off).
 */
int net_send_args(const char *addr, const char *port, const char *bytes, u32 *dst_be,
		  u16 *port_out, u64 *bytes_out);

/* ---- inside net/ ---- */
int netif_nic_attach(struct netif *netif, struct nic *nic);
/* Hand queued frames to the driver; called at the end of net_poll(). */
void netif_nic_flush(void);
void netif_nic_set_polling(bool polling);
u64 netif_nic_tx_queue_drops(void);
void net_port_init(void);
int tcp_test_init(void);
void tcp_test_info(void);
void ping_info(void);

#endif
