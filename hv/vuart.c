/*
 * A 16550A as the guest sees it, after the PC16550D data sheet: the register
 * file, a 16-byte receive FIFO, the prioritized interrupt identification,
 * the modem control/status pair with its loopback wiring, and migration
 * state. Linux's 8250 probe must find a 16550A here (scratch IER test,
 * loopback MSR test, FIFO bits in IIR, no EFR, no 64-byte FIFO) and its
 * polled driver must see IIR report work, so the interrupt logic is real
 * even though no interrupt is delivered yet.
 *
 * The model has no clock. The transmitter empties at once (THRE and TEMT
 * always 1; a THR write ends and re-raises the THR-empty interrupt), and the
 * receiver's character timeout counts as expired as soon as the FIFO holds
 * data below its trigger level: host input arrives in bursts, and a guest
 * cannot tell four idle character times from none.
 */
#include <tern/vuart.h>
#include <stdio.h>
#include <string.h>

enum { R_DATA, R_IER, R_IIR_FCR, R_LCR, R_MCR, R_LSR, R_MSR, R_SCR };

#define IER_ERBFI 0x01 /* received data available (and character timeout) */
#define IER_ETBEI 0x02 /* transmitter holding register empty */
#define IER_ELSI 0x04  /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */
#define IER_MASK 0x0f

#define IIR_NO_INT 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_CTI 0x0c
#define IIR_FIFOS_ON 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_DMA 0x08
#define FCR_TRIGGER 0xc0
#define FCR_KEPT (FCR_ENABLE | FCR_DMA | FCR_TRIGGER)

#define LCR_WLS 0x03
#define LCR_DLAB 0x80
#define LCR_RESET 0x03 /* 8N1, as firmware leaves COM1 */

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_PE 0x04
#define LSR_FE 0x08
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_FIFO_ERR 0x80
#define LSR_ERRORS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)
#define RX_BYTE_ERRORS (LSR_PE | LSR_FE | LSR_BI) /* travel with a byte */

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_DELTAS 0x0f
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
/* Outside loopback the inputs are those of a cable whose far end is ready
 * and not ringing: what the old model reported, and what a driver with
 * hardware flow control needs to send. */
#define MSR_CABLE (MSR_DCD | MSR_DSR | MSR_CTS)

static bool fifo_on(u8 fcr)
{
	return fcr & FCR_ENABLE;
}

/* In 16450 mode (FIFOs off) the receiver holds one byte, the RBR. */
static unsigned rx_capacity(u8 fcr)
{
	return fifo_on(fcr) ? VUART_RX_FIFO : 1;
}

static unsigned rx_trigger(const struct vuart *u)
{
	static const u8 level[4] = { 1, 4, 8, 14 };
	return level[u->fcr >> 6];
}

/* The word length (LCR bits 1:0: 5..8 bits) cuts each character. */
static u8 word_mask(const struct vuart *u)
{
	return (u8)(0xff >> (3 - (u->lcr & LCR_WLS)));
}

static void rx_clear(struct vuart *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
	memset(u->rx_data, 0, sizeof(u->rx_data));
	memset(u->rx_err, 0, sizeof(u->rx_err));
}

/* A byte's PE/FE/BI show in LSR only once it is the oldest byte in the
 * FIFO, as the data sheet's LSR description has it. */
static void rx_reveal_top(struct vuart *u)
{
	if (u->rx_count)
		u->lsr_err |= u->rx_err[u->rx_head];
}

/* A character completed in the receive shift register. With the FIFO full
 * it is an overrun: in FIFO mode the new byte is lost, in 16450 mode it
 * overwrites the RBR. */
static void rx_arrive(struct vuart *u, u8 byte, u8 err)
{
	if (u->rx_count >= rx_capacity(u->fcr)) {
		u->lsr_err |= LSR_OE;
		if (fifo_on(u->fcr))
			return;
		u->rx_data[u->rx_head] = byte;
		u->rx_err[u->rx_head] = err;
		rx_reveal_top(u);
		return;
	}
	unsigned at = (u->rx_head + u->rx_count) % VUART_RX_FIFO;
	u->rx_data[at] = byte;
	u->rx_err[at] = err;
	if (u->rx_count++ == 0)
		rx_reveal_top(u);
}

