/*
 * hv/vuart.c: the guest's 16550 as a polled driver sees it (register map as
 * in the PC16550D data sheet: DLAB in LCR bit 7 turns offsets 0/1 into
 * DLL/DLM, LSR bits 5/6 THRE/TEMT, IER bits 7:4 read as zero) and the line
 * assembly that feeds the host log.
 */
#include "vuart_test.h"

TEST(line_delivered_on_newline)
{
	setup();
	tx_str("hello");
	CHECK_EQ(nlines, 0);
	tx_str("\n");
	CHECK_EQ(nlines, 1);
	CHECK_STR_EQ(lines[0], "hello");
	tx_str("a\nb\n");
	CHECK_EQ(nlines, 3);
	CHECK_STR_EQ(lines[1], "a");
	CHECK_STR_EQ(lines[2], "b");
}

TEST(empty_line_delivered)
{
	setup();
	tx_str("\n\n");
	CHECK_EQ(nlines, 2);
	CHECK_STR_EQ(lines[0], "");
	CHECK_STR_EQ(lines[1], "");
}

TEST(cr_dropped)
{
	setup();
	tx_str("ok\r\n\rx\r\r\n");
	CHECK_EQ(nlines, 2);
	CHECK_STR_EQ(lines[0], "ok");
	CHECK_STR_EQ(lines[1], "x");
}

TEST(control_and_high_bytes_shown_as_question_marks)
{
	setup();
	static const u8 bytes[] = { 'a', 0x00, 0x07, 0x1b, 0x7f, 0x80, 0xff, 'z', '\n' };
	for (size_t i = 0; i < ARRAY_SIZE(bytes); i++)
		vuart_write(&u, DATA, bytes[i]);
	CHECK_EQ(nlines, 1);
	CHECK_STR_EQ(lines[0], "a??????z");
}

TEST(tab_shown_as_space)
{
	setup();
	tx_str("a\tb\n");
	CHECK_STR_EQ(lines[0], "a b");
}

TEST(tx_bytes_counts_everything)
{
	setup();
	tx_str("ab\r\n\x01");
	CHECK_EQ(u.tx_bytes, 5);
}

TEST(long_line_split_at_max)
{
	setup();
	char buf[2 * VUART_LINE_MAX + 11];
	for (int i = 0; i < 2 * VUART_LINE_MAX + 10; i++)
		buf[i] = (char)('a' + i % 26);
	buf[2 * VUART_LINE_MAX + 10] = '\0';
	tx_str(buf);
	CHECK_EQ(nlines, 2);
	CHECK_EQ(strlen(lines[0]), VUART_LINE_MAX);
	CHECK_EQ(strlen(lines[1]), VUART_LINE_MAX);
	CHECK_EQ(memcmp(lines[0], buf, VUART_LINE_MAX), 0);
	CHECK_EQ(memcmp(lines[1], buf + VUART_LINE_MAX, VUART_LINE_MAX), 0);
	tx_str("\n");
	CHECK_EQ(nlines, 3);
	CHECK_EQ(strlen(lines[2]), 10);
	CHECK_EQ(memcmp(lines[2], buf + 2 * VUART_LINE_MAX, 10), 0);
}

TEST(line_one_below_max_is_one_line)
{
	setup();
	for (int i = 0; i < VUART_LINE_MAX - 1; i++)
		vuart_write(&u, DATA, 'x');
	CHECK_EQ(nlines, 0);
	tx_str("\n");
	CHECK_EQ(nlines, 1);
	CHECK_EQ(strlen(lines[0]), VUART_LINE_MAX - 1);
}

/*
 * Regression (was a bug): a line of exactly VUART_LINE_MAX characters and its
 * newline reach the sink as two lines, the second one empty: the split at
 * VUART_LINE_MAX empties the buffer, and the '\n' that follows then counts
 * as an empty line.
 */
TEST(line_of_exactly_max_is_one_line)
{
	setup();
	for (int i = 0; i < VUART_LINE_MAX; i++)
		vuart_write(&u, DATA, 'y');
	tx_str("\n");
	CHECK_EQ(strlen(lines[0]), VUART_LINE_MAX);
	CHECK_EQ(nlines, 1);
}

TEST(flush_hands_over_partial_line)
{
	setup();
	tx_str("partial");
	vuart_flush(&u);
	CHECK_EQ(nlines, 1);
	CHECK_STR_EQ(lines[0], "partial");
	vuart_flush(&u); /* nothing pending: nothing delivered */
	CHECK_EQ(nlines, 1);
	tx_str("next\n");
	CHECK_EQ(nlines, 2);
	CHECK_STR_EQ(lines[1], "next");
}

