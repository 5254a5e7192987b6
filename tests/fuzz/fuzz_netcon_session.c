/*
 * Fuzz target: the network console's session (net/netcon_session.c), i.e.
 * what a client that passed the TLS handshake can send. Input: byte 0 = N,
 * then N control bytes that script the transport and the clock (handshake
 * again/fail, reads of any size or none or failing, writes that take part,
 * nothing, or fail, time jumps past the idle and handshake timeouts), then
 * the client's byte stream. Commands run through con_parse(); "help"
 * answers more than NETCON_OUT_MAX, "info registers" without a newline.
 * Invariants: buffers within bounds (in, out, line); at most one command
 * per poll, each a terminated printable line of at most CON_LINE_MAX;
 * nothing is read while an answer waits (flow control); a write the
 * transport refused is repeated with the same buffer and length; writes
 * come from the answer buffer, at most NETCON_WRITE_CHUNK; the client
 * only ever receives printable text and newlines; byte counters match the
 * transport's; once the input and the script run out the session ends
 * within a bounded number of polls, and a finished session does no I/O.
 */
#include <tern/netcon.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"

#define SEC 1000000000ULL

static struct netcon_session s;

static struct {
	const u8 *ctl, *in;
	size_t ctl_len, ctl_pos, in_len, in_pos;
	bool done;               /* the session said it is over: no I/O allowed */
	const void *blocked_buf; /* a write answered 0 ... */
	size_t blocked_len;      /* ... must come again identically */
	u64 read_total, written_total;
	int runs;                /* commands run during the current poll */
} f;

/* The next control byte, or -1 once the script is used up. */
static int ctl(void)
{
	return f.ctl_pos < f.ctl_len ? f.ctl[f.ctl_pos++] : -1;
}

static int fake_handshake(void *ctx)
{
	CHECK(!f.done);
	int c = ctl();
	if (c < 0 || c % 8 > 2)
		return 0;
	return c % 8 == 0 ? -0x7780 : 1;
}

static long fake_read(void *ctx, void *buf, size_t len)
{
	CHECK(!f.done);
	CHECK(s.state == NETCON_OPEN && s.out_len == 0); /* flow control */
	CHECK(buf == s.in && len == NETCON_IN_CHUNK);
	int c = ctl();
	if (c >= 0 && c % 16 == 0)
		return 0;
	if (c >= 0 && c % 16 == 1)
		return -5;
	size_t left = f.in_len - f.in_pos;
	if (!left)
		return NETCON_IO_CLOSED;
	size_t n = left < len ? left : len;
	if (c >= 0 && (size_t)c % n + 1 < n)
		n = (size_t)c % n + 1;
	memcpy(buf, f.in + f.in_pos, n);
	f.in_pos += n;
	f.read_total += n;
	return (long)n;
}

static long fake_write(void *ctx, const void *buf, size_t len)
{
	CHECK(!f.done);
	const char *p = buf;
	CHECK(p >= s.out && len > 0 && len <= NETCON_WRITE_CHUNK && p + len <= s.out + s.out_len);
	if (f.blocked_buf)
		CHECK(buf == f.blocked_buf && len == f.blocked_len);
	f.blocked_buf = NULL;
	int c = ctl();
	if (c >= 0 && c % 8 == 0) {
		f.blocked_buf = buf;
		f.blocked_len = len;
		return 0;
	}
	if (c >= 0 && c % 32 == 1)
		return -3;
	size_t n = len;
	if (c >= 0 && c % 8 == 2)
		n = (size_t)c % len + 1;
	for (size_t i = 0; i < n; i++)
		CHECK(p[i] == '\n' || (p[i] >= 0x20 && p[i] <= 0x7e));
	f.written_total += n;
	return (long)n;
}

