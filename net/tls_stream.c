/*
 * Encrypted test streams (tern/tls_stream.h): a TLS sink on port 5002 that
 * checks the test pattern, and `net_send ADDR PORT BYTES tls`, a TLS client
 * that sends it. The TLS 1.2 PSK twins of net/tcp_test.c, over the same
 * non-blocking pieces the network console uses (tern/tcp_pipe.h below,
 * tern/tls.h above), driven from the service loop.
 *
 * Each report adds what TLS cost: the CPU cycles spent inside mbedTLS
 * (record encryption or decryption and handing records to lwIP) per
 * payload byte; on Bochs a cycle is an instruction, so the figure does not
 * drift with the host's load.
 *
 * One stream each way at a time: the sink refuses a second connection
 * while it serves one, and net_send refuses to start a second stream.
 * A stream that makes no progress for STREAM_IDLE_NS is cut off, so a
 * stalled peer holds nothing for long.
 */
#include <tern/arch.h>
#include <tern/log.h>
#include <tern/net.h>
#include <tern/tcp_pattern.h>
#include <tern/tcp_pipe.h>
#include <tern/tls.h>
#include <tern/tls_stream.h>
#include <stdio.h>
#include "lwip/ip4_addr.h"
#include "lwip/tcp.h"

#define STREAM_RX_PBUFS 36   /* a full receive window (32 segments) and some: lwIP's retry
				of refused data waits for its 250 ms timer, a stall */
#define STREAM_IDLE_NS (30ULL * 1000000000)    /* no progress: cut off */
#define POLL_BUDGET (32 * 1024)                /* payload bytes per poll and stream */
#define RECORD 16384                           /* MBEDTLS_SSL_OUT_CONTENT_LEN */
#define FAREWELL_NS (2ULL * 1000000000)        /* all acknowledged, the peer still silent */

/* What both directions share: the connection, TLS over it, the clock. */
struct stream {
	struct tcp_pipe io;
	struct tls_session *tls;
	bool open;          /* handshake done */
	char peer[24];      /* "A.B.C.D" (sink) or "A.B.C.D:PORT" (send) */
	u64 start_ns;       /* connection accepted, or connect() called */
	u64 last_ns;        /* the last progress */
	u64 tls_cycles;     /* spent in mbedTLS */
};

static struct {
	struct tcp_pcb *listener;
	struct stream s;     /* s.tls NULL: no stream */
	struct tcp_pattern_check check;
	u64 streams, bad, refused, failed;
	u8 buf[RECORD];
} sink;

static struct {
	struct stream s;     /* s.io.pcb NULL and !active: no stream */
	bool active;
	bool connected;
	bool closing;        /* all written; close_notify sent or pending */
	bool notified;       /* our close_notify is handed to TCP */
	u64 acked_ns;        /* when TCP had everything acknowledged (0: not yet) */
	u64 total, written;
	u32 chunk_len;       /* bytes in chunk waiting for tls_write (0: none) */
	u8 chunk[RECORD];
} snd;

/* Cycles spent in mbedTLS, counted around each call. */
#define TIMED(st, expr)                                   \
	({                                                \
		u64 t0_ = arch_cycles();                  \
		__typeof__(expr) r_ = (expr);             \
		(st)->tls_cycles += arch_cycles() - t0_;  \
		r_;                                       \
	})

static u64 cycles_per_byte_x10(const struct stream *st, u64 bytes)
{
	return bytes ? st->tls_cycles * 10 / bytes : 0;
}

static void stream_end(struct stream *st)
{
	if (st->tls)
		tls_session_free(st->tls);
	tcp_pipe_release(&st->io);
	st->tls = NULL;
	st->open = false;
}

/* Failed handshakes reach serial a few per window (a peer may loop). */
static struct log_limit failures = LOG_LIMIT("net: tls", 10ULL * 1000000000, 5);

