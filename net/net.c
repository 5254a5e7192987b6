/*
 * Tern's network stack: brings lwIP up on the_nic with the boot
 * configuration (static ip=/gw= or ip=dhcp), drives it from the service
 * loop (receive with a budget, lwIP's timers, then the batched transmit)
 * and answers `info network`. Also starts the built-in TCP sink
 * (net/tcp_test.c). One lwIP instance; every lwIP call in Tern happens on
 * the boot CPU from the service loop, which is what NO_SYS=1 requires.
 */
#include <tern/arch.h>
#include <tern/cmdline.h>
#include <tern/log.h>
#include <tern/net.h>
#include <tern/nic.h>
#include <stdio.h>
#include "lwip/dhcp.h"
#include "lwip/init.h"
#include "lwip/ip4_addr.h"
#include "lwip/memp.h"
#include "lwip/netif.h"
#include "lwip/stats.h"
#include "lwip/timeouts.h"

#define RX_BUDGET 64                 /* frames per poll: bounds one poll's work */
#define LINK_CHECK_NS 500000000ULL   /* the PHY's link bit is read twice a second */

static struct netif netif;
static struct nic *nic;
static bool up;
static bool dhcp;
static bool had_address;
static const char *off_reason = "net_init not called";
static u64 next_link_check;

bool net_up(void)
{
	return up;
}

static void ip_str(const ip4_addr_t *a, char buf[16])
{
	if (ip4_addr_isany(a))
		snprintf(buf, 16, "none");
	else
		ip4addr_ntoa_r(a, buf, 16);
}

/* lwIP calls this when the address changes (DHCP bound, renewed, lost). */
static void status_changed(struct netif *n)
{
	char ip[16], mask[16], gw[16];
	if (ip4_addr_isany_val(*netif_ip4_addr(n))) {
		if (had_address) /* not at DHCP's start, before the first lease */
			hv_log("net: address released\n");
		had_address = false;
		return;
	}
	had_address = true;
	ip_str(netif_ip4_addr(n), ip);
	ip_str(netif_ip4_netmask(n), mask);
	ip_str(netif_ip4_gw(n), gw);
	hv_log("net: address %s netmask %s gateway %s (%s)\n", ip, mask, gw,
	       dhcp ? "DHCP" : "static");
}

static void link_changed(struct netif *n)
{
	hv_log("net: link %s\n", netif_is_link_up(n) ? "up" : "down");
}

static void check_link(u64 now)
{
	if (now < next_link_check || !nic->ops->link_up)
		return;
	next_link_check = now + LINK_CHECK_NS;
	bool link = nic->ops->link_up(nic);
	if (link && !netif_is_link_up(&netif))
		netif_set_link_up(&netif);
	else if (!link && netif_is_link_up(&netif))
		netif_set_link_down(&netif);
}

static void set_static_address(const struct hv_config *cfg)
{
	ip4_addr_t ip, mask, gw;
	u32 m = cfg->ip_prefix ? 0xffffffffu << (32 - cfg->ip_prefix) : 0;
	ip4_addr_set_u32(&ip, lwip_htonl(cfg->ip_addr));
	ip4_addr_set_u32(&mask, lwip_htonl(m));
	ip4_addr_set_u32(&gw, lwip_htonl(cfg->gw_addr));
	netif_set_addr(&netif, &ip, &mask, &gw);
}

int net_init(const struct hv_config *cfg)
{
	nic = the_nic;
	if (!cfg->net_dhcp && !cfg->ip_addr) {
		off_reason = "no ip= on the command line (ip=A.B.C.D/N or ip=dhcp)";
		hv_printf("net: %s: networking off\n", off_reason);
		return -1;
	}
	if (!nic) {
		off_reason = "no NIC";
		hv_printf("net: ip= given but there is no NIC: networking off\n");
		return -1;
	}
	net_port_init();
	lwip_init();
	if (netif_nic_attach(&netif, nic)) {
		off_reason = "the network interface could not be added";
		hv_printf("net: %s: networking off\n", off_reason);
		return -1;
	}
	netif_set_default(&netif);
	/* A static address wins over a second ip=dhcp word. */
	dhcp = cfg->net_dhcp && !cfg->ip_addr;
	if (!dhcp)
		set_static_address(cfg);
	/* From here on: netif_set_up() reports the static address once. */
	netif_set_status_callback(&netif, status_changed);
	netif_set_link_callback(&netif, link_changed);
	netif_set_up(&netif);
	if (nic->ops->link_up && nic->ops->link_up(nic))
		netif_set_link_up(&netif);
	if (dhcp && dhcp_start(&netif) != ERR_OK) {
		off_reason = "DHCP could not start (out of memory)";
		hv_printf("net: %s: networking off\n", off_reason);
		nic->rx = NULL; /* the driver drops frames again */
		netif_remove(&netif);
		return -1;
	}
	up = true;
	if (dhcp)
		hv_printf("net: %s: asking for an address with DHCP\n", nic->name);
	if (tcp_test_init())
		hv_printf("net: the TCP sink on port 5001 could not start\n");
	return 0;
}

