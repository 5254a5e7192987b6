/*
 * TLS 1.2 PSK sessions for the network console (server) and Tern's own
 * encrypted streams (net/tls_stream.c: server and client), on mbedTLS built
 * by scripts/build-mbedtls.sh with net/mbedtls/tern_mbedtls_config.h.
 *
 * Three things Tern supplies to mbedTLS: memory (a capped allocator, so a
 * peer can never make TLS take more than TLS_MEM_CAP of Tern's heap),
 * entropy (RDSEED, else RDRAND, straight from the CPU; with neither the
 * console refuses to start rather than run on guessable keys) and the byte
 * pipe (non-blocking callbacks from net/netcon.c).
 *
 * Keys live in slots (enum tls_key): the console's (also used by the test
 * streams) and the migration's. Each slot has its own server and client
 * configuration holding only its own key and identity, so a server session
 * of one slot cannot complete a handshake with the other slot's key. The
 * entropy source and the DRBG are shared and set up once, by whichever key
 * comes first.
 * Context: service loop only; also builds on the host for loopback tests.
 */
#include <tern/arch.h>
#include <tern/tls.h>
#include <mbedtls/aesni.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/entropy_poll.h>
#include <mbedtls/error.h>
#include <mbedtls/platform.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * One session (context, 16 KiB in and 16 KiB out record buffers, the key
 * schedule) takes about 35 KiB, its handshake a couple more for a while.
 * At most four are open at once: the console's, a TLS sink stream, a
 * net_send stream and a migration (source or destination, one at a time);
 * tests/unit/test_tls.c measures those four at about 138 KiB. The cap was
 * 192 KiB for the first three; it is 32 KiB more for the migration, so that
 * four sessions at the rounder 40 KiB (160 KiB) and the handshakes still
 * leave a whole session's worth to spare: a migration must not be refused
 * for memory because the test streams happen to be open.
 */
#define TLS_MEM_CAP (224 * 1024)

/* What a pipe failure looks like to mbedTLS (it passes the code through). */
#define TLS_ERR_PIPE (-0x0050)

struct tls_session {
	mbedtls_ssl_context ssl;
	struct tls_pipe pipe;
	bool close_notify; /* the peer ended the session properly */
};

enum hw_rng { HW_NONE, HW_RDRAND, HW_RDSEED };

/* One key slot: its own server and client configuration. */
struct tls_key_slot {
	bool ready;
	mbedtls_ssl_config conf[2]; /* [TLS_SERVER], [TLS_CLIENT] */
};

static struct {
	bool rng_ready; /* entropy and DRBG seeded (shared by all keys) */
	enum hw_rng rng;
	bool has_rdrand;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	struct tls_key_slot key[TLS_NR_KEYS];
	size_t mem_used, mem_peak;
} tls;

/* For messages: which slot a key is. */
static const char *const key_names[TLS_NR_KEYS] = {
	[TLS_KEY_CONSOLE] = "console",
	[TLS_KEY_MIGRATE] = "migration",
};

static const int tls_suites[] = {
	MBEDTLS_TLS_PSK_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_PSK_WITH_AES_256_GCM_SHA384,
	0,
};

/* ---- memory: a size header in front of each block, a global cap ---- */

struct mem_hdr {
	size_t size;
	size_t pad; /* keeps the payload 16-byte aligned */
};

static void *tls_calloc(size_t n, size_t size)
{
	if (size && n > (TLS_MEM_CAP / size))
		return NULL;
	size_t bytes = n * size;
	if (bytes > TLS_MEM_CAP - tls.mem_used)
		return NULL;
	struct mem_hdr *h = calloc(1, sizeof(*h) + bytes);
	if (!h)
		return NULL;
	h->size = bytes;
	tls.mem_used += bytes;
	if (tls.mem_used > tls.mem_peak)
		tls.mem_peak = tls.mem_used;
	return h + 1;
}

static void tls_free(void *p)
{
	if (!p)
		return;
	struct mem_hdr *h = (struct mem_hdr *)p - 1;
	tls.mem_used -= h->size;
	/* Key material and plaintext do not outlive their block. */
	mbedtls_platform_zeroize(p, h->size);
	free(h);
}

