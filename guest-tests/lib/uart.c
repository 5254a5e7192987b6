/*
 * Polled output on COM1, the 16550 that Tern emulates at 0x3F8. Each byte
 * waits for LSR.THRE (bit 5) as a real driver would, then goes to the
 * transmit register; Tern turns every '\n'-terminated line into a
 * "vm0| text" console line, so no '\r' is sent.
 */
#include "guest.h"

void uart_putc(char c)
{
	while (!(inb(UART_LSR) & LSR_THRE))
		cpu_pause();
	outb(COM1, (u8)c);
}

void uart_puts(const char *s)
{
	while (*s)
		uart_putc(*s++);
}

int uprintf(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	int n = vformat(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	uart_puts(buf);
	return n;
}
