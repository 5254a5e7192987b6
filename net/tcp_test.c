/*
 * Built-in test traffic (docs/network.md), on lwIP's raw TCP API.
 * The sink: a listener on port 5001 that takes streams of the test pattern
 * (tern/tcp_pattern.h) and, when each ends, logs "net: tcp sink: N bytes
 * from A.B.C.D, pattern ok|BAD at offset X, T ms, R KiB/s". At most
 * SINK_CONNS streams at once; a peer silent for SINK_IDLE_S is cut off, so
 * a hostile peer can hold no more than that. `net_send ADDR PORT BYTES`:
 * one outgoing stream of the pattern, reported when the peer has
 * acknowledged every byte. Context: service loop (lwIP callbacks come from
 * net_poll(), net_send from the console).
 */
#include <tern/arch.h>
#include <tern/cmdline.h>
#include <tern/log.h>
#include <tern/net.h>
#include <tern/tcp_pattern.h>
#include <stdio.h>
#include <string.h>
#include "lwip/ip4_addr.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

#define SINK_PORT 5001
#define SINK_CONNS 4
#define SINK_IDLE_S 30
#define SEND_IDLE_S 30
#define POLL_INTERVAL 2        /* tcp_poll units of 500 ms: once a second */
#define SEND_CHUNK 16384
#define SEND_MAX (1ULL << 40)

struct sink_conn {
	struct tcp_pcb *pcb;      /* NULL: slot free */
	char peer[16];
	u64 start_ns;
	u32 idle_s;
	struct tcp_pattern_check check;
};

static struct tcp_pcb *sink_listener;
static struct sink_conn sinks[SINK_CONNS];
static u64 sink_streams, sink_bad, sink_refused;

static struct {
	struct tcp_pcb *pcb;      /* NULL: no net_send running */
	char peer[24];            /* "A.B.C.D:PORT" */
	u64 total, queued, acked;
	u64 start_ns;
	u32 idle_s;
	bool finishing;           /* the outcome is reported; the close is pending */
	u8 chunk[SEND_CHUNK];
} snd;

/* ---- the sink ---- */

static void sink_report(struct sink_conn *s, const char *how)
{
	u64 ns = arch_time_ns() - s->start_ns;
	char verdict[48];
	tcp_pattern_verdict(&s->check, verdict, sizeof(verdict));
	sink_streams++;
	sink_bad += s->check.bad;
	hv_log("net: tcp sink: %lu bytes from %s, pattern %s, %lu ms, %lu KiB/s%s\n",
	       s->check.offset, s->peer, verdict, ns / 1000000,
	       tcp_pattern_kib_per_s(s->check.offset, ns), how);
}

/* Detach s from its PCB and close it; returns what a callback must return. */
static err_t sink_close(struct sink_conn *s)
{
	struct tcp_pcb *pcb = s->pcb;
	s->pcb = NULL;
	tcp_arg(pcb, NULL);
	tcp_recv(pcb, NULL);
	tcp_err(pcb, NULL);
	tcp_poll(pcb, NULL, 0);
	if (tcp_close(pcb) == ERR_OK)
		return ERR_OK;
	tcp_abort(pcb); /* no memory for the FIN: reset instead */
	return ERR_ABRT;
}

static err_t sink_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct sink_conn *s = arg;
	if (!s) {
		if (p)
			pbuf_free(p);
		return ERR_OK;
	}
	if (!p) { /* the peer closed: the stream is complete */
		sink_report(s, "");
		return sink_close(s);
	}
	for (struct pbuf *q = p; q; q = q->next)
		tcp_pattern_check(&s->check, q->payload, q->len);
	tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	s->idle_s = 0;
	return ERR_OK;
}

/* The PCB is already gone (reset by the peer, or aborted by lwIP). */
static void sink_err(void *arg, err_t err)
{
	struct sink_conn *s = arg;
	if (!s)
		return;
	s->pcb = NULL;
	sink_report(s, err == ERR_RST ? ", reset by the peer" : ", aborted");
}

static err_t sink_poll(void *arg, struct tcp_pcb *pcb)
{
	struct sink_conn *s = arg;
	if (!s)
		return ERR_OK;
	if (++s->idle_s < SINK_IDLE_S)
		return ERR_OK;
	sink_report(s, ", idle: closed by Tern");
	return sink_close(s);
}