/* Handshake until done: true when the stream may carry data now. */
static bool stream_handshake(struct stream *st, const char *who, u64 now, bool *failed)
{
	char why[96];
	*failed = false;
	if (st->open)
		return true;
	int rc = TIMED(st, tls_handshake(st->tls));
	if (rc == TLS_AGAIN) {
		if (now - st->last_ns < STREAM_IDLE_NS)
			return false;
		if (log_limit_ok(&failures, now))
			hv_log("%s: %s: no TLS handshake within 30 s\n", who, st->peer);
		*failed = true;
		return false;
	}
	if (rc < 0) {
		if (log_limit_ok(&failures, now))
			hv_log("%s: %s: TLS handshake failed: %s\n", who, st->peer,
			       tls_strerror(rc, why, sizeof(why)));
		*failed = true;
		return false;
	}
	st->open = true;
	st->last_ns = now;
	return true;
}

/* ---- the sink ---- */

static void sink_report(const char *how)
{
	struct stream *st = &sink.s;
	u64 ns = arch_time_ns() - st->start_ns, bytes = sink.check.offset;
	u64 cpb = cycles_per_byte_x10(st, bytes);
	char verdict[48];
	tcp_pattern_verdict(&sink.check, verdict, sizeof(verdict));
	sink.streams++;
	sink.bad += sink.check.bad;
	hv_log("net: tls sink: %lu bytes from %s, pattern %s, %lu ms, %lu KiB/s, "
	       "tls %lu.%lu cycles/byte%s\n", bytes, st->peer, verdict, ns / 1000000,
	       tcp_pattern_kib_per_s(bytes, ns), cpb / 10, cpb % 10, how);
}

static err_t sink_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	if (err != ERR_OK || !pcb)
		return ERR_VAL;
	if (sink.s.tls) {
		sink.refused++;
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	struct stream *st = &sink.s;
	struct tls_pipe pipe = { .send = tcp_pipe_send, .recv = tcp_pipe_recv, .ctx = &st->io };
	st->tls = tls_session_new(&pipe, TLS_SERVER);
	if (!st->tls) {
		hv_log("net: tls sink: refused a stream: out of TLS memory\n");
		sink.refused++;
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	tcp_pipe_attach(&st->io, pcb, STREAM_RX_PBUFS);
	ip4addr_ntoa_r(ip_2_ip4(&pcb->remote_ip), st->peer, sizeof(st->peer));
	st->open = false;
	st->start_ns = st->last_ns = arch_time_ns();
	st->tls_cycles = 0;
	tcp_pattern_check_init(&sink.check);
	return ERR_OK;
}

static void sink_poll(u64 now)
{
	struct stream *st = &sink.s;
	bool failed;
	if (!st->tls)
		return;
	if (!stream_handshake(st, "net: tls sink", now, &failed)) {
		if (failed) {
			sink.failed++;
			stream_end(st);
		}
		return;
	}
	for (size_t done = 0; done < POLL_BUDGET;) {
		long n = 0;
		/* Nothing new from TCP and nothing buffered: no need to ask. */
		if (st->io.rx || st->io.peer_fin || st->io.failed || tls_pending(st->tls))
			n = TIMED(st, tls_read(st->tls, sink.buf, sizeof(sink.buf)));
		if (n > 0) {
			tcp_pattern_check(&sink.check, sink.buf, (size_t)n);
			st->last_ns = now;
			done += (size_t)n;
			continue;
		}
		if (n == 0) {
			if (now - st->last_ns >= STREAM_IDLE_NS) {
				sink_report(", idle: closed by Tern");
				stream_end(st);
			}
			return;
		}
		char why[96], how[112];
		if (n == TLS_CLOSED)
			snprintf(how, sizeof(how), "%s",
				 tls_got_close_notify(st->tls) ? "" : ", ended without close_notify");
		else
			snprintf(how, sizeof(how), ", %s", tls_strerror(n, why, sizeof(why)));
		if (n == TLS_CLOSED && st->io.pcb)
			TIMED(st, tls_close_notify(st->tls)); /* answer the peer's, best effort */
		sink_report(how);
		stream_end(st);
		return;
	}
}

void tls_stream_init(void)
{
	struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
	if (!pcb || tcp_bind(pcb, IP4_ADDR_ANY, TLS_SINK_PORT) != ERR_OK) {
		if (pcb)
			tcp_abort(pcb);
		hv_printf("net: the TLS sink on port %d could not start\n", TLS_SINK_PORT);
		return;
	}
	sink.listener = tcp_listen_with_backlog(pcb, 1);
	if (!sink.listener) {
		tcp_abort(pcb);
		hv_printf("net: the TLS sink on port %d could not start\n", TLS_SINK_PORT);
		return;
	}
	tcp_accept(sink.listener, sink_accept);
}

/* ---- net_send ... tls ---- */

static void send_end(const char *why)
{
	struct stream *st = &snd.s;
	u64 ns = arch_time_ns() - st->start_ns;
	if (why) {
		hv_log("net_send: %s: %s after %lu of %lu bytes\n", st->peer, why, snd.written,
		       snd.total);
	} else {
		u64 cpb = cycles_per_byte_x10(st, snd.total);
		hv_log("net_send: %lu bytes to %s over TLS in %lu ms, %lu KiB/s, "
		       "tls %lu.%lu cycles/byte\n", snd.total, st->peer, ns / 1000000,
		       tcp_pattern_kib_per_s(snd.total, ns), cpb / 10, cpb % 10);
	}
	stream_end(st);
	snd.active = false;
}

static err_t send_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	snd.connected = true;
	snd.s.last_ns = arch_time_ns();
	tcp_nagle_disable(pcb);
	return ERR_OK;
}

