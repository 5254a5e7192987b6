/*
 * hv/vuart.c as a 16550A (PC16550D data sheet): what Linux's 8250 driver
 * does to probe and drive it (8250_port.c autoconfig, serial8250_do_startup,
 * the polled path), the receive FIFO, interrupt identification and its
 * priorities, loopback into MSR, overrun and break. Expected values come
 * from the data sheet's register bit tables.
 */
#include "vuart_test.h"

/* Register values used below, from the data sheet's register tables. */
#define FCR_EN 0x01
#define FCR_CLR_RX 0x02
#define FCR_CLR_TX 0x04
#define MCR_LOOP 0x10

TEST(reset_values_of_a_16550a)
{
	setup();
	CHECK_EQ(vuart_read(&u, LSR), 0x60); /* THRE | TEMT, no data */
	CHECK_EQ(vuart_read(&u, IIR), 0x01); /* no interrupt, FIFOs off (bits 7:6 = 0) */
	CHECK_EQ(vuart_read(&u, MSR), 0xb0); /* DCD, DSR, CTS; no deltas */
	CHECK_EQ(vuart_read(&u, MSR), 0xb0);
	CHECK_EQ(vuart_read(&u, SCR), 0);
	CHECK(!vuart_irq_pending(&u));
	CHECK_EQ(vuart_rx_room(&u), 1); /* 16450 mode: the RBR only */
	vuart_write(&u, LCR, 0x83);
	CHECK_EQ(vuart_read(&u, DATA), 0x01); /* divisor 1: 115200 baud */
	CHECK_EQ(vuart_read(&u, IER), 0x00);
}

/* drivers/tty/serial/8250/8250_port.c autoconfig(), step by step, with the
 * answers a 16550A gives. */
TEST(linux_autoconfig_finds_a_16550a)
{
	setup();
	/* IER scratch test: 0 reads 0, 0x0f reads 0x0f. */
	u8 save_ier = vuart_read(&u, IER);
	vuart_write(&u, IER, 0);
	CHECK_EQ(vuart_read(&u, IER) & 0x0f, 0);
	vuart_write(&u, IER, 0x0f);
	CHECK_EQ(vuart_read(&u, IER) & 0x0f, 0x0f);
	vuart_write(&u, IER, save_ier);
	u8 save_mcr = vuart_read(&u, MCR), save_lcr = vuart_read(&u, LCR);
	/* Loopback test: LOOP|OUT2|RTS gives DCD|CTS. */
	vuart_write(&u, MCR, 0x1a);
	CHECK_EQ(vuart_read(&u, MSR) & 0xf0, 0x90);
	vuart_write(&u, MCR, save_mcr);
	/* EFR write in configuration mode B reaches FCR on a 16550A. */
	vuart_write(&u, LCR, 0xbf);
	vuart_write(&u, IIR, 0);
	vuart_write(&u, LCR, 0);
	/* FIFO detection: bits 7:6 of IIR both set. */
	vuart_write(&u, IIR, FCR_EN);
	CHECK_EQ(vuart_read(&u, IIR) >> 6, 3);
	/* autoconfig_16550a: no EFR reads 0 with LCR 0x80 or 0xbf. */
	vuart_write(&u, LCR, 0x80);
	CHECK(vuart_read(&u, IIR) != 0);
	vuart_write(&u, LCR, 0xbf);
	CHECK(vuart_read(&u, IIR) != 0);
	/* Not a NatSemi SuperIO: "EXCR1" (offset 2 with LCR 0xe0) does not
	 * follow MCR.LOOP. */
	vuart_write(&u, LCR, 0);
	u8 st1 = vuart_read(&u, MCR);
	vuart_write(&u, LCR, 0xe0);
	u8 st2 = vuart_read(&u, IIR);
	CHECK_EQ((st1 ^ st2) & MCR_LOOP, 0);
	vuart_write(&u, LCR, 0);
	vuart_write(&u, MCR, st1 ^ MCR_LOOP);
	vuart_write(&u, LCR, 0xe0);
	st2 = vuart_read(&u, IIR);
	vuart_write(&u, LCR, 0);
	vuart_write(&u, MCR, st1);
	CHECK_EQ((st1 ^ st2) & MCR_LOOP, 0);
	/* Not a 16750: IIR bit 5 stays clear with FCR bit 5, DLAB or not. */
	vuart_write(&u, IIR, FCR_EN | 0x20);
	CHECK_EQ(vuart_read(&u, IIR) & 0xe0, 0xc0);
	vuart_write(&u, IIR, 0);
	vuart_write(&u, LCR, 0x80);
	vuart_write(&u, IIR, FCR_EN | 0x20);
	CHECK_EQ(vuart_read(&u, IIR) & 0xe0, 0xc0);
	vuart_write(&u, IIR, 0);
	vuart_write(&u, LCR, 0);
	/* Not an XScale: IER bit 6 (UUE) does not stick. */
	vuart_write(&u, IER, 0x40);
	CHECK_EQ(vuart_read(&u, IER), 0);
	/* size_fifo(): 256 bytes in loopback at divisor 1; 16 come back. */
	vuart_write(&u, IIR, FCR_EN | FCR_CLR_RX | FCR_CLR_TX);
	vuart_write(&u, MCR, MCR_LOOP);
	vuart_write(&u, LCR, 0x80);
	vuart_write(&u, DATA, 0x01);
	vuart_write(&u, IER, 0x00);
	vuart_write(&u, LCR, 0x03);
	for (int i = 0; i < 256; i++)
		vuart_write(&u, DATA, (u8)i);
	int count = 0;
	while ((vuart_read(&u, LSR) & 0x01) && count < 256)
		CHECK_EQ(vuart_read(&u, DATA), count++);
	CHECK_EQ(count, 16);
	vuart_write(&u, MCR, save_mcr);
	vuart_write(&u, LCR, save_lcr);
	CHECK_EQ(nlines, 0);
	CHECK_EQ(u.tx_bytes, 0); /* loopback bytes never left */
}