void tls_mem_stats(size_t *used, size_t *peak, size_t *cap)
{
	*used = tls.mem_used;
	*peak = tls.mem_peak;
	*cap = TLS_MEM_CAP;
}

/* ---- entropy: the CPU's DRNG, never a weaker fallback ---- */

static enum hw_rng probe_rng(void)
{
	unsigned src = arch_rng_sources();
	tls.has_rdrand = src & ARCH_RNG_DRBG;
	if (src & ARCH_RNG_SEED)
		return HW_RDSEED;
	return tls.has_rdrand ? HW_RDRAND : HW_NONE;
}

/* One 64-bit word of hardware randomness, from the entropy source when the
 * CPU has one; false if the units keep failing. */
static bool hw_random64(u64 *v)
{
	if (tls.rng == HW_RDSEED && arch_random_seed(v))
		return true;
	return tls.has_rdrand && arch_random(v);
}

/* mbedTLS's hardware entropy hook (MBEDTLS_ENTROPY_HARDWARE_ALT). */
int mbedtls_hardware_poll(void *data, unsigned char *output, size_t len, size_t *olen)
{
	*olen = 0;
	if (tls.rng == HW_NONE)
		return MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
	while (*olen < len) {
		u64 v;
		if (!hw_random64(&v))
			return MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
		size_t n = MIN(sizeof(v), len - *olen);
		memcpy(output + *olen, &v, n);
		*olen += n;
	}
	return 0;
}

/*
 * Some CPUs have shipped RDRAND units that report success with a constant
 * (all ones after a suspend): refuse a source whose first words are equal.
 */
static bool rng_looks_alive(void)
{
	u64 first, v;
	if (!hw_random64(&first))
		return false;
	for (int i = 0; i < 3; i++) {
		if (!hw_random64(&v))
			return false;
		if (v != first)
			return true;
	}
	return false;
}

const char *tls_aes_name(void)
{
	if (!mbedtls_aesni_has_support(MBEDTLS_AESNI_AES))
		return "portable C";
	return mbedtls_aesni_has_support(MBEDTLS_AESNI_CLMUL) ? "AES-NI, PCLMULQDQ"
							      : "AES-NI, portable GHASH";
}

const char *tls_rng_name(void)
{
	return tls.rng == HW_RDSEED ? "RDSEED" : tls.rng == HW_RDRAND ? "RDRAND" : "none";
}

/* ---- setup ---- */

