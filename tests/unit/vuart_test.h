/*
 * What the 16550 tests share (test_vuart.c, test_vuart_16550.c): the
 * register offsets, one UART with a sink that records the lines it gets,
 * and a way to transmit a string.
 */
#ifndef VUART_TEST_H
#define VUART_TEST_H

#include "unit.h"
#include <tern/vuart.h>

enum { DATA = 0, IER = 1, IIR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

static char lines[64][VUART_LINE_MAX + 8];
static int nlines;
static struct vuart u;

static void sink(void *ctx, const char *line)
{
	CHECK(ctx == (void *)lines);
	CHECK(strlen(line) <= VUART_LINE_MAX);
	if (nlines < 64)
		snprintf(lines[nlines], sizeof(lines[0]), "%s", line);
	nlines++;
}

static inline void setup(void)
{
	nlines = 0;
	memset(lines, 0, sizeof(lines));
	vuart_init(&u, sink, lines);
}

static inline void tx_str(const char *s)
{
	for (; *s; s++)
		vuart_write(&u, DATA, (u8)*s);
}

#endif
