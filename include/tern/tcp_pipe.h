/*
 * A non-blocking byte pipe over one lwIP raw-API TCP connection
 * (net/tcp_pipe.c): what TLS (tern/tls.h) and the network console's plain
 * transport read and write. Received data waits in a pbuf chain of at most
 * rx_max_pbufs buffers; beyond that lwIP is told to keep the segment and
 * offer it again, so one connection can hold only that much of the stack's
 * receive pool and the peer sees a closing window.
 * Context: service loop (the lwIP callbacks come from net_poll()).
 */
#ifndef TERN_TCP_PIPE_H
#define TERN_TCP_PIPE_H

#include <tern/types.h>

struct tcp_pcb;
struct pbuf;

#define TCP_PIPE_CLOSED (-1) /* the peer sent FIN and everything was read (= TLS_CLOSED) */
#define TCP_PIPE_FAILED (-2) /* reset or aborted: the connection is gone */

struct tcp_pipe {
	struct tcp_pcb *pcb; /* NULL once gone or closed */
	struct pbuf *rx;     /* received, not yet read */
	bool peer_fin;       /* the peer sent FIN: nothing more will arrive */
	bool failed;         /* lwIP dropped the connection (reset, abort); pcb is gone */
	u8 rx_max_pbufs;
	u64 acked;           /* bytes the peer has acknowledged, in all */
};

/* Take over pcb's callbacks (arg, recv, err) for p. */
void tcp_pipe_attach(struct tcp_pipe *p, struct tcp_pcb *pcb, u8 rx_max_pbufs);
/* Bytes read (> 0), 0 when nothing has arrived yet, TCP_PIPE_CLOSED or _FAILED. */
long tcp_pipe_recv(void *pipe, void *buf, size_t len);
/* Bytes queued (> 0), 0 when lwIP has no room now, TCP_PIPE_FAILED. */
long tcp_pipe_send(void *pipe, const void *buf, size_t len);
/* Bytes handed to lwIP that the peer has not acknowledged yet. */
u32 tcp_pipe_unacked(const struct tcp_pipe *p);
/* Bytes the peer acknowledged so far; *unacked as tcp_pipe_unacked() (the
 * network console's transport delivery callback, tern/netcon.h). */
u64 tcp_pipe_delivery(void *pipe, u32 *unacked);
/* Close the connection (reset it if lwIP has no memory for a FIN), drop
 * what was not read; p is then empty. */
void tcp_pipe_release(struct tcp_pipe *p);

#endif
