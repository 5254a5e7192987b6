/*
 * hv_printf: formatted output to the serial console through newlib's
 * vsnprintf. One bounded buffer per call; long lines are cut, never overrun.
 * Context: any, single CPU (no lock yet; services run on one core).
 */
#include <tern/log.h>
#include <tern/serial.h>
#include <stdio.h>
#include <string.h>

/* Whether the console's cursor is at the start of a line (after a prompt or
 * echoed input it is not); asynchronous messages start a new line first. */
static bool at_line_start = true;
static void (*capture_sink)(void *ctx, const char *buf, size_t len);
static void *capture_ctx;

void log_capture(void (*sink)(void *ctx, const char *buf, size_t len), void *ctx)
{
	capture_sink = sink;
	capture_ctx = ctx;
}

static void out(const char *buf, size_t n)
{
	if (!n)
		return;
	if (capture_sink) {
		/* Not on serial, so the serial cursor (at_line_start) has not moved. */
		capture_sink(capture_ctx, buf, n);
		return;
	}
	serial_write(buf, n);
	at_line_start = buf[n - 1] == '\n';
}

void hv_vprintf(const char *fmt, va_list ap)
{
	char buf[512];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	out(buf, (size_t)n);
}

void hv_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	hv_vprintf(fmt, ap);
	va_end(ap);
}

void hv_puts(const char *s)
{
	out(s, strlen(s));
}

void hv_log(const char *fmt, ...)
{
	va_list ap;
	if (!at_line_start)
		out("\n", 1);
	va_start(ap, fmt);
	hv_vprintf(fmt, ap);
	va_end(ap);
}

bool log_limit_ok(struct log_limit *l, u64 now_ns)
{
	if (now_ns - l->start_ns >= l->window_ns) {
		if (l->hidden)
			hv_log("%s: %u more messages not shown\n", l->what, l->hidden);
		l->start_ns = now_ns;
		l->logged = l->hidden = 0;
	}
	if (l->logged < l->max) {
		l->logged++;
		return true;
	}
	l->hidden++;
	return false;
}
