/*
 * net/netcon_session.c: the network console's line protocol over a
 * scripted transport and fake time. Greeting and prompt framing, one command
 * per poll, no reading while an answer is stuck (flow control), the
 * transport's "repeat the same write" contract, overlong lines, cut answers,
 * handshake and idle timeouts, quit, peer close and transport errors.
 */
#include "unit.h"
#include <tern/netcon.h>
/* Not in the Makefile's PURE_SRCS (yet): compiled into this test directly. */
#include "../../net/netcon_session.c"

#define SEC 1000000000ULL

struct fake {
	int hs_again;          /* handshake answers "again" this many times... */
	int hs_result;         /* ...then this */
	const char *in;        /* bytes the client sends */
	size_t in_len, in_pos;
	bool in_closed;        /* after the input: orderly close */
	int reads;
	char out[4 * NETCON_OUT_MAX];
	size_t out_len;
	long room;             /* bytes a write may take now (-1: unlimited) */
	bool write_fails;
	const void *blocked_buf; /* the write that got 0 ... */
	size_t blocked_len;
	bool retry_mismatch;   /* ...and was not repeated identically */
	char ran[8][CON_LINE_MAX + 1];
	int nr_ran;
	bool hold_acks;        /* the peer acknowledges nothing more (else all, at once) */
	u64 acked;             /* bytes written that the peer acknowledged */
};

static struct fake f;
static struct netcon_session s;

static int fake_handshake(void *ctx)
{
	if (f.hs_again > 0) {
		f.hs_again--;
		return 1;
	}
	return f.hs_result;
}

static long fake_read(void *ctx, void *buf, size_t len)
{
	f.reads++;
	if (f.in_pos == f.in_len)
		return f.in_closed ? NETCON_IO_CLOSED : 0;
	size_t n = MIN(len, f.in_len - f.in_pos);
	memcpy(buf, f.in + f.in_pos, n);
	f.in_pos += n;
	return (long)n;
}

static long fake_write(void *ctx, const void *buf, size_t len)
{
	if (f.write_fails)
		return -5;
	if (f.blocked_buf && (buf != f.blocked_buf || len != f.blocked_len))
		f.retry_mismatch = true;
	size_t n = f.room < 0 ? len : MIN(len, (size_t)f.room);
	if (!n) {
		f.blocked_buf = buf;
		f.blocked_len = len;
		return 0;
	}
	f.blocked_buf = NULL;
	if (f.room > 0)
		f.room -= (long)n;
	memcpy(f.out + f.out_len, buf, n);
	f.out_len += n;
	f.out[f.out_len] = '\0';
	return (long)n;
}

/* The command runner: "big" answers too much, "nonl" without a newline. */
static void fake_run(void *ctx, struct netcon_session *sess, char *line)
{
	if (f.nr_ran < 8)
		snprintf(f.ran[f.nr_ran], sizeof(f.ran[0]), "%s", line);
	f.nr_ran++;
	if (!*line) /* like the console: an empty line answers nothing */
		return;
	if (!strcmp(line, "big")) {
		char chunk[1000];
		memset(chunk, 'x', sizeof(chunk));
		for (int i = 0; i < 40; i++)
			netcon_session_out(sess, chunk, sizeof(chunk));
	} else if (!strcmp(line, "nonl")) {
		netcon_session_out(sess, "partial", 7);
	} else {
		char msg[300];
		int n = snprintf(msg, sizeof(msg), "ran %s\n", line);
		netcon_session_out(sess, msg, (size_t)n);
	}
}

static u64 fake_delivery(void *link, u32 *unacked)
{
	if (!f.hold_acks)
		f.acked = f.out_len;
	*unacked = (u32)(f.out_len - f.acked);
	return f.acked;
}

static const struct netcon_transport fake_io = { fake_handshake, fake_read, fake_write, NULL,
						 fake_delivery, NULL };

/* A fresh session with the client's input; the handshake succeeds at once. */
static void start(const char *input)
{
	memset(&f, 0, sizeof(f));
	f.in = input;
	f.in_len = strlen(input);
	f.room = -1;
	netcon_session_init(&s, &fake_io, fake_run, NULL, 0);
}

static void poll_n(int n, u64 now)
{
	for (int i = 0; i < n; i++)
		netcon_session_poll(&s, now);
}

