/*
 * The guest's emulated 16550A on COM1 (hv/vuart.c): pure code, no locks; the
 * caller serializes every call for one struct vuart (the vCPU's exit handler
 * and whoever feeds input run on the same CPU, or under the VM's lock).
 *
 * The register file is the PC16550D's: RBR/THR, IER, IIR/FCR, LCR (DLAB),
 * MCR, LSR, MSR, SCR and the divisor latch, with a 16-byte receive FIFO and
 * the interrupt identification a polled Linux 8250 driver relies on. The
 * transmitter has no clock: a byte written to THR leaves at once, so
 * LSR.THRE and LSR.TEMT always read 1. Bytes the guest transmits go to the
 * raw hook if one is set, else they are collected into lines for the sink;
 * in loopback mode (MCR.LOOP) they come back to the receiver instead.
 */
#ifndef TERN_VUART_H
#define TERN_VUART_H

#include <tern/types.h>

#define VUART_BASE 0x3f8
#define VUART_LINE_MAX 160
#define VUART_RX_FIFO 16 /* the 16550A's receive FIFO depth */

struct vuart {
	/* Registers as the guest programmed them (LSR/IIR/MSR are derived). */
	u8 ier, lcr, mcr, scr, dll, dlm;
	u8 fcr;          /* FCR bits kept: 0 (FIFO enable), 3 (DMA mode), 7:6 (trigger) */
	u8 lsr_err;      /* latched LSR OE|PE|FE|BI, cleared by reading LSR */
	u8 msr_delta;    /* MSR bits 3:0 (DDCD, TERI, DDSR, DCTS), cleared by reading MSR */
	bool thre_pending; /* the THR-empty interrupt is raised (IER.ETBEI on) */
	/* Receive FIFO (depth 1 with FIFOs off): ring of data and per-byte
	 * PE|FE|BI flags, rx_head is the oldest byte. */
	u8 rx_head, rx_count;
	u8 rx_data[VUART_RX_FIFO];
	u8 rx_err[VUART_RX_FIFO];
	/* Host side: the line being collected, only printable ASCII. */
	u32 line_len;
	char line[VUART_LINE_MAX + 1];
	u64 tx_bytes; /* bytes that left the UART (loopback bytes do not) */
	/* Receives each complete line (without newline), NUL-terminated. */
	void (*sink)(void *ctx, const char *line);
	void *sink_ctx;
	/* When set, each transmitted byte goes here unchanged instead. */
	void (*tx_raw)(void *ctx, u8 byte);
	void *tx_raw_ctx;
	/* When set (boot option stamp_guest), each line reaches the sink as
	 * "@N text": N is clock() when the line's first byte arrived. */
	u64 (*clock)(void);
	u64 line_t0;
};

/* Power-on: reset registers (vuart_reset), empty line, no raw hook. */
void vuart_init(struct vuart *u, void (*sink)(void *, const char *), void *ctx);
/* Hardware reset (the guest's reset): registers and FIFO to their reset
 * values (IER 0, IIR 0x01, LCR 0x03, MCR 0, LSR 0x60, MSR 0xb0, FIFOs off);
 * the hooks, tx_bytes and the host-side partial line are kept. */
void vuart_reset(struct vuart *u);
/* offset = port - VUART_BASE; offsets past 7 read 0xff and ignore writes.
 * Reads of RBR, IIR, LSR and MSR have the side effects of the hardware. */
u8 vuart_read(struct vuart *u, unsigned offset);
void vuart_write(struct vuart *u, unsigned offset, u8 val);
/* Hand over a partial line (e.g. when the VM stops); nothing if empty. */
void vuart_flush(struct vuart *u);
/* Route transmitted bytes to tx_raw(ctx, byte) (NULL: back to the line
 * collector). A partial line is flushed first so output stays in order. */
void vuart_set_tx_raw(struct vuart *u, void (*tx_raw)(void *ctx, u8 byte), void *ctx);
/* Stamp each collected line with clock() at its first byte (NULL: plain
 * lines). vuart_init clears it. A line started before the call is stamped
 * with the time of the call. */
void vuart_set_clock(struct vuart *u, u64 (*clock)(void));

/* One byte from the host into the receiver: 0, or -1 when it cannot take it
 * (FIFO full, or loopback mode disconnects the serial input) and the caller
 * keeps the byte for later; a refused byte is not an overrun. */
int vuart_rx_push(struct vuart *u, u8 byte);
/* A break condition from the host: a zero byte flagged BI; 0 or -1 as above. */
int vuart_rx_break(struct vuart *u);
/* Bytes the receiver can take now (0 in loopback mode). */
unsigned vuart_rx_room(const struct vuart *u);
/* The INTR line as the PC bus sees it: an enabled interrupt is identified
 * and MCR.OUT2 is on (loopback mode forces OUT2 inactive). */
bool vuart_irq_pending(const struct vuart *u);

/* Everything the guest or the operator could observe, for migration: a
 * fixed little-endian layout with no implicit padding. */
#define VUART_STATE_VERSION 1
struct vuart_state {
	u32 version;     /* VUART_STATE_VERSION */
	u8 ier, lcr, mcr, scr, dll, dlm, fcr;
	u8 lsr_err;
	u8 msr_delta;
	u8 thre_pending; /* 0 or 1 */
	u8 rx_count;     /* <= VUART_RX_FIFO (<= 1 with FIFOs off) */
	u8 reserved;     /* 0 */
	u8 rx_data[VUART_RX_FIFO]; /* oldest first; zero past rx_count */
	u8 rx_err[VUART_RX_FIFO];  /* PE|FE|BI per byte; zero past rx_count */
	u16 line_len;    /* <= VUART_LINE_MAX */
	char line[VUART_LINE_MAX]; /* printable ASCII; zero past line_len */
	u16 reserved2;   /* 0 */
	u32 reserved3;   /* 0 */
	u64 tx_bytes;
} __attribute__((packed));
_Static_assert(sizeof(struct vuart_state) == 224, "vuart_state layout is fixed");

/* Fill *s completely (reserved and unused bytes zero). */
void vuart_save(const struct vuart *u, struct vuart_state *s);
/* Validate *s (it comes from the network) and apply it: 0, or -1 with *err
 * saying why and *u unchanged. The hooks of *u are kept. */
int vuart_load(struct vuart *u, const struct vuart_state *s, const char **err);

#endif
