/*
 * Exercises the emulated COM1 and the default handling of other I/O ports:
 * writes several lines (one longer than 80 characters and a fixed marker line
 * the harness looks for), checks that LSR always reports the transmitter
 * empty (bits 5 and 6), that the scratch register keeps what is written to
 * it, and that ports with no device read as all ones at every width.
 */
#include "guest.h"

#define MARKER "uart-marker: 0123456789 abcdefghij"

/* Returns 1 after reporting FAIL when a port read is not what it should be. */
static int check_ones(const char *what, u16 port, u32 got, u32 want)
{
	if (got == want)
		return 0;
	report_fail("%s from port 0x%x returned 0x%x, want 0x%x", what, port, got, want);
	return 1;
}

int guest_main(u64 ram_size)
{
	uart_puts("uart: line one\n");
	uprintf("uart: formatted %d %u 0x%x %s %c\n", -42, 42u, 0xbeefu, "str", '!');
	uart_puts("uart: long line: the quick brown fox jumps over the lazy dog; "
		  "pack my box with five dozen liquor jugs. END\n");
	uart_puts(MARKER "\n");

	u8 lsr = inb(UART_LSR);
	if ((lsr & (LSR_THRE | LSR_TEMT)) != (LSR_THRE | LSR_TEMT)) {
		report_fail("LSR=0x%x: THR empty (bit 5) and TEMT (bit 6) not both set", lsr);
		return 1;
	}

	static const u8 scratch[] = { 0xa5, 0x5a, 0x00, 0xff };
	for (unsigned i = 0; i < ARRAY_SIZE(scratch); i++) {
		outb(UART_SCR, scratch[i]);
		u8 got = inb(UART_SCR);
		if (got != scratch[i]) {
			report_fail("scratch register 0x3ff: wrote 0x%x, read 0x%x", scratch[i], got);
			return 1;
		}
	}

	/* COM2 and the POST port have no device under Tern. */
	if (check_ones("inb", 0x2f8, inb(0x2f8), 0xff) ||
	    check_ones("inw", 0x2f8, inw(0x2f8), 0xffff) ||
	    check_ones("inl", 0x2f8, inl(0x2f8), 0xffffffff) ||
	    check_ones("inb", 0x80, inb(0x80), 0xff))
		return 1;
	outb(0x80, 0x42); /* ignored and counted; must not stop the VM */

	uart_puts("uart: done\n");
	report_pass("uart: 5 lines written, LSR reports empty, scratch ok, unassigned ports read all ones");
	return 0;
}
