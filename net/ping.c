/*
 * `ping ADDR [COUNT]`: an ICMP echo client on a raw lwIP PCB. Requests go
 * out 1 s apart from an lwIP timeout, so the console and the guest keep
 * running; each reply is printed as it arrives (hv_log) with its round
 * trip in microseconds, then a summary. Round trips are measured from the
 * send call to the service-loop poll that sees the reply, so with a guest
 * running they include up to one guest slice. Replies are checked before
 * they are believed: ICMP checksum, echo reply type, our identifier, a
 * sequence number we sent and have not yet seen, the address we pinged.
 * One ping at a time. Context: service loop.
 */
#include <tern/arch.h>
#include <tern/cmdline.h>
#include <tern/log.h>
#include <tern/net.h>
#include <string.h>
#include "lwip/inet_chksum.h"
#include "lwip/ip4_addr.h"
#include "lwip/pbuf.h"
#include "lwip/prot/icmp.h"
#include "lwip/prot/ip4.h"
#include "lwip/raw.h"
#include "lwip/timeouts.h"

#define PING_MAX 100
#define PING_DEFAULT 4
#define PING_INTERVAL_MS 1000
#define PING_DATA 56 /* ping(8)'s default: 64-byte ICMP messages */

static struct {
	bool active;
	struct raw_pcb *pcb;
	ip4_addr_t target;
	char target_str[16];
	u16 id;
	u32 count, sent, received;
	u64 sent_ns[PING_MAX];
	u8 seen[PING_MAX / 8 + 1];
	u64 rtt_min, rtt_max, rtt_sum; /* ns */
} ping;

static void ping_tick(void *arg);

static void ping_finish(void *arg)
{
	sys_untimeout(ping_tick, NULL);
	sys_untimeout(ping_finish, NULL);
	raw_remove(ping.pcb);
	ping.pcb = NULL;
	ping.active = false;
	u32 loss = ping.sent ? (ping.sent - ping.received) * 100 / ping.sent : 0;
	if (ping.received)
		hv_log("ping: %s: %u transmitted, %u received, %u%% loss, rtt min/avg/max "
		       "%lu/%lu/%lu us\n", ping.target_str, ping.sent, ping.received, loss,
		       ping.rtt_min / 1000, ping.rtt_sum / ping.received / 1000, ping.rtt_max / 1000);
	else
		hv_log("ping: %s: %u transmitted, 0 received, 100%% loss\n", ping.target_str,
		       ping.sent);
}

static void ping_send_one(void)
{
	u16 len = sizeof(struct icmp_echo_hdr) + PING_DATA;
	struct pbuf *p = pbuf_alloc(PBUF_IP, len, PBUF_RAM);
	u32 seq = ping.sent;
	ping.sent++;
	if (!p) {
		hv_log("ping: seq %u: out of memory\n", seq);
		return;
	}
	struct icmp_echo_hdr *h = p->payload;
	h->type = ICMP_ECHO;
	h->code = 0;
	h->chksum = 0;
	h->id = lwip_htons(ping.id);
	h->seqno = lwip_htons((u16)seq);
	u8 *data = (u8 *)(h + 1);
	for (int i = 0; i < PING_DATA; i++)
		data[i] = (u8)i;
	h->chksum = inet_chksum(h, len);
	ping.sent_ns[seq] = arch_time_ns();
	err_t err = raw_sendto(ping.pcb, p, (const ip_addr_t *)&ping.target);
	pbuf_free(p);
	if (err != ERR_OK)
		hv_log("ping: seq %u: cannot send (lwIP error %d)\n", seq, err);
}

static void ping_tick(void *arg)
{
	if (!ping.active)
		return;
	ping_send_one();
	if (ping.sent < ping.count)
		sys_timeout(PING_INTERVAL_MS, ping_tick, NULL);
	else
		sys_timeout(PING_INTERVAL_MS, ping_finish, NULL); /* the last reply's grace */
}

