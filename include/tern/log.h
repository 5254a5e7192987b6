/* Console output of the hypervisor: everything goes to the serial port. */
#ifndef TERN_LOG_H
#define TERN_LOG_H

#include <tern/types.h>
#include <stdarg.h>

__printf(1, 2) void hv_printf(const char *fmt, ...);
void hv_vprintf(const char *fmt, va_list ap);
void hv_puts(const char *s); /* no newline added */
/* A message not asked for at the console (VM events): always on a line of its own. */
__printf(1, 2) void hv_log(const char *fmt, ...);
/*
 * Until called again with NULL, everything printed goes to sink instead of
 * the serial port (the network console's answers, hv/console.c). A panic or
 * a hypervisor exception ends the capture first: those always reach serial.
 */
void log_capture(void (*sink)(void *ctx, const char *buf, size_t len), void *ctx);

/*
 * At most `max` messages of one kind per window of `window_ns` (peers that
 * scan or reconnect in a loop would otherwise flood serial). log_limit_ok()
 * says whether to log one now; when a window ends with messages hidden, it
 * first logs "WHAT: N more messages not shown".
 */
struct log_limit {
	const char *what;
	u64 window_ns;
	u32 max;
	u64 start_ns;
	u32 logged, hidden;
};
#define LOG_LIMIT(what_, window_ns_, max_) { .what = (what_), .window_ns = (window_ns_), .max = (max_) }
bool log_limit_ok(struct log_limit *l, u64 now_ns);

#endif