/* Encrypt and hand over the stream, a record at a time, within budget. */
static bool send_data(u64 now)
{
	struct stream *st = &snd.s;
	for (size_t done = 0; snd.written < snd.total && done < POLL_BUDGET;) {
		if (!snd.chunk_len) {
			snd.chunk_len = (u32)MIN((u64)RECORD, snd.total - snd.written);
			tcp_pattern_fill(snd.chunk, snd.written, snd.chunk_len);
		}
		/* After a 0, mbedTLS wants the same buffer and length again. */
		long n = TIMED(st, tls_write(st->tls, snd.chunk, snd.chunk_len));
		if (n == 0)
			return true;
		if (n < 0) {
			char why[96];
			send_end(tls_strerror(n, why, sizeof(why)));
			return false;
		}
		snd.written += (u64)n;
		done += (size_t)n;
		st->last_ns = now;
		if ((u32)n < snd.chunk_len) { /* keep the rest at the front */
			__builtin_memmove(snd.chunk, snd.chunk + n, snd.chunk_len - (u32)n);
			snd.chunk_len -= (u32)n;
		} else {
			snd.chunk_len = 0;
		}
	}
	return true;
}

/*
 * All is encrypted: send close_notify and learn that the stream arrived.
 * The peer's own close_notify (or its FIN) comes after every record it
 * read, so it proves delivery; a peer that keeps the connection open has
 * had everything once TCP acknowledged it all and FAREWELL_NS passed.
 */
static void send_closing(u64 now)
{
	struct stream *st = &snd.s;
	char why[96];
	if (!snd.notified) { /* once: each call would send another alert */
		int rc = TIMED(st, tls_close_notify(st->tls));
		if (rc < 0) {
			send_end(tls_strerror(rc, why, sizeof(why)));
			return;
		}
		snd.notified = rc == 0;
	}
	u8 dropped[64];
	long n = TIMED(st, tls_read(st->tls, dropped, sizeof(dropped)));
	/* A reset also reads as TLS_CLOSED: only close_notify, a FIN, or all
	   acknowledged before the reset mean the stream arrived. */
	if (n == TLS_CLOSED) {
		if (tls_got_close_notify(st->tls) || !st->io.failed || snd.acked_ns)
			send_end(NULL);
		else
			send_end("reset by the peer");
		return;
	}
	if (n < 0 && !st->io.failed) {
		send_end(tls_strerror(n, why, sizeof(why)));
		return;
	}
	if (!snd.acked_ns && snd.notified && tcp_pipe_unacked(&st->io) == 0 && !st->io.failed)
		snd.acked_ns = now;
	if (st->io.failed)
		send_end(snd.acked_ns ? NULL : "reset by the peer");
	else if (snd.acked_ns && now - snd.acked_ns >= FAREWELL_NS)
		send_end(NULL);
	else if (now - st->last_ns >= STREAM_IDLE_NS)
		send_end("the peer stopped acknowledging");
}

