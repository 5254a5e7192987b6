/*
 * net/tls.c, the TLS 1.2 PSK sessions behind the network console, on the
 * host with mbedTLS built from the same sources and configuration as Tern's
 * (Makefile: HOST_MBEDTLS). The peer is a client written here straight on
 * mbedTLS, not through tls.c, so the verdicts do not come from the code they
 * judge: the right key and identity complete the handshake and carry bytes
 * both ways; a key that differs only in its last byte, a key one byte short
 * and a wrong identity are refused by Tern's server. Also tls_init()'s
 * refusals (no key, no or a stuck hardware RNG) and the memory cap, and that
 * all TLS memory comes back once everything is freed. The key slots: the
 * migration key works alone (no console key) and beside the console key,
 * neither key opens the other's sessions, tls_add_key()'s refusals, and the
 * worst case of sessions at once (console, two test streams, a migration)
 * fits under the cap.
 */
#include "unit.h"
#include "../../net/tls.c"

/* ---- the CPU's randomness, faked: xorshift64, or stuck at one value ---- */
static unsigned fake_sources;
static bool fake_stuck;
static u64 rng_state;

static u64 fake_next(void)
{
	if (fake_stuck)
		return 42;
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}
unsigned arch_rng_sources(void) { return fake_sources; }
bool arch_random_seed(u64 *v) { *v = fake_next(); return fake_sources & ARCH_RNG_SEED; }
bool arch_random(u64 *v) { *v = fake_next(); return fake_sources & ARCH_RNG_DRBG; }

/* ---- an in-memory connection: one byte queue each way ---- */
struct queue {
	u8 buf[1 << 16];
	size_t len;
	bool closed;
};
static struct queue to_server, to_client;

static long q_put(struct queue *q, const void *p, size_t n)
{
	n = MIN(n, sizeof(q->buf) - q->len);
	memcpy(q->buf + q->len, p, n);
	q->len += n;
	return (long)n;
}

static long q_get(struct queue *q, void *p, size_t n)
{
	if (!q->len)
		return q->closed ? -1 : 0;
	n = MIN(n, q->len);
	memcpy(p, q->buf, n);
	memmove(q->buf, q->buf + n, q->len - n);
	q->len -= n;
	return (long)n;
}

static long server_send(void *ctx, const void *b, size_t n) { return q_put(&to_client, b, n); }
static long server_recv(void *ctx, void *b, size_t n) { return q_get(&to_server, b, n); }
static long client_send(void *ctx, const void *b, size_t n) { return q_put(&to_server, b, n); }
static long client_recv(void *ctx, void *b, size_t n) { return q_get(&to_client, b, n); }
static const struct tls_pipe server_pipe = { server_send, server_recv, NULL };
static const struct tls_pipe client_pipe = { client_send, client_recv, NULL };

/* ---- the test's own client, on mbedTLS directly ---- */
struct client {
	mbedtls_ssl_config conf;
	mbedtls_ssl_context ssl;
};

static int client_rng(void *ctx, unsigned char *out, size_t len)
{
	for (size_t i = 0; i < len; i++)
		out[i] = (unsigned char)fake_next();
	return 0;
}

static int c_send(void *ctx, const unsigned char *b, size_t n)
{
	long r = client_send(ctx, b, n);
	return r ? (int)r : MBEDTLS_ERR_SSL_WANT_WRITE;
}

static int c_recv(void *ctx, unsigned char *b, size_t n)
{
	long r = client_recv(ctx, b, n);
	return r > 0 ? (int)r : r == 0 ? MBEDTLS_ERR_SSL_WANT_READ : 0;
}

