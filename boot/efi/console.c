/*
 * Loader output: COM1 (port 0x3F8, programmed directly, so it keeps working
 * after ExitBootServices and is what the test harness reads) and the firmware
 * console ConOut, which is used only while Boot Services exist. Callers pick
 * the destination per message: the banner and errors go to both, progress
 * details to serial only (OVMF mirrors ConOut onto COM1 as well, so sending
 * everything to both would print most lines twice on the serial log). ConOut
 * text is collected per line and written at the newline, so that a line built
 * from several calls is not interleaved with its serial copy.
 */
#include "loader.h"

#define COM1 0x3f8
#define CON_LINE 160

static bool con_alive = true;
static CHAR16 con_line[CON_LINE + 3];
static UINTN con_len;

static inline void outb(u16 port, u8 v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline u8 inb(u16 port)
{
	u8 v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* 115200 8N1, FIFOs on. Waits for the firmware's last bytes to drain first. */
void serial_init(void)
{
	for (int i = 0; i < 100000 && !(inb(COM1 + 5) & 0x40); i++)
		;
	outb(COM1 + 1, 0x00); /* no interrupts */
	outb(COM1 + 3, 0x80); /* DLAB */
	outb(COM1 + 0, 0x01); /* divisor 1 = 115200 */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8N1 */
	outb(COM1 + 2, 0x07); /* FIFO on, cleared */
	outb(COM1 + 4, 0x03); /* DTR, RTS */
}

static void serial_putc(char c)
{
	for (int i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++)
		;
	outb(COM1, (u8)c);
}

static void con_flush(void)
{
	con_line[con_len] = 0;
	if (con_len && con_alive && ST && ST->ConOut)
		uefi_call_wrapper(ST->ConOut->OutputString, 2, ST->ConOut, con_line);
	con_len = 0;
}

static void con_put(const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			con_line[con_len++] = L'\r';
		con_line[con_len++] = (CHAR16)(u8)*s;
		if (*s == '\n' || con_len >= CON_LINE)
			con_flush();
	}
}

void log_str(int where, const char *s)
{
	if (where & LOG_SERIAL)
		for (const char *p = s; *p; p++) {
			if (*p == '\n')
				serial_putc('\r');
			serial_putc(*p);
		}
	if ((where & LOG_CON) && con_alive)
		con_put(s);
}

void log_hex(int where, u64 v)
{
	char buf[19];
	int i = 18;

	buf[i] = 0;
	do {
		buf[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	buf[--i] = 'x';
	buf[--i] = '0';
	log_str(where, buf + i);
}

void log_dec(int where, u64 v)
{
	char buf[21];
	int i = 20;

	buf[i] = 0;
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	log_str(where, buf + i);
}

void console_boot_services_gone(void)
{
	con_alive = false;
	con_len = 0;
}

static const char *status_name(EFI_STATUS st)
{
	switch (st) {
	case EFI_LOAD_ERROR: return "load error";
	case EFI_INVALID_PARAMETER: return "invalid parameter";
	case EFI_UNSUPPORTED: return "unsupported";
	case EFI_BUFFER_TOO_SMALL: return "buffer too small";
	case EFI_DEVICE_ERROR: return "device error";
	case EFI_OUT_OF_RESOURCES: return "out of resources";
	case EFI_VOLUME_CORRUPTED: return "volume corrupted";
	case EFI_NOT_FOUND: return "not found";
	case EFI_ACCESS_DENIED: return "access denied";
	default: return NULL;
	}
}

/* Reports a fatal error on both outputs and returns st. A check of ours
 * (st == EFI_SUCCESS) is reported without a status and returns EFI_LOAD_ERROR. */
EFI_STATUS fail(const char *what, EFI_STATUS st)
{
	const char *name = status_name(st);

	log_str(LOG_BOTH, "tern-efi: error: ");
	log_str(LOG_BOTH, what);
	if (st == EFI_SUCCESS) {
		log_str(LOG_BOTH, "\n");
		return EFI_LOAD_ERROR;
	}
	log_str(LOG_BOTH, " (status ");
	log_hex(LOG_BOTH, st);
	if (name) {
		log_str(LOG_BOTH, ", ");
		log_str(LOG_BOTH, name);
	}
	log_str(LOG_BOTH, ")\n");
	return st;
}

void halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}