TEST(fcr_e7_turns_fifos_on_without_a_64_byte_fifo)
{
	setup();
	vuart_write(&u, IIR, 0xe7);
	u8 iir = vuart_read(&u, IIR);
	CHECK_EQ(iir >> 6, 3);
	CHECK_EQ(iir, 0xc1); /* bit 5 clear: 16 bytes, no interrupt */
	CHECK_EQ(vuart_rx_room(&u), 16);
	vuart_write(&u, IIR, 0x00);
	CHECK_EQ(vuart_read(&u, IIR), 0x01);
	vuart_write(&u, IIR, 0xc6); /* bit 0 clear: nothing is programmed */
	CHECK_EQ(vuart_read(&u, IIR), 0x01);
}

TEST(divisor_latch_and_lcr_read_back)
{
	setup();
	static const u8 lcrs[] = { 0x00, 0x03, 0x1b, 0x3f, 0x43, 0x7f };
	for (size_t i = 0; i < ARRAY_SIZE(lcrs); i++) {
		vuart_write(&u, LCR, lcrs[i]);
		CHECK_EQ(vuart_read(&u, LCR), lcrs[i]);
		vuart_write(&u, LCR, (u8)(lcrs[i] | 0x80));
		CHECK_EQ(vuart_read(&u, LCR), lcrs[i] | 0x80);
	}
	vuart_write(&u, LCR, 0x83);
	vuart_write(&u, DATA, 0x0c); /* 9600 baud: divisor 12 */
	vuart_write(&u, IER, 0x00);
	CHECK_EQ(vuart_read(&u, DATA), 0x0c);
	CHECK_EQ(vuart_read(&u, IER), 0x00);
	vuart_write(&u, DATA, 0x80); /* 50 baud: divisor 2304 = 0x0900 */
	vuart_write(&u, IER, 0x09);
	CHECK_EQ(vuart_read(&u, DATA), 0x80);
	CHECK_EQ(vuart_read(&u, IER), 0x09);
	vuart_write(&u, LCR, 0x03);
	CHECK_EQ(vuart_read(&u, IER), 0x00); /* the real IER, untouched */
	CHECK_EQ(u.tx_bytes, 0);
}