static void client_open(struct client *c, const u8 *psk, size_t psk_len, const char *id)
{
	mbedtls_ssl_config_init(&c->conf);
	mbedtls_ssl_init(&c->ssl);
	CHECK_EQ(mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
					     MBEDTLS_SSL_TRANSPORT_STREAM,
					     MBEDTLS_SSL_PRESET_DEFAULT), 0);
	mbedtls_ssl_conf_rng(&c->conf, client_rng, NULL);
	CHECK_EQ(mbedtls_ssl_conf_psk(&c->conf, psk, psk_len, (const unsigned char *)id,
				      strlen(id)), 0);
	CHECK_EQ(mbedtls_ssl_setup(&c->ssl, &c->conf), 0);
	mbedtls_ssl_set_bio(&c->ssl, NULL, c_send, c_recv, NULL);
}

static void client_close(struct client *c)
{
	mbedtls_ssl_free(&c->ssl);
	mbedtls_ssl_config_free(&c->conf);
}

static bool again(int rc)
{
	return rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE;
}

/* Both handshakes in turn until neither can move; the results, 0 when done. */
static void handshake(struct tls_session *srv, struct client *c, int *srv_rc, int *cl_rc)
{
	*srv_rc = TLS_AGAIN;
	*cl_rc = MBEDTLS_ERR_SSL_WANT_READ;
	for (int i = 0; i < 50 && (*srv_rc == TLS_AGAIN || again(*cl_rc)); i++) {
		if (again(*cl_rc))
			*cl_rc = mbedtls_ssl_handshake(&c->ssl);
		if (*srv_rc == TLS_AGAIN)
			*srv_rc = tls_handshake(srv);
	}
}

/* ---- set-up and tear-down of tls.c's global state ---- */
static const u8 key[16] = { 0x5e, 0xc2, 0x37, 0x01, 0x99, 0xab, 0x10, 0x4f,
			    0x62, 0x7d, 0x88, 0x0e, 0xf3, 0x21, 0xc4, 0x6a };

static void reset(void)
{
	for (int k = 0; k < TLS_NR_KEYS; k++) {
		if (tls.key[k].ready) {
			mbedtls_ssl_config_free(&tls.key[k].conf[TLS_SERVER]);
			mbedtls_ssl_config_free(&tls.key[k].conf[TLS_CLIENT]);
		}
	}
	if (tls.rng_ready) {
		mbedtls_ctr_drbg_free(&tls.drbg);
		mbedtls_entropy_free(&tls.entropy);
	}
	CHECK_EQ(tls.mem_used, 0); /* nothing leaked by the previous case */
	memset(&tls, 0, sizeof(tls));
	memset(&to_server, 0, sizeof(to_server));
	memset(&to_client, 0, sizeof(to_client));
	fake_sources = ARCH_RNG_SEED | ARCH_RNG_DRBG;
	fake_stuck = false;
	rng_state = 0x9e3779b97f4a7c15ull;
}

static void init_tern(void)
{
	char why[128] = "";
	reset();
	if (tls_init(key, sizeof(key), "tern", why, sizeof(why)))
		unit_fail(__FILE__, __LINE__, "tls_init: %s", why);
}

/* Tern's server against the test's client with this key and identity. */
static void try_client(const u8 *psk, size_t len, const char *id, int *srv_rc, int *cl_rc)
{
	init_tern();
	struct tls_session *srv = tls_session_new(&server_pipe, TLS_SERVER);
	CHECK(srv);
	struct client c;
	client_open(&c, psk, len, id);
	handshake(srv, &c, srv_rc, cl_rc);
	client_close(&c);
	tls_session_free(srv);
}