#define GREET NETCON_GREETING CON_PROMPT

TEST(greeting_after_handshake)
{
	start("");
	f.hs_again = 2;
	CHECK(netcon_session_poll(&s, 0));
	CHECK(netcon_session_poll(&s, 1));
	CHECK_EQ(f.out_len, 0);
	CHECK_EQ(s.state, NETCON_HANDSHAKE);
	CHECK(netcon_session_poll(&s, 2));
	CHECK_EQ(s.state, NETCON_OPEN);
	CHECK_STR_EQ(f.out, GREET);
}

TEST(no_handshake_for_plain_transport)
{
	start("");
	struct netcon_transport plain = fake_io;
	plain.handshake = NULL;
	netcon_session_init(&s, &plain, fake_run, NULL, 0);
	CHECK(netcon_session_poll(&s, 0));
	CHECK_STR_EQ(f.out, GREET);
}

TEST(command_answer_then_prompt)
{
	start("info status\n");
	poll_n(2, 0);
	CHECK_EQ(f.nr_ran, 1);
	CHECK_STR_EQ(f.ran[0], "info status");
	CHECK_STR_EQ(f.out, GREET "ran info status\n" CON_PROMPT);
	CHECK_EQ(s.commands, 1);
}

TEST(one_command_per_poll_crlf)
{
	start("a\r\nb\n");
	CHECK(netcon_session_poll(&s, 0)); /* handshake, greeting, then line "a" */
	CHECK_EQ(f.nr_ran, 1);
	CHECK(netcon_session_poll(&s, 0));
	CHECK_EQ(f.nr_ran, 2);
	CHECK_STR_EQ(f.ran[1], "b");
	poll_n(3, 0);
	CHECK_EQ(f.nr_ran, 2); /* the LF of CR LF made no empty line */
	CHECK_STR_EQ(f.out, GREET "ran a\n" CON_PROMPT "ran b\n" CON_PROMPT);
}

TEST(answer_always_ends_in_newline)
{
	start("nonl\n");
	poll_n(2, 0);
	CHECK_STR_EQ(f.out, GREET "partial\n" CON_PROMPT);
}

TEST(empty_line_gives_prompt)
{
	start("\n");
	poll_n(2, 0);
	CHECK_EQ(f.nr_ran, 1);
	CHECK_STR_EQ(f.out, GREET CON_PROMPT);
}

TEST(no_reading_while_answer_is_stuck)
{
	start("a\nb\nc\n");
	f.room = 0;
	poll_n(5, 0);
	CHECK_EQ(f.reads, 0);
	CHECK_EQ(f.nr_ran, 0);
	f.room = -1;
	poll_n(1, 0);
	CHECK_EQ(f.nr_ran, 1);
	CHECK(!f.retry_mismatch);
}

TEST(blocked_write_is_repeated_identically)
{
	start("big\n");
	poll_n(1, 0);
	CHECK_EQ(f.nr_ran, 1);
	/* Let the answer out in uneven pieces with stalls between them. */
	for (int i = 0; i < 200 && s.out_len; i++) {
		f.room = (i % 3 == 0) ? 0 : 1777;
		netcon_session_poll(&s, 0);
	}
	CHECK(!f.retry_mismatch);
	CHECK_EQ(s.out_len, 0);
}

TEST(long_answer_is_cut_with_a_note)
{
	start("big\nnext\n");
	poll_n(1, 0);
	CHECK(f.out_len <= strlen(GREET) + NETCON_OUT_MAX);
	CHECK(strstr(f.out, "[answer cut"));
	CHECK(f.out_len > strlen(CON_PROMPT));
	CHECK(!strcmp(f.out + f.out_len - strlen(CON_PROMPT), CON_PROMPT));
	size_t before = f.out_len;
	poll_n(1, 0);
	CHECK_STR_EQ(f.out + before, "ran next\n" CON_PROMPT);
}

TEST(overlong_line_is_refused_once)
{
	static char in[2000];
	memset(in, 'a', 1500);
	strcpy(in + 1500, "\nok\n");
	start(in);
	poll_n(8, 0);
	CHECK_EQ(f.nr_ran, 1);
	CHECK_STR_EQ(f.ran[0], "ok");
	CHECK(strstr(f.out, "error: line longer than 256 characters ignored\n" CON_PROMPT "ran ok\n"));
}

