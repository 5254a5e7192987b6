/*
 * hv/console_cmd.c: the command parser (every name in con_commands, word
 * splitting on spaces and tabs, errors for unknown names and wrong argument
 * counts) and the line editor (echo, backspace, CR/LF/CR LF, noise bytes,
 * overlong lines), against the contract in tern/console.h.
 */
#include "unit.h"
#include <tern/console.h>

static char line[512];
static char err[128];
static struct con_parsed parsed;

static int parse(const char *text)
{
	snprintf(line, sizeof(line), "%s", text);
	memset(&parsed, 0, sizeof(parsed));
	strcpy(err, "(untouched)");
	return con_parse(line, &parsed, err, sizeof(err));
}

static const struct con_cmd_desc *find_cmd(enum con_cmd_id id)
{
	for (int i = 0; i < CON_NR_CMDS; i++)
		if (con_commands[i].id == id)
			return &con_commands[i];
	return NULL;
}

TEST(table_has_every_id_once)
{
	for (int id = 0; id < CON_NR_CMDS; id++) {
		int n = 0;
		for (int i = 0; i < CON_NR_CMDS; i++)
			n += con_commands[i].id == (enum con_cmd_id)id;
		CHECK_EQ(n, 1);
	}
	for (int i = 0; i < CON_NR_CMDS; i++) {
		CHECK(con_commands[i].name && *con_commands[i].name);
		CHECK(con_commands[i].help && *con_commands[i].help);
		CHECK(con_commands[i].args);
		CHECK(con_commands[i].min_args <= con_commands[i].max_args);
		CHECK(con_commands[i].max_args <= CON_MAX_ARGS);
	}
}

TEST(every_command_parses_by_its_name)
{
	for (int i = 0; i < CON_NR_CMDS; i++) {
		const struct con_cmd_desc *c = &con_commands[i];
		char text[128];
		int n = snprintf(text, sizeof(text), "%s", c->name);
		for (int a = 0; a < c->min_args; a++)
			n += snprintf(text + n, sizeof(text) - (size_t)n, " x");
		CHECK_EQ(parse(text), 1);
		CHECK(parsed.cmd == c);
		CHECK_EQ(parsed.argc, c->min_args);
	}
}

TEST(qemu_style_names)
{
	static const struct { const char *text; enum con_cmd_id id; } cases[] = {
		{ "help", CON_HELP },
		{ "info status", CON_INFO_STATUS },
		{ "info vm", CON_INFO_VM },
		{ "info registers", CON_INFO_REGISTERS },
		{ "info exits", CON_INFO_EXITS },
		{ "info version", CON_INFO_VERSION },
		{ "info dirty", CON_INFO_DIRTY },
		{ "calc_dirty_rate 5", CON_CALC_DIRTY_RATE },
		{ "dirty_log_mode pml", CON_DIRTY_LOG_MODE },
		{ "stop", CON_STOP },
		{ "cont", CON_CONT },
		{ "system_reset", CON_SYSTEM_RESET },
		{ "shutdown", CON_SHUTDOWN },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		CHECK_EQ(parse(cases[i].text), 1);
		CHECK(parsed.cmd == find_cmd(cases[i].id));
	}
}

TEST(extra_whitespace_and_tabs)
{
	CHECK_EQ(parse("   stop   "), 1);
	CHECK_EQ(parsed.cmd->id, CON_STOP);
	CHECK_EQ(parse("\tinfo\t\t  registers \t"), 1);
	CHECK_EQ(parsed.cmd->id, CON_INFO_REGISTERS);
	CHECK_EQ(parse("info    vm"), 1);
	CHECK_EQ(parsed.cmd->id, CON_INFO_VM);
}

TEST(empty_and_blank_lines_return_zero)
{
	CHECK_EQ(parse(""), 0);
	CHECK_EQ(parse("    "), 0);
	CHECK_EQ(parse(" \t \t"), 0);
}

TEST(names_are_case_sensitive_and_whole_words)
{
	CHECK_EQ(parse("HELP"), -1);
	CHECK_EQ(parse("hel"), -1);
	CHECK_EQ(parse("helpme"), -1);
	CHECK_EQ(parse("info statusx"), -1);
	CHECK_EQ(parse("infostatus"), -1);
	CHECK_EQ(parse("system-reset"), -1);
}