void net_poll(void)
{
	if (!up)
		return;
	netif_nic_set_polling(true);
	nic_poll(nic, RX_BUDGET);
	netif_nic_set_polling(false);
	sys_check_timeouts();
	check_link(arch_time_ns());
	netif_nic_flush();
}

static void print_proto(const char *name, const struct stats_proto *s)
{
	hv_printf("  %-6s rx %u tx %u drop %u chkerr %u lenerr %u memerr %u proterr %u err %u\n",
		  name, s->recv, s->xmit, s->drop, s->chkerr, s->lenerr, s->memerr, s->proterr,
		  s->err);
}

static void print_nic(struct nic *n)
{
	const struct nic_stats *s = &n->stats;
	const u8 *m = n->mac;
	hv_printf("  nic %s, MAC %02x:%02x:%02x:%02x:%02x:%02x, link %s\n", n->name, m[0], m[1],
		  m[2], m[3], m[4], m[5],
		  n->ops->link_up ? (n->ops->link_up(n) ? "up" : "down") : "unknown");
	hv_printf("  nic rx %lu frames %lu bytes (%lu dropped, %lu errors), "
		  "tx %lu frames %lu bytes (%lu dropped, %lu errors)\n",
		  s->rx_frames, s->rx_bytes, s->rx_dropped, s->rx_errors, s->tx_frames, s->tx_bytes,
		  s->tx_dropped, s->tx_errors);
}

static void print_address(void)
{
	char ip[16], mask[16], gw[16];
	if (ip4_addr_isany_val(*netif_ip4_addr(&netif))) {
		hv_printf("  address: none yet (%s)\n", dhcp ? "DHCP in progress" : "static");
		return;
	}
	ip_str(netif_ip4_addr(&netif), ip);
	ip_str(netif_ip4_netmask(&netif), mask);
	ip_str(netif_ip4_gw(&netif), gw);
	hv_printf("  address %s netmask %s gateway %s (%s)\n", ip, mask, gw,
		  dhcp ? "DHCP" : "static");
}

void net_info(void)
{
	if (!up) {
		hv_printf("network: off (%s)\n", off_reason);
		if (the_nic)
			print_nic(the_nic);
		return;
	}
	hv_printf("network: on, lwIP %s, interface %s, link %s\n", LWIP_VERSION_STRING,
		  netif_is_up(&netif) ? "up" : "down", netif_is_link_up(&netif) ? "up" : "down");
	print_address();
	print_nic(nic);
	print_proto("link", &lwip_stats.link);
	print_proto("arp", &lwip_stats.etharp);
	print_proto("ip", &lwip_stats.ip);
	print_proto("icmp", &lwip_stats.icmp);
	print_proto("udp", &lwip_stats.udp);
	print_proto("tcp", &lwip_stats.tcp);
	hv_printf("  memory: heap %u/%u bytes (max %u, %u failed), rx pbufs %u/%u (max %u, %u failed),"
		  " tcp segments %u (max %u, %u failed), tx queue drops %lu\n",
		  (unsigned)lwip_stats.mem.used, (unsigned)lwip_stats.mem.avail,
		  (unsigned)lwip_stats.mem.max, lwip_stats.mem.err,
		  (unsigned)lwip_stats.memp[MEMP_PBUF_POOL]->used,
		  (unsigned)lwip_stats.memp[MEMP_PBUF_POOL]->avail,
		  (unsigned)lwip_stats.memp[MEMP_PBUF_POOL]->max, lwip_stats.memp[MEMP_PBUF_POOL]->err,
		  (unsigned)lwip_stats.memp[MEMP_TCP_SEG]->used,
		  (unsigned)lwip_stats.memp[MEMP_TCP_SEG]->max, lwip_stats.memp[MEMP_TCP_SEG]->err,
		  netif_nic_tx_queue_drops());
	tcp_test_info();
	ping_info();
}