TEST(reads_are_bounded_per_poll)
{
	static char in[10000];
	memset(in, 'z', sizeof(in) - 1);
	start(in);
	poll_n(1, 0);
	CHECK_EQ(f.in_pos, NETCON_IN_CHUNK);
	poll_n(1, 0);
	CHECK_EQ(f.in_pos, 2 * NETCON_IN_CHUNK);
}

TEST(noise_bytes_are_ignored)
{
	static const char in[] = "he\x01\xff\x1blp\n";
	start(in);
	poll_n(2, 0);
	CHECK_EQ(f.nr_ran, 1);
	CHECK_STR_EQ(f.ran[0], "help");
}

TEST(handshake_timeout)
{
	start("");
	f.hs_again = 1000000;
	CHECK(netcon_session_poll(&s, 0));
	CHECK(netcon_session_poll(&s, NETCON_HANDSHAKE_NS - 1));
	CHECK(!netcon_session_poll(&s, NETCON_HANDSHAKE_NS));
	CHECK_EQ(s.end, NETCON_END_HANDSHAKE_TIMEOUT);
	CHECK_EQ(f.out_len, 0);
	CHECK(!netcon_session_poll(&s, NETCON_HANDSHAKE_NS + 1)); /* stays done */
}

TEST(handshake_failure)
{
	start("");
	f.hs_result = -0x7180;
	CHECK(!netcon_session_poll(&s, 0));
	CHECK_EQ(s.end, NETCON_END_HANDSHAKE);
	CHECK_EQ(s.err, -0x7180);
	CHECK_EQ(f.out_len, 0);
}

TEST(idle_timeout_says_goodbye)
{
	start("");
	poll_n(1, 5 * SEC); /* opened at 5 s */
	CHECK(netcon_session_poll(&s, 5 * SEC + NETCON_IDLE_NS - 1));
	size_t before = f.out_len;
	CHECK(netcon_session_poll(&s, 5 * SEC + NETCON_IDLE_NS));
	CHECK(strstr(f.out + before, "closing"));
	CHECK(!netcon_session_poll(&s, 5 * SEC + NETCON_IDLE_NS + 1));
	CHECK_EQ(s.end, NETCON_END_IDLE);
}

TEST(idle_timer_counts_lines_not_bytes)
{
	start("");
	poll_n(1, 0);
	f.in = "x";
	f.in_len = 1;
	CHECK(netcon_session_poll(&s, NETCON_IDLE_NS / 2)); /* a byte, no line */
	CHECK(netcon_session_poll(&s, NETCON_IDLE_NS)); /* farewell queued and sent */
	CHECK(!netcon_session_poll(&s, NETCON_IDLE_NS));
	CHECK_EQ(s.end, NETCON_END_IDLE);
}

/* At t=1, command b runs and its answer finds no room in the transport. */
static void stick_second_answer(void)
{
	start("a\n");
	poll_n(1, 0);
	f.room = 0;
	f.in = "b\n";
	f.in_len = 2;
	f.in_pos = 0;
	poll_n(1, 1);
}

TEST(stuck_answer_ends_as_stalled_without_farewell)
{
	stick_second_answer();
	CHECK(!netcon_session_poll(&s, NETCON_IDLE_NS + 1));
	CHECK_EQ(s.end, NETCON_END_STALLED);
}

TEST(stall_timeout_counts_from_the_last_progress)
{
	stick_second_answer();                          /* b's answer is stuck from t=1 */
	CHECK(netcon_session_poll(&s, NETCON_STALL_NS)); /* 1 ns short */
	f.room = 1;                                      /* one byte goes out: progress */
	CHECK(netcon_session_poll(&s, NETCON_STALL_NS + 5));
	f.room = 0;
	CHECK(netcon_session_poll(&s, 2 * NETCON_STALL_NS + 4));
	CHECK(!netcon_session_poll(&s, 2 * NETCON_STALL_NS + 5));
	CHECK_EQ(s.end, NETCON_END_STALLED);
}

/* The answer went to TCP, but the peer never acknowledges it: a client
 * killed after its command whose reset was lost. Nothing is pending in the
 * session, yet the console must go to the next client. */