/* RBR read: the oldest byte, or 0 when there is none. */
static u8 rx_pop(struct vuart *u)
{
	if (!u->rx_count)
		return 0;
	u8 byte = u->rx_data[u->rx_head];
	u->rx_data[u->rx_head] = 0;
	u->rx_err[u->rx_head] = 0;
	u->rx_head = (u8)((u->rx_head + 1) % VUART_RX_FIFO);
	u->rx_count--;
	rx_reveal_top(u);
	return byte;
}

/* MSR bits 7:4. In loopback the outputs feed the inputs (data sheet,
 * MCR bit 4): RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. */
static u8 msr_lines(const struct vuart *u)
{
	if (!(u->mcr & MCR_LOOP))
		return MSR_CABLE;
	u8 v = 0;
	if (u->mcr & MCR_RTS)
		v |= MSR_CTS;
	if (u->mcr & MCR_DTR)
		v |= MSR_DSR;
	if (u->mcr & MCR_OUT1)
		v |= MSR_RI;
	if (u->mcr & MCR_OUT2)
		v |= MSR_DCD;
	return v;
}

/* Latch the deltas between two line states. TERI is the trailing edge of
 * ring only: RI going from on to off. */
static void msr_note_change(struct vuart *u, u8 before, u8 after)
{
	u8 changed = before ^ after;
	if (changed & MSR_CTS)
		u->msr_delta |= MSR_DCTS;
	if (changed & MSR_DSR)
		u->msr_delta |= MSR_DDSR;
	if (changed & MSR_DCD)
		u->msr_delta |= MSR_DDCD;
	if ((before & MSR_RI) && !(after & MSR_RI))
		u->msr_delta |= MSR_TERI;
}

/* The highest-priority enabled condition: line
 * status, received data (or character timeout), THR empty, modem status
 * (the data sheet's interrupt control table). */
static u8 iir_id(const struct vuart *u)
{
	if ((u->ier & IER_ELSI) && u->lsr_err)
		return IIR_RLSI;
	if ((u->ier & IER_ERBFI) && u->rx_count) {
		if (fifo_on(u->fcr) && u->rx_count < rx_trigger(u))
			return IIR_CTI;
		return IIR_RDI;
	}
	if ((u->ier & IER_ETBEI) && u->thre_pending)
		return IIR_THRI;
	if ((u->ier & IER_EDSSI) && (u->msr_delta & MSR_DELTAS))
		return IIR_MSI;
	return IIR_NO_INT;
}

bool vuart_irq_pending(const struct vuart *u)
{
	if ((u->mcr & (MCR_OUT2 | MCR_LOOP)) != MCR_OUT2)
		return false;
	return iir_id(u) != IIR_NO_INT;
}

void vuart_reset(struct vuart *u)
{
	u->ier = 0;
	u->lcr = LCR_RESET;
	u->mcr = 0;
	u->scr = 0;
	u->dll = 0x01; /* divisor 1: 115200 baud, with LCR_RESET */
	u->dlm = 0;
	u->fcr = 0;
	u->lsr_err = 0;
	u->msr_delta = 0;
	u->thre_pending = false;
	rx_clear(u);
}

void vuart_init(struct vuart *u, void (*sink)(void *, const char *), void *ctx)
{
	memset(u, 0, sizeof(*u));
	u->sink = sink;
	u->sink_ctx = ctx;
	vuart_reset(u);
}

/* A line to the sink, with its stamp when a clock is set. */
static void emit(struct vuart *u, const char *line)
{
	char buf[VUART_LINE_MAX + 24];
	if (!u->sink)
		return;
	if (!u->clock) {
		u->sink(u->sink_ctx, line);
		return;
	}
	snprintf(buf, sizeof(buf), "@%llu %s", (unsigned long long)u->line_t0, line);
	u->sink(u->sink_ctx, buf);
}

void vuart_set_clock(struct vuart *u, u64 (*clock)(void))
{
	u->clock = clock;
	if (clock && u->line_len)
		u->line_t0 = clock();
}

void vuart_flush(struct vuart *u)
{
	if (!u->line_len)
		return;
	u->line[u->line_len] = '\0';
	emit(u, u->line);
	u->line_len = 0;
}

void vuart_set_tx_raw(struct vuart *u, void (*tx_raw)(void *ctx, u8 byte), void *ctx)
{
	vuart_flush(u);
	u->tx_raw = tx_raw;
	u->tx_raw_ctx = ctx;
}

