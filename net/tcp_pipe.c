/*
 * A non-blocking byte pipe over an lwIP raw TCP connection (tern/tcp_pipe.h).
 * lwIP hands received pbufs to on_recv(); they wait in p->rx until read,
 * and the receive window reopens only by what was read, so a reader that
 * falls behind slows the peer down instead of filling Tern's memory.
 */
#include <tern/tcp_pipe.h>
#include <string.h>
#include "lwip/pbuf.h"
#include "lwip/tcp.h"

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *b, err_t err)
{
	struct tcp_pipe *p = arg;
	if (!b) {
		if (p)
			p->peer_fin = true;
		return ERR_OK;
	}
	if (!p || err != ERR_OK) { /* not ours (any more): drop it */
		tcp_recved(pcb, b->tot_len);
		pbuf_free(b);
		return ERR_OK;
	}
	if (p->rx && pbuf_clen(p->rx) >= p->rx_max_pbufs)
		return ERR_MEM; /* lwIP keeps b and offers it again later */
	if (p->rx)
		pbuf_cat(p->rx, b);
	else
		p->rx = b;
	return ERR_OK;
}

/* The peer acknowledged len more bytes: proof that it is still there and reading. */
static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16 len)
{
	struct tcp_pipe *p = arg;
	if (p)
		p->acked += len;
	return ERR_OK;
}

/* lwIP has already freed the pcb (reset by the peer, or out of memory). */
static void on_err(void *arg, err_t err)
{
	struct tcp_pipe *p = arg;
	if (!p)
		return;
	p->pcb = NULL;
	p->failed = true;
}

void tcp_pipe_attach(struct tcp_pipe *p, struct tcp_pcb *pcb, u8 rx_max_pbufs)
{
	memset(p, 0, sizeof(*p));
	p->pcb = pcb;
	p->rx_max_pbufs = rx_max_pbufs;
	tcp_arg(pcb, p);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
}

long tcp_pipe_recv(void *pipe, void *buf, size_t len)
{
	struct tcp_pipe *p = pipe;
	if (p->rx) {
		u16 n = pbuf_copy_partial(p->rx, buf, (u16)MIN(len, 0xffffu), 0);
		p->rx = pbuf_free_header(p->rx, n);
		if (p->pcb)
			tcp_recved(p->pcb, n); /* reopen the window by what was consumed */
		return n;
	}
	if (p->failed)
		return TCP_PIPE_FAILED;
	return p->peer_fin || !p->pcb ? TCP_PIPE_CLOSED : 0;
}

long tcp_pipe_send(void *pipe, const void *buf, size_t len)
{
	struct tcp_pipe *p = pipe;
	if (!p->pcb)
		return TCP_PIPE_FAILED;
	u16 n = (u16)MIN(len, (size_t)tcp_sndbuf(p->pcb));
	if (!n)
		return 0;
	err_t e = tcp_write(p->pcb, buf, n, TCP_WRITE_FLAG_COPY);
	if (e == ERR_MEM)
		return 0; /* lwIP's queue or heap is full: again after some ACKs */
	if (e != ERR_OK)
		return TCP_PIPE_FAILED;
	tcp_output(p->pcb);
	return n;
}

u32 tcp_pipe_unacked(const struct tcp_pipe *p)
{
	if (!p->pcb)
		return 0;
	return (u32)(TCP_SND_BUF - tcp_sndbuf(p->pcb));
}

u64 tcp_pipe_delivery(void *pipe, u32 *unacked)
{
	struct tcp_pipe *p = pipe;
	*unacked = tcp_pipe_unacked(p);
	return p->acked;
}

void tcp_pipe_release(struct tcp_pipe *p)
{
	if (p->pcb) {
		tcp_arg(p->pcb, NULL);
		tcp_recv(p->pcb, NULL); /* lwIP's default drops late data and closes on FIN */
		tcp_sent(p->pcb, NULL);
		tcp_err(p->pcb, NULL);
		if (tcp_close(p->pcb) != ERR_OK)
			tcp_abort(p->pcb);
	}
	if (p->rx)
		pbuf_free(p->rx);
	memset(p, 0, sizeof(*p));
}
