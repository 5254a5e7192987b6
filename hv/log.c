/*
 * hv_printf: formatted output to the serial console through newlib's
 * vsnprintf. One bounded buffer per call; long lines are cut, never overrun.
 * Context: any, single CPU (no lock yet; services run on one core).
 */
#include <tern/log.h>
#include <tern/serial.h>
#include <stdio.h>
#include <string.h>

void hv_vprintf(const char *fmt, va_list ap)
{
	char buf[512];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	serial_write(buf, (size_t)n);
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
	serial_write(s, strlen(s));
}