/* The line collector: printable ASCII only, so the host log stays clean. */
static void line_add(struct vuart *u, u8 c)
{
	if (c == '\n') {
		if (!u->line_len) {
			if (u->clock)
				u->line_t0 = u->clock();
			emit(u, "");
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
	if (!u->line_len && u->clock)
		u->line_t0 = u->clock();
	u->line[u->line_len++] = (char)c;
}

static void thr_write(struct vuart *u, u8 val)
{
	u8 c = val & word_mask(u);
	if (u->mcr & MCR_LOOP) {
		rx_arrive(u, c, 0);
	} else {
		u->tx_bytes++;
		if (u->tx_raw)
			u->tx_raw(u->tx_raw_ctx, c);
		else
			line_add(u, c);
	}
	/* Writing THR clears the THR-empty interrupt; the byte moves on at
	 * once, and THR being empty again raises it anew. */
	u->thre_pending = u->ier & IER_ETBEI;
}

static void ier_write(struct vuart *u, u8 val)
{
	u8 old = u->ier;
	u->ier = val & IER_MASK;
	/* Enabling ETBEI while THR is empty (always, here) raises the
	 * interrupt: Linux's startup checks that it is reasserted. */
	if (!(u->ier & IER_ETBEI))
		u->thre_pending = false;
	else if (!(old & IER_ETBEI))
		u->thre_pending = true;
}

/* FCR bits other than 0 are programmed only with bit 0 set; turning the
 * FIFOs on or off empties them (data sheet, FCR). The transmitter has no
 * FIFO to clear: it is always empty. */
static void fcr_write(struct vuart *u, u8 val)
{
	bool was_on = fifo_on(u->fcr);
	if (!(val & FCR_ENABLE)) {
		if (was_on)
			rx_clear(u);
		u->fcr = 0;
		return;
	}
	if (!was_on || (val & FCR_CLEAR_RX))
		rx_clear(u);
	u->fcr = val & FCR_KEPT;
}

static void mcr_write(struct vuart *u, u8 val)
{
	u8 before = msr_lines(u);
	u->mcr = val & MCR_MASK;
	msr_note_change(u, before, msr_lines(u));
}

static u8 iir_read(struct vuart *u)
{
	u8 id = iir_id(u);
	if (id == IIR_THRI)
		u->thre_pending = false; /* reading IIR clears it if it is the source */
	return id | (fifo_on(u->fcr) ? IIR_FIFOS_ON : 0);
}

static u8 lsr_read(struct vuart *u)
{
	u8 v = u->lsr_err | LSR_THRE | LSR_TEMT;
	if (u->rx_count)
		v |= LSR_DR;
	if (fifo_on(u->fcr)) {
		for (unsigned i = 0; i < u->rx_count; i++)
			if (u->rx_err[(u->rx_head + i) % VUART_RX_FIFO])
				v |= LSR_FIFO_ERR;
	}
	u->lsr_err = 0;
	return v;
}

static u8 msr_read(struct vuart *u)
{
	u8 v = msr_lines(u) | u->msr_delta;
	u->msr_delta = 0;
	return v;
}

u8 vuart_read(struct vuart *u, unsigned offset)
{
	bool dlab = u->lcr & LCR_DLAB;
	switch (offset) {
	case R_DATA: return dlab ? u->dll : rx_pop(u);
	case R_IER: return dlab ? u->dlm : u->ier;
	case R_IIR_FCR: return iir_read(u);
	case R_LCR: return u->lcr;
	case R_MCR: return u->mcr;
	case R_LSR: return lsr_read(u);
	case R_MSR: return msr_read(u);
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
			thr_write(u, val);
		break;
	case R_IER:
		if (dlab)
			u->dlm = val;
		else
			ier_write(u, val);
		break;
	case R_IIR_FCR: fcr_write(u, val); break;
	case R_LCR: u->lcr = val; break;
	case R_MCR: mcr_write(u, val); break;
	case R_SCR: u->scr = val; break;
	default: break; /* LSR, MSR (factory test only), past the file */
	}
}

static int rx_from_host(struct vuart *u, u8 byte, u8 err)
{
	if (!vuart_rx_room(u))
		return -1;
	rx_arrive(u, byte & word_mask(u), err);
	return 0;
}

unsigned vuart_rx_room(const struct vuart *u)
{
	/* Loopback disconnects the serial input (data sheet, MCR bit 4). */
	if (u->mcr & MCR_LOOP)
		return 0;
	return rx_capacity(u->fcr) - u->rx_count;
}

int vuart_rx_push(struct vuart *u, u8 byte)
{
	return rx_from_host(u, byte, 0);
}

int vuart_rx_break(struct vuart *u)
{
	return rx_from_host(u, 0, LSR_BI);
}

void vuart_save(const struct vuart *u, struct vuart_state *s)
{
	memset(s, 0, sizeof(*s));
	s->version = VUART_STATE_VERSION;
	s->ier = u->ier, s->lcr = u->lcr, s->mcr = u->mcr, s->scr = u->scr;
	s->dll = u->dll, s->dlm = u->dlm, s->fcr = u->fcr;
	s->lsr_err = u->lsr_err;
	s->msr_delta = u->msr_delta;
	s->thre_pending = u->thre_pending;
	s->rx_count = u->rx_count;
	for (unsigned i = 0; i < u->rx_count && i < VUART_RX_FIFO; i++) {
		unsigned at = (u->rx_head + i) % VUART_RX_FIFO;
		s->rx_data[i] = u->rx_data[at];
		s->rx_err[i] = u->rx_err[at];
	}
	s->line_len = (u16)MIN(u->line_len, VUART_LINE_MAX);
	memcpy(s->line, u->line, s->line_len);
	s->tx_bytes = u->tx_bytes;
}

/* NULL if *s is a state this model can be in, else why not. */
static const char *state_check(const struct vuart_state *s)
{
	if (s->version != VUART_STATE_VERSION)
		return "unknown uart state version";
	if (s->reserved || s->reserved2 || s->reserved3)
		return "uart state: reserved fields not zero";
	if (s->ier & ~IER_MASK)
		return "uart state: IER bits 7:4 set";
	if (s->mcr & ~MCR_MASK)
		return "uart state: MCR bits 7:5 set";
	if (s->fcr & ~FCR_KEPT)
		return "uart state: FCR bits that are not kept";
	if (!fifo_on(s->fcr) && s->fcr)
		return "uart state: FCR bits without FIFO enable";
	if (s->lsr_err & ~LSR_ERRORS)
		return "uart state: line status bits that are not errors";
	if (s->msr_delta & ~MSR_DELTAS)
		return "uart state: modem status deltas beyond bits 3:0";
	if (s->thre_pending > 1)
		return "uart state: THR-empty flag not 0 or 1";
	if (s->thre_pending && !(s->ier & IER_ETBEI))
		return "uart state: THR-empty raised with ETBEI off";
	if (s->rx_count > rx_capacity(s->fcr))
		return "uart state: more received bytes than the FIFO holds";
	for (unsigned i = 0; i < VUART_RX_FIFO; i++) {
		if (i < s->rx_count && (s->rx_err[i] & ~RX_BYTE_ERRORS))
			return "uart state: received byte with bad error flags";
		if (i >= s->rx_count && (s->rx_data[i] || s->rx_err[i]))
			return "uart state: FIFO bytes past the count not zero";
	}
	if (s->line_len > VUART_LINE_MAX)
		return "uart state: partial line too long";
	for (unsigned i = 0; i < VUART_LINE_MAX; i++) {
		u8 c = (u8)s->line[i];
		if (i < s->line_len && (c < 0x20 || c >= 0x7f))
			return "uart state: partial line not printable ASCII";
		if (i >= s->line_len && c)
			return "uart state: bytes past the partial line not zero";
	}
	return NULL;
}

int vuart_load(struct vuart *u, const struct vuart_state *s, const char **err)
{
	const char *why = state_check(s);
	if (why) {
		if (err)
			*err = why;
		return -1;
	}
	u->ier = s->ier, u->lcr = s->lcr, u->mcr = s->mcr, u->scr = s->scr;
	u->dll = s->dll, u->dlm = s->dlm, u->fcr = s->fcr;
	u->lsr_err = s->lsr_err;
	u->msr_delta = s->msr_delta;
	u->thre_pending = s->thre_pending;
	rx_clear(u);
	u->rx_count = s->rx_count;
	memcpy(u->rx_data, s->rx_data, s->rx_count);
	memcpy(u->rx_err, s->rx_err, s->rx_count);
	u->line_len = s->line_len;
	memcpy(u->line, s->line, s->line_len);
	u->line[s->line_len] = '\0';
	u->tx_bytes = s->tx_bytes;
	return 0;
}
