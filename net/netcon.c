/*
 * The network console service: lwIP's raw TCP API below, a session of the
 * line protocol (net/netcon_session.c) above, TLS 1.2 PSK (net/tls.c) or,
 * for loopback tests only, plain TCP in between. Commands run through
 * hv/console.c exactly as typed on serial; their answers are captured into
 * the session's buffer.
 *
 * One connection is served at a time; up to NETCON_SLOTS - 1 more wait,
 * untouched, in arrival order (for at most WAIT_NS), and any beyond that are
 * reset. A connection holds at most RX_MAX_PBUFS of lwIP's receive buffers;
 * more is refused to lwIP (which keeps it and retries), so neither a
 * flooding client nor a waiting one can drain the stack's pool.
 * Context: service loop (lwIP callbacks come from net_poll() in the same loop).
 */
#include <tern/arch.h>
#include <tern/cmdline.h>
#include <tern/console.h>
#include <tern/log.h>
#include <tern/net.h>
#include <tern/netcon.h>
#include <tern/tcp_pipe.h>
#include <tern/tls.h>
#include <tern/tls_stream.h>
#include <string.h>
#include "lwip/ip4_addr.h"
#include "lwip/tcp.h"

#define NETCON_SLOTS 4                     /* one served, three waiting */
/* Longest wait for a turn. Long enough to outlast any session that is
 * ending (handshake 10 s, stall 10 s after the last acknowledged byte) and
 * a dead client whose proxy keeps its connection alive for a while (QEMU's
 * user network delivers a killed client's buffered commands first). */
#define WAIT_S 120
#define WAIT_NS (WAIT_S * 1000000000ULL)
#define RX_MAX_PBUFS 8                     /* ~11 KiB of received data held per connection */
#define NETCON_KEEPALIVE_S 15             /* silence before the first probe */
#define NOISY_WINDOW_NS (10ULL * 1000000000)
#define NOISY_MAX 5                        /* refusals and failures logged per window */
#define STR(x) #x
#define XSTR(x) STR(x)

struct conn {
	bool used;
	struct tcp_pipe io;  /* the connection; io.pcb NULL once gone or closed */
	u64 arrived_ns;
	u32 seq;             /* arrival order */
	char peer[16];       /* dotted quad, for the log */
};

static struct {
	bool tls;
	struct tcp_pcb *listener;
	struct conn conns[NETCON_SLOTS];
	struct conn *active;
	bool announced;      /* the active one's "connected" line was logged */
	struct tls_session *tls_sess;
	struct netcon_session sess;
	u32 next_seq;
} nc;

/* Scanners and reconnect loops produce these lines by the thousand: a
 * few per window reach serial, the rest are counted. */
static struct log_limit noisy = LOG_LIMIT("netcon", NOISY_WINDOW_NS, NOISY_MAX);

static bool log_budget(u64 now)
{
	return log_limit_ok(&noisy, now);
}

/* ---- connections ---- */