TEST(right_key_and_identity_carry_bytes_both_ways)
{
	init_tern();
	struct tls_session *srv = tls_session_new(&server_pipe, TLS_SERVER);
	CHECK(srv);
	struct client c;
	client_open(&c, key, sizeof(key), "tern");
	int srv_rc, cl_rc;
	handshake(srv, &c, &srv_rc, &cl_rc);
	CHECK_EQ(srv_rc, 0);
	CHECK_EQ(cl_rc, 0);
	CHECK_STR_EQ(tls_ciphersuite(srv), mbedtls_ssl_get_ciphersuite(&c.ssl));
	CHECK(strstr(tls_ciphersuite(srv), "PSK-WITH-AES-"));

	static const char cmd[] = "info status\n", answer[] = "vm0 running\n";
	char buf[64];
	CHECK_EQ(mbedtls_ssl_write(&c.ssl, (const u8 *)cmd, strlen(cmd)), strlen(cmd));
	CHECK_EQ(tls_read(srv, buf, sizeof(buf)), strlen(cmd));
	CHECK(!memcmp(buf, cmd, strlen(cmd)));
	CHECK_EQ(tls_read(srv, buf, sizeof(buf)), 0); /* nothing more yet */
	CHECK_EQ(tls_write(srv, answer, strlen(answer)), strlen(answer));
	CHECK_EQ(mbedtls_ssl_read(&c.ssl, (u8 *)buf, sizeof(buf)), strlen(answer));
	CHECK(!memcmp(buf, answer, strlen(answer)));

	CHECK_EQ(mbedtls_ssl_close_notify(&c.ssl), 0);
	CHECK_EQ(tls_read(srv, buf, sizeof(buf)), TLS_CLOSED);
	CHECK(tls_got_close_notify(srv));
	client_close(&c);
	tls_session_free(srv);
	reset();
}

TEST(key_wrong_in_its_last_byte_is_refused)
{
	u8 wrong[sizeof(key)];
	memcpy(wrong, key, sizeof(key));
	wrong[sizeof(key) - 1] ^= 1;
	int srv_rc, cl_rc;
	try_client(wrong, sizeof(wrong), "tern", &srv_rc, &cl_rc);
	CHECK_EQ(srv_rc, MBEDTLS_ERR_SSL_INVALID_MAC);
	CHECK(cl_rc != 0);
	reset();
}

TEST(key_one_byte_short_is_refused)
{
	int srv_rc, cl_rc;
	try_client(key, sizeof(key) - 1, "tern", &srv_rc, &cl_rc);
	CHECK_EQ(srv_rc, MBEDTLS_ERR_SSL_INVALID_MAC);
	CHECK(cl_rc != 0);
	reset();
}

TEST(wrong_identity_is_refused)
{
	int srv_rc, cl_rc;
	try_client(key, sizeof(key), "tera", &srv_rc, &cl_rc);
	CHECK_EQ(srv_rc, MBEDTLS_ERR_SSL_UNKNOWN_IDENTITY);
	CHECK(cl_rc != 0);
	try_client(key, sizeof(key), "tern2", &srv_rc, &cl_rc);
	CHECK_EQ(srv_rc, MBEDTLS_ERR_SSL_UNKNOWN_IDENTITY);
	reset();
}

TEST(plain_bytes_are_not_a_client)
{
	init_tern();
	struct tls_session *srv = tls_session_new(&server_pipe, TLS_SERVER);
	CHECK(srv);
	static const char junk[] = "GET / HTTP/1.0\r\n\r\n";
	q_put(&to_server, junk, strlen(junk));
	int rc = TLS_AGAIN;
	for (int i = 0; i < 10 && rc == TLS_AGAIN; i++)
		rc = tls_handshake(srv);
	CHECK(rc < 0);
	tls_session_free(srv);
	reset();
}

