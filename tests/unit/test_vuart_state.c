/*
 * hv/vuart.c, the host-facing side: the raw transmit hook, the guest's
 * hardware reset, and save/load for migration (struct vuart_state: a
 * versioned fixed layout that vuart_load validates, since it comes from
 * the network).
 */
#include "unit.h"
#include <tern/vuart.h>

enum { DATA = 0, IER = 1, IIR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

static char lines[16][VUART_LINE_MAX + 8];
static int nlines;
static u8 raw[64];
static int nraw;

static void sink(void *ctx, const char *line)
{
	CHECK(ctx == (void *)lines);
	if (nlines < 16)
		snprintf(lines[nlines], sizeof(lines[0]), "%s", line);
	nlines++;
}

static void raw_sink(void *ctx, u8 byte)
{
	CHECK(ctx == (void *)raw);
	if (nraw < 64)
		raw[nraw] = byte;
	nraw++;
}

static void setup(struct vuart *u)
{
	nlines = nraw = 0;
	vuart_init(u, sink, lines);
}

static void tx_str(struct vuart *u, const char *s)
{
	for (; *s; s++)
		vuart_write(u, DATA, (u8)*s);
}

TEST(raw_hook_takes_bytes_unchanged)
{
	struct vuart u;
	setup(&u);
	tx_str(&u, "before");
	vuart_set_tx_raw(&u, raw_sink, raw);
	CHECK_EQ(nlines, 1); /* the partial line went out first */
	CHECK_STR_EQ(lines[0], "before");
	static const u8 bytes[] = { 'a', '\r', '\n', 0x1b, 0x00, 0xff };
	for (size_t i = 0; i < ARRAY_SIZE(bytes); i++)
		vuart_write(&u, DATA, bytes[i]);
	CHECK_EQ(nraw, 6);
	CHECK_EQ(memcmp(raw, bytes, 6), 0);
	CHECK_EQ(u.tx_bytes, 6 + 6);
	CHECK_EQ(nlines, 1);
	vuart_write(&u, MCR, 0x10); /* loopback still loops */
	vuart_write(&u, DATA, 'L');
	CHECK_EQ(nraw, 6);
	CHECK_EQ(vuart_read(&u, DATA), 'L');
	vuart_write(&u, MCR, 0);
	vuart_set_tx_raw(&u, NULL, NULL);
	tx_str(&u, "after\n");
	CHECK_EQ(nraw, 6);
	CHECK_EQ(nlines, 2);
	CHECK_STR_EQ(lines[1], "after");
}

TEST(hardware_reset_keeps_the_host_side)
{
	struct vuart u;
	setup(&u);
	tx_str(&u, "abc");
	vuart_write(&u, IIR, 0x01);
	vuart_write(&u, IER, 0x0f);
	vuart_write(&u, MCR, 0x1f);
	vuart_write(&u, SCR, 0x5a);
	vuart_write(&u, LCR, 0x9b);
	vuart_write(&u, DATA, 0x30);
	vuart_write(&u, LCR, 0x1b);
	vuart_write(&u, DATA, 'x'); /* loopback: into the FIFO */
	vuart_write(&u, MCR, 0x00);
	vuart_set_tx_raw(&u, raw_sink, raw);
	CHECK_EQ(nlines, 1); /* "abc" */
	tx_str(&u, "de");
	CHECK_EQ(nraw, 2);
	vuart_set_tx_raw(&u, NULL, NULL);
	tx_str(&u, "fg");
	vuart_write(&u, MCR, 0x10);
	vuart_reset(&u);
	CHECK_EQ(vuart_read(&u, LSR), 0x60);
	CHECK_EQ(vuart_read(&u, IIR), 0x01);
	CHECK_EQ(vuart_read(&u, MSR), 0xb0);
	CHECK_EQ(vuart_read(&u, IER), 0);
	CHECK_EQ(vuart_read(&u, LCR), 0x03);
	CHECK_EQ(vuart_read(&u, MCR), 0);
	CHECK_EQ(vuart_read(&u, SCR), 0);
	CHECK_EQ(u.tx_bytes, 3 + 2 + 2);
	tx_str(&u, "h\n");
	CHECK_EQ(nlines, 2);
	CHECK_STR_EQ(lines[1], "fgh"); /* the partial line survived */
}

/* A busy UART: FIFO wrapped, errors latched, deltas, THRE raised, a
 * partial line. Returns the state hand-derived in the comments. */
static void busy(struct vuart *u)
{
	setup(u);
	tx_str(u, "part");                /* line "part", tx_bytes 4 */
	vuart_write(u, LCR, 0x83);
	vuart_write(u, DATA, 0x0c);       /* DLL */
	vuart_write(u, IER, 0x01);        /* DLM */
	vuart_write(u, LCR, 0x1b);        /* 8 bits, even parity */
	vuart_write(u, SCR, 0xa5);
	vuart_write(u, IIR, 0x81);        /* FIFO, trigger 8 */
	for (int i = 0; i < 12; i++)
		vuart_rx_push(u, (u8)(0x40 + i));
	for (int i = 0; i < 10; i++)      /* head 10, two left: 0x4a 0x4b */
		vuart_read(u, DATA);
	vuart_rx_break(u);                /* 0x00 BI at ring slot 12 */
	for (int i = 0; i < 6; i++)       /* slots 13..15, 0..2: wrapped */
		vuart_rx_push(u, (u8)(0x60 + i));
	vuart_write(u, MCR, 0x18);        /* loopback, OUT2: DCTS|DDSR */
	for (int i = 0; i < 8; i++)       /* 9 held: 7 fit, one overrun */
		vuart_write(u, DATA, (u8)(0x70 + i));
	vuart_write(u, IER, 0x0e);        /* ETBEI 0->1: THRE raised */
}

TEST(save_writes_the_fifo_oldest_first)
{
	struct vuart u;
	struct vuart_state s;
	busy(&u);
	memset(&s, 0xee, sizeof(s));
	vuart_save(&u, &s);
	CHECK_EQ(s.version, 1);
	CHECK_EQ(s.ier, 0x0e);
	CHECK_EQ(s.lcr, 0x1b);
	CHECK_EQ(s.mcr, 0x18);
	CHECK_EQ(s.scr, 0xa5);
	CHECK_EQ(s.dll, 0x0c);
	CHECK_EQ(s.dlm, 0x01);
	CHECK_EQ(s.fcr, 0x81);
	CHECK_EQ(s.lsr_err, 0x02); /* OE; 0x4a at the top has no error */
	CHECK_EQ(s.msr_delta, 0x03);
	CHECK_EQ(s.thre_pending, 1);
	CHECK_EQ(s.rx_count, 16);
	static const u8 want[16] = { 0x4a, 0x4b, 0x00, 0x60, 0x61, 0x62, 0x63, 0x64,
				     0x65, 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76 };
	CHECK_EQ(memcmp(s.rx_data, want, 16), 0);
	for (int i = 0; i < 16; i++)
		CHECK_EQ(s.rx_err[i], i == 2 ? 0x10 : 0);
	CHECK_EQ(s.line_len, 4);
	CHECK_EQ(memcmp(s.line, "part", 4), 0);
	for (int i = 4; i < VUART_LINE_MAX; i++)
		CHECK_EQ(s.line[i], 0);
	CHECK_EQ(s.reserved, 0);
	CHECK_EQ(s.reserved2, 0);
	CHECK_EQ(s.reserved3, 0);
	CHECK_EQ(s.tx_bytes, 4);
}

/* The same reads on the original and the copy give the same answers. */
TEST(save_load_gives_identical_reads)
{
	struct vuart a, b;
	struct vuart_state s;
	const char *err = NULL;
	busy(&a);
	vuart_save(&a, &s);
	nlines = 0;
	vuart_init(&b, sink, lines);
	CHECK_EQ(vuart_load(&b, &s, &err), 0);
	CHECK(vuart_irq_pending(&a) == vuart_irq_pending(&b));
	static const u8 script[] = { IIR, LSR, LSR, IIR, MSR, MSR, IER, LCR, MCR, SCR };
	for (size_t i = 0; i < ARRAY_SIZE(script); i++)
		CHECK_EQ(vuart_read(&a, script[i]), vuart_read(&b, script[i]));
	for (int i = 0; i < 17; i++) {
		CHECK_EQ(vuart_read(&a, LSR), vuart_read(&b, LSR));
		CHECK_EQ(vuart_read(&a, IIR), vuart_read(&b, IIR));
		CHECK_EQ(vuart_read(&a, DATA), vuart_read(&b, DATA));
	}
	vuart_write(&a, LCR, 0x9b);
	vuart_write(&b, LCR, 0x9b);
	CHECK_EQ(vuart_read(&b, DATA), 0x0c);
	CHECK_EQ(vuart_read(&b, IER), 0x01);
	CHECK_EQ(b.tx_bytes, 4);
	vuart_flush(&a);
	vuart_flush(&b);
	CHECK_EQ(nlines, 2);
	CHECK_STR_EQ(lines[0], "part");
	CHECK_STR_EQ(lines[1], "part");
}

TEST(save_load_of_a_reset_uart)
{
	struct vuart a, b;
	struct vuart_state s;
	const char *err = NULL;
	setup(&a);
	vuart_save(&a, &s);
	busy(&b);
	CHECK_EQ(vuart_load(&b, &s, &err), 0);
	CHECK_EQ(vuart_read(&b, LSR), 0x60);
	CHECK_EQ(vuart_read(&b, IIR), 0x01);
	CHECK_EQ(vuart_read(&b, MSR), 0xb0);
	CHECK_EQ(vuart_read(&b, DATA), 0);
	CHECK_EQ(b.tx_bytes, 0);
	CHECK_EQ(vuart_rx_push(&b, 'z'), 0); /* FIFO ring restarted cleanly */
	CHECK_EQ(vuart_read(&b, DATA), 'z');
}

typedef void (*mutation)(struct vuart_state *s);
static void m_version(struct vuart_state *s) { s->version = 2; }
static void m_version0(struct vuart_state *s) { s->version = 0; }
static void m_reserved(struct vuart_state *s) { s->reserved = 1; }
static void m_reserved2(struct vuart_state *s) { s->reserved2 = 0x100; }
static void m_reserved3(struct vuart_state *s) { s->reserved3 = 1u << 31; }
static void m_ier(struct vuart_state *s) { s->ier = 0x1e; }
static void m_mcr(struct vuart_state *s) { s->mcr = 0x38; }
static void m_fcr_clear_bit(struct vuart_state *s) { s->fcr = 0x83; }
static void m_fcr_reserved(struct vuart_state *s) { s->fcr = 0xa1; }
static void m_fcr_no_enable(struct vuart_state *s) { s->fcr = 0x80, s->rx_count = 1; memset(s->rx_data + 1, 0, 15), memset(s->rx_err + 1, 0, 15); }
static void m_lsr_dr(struct vuart_state *s) { s->lsr_err = 0x03; }
static void m_lsr_thre(struct vuart_state *s) { s->lsr_err = 0x20; }
static void m_msr(struct vuart_state *s) { s->msr_delta = 0x13; }
static void m_thre2(struct vuart_state *s) { s->thre_pending = 2; }
static void m_thre_masked(struct vuart_state *s) { s->ier = 0x0c; }
static void m_count(struct vuart_state *s) { s->rx_count = 17; }
static void m_count255(struct vuart_state *s) { s->rx_count = 255; }
static void m_count_16450(struct vuart_state *s) { s->fcr = 0; }
static void m_rx_err_oe(struct vuart_state *s) { s->rx_err[5] = 0x02; }
static void m_rx_err_thre(struct vuart_state *s) { s->rx_err[0] = 0x30; }
static void m_past_count(struct vuart_state *s) { s->rx_count = 15; }
static void m_past_count_err(struct vuart_state *s) { s->rx_count = 2; s->rx_err[2] = 0; memset(s->rx_data + 2, 0, 14); s->rx_err[9] = 0x10; }
static void m_line_len(struct vuart_state *s) { s->line_len = VUART_LINE_MAX + 1; }
static void m_line_ctrl(struct vuart_state *s) { s->line[1] = 0x1b; }
static void m_line_del(struct vuart_state *s) { s->line[3] = 0x7f; }
static void m_line_past(struct vuart_state *s) { s->line[VUART_LINE_MAX - 1] = 'x'; }
static void m_line_shorter(struct vuart_state *s) { s->line_len = 2; }

TEST(load_refuses_bad_states_and_leaves_the_uart_alone)
{
	static const mutation bad[] = {
		m_version, m_version0, m_reserved, m_reserved2, m_reserved3, m_ier, m_mcr,
		m_fcr_clear_bit, m_fcr_reserved, m_fcr_no_enable, m_lsr_dr, m_lsr_thre,
		m_msr, m_thre2, m_thre_masked, m_count, m_count255, m_count_16450,
		m_rx_err_oe, m_rx_err_thre, m_past_count, m_past_count_err, m_line_len,
		m_line_ctrl, m_line_del, m_line_past, m_line_shorter,
	};
	struct vuart src, dst;
	struct vuart_state good, s, before, after;
	busy(&src);
	vuart_save(&src, &good);
	setup(&dst);
	tx_str(&dst, "keep");
	vuart_write(&dst, SCR, 0x42);
	vuart_save(&dst, &before);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		s = good;
		bad[i](&s);
		const char *err = NULL;
		if (vuart_load(&dst, &s, &err) != -1)
			unit_fail(__FILE__, __LINE__, "mutation %zu was accepted", i);
		CHECK(err && *err);
		vuart_save(&dst, &after);
		CHECK_EQ(memcmp(&before, &after, sizeof(before)), 0);
	}
	CHECK_EQ(vuart_load(&dst, &good, NULL), 0); /* the base case is fine */
	CHECK_EQ(vuart_read(&dst, SCR), 0xa5);
}
