/*
 * One network console session: the line protocol of tern/netcon.h over an
 * abstract transport. Pure code (no lwIP, no TLS, no clock of its own), so
 * the host unit tests drive it with a scripted transport and fake time.
 *
 * Flow control is the point: input is read only while no answer is waiting
 * to go out, so a client that sends without reading stalls itself (its TCP
 * window fills) instead of growing our buffers; each poll reads at most
 * NETCON_IN_CHUNK bytes and runs at most one command.
 */
#include <tern/netcon.h>
#include <string.h>

#define STR(x) #x
#define XSTR(x) STR(x)
/* Room kept at the end of the answer buffer for the cut note and the prompt. */
#define OUT_RESERVE 64

static void finish_answer(struct netcon_session *s);

void netcon_session_init(struct netcon_session *s, const struct netcon_transport *io,
			 netcon_run_fn run, void *run_ctx, u64 now_ns)
{
	memset(s, 0, sizeof(*s));
	s->io = *io;
	s->run = run;
	s->run_ctx = run_ctx;
	s->state = NETCON_HANDSHAKE;
	s->started_ns = s->stall_since_ns = now_ns;
	con_line_init(&s->line);
}

void netcon_session_out(struct netcon_session *s, const char *buf, size_t len)
{
	u32 room = NETCON_OUT_MAX - OUT_RESERVE - s->out_len;
	if (len > room) {
		len = room;
		s->out_truncated = true;
	}
	memcpy(s->out + s->out_len, buf, len);
	s->out_len += (u32)len;
}

/* Bypasses the answer limit: only for the short texts kept in OUT_RESERVE. */
static void out_str(struct netcon_session *s, const char *str)
{
	size_t len = strlen(str);
	if (len > NETCON_OUT_MAX - s->out_len)
		len = NETCON_OUT_MAX - s->out_len;
	memcpy(s->out + s->out_len, str, len);
	s->out_len += (u32)len;
}

/* End every answer the same way: a newline, then the prompt on its own line. */
static void finish_answer(struct netcon_session *s)
{
	if (s->out_truncated) {
		out_str(s, "\n[answer cut: too long for the network console]\n");
		s->out_truncated = false;
	}
	if (s->out_len && s->out[s->out_len - 1] != '\n')
		out_str(s, "\n");
	out_str(s, CON_PROMPT);
}

static bool end_session(struct netcon_session *s, enum netcon_end why, long err)
{
	s->state = NETCON_DONE;
	s->end = why;
	s->err = err;
	return false;
}

/* Say goodbye and close once it is delivered (or NETCON_FAREWELL_NS passed). */
static void start_closing(struct netcon_session *s, enum netcon_end why, const char *msg, u64 now)
{
	out_str(s, msg);
	s->state = NETCON_CLOSING;
	s->end = why;
	s->closing_ns = now;
}

/* Push pending output; false if the transport failed. */
static bool flush(struct netcon_session *s)
{
	while (s->out_sent < s->out_len) {
		u32 len = s->out_inflight;
		if (!len)
			len = MIN(s->out_len - s->out_sent, NETCON_WRITE_CHUNK);
		long n = s->io.write(s->io.ctx, s->out + s->out_sent, len);
		if (n == 0) {
			s->out_inflight = len; /* the transport wants the same write again */
			return true;
		}
		if (n < 0 || n > (long)len)
			return end_session(s, NETCON_END_ERROR, n < 0 ? n : -1);
		s->out_inflight = 0;
		s->out_sent += (u32)n;
		s->bytes_out += (u64)n;
	}
	s->out_len = s->out_sent = 0;
	return true;
}

static bool is_word(const char *line, const char *word)
{
	while (*line == ' ')
		line++;
	size_t n = strlen(word);
	if (strncmp(line, word, n))
		return false;
	for (line += n; *line; line++)
		if (*line != ' ')
			return false;
	return true;
}

static void handle_line(struct netcon_session *s, u64 now)
{
	s->last_line_ns = now;
	if (is_word(s->line.buf, "quit") || is_word(s->line.buf, "exit")) {
		start_closing(s, NETCON_END_QUIT, "bye\n", now);
		return;
	}
	s->commands++;
	s->run(s->run_ctx, s, s->line.buf);
	finish_answer(s);
}