/* Tern's own client role (the encrypted streams) against its server. */
TEST(tern_client_and_server_agree)
{
	init_tern();
	struct tls_session *srv = tls_session_new(&server_pipe, TLS_SERVER);
	struct tls_session *cl = tls_session_new(&client_pipe, TLS_CLIENT);
	CHECK(srv && cl);
	int srv_rc = TLS_AGAIN, cl_rc = TLS_AGAIN;
	for (int i = 0; i < 50 && (srv_rc == TLS_AGAIN || cl_rc == TLS_AGAIN); i++) {
		if (cl_rc == TLS_AGAIN)
			cl_rc = tls_handshake(cl);
		if (srv_rc == TLS_AGAIN)
			srv_rc = tls_handshake(srv);
	}
	CHECK_EQ(srv_rc, 0);
	CHECK_EQ(cl_rc, 0);
	char buf[8];
	CHECK_EQ(tls_write(cl, "abc", 3), 3);
	CHECK_EQ(tls_read(srv, buf, sizeof(buf)), 3);
	CHECK(!memcmp(buf, "abc", 3));
	tls_session_free(cl);
	tls_session_free(srv);
	reset();
}

TEST(init_refuses_no_key_and_bad_entropy)
{
	char why[128];
	reset();
	CHECK_EQ(tls_init(key, 0, "tern", why, sizeof(why)), -1);
	CHECK_EQ(tls_init(key, sizeof(key), "", why, sizeof(why)), -1);
	CHECK(!tls_ready());
	fake_sources = 0;
	CHECK_EQ(tls_init(key, sizeof(key), "tern", why, sizeof(why)), -1);
	CHECK(strstr(why, "neither RDSEED nor RDRAND"));
	fake_sources = ARCH_RNG_DRBG;
	fake_stuck = true;
	CHECK_EQ(tls_init(key, sizeof(key), "tern", why, sizeof(why)), -1);
	CHECK(strstr(why, "constant values"));
	CHECK(!tls_ready());
	CHECK_EQ(tls_session_new(&server_pipe, TLS_SERVER), NULL);
	reset();
	fake_sources = ARCH_RNG_DRBG; /* RDRAND alone is enough */
	CHECK_EQ(tls_init(key, sizeof(key), "tern", why, sizeof(why)), 0);
	CHECK_STR_EQ(tls_rng_name(), "RDRAND");
	reset();
}

TEST(memory_is_capped)
{
	init_tern();
	size_t used, peak, cap;
	tls_mem_stats(&used, &peak, &cap);
	CHECK(used > 0 && used < cap);
	CHECK_EQ(tls_calloc(1, cap - used + 1), NULL);
	CHECK_EQ(tls_calloc(SIZE_MAX / 2, 4), NULL); /* n * size overflows */
	void *p = tls_calloc(2, 16);
	CHECK(p);
	tls_mem_stats(&used, &peak, &cap);
	tls_free(p);
	size_t after;
	tls_mem_stats(&after, &peak, &cap);
	CHECK_EQ(after, used - 32);
	reset();
}

/* ---- key slots ---- */

static const u8 mig_key[32] = "migration key, not the console's";

/* A second in-memory connection, for two pairs of sessions at once: ctx is
 * the link, queue [0] towards its server, [1] towards its client. */
struct link {
	struct queue q[2];
};
static struct link links[2];

static long l_server_send(void *ctx, const void *b, size_t n) { return q_put(&((struct link *)ctx)->q[1], b, n); }
static long l_server_recv(void *ctx, void *b, size_t n) { return q_get(&((struct link *)ctx)->q[0], b, n); }
static long l_client_send(void *ctx, const void *b, size_t n) { return q_put(&((struct link *)ctx)->q[0], b, n); }
static long l_client_recv(void *ctx, void *b, size_t n) { return q_get(&((struct link *)ctx)->q[1], b, n); }

static struct tls_pipe link_pipe(int i, enum tls_role role)
{
	memset(&links[i], 0, sizeof(links[i]));
	if (role == TLS_SERVER)
		return (struct tls_pipe){ l_server_send, l_server_recv, &links[i] };
	return (struct tls_pipe){ l_client_send, l_client_recv, &links[i] };
}

static void add_key(enum tls_key k, const u8 *psk, size_t len, const char *id)
{
	char why[128] = "";
	if (tls_add_key(k, psk, len, id, why, sizeof(why)))
		unit_fail(__FILE__, __LINE__, "tls_add_key(%d): %s", (int)k, why);
}