TEST(thre_interrupt_raised_cleared_by_iir_read_and_reraised)
{
	setup();
	vuart_write(&u, IER, 0x02); /* ETBEI with THR empty raises it */
	CHECK_EQ(vuart_read(&u, IIR), 0x02);
	CHECK_EQ(vuart_read(&u, IIR), 0x01); /* the read cleared it */
	/* A THR write clears it, and the byte leaves at once: THR is empty
	 * again, which raises it anew. */
	vuart_write(&u, DATA, 'x');
	CHECK_EQ(vuart_read(&u, IIR), 0x02);
	CHECK_EQ(vuart_read(&u, IIR), 0x01);
	/* Linux's startup test: IER off and on again reasserts it. */
	vuart_write(&u, IER, 0);
	vuart_write(&u, IER, 0x02);
	CHECK_EQ(vuart_read(&u, IIR), 0x02);
	/* Turning ETBEI off drops it. */
	vuart_write(&u, DATA, 'y');
	vuart_write(&u, IER, 0);
	CHECK_EQ(vuart_read(&u, IIR), 0x01);
	/* Rewriting IER with ETBEI already on does not raise it again. */
	vuart_write(&u, IER, 0x02);
	CHECK_EQ(vuart_read(&u, IIR), 0x02);
	vuart_write(&u, IER, 0x03);
	CHECK_EQ(vuart_read(&u, IIR), 0x01);
	vuart_write(&u, IIR, FCR_EN);
	vuart_write(&u, DATA, '\n');
	CHECK_EQ(vuart_read(&u, IIR), 0xc2);
	CHECK_EQ(nlines, 1);
	CHECK_STR_EQ(lines[0], "xy");
}

TEST(receive_in_16450_mode_holds_one_byte)
{
	setup();
	CHECK_EQ(vuart_rx_push(&u, 'a'), 0);
	CHECK_EQ(vuart_rx_push(&u, 'b'), -1); /* refused, not an overrun */
	CHECK_EQ(vuart_rx_room(&u), 0);
	CHECK_EQ(vuart_read(&u, LSR), 0x61);
	CHECK_EQ(vuart_read(&u, DATA), 'a');
	CHECK_EQ(vuart_read(&u, LSR), 0x60);
	CHECK_EQ(vuart_read(&u, DATA), 0); /* empty */
	CHECK_EQ(vuart_rx_push(&u, 'b'), 0);
	CHECK_EQ(vuart_read(&u, DATA), 'b');
}

TEST(receive_fifo_in_order_and_full)
{
	setup();
	vuart_write(&u, IIR, FCR_EN);
	for (int i = 0; i < 16; i++)
		CHECK_EQ(vuart_rx_push(&u, (u8)('A' + i)), 0);
	CHECK_EQ(vuart_rx_push(&u, '!'), -1);
	CHECK_EQ(vuart_rx_room(&u), 0);
	CHECK_EQ(vuart_read(&u, LSR), 0x61); /* no OE: the host kept the byte */
	for (int i = 0; i < 10; i++)
		CHECK_EQ(vuart_read(&u, DATA), 'A' + i);
	CHECK_EQ(vuart_rx_room(&u), 10);
	for (int i = 0; i < 10; i++) /* wraps around the ring */
		CHECK_EQ(vuart_rx_push(&u, (u8)('a' + i)), 0);
	for (int i = 10; i < 16; i++)
		CHECK_EQ(vuart_read(&u, DATA), 'A' + i);
	for (int i = 0; i < 10; i++)
		CHECK_EQ(vuart_read(&u, DATA), 'a' + i);
	CHECK_EQ(vuart_read(&u, LSR), 0x60);
}

TEST(fcr_clears_the_receive_fifo)
{
	setup();
	vuart_write(&u, IIR, FCR_EN);
	vuart_rx_push(&u, '1');
	vuart_rx_push(&u, '2');
	vuart_write(&u, IIR, FCR_EN | FCR_CLR_TX); /* TX clear leaves RX */
	CHECK_EQ(vuart_read(&u, LSR), 0x61);
	vuart_write(&u, IIR, FCR_EN | FCR_CLR_RX);
	CHECK_EQ(vuart_read(&u, LSR), 0x60);
	CHECK_EQ(vuart_read(&u, DATA), 0);
	vuart_rx_push(&u, '3');
	vuart_write(&u, IIR, 0); /* FIFOs off: emptied */
	CHECK_EQ(vuart_read(&u, LSR), 0x60);
	vuart_rx_push(&u, '4');
	vuart_write(&u, IIR, FCR_EN); /* and on again: emptied too */
	CHECK_EQ(vuart_read(&u, LSR), 0x60);
	vuart_rx_push(&u, '5');
	vuart_write(&u, IIR, FCR_EN | 0x80); /* a new trigger level only */
	CHECK_EQ(vuart_read(&u, DATA), '5');
}

