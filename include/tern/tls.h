/*
 * TLS 1.2 sessions with a pre-shared key (net/tls.c, over mbedTLS): the
 * secure transport of the network console (server) and of Tern's own
 * streams to another Tern or a Linux peer (server and client, see
 * net/tls_stream.c). Non-blocking: the caller
 * supplies a byte pipe (send/recv that never wait) and calls again when
 * something returned "again". Keys sit in slots (enum tls_key), one key
 * and identity each; a session uses one slot, and a server session accepts
 * only its slot's identity and key.
 * Context: the service loop only (no locking; mbedTLS state is global here).
 */
#ifndef TERN_TLS_H
#define TERN_TLS_H

#include <tern/types.h>

/*
 * The byte pipe below TLS. send: bytes taken (> 0), 0 when there is no room
 * now, < 0 when the connection is gone. recv: bytes read (> 0), 0 when
 * nothing has arrived yet, < 0 when the peer closed or the connection is gone.
 */
struct tls_pipe {
	long (*send)(void *ctx, const void *buf, size_t len);
	long (*recv)(void *ctx, void *buf, size_t len);
	void *ctx;
};

/* Results below 0 are mbedTLS error codes; tls_strerror() explains them. */
#define TLS_AGAIN 1      /* handshake: not finished, call again later */
#define TLS_CLOSED (-1)  /* read: the peer ended the session (close_notify or EOF) */

struct tls_session;

enum tls_role { TLS_SERVER, TLS_CLIENT };

/*
 * Key slots. Separate keys keep apart who may do what: the console's key
 * (netcon_psk=, also the TLS test streams) gives a shell, the migration's
 * (migrate_psk=) carries all of a guest's memory; neither opens the other.
 */
enum tls_key { TLS_KEY_CONSOLE, TLS_KEY_MIGRATE, TLS_NR_KEYS };

/*
 * Set up slot key with psk (1 to 32 bytes, mbedTLS's limit) and identity:
 * its server and client configurations, TLS 1.2 only, PSK only, AES-GCM.
 * The first key to come also checks the hardware entropy source (RDSEED,
 * else RDRAND; never anything weaker) and seeds the DRBG, whichever slot
 * it is. Refused: a slot already set up, no key or identity, a key another
 * slot already holds. Returns 0, or -1 with a reason in why. psk and
 * identity are copied.
 */
int tls_add_key(enum tls_key key, const u8 *psk, size_t psk_len, const char *identity,
		char *why, size_t why_len);
/* True once tls_add_key(key, ...) succeeded. */
bool tls_key_ready(enum tls_key key);
/* The console key: tls_add_key(TLS_KEY_CONSOLE, ...) and tls_key_ready(TLS_KEY_CONSOLE). */
int tls_init(const u8 *psk, size_t psk_len, const char *identity, char *why, size_t why_len);
bool tls_ready(void);

/* A new session over pipe (copied) with key's slot; NULL when that key is
 * not set up or TLS memory is short. */
struct tls_session *tls_session_new_key(const struct tls_pipe *pipe, enum tls_role role,
					enum tls_key key);
/* The same with the console key. */
struct tls_session *tls_session_new(const struct tls_pipe *pipe, enum tls_role role);
void tls_session_free(struct tls_session *s);

/* Drive the handshake: 0 when done, TLS_AGAIN, or an error (< 0). */
int tls_handshake(struct tls_session *s);
/* Decrypted bytes: > 0, 0 when nothing is ready, TLS_CLOSED, or an error. */
long tls_read(struct tls_session *s, void *buf, size_t len);
/* After TLS_CLOSED: true if the peer sent close_notify, false if the
 * connection just ended (which could be a truncation). */
bool tls_got_close_notify(const struct tls_session *s);
/* True when received bytes wait inside TLS (a record read in part or whole). */
bool tls_pending(struct tls_session *s);
/*
 * Encrypt and send up to len bytes (at most one 16 KiB record): bytes taken (> 0),
 * 0 when the pipe is full, or an error. After 0, call again with the same
 * buf and len: mbedTLS keeps the half-sent record and expects them.
 */
long tls_write(struct tls_session *s, const void *buf, size_t len);
/* Tell the peer we are closing: 0 when the alert is handed to the pipe,
 * TLS_AGAIN when the pipe is full (call again), or an error. Never waits. */
int tls_close_notify(struct tls_session *s);

/* One line explaining an error from the functions above. */
const char *tls_strerror(long err, char *buf, size_t len);
/* The negotiated ciphersuite ("TLS-PSK-WITH-AES-128-GCM-SHA256"). */
const char *tls_ciphersuite(const struct tls_session *s);

/* The hardware entropy source the first key chose: "RDSEED", "RDRAND" or "none". */
const char *tls_rng_name(void);
/* How AES and GCM run: "AES-NI, PCLMULQDQ" or "portable C" (CPUID at run time). */
const char *tls_aes_name(void);
/* TLS memory: bytes in use now and at most so far (capped, see net/tls.c). */
void tls_mem_stats(size_t *used, size_t *peak, size_t *cap);

#endif