/* Tern's client against Tern's server until neither can move. */
static void handshake_tern(struct tls_session *srv, struct tls_session *cl, int *srv_rc, int *cl_rc)
{
	*srv_rc = *cl_rc = TLS_AGAIN;
	for (int i = 0; i < 50 && (*srv_rc == TLS_AGAIN || *cl_rc == TLS_AGAIN); i++) {
		if (*cl_rc == TLS_AGAIN)
			*cl_rc = tls_handshake(cl);
		if (*srv_rc == TLS_AGAIN)
			*srv_rc = tls_handshake(srv);
	}
}

/* Tern's server with slot k against the test's own client. */
static void try_slot(enum tls_key k, const u8 *psk, size_t len, const char *id, int *srv_rc,
		     int *cl_rc)
{
	memset(&to_server, 0, sizeof(to_server));
	memset(&to_client, 0, sizeof(to_client));
	struct tls_session *srv = tls_session_new_key(&server_pipe, TLS_SERVER, k);
	CHECK(srv);
	struct client c;
	client_open(&c, psk, len, id);
	handshake(srv, &c, srv_rc, cl_rc);
	client_close(&c);
	tls_session_free(srv);
}

/* Tern's client with key ck against Tern's server with key sk: 0 when both
 * handshakes complete, else the server's result. */
static int tern_pair(enum tls_key sk, enum tls_key ck)
{
	struct tls_pipe sp = link_pipe(0, TLS_SERVER), cp = sp;
	cp.send = l_client_send;
	cp.recv = l_client_recv;
	struct tls_session *srv = tls_session_new_key(&sp, TLS_SERVER, sk);
	struct tls_session *cl = tls_session_new_key(&cp, TLS_CLIENT, ck);
	CHECK(srv && cl);
	int srv_rc, cl_rc;
	handshake_tern(srv, cl, &srv_rc, &cl_rc);
	int rc = srv_rc ? srv_rc : cl_rc;
	if (!rc) { /* and the bytes get through */
		char buf[8];
		CHECK_EQ(tls_write(cl, "mig", 3), 3);
		CHECK_EQ(tls_read(srv, buf, sizeof(buf)), 3);
		CHECK(!memcmp(buf, "mig", 3));
	} else {
		CHECK(cl_rc != 0); /* neither side thinks it is through */
	}
	tls_session_free(cl);
	tls_session_free(srv);
	return rc;
}

/* The migration key alone: the DRBG is set up without a console key. */
TEST(migration_key_alone_handshakes)
{
	reset();
	add_key(TLS_KEY_MIGRATE, mig_key, sizeof(mig_key), "tern-migrate");
	CHECK(tls_key_ready(TLS_KEY_MIGRATE));
	CHECK(!tls_key_ready(TLS_KEY_CONSOLE));
	CHECK(!tls_ready());
	CHECK_STR_EQ(tls_rng_name(), "RDSEED");
	CHECK_EQ(tls_session_new(&server_pipe, TLS_SERVER), NULL); /* no console key */
	CHECK_EQ(tls_session_new_key(&server_pipe, TLS_SERVER, TLS_KEY_CONSOLE), NULL);

	int srv_rc, cl_rc;
	try_slot(TLS_KEY_MIGRATE, mig_key, sizeof(mig_key), "tern-migrate", &srv_rc, &cl_rc);
	CHECK_EQ(srv_rc, 0);
	CHECK_EQ(cl_rc, 0);
	CHECK_EQ(tern_pair(TLS_KEY_MIGRATE, TLS_KEY_MIGRATE), 0);

	/* And the console key added afterwards works too. */
	add_key(TLS_KEY_CONSOLE, key, sizeof(key), "tern");
	CHECK(tls_ready());
	CHECK_EQ(tern_pair(TLS_KEY_CONSOLE, TLS_KEY_CONSOLE), 0);
	reset();
}

