/*
 * hv/vuart.c with a clock set (boot option stamp_guest): every line reaches
 * the sink as "@N text", N the clock when the line's first byte arrived, so
 * a line that takes long to finish (a prompt) is dated by its start.
 */
#include "unit.h"
#include <tern/vuart.h>

static char got[8][VUART_LINE_MAX + 32];
static int ngot;
static u64 now;
static struct vuart u;

static void sink(void *ctx, const char *line)
{
	CHECK(ctx == (void *)got);
	if (ngot < 8)
		snprintf(got[ngot], sizeof(got[0]), "%s", line);
	ngot++;
}

static u64 fake_clock(void)
{
	return now;
}

static void tx(const char *s)
{
	for (; *s; s++, now += 10)
		vuart_write(&u, 0, (u8)*s);
}

static void setup(void)
{
	ngot = 0;
	now = 1000;
	memset(got, 0, sizeof(got));
	vuart_init(&u, sink, got);
	vuart_set_clock(&u, fake_clock);
}

TEST(stamp_is_the_first_byte_time)
{
	setup();
	tx("ab\n");
	CHECK_EQ(ngot, 1);
	CHECK_STR_EQ(got[0], "@1000 ab");
	now = 5000;
	tx("\r\nx\n");
	CHECK_EQ(ngot, 3);
	CHECK_STR_EQ(got[1], "@5010 ");  /* the empty line: its newline's time */
	CHECK_STR_EQ(got[2], "@5020 x");
}

TEST(partial_line_flushed_keeps_its_start)
{
	setup();
	tx("tern-linux# ");
	now = 99999;
	vuart_flush(&u);
	CHECK_EQ(ngot, 1);
	CHECK_STR_EQ(got[0], "@1000 tern-linux# ");
}

TEST(full_line_split_restamps)
{
	setup();
	char buf[VUART_LINE_MAX + 2];
	memset(buf, 'a', VUART_LINE_MAX + 1);
	buf[VUART_LINE_MAX + 1] = '\0';
	tx(buf);
	tx("\n");
	CHECK_EQ(ngot, 2);
	CHECK_EQ(strncmp(got[0], "@1000 aaa", 9), 0);
	CHECK_EQ(strlen(got[0]), 6 + VUART_LINE_MAX);
	char want[32];
	snprintf(want, sizeof(want), "@%u a", 1000 + 10 * VUART_LINE_MAX);
	CHECK_STR_EQ(got[1], want);
}

TEST(clock_set_mid_line_stamps_from_then)
{
	ngot = 0;
	now = 1000;
	vuart_init(&u, sink, got);
	tx("ab");
	now = 7000;
	vuart_set_clock(&u, fake_clock);
	tx("c\n");
	CHECK_STR_EQ(got[0], "@7000 abc");
}

TEST(no_clock_after_init_or_when_cleared)
{
	setup();
	vuart_init(&u, sink, got);
	tx("p\n");
	CHECK_STR_EQ(got[0], "p");
	vuart_set_clock(&u, fake_clock);
	vuart_set_clock(&u, NULL);
	tx("q\n");
	CHECK_STR_EQ(got[1], "q");
}