static void run(void *ctx, struct netcon_session *sess, char *line)
{
	CHECK(sess == &s && ++f.runs == 1);
	size_t n = strlen(line);
	CHECK(n <= CON_LINE_MAX);
	for (size_t i = 0; i < n; i++)
		CHECK(line[i] >= 0x20 && line[i] <= 0x7e);

	struct con_parsed p;
	char err[128], msg[160];
	int rc = con_parse(line, &p, err, sizeof(err));
	if (rc < 0) {
		int len = snprintf(msg, sizeof(msg), "error: %s\n", err);
		netcon_session_out(sess, msg, (size_t)len);
	} else if (rc > 0 && p.cmd->id == CON_HELP) {
		char chunk[1000];
		memset(chunk, 'x', sizeof(chunk));
		chunk[sizeof(chunk) - 1] = '\n';
		for (int i = 0; i < 20; i++)
			netcon_session_out(sess, chunk, sizeof(chunk));
	} else if (rc > 0 && p.cmd->id == CON_INFO_REGISTERS) {
		char regs[2000];
		memset(regs, 'r', sizeof(regs));
		netcon_session_out(sess, regs, sizeof(regs));
	} else if (rc > 0) {
		netcon_session_out(sess, "", 0);
		int len = snprintf(msg, sizeof(msg), "ok %s\n", p.cmd->name);
		netcon_session_out(sess, msg, (size_t)len);
	}
}

static const struct netcon_transport io = { fake_handshake, fake_read, fake_write, NULL, NULL, NULL };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const u64 steps[] = { 0, 1000000, SEC, 4 * SEC, 11 * SEC, 60 * SEC, 301 * SEC, 0 };
	if (!size)
		return 0;
	memset(&f, 0, sizeof(f));
	f.ctl = data + 1;
	f.ctl_len = data[0] < size - 1 ? data[0] : size - 1;
	f.in = f.ctl + f.ctl_len;
	f.in_len = size - 1 - f.ctl_len;

	u64 now = 1000 * SEC;
	netcon_session_init(&s, &io, run, NULL, now);
	u64 commands = 0;
	for (size_t polls = 0;; polls++) {
		f.runs = 0;
		bool alive = netcon_session_poll(&s, now);
		CHECK(s.out_len <= NETCON_OUT_MAX && s.out_sent <= s.out_len);
		CHECK(s.in_pos <= s.in_len && s.in_len <= NETCON_IN_CHUNK);
		CHECK(s.line.len <= CON_LINE_MAX);
		CHECK(s.commands - commands <= 1 && (int)(s.commands - commands) <= f.runs);
		commands = s.commands;
		CHECK(s.bytes_in == f.read_total && s.bytes_out == f.written_total);
		if (!alive)
			break;
		CHECK(s.state != NETCON_DONE);
		/* Bounded: every poll uses a control byte, a line, or a chunk of input. */
		CHECK(polls < 2 * size + 100);
		int c = ctl();
		now += steps[c < 0 ? 1 : c % 8];
	}
	CHECK(s.state == NETCON_DONE && s.end != NETCON_END_NONE);
	CHECK(strcmp(netcon_end_name(s.end), "?"));
	f.done = true;
	CHECK(!netcon_session_poll(&s, now + 1000 * SEC));
	return 0;
}

/* ---- seeds ---- */

static void add(const char *ctl_bytes, size_t nctl, const char *client)
{
	u8 buf[1024];
	size_t n = strlen(client);
	buf[0] = (u8)nctl;
	memcpy(buf + 1, ctl_bytes, nctl);
	memcpy(buf + 1 + nctl, client, n);
	seed_add(buf, 1 + nctl + n);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!seed_dir())
		return 0;
	add("", 0, "info status\nhelp\ninfo registers\nquit\n");
	add("\x01\x01\x03", 3, "ping 10.0.2.2\r\nbogus command\r\n\r\nexit\r\n");
	/* Slow writes and a refused one, short reads, then an idle timeout. */
	add("\x03\x08\x0a\x12\x20\x22\x03\x06\x06", 9, "help\ninfo vm\n");
	/* A line longer than CON_LINE_MAX, then a command. */
	char longline[400];
	memset(longline, 'a', 300);
	strcpy(longline + 300, "\ninfo exits\n");
	add("", 0, longline);
	/* The handshake fails; it times out. */
	add("\x08", 1, "help\n");
	add("\x01\x06\x01\x06", 4, "help\n");
	static const char *const words[] = { "quit", "exit", "help", "info registers", "\r\n" };
	seed_dict_strings(words, sizeof(words) / sizeof(words[0]));
	exit(0);
}