/* Feed input to the line editor until one line is complete or the chunk is used up. */
static bool take_input(struct netcon_session *s, u64 now)
{
	if (s->in_pos == s->in_len) {
		long n = s->io.read(s->io.ctx, s->in, sizeof(s->in));
		if (n == 0)
			return true;
		if (n < 0)
			return end_session(s, n == NETCON_IO_CLOSED ? NETCON_END_PEER : NETCON_END_ERROR, n);
		if (n > (long)sizeof(s->in))
			return end_session(s, NETCON_END_ERROR, -1);
		s->in_pos = 0;
		s->in_len = (u32)n;
		s->bytes_in += (u64)n;
	}
	while (s->in_pos < s->in_len) {
		const char *echo;
		switch (con_line_feed(&s->line, s->in[s->in_pos++], &echo)) {
		case CON_FEED_LINE:
			handle_line(s, now);
			return true;
		case CON_FEED_TOOLONG:
			s->last_line_ns = now;
			out_str(s, "error: line longer than " XSTR(CON_LINE_MAX) " characters ignored\n" CON_PROMPT);
			return true;
		default:
			break; /* no echo: the client shows what it types itself */
		}
	}
	return true;
}

static bool open_session(struct netcon_session *s, u64 now)
{
	s->state = NETCON_OPEN;
	s->opened_ns = s->last_line_ns = now;
	out_str(s, NETCON_GREETING CON_PROMPT);
	return true;
}

/*
 * A client that stops taking its answers (gone, or flooding without
 * reading) must not keep the console from the next one. Owed: an answer
 * not yet taken by the transport, or bytes below it the peer has not
 * acknowledged. Progress: bytes acknowledged (bytes taken, where the
 * transport cannot tell): a write only proves that TCP had room. A client
 * that died may leave no trace but acknowledgements that never come, while
 * commands it sent earlier are still being delivered and answered; its
 * reset can be lost or fall outside the receive window, which lwIP ignores.
 */
static bool stalled(struct netcon_session *s, bool pending, u64 now)
{
	u32 unacked = 0;
	u64 progress = s->bytes_out;
	if (s->io.delivery)
		progress = s->io.delivery(s->io.link, &unacked);
	if (!(pending || unacked) || progress != s->stall_progress) {
		s->stall_progress = progress;
		s->stall_since_ns = now;
		return false;
	}
	return now - s->stall_since_ns >= NETCON_STALL_NS;
}

bool netcon_session_poll(struct netcon_session *s, u64 now)
{
	if (s->state == NETCON_DONE)
		return false;
	if (s->state == NETCON_HANDSHAKE) {
		int rc = s->io.handshake ? s->io.handshake(s->io.ctx) : 0;
		if (rc < 0)
			return end_session(s, NETCON_END_HANDSHAKE, rc);
		if (rc > 0) {
			if (now - s->started_ns >= NETCON_HANDSHAKE_NS)
				return end_session(s, NETCON_END_HANDSHAKE_TIMEOUT, 0);
			return true;
		}
		open_session(s, now);
	}
	if (!flush(s))
		return false;
	bool pending = s->out_len != 0;
	if (s->state == NETCON_CLOSING) {
		if (!pending || now - s->closing_ns >= NETCON_FAREWELL_NS)
			return end_session(s, s->end, 0);
		return true;
	}
	if (stalled(s, pending, now))
		return end_session(s, NETCON_END_STALLED, 0);
	if (now - s->last_line_ns >= NETCON_IDLE_NS) {
		if (pending) /* not even reading its answers: no farewell either */
			return end_session(s, NETCON_END_IDLE, 0);
		start_closing(s, NETCON_END_IDLE, "netcon: no command for a long time, closing\n", now);
		return flush(s);
	}
	if (pending)
		return true;
	if (!take_input(s, now))
		return false;
	return flush(s);
}

const char *netcon_end_name(enum netcon_end end)
{
	switch (end) {
	case NETCON_END_NONE:
		return "still open";
	case NETCON_END_PEER:
		return "closed by the client";
	case NETCON_END_QUIT:
		return "quit";
	case NETCON_END_HANDSHAKE:
		return "handshake failed";
	case NETCON_END_HANDSHAKE_TIMEOUT:
		return "handshake timed out";
	case NETCON_END_IDLE:
		return "idle timeout";
	case NETCON_END_STALLED:
		return "stopped reading its answers";
	case NETCON_END_ERROR:
		return "connection error";
	}
	return "?";
}