static err_t sink_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	if (err != ERR_OK || !pcb)
		return ERR_VAL;
	struct sink_conn *s = NULL;
	for (int i = 0; i < SINK_CONNS && !s; i++)
		if (!sinks[i].pcb)
			s = &sinks[i];
	if (!s) {
		sink_refused++;
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	memset(s, 0, sizeof(*s));
	s->pcb = pcb;
	ip4addr_ntoa_r(ip_2_ip4(&pcb->remote_ip), s->peer, sizeof(s->peer));
	s->start_ns = arch_time_ns();
	tcp_pattern_check_init(&s->check);
	tcp_arg(pcb, s);
	tcp_recv(pcb, sink_recv);
	tcp_err(pcb, sink_err);
	tcp_poll(pcb, sink_poll, POLL_INTERVAL);
	return ERR_OK;
}

int tcp_test_init(void)
{
	struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
	if (!pcb)
		return -1;
	if (tcp_bind(pcb, IP4_ADDR_ANY, SINK_PORT) != ERR_OK) {
		tcp_abort(pcb);
		return -1;
	}
	sink_listener = tcp_listen_with_backlog(pcb, SINK_CONNS);
	if (!sink_listener) {
		tcp_abort(pcb);
		return -1;
	}
	tcp_accept(sink_listener, sink_accept);
	return 0;
}

/* ---- net_send ---- */

static void send_done(const char *why)
{
	u64 ns = arch_time_ns() - snd.start_ns;
	if (why)
		hv_log("net_send: %s: %s after %lu of %lu bytes\n", snd.peer, why, snd.acked,
		       snd.total);
	else
		hv_log("net_send: %lu bytes to %s in %lu ms, %lu KiB/s\n", snd.total, snd.peer,
		       ns / 1000000, tcp_pattern_kib_per_s(snd.total, ns));
}

static err_t send_close(void)
{
	struct tcp_pcb *pcb = snd.pcb;
	snd.pcb = NULL;
	tcp_arg(pcb, NULL);
	tcp_sent(pcb, NULL);
	tcp_recv(pcb, NULL);
	tcp_err(pcb, NULL);
	tcp_poll(pcb, NULL, 0);
	if (tcp_close(pcb) == ERR_OK)
		return ERR_OK;
	tcp_abort(pcb);
	return ERR_ABRT;
}

/* Reset the connection; our err callback must not report it a second time. */
static err_t send_abort(struct tcp_pcb *pcb, const char *why)
{
	send_done(why);
	snd.pcb = NULL;
	tcp_err(pcb, NULL);
	tcp_abort(pcb);
	return ERR_ABRT;
}

/* Queue as much of the stream as lwIP takes now. */
static err_t send_more(struct tcp_pcb *pcb)
{
	while (snd.queued < snd.total) {
		u64 left = snd.total - snd.queued;
		u32 room = tcp_sndbuf(pcb);
		/* Wait for a full segment of room rather than dribble. */
		if (room < MIN(left, (u64)TCP_MSS))
			break;
		u16 n = (u16)MIN(MIN((u64)room, left), (u64)SEND_CHUNK);
		tcp_pattern_fill(snd.chunk, snd.queued, n);
		u8 flags = TCP_WRITE_FLAG_COPY | (snd.queued + n < snd.total ? TCP_WRITE_FLAG_MORE : 0);
		err_t err = tcp_write(pcb, snd.chunk, n, flags);
		if (err == ERR_MEM)
			break; /* the send queue is full: more when data is acknowledged */
		if (err != ERR_OK)
			return err;
		snd.queued += n;
	}
	return tcp_output(pcb);
}

/*
 * lwIP 2.1.3 loses the data of the segment it is processing when a sent
 * callback closes or aborts its pcb (tcp_input jumps to 'aborted' without
 * freeing it): one pool buffer per stream whose last ACK carries data. So
 * the stream is finished from a timer, outside the callback. why: NULL for
 * a completed stream (close), else the reason to abort.
 */
static void send_finish(void *why)
{
	if (!snd.pcb)
		return; /* reset meanwhile; send_err saw snd.finishing and kept quiet */
	if (why)
		send_abort(snd.pcb, why);
	else
		send_close();
}

static void send_finish_later(const char *why)
{
	if (snd.finishing)
		return;
	snd.finishing = true;
	if (!why)
		send_done(NULL);
	sys_timeout(0, send_finish, (void *)why);
}