TEST(overrun_only_when_a_byte_arrives_with_the_fifo_full)
{
	setup();
	vuart_write(&u, IIR, FCR_EN);
	vuart_write(&u, MCR, MCR_LOOP);
	CHECK_EQ(vuart_rx_push(&u, 'h'), -1); /* loopback: input disconnected */
	CHECK_EQ(vuart_rx_room(&u), 0);
	for (int i = 0; i < 16; i++)
		vuart_write(&u, DATA, (u8)('A' + i));
	CHECK_EQ(vuart_read(&u, LSR), 0x61); /* full, nothing lost yet */
	vuart_write(&u, DATA, 'Z');
	CHECK_EQ(vuart_read(&u, LSR), 0x63); /* OE */
	CHECK_EQ(vuart_read(&u, LSR), 0x61); /* cleared by the read */
	for (int i = 0; i < 16; i++)
		CHECK_EQ(vuart_read(&u, DATA), 'A' + i); /* 'Z' was lost */
	CHECK_EQ(vuart_read(&u, LSR), 0x60);
	/* 16450 mode: the new byte overwrites the RBR. */
	vuart_write(&u, IIR, 0);
	vuart_write(&u, DATA, 'x');
	vuart_write(&u, DATA, 'y');
	CHECK_EQ(vuart_read(&u, LSR), 0x63);
	CHECK_EQ(vuart_read(&u, DATA), 'y');
	CHECK_EQ(vuart_read(&u, LSR), 0x60);
}

TEST(loopback_returns_transmitted_bytes_cut_to_word_length)
{
	setup();
	vuart_write(&u, IIR, FCR_EN);
	vuart_write(&u, MCR, MCR_LOOP);
	tx_str("hi\n");
	CHECK_EQ(vuart_read(&u, DATA), 'h');
	CHECK_EQ(vuart_read(&u, DATA), 'i');
	CHECK_EQ(vuart_read(&u, DATA), '\n');
	vuart_write(&u, LCR, 0x00); /* 5 bits */
	vuart_write(&u, DATA, 0xff);
	CHECK_EQ(vuart_read(&u, DATA), 0x1f);
	vuart_write(&u, LCR, 0x02); /* 7 bits */
	vuart_write(&u, DATA, 0xff);
	CHECK_EQ(vuart_read(&u, DATA), 0x7f);
	CHECK_EQ(nlines, 0);
	CHECK_EQ(u.tx_bytes, 0);
	vuart_write(&u, LCR, 0x03);
	vuart_write(&u, MCR, 0);
	tx_str("out\n");
	CHECK_EQ(nlines, 1);
	CHECK_STR_EQ(lines[0], "out");
	CHECK_EQ(vuart_read(&u, LSR), 0x60);
}

TEST(loopback_modem_lines_and_deltas)
{
	setup();
	/* Entering loopback with no outputs: CTS, DSR, DCD drop (DCTS, DDSR,
	 * DDCD = 0x0b); RI stays off. */
	vuart_write(&u, MCR, MCR_LOOP);
	CHECK_EQ(vuart_read(&u, MSR), 0x0b);
	CHECK_EQ(vuart_read(&u, MSR), 0x00); /* deltas cleared by the read */
	vuart_write(&u, MCR, MCR_LOOP | 0x01); /* DTR -> DSR */
	CHECK_EQ(vuart_read(&u, MSR), 0x22);
	vuart_write(&u, MCR, MCR_LOOP | 0x02); /* RTS -> CTS; DSR drops */
	CHECK_EQ(vuart_read(&u, MSR), 0x13);
	vuart_write(&u, MCR, MCR_LOOP | 0x04); /* OUT1 -> RI; CTS drops; no TERI */
	CHECK_EQ(vuart_read(&u, MSR), 0x41);
	vuart_write(&u, MCR, MCR_LOOP | 0x08); /* OUT2 -> DCD; RI ends: TERI */
	CHECK_EQ(vuart_read(&u, MSR), 0x8c);
	vuart_write(&u, MCR, MCR_LOOP | 0x0f);
	CHECK_EQ(vuart_read(&u, MSR), 0xf3);
	vuart_write(&u, MCR, 0x0f); /* out of loopback: the cable again */
	CHECK_EQ(vuart_read(&u, MSR), 0xb4); /* RI ended: TERI */
	vuart_write(&u, MCR, 0x00); /* outputs do not reach the inputs */
	CHECK_EQ(vuart_read(&u, MSR), 0xb0);
}

