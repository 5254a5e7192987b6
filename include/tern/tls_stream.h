/*
 * Encrypted test streams (net/tls_stream.c, docs/network.md): the TLS 1.2
 * PSK twins of the TCP sink and net_send, carrying the same test pattern
 * (tern/tcp_pattern.h), so that what encryption costs on Tern's own network
 * path is measured and every byte is checked. Both use the network
 * console's key and identity (netcon_psk=, netcon_psk_id=).
 * Context: service loop.
 */
#ifndef TERN_TLS_STREAM_H
#define TERN_TLS_STREAM_H

#include <tern/types.h>

#define TLS_SINK_PORT 5002

/* Listen on TLS_SINK_PORT; call once, after tls_init() succeeded. */
void tls_stream_init(void);
/* Drive the handshakes, reads and writes; cheap when nothing runs. */
void tls_stream_poll(void);
/* `net_send ADDR PORT BYTES tls`: one outgoing stream; prints its answer. */
void tls_stream_send(const char *addr, const char *port, const char *bytes);
/* The TLS lines of `info network`. */
void tls_stream_info(void);

#endif