TEST(keys_do_not_open_each_other)
{
	init_tern();
	add_key(TLS_KEY_MIGRATE, mig_key, sizeof(mig_key), "tern-migrate");
	int srv_rc, cl_rc;
	/* Tern's own client with the wrong slot, both ways. */
	CHECK(tern_pair(TLS_KEY_MIGRATE, TLS_KEY_CONSOLE) < 0);
	CHECK(tern_pair(TLS_KEY_CONSOLE, TLS_KEY_MIGRATE) < 0);
	/* The identity is no secret: the console key under the migration's
	 * name is refused at Finished, and the reverse. */
	try_slot(TLS_KEY_MIGRATE, key, sizeof(key), "tern-migrate", &srv_rc, &cl_rc);
	CHECK_EQ(srv_rc, MBEDTLS_ERR_SSL_INVALID_MAC);
	CHECK(cl_rc != 0);
	try_slot(TLS_KEY_CONSOLE, mig_key, sizeof(mig_key), "tern", &srv_rc, &cl_rc);
	CHECK_EQ(srv_rc, MBEDTLS_ERR_SSL_INVALID_MAC);
	CHECK(cl_rc != 0);
	/* Each slot's server knows its own identity only. */
	try_slot(TLS_KEY_MIGRATE, key, sizeof(key), "tern", &srv_rc, &cl_rc);
	CHECK_EQ(srv_rc, MBEDTLS_ERR_SSL_UNKNOWN_IDENTITY);
	try_slot(TLS_KEY_CONSOLE, mig_key, sizeof(mig_key), "tern-migrate", &srv_rc, &cl_rc);
	CHECK_EQ(srv_rc, MBEDTLS_ERR_SSL_UNKNOWN_IDENTITY);
	/* Even with one identity for both, the keys keep them apart. */
	reset();
	add_key(TLS_KEY_CONSOLE, key, sizeof(key), "same");
	add_key(TLS_KEY_MIGRATE, mig_key, sizeof(mig_key), "same");
	CHECK_EQ(tern_pair(TLS_KEY_MIGRATE, TLS_KEY_CONSOLE), MBEDTLS_ERR_SSL_INVALID_MAC);
	CHECK_EQ(tern_pair(TLS_KEY_CONSOLE, TLS_KEY_MIGRATE), MBEDTLS_ERR_SSL_INVALID_MAC);
	CHECK_EQ(tern_pair(TLS_KEY_MIGRATE, TLS_KEY_MIGRATE), 0);
	reset();
}

/* Both keys, one session each at once, their handshakes interleaved. */
TEST(both_keys_at_once)
{
	init_tern();
	add_key(TLS_KEY_MIGRATE, mig_key, sizeof(mig_key), "tern-migrate");
	CHECK(tls_ready() && tls_key_ready(TLS_KEY_MIGRATE));
	struct tls_session *con = tls_session_new(&server_pipe, TLS_SERVER);
	struct tls_pipe sp = link_pipe(0, TLS_SERVER), cp = sp;
	cp.send = l_client_send;
	cp.recv = l_client_recv;
	struct tls_session *msrv = tls_session_new_key(&sp, TLS_SERVER, TLS_KEY_MIGRATE);
	struct tls_session *mcl = tls_session_new_key(&cp, TLS_CLIENT, TLS_KEY_MIGRATE);
	CHECK(con && msrv && mcl);
	struct client c;
	client_open(&c, key, sizeof(key), "tern");
	int con_rc = TLS_AGAIN, c_rc = MBEDTLS_ERR_SSL_WANT_READ, ms_rc = TLS_AGAIN, mc_rc = TLS_AGAIN;
	for (int i = 0; i < 50; i++) {
		if (again(c_rc))
			c_rc = mbedtls_ssl_handshake(&c.ssl);
		if (mc_rc == TLS_AGAIN)
			mc_rc = tls_handshake(mcl);
		if (con_rc == TLS_AGAIN)
			con_rc = tls_handshake(con);
		if (ms_rc == TLS_AGAIN)
			ms_rc = tls_handshake(msrv);
	}
	CHECK_EQ(con_rc, 0);
	CHECK_EQ(c_rc, 0);
	CHECK_EQ(ms_rc, 0);
	CHECK_EQ(mc_rc, 0);
	char buf[16];
	CHECK_EQ(tls_write(mcl, "page", 4), 4);
	CHECK_EQ(mbedtls_ssl_write(&c.ssl, (const u8 *)"help\n", 5), 5);
	CHECK_EQ(tls_read(con, buf, sizeof(buf)), 5);
	CHECK(!memcmp(buf, "help\n", 5));
	CHECK_EQ(tls_read(msrv, buf, sizeof(buf)), 4);
	CHECK(!memcmp(buf, "page", 4));
	client_close(&c);
	tls_session_free(con);
	tls_session_free(mcl);
	tls_session_free(msrv);
	reset();
}

