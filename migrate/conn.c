/*
 * The migration connection: one lwIP TCP connection carried by tcp_pipe
 * (non-blocking, ACK counting). The receive side may hold up to RX_PBUFS
 * buffers: the destination reads it all every poll, so the window stays
 * open at link speed.
 */
#include <tern/arch.h>
#include <stdio.h>
#include <string.h>
#include "engine.h"
#include "lwip/ip_addr.h"
#include "lwip/tcp.h"

#define RX_PBUFS 48

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

int mig_conn_connect(struct mig_conn *c, u32 addr_be, u16 port, char *why, size_t len)
{
	memset(c, 0, sizeof(*c));
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

void mig_conn_accept(struct mig_conn *c, struct tcp_pcb *pcb)
{
	memset(c, 0, sizeof(*c));
	tcp_pipe_attach(&c->pipe, pcb, RX_PBUFS);
	tcp_nagle_disable(pcb);
	c->open = true;
	c->last_rx_ns = arch_time_ns();
}

long mig_conn_send(struct mig_conn *c, const void *buf, size_t len)
{
	if (!c->open)
		return TCP_PIPE_FAILED;
	return tcp_pipe_send(&c->pipe, buf, len);
}

long mig_conn_recv(struct mig_conn *c, void *buf, size_t len)
{
	if (!c->open)
		return TCP_PIPE_FAILED;
	long n = tcp_pipe_recv(&c->pipe, buf, len);
	if (n > 0)
		c->last_rx_ns = arch_time_ns();
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
	if (c->open)
		tcp_pipe_release(&c->pipe);
	memset(c, 0, sizeof(*c));
}