/* All four sources pending at once, then taken away from the top. */
TEST(iir_priority_order)
{
	setup();
	vuart_write(&u, IIR, FCR_EN | 0xc0); /* trigger level 14 */
	vuart_write(&u, MCR, MCR_LOOP);       /* modem status deltas */
	for (int i = 0; i < 17; i++)          /* 16 bytes and an overrun */
		vuart_write(&u, DATA, (u8)i);
	vuart_write(&u, IER, 0x0f);           /* THR empty raised too */
	CHECK_EQ(vuart_read(&u, IIR), 0xc6);  /* receiver line status */
	CHECK_EQ(vuart_read(&u, IIR), 0xc6);  /* IIR read does not clear it */
	CHECK_EQ(vuart_read(&u, LSR), 0x63);
	CHECK_EQ(vuart_read(&u, IIR), 0xc4);  /* data: 16 >= 14 */
	vuart_read(&u, DATA);
	vuart_read(&u, DATA);
	CHECK_EQ(vuart_read(&u, IIR), 0xc4);  /* 14: still at the trigger */
	vuart_read(&u, DATA);
	CHECK_EQ(vuart_read(&u, IIR), 0xcc);  /* 13 below the trigger: timeout */
	for (int i = 0; i < 13; i++)
		vuart_read(&u, DATA);
	CHECK_EQ(vuart_read(&u, IIR), 0xc2);  /* THR empty, cleared by this read */
	CHECK_EQ(vuart_read(&u, IIR), 0xc0);  /* modem status */
	CHECK_EQ(vuart_read(&u, MSR), 0x0b);
	CHECK_EQ(vuart_read(&u, IIR), 0xc1);
	/* Without FIFOs, one byte is plain received data, never a timeout. */
	vuart_write(&u, IIR, 0);
	vuart_write(&u, DATA, 'q');
	CHECK_EQ(vuart_read(&u, IIR), 0x04);
	vuart_write(&u, IER, 0x00);
	CHECK_EQ(vuart_read(&u, IIR), 0x01); /* IER masks all sources */
}

/* FCR bits 7:6 select 1, 4, 8 or 14 bytes for "received data available";
 * below that a non-empty FIFO reports a character timeout. */
TEST(receive_trigger_levels)
{
	static const u8 fcr[] = { 0x01, 0x41, 0x81, 0xc1 }, level[] = { 1, 4, 8, 14 };
	for (int t = 0; t < 4; t++) {
		setup();
		vuart_write(&u, IIR, fcr[t]);
		vuart_write(&u, IER, 0x01);
		for (int i = 1; i < level[t]; i++) {
			vuart_rx_push(&u, 'a');
			CHECK_EQ(vuart_read(&u, IIR), 0xcc);
		}
		vuart_rx_push(&u, 'b');
		CHECK_EQ(vuart_read(&u, IIR), 0xc4);
	}
}

