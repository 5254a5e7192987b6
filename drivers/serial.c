/*
 * The host's own 16550 UART on COM1 (0x3F8): Tern's serial console.
 * Polled, 115200 8N1. Output waits for the transmitter, with a bound so a
 * missing UART cannot hang the hypervisor. LF is sent as CR LF.
 */
#include <tern/serial.h>
#include "cpu.h"

#define COM1 0x3f8
#define UART_THR 0
#define UART_RBR 0
#define UART_IER 1
#define UART_DLL 0
#define UART_DLM 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20

void serial_init(void)
{
	outb(COM1 + UART_IER, 0x00);
	outb(COM1 + UART_LCR, 0x80);  /* divisor latch */
	outb(COM1 + UART_DLL, 1);     /* 115200 baud */
	outb(COM1 + UART_DLM, 0);
	outb(COM1 + UART_LCR, 0x03);  /* 8N1 */
	outb(COM1 + UART_FCR, 0x07);  /* FIFOs on and cleared */
	outb(COM1 + UART_MCR, 0x03);  /* DTR, RTS */
}

static void serial_putc(char c)
{
	for (int spins = 0; spins < 100000; spins++) {
		if (inb(COM1 + UART_LSR) & LSR_THR_EMPTY)
			break;
		cpu_relax();
	}
	outb(COM1 + UART_THR, (u8)c);
}

void serial_write(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n')
			serial_putc('\r');
		serial_putc(buf[i]);
	}
}

int serial_getc(void)
{
	if (!(inb(COM1 + UART_LSR) & LSR_DATA_READY))
		return -1;
	return inb(COM1 + UART_RBR);
}
