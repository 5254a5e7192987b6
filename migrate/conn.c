/*
 * The migration connection: one lwIP TCP connection carried by tcp_pipe
 * (non-blocking, ACK counting), with TLS 1.2 PSK on top by default (the
 * stream is all of the guest's memory; key slot TLS_KEY_MIGRATE, boot
 * option migrate_psk=). The receive side may hold up to RX_PBUFS buffers:
 * the destination reads it all every poll, so the window stays open at
 * link speed.
 */
#include <tern/arch.h>
#include <tern/tls.h>
#include <stdio.h>
#include <string.h>
#include "engine.h"
#include "lwip/ip_addr.h"
#include "lwip/tcp.h"

#define RX_PBUFS 48

static int start_tls(struct mig_conn *c, enum tls_role role)
{
	if (!c->secure)
		return 0;
	struct tls_pipe pipe = { .send = tcp_pipe_send, .recv = tcp_pipe_recv, .ctx = &c->pipe };
	c->tls = tls_session_new_key(&pipe, role, TLS_KEY_MIGRATE);
	return c->tls ? 0 : -1;
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct mig_conn *c = arg;
	if (!c || c->connecting != pcb)
		return ERR_ABRT;
	c->connecting = NULL;
	tcp_pipe_attach(&c->pipe, pcb, RX_PBUFS);
	tcp_nagle_disable(pcb);
	c->open = true;
	c->last_rx_ns = arch_time_ns();
	if (start_tls(c, TLS_CLIENT))
		snprintf(c->tls_error, sizeof(c->tls_error), "TLS: out of memory for a session");
	return ERR_OK;
}

/* Before the connection is up: refused, unreachable, or aborted. */
static void on_connect_err(void *arg, err_t err)
{
	struct mig_conn *c = arg;
	if (!c)
		return;
	c->connecting = NULL;
	c->refused = true;
}

int mig_conn_connect(struct mig_conn *c, u32 addr_be, u16 port, bool secure, char *why, size_t len)
{
	memset(c, 0, sizeof(*c));
	c->secure = secure;
	ip_addr_t dst;
	ip_addr_set_ip4_u32(&dst, addr_be);
	struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
	if (!pcb) {
		snprintf(why, len, "out of TCP connections");
		return -1;
	}
	tcp_arg(pcb, c);
	tcp_err(pcb, on_connect_err);
	c->connecting = pcb;
	err_t e = tcp_connect(pcb, &dst, port, on_connected);
	if (e != ERR_OK) {
		tcp_err(pcb, NULL);
		tcp_abort(pcb);
		c->connecting = NULL;
		snprintf(why, len, "cannot connect (lwIP error %d)", e);
		return -1;
	}
	return 0;
}

int mig_conn_accept(struct mig_conn *c, struct tcp_pcb *pcb, bool secure)
{
	memset(c, 0, sizeof(*c));
	c->secure = secure;
	tcp_pipe_attach(&c->pipe, pcb, RX_PBUFS);
	if (start_tls(c, TLS_SERVER)) {
		tcp_arg(pcb, NULL);
		memset(c, 0, sizeof(*c));
		return -1;
	}
	tcp_nagle_disable(pcb);
	c->open = true;
	c->last_rx_ns = arch_time_ns();
	return 0;
}

int mig_conn_progress(struct mig_conn *c)
{
	if (c->ready)
		return 1;
	if (!c->open)
		return 0;
	if (c->tls_error[0])
		return -1;
	if (!c->tls) {
		c->ready = true;
		return 1;
	}
	int rc = tls_handshake(c->tls);
	if (rc == TLS_AGAIN)
		return 0;
	if (rc < 0) {
		char e[80];
		snprintf(c->tls_error, sizeof(c->tls_error), "TLS handshake failed: %s (wrong key?)",
			 tls_strerror(rc, e, sizeof(e)));
		return -1;
	}
	c->ready = true;
	c->last_rx_ns = arch_time_ns();
	return 1;
}

long mig_conn_send(struct mig_conn *c, const void *buf, size_t len)
{
	if (!c->open)
		return TCP_PIPE_FAILED;
	if (!c->tls)
		return tcp_pipe_send(&c->pipe, buf, len);
	long n = tls_write(c->tls, buf, len);
	return n < 0 ? TCP_PIPE_FAILED : n;
}

long mig_conn_recv(struct mig_conn *c, void *buf, size_t len)
{
	if (!c->open)
		return TCP_PIPE_FAILED;
	long n = c->tls ? tls_read(c->tls, buf, len) : tcp_pipe_recv(&c->pipe, buf, len);
	if (n > 0)
		c->last_rx_ns = arch_time_ns();
	else if (c->tls && n < 0)
		n = n == TLS_CLOSED ? TCP_PIPE_CLOSED : TCP_PIPE_FAILED;
	return n;
}

u32 mig_conn_unacked(struct mig_conn *c)
{
	return c->open ? tcp_pipe_unacked(&c->pipe) : 0;
}

bool mig_conn_failed(const struct mig_conn *c)
{
	return c->refused || (c->open && c->pipe.failed);
}

void mig_conn_close(struct mig_conn *c)
{
	if (c->connecting) {
		tcp_arg(c->connecting, NULL);
		tcp_err(c->connecting, NULL);
		tcp_abort(c->connecting);
	}
	if (c->tls)
		tls_session_free(c->tls);
	if (c->open)
		tcp_pipe_release(&c->pipe);
	memset(c, 0, sizeof(*c));
}