/* Whether p (an IPv4 packet from src) is a reply to us; takes it if so. */
static u8 ping_recv(void *arg, struct raw_pcb *pcb, struct pbuf *p, const ip_addr_t *src)
{
	u64 now = arch_time_ns();
	u8 iph[IP_HLEN];
	struct icmp_echo_hdr echo;
	if (pbuf_copy_partial(p, iph, IP_HLEN, 0) != IP_HLEN)
		return 0;
	u16 hlen = (u16)(IPH_HL((struct ip_hdr *)iph) * 4);
	if (hlen < IP_HLEN || p->tot_len < hlen + sizeof(echo))
		return 0;
	if (pbuf_copy_partial(p, &echo, sizeof(echo), hlen) != sizeof(echo))
		return 0;
	if (echo.type != ICMP_ER || echo.code != 0 || lwip_ntohs(echo.id) != ping.id ||
	    !ip4_addr_cmp(ip_2_ip4(src), &ping.target))
		return 0;
	/* Ours from here on: checksum over the ICMP message, then the sequence. */
	u16 seq = lwip_ntohs(echo.seqno);
	u8 ttl = IPH_TTL((struct ip_hdr *)iph);
	pbuf_remove_header(p, hlen);
	u16 icmp_len = p->tot_len;
	bool sum_ok = inet_chksum_pbuf(p) == 0;
	pbuf_free(p);
	if (!sum_ok || icmp_len != sizeof(echo) + PING_DATA || seq >= ping.sent ||
	    (ping.seen[seq / 8] & (1u << (seq % 8))))
		return 1; /* corrupt, forged, duplicate or late: not counted */
	ping.seen[seq / 8] |= (u8)(1u << (seq % 8));
	ping.received++;
	u64 rtt = now - ping.sent_ns[seq];
	if (ping.received == 1 || rtt < ping.rtt_min)
		ping.rtt_min = rtt;
	if (rtt > ping.rtt_max)
		ping.rtt_max = rtt;
	ping.rtt_sum += rtt;
	hv_log("ping: reply from %s: seq %u, %u bytes, ttl %u, time %lu us\n", ping.target_str,
	       seq, icmp_len, ttl, rtt / 1000);
	if (ping.received == ping.count) {
		sys_untimeout(ping_finish, NULL);
		sys_timeout(0, ping_finish, NULL); /* not from inside raw_input */
	}
	return 1;
}

void net_ping(const char *addr, const char *count_str)
{
	u32 a;
	s64 count = count_str ? parse_size(count_str) : PING_DEFAULT;
	if (!net_up()) {
		hv_printf("error: networking is off (see 'info network')\n");
		return;
	}
	if (parse_ipv4(addr, &a) || !a || a == 0xffffffffu) {
		hv_printf("error: ping wants a host address A.B.C.D\n");
		return;
	}
	if (count < 1 || count > PING_MAX) {
		hv_printf("error: ping sends 1 to %d requests\n", PING_MAX);
		return;
	}
	if (ping.active) {
		hv_printf("error: a ping to %s is still running\n", ping.target_str);
		return;
	}
	memset(&ping, 0, sizeof(ping));
	ping.pcb = raw_new(IP_PROTO_ICMP);
	if (!ping.pcb) {
		hv_printf("error: ping: out of raw PCBs\n");
		return;
	}
	raw_recv(ping.pcb, ping_recv, NULL);
	ip4_addr_set_u32(&ping.target, lwip_htonl(a));
	ip4addr_ntoa_r(&ping.target, ping.target_str, sizeof(ping.target_str));
	ping.id = (u16)LWIP_RAND();
	ping.count = (u32)count;
	ping.active = true;
	hv_printf("PING %s: %u requests of %d bytes, 1 s apart\n", ping.target_str, ping.count,
		  (int)(sizeof(struct icmp_echo_hdr) + PING_DATA));
	ping_tick(NULL);
}

void ping_info(void)
{
	if (ping.active)
		hv_printf("  ping %s: %u of %u sent, %u replies\n", ping.target_str, ping.sent,
			  ping.count, ping.received);
}
