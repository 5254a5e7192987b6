/*
 * The network console (docs/network-console.md): the serial console's
 * commands over TCP, protected by TLS 1.2 with a pre-shared key.
 *
 * Two layers. net/netcon_session.c is pure: one connection's line protocol
 * over an abstract transport (handshake, read, write that never wait), with
 * bounded buffers, bounded work per poll and the timeouts; it is unit-tested
 * on the host. net/netcon.c binds it to lwIP's raw TCP API and to TLS
 * (tern/tls.h): listening, one connection served at a time, the others
 * waiting in a short queue, logging.
 *
 * Protocol: after the handshake Tern sends a greeting line and the prompt
 * CON_PROMPT. The client sends a command line (LF or CR LF); Tern answers
 * with the command's output, always ending in a newline, then the prompt at
 * the start of a line. "quit" or "exit" ends the session.
 */
#ifndef TERN_NETCON_H
#define TERN_NETCON_H

#include <tern/console.h>
#include <tern/types.h>

struct hv_config;

/* ---- the service (net/netcon.c); context: service loop ---- */

/* Start listening on cfg->netcon_port if a key (or netcon_plain) is given;
 * then load the migration's key (migrate_psk=) into its TLS slot, if given. */
void netcon_init(const struct hv_config *cfg);
/* Serve the console connections: bounded work, call every loop iteration. */
void netcon_poll(void);
/*
 * An event the operator must see wherever they are (a migration completed
 * or failed): the line (ending in a newline) goes to the connected client,
 * if any, followed by a fresh prompt, as the serial console shows it.
 */
void netcon_notify(const char *line);

/* ---- one session (net/netcon_session.c, pure) ---- */

#define NETCON_OUT_MAX 16384   /* one answer; a longer one is cut with a note */
#define NETCON_IN_CHUNK 512    /* bytes read per poll at most */
#define NETCON_WRITE_CHUNK 4096 /* bytes handed to the transport per write */
#define NETCON_HANDSHAKE_S 10
#define NETCON_HANDSHAKE_NS (NETCON_HANDSHAKE_S * 1000000000ULL)
#define NETCON_IDLE_NS (300ULL * 1000000000)  /* no complete line for 5 minutes */
#define NETCON_FAREWELL_NS (5ULL * 1000000000) /* time to deliver a last message */
#define NETCON_STALL_S 10
#define NETCON_STALL_NS (NETCON_STALL_S * 1000000000ULL) /* owed bytes that make no progress */
#define NETCON_GREETING "Tern network console; type 'help', 'quit' to leave\n"

/*
 * The transport under the line protocol (TLS or plain TCP). handshake:
 * 0 done, > 0 call again later, < 0 failed (NULL: there is none). read:
 * bytes (> 0), 0 nothing yet, NETCON_IO_CLOSED when the client ended the
 * stream in order, other values < 0 on failure. write: bytes taken (> 0),
 * 0 no room (call again later with the same buffer and length), < 0 failed.
 */
#define NETCON_IO_CLOSED (-1) /* equals TLS_CLOSED */
struct netcon_transport {
	int (*handshake)(void *ctx);
	long (*read)(void *ctx, void *buf, size_t len);
	long (*write)(void *ctx, const void *buf, size_t len);
	void *ctx;
	/* Optional: what the network has delivered. Bytes the peer acknowledged
	 * so far, and in *unacked the bytes written below the session that it
	 * has not acknowledged yet (the TCP connection under TLS). A write only
	 * hands bytes to TCP; a client that died or stopped reading shows in
	 * acknowledgements that stop, not in writes that fail. */
	u64 (*delivery)(void *link, u32 *unacked);
	void *link;
};

struct netcon_session;
/* Run one command line; the answer goes through netcon_session_out(). */
typedef void (*netcon_run_fn)(void *ctx, struct netcon_session *s, char *line);

enum netcon_state { NETCON_HANDSHAKE, NETCON_OPEN, NETCON_CLOSING, NETCON_DONE };

enum netcon_end {
	NETCON_END_NONE,
	NETCON_END_PEER,              /* the client closed */
	NETCON_END_QUIT,              /* the client said quit */
	NETCON_END_HANDSHAKE,         /* the handshake failed: err */
	NETCON_END_HANDSHAKE_TIMEOUT, /* no handshake within NETCON_HANDSHAKE_NS */
	NETCON_END_IDLE,              /* no command for NETCON_IDLE_NS */
	NETCON_END_STALLED,           /* took or acknowledged no answer byte for NETCON_STALL_NS */
	NETCON_END_ERROR,             /* the transport failed: err */
};

struct netcon_session {
	enum netcon_state state;
	enum netcon_end end;
	long err;                 /* the transport's code for END_HANDSHAKE / END_ERROR */
	struct netcon_transport io;
	netcon_run_fn run;
	void *run_ctx;
	u64 started_ns, opened_ns, last_line_ns, closing_ns;
	struct con_line line;
	u8 in[NETCON_IN_CHUNK];
	u32 in_pos, in_len;
	char out[NETCON_OUT_MAX];
	u32 out_len, out_sent;
	u32 out_inflight;         /* length of a write the transport asked to repeat */
	bool out_truncated;
	u64 commands, bytes_in, bytes_out;
	u64 stall_since_ns, stall_progress; /* answer progress, for NETCON_STALL_NS */
};

void netcon_session_init(struct netcon_session *s, const struct netcon_transport *io,
			 netcon_run_fn run, void *run_ctx, u64 now_ns);
/* Do a bounded step of work; false once the session is over (s->end says why). */
bool netcon_session_poll(struct netcon_session *s, u64 now_ns);
/* Append to the answer being built (from the run callback). */
void netcon_session_out(struct netcon_session *s, const char *buf, size_t len);
const char *netcon_end_name(enum netcon_end end);

#endif
