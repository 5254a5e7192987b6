/*
 * Fuzz target: the TLS record layer as the network console's server sees it
 * (net/tls.c on mbedTLS built from Tern's sources and configuration, over a
 * fake pipe). The input is what a client sends, cut into chunks: each chunk
 * is a 16-bit little-endian length and that many bytes, handed to the
 * server at once, after which the server runs its handshake or reads (and
 * answers what it read) until it has nothing more to do.
 *
 * Each input starts from a fresh tls_init() with the CPU's randomness faked
 * by a fixed sequence, so the server's random values are the same every
 * run: the seeds are recorded conversations of Tern's own client with the
 * server (ClientHello to application data and close_notify), and replaying
 * one replays the whole handshake, so mutations reach the encrypted records.
 * Invariants: no crash, leak or sanitizer report; each call returns within
 * its contract (a read never more than asked); the server's output and its
 * TLS memory stay bounded (the cap) and all of it comes back once the
 * session and the configuration are freed; no call loops without progress.
 */
#include "../../net/tls.c"
#include "fuzz.h"

#define MAX_OUT (1u << 20) /* what the server may send for one input */
#define STEPS_PER_CHUNK 16

static const u8 key[32] = "tern fuzz pre-shared key 0123456";

/* ---- the CPU's randomness: xorshift64 from a fixed start per input ---- */
static u64 rng_state;

static u64 rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}
unsigned arch_rng_sources(void) { return ARCH_RNG_SEED | ARCH_RNG_DRBG; }
bool arch_random_seed(u64 *v) { *v = rng_next(); return true; }
bool arch_random(u64 *v) { *v = rng_next(); return true; }

/* ---- the pipe: client bytes waiting for the server, and what it sent ---- */
static u8 inbox[1 << 16];
static size_t inbox_len;
static size_t sent;
static bool peer_gone;

static long srv_send(void *ctx, const void *buf, size_t len)
{
	CHECK(len > 0);
	sent += len;
	CHECK(sent <= MAX_OUT);
	return (long)len;
}

static long srv_recv(void *ctx, void *buf, size_t len)
{
	CHECK(len > 0);
	if (!inbox_len)
		return peer_gone ? -1 : 0;
	size_t n = MIN(len, inbox_len);
	memcpy(buf, inbox, n);
	memmove(inbox, inbox + n, inbox_len - n);
	inbox_len -= n;
	return (long)n;
}

static const struct tls_pipe pipe_ops = { srv_send, srv_recv, NULL };

static void tls_setup(void)
{
	char why[128];
	rng_state = 0x243f6a8885a308d3ull;
	if (tls_init(key, sizeof(key), "tern", why, sizeof(why))) {
		fprintf(stderr, "tls_init: %s\n", why);
		abort();
	}
}

static void tls_teardown(void)
{
	mbedtls_ssl_config_free(&tls.key[TLS_KEY_CONSOLE].conf[TLS_SERVER]);
	mbedtls_ssl_config_free(&tls.key[TLS_KEY_CONSOLE].conf[TLS_CLIENT]);
	mbedtls_ctr_drbg_free(&tls.drbg);
	mbedtls_entropy_free(&tls.entropy);
	CHECK(tls.mem_used == 0); /* every block of TLS memory came back */
	CHECK(tls.mem_peak <= TLS_MEM_CAP);
	memset(&tls, 0, sizeof(tls));
}

/* The server does what it can with what it has: false once the session is over. */
static bool serve(struct tls_session *s, bool *up)
{
	for (int step = 0; step < STEPS_PER_CHUNK; step++) {
		if (!*up) {
			int rc = tls_handshake(s);
			if (rc < 0)
				return false;
			if (rc == TLS_AGAIN)
				return true;
			CHECK(rc == 0);
			*up = true;
			if (getenv("FUZZ_TLS_VERBOSE")) /* how far does an input get? */
				fprintf(stderr, "fuzz_tls_server: handshake done\n");
			CHECK(strstr(tls_ciphersuite(s), "PSK-WITH-AES-"));
			continue;
		}
		u8 buf[512];
		long n = tls_read(s, buf, sizeof(buf));
		if (n == 0)
			return true;
		if (n < 0)
			return false;
		CHECK((size_t)n <= sizeof(buf));
		/* Answer like the console does: a write as long as the command. */
		long w = tls_write(s, buf, (size_t)n);
		CHECK(w <= n);
		if (w < 0)
			return false;
	}
	return true; /* more may follow with the next chunk, or from what is pending */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tls_setup();
	inbox_len = sent = 0;
	peer_gone = false;
	struct tls_session *s = tls_session_new(&pipe_ops, TLS_SERVER);
	CHECK(s);
	bool up = false, alive = true;
	size_t pos = 0;
	while (alive && pos + 2 <= size) {
		size_t len = (size_t)data[pos] | (size_t)data[pos + 1] << 8;
		pos += 2;
		len = MIN(len, size - pos);
		len = MIN(len, sizeof(inbox) - inbox_len);
		memcpy(inbox + inbox_len, data + pos, len);
		inbox_len += len;
		pos += len;
		alive = serve(s, &up);
	}
	if (alive) {
		/* The client goes away: the server must notice and stop. */
		peer_gone = true;
		alive = serve(s, &up);
		if (alive && up)
			(void)tls_close_notify(s);
	}
	tls_session_free(s);
	tls_teardown();
	return 0;
}