TEST(add_key_argument_checks)
{
	char why[128];
	reset();
	CHECK_EQ(tls_add_key(TLS_NR_KEYS, mig_key, 16, "m", why, sizeof(why)), -1);
	CHECK(strstr(why, "no such TLS key slot"));
	CHECK_EQ(tls_add_key((enum tls_key)-1, mig_key, 16, "m", why, sizeof(why)), -1);
	CHECK_EQ(tls_add_key(TLS_KEY_MIGRATE, NULL, 16, "m", why, sizeof(why)), -1);
	CHECK_EQ(tls_add_key(TLS_KEY_MIGRATE, mig_key, 0, "m", why, sizeof(why)), -1);
	CHECK_EQ(tls_add_key(TLS_KEY_MIGRATE, mig_key, 16, NULL, why, sizeof(why)), -1);
	CHECK_EQ(tls_add_key(TLS_KEY_MIGRATE, mig_key, 16, "", why, sizeof(why)), -1);
	CHECK(strstr(why, "no pre-shared key or identity"));
	u8 long_key[MBEDTLS_PSK_MAX_LEN + 1] = { 1 };
	CHECK_EQ(tls_add_key(TLS_KEY_MIGRATE, long_key, sizeof(long_key), "m", why, sizeof(why)), -1);
	CHECK(strstr(why, "longer than 32 bytes"));
	CHECK(!tls.rng_ready); /* nothing was set up by a refusal */

	/* A broken RNG refuses the migration key like the console's, and
	 * leaves nothing behind: the next try on a good one succeeds. */
	fake_stuck = true;
	CHECK_EQ(tls_add_key(TLS_KEY_MIGRATE, mig_key, 16, "m", why, sizeof(why)), -1);
	CHECK(strstr(why, "constant values"));
	CHECK(!tls_key_ready(TLS_KEY_MIGRATE));
	CHECK_STR_EQ(tls_rng_name(), "none");
	fake_stuck = false;
	CHECK_EQ(tls_add_key(TLS_KEY_MIGRATE, mig_key, 16, "m", why, sizeof(why)), 0);

	CHECK_EQ(tls_add_key(TLS_KEY_MIGRATE, mig_key, 16, "m", why, sizeof(why)), -1);
	CHECK(strstr(why, "migration key is already set up"));
	/* The same key in both slots would undo the separation. */
	CHECK_EQ(tls_init(mig_key, 16, "tern", why, sizeof(why)), -1);
	CHECK(strstr(why, "console key must differ"));
	CHECK(!tls_ready());
	CHECK_EQ(tls_init(mig_key, 17, "tern", why, sizeof(why)), 0); /* a longer key differs */
	CHECK_EQ(tls_init(key, sizeof(key), "tern", why, sizeof(why)), -1);
	CHECK(strstr(why, "console key is already set up"));

	/* Sessions: a slot out of range, a role out of range. */
	CHECK_EQ(tls_session_new_key(&server_pipe, TLS_SERVER, TLS_NR_KEYS), NULL);
	CHECK_EQ(tls_session_new_key(&server_pipe, (enum tls_role)2, TLS_KEY_MIGRATE), NULL);
	CHECK_EQ(tls_session_new_key(NULL, TLS_SERVER, TLS_KEY_MIGRATE), NULL);
	CHECK(!tls_key_ready(TLS_NR_KEYS));
	CHECK(!tls_key_ready((enum tls_key)-1));
	reset();
}

