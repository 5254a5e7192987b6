/*
 * tools/ternctl/proto.c: the key file (hex, whitespace around it, limits),
 * HOST[:PORT] forms, command words joined into one bounded line, and the
 * end-of-answer rule (the prompt at the start of a line, at the end).
 */
#include "unit.h"
/* A host tool's pure part, not in the Makefile's PURE_SRCS: included whole. */
#include "../../tools/ternctl/proto.c"

static unsigned char key[TERNCTL_PSK_MAX];
static size_t key_len;
static const char *why;

static int psk(const char *text)
{
	why = NULL;
	key_len = 0;
	return psk_parse(text, strlen(text), key, &key_len, &why);
}

TEST(psk_hex_with_newline)
{
	CHECK_EQ(psk("00ff10Ab\n"), 0);
	CHECK_EQ(key_len, 4);
	CHECK_EQ(key[0], 0x00);
	CHECK_EQ(key[1], 0xff);
	CHECK_EQ(key[2], 0x10);
	CHECK_EQ(key[3], 0xab);
	CHECK_EQ(psk("  \t0102\r\n\n"), 0);
	CHECK_EQ(key_len, 2);
}

TEST(psk_limits)
{
	char text[300];
	memset(text, 'a', 128);
	text[128] = '\0';
	CHECK_EQ(psk(text), 0);
	CHECK_EQ(key_len, 64);
	text[128] = 'a';
	text[129] = 'a';
	text[130] = '\0';
	CHECK_EQ(psk(text), -1);
	CHECK(why != NULL);
	CHECK_EQ(psk("a"), -1);
	CHECK_EQ(psk(""), -1);
	CHECK_EQ(psk("\n"), -1);
	CHECK_EQ(psk("abc"), -1);
	CHECK(strstr(why, "odd"));
}

TEST(psk_rejects_non_hex)
{
	CHECK_EQ(psk("0x0102"), -1);
	CHECK_EQ(psk("01 02"), -1);
	CHECK_EQ(psk("zz"), -1);
	static const char with_nul[] = { '0', '1', '\0', '2' };
	CHECK_EQ(psk_parse(with_nul, sizeof(with_nul), key, &key_len, &why), -1);
}

static char host[64], port[8];

static int target(const char *arg)
{
	host[0] = port[0] = '\0';
	return target_parse(arg, "4444", host, sizeof(host), port, sizeof(port), &why);
}

TEST(target_forms)
{
	CHECK_EQ(target("10.0.2.15"), 0);
	CHECK_STR_EQ(host, "10.0.2.15");
	CHECK_STR_EQ(port, "4444");
	CHECK_EQ(target("localhost:5555"), 0);
	CHECK_STR_EQ(host, "localhost");
	CHECK_STR_EQ(port, "5555");
	CHECK_EQ(target("[::1]:99"), 0);
	CHECK_STR_EQ(host, "::1");
	CHECK_STR_EQ(port, "99");
	CHECK_EQ(target("[fe80::1]"), 0);
	CHECK_STR_EQ(port, "4444");
	CHECK_EQ(target("fe80::1"), 0);
	CHECK_STR_EQ(host, "fe80::1");
}

TEST(target_errors)
{
	CHECK_EQ(target("host:"), -1);
	CHECK_EQ(target("host:0"), -1);
	CHECK_EQ(target("host:65536"), -1);
	CHECK_EQ(target("host:12x"), -1);
	CHECK_EQ(target(":4444"), -1);
	CHECK_EQ(target("[::1"), -1);
	CHECK_EQ(target("[::1]x"), -1);
	char longname[200];
	memset(longname, 'h', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK_EQ(target(longname), -1);
}

TEST(command_words)
{
	char line[TERNCTL_LINE_MAX + 1];
	char *w[] = { "info", "status" };
	CHECK_EQ(command_join(w, 2, line, sizeof(line), &why), 0);
	CHECK_STR_EQ(line, "info status");
	char *nl[] = { "help\nshutdown" };
	CHECK_EQ(command_join(nl, 1, line, sizeof(line), &why), -1);
	static char big[300];
	memset(big, 'x', 256);
	char *ok[] = { big };
	CHECK_EQ(command_join(ok, 1, line, sizeof(line), &why), 0);
	big[256] = 'x';
	CHECK_EQ(command_join(ok, 1, line, sizeof(line), &why), -1);
	char small[8];
	char *two[] = { "abc", "defg" };
	CHECK_EQ(command_join(two, 2, small, sizeof(small), &why), -1);
}

static long end_of(const char *s)
{
	return answer_end(s, strlen(s));
}

TEST(answer_end_rule)
{
	CHECK_EQ(end_of("(tern) "), 0);
	CHECK_EQ(end_of("VM status: running\n(tern) "), 19);
	CHECK_EQ(end_of("VM status: running\n"), -1);
	CHECK_EQ(end_of("VM status: running\n(tern)"), -1);
	CHECK_EQ(end_of("a line mentioning (tern) "), -1);
	CHECK_EQ(end_of(""), -1);
	CHECK_EQ(end_of("(tern) (tern) "), -1);
}