static err_t send_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	snd.acked += len;
	snd.idle_s = 0;
	if (snd.finishing)
		return ERR_OK;
	if (snd.acked >= snd.total)
		send_finish_later(NULL);
	else if (send_more(pcb) != ERR_OK)
		send_finish_later("send failed");
	return ERR_OK;
}

/* Anything the peer sends back is read and dropped. */
static err_t send_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	if (!p)
		return ERR_OK; /* the peer's FIN: we keep sending until it resets */
	tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	return ERR_OK;
}

static void send_err(void *arg, err_t err)
{
	snd.pcb = NULL;
	if (snd.finishing)
		return; /* the outcome was reported already */
	send_done(err == ERR_RST ? (snd.start_ns ? "reset by the peer" : "connection refused")
				 : "connection aborted");
}

static err_t send_poll(void *arg, struct tcp_pcb *pcb)
{
	if (snd.finishing || ++snd.idle_s < SEND_IDLE_S)
		return ERR_OK;
	return send_abort(pcb, snd.start_ns ? "no progress, aborted" : "connect timed out");
}

static err_t send_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	snd.start_ns = arch_time_ns();
	snd.idle_s = 0;
	tcp_nagle_disable(pcb);
	if (send_more(pcb) != ERR_OK)
		return send_abort(pcb, "send failed");
	return ERR_OK;
}

int net_send_args(const char *addr, const char *port_str, const char *bytes_str, u32 *dst_be,
		  u16 *port, u64 *bytes)
{
	u32 a;
	s64 p = parse_size(port_str), n = parse_size(bytes_str);
	if (!net_up()) {
		hv_printf("error: networking is off (see 'info network')\n");
		return -1;
	}
	if (parse_ipv4(addr, &a) || !a || a == 0xffffffffu || p < 1 || p > 65535) {
		hv_printf("error: net_send wants a host address A.B.C.D and a port 1-65535\n");
		return -1;
	}
	if (n < 1 || (u64)n > SEND_MAX) {
		hv_printf("error: net_send sends 1 byte to 1 TiB (suffixes K, M, G allowed)\n");
		return -1;
	}
	*dst_be = lwip_htonl(a);
	*port = (u16)p;
	*bytes = (u64)n;
	return 0;
}

void net_send(const char *addr, const char *port_str, const char *bytes_str)
{
	ip_addr_t dst;
	u32 dst_be;
	u16 port;
	u64 bytes;
	if (net_send_args(addr, port_str, bytes_str, &dst_be, &port, &bytes))
		return;
	ip_addr_set_ip4_u32(&dst, dst_be);
	if (snd.pcb) {
		hv_printf("error: a net_send to %s is still running\n", snd.peer);
		return;
	}
	struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
	if (!pcb) {
		hv_printf("error: net_send: out of TCP PCBs\n");
		return;
	}
	snd.pcb = pcb;
	snd.total = bytes;
	snd.queued = snd.acked = 0;
	snd.start_ns = 0;
	snd.finishing = false;
	snd.idle_s = 0;
	char ip[16];
	ip4addr_ntoa_r(ip_2_ip4(&dst), ip, sizeof(ip));
	snprintf(snd.peer, sizeof(snd.peer), "%s:%u", ip, (unsigned)port);
	tcp_arg(pcb, NULL);
	tcp_sent(pcb, send_sent);
	tcp_recv(pcb, send_recv);
	tcp_err(pcb, send_err);
	tcp_poll(pcb, send_poll, POLL_INTERVAL);
	err_t err = tcp_connect(pcb, &dst, port, send_connected);
	if (err != ERR_OK) {
		snd.pcb = NULL;
		tcp_err(pcb, NULL);
		tcp_abort(pcb);
		hv_printf("error: net_send: cannot connect (lwIP error %d)\n", err);
		return;
	}
	hv_printf("net_send: connecting to %s, %lu bytes\n", snd.peer, snd.total);
}

void tcp_test_info(void)
{
	int open = 0;
	for (int i = 0; i < SINK_CONNS; i++)
		open += sinks[i].pcb != NULL;
	hv_printf("  tcp sink: port %d, %d open, %lu streams done (%lu bad), %lu refused\n",
		  SINK_PORT, open, sink_streams, sink_bad, sink_refused);
	if (snd.pcb)
		hv_printf("  net_send %s: %lu of %lu bytes acknowledged\n", snd.peer, snd.acked,
			  snd.total);
}
