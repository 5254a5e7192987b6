/*
 * ternctl: the operator's client for Tern's network console
 * (docs/network-console.md). TLS 1.2 with a pre-shared key, over Debian's
 * libmbedtls; or plain TCP with --plain for test setups.
 *
 *   ternctl HOST[:PORT] --psk-file F [--identity ID] COMMAND...   one command
 *   ternctl HOST[:PORT] --psk-file F                              lines from stdin
 *
 * Exit status: 0 answered, 1 usage or key file, 2 connection, handshake or
 * timeout, 3 Tern answered a one-shot command with "error: ...".
 */
#include "proto.h"
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PORT "4444"
#define ANSWER_MAX (1 << 20) /* far above Tern's 16 KiB answers: a sanity bound */

enum { EXIT_OK, EXIT_USAGE, EXIT_CONN, EXIT_CMD_ERROR };

struct opts {
	char host[256], port[8];
	const char *psk_file, *identity;
	bool plain, verbose;
	int timeout_s;
	char command[TERNCTL_LINE_MAX + 1];
	bool has_command;
};

struct link {
	bool tls;
	int timeout_ms;
	mbedtls_net_context net;
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
};

struct buf {
	char *data;
	size_t len, cap;
};

static const char *target; /* "HOST:PORT" for messages */

static void usage(FILE *f)
{
	fprintf(f, "usage: ternctl HOST[:PORT] --psk-file FILE [--identity ID] [COMMAND...]\n"
		   "       ternctl HOST[:PORT] --plain [COMMAND...]\n"
		   "  --psk-file FILE  the key, as hex digits (Tern's netcon_psk=)\n"
		   "  --identity ID    the PSK identity (Tern's netcon_psk_id=, default tern)\n"
		   "  --timeout S      seconds to wait for the handshake and each answer (30)\n"
		   "  --plain          no TLS (Tern's netcon_plain, tests only)\n"
		   "  -v, --verbose    report the ciphersuite and handshake time on stderr\n"
		   "Without COMMAND, command lines are read from stdin.\n"
		   "Default port " DEFAULT_PORT ".\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	const char *why, *tgt = NULL;
	char **words = calloc((size_t)argc, sizeof(*words));
	int nwords = 0;
	o->identity = "tern";
	o->timeout_s = 30;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_val = i + 1 < argc;
		if (nwords == 0 && !strcmp(a, "--psk-file") && has_val) {
			o->psk_file = argv[++i];
		} else if (nwords == 0 && !strcmp(a, "--identity") && has_val) {
			o->identity = argv[++i];
		} else if (nwords == 0 && !strcmp(a, "--timeout") && has_val) {
			o->timeout_s = atoi(argv[++i]);
			if (o->timeout_s < 1 || o->timeout_s > 3600) {
				fprintf(stderr, "ternctl: --timeout takes 1 to 3600 seconds\n");
				return -1;
			}
		} else if (nwords == 0 && !strcmp(a, "--plain")) {
			o->plain = true;
		} else if (nwords == 0 && (!strcmp(a, "-v") || !strcmp(a, "--verbose"))) {
			o->verbose = true;
		} else if (nwords == 0 && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
			usage(stdout);
			exit(EXIT_OK);
		} else if (nwords == 0 && a[0] == '-') {
			fprintf(stderr, "ternctl: unknown option %s (or missing value)\n", a);
			return -1;
		} else if (!tgt) {
			tgt = a;
		} else {
			words[nwords++] = argv[i];
		}
	}
	if (!tgt) {
		usage(stderr);
		return -1;
	}
	if (target_parse(tgt, DEFAULT_PORT, o->host, sizeof(o->host), o->port, sizeof(o->port), &why)) {
		fprintf(stderr, "ternctl: %s: %s\n", tgt, why);
		return -1;
	}
	if (!o->plain && !o->psk_file) {
		fprintf(stderr, "ternctl: --psk-file is required (or --plain for a test console)\n");
		return -1;
	}
	if (nwords && command_join(words, nwords, o->command, sizeof(o->command), &why)) {
		fprintf(stderr, "ternctl: %s\n", why);
		return -1;
	}
	o->has_command = nwords > 0;
	free(words);
	return 0;
}

