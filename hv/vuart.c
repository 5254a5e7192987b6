/*
 * A 16550 as the guest sees it: enough for a polled driver (Linux's early
 * console, our test guests). Transmit only: the receiver never has data.
 * The line status register always reports the transmitter empty, because
 * output is taken synchronously; the scratch and control registers keep what
 * the guest wrote so probing drivers find a UART.
 */
#include <tern/vuart.h>
#include <string.h>

enum { R_DATA, R_IER, R_IIR_FCR, R_LCR, R_MCR, R_LSR, R_MSR, R_SCR };
#define LCR_DLAB 0x80
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define IIR_NO_INT 0x01

void vuart_init(struct vuart *u, void (*sink)(void *, const char *), void *ctx)
{
	memset(u, 0, sizeof(*u));
	u->sink = sink;
	u->sink_ctx = ctx;
	u->lcr = 0x03;
}

void vuart_flush(struct vuart *u)
{
	if (!u->line_len)
		return;
	u->line[u->line_len] = '\0';
	if (u->sink)
		u->sink(u->sink_ctx, u->line);
	u->line_len = 0;
}

static void vuart_tx(struct vuart *u, u8 c)
{
	u->tx_bytes++;
	if (c == '\n') {
		if (!u->line_len) {
			u->line[0] = '\0';
			if (u->sink)
				u->sink(u->sink_ctx, u->line);
			return;
		}
		vuart_flush(u);
		return;
	}
	if (c == '\r')
		return;
	/* Keep the host console readable: show control bytes as '?'. */
	if (c < 0x20 || c >= 0x7f)
		c = (c == '\t') ? ' ' : '?';
	/* A full line goes out before the next character, so a newline right
	 * after exactly VUART_LINE_MAX characters does not add an empty line. */
	if (u->line_len == VUART_LINE_MAX)
		vuart_flush(u);
	u->line[u->line_len++] = (char)c;
}

u8 vuart_read(struct vuart *u, unsigned offset)
{
	bool dlab = u->lcr & LCR_DLAB;
	switch (offset) {
	case R_DATA: return dlab ? u->dll : 0;
	case R_IER: return dlab ? u->dlm : u->ier;
	case R_IIR_FCR: return IIR_NO_INT;
	case R_LCR: return u->lcr;
	case R_MCR: return u->mcr;
	case R_LSR: return LSR_THRE | LSR_TEMT;
	case R_MSR: return 0xb0; /* CTS, DSR, DCD: a cable is attached */
	case R_SCR: return u->scr;
	default: return 0xff;
	}
}

void vuart_write(struct vuart *u, unsigned offset, u8 val)
{
	bool dlab = u->lcr & LCR_DLAB;
	switch (offset) {
	case R_DATA:
		if (dlab)
			u->dll = val;
		else
			vuart_tx(u, val);
		break;
	case R_IER:
		if (dlab)
			u->dlm = val;
		else
			u->ier = val & 0x0f;
		break;
	case R_LCR: u->lcr = val; break;
	case R_MCR: u->mcr = val & 0x1f; break;
	case R_SCR: u->scr = val; break;
	default: break; /* FCR, read-only registers */
	}
}