/* ---- seeds: Tern's own client talking to the server, recorded ---- */
static u8 rec[1 << 16];
static size_t rec_len;
static u8 to_client[1 << 16];
static size_t to_client_len;
static u64 client_rng_state;

static int client_rng(void *ctx, unsigned char *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		client_rng_state = client_rng_state * 6364136223846793005ull + 1442695040888963407ull;
		out[i] = (unsigned char)(client_rng_state >> 56);
	}
	return 0;
}

static long cl_send(void *ctx, const void *buf, size_t len)
{
	len = MIN(len, sizeof(rec) - rec_len - 2);
	rec[rec_len++] = (u8)len;
	rec[rec_len++] = (u8)(len >> 8);
	memcpy(rec + rec_len, buf, len);
	rec_len += len;
	/* The same bytes reach the live server as a chunk. */
	memcpy(inbox + inbox_len, buf, len);
	inbox_len += len;
	return (long)len;
}

static long cl_recv(void *ctx, void *buf, size_t len)
{
	size_t n = MIN(len, to_client_len);
	memcpy(buf, to_client, n);
	memmove(to_client, to_client + n, to_client_len - n);
	to_client_len -= n;
	return (long)n;
}

static long rec_srv_send(void *ctx, const void *buf, size_t len)
{
	len = MIN(len, sizeof(to_client) - to_client_len);
	memcpy(to_client + to_client_len, buf, len);
	to_client_len += len;
	return (long)len;
}

/* One conversation: handshake, then each line sent and echoed, then maybe close_notify. */
static void record(const char *const *lines, int n, bool close)
{
	tls_setup();
	/* The client draws from its own generator, so replaying the recording
	 * leaves the server's draws exactly as they were. */
	client_rng_state = 7;
	mbedtls_ssl_conf_rng(&tls.key[TLS_KEY_CONSOLE].conf[TLS_CLIENT], client_rng, NULL);
	static const struct tls_pipe srv_pipe = { rec_srv_send, srv_recv, NULL };
	static const struct tls_pipe cli_pipe = { cl_send, cl_recv, NULL };
	rec_len = inbox_len = to_client_len = 0;
	struct tls_session *srv = tls_session_new(&srv_pipe, TLS_SERVER);
	struct tls_session *cl = tls_session_new(&cli_pipe, TLS_CLIENT);
	CHECK(srv && cl);
	int rs = TLS_AGAIN, rc = TLS_AGAIN;
	for (int i = 0; i < 50 && (rs == TLS_AGAIN || rc == TLS_AGAIN); i++) {
		if (rc == TLS_AGAIN)
			rc = tls_handshake(cl);
		if (rs == TLS_AGAIN)
			rs = tls_handshake(srv);
	}
	CHECK(rs == 0 && rc == 0);
	char buf[512];
	for (int i = 0; i < n; i++) {
		CHECK(tls_write(cl, lines[i], strlen(lines[i])) == (long)strlen(lines[i]));
		long got = tls_read(srv, buf, sizeof(buf));
		CHECK(got == (long)strlen(lines[i]));
		CHECK(tls_write(srv, buf, (size_t)got) == got);
		CHECK(tls_read(cl, buf, sizeof(buf)) == got);
	}
	if (close)
		CHECK(tls_close_notify(cl) == 0);
	tls_session_free(cl);
	tls_session_free(srv);
	tls_teardown();
	seed_add(rec, rec_len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!seed_dir())
		return 0;
	static const char *const cmds[] = { "info status\n", "help\n", "info exits\n" };
	record(cmds, 0, false);
	record(cmds, 1, true);
	record(cmds, 3, true);
	/* Not TLS at all, and a ClientHello cut short. */
	static const u8 http[] = { 18, 0, 'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P', '/',
				   '1', '.', '0', '\r', '\n', '\r', '\n' };
	seed_add(http, sizeof(http));
	static const u8 short_hello[] = { 5, 0, 0x16, 0x03, 0x03, 0x00, 0x40 };
	seed_add(short_hello, sizeof(short_hello));
	static const char *const words[] = { "\x16\x03\x03", "\x17\x03\x03", "\x15\x03\x03",
					     "\x14\x03\x03", "tern" };
	seed_dict_strings(words, ARRAY_SIZE(words));
	exit(0);
}