static void send_poll(u64 now)
{
	struct stream *st = &snd.s;
	bool failed;
	if (!snd.active)
		return;
	if (snd.closing) {
		send_closing(now);
		return;
	}
	if (st->io.failed) {
		send_end(snd.connected ? "reset by the peer" : "connection refused");
		return;
	}
	if (!snd.connected) {
		if (now - st->last_ns >= STREAM_IDLE_NS)
			send_end("connect timed out");
		return;
	}
	if (!st->tls) {
		struct tls_pipe pipe = { .send = tcp_pipe_send, .recv = tcp_pipe_recv, .ctx = &st->io };
		st->tls = tls_session_new(&pipe, TLS_CLIENT);
		if (!st->tls) {
			send_end("out of TLS memory");
			return;
		}
	}
	if (!stream_handshake(st, "net_send", now, &failed)) {
		if (failed)
			send_end("no TLS session");
		return;
	}
	if (!send_data(now))
		return;
	if (snd.written < snd.total) {
		if (now - st->last_ns >= STREAM_IDLE_NS)
			send_end("no progress, aborted");
		return;
	}
	snd.closing = true;
	st->last_ns = now;
	send_closing(now);
}

void tls_stream_send(const char *addr, const char *port_str, const char *bytes_str)
{
	u32 dst_be;
	u16 port;
	u64 bytes;
	if (net_send_args(addr, port_str, bytes_str, &dst_be, &port, &bytes))
		return;
	if (!tls_ready()) {
		hv_printf("error: net_send ... tls needs the TLS key (boot with netcon_psk=)\n");
		return;
	}
	if (snd.active) {
		hv_printf("error: a net_send over TLS to %s is still running\n", snd.s.peer);
		return;
	}
	struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
	if (!pcb) {
		hv_printf("error: net_send: out of TCP PCBs\n");
		return;
	}
	ip_addr_t dst;
	ip_addr_set_ip4_u32(&dst, dst_be);
	struct stream *st = &snd.s;
	tcp_pipe_attach(&st->io, pcb, STREAM_RX_PBUFS);
	st->tls = NULL;
	st->open = false;
	st->tls_cycles = 0;
	st->start_ns = st->last_ns = arch_time_ns();
	char ip[16];
	ip4addr_ntoa_r(ip_2_ip4(&dst), ip, sizeof(ip));
	snprintf(st->peer, sizeof(st->peer), "%s:%u", ip, (unsigned)port);
	snd.total = bytes;
	snd.written = 0;
	snd.chunk_len = 0;
	snd.connected = snd.closing = false;
	snd.notified = false;
	snd.acked_ns = 0;
	err_t err = tcp_connect(pcb, &dst, port, send_connected);
	if (err != ERR_OK) {
		tcp_abort(pcb);
		st->io.pcb = NULL;
		hv_printf("error: net_send: cannot connect (lwIP error %d)\n", err);
		return;
	}
	snd.active = true;
	hv_printf("net_send: connecting to %s, %lu bytes over TLS\n", st->peer, snd.total);
}

void tls_stream_poll(void)
{
	if (!sink.listener && !snd.active)
		return;
	u64 now = arch_time_ns();
	sink_poll(now);
	send_poll(now);
}

void tls_stream_info(void)
{
	if (!sink.listener)
		return;
	size_t used, peak, cap;
	tls_mem_stats(&used, &peak, &cap);
	hv_printf("  tls sink: port %d, %d open, %lu streams done (%lu bad), %lu refused, "
		  "%lu failed handshakes\n", TLS_SINK_PORT, sink.s.tls ? 1 : 0, sink.streams,
		  sink.bad, sink.refused, sink.failed);
	if (snd.active)
		hv_printf("  net_send %s over TLS: %lu of %lu bytes encrypted\n", snd.s.peer,
			  snd.written, snd.total);
	hv_printf("  tls: AES in %s; memory %zu bytes in use, %zu at most, cap %zu\n",
		  tls_aes_name(), used, peak, cap);
}