static int read_psk(const char *path, unsigned char *key, size_t *len)
{
	char text[1024];
	const char *why;
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "ternctl: cannot read the key file %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t n = fread(text, 1, sizeof(text), f);
	fclose(f);
	if (n == sizeof(text)) {
		fprintf(stderr, "ternctl: %s: too long for a key file\n", path);
		return -1;
	}
	if (psk_parse(text, n, key, len, &why)) {
		fprintf(stderr, "ternctl: %s: %s\n", path, why);
		return -1;
	}
	return 0;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *mbed_err(int rc)
{
	static char msg[160];
	mbedtls_strerror(rc, msg, sizeof(msg));
	return msg;
}

/* A handshake failure in words an operator can act on. */
static const char *handshake_hint(struct link *l, int rc)
{
	if (rc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
		switch (l->ssl.in_msg[1]) {
		case MBEDTLS_SSL_ALERT_MSG_BAD_RECORD_MAC:
		case MBEDTLS_SSL_ALERT_MSG_DECRYPT_ERROR:
			return "Tern rejected the key (wrong PSK?)";
		case MBEDTLS_SSL_ALERT_MSG_UNKNOWN_PSK_IDENTITY:
			return "Tern does not know this identity (--identity)";
		case MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE:
		case MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION:
			return "no common protocol or ciphersuite";
		}
	}
	if (rc == MBEDTLS_ERR_SSL_TIMEOUT)
		return "no answer in time (Tern serves one client at a time: another one may be connected)";
	if (rc == MBEDTLS_ERR_NET_CONN_RESET || rc == MBEDTLS_ERR_SSL_CONN_EOF)
		return "Tern closed the connection (busy, or not a TLS console?)";
	return mbed_err(rc);
}

static int tls_start(struct link *l, const struct opts *o)
{
	unsigned char key[TERNCTL_PSK_MAX];
	size_t key_len;
	static const int suites[] = {
		MBEDTLS_TLS_PSK_WITH_AES_128_GCM_SHA256,
		MBEDTLS_TLS_PSK_WITH_AES_256_GCM_SHA384,
		0,
	};
	static const char pers[] = "ternctl";
	if (read_psk(o->psk_file, key, &key_len))
		return EXIT_USAGE;
	mbedtls_ssl_init(&l->ssl);
	mbedtls_ssl_config_init(&l->conf);
	mbedtls_entropy_init(&l->entropy);
	mbedtls_ctr_drbg_init(&l->drbg);
	int rc = mbedtls_ctr_drbg_seed(&l->drbg, mbedtls_entropy_func, &l->entropy,
				       (const unsigned char *)pers, sizeof(pers) - 1);
	if (!rc)
		rc = mbedtls_ssl_config_defaults(&l->conf, MBEDTLS_SSL_IS_CLIENT,
						 MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (!rc) {
		mbedtls_ssl_conf_min_version(&l->conf, 3, MBEDTLS_SSL_MINOR_VERSION_3);
		mbedtls_ssl_conf_max_version(&l->conf, 3, MBEDTLS_SSL_MINOR_VERSION_3);
		mbedtls_ssl_conf_ciphersuites(&l->conf, suites);
		mbedtls_ssl_conf_rng(&l->conf, mbedtls_ctr_drbg_random, &l->drbg);
		mbedtls_ssl_conf_read_timeout(&l->conf, (uint32_t)l->timeout_ms);
		rc = mbedtls_ssl_conf_psk(&l->conf, key, key_len, (const unsigned char *)o->identity,
					  strlen(o->identity));
	}
	mbedtls_platform_zeroize(key, sizeof(key));
	if (!rc)
		rc = mbedtls_ssl_setup(&l->ssl, &l->conf);
	if (rc) {
		fprintf(stderr, "ternctl: TLS setup failed: %s\n", mbed_err(rc));
		return EXIT_CONN;
	}
	mbedtls_ssl_set_bio(&l->ssl, &l->net, mbedtls_net_send, NULL, mbedtls_net_recv_timeout);
	double t0 = now_ms();
	while ((rc = mbedtls_ssl_handshake(&l->ssl)) != 0) {
		if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE) {
			fprintf(stderr, "ternctl: TLS handshake with %s failed: %s\n", target,
				handshake_hint(l, rc));
			return EXIT_CONN;
		}
	}
	l->tls = true;
	if (o->verbose)
		fprintf(stderr, "ternctl: connected to %s, %s, handshake %.1f ms\n", target,
			mbedtls_ssl_get_ciphersuite(&l->ssl), now_ms() - t0);
	return EXIT_OK;
}

/* All of buf, or an error message and -1. */
static int link_send(struct link *l, const char *buf, size_t len)
{
	while (len) {
		int n = l->tls ? mbedtls_ssl_write(&l->ssl, (const unsigned char *)buf, len)
			       : mbedtls_net_send(&l->net, (const unsigned char *)buf, len);
		if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		if (n <= 0) {
			fprintf(stderr, "ternctl: sending to %s failed: %s\n", target, mbed_err(n));
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Bytes (> 0), 0 when Tern closed the connection, or < 0 (message printed). */
static int link_recv(struct link *l, char *buf, size_t len)
{
	for (;;) {
		int n = l->tls ? mbedtls_ssl_read(&l->ssl, (unsigned char *)buf, len)
			       : mbedtls_net_recv_timeout(&l->net, (unsigned char *)buf, len,
							  (uint32_t)l->timeout_ms);
		if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		if (n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || n == MBEDTLS_ERR_NET_CONN_RESET)
			return 0;
		if (n == MBEDTLS_ERR_SSL_TIMEOUT)
			fprintf(stderr, "ternctl: no answer from %s within %d s\n", target,
				l->timeout_ms / 1000);
		else if (n < 0)
			fprintf(stderr, "ternctl: reading from %s failed: %s\n", target, mbed_err(n));
		return n;
	}
}

/*
 * Read until the prompt ends an answer. Returns the answer's length (the
 * prompt stays in b after it), -1 when Tern closed first (b holds what
 * came), -2 on errors.
 */
static long read_answer(struct link *l, struct buf *b)
{
	b->len = 0;
	for (;;) {
		long end = answer_end(b->data, b->len);
		if (end >= 0)
			return end;
		if (b->len == b->cap) {
			if (b->cap >= ANSWER_MAX) {
				fprintf(stderr, "ternctl: the answer exceeds %d bytes\n", ANSWER_MAX);
				return -2;
			}
			b->cap = b->cap ? 2 * b->cap : 4096;
			b->data = realloc(b->data, b->cap);
			if (!b->data) {
				fprintf(stderr, "ternctl: out of memory\n");
				return -2;
			}
		}
		int n = link_recv(l, b->data + b->len, b->cap - b->len);
		if (n == 0)
			return -1;
		if (n < 0)
			return -2;
		b->len += (size_t)n;
	}
}

static int one_command(struct link *l, const struct opts *o, struct buf *b)
{
	char line[TERNCTL_LINE_MAX + 2];
	int n = snprintf(line, sizeof(line), "%s\n", o->command);
	if (link_send(l, line, (size_t)n))
		return EXIT_CONN;
	long end = read_answer(l, b);
	if (end == -2)
		return EXIT_CONN;
	size_t shown = end >= 0 ? (size_t)end : b->len;
	fwrite(b->data, 1, shown, stdout);
	if (end == -1) {
		/* shutdown powers Tern off: the connection ends without a prompt. */
		if (!strncmp(o->command, "shutdown", 8))
			return EXIT_OK;
		fprintf(stderr, "ternctl: %s closed the connection before the answer ended\n", target);
		return EXIT_CONN;
	}
	return !strncmp(b->data, "error:", 6) ? EXIT_CMD_ERROR : EXIT_OK;
}

/* Lines from stdin; on a terminal show the prompt too, in a pipe only answers. */
static int interactive(struct link *l, struct buf *b)
{
	bool tty = isatty(STDIN_FILENO);
	char line[4096];
	if (tty)
		fputs(TERNCTL_PROMPT, stdout);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		size_t n = strlen(line);
		bool whole = n && line[n - 1] == '\n';
		if (!whole && n == sizeof(line) - 1) {
			int c;
			while ((c = getchar()) != EOF && c != '\n')
				;
		}
		if (n > TERNCTL_LINE_MAX + (size_t)whole) {
			fprintf(stderr, "ternctl: line longer than %d characters skipped\n", TERNCTL_LINE_MAX);
			continue;
		}
		if (!whole)
			line[n++] = '\n'; /* the last line of a file without a newline */
		if (link_send(l, line, n))
			return EXIT_CONN;
		long end = read_answer(l, b);
		if (end == -2)
			return EXIT_CONN;
		fwrite(b->data, 1, end >= 0 ? (size_t)end : b->len, stdout);
		if (end == -1)
			return EXIT_OK; /* quit, shutdown, or Tern's idle timeout */
		if (tty)
			fputs(TERNCTL_PROMPT, stdout);
		fflush(stdout);
	}
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct link l = { 0 };
	struct buf b = { 0 };
	char tgt[300];
	if (parse_args(argc, argv, &o))
		return EXIT_USAGE;
	signal(SIGPIPE, SIG_IGN); /* a connection Tern closed is an error message, not a kill */
	snprintf(tgt, sizeof(tgt), strchr(o.host, ':') ? "[%s]:%s" : "%s:%s", o.host, o.port);
	target = tgt;
	l.timeout_ms = o.timeout_s * 1000;
	mbedtls_net_init(&l.net);
	int rc = mbedtls_net_connect(&l.net, o.host, o.port, MBEDTLS_NET_PROTO_TCP);
	if (rc) {
		fprintf(stderr, "ternctl: cannot connect to %s: %s\n", target, mbed_err(rc));
		return EXIT_CONN;
	}
	/* The handshake's small flights must not wait for delayed ACKs (Nagle). */
	int one = 1;
	setsockopt(l.net.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!o.plain && (rc = tls_start(&l, &o)) != EXIT_OK)
		goto out;
	/* The greeting ends with the first prompt. */
	long end = read_answer(&l, &b);
	if (end < 0) {
		if (end == -1)
			fprintf(stderr, "ternctl: %s closed the connection without a prompt "
				"(another client is being served?)\n", target);
		rc = EXIT_CONN;
		goto out;
	}
	if (!o.has_command && isatty(STDIN_FILENO))
		fwrite(b.data, 1, (size_t)end, stdout);
	rc = o.has_command ? one_command(&l, &o, &b) : interactive(&l, &b);
	fflush(stdout);
out:
	if (l.tls)
		mbedtls_ssl_close_notify(&l.ssl);
	mbedtls_net_free(&l.net);
	mbedtls_ssl_free(&l.ssl);
	mbedtls_ssl_config_free(&l.conf);
	mbedtls_ctr_drbg_free(&l.drbg);
	mbedtls_entropy_free(&l.entropy);
	free(b.data);
	return rc;
}