TEST(an_answer_never_acknowledged_is_a_stall)
{
	start("a\n");
	f.hold_acks = true;
	poll_n(2, 0);                 /* greeting, then a's answer, both handed over */
	CHECK_EQ(f.nr_ran, 1);
	CHECK(netcon_session_poll(&s, NETCON_STALL_NS - 1));
	CHECK(!netcon_session_poll(&s, NETCON_STALL_NS));
	CHECK_EQ(s.end, NETCON_END_STALLED);
}

/* Commands keep coming and every answer is taken by TCP, but none is ever
 * acknowledged: a dead client whose earlier commands are still arriving. */
TEST(answers_taken_but_never_acknowledged_are_a_stall)
{
	static char many[2000];
	for (size_t i = 0; i + 2 <= sizeof(many) - 1; i += 2)
		memcpy(many + i, "a\n", 2);
	start(many);
	f.hold_acks = true;
	u64 t;
	for (t = 0; t < NETCON_STALL_NS; t += NETCON_STALL_NS / 100)
		CHECK(netcon_session_poll(&s, t));
	CHECK(f.nr_ran > 50);         /* it kept running commands and writing answers */
	CHECK(!netcon_session_poll(&s, t));
	CHECK_EQ(s.end, NETCON_END_STALLED);
}

TEST(acknowledgements_keep_a_slow_reader)
{
	start("a\n");
	f.hold_acks = true;
	poll_n(2, 0);
	for (u64 t = 1; t <= 5; t++) { /* one ACK a little less often than the stall time */
		f.acked += 1;
		CHECK(netcon_session_poll(&s, t * (NETCON_STALL_NS - 1)));
	}
	f.acked = f.out_len;          /* all acknowledged: nothing owed, however long */
	CHECK(netcon_session_poll(&s, 10 * NETCON_STALL_NS));
	CHECK(netcon_session_poll(&s, 20 * NETCON_STALL_NS));
	CHECK_EQ(s.end, NETCON_END_NONE);
}

TEST(a_late_first_answer_is_not_a_stall)
{
	u64 t = 3 * NETCON_STALL_NS; /* the session starts long after boot */
	start("a\n");
	netcon_session_init(&s, &fake_io, fake_run, NULL, t);
	f.room = 0;
	CHECK(netcon_session_poll(&s, t + 1));
	CHECK(netcon_session_poll(&s, t + 2));
	CHECK_EQ(s.end, NETCON_END_NONE);
}

TEST(quit_and_exit_close)
{
	start("quit\n");
	poll_n(1, 0);
	CHECK_EQ(f.nr_ran, 0);
	CHECK(!netcon_session_poll(&s, 0));
	CHECK_EQ(s.end, NETCON_END_QUIT);
	CHECK(strstr(f.out, "bye\n"));

	start("  exit  \n");
	poll_n(3, 0);
	CHECK_EQ(s.end, NETCON_END_QUIT);
	start("exits\n");
	poll_n(3, 0);
	CHECK_EQ(f.nr_ran, 1);
}

TEST(farewell_gives_up_when_stuck)
{
	start("quit\n");
	f.room = (long)strlen(GREET); /* the greeting goes out, "bye" does not */
	CHECK(netcon_session_poll(&s, 0));
	CHECK_EQ(s.state, NETCON_CLOSING);
	CHECK(netcon_session_poll(&s, NETCON_FAREWELL_NS - 1));
	CHECK(!netcon_session_poll(&s, NETCON_FAREWELL_NS));
	CHECK_EQ(s.end, NETCON_END_QUIT);
}

TEST(peer_close_and_errors)
{
	start("help\n");
	f.in_closed = true;
	poll_n(1, 0);
	CHECK(!netcon_session_poll(&s, 0));
	CHECK_EQ(s.end, NETCON_END_PEER);
	CHECK_EQ(f.nr_ran, 1);

	start("help\n");
	f.write_fails = true;
	CHECK(!netcon_session_poll(&s, 0));
	CHECK_EQ(s.end, NETCON_END_ERROR);
	CHECK_EQ(s.err, -5);
}

TEST(end_names)
{
	for (int e = NETCON_END_NONE; e <= NETCON_END_ERROR; e++)
		CHECK(strcmp(netcon_end_name((enum netcon_end)e), "?"));
}