TEST(unknown_command_suggests_help)
{
	CHECK_EQ(parse("frobnicate now"), -1);
	CHECK(strstr(err, "frobnicate"));
	CHECK(strstr(err, "help"));
}

TEST(unknown_command_message_is_bounded)
{
	char big[300];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_EQ(parse(big), -1);
	CHECK(strlen(err) < sizeof(err));
	CHECK(strstr(err, "help"));
}

TEST(info_alone_lists_subcommands)
{
	CHECK_EQ(parse("info"), -1);
	CHECK(strstr(err, "info status"));
	CHECK(strstr(err, "info registers"));
	CHECK(strstr(err, "info version"));
	CHECK(strstr(err, "info dirty"));
}

TEST(info_unknown_subcommand_lists_subcommands)
{
	CHECK_EQ(parse("info bogus"), -1);
	CHECK(strstr(err, "bogus"));
	CHECK(strstr(err, "info vm"));
	CHECK(strstr(err, "info exits"));
}

TEST(arguments_rejected_for_argless_commands)
{
	for (int i = 0; i < CON_NR_CMDS; i++) {
		const struct con_cmd_desc *c = &con_commands[i];
		if (c->max_args != 0)
			continue;
		char text[64];
		snprintf(text, sizeof(text), "%s extra", c->name);
		CHECK_EQ(parse(text), -1);
		CHECK(strstr(err, "usage"));
		CHECK(strstr(err, c->name));
	}
}

TEST(argument_count_within_bounds_accepted)
{
	for (int i = 0; i < CON_NR_CMDS; i++) {
		const struct con_cmd_desc *c = &con_commands[i];
		for (int argc = c->min_args; argc <= c->max_args; argc++) {
			char text[128];
			int n = snprintf(text, sizeof(text), "%s", c->name);
			for (int a = 0; a < argc; a++)
				n += snprintf(text + n, sizeof(text) - (size_t)n, " a%d", a);
			CHECK_EQ(parse(text), 1);
			CHECK(parsed.cmd == c);
			CHECK_EQ(parsed.argc, argc);
			for (int a = 0; a < argc; a++) {
				char want[16];
				snprintf(want, sizeof(want), "a%d", a);
				CHECK_STR_EQ(parsed.argv[a], want);
			}
		}
	}
}

TEST(one_argument_commands)
{
	CHECK_EQ(parse("calc_dirty_rate 10"), 1);
	CHECK_EQ(parsed.cmd->id, CON_CALC_DIRTY_RATE);
	CHECK_EQ(parsed.argc, 1);
	CHECK_STR_EQ(parsed.argv[0], "10");
	CHECK_EQ(parse("\tdirty_log_mode\t wp "), 1);
	CHECK_EQ(parsed.cmd->id, CON_DIRTY_LOG_MODE);
	CHECK_STR_EQ(parsed.argv[0], "wp");
}

TEST(missing_or_extra_argument_gives_usage)
{
	CHECK_EQ(parse("calc_dirty_rate"), -1);
	CHECK(strstr(err, "usage: calc_dirty_rate SECONDS"));
	CHECK_EQ(parse("calc_dirty_rate 1 2"), -1);
	CHECK(strstr(err, "usage: calc_dirty_rate SECONDS"));
	CHECK_EQ(parse("dirty_log_mode"), -1);
	CHECK(strstr(err, "usage: dirty_log_mode auto|pml|wp"));
}

TEST(arguments_split_in_place)
{
	CHECK_EQ(parse("calc_dirty_rate    42   "), 1);
	CHECK(parsed.argv[0] >= line && parsed.argv[0] < line + sizeof(line));
	CHECK_STR_EQ(parsed.argv[0], "42");
}

TEST(ten_words_reach_the_argument_check)
{
	/* name + 9 words: within the word limit, but help takes no arguments. */
	CHECK_EQ(parse("help 1 2 3 4 5 6 7 8 9"), -1);
	CHECK(strstr(err, "usage"));
}

TEST(too_many_words_rejected)
{
	CHECK_EQ(parse("help 1 2 3 4 5 6 7 8 9 10"), -1);
	CHECK(strstr(err, "too many"));
	CHECK_EQ(parse("a b c d e f g h i j k l m n o p q r s t u v w x y z"), -1);
	CHECK(strstr(err, "too many"));
}