static struct conn *free_slot(void)
{
	for (int i = 0; i < NETCON_SLOTS; i++)
		if (!nc.conns[i].used)
			return &nc.conns[i];
	return NULL;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	if (err != ERR_OK || !pcb)
		return ERR_VAL;
	char peer[16];
	ip4addr_ntoa_r(ip_2_ip4(&pcb->remote_ip), peer, sizeof(peer));
	struct conn *c = free_slot();
	if (!c) {
		if (log_budget(arch_time_ns()))
			hv_log("netcon: %s refused: the console is busy and %d more are waiting\n",
			       peer, NETCON_SLOTS - 1);
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	memset(c, 0, sizeof(*c));
	c->used = true;
	tcp_pipe_attach(&c->io, pcb, RX_MAX_PBUFS);
	c->arrived_ns = arch_time_ns();
	c->seq = nc.next_seq++;
	memcpy(c->peer, peer, sizeof(peer));
	tcp_nagle_disable(pcb); /* answers are small and interactive */
	/* A client host that vanished while idle owes nothing and sends
	 * nothing: probe it, so it cannot hold the console until the idle
	 * timeout (gone after NETCON_KEEPALIVE_S + 3 probes 5 s apart). */
	ip_set_option(pcb, SOF_KEEPALIVE);
	pcb->keep_idle = NETCON_KEEPALIVE_S * 1000;
	pcb->keep_intvl = 5000;
	pcb->keep_cnt = 3;
	if (nc.active && log_budget(c->arrived_ns))
		hv_log("netcon: %s waits: the console is serving %s\n", peer, nc.active->peer);
	return ERR_OK;
}

/* ---- transports for the session ---- */

static int tls_t_handshake(void *ctx)
{
	return tls_handshake(ctx);
}

static long tls_t_read(void *ctx, void *buf, size_t len)
{
	return tls_read(ctx, buf, len);
}

static long tls_t_write(void *ctx, const void *buf, size_t len)
{
	return tls_write(ctx, buf, len);
}

/* ---- running commands ---- */

static void answer_sink(void *ctx, const char *buf, size_t len)
{
	netcon_session_out(ctx, buf, len);
}

/* Commands that change the VM or Tern are noted on serial: who did what. */
static void audit(const struct conn *c, const char *line)
{
	char copy[CON_LINE_MAX + 1], err[80];
	struct con_parsed p;
	strncpy(copy, line, sizeof(copy) - 1);
	copy[sizeof(copy) - 1] = '\0';
	if (con_parse(copy, &p, err, sizeof(err)) <= 0)
		return;
	switch (p.cmd->id) {
	case CON_STOP:
	case CON_CONT:
	case CON_SYSTEM_RESET:
	case CON_SHUTDOWN:
	case CON_CALC_DIRTY_RATE:
	case CON_DIRTY_LOG_MODE:
	case CON_NET_SEND:
	case CON_CRASH:
		hv_log("netcon: %s: %s\n", c->peer, line);
		break;
	default:
		break;
	}
}

static void run_line(void *ctx, struct netcon_session *s, char *line)
{
	audit(ctx, line);
	con_run_line_to(line, answer_sink, s);
}

/* ---- connection life cycle ---- */

static void release(struct conn *c)
{
	tcp_pipe_release(&c->io);
	memset(c, 0, sizeof(*c));
}

static void log_failure(const struct conn *c, const char *why, u64 now)
{
	if (log_budget(now))
		hv_log("netcon: handshake from %s failed: %s\n", c->peer, why);
}

static void finish_active(u64 now)
{
	struct conn *c = nc.active;
	struct netcon_session *s = &nc.sess;
	char why[128];
	switch (s->end) {
	case NETCON_END_HANDSHAKE:
		log_failure(c, nc.tls ? tls_strerror(s->err, why, sizeof(why)) : "?", now);
		break;
	case NETCON_END_HANDSHAKE_TIMEOUT:
		log_failure(c, "no handshake within " XSTR(NETCON_HANDSHAKE_S) " s", now);
		break;
	case NETCON_END_ERROR:
		hv_log("netcon: %s: connection lost: %s\n", c->peer,
		       nc.tls ? tls_strerror(s->err, why, sizeof(why)) : "transport error");
		break;
	default:
		hv_log("netcon: %s disconnected: %s, %lu commands\n", c->peer, netcon_end_name(s->end),
		       s->commands);
	}
	if (nc.tls_sess) {
		if (s->opened_ns && c->io.pcb)
			tls_close_notify(nc.tls_sess);
		tls_session_free(nc.tls_sess);
		nc.tls_sess = NULL;
	}
	release(c);
	nc.active = NULL;
}

static struct conn *oldest_waiting(void)
{
	struct conn *best = NULL;
	for (int i = 0; i < NETCON_SLOTS; i++) {
		struct conn *c = &nc.conns[i];
		if (c->used && c != nc.active && (!best || (int32_t)(c->seq - best->seq) < 0))
			best = c;
	}
	return best;
}

/* Connections that gave up or waited too long leave the queue. */
static void expire_waiting(u64 now)
{
	for (int i = 0; i < NETCON_SLOTS; i++) {
		struct conn *c = &nc.conns[i];
		if (!c->used || c == nc.active)
			continue;
		bool gave_up = c->io.failed || (c->io.peer_fin && !c->io.rx);
		bool too_long = now - c->arrived_ns >= WAIT_NS;
		if (too_long && !gave_up && log_budget(now))
			hv_log("netcon: %s closed after waiting " XSTR(WAIT_S) " s for the console\n",
			       c->peer);
		if (gave_up || too_long)
			release(c);
	}
}

static bool start_next(u64 now)
{
	struct conn *c = oldest_waiting();
	if (!c)
		return false;
	struct netcon_transport io;
	if (nc.tls) {
		struct tls_pipe pipe = { .send = tcp_pipe_send, .recv = tcp_pipe_recv, .ctx = &c->io };
		nc.tls_sess = tls_session_new(&pipe, TLS_SERVER);
		if (!nc.tls_sess) {
			hv_log("netcon: %s closed: out of TLS memory\n", c->peer);
			release(c);
			return false;
		}
		io = (struct netcon_transport){ tls_t_handshake, tls_t_read, tls_t_write, nc.tls_sess,
						 tcp_pipe_delivery, &c->io };
	} else {
		io = (struct netcon_transport){ NULL, tcp_pipe_recv, tcp_pipe_send, &c->io,
						 tcp_pipe_delivery, &c->io };
	}
	nc.active = c;
	nc.announced = false;
	netcon_session_init(&nc.sess, &io, run_line, c, now);
	return true;
}

void netcon_poll(void)
{
	if (!nc.listener)
		return;
	u64 now = arch_time_ns();
	expire_waiting(now);
	if (!nc.active && !start_next(now))
		return;
	if (!netcon_session_poll(&nc.sess, now)) {
		finish_active(now);
		return;
	}
	if (!nc.announced && nc.sess.state != NETCON_HANDSHAKE) {
		nc.announced = true;
		u64 us = (nc.sess.opened_ns - nc.sess.started_ns) / 1000;
		if (nc.tls)
			hv_log("netcon: %s connected (%s, handshake %lu.%03lu ms)\n", nc.active->peer,
			       tls_ciphersuite(nc.tls_sess), us / 1000, us % 1000);
		else
			hv_log("netcon: %s connected (plain TCP)\n", nc.active->peer);
	}
}

void netcon_notify(const char *line)
{
	if (!nc.active || nc.sess.state != NETCON_OPEN)
		return;
	netcon_session_out(&nc.sess, line, strlen(line));
	netcon_session_out(&nc.sess, CON_PROMPT, strlen(CON_PROMPT));
}

/* ---- start ---- */

static int listen_on(u16 port)
{
	struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
	if (!pcb)
		return ERR_MEM;
	err_t e = tcp_bind(pcb, IP4_ADDR_ANY, port);
	if (e != ERR_OK) {
		tcp_abort(pcb);
		return e;
	}
	struct tcp_pcb *l = tcp_listen_with_backlog_and_err(pcb, NETCON_SLOTS, &e);
	if (!l) {
		tcp_abort(pcb);
		return e;
	}
	tcp_accept(l, on_accept);
	nc.listener = l;
	return ERR_OK;
}

static void console_init(const struct hv_config *cfg)
{
	char why[160];
	if (!cfg->netcon_plain && !cfg->netcon_psk_len)
		return; /* no key, no console: nothing to say */
	if (!net_up()) {
		hv_printf("netcon: networking is off; the network console stays closed\n");
		return;
	}
	if (cfg->netcon_plain) {
		hv_printf("netcon: WARNING: netcon_plain: port %u has NO encryption and NO "
			  "authentication:\n", cfg->netcon_port);
		hv_printf("netcon: WARNING: anyone who reaches it controls Tern. For tests on a "
			  "loopback network only.%s\n",
			  cfg->netcon_psk_len ? " netcon_psk is ignored." : "");
	} else if (tls_init(cfg->netcon_psk, cfg->netcon_psk_len, cfg->netcon_psk_id, why,
			    sizeof(why))) {
		hv_printf("netcon: the TLS console is not started: %s\n", why);
		return;
	}
	nc.tls = !cfg->netcon_plain;
	int e = listen_on(cfg->netcon_port);
	if (e != ERR_OK) {
		hv_printf("netcon: cannot listen on TCP port %u (lwIP error %d)\n", cfg->netcon_port, e);
		return;
	}
	if (nc.tls) {
		hv_printf("netcon: TLS 1.2 PSK console on TCP port %u, identity '%s', entropy from %s\n",
			  cfg->netcon_port, cfg->netcon_psk_id, tls_rng_name());
		tls_stream_init(); /* the encrypted test streams share the key */
	}
	else
		hv_printf("netcon: plain-text console on TCP port %u\n", cfg->netcon_port);
}

/*
 * The migration's key goes into its own TLS slot here, after the console's
 * (so a migration key equal to the console's is the one refused), before
 * migrate_init() listens. It does not depend on the console being on.
 */
static void migrate_key_init(const struct hv_config *cfg)
{
	char why[160];
	if (!cfg->migrate_psk_len)
		return;
	if (tls_add_key(TLS_KEY_MIGRATE, cfg->migrate_psk, cfg->migrate_psk_len,
			cfg->migrate_psk_id, why, sizeof(why)))
		hv_printf("tern: migration key '%s' not loaded: %s\n", cfg->migrate_psk_id, why);
	else
		hv_printf("tern: migration key '%s' loaded\n", cfg->migrate_psk_id);
}

void netcon_init(const struct hv_config *cfg)
{
	console_init(cfg);
	migrate_key_init(cfg);
}