TEST(flush_of_empty_buffer_delivers_nothing)
{
	setup();
	vuart_flush(&u);
	CHECK_EQ(nlines, 0);
}

TEST(no_sink_is_safe)
{
	vuart_init(&u, NULL, NULL);
	tx_str("dropped\n\npartial");
	vuart_flush(&u);
	for (int i = 0; i < 3 * VUART_LINE_MAX; i++)
		vuart_write(&u, DATA, 'q');
	CHECK_EQ(u.tx_bytes, 16 + 3 * VUART_LINE_MAX);
}

TEST(lsr_reports_transmitter_empty)
{
	setup();
	CHECK_EQ(vuart_read(&u, LSR), 0x60);
	tx_str("busy?");
	CHECK_EQ(vuart_read(&u, LSR), 0x60);
}

TEST(reset_values)
{
	setup();
	CHECK_EQ(vuart_read(&u, IIR), 0x01); /* no interrupt pending */
	CHECK_EQ(vuart_read(&u, IER), 0);
	CHECK_EQ(vuart_read(&u, LCR), 0x03);
	CHECK_EQ(vuart_read(&u, MCR), 0);
	CHECK_EQ(vuart_read(&u, DATA), 0);   /* receiver never has data */
	CHECK_EQ(vuart_read(&u, MSR), 0xb0);  /* DCD, DSR, CTS */
}

TEST(scratch_register_round_trip)
{
	setup();
	for (int v = 0; v < 256; v++) {
		vuart_write(&u, SCR, (u8)v);
		CHECK_EQ(vuart_read(&u, SCR), v);
	}
	CHECK_EQ(nlines, 0);
	CHECK_EQ(u.tx_bytes, 0);
}

TEST(dlab_switches_to_divisor_latch_without_transmitting)
{
	setup();
	vuart_write(&u, IER, 0x05);
	vuart_write(&u, LCR, 0x83); /* DLAB, 8N1 */
	vuart_write(&u, DATA, 0x01); /* DLL: 115200 baud */
	vuart_write(&u, IER, 0x00);  /* DLM */
	CHECK_EQ(vuart_read(&u, DATA), 0x01);
	CHECK_EQ(vuart_read(&u, IER), 0x00);
	vuart_write(&u, DATA, '\n');
	vuart_write(&u, IER, 0x7a);
	CHECK_EQ(vuart_read(&u, DATA), '\n');
	CHECK_EQ(vuart_read(&u, IER), 0x7a);
	CHECK_EQ(u.tx_bytes, 0);
	CHECK_EQ(nlines, 0);
	vuart_write(&u, LCR, 0x03);
	CHECK_EQ(vuart_read(&u, LCR), 0x03);
	CHECK_EQ(vuart_read(&u, IER), 0x05); /* IER was kept */
	CHECK_EQ(vuart_read(&u, DATA), 0);
	tx_str("x\n");
	CHECK_EQ(nlines, 1);
	CHECK_STR_EQ(lines[0], "x");
	vuart_write(&u, LCR, 0x83);
	CHECK_EQ(vuart_read(&u, DATA), '\n'); /* divisor kept too */
	CHECK_EQ(vuart_read(&u, IER), 0x7a);
}

TEST(ier_keeps_only_low_nibble)
{
	setup();
	vuart_write(&u, IER, 0xff);
	CHECK_EQ(vuart_read(&u, IER), 0x0f);
	vuart_write(&u, IER, 0xa5);
	CHECK_EQ(vuart_read(&u, IER), 0x05);
}

TEST(mcr_keeps_only_defined_bits)
{
	setup();
	vuart_write(&u, MCR, 0xff);
	CHECK_EQ(vuart_read(&u, MCR), 0x1f);
}

/* (FCR used to be ignored here too; it is a real register now, see the
 * FIFO tests below.) */
TEST(read_only_registers_ignore_writes)
{
	setup();
	vuart_write(&u, LSR, 0x00);
	vuart_write(&u, MSR, 0x00);
	CHECK_EQ(vuart_read(&u, IIR), 0x01);
	CHECK_EQ(vuart_read(&u, LSR), 0x60);
	CHECK_EQ(vuart_read(&u, MSR), 0xb0);
	CHECK_EQ(u.tx_bytes, 0);
}

TEST(offsets_past_the_register_file)
{
	setup();
	vuart_write(&u, 8, 0x41);
	vuart_write(&u, 0xffffffff, 0x41);
	CHECK_EQ(vuart_read(&u, 8), 0xff);
	CHECK_EQ(vuart_read(&u, 1000), 0xff);
	CHECK_EQ(u.tx_bytes, 0);
}