TEST(small_error_buffer_is_respected)
{
	char small[8];
	memset(small, 'Z', sizeof(small));
	snprintf(line, sizeof(line), "nonsense");
	CHECK_EQ(con_parse(line, &parsed, small, 5), -1);
	CHECK_EQ(small[4], '\0');
	CHECK_EQ(small[5], 'Z');
}

/* ---- line editor ---- */

static struct con_line ed;

/* Feed a string; returns the result of the last byte. */
static enum con_feed_result feed_str(const char *s)
{
	enum con_feed_result r = CON_FEED_NONE;
	const char *echo;
	for (; *s; s++)
		r = con_line_feed(&ed, (unsigned char)*s, &echo);
	return r;
}

TEST(printable_bytes_echo_themselves)
{
	con_line_init(&ed);
	for (int c = 0x20; c <= 0x7e; c++) {
		const char *echo = NULL;
		CHECK_EQ(con_line_feed(&ed, c, &echo), CON_FEED_ECHO);
		CHECK(echo);
		CHECK_EQ((unsigned char)echo[0], c);
		CHECK_EQ(echo[1], '\0');
	}
	CHECK_EQ(ed.len, 0x7f - 0x20);
}

TEST(cr_completes_a_line)
{
	con_line_init(&ed);
	feed_str("info vm");
	const char *echo;
	CHECK_EQ(con_line_feed(&ed, '\r', &echo), CON_FEED_LINE);
	CHECK_STR_EQ(ed.buf, "info vm");
}

TEST(lf_completes_a_line)
{
	con_line_init(&ed);
	CHECK_EQ(feed_str("stop\n"), CON_FEED_LINE);
	CHECK_STR_EQ(ed.buf, "stop");
	CHECK_EQ(feed_str("cont\n"), CON_FEED_LINE);
	CHECK_STR_EQ(ed.buf, "cont");
}

TEST(cr_lf_counts_once)
{
	con_line_init(&ed);
	const char *echo;
	CHECK_EQ(feed_str("help\r"), CON_FEED_LINE);
	CHECK_EQ(con_line_feed(&ed, '\n', &echo), CON_FEED_NONE);
	CHECK_EQ(feed_str("stop\r"), CON_FEED_LINE);
	CHECK_STR_EQ(ed.buf, "stop");
	CHECK_EQ(con_line_feed(&ed, '\n', &echo), CON_FEED_NONE);
}

TEST(lf_cr_and_double_cr_are_two_lines)
{
	con_line_init(&ed);
	const char *echo;
	CHECK_EQ(feed_str("x\n"), CON_FEED_LINE);
	CHECK_EQ(con_line_feed(&ed, '\r', &echo), CON_FEED_LINE);
	CHECK_STR_EQ(ed.buf, "");
	CHECK_EQ(con_line_feed(&ed, '\r', &echo), CON_FEED_LINE);
	CHECK_STR_EQ(ed.buf, "");
	CHECK_EQ(con_line_feed(&ed, '\n', &echo), CON_FEED_NONE);
	CHECK_EQ(con_line_feed(&ed, '\n', &echo), CON_FEED_LINE);
}

TEST(cr_then_text_then_lf)
{
	con_line_init(&ed);
	CHECK_EQ(feed_str("a\r"), CON_FEED_LINE);
	CHECK_EQ(feed_str("b\n"), CON_FEED_LINE); /* the LF is not swallowed after 'b' */
	CHECK_STR_EQ(ed.buf, "b");
}

TEST(backspace_at_start_does_nothing)
{
	con_line_init(&ed);
	const char *echo = NULL;
	CHECK_EQ(con_line_feed(&ed, 0x7f, &echo), CON_FEED_NONE);
	CHECK_EQ(con_line_feed(&ed, 0x08, &echo), CON_FEED_NONE);
	CHECK_EQ(ed.len, 0);
	CHECK_EQ(feed_str("ok\r"), CON_FEED_LINE);
	CHECK_STR_EQ(ed.buf, "ok");
}

TEST(backspace_mid_line_erases_one)
{
	con_line_init(&ed);
	feed_str("stpo");
	const char *echo = NULL;
	CHECK_EQ(con_line_feed(&ed, 0x7f, &echo), CON_FEED_ECHO);
	CHECK_STR_EQ(echo, "\b \b");
	CHECK_EQ(con_line_feed(&ed, 0x08, &echo), CON_FEED_ECHO);
	CHECK_STR_EQ(echo, "\b \b");
	CHECK_EQ(feed_str("op\r"), CON_FEED_LINE);
	CHECK_STR_EQ(ed.buf, "stop");
}