TEST(irq_line_needs_out2_and_no_loopback)
{
	setup();
	vuart_write(&u, IER, 0x01);
	vuart_rx_push(&u, 'k');
	CHECK(!vuart_irq_pending(&u)); /* OUT2 off */
	vuart_write(&u, MCR, 0x08);
	CHECK(vuart_irq_pending(&u));
	vuart_write(&u, MCR, 0x18);
	CHECK(!vuart_irq_pending(&u)); /* loopback forces OUT2 inactive */
	vuart_write(&u, MCR, 0x0b);
	CHECK(vuart_irq_pending(&u));
	CHECK_EQ(vuart_read(&u, DATA), 'k');
	CHECK(!vuart_irq_pending(&u));
	/* CTS and DSR went away in loopback and came back: DCTS, DDSR. */
	CHECK_EQ(vuart_read(&u, MSR), 0xb3);
	vuart_write(&u, IER, 0x0f);
	CHECK(vuart_irq_pending(&u)); /* THR empty */
	vuart_read(&u, IIR);
	CHECK(!vuart_irq_pending(&u));
}

TEST(break_is_a_flagged_zero_byte)
{
	setup();
	vuart_write(&u, IIR, FCR_EN);
	vuart_write(&u, IER, 0x04);
	CHECK_EQ(vuart_rx_push(&u, 'a'), 0);
	CHECK_EQ(vuart_rx_break(&u), 0);
	CHECK_EQ(vuart_read(&u, IIR), 0xc1); /* BI not revealed yet */
	CHECK_EQ(vuart_read(&u, LSR), 0xe1); /* but the FIFO holds an error */
	CHECK_EQ(vuart_read(&u, DATA), 'a');
	CHECK_EQ(vuart_read(&u, IIR), 0xc6); /* now at the top */
	CHECK_EQ(vuart_read(&u, LSR), 0xf1);
	CHECK_EQ(vuart_read(&u, LSR), 0xe1);
	CHECK_EQ(vuart_read(&u, DATA), 0);
	CHECK_EQ(vuart_read(&u, LSR), 0x60);
	vuart_write(&u, IIR, 0); /* 16450 mode: no FIFO error bit */
	CHECK_EQ(vuart_rx_break(&u), 0);
	CHECK_EQ(vuart_read(&u, LSR), 0x71);
}

/* serial8250_do_startup() and a polled receive as Linux does them with no
 * IRQ: the timer reads IIR and acts only when it reports something. */
TEST(linux_startup_and_polled_io)
{
	setup();
	vuart_write(&u, IIR, FCR_EN); /* serial8250_clear_fifos */
	vuart_write(&u, IIR, FCR_EN | FCR_CLR_RX | FCR_CLR_TX);
	vuart_write(&u, IIR, 0);
	vuart_read(&u, LSR);
	vuart_read(&u, DATA);
	vuart_read(&u, IIR);
	vuart_read(&u, MSR);
	CHECK(vuart_read(&u, LSR) != 0xff);
	vuart_write(&u, LCR, 0x03);
	vuart_write(&u, MCR, 0x03); /* DTR | RTS, no OUT2 without an IRQ */
	vuart_write(&u, IER, 0x02); /* the TXEN test */
	CHECK_EQ(vuart_read(&u, LSR) & 0x40, 0x40);
	CHECK_EQ(vuart_read(&u, IIR) & 0x01, 0);
	vuart_write(&u, IER, 0);
	vuart_write(&u, IIR, 0x81); /* set_termios: FIFO, trigger 8 */
	vuart_write(&u, IER, 0x05); /* RLSI | RDI */
	CHECK_EQ(vuart_read(&u, IIR), 0xc1); /* idle poll */
	for (const char *s = "ls\n"; *s; s++)
		CHECK_EQ(vuart_rx_push(&u, (u8)*s), 0);
	CHECK_EQ(vuart_read(&u, IIR), 0xcc); /* 3 < 8: character timeout */
	char got[4] = { 0 };
	for (int i = 0; vuart_read(&u, LSR) & 0x01; i++)
		got[i] = (char)vuart_read(&u, DATA);
	CHECK_STR_EQ(got, "ls\n");
	CHECK_EQ(vuart_read(&u, IIR), 0xc1);
	vuart_write(&u, IER, 0x07); /* start_tx */
	CHECK_EQ(vuart_read(&u, IIR), 0xc2);
	tx_str("# \n");
	vuart_write(&u, IER, 0x05); /* stop_tx */
	CHECK_EQ(vuart_read(&u, IIR), 0xc1);
	CHECK_EQ(nlines, 1);
	CHECK_STR_EQ(lines[0], "# ");
	CHECK(!vuart_irq_pending(&u));
}