/* Both ends speak the same: TLS 1.2, PSK with AES-GCM, one key and identity. */
static int config_role(mbedtls_ssl_config *c, enum tls_role role, const u8 *psk, size_t psk_len,
		       const char *identity)
{
	int rc = mbedtls_ssl_config_defaults(c, role == TLS_CLIENT ? MBEDTLS_SSL_IS_CLIENT
								   : MBEDTLS_SSL_IS_SERVER,
					     MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (rc)
		return rc;
	mbedtls_ssl_conf_min_version(c, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(c, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(c, tls_suites);
	mbedtls_ssl_conf_rng(c, mbedtls_ctr_drbg_random, &tls.drbg);
	/* No PSK callback: the server accepts this one identity and key only. */
	return mbedtls_ssl_conf_psk(c, psk, psk_len, (const unsigned char *)identity,
				    strlen(identity));
}

/*
 * The entropy source and the DRBG, once for all keys. A failure leaves
 * nothing behind, so a later key tries again (and fails the same way on
 * the same CPU).
 */
static int rng_init(char *why, size_t why_len)
{
	if (tls.rng_ready)
		return 0;
	tls.rng = probe_rng();
	if (tls.rng == HW_NONE) {
		snprintf(why, why_len, "this CPU has neither RDSEED nor RDRAND, and Tern has no other "
			 "entropy source it trusts for keys");
		return -1;
	}
	if (!rng_looks_alive()) {
		snprintf(why, why_len, "the CPU's %s fails or returns constant values",
			 tls.rng == HW_RDSEED ? "RDSEED/RDRAND" : "RDRAND");
		tls.rng = HW_NONE;
		return -1;
	}
	mbedtls_platform_set_calloc_free(tls_calloc, tls_free);
	mbedtls_entropy_init(&tls.entropy); /* adds mbedtls_hardware_poll as a strong source */
	mbedtls_ctr_drbg_init(&tls.drbg);
	static const char pers[] = "tern netcon";
	int rc = mbedtls_ctr_drbg_seed(&tls.drbg, mbedtls_entropy_func, &tls.entropy,
				       (const unsigned char *)pers, sizeof(pers) - 1);
	if (rc) {
		tls_strerror(rc, why, why_len);
		mbedtls_ctr_drbg_free(&tls.drbg);
		mbedtls_entropy_free(&tls.entropy);
		tls.rng = HW_NONE;
		return -1;
	}
	tls.rng_ready = true;
	return 0;
}

bool tls_key_ready(enum tls_key key)
{
	return (unsigned)key < TLS_NR_KEYS && tls.key[key].ready;
}

bool tls_ready(void)
{
	return tls_key_ready(TLS_KEY_CONSOLE);
}

/* True if another slot already holds this very key: then its holder could
 * read this slot's sessions, which is what separate slots exist to prevent. */
static bool key_used_elsewhere(enum tls_key key, const u8 *psk, size_t psk_len)
{
	for (int k = 0; k < TLS_NR_KEYS; k++) {
		const mbedtls_ssl_config *c = &tls.key[k].conf[TLS_SERVER];
		if (k != (int)key && tls.key[k].ready && c->psk_len == psk_len &&
		    !memcmp(c->psk, psk, psk_len))
			return true;
	}
	return false;
}

int tls_add_key(enum tls_key key, const u8 *psk, size_t psk_len, const char *identity, char *why,
		size_t why_len)
{
	int rc;
	if ((unsigned)key >= TLS_NR_KEYS) {
		snprintf(why, why_len, "no such TLS key slot (%d)", (int)key);
		return -1;
	}
	struct tls_key_slot *slot = &tls.key[key];
	if (slot->ready) {
		snprintf(why, why_len, "the %s key is already set up", key_names[key]);
		return -1;
	}
	if (!psk || !psk_len || !identity || !*identity) {
		snprintf(why, why_len, "no pre-shared key or identity");
		return -1;
	}
	if (psk_len > MBEDTLS_PSK_MAX_LEN) {
		snprintf(why, why_len, "the pre-shared key is longer than %d bytes",
			 MBEDTLS_PSK_MAX_LEN);
		return -1;
	}
	if (key_used_elsewhere(key, psk, psk_len)) {
		snprintf(why, why_len, "the %s key must differ from the other keys", key_names[key]);
		return -1;
	}
	if (rng_init(why, why_len))
		return -1;
	mbedtls_ssl_config_init(&slot->conf[TLS_SERVER]);
	mbedtls_ssl_config_init(&slot->conf[TLS_CLIENT]);
	for (int role = TLS_SERVER; role <= TLS_CLIENT; role++) {
		rc = config_role(&slot->conf[role], role, psk, psk_len, identity);
		if (rc)
			goto fail;
	}
	slot->ready = true;
	return 0;
fail:
	tls_strerror(rc, why, why_len);
	mbedtls_ssl_config_free(&slot->conf[TLS_SERVER]);
	mbedtls_ssl_config_free(&slot->conf[TLS_CLIENT]);
	return -1;
}

int tls_init(const u8 *psk, size_t psk_len, const char *identity, char *why, size_t why_len)
{
	return tls_add_key(TLS_KEY_CONSOLE, psk, psk_len, identity, why, why_len);
}

/* ---- sessions ---- */

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct tls_session *s = ctx;
	long n = s->pipe.send(s->pipe.ctx, buf, MIN(len, (size_t)INT32_MAX));
	if (n > 0)
		return (int)n;
	return n == 0 ? MBEDTLS_ERR_SSL_WANT_WRITE : TLS_ERR_PIPE;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct tls_session *s = ctx;
	long n = s->pipe.recv(s->pipe.ctx, buf, MIN(len, (size_t)INT32_MAX));
	if (n > 0)
		return (int)n;
	return n == 0 ? MBEDTLS_ERR_SSL_WANT_READ : 0; /* 0: end of stream for mbedTLS */
}

struct tls_session *tls_session_new_key(const struct tls_pipe *pipe, enum tls_role role,
				       enum tls_key key)
{
	if (!tls_key_ready(key) || (role != TLS_SERVER && role != TLS_CLIENT) || !pipe ||
	    !pipe->send || !pipe->recv)
		return NULL;
	struct tls_session *s = tls_calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->pipe = *pipe;
	mbedtls_ssl_init(&s->ssl);
	if (mbedtls_ssl_setup(&s->ssl, &tls.key[key].conf[role])) {
		tls_session_free(s);
		return NULL;
	}
	mbedtls_ssl_set_bio(&s->ssl, s, bio_send, bio_recv, NULL);
	return s;
}

struct tls_session *tls_session_new(const struct tls_pipe *pipe, enum tls_role role)
{
	return tls_session_new_key(pipe, role, TLS_KEY_CONSOLE);
}

void tls_session_free(struct tls_session *s)
{
	if (!s)
		return;
	mbedtls_ssl_free(&s->ssl);
	tls_free(s);
}

static bool want_io(int rc)
{
	return rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE;
}

int tls_handshake(struct tls_session *s)
{
	int rc = mbedtls_ssl_handshake(&s->ssl);
	if (want_io(rc))
		return TLS_AGAIN;
	return rc;
}

long tls_read(struct tls_session *s, void *buf, size_t len)
{
	int rc = mbedtls_ssl_read(&s->ssl, buf, MIN(len, (size_t)INT32_MAX));
	if (rc > 0)
		return rc;
	if (want_io(rc))
		return 0;
	if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
		s->close_notify = true;
	if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || rc == MBEDTLS_ERR_SSL_CONN_EOF)
		return TLS_CLOSED;
	return rc;
}

bool tls_got_close_notify(const struct tls_session *s)
{
	return s->close_notify;
}

bool tls_pending(struct tls_session *s)
{
	return mbedtls_ssl_check_pending(&s->ssl) != 0;
}

long tls_write(struct tls_session *s, const void *buf, size_t len)
{
	/* One record at most; the same (buf, len) yields the same cut on a retry. */
	int rc = mbedtls_ssl_write(&s->ssl, buf, MIN(len, (size_t)MBEDTLS_SSL_OUT_CONTENT_LEN));
	if (rc > 0)
		return rc;
	if (want_io(rc))
		return 0;
	return rc ? rc : TLS_ERR_PIPE;
}

int tls_close_notify(struct tls_session *s)
{
	int rc = mbedtls_ssl_close_notify(&s->ssl);
	return want_io(rc) ? TLS_AGAIN : rc;
}

const char *tls_ciphersuite(const struct tls_session *s)
{
	return mbedtls_ssl_get_ciphersuite(&s->ssl);
}

const char *tls_strerror(long err, char *buf, size_t len)
{
	const char *plain = NULL;
	switch (err) {
	case TLS_CLOSED:
	case MBEDTLS_ERR_SSL_CONN_EOF:
		plain = "the peer closed the connection";
		break;
	case TLS_ERR_PIPE:
		plain = "the connection was lost";
		break;
	case MBEDTLS_ERR_SSL_INVALID_MAC:
		plain = "wrong key (the peer's Finished message does not verify)";
		break;
	case MBEDTLS_ERR_SSL_UNKNOWN_IDENTITY:
		plain = "unknown PSK identity";
		break;
	case MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN:
		plain = "no common ciphersuite (Tern offers PSK with AES-GCM only)";
		break;
	case MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION:
		plain = "unsupported protocol version (Tern speaks TLS 1.2 only)";
		break;
	case MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO:
	case MBEDTLS_ERR_SSL_INVALID_RECORD:
		plain = "not a TLS 1.2 client (no valid ClientHello)";
		break;
	case MBEDTLS_ERR_SSL_ALLOC_FAILED:
		plain = "out of TLS memory";
		break;
	}
	if (plain) {
		snprintf(buf, len, "%s", plain);
		return buf;
	}
	char detail[96];
	mbedtls_strerror((int)err, detail, sizeof(detail));
	snprintf(buf, len, "%s (-0x%04lx)", detail, (unsigned long)-err);
	return buf;
}