TEST(control_and_8bit_bytes_ignored)
{
	con_line_init(&ed);
	feed_str("ab");
	static const int noise[] = { 0x00, 0x01, 0x03, 0x07, 0x0b, 0x0c, 0x1b,
				     0x1f, 0x80, 0x9b, 0xc3, 0xff };
	for (size_t i = 0; i < ARRAY_SIZE(noise); i++) {
		const char *echo = NULL;
		CHECK_EQ(con_line_feed(&ed, noise[i], &echo), CON_FEED_NONE);
		CHECK(echo == NULL);
	}
	CHECK_EQ(feed_str("c\n"), CON_FEED_LINE);
	CHECK_STR_EQ(ed.buf, "abc");
}

TEST(tab_is_typed_as_a_space_and_separates_words)
{
	struct con_parsed p;
	char msg[160];
	const char *echo = NULL;
	con_line_init(&ed);
	feed_str("info");
	CHECK_EQ(con_line_feed(&ed, '\t', &echo), CON_FEED_ECHO);
	CHECK_STR_EQ(echo, " ");
	CHECK_EQ(feed_str("vm\r"), CON_FEED_LINE);
	CHECK_STR_EQ(ed.buf, "info vm");
	CHECK_EQ(con_parse(ed.buf, &p, msg, sizeof(msg)), 1);
	CHECK_EQ(p.cmd->id, CON_INFO_VM);
}

TEST(noise_between_cr_and_lf_breaks_the_pair)
{
	con_line_init(&ed);
	const char *echo;
	CHECK_EQ(feed_str("a\r"), CON_FEED_LINE);
	CHECK_EQ(con_line_feed(&ed, 0x00, &echo), CON_FEED_NONE);
	CHECK_EQ(con_line_feed(&ed, '\n', &echo), CON_FEED_LINE);
	CHECK_STR_EQ(ed.buf, "");
}

TEST(line_of_exactly_max_accepted)
{
	con_line_init(&ed);
	const char *echo;
	for (int i = 0; i < CON_LINE_MAX; i++)
		CHECK_EQ(con_line_feed(&ed, 'a' + i % 26, &echo), CON_FEED_ECHO);
	CHECK_EQ(con_line_feed(&ed, '\r', &echo), CON_FEED_LINE);
	CHECK_EQ(strlen(ed.buf), CON_LINE_MAX);
	for (int i = 0; i < CON_LINE_MAX; i++)
		CHECK_EQ(ed.buf[i], 'a' + i % 26);
}

TEST(line_of_max_plus_one_too_long_then_recovers)
{
	con_line_init(&ed);
	const char *echo;
	for (int i = 0; i < CON_LINE_MAX; i++)
		con_line_feed(&ed, 'x', &echo);
	CHECK_EQ(con_line_feed(&ed, 'y', &echo), CON_FEED_NONE);
	/* Backspace cannot resurrect a line already dropped. */
	CHECK_EQ(con_line_feed(&ed, 0x7f, &echo), CON_FEED_NONE);
	CHECK_EQ(con_line_feed(&ed, '\r', &echo), CON_FEED_TOOLONG);
	CHECK_EQ(con_line_feed(&ed, '\n', &echo), CON_FEED_NONE);
	CHECK_EQ(feed_str("help\r"), CON_FEED_LINE);
	CHECK_STR_EQ(ed.buf, "help");
}

TEST(very_long_line_too_long_on_lf)
{
	con_line_init(&ed);
	for (int i = 0; i < 10 * CON_LINE_MAX; i++)
		feed_str("z");
	CHECK_EQ(feed_str("\n"), CON_FEED_TOOLONG);
	CHECK_EQ(feed_str("\n"), CON_FEED_LINE);
	CHECK_STR_EQ(ed.buf, "");
}

TEST(editor_and_parser_together)
{
	con_line_init(&ed);
	CHECK_EQ(feed_str("  info regz\x7fisters \r\n"),
		 CON_FEED_NONE);
	CHECK_EQ(parse(ed.buf), 1);
	CHECK_EQ(parsed.cmd->id, CON_INFO_REGISTERS);
}
