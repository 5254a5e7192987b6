/*
 * Wrappers for the Tern hypercalls (docs/guest-abi.md) and the PASS/FAIL/INFO
 * reports the test harness matches on. A report formats its text into a
 * static buffer and passes the buffer's address, which is also its
 * guest-physical address on the identity map.
 */
#include "guest.h"

/* The ABI limit is 200 bytes; with the NUL that leaves 199 characters. */
#define REPORT_MAX 200

static char report_buf[REPORT_MAX];

s64 tern_version(void)
{
	return hypercall(TERN_HC_VERSION, 0, 0, 0);
}

u64 tern_time_ns(void)
{
	return (u64)hypercall(TERN_HC_TIME_NS, 0, 0, 0);
}

s64 tern_timer(u64 vector, u64 delay_ns)
{
	return hypercall(TERN_HC_TIMER, vector, delay_ns, 0);
}

void tern_exit(u64 code)
{
	hypercall(TERN_HC_EXIT, code, 0, 0);
	for (;;) /* EXIT never returns; stay parked if it somehow does */
		__asm__ volatile("cli; hlt");
}

void delay_ns(u64 ns)
{
	u64 start = tern_time_ns();

	while (tern_time_ns() - start < ns)
		cpu_pause();
}

static void report(enum tern_report kind, const char *fmt, va_list ap)
{
	vformat(report_buf, sizeof(report_buf), fmt, ap);
	hypercall(TERN_HC_REPORT, kind, (u64)(uintptr_t)report_buf, 0);
}

void report_pass(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(TERN_REPORT_PASS, fmt, ap);
	va_end(ap);
}

void report_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(TERN_REPORT_FAIL, fmt, ap);
	va_end(ap);
}

void report_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(TERN_REPORT_INFO, fmt, ap);
	va_end(ap);
}