/*
 * The worst case one Tern meets: the console's session, a TLS sink stream,
 * a net_send stream and a migration, all four in their handshakes at once
 * (here as two pairs: console server and client, migration server and
 * client), then moving full records. All fits under the cap, and once they
 * are freed memory is back at what the two keys' configurations hold.
 */
TEST(memory_returns_to_baseline)
{
	init_tern();
	add_key(TLS_KEY_MIGRATE, mig_key, sizeof(mig_key), "tern-migrate");
	size_t base, peak, cap, used;
	tls_mem_stats(&base, &peak, &cap);
	CHECK(base > 0);
	struct tls_session *s[4];
	for (int pair = 0; pair < 2; pair++) {
		enum tls_key k = pair ? TLS_KEY_MIGRATE : TLS_KEY_CONSOLE;
		struct tls_pipe sp = link_pipe(pair, TLS_SERVER), cp = sp;
		cp.send = l_client_send;
		cp.recv = l_client_recv;
		s[2 * pair] = tls_session_new_key(&sp, TLS_SERVER, k);
		s[2 * pair + 1] = tls_session_new_key(&cp, TLS_CLIENT, k);
		CHECK(s[2 * pair] && s[2 * pair + 1]);
	}
	int rc[4] = { TLS_AGAIN, TLS_AGAIN, TLS_AGAIN, TLS_AGAIN };
	for (int i = 0; i < 50; i++)
		for (int j = 3; j >= 0; j--) /* clients first */
			if (rc[j] == TLS_AGAIN)
				rc[j] = tls_handshake(s[j]);
	for (int j = 0; j < 4; j++)
		CHECK_EQ(rc[j], 0);
	static u8 rec[16384], back[16384];
	for (size_t i = 0; i < sizeof(rec); i++)
		rec[i] = (u8)(i * 7);
	for (int pair = 0; pair < 2; pair++) { /* a full record each way */
		struct tls_session *srv = s[2 * pair], *cl = s[2 * pair + 1];
		CHECK_EQ(tls_write(cl, rec, sizeof(rec)), sizeof(rec));
		CHECK_EQ(tls_write(srv, rec, sizeof(rec)), sizeof(rec));
		size_t got = 0;
		while (got < sizeof(back)) {
			long n = tls_read(srv, back + got, sizeof(back) - got);
			CHECK(n > 0);
			got += (size_t)n;
		}
		CHECK(!memcmp(back, rec, sizeof(rec)));
		for (got = 0; got < sizeof(back);) {
			long n = tls_read(cl, back + got, sizeof(back) - got);
			CHECK(n > 0);
			got += (size_t)n;
		}
		CHECK(!memcmp(back, rec, sizeof(rec)));
	}
	tls_mem_stats(&used, &peak, &cap);
	if (getenv("TLS_MEM_VERBOSE"))
		printf("tls memory: base %zu, 4 sessions %zu, peak %zu, cap %zu\n", base, used,
		       peak, cap);
	CHECK(peak <= cap);
	CHECK(cap - peak >= (used - base) / 4); /* and a fifth session's worth to spare */
	for (int j = 0; j < 4; j++)
		tls_session_free(s[j]);
	tls_mem_stats(&used, &peak, &cap);
	CHECK_EQ(used, base);
	reset();
}
