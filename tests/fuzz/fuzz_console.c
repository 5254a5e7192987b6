/*
 * Fuzz target: the console's input path (hv/console_cmd.c), shared by the
 * serial console and the network console. The input is what an operator
 * types: every byte goes through con_line_feed() as the UART delivers it,
 * and every completed line through con_parse() on a fresh, exactly sized
 * copy (ASan sees any read past it).
 * Invariants: the editor holds at most CON_LINE_MAX printable bytes; an
 * echo is a 1..3 byte string; a blank line parses as 0, and only a blank
 * one; a parsed command is an entry of con_commands, argc within the
 * entry's [min_args, max_args], every argv a non-empty blank-free word
 * inside the line; a refusal comes with a terminated message that fits
 * err_len (non-empty when there is room for one).
 */
#include <tern/console.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"

static void check_parse(const char *buf, unsigned nth)
{
	static const size_t err_sizes[] = { 1, 9, 64, 200 };
	size_t n = strlen(buf);
	CHECK(n <= CON_LINE_MAX);
	for (size_t i = 0; i < n; i++)
		CHECK(buf[i] >= 0x20 && buf[i] <= 0x7e);

	char *line = malloc(n + 1);
	memcpy(line, buf, n + 1);
	size_t err_len = err_sizes[nth % 4];
	char *err = malloc(err_len);
	memset(err, 0x55, err_len);
	struct con_parsed p;
	memset(&p, 0xa5, sizeof(p));

	int rc = con_parse(line, &p, err, err_len);
	bool blank = strspn(buf, " \t") == n;
	CHECK(rc == 1 || rc == 0 || rc == -1);
	CHECK((rc == 0) == blank);
	if (rc == 1) {
		CHECK(p.cmd >= con_commands && p.cmd < con_commands + CON_NR_CMDS);
		CHECK((int)p.cmd->id == (int)(p.cmd - con_commands));
		CHECK(p.argc >= p.cmd->min_args && p.argc <= p.cmd->max_args);
		CHECK(p.argc <= CON_MAX_ARGS);
		/* The command's first word starts the line. */
		const char *w0 = buf + strspn(buf, " \t");
		size_t l0 = strcspn(p.cmd->name, " ");
		CHECK(!strncmp(w0, p.cmd->name, l0) && (w0[l0] == ' ' || w0[l0] == '\t' || !w0[l0]));
		for (int a = 0; a < p.argc; a++) {
			const char *w = p.argv[a];
			CHECK(w >= line && w < line + n);
			size_t wl = strlen(w);
			CHECK(wl > 0 && w + wl <= line + n);
			CHECK(!strpbrk(w, " \t"));
			if (a)
				CHECK(w > p.argv[a - 1]);
		}
	} else if (rc == -1) {
		CHECK(memchr(err, '\0', err_len));
		if (err_len > 1)
			CHECK(err[0]);
	}
	free(err);
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct con_line l;
	unsigned lines = 0;
	con_line_init(&l);
	for (size_t i = 0; i < size; i++) {
		const char *echo = NULL;
		enum con_feed_result r = con_line_feed(&l, data[i], &echo);
		CHECK(l.len <= CON_LINE_MAX);
		switch (r) {
		case CON_FEED_ECHO:
			CHECK(echo && strlen(echo) >= 1 && strlen(echo) <= 3);
			break;
		case CON_FEED_LINE:
			check_parse(l.buf, lines++);
			break;
		case CON_FEED_NONE:
		case CON_FEED_TOOLONG:
			break;
		default:
			CHECK(!"unknown feed result");
		}
	}
	return 0;
}

/* Seeds: every command, line endings, editing keys, refusals. */
static const char *const seeds[] = {
	"help\n", "info status\r\n", "info vm\ninfo registers\ninfo exits\n",
	"info version\rinfo dirty\ninfo network\n", "calc_dirty_rate 1\n",
	"dirty_log_mode pml\ndirty_log_mode wp\ndirty_log_mode auto\n",
	"ping 10.0.2.2 3\n", "net_send 10.0.2.2 5001 1M\n", "stop\ncont\nsystem_reset\n",
	"shutdown\n", "info\ninfo bogus\nfoo\n", "a b c d e f g h i j k\n",
	"  help   \t\n", "hel\x7fp\n", "\b\b\x7fhelp\r\n\n", "ping\tx\ty\tz\n",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!seed_dir())
		return 0;
	seed_add_strings(seeds, sizeof(seeds) / sizeof(seeds[0]));
	for (int i = 0; i < CON_NR_CMDS; i++) {
		const char *name = con_commands[i].name, *sp = strchr(name, ' ');
		seed_dict(name, strlen(name));
		if (sp)
			seed_dict(sp + 1, strlen(sp + 1));
	}
	static const char *const words[] = { "auto", "pml", "wp", "\r\n", "\x7f" };
	seed_dict_strings(words, sizeof(words) / sizeof(words[0]));
	exit(0);
}
