/*
 * hv/cmdline.c: parse_size() and cmdline_parse() against tern/cmdline.h.
 * Every problem must become a warning (counted, and its text handed to the
 * callback) and never stop the parse.
 */
#include "unit.h"
#include <tern/cmdline.h>
#include <tern/dirty.h>

#define MiB (1LL << 20)
#define GiB (1LL << 30)

static char warnings[16][160];
static int nwarn;

static void collect(void *ctx, const char *msg)
{
	CHECK(ctx == (void *)warnings);
	if (nwarn < 16)
		snprintf(warnings[nwarn], sizeof(warnings[0]), "%s", msg);
	nwarn++;
}

static struct hv_config cfg;

static int parse(const char *s)
{
	nwarn = 0;
	memset(warnings, 0, sizeof(warnings));
	memset(&cfg, 0x5a, sizeof(cfg));
	return cmdline_parse(s, &cfg, collect, warnings);
}

TEST(parse_size_plain_numbers)
{
	CHECK_EQ(parse_size("0"), 0);
	CHECK_EQ(parse_size("1"), 1);
	CHECK_EQ(parse_size("4194304"), 4 * MiB);
	CHECK_EQ(parse_size("0000012"), 12);
}

TEST(parse_size_suffixes)
{
	CHECK_EQ(parse_size("1K"), 1024);
	CHECK_EQ(parse_size("1k"), 1024);
	CHECK_EQ(parse_size("65536K"), 64 * MiB);
	CHECK_EQ(parse_size("64M"), 64 * MiB);
	CHECK_EQ(parse_size("64m"), 64 * MiB);
	CHECK_EQ(parse_size("1G"), GiB);
	CHECK_EQ(parse_size("4g"), 4 * GiB);
	CHECK_EQ(parse_size("0M"), 0);
}

TEST(parse_size_limits)
{
	CHECK_EQ(parse_size("9223372036854775807"), INT64_MAX);
	CHECK_EQ(parse_size("9223372036854775808"), -1);
	CHECK_EQ(parse_size("18446744073709551615"), -1);
	CHECK_EQ(parse_size("18446744073709551617"), -1); /* wraps to 1 in u64 */
	CHECK_EQ(parse_size("99999999999999999999999"), -1);
	/* INT64_MAX >> 10 = 9007199254740991: the largest K value. */
	CHECK_EQ(parse_size("9007199254740991K"), 9007199254740991LL << 10);
	CHECK_EQ(parse_size("9007199254740992K"), -1);
	/* INT64_MAX >> 30 = 8589934591 */
	CHECK_EQ(parse_size("8589934591G"), 8589934591LL << 30);
	CHECK_EQ(parse_size("8589934592G"), -1);
	CHECK_EQ(parse_size("8796093022208M"), -1); /* 2^43 M = 2^63 */
}

TEST(parse_size_garbage)
{
	static const char *bad[] = {
		"", "x", "64MB", "64 M", " 64M", "64M ", "-1", "+1", "1.5G",
		"0x1000", "12T", "1KK", "M5", "6M4",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (parse_size(bad[i]) != -1)
			unit_fail(__FILE__, __LINE__, "parse_size(\"%s\") = %" PRId64 ", want -1",
				  bad[i], (int64_t)parse_size(bad[i]));
}

/*
 * Regression (was a bug): a suffix with no digits before it ("K", "M", "G")
 * parses as 0 instead of being a syntax error.
 */
TEST(parse_size_bare_suffix_is_garbage)
{
	CHECK_EQ(parse_size("K"), -1);
	CHECK_EQ(parse_size("M"), -1);
	CHECK_EQ(parse_size("g"), -1);
}

TEST(defaults_on_empty_line)
{
	CHECK_EQ(parse(""), 0);
	CHECK_EQ(cfg.guest_mem, 64 * MiB);
	CHECK_EQ(cfg.guest_mem, CMDLINE_MEM_DEFAULT);
	CHECK_STR_EQ(cfg.guest, "");
	CHECK(!cfg.no_guest);
	CHECK_EQ(cfg.dirty_mode, DIRTY_AUTO);
	CHECK_EQ(parse("   \t  "), 0);
	CHECK_EQ(cfg.guest_mem, 64 * MiB);
	CHECK_EQ(nwarn, 0);
}

TEST(mem_accepts_2m_multiples_within_bounds)
{
	static const struct { const char *line; s64 want; } ok[] = {
		{ "mem=4M", 4 * MiB }, { "mem=6M", 6 * MiB }, { "mem=128M", 128 * MiB },
		{ "mem=1G", GiB }, { "mem=4G", 4 * GiB }, { "mem=4096M", 4 * GiB },
		{ "mem=2048k", -1 }, /* 2 MiB: below the minimum */
		{ "mem=8388608", 8 * MiB }, { "mem=4194304K", 4 * GiB },
	};
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		int n = parse(ok[i].line);
		if (ok[i].want < 0) {
			CHECK_EQ(n, 1);
			CHECK_EQ(cfg.guest_mem, 64 * MiB);
		} else {
			CHECK_EQ(n, 0);
			CHECK_EQ(cfg.guest_mem, ok[i].want);
		}
	}
}

TEST(mem_out_of_bounds_or_misaligned_warns)
{
	static const char *bad[] = {
		"mem=2M", "mem=0", "mem=0M", "mem=4G2M", "mem=4098M", "mem=5G", "mem=5M",
		"mem=4100K", "mem=4194305", "mem=", "mem", "mem=abc", "mem=-64M",
		"mem=99999999999999999999G",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_EQ(parse(bad[i]), 1);
		CHECK_EQ(nwarn, 1);
		CHECK_EQ(cfg.guest_mem, 64 * MiB);
		CHECK(strstr(warnings[0], "mem="));
	}
}

TEST(mem_warning_names_the_value)
{
	CHECK_EQ(parse("mem=5M"), 1);
	CHECK(strstr(warnings[0], "5M"));
}

TEST(later_option_wins)
{
	CHECK_EQ(parse("mem=8M mem=16M"), 0);
	CHECK_EQ(cfg.guest_mem, 16 * MiB);
	CHECK_EQ(parse("guest=a guest=b"), 0);
	CHECK_STR_EQ(cfg.guest, "b");
}

TEST(guest_name)
{
	CHECK_EQ(parse("guest=demo"), 0);
	CHECK_STR_EQ(cfg.guest, "demo");
	CHECK(!cfg.no_guest);
	CHECK_EQ(cfg.guest_mem, 64 * MiB);
}

TEST(guest_name_length_limit)
{
	char line[128] = "guest=";
	memset(line + 6, 'g', 63);
	CHECK_EQ(parse(line), 0);
	CHECK_EQ(strlen(cfg.guest), 63);
	line[6 + 63] = 'g';
	line[6 + 64] = '\0';
	CHECK_EQ(parse(line), 1);
	CHECK_STR_EQ(cfg.guest, "");
	CHECK(strstr(warnings[0], "guest="));
}

TEST(guest_without_value_warns)
{
	CHECK_EQ(parse("guest="), 1);
	CHECK_STR_EQ(cfg.guest, "");
	CHECK_EQ(parse("guest"), 1);
	CHECK_STR_EQ(cfg.guest, "");
}

TEST(guest_value_may_contain_equals)
{
	CHECK_EQ(parse("guest=a=b"), 0);
	CHECK_STR_EQ(cfg.guest, "a=b");
}

TEST(noguest)
{
	CHECK_EQ(parse("noguest"), 0);
	CHECK(cfg.no_guest);
	CHECK_EQ(parse("noguest=1"), 1);
	CHECK(!cfg.no_guest);
}

TEST(debug_crash_is_a_bare_flag)
{
	CHECK_EQ(parse("guest=demo"), 0);
	CHECK(!cfg.debug_crash);
	CHECK_EQ(parse("debug_crash"), 0);
	CHECK(cfg.debug_crash);
	CHECK_EQ(parse("debug_crash=1"), 1);
	CHECK(!cfg.debug_crash);
}

TEST(stamp_guest_is_a_bare_flag)
{
	CHECK_EQ(parse("guest=linux"), 0);
	CHECK(!cfg.stamp_guest);
	CHECK_EQ(parse("guest=linux stamp_guest"), 0);
	CHECK(cfg.stamp_guest);
	CHECK_EQ(parse("stamp_guest=1"), 1);
	CHECK(!cfg.stamp_guest);
}

TEST(dirty_modes)
{
	CHECK_EQ(parse("dirty=wp"), 0);
	CHECK_EQ(cfg.dirty_mode, DIRTY_WP);
	CHECK_EQ(parse("dirty=pml"), 0);
	CHECK_EQ(cfg.dirty_mode, DIRTY_PML);
	CHECK_EQ(parse("dirty=pml dirty=auto"), 0);
	CHECK_EQ(cfg.dirty_mode, DIRTY_AUTO);
}

TEST(bad_dirty_mode_warns_and_keeps_default)
{
	static const char *bad[] = { "dirty", "dirty=", "dirty=PML", "dirty=pmlx", "dirty=wp=1" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_EQ(parse(bad[i]), 1);
		CHECK_EQ(cfg.dirty_mode, DIRTY_AUTO);
		CHECK(strstr(warnings[0], "dirty="));
	}
}

TEST(unknown_options_warn_but_parse_continues)
{
	CHECK_EQ(parse("quiet mem=32M foo=bar guest=linux =x"), 3);
	CHECK_EQ(nwarn, 3);
	CHECK_EQ(cfg.guest_mem, 32 * MiB);
	CHECK_STR_EQ(cfg.guest, "linux");
	CHECK(strstr(warnings[0], "quiet"));
	CHECK(strstr(warnings[1], "foo"));
}

TEST(keys_are_case_sensitive)
{
	CHECK_EQ(parse("MEM=8M Guest=x NOGUEST"), 3);
	CHECK_EQ(cfg.guest_mem, 64 * MiB);
	CHECK(!cfg.no_guest);
}

TEST(tabs_and_runs_of_spaces_separate_words)
{
	CHECK_EQ(parse("\tmem=8M\t\tguest=demo   noguest \t"), 0);
	CHECK_EQ(cfg.guest_mem, 8 * MiB);
	CHECK_STR_EQ(cfg.guest, "demo");
	CHECK(cfg.no_guest);
}

TEST(warnings_counted_without_callback)
{
	memset(&cfg, 0, sizeof(cfg));
	CHECK_EQ(cmdline_parse("bogus mem=1 guest=", &cfg, NULL, NULL), 3);
	CHECK_EQ(cfg.guest_mem, 64 * MiB);
}

TEST(very_long_word_warns_and_is_skipped)
{
	static char line[4096];
	memset(line, 'w', 3000);
	strcpy(line + 3000, " mem=16M");
	CHECK_EQ(parse(line), 1);
	CHECK(strstr(warnings[0], "wwww"));
	CHECK(strlen(warnings[0]) < 128);
	CHECK_EQ(cfg.guest_mem, 16 * MiB);
}

TEST(very_long_guest_value_warns)
{
	static char line[300];
	strcpy(line, "guest=");
	memset(line + 6, 'n', 200);
	strcpy(line + 206, "\tnoguest");
	CHECK_EQ(parse(line), 1);
	CHECK_STR_EQ(cfg.guest, "");
	CHECK(cfg.no_guest);
}

TEST(word_of_255_and_256_chars)
{
	static char line[300];
	memset(line, 0, sizeof(line));
	strcpy(line, "guest=");
	memset(line + 6, 'a', 249); /* 255 chars in all: fits the word buffer */
	CHECK_EQ(parse(line), 1);   /* but the name is too long */
	CHECK(strstr(warnings[0], "guest="));
	line[255] = 'a';            /* 256 chars */
	CHECK_EQ(parse(line), 1);
	CHECK(strstr(warnings[0], "too long"));
}

TEST(many_warnings_all_counted)
{
	static char line[2048];
	line[0] = '\0';
	for (int i = 0; i < 100; i++)
		strcat(line, "x ");
	CHECK_EQ(parse(line), 100);
	CHECK_EQ(nwarn, 100);
}

/* ---- network options (docs/network.md) ---- */

TEST(network_defaults)
{
	struct hv_config c;
	CHECK_EQ(cmdline_parse("", &c, NULL, NULL), 0);
	CHECK_EQ(c.netcon_port, 4444);
	CHECK_STR_EQ(c.netcon_psk_id, "tern");
	CHECK_EQ(c.netcon_psk_len, 0);
	CHECK_EQ(c.ip_addr, 0);
	CHECK(!c.net_dhcp && !c.netcon_plain);
}

TEST(static_ip_gateway_and_console)
{
	struct hv_config c;
	CHECK_EQ(cmdline_parse("ip=10.0.3.15/24 gw=10.0.3.1 netcon_port=5555 netcon_psk=00ff10Ab "
			       "netcon_psk_id=ops netcon_plain", &c, NULL, NULL), 0);
	CHECK_EQ(c.ip_addr, 0x0a00030f);
	CHECK_EQ(c.ip_prefix, 24);
	CHECK_EQ(c.gw_addr, 0x0a000301);
	CHECK_EQ(c.netcon_port, 5555);
	CHECK_EQ(c.netcon_psk_len, 4);
	CHECK_EQ(c.netcon_psk[0], 0x00);
	CHECK_EQ(c.netcon_psk[1], 0xff);
	CHECK_EQ(c.netcon_psk[2], 0x10);
	CHECK_EQ(c.netcon_psk[3], 0xab);
	CHECK_STR_EQ(c.netcon_psk_id, "ops");
	CHECK(c.netcon_plain);
}

TEST(dhcp)
{
	struct hv_config c;
	CHECK_EQ(cmdline_parse("ip=dhcp", &c, NULL, NULL), 0);
	CHECK(c.net_dhcp);
}

TEST(bad_network_values_warn_and_keep_defaults)
{
	struct hv_config c;
	const char *bad[] = { "ip=10.0.3.15", "ip=10.0.3.15/33", "ip=10.0.3/24", "ip=256.1.1.1/8",
			      "ip=0.0.0.0/8", "ip=1.2.3.4.5/8", "gw=1.2.3", "gw=", "netcon_port=0",
			      "netcon_port=65536", "netcon_psk=abc", "netcon_psk=zz", "netcon_psk=",
			      "netcon_psk_id=", "ip" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char line[64];
		strcpy(line, bad[i]);
		CHECK_EQ(cmdline_parse(line, &c, NULL, NULL), 1);
		CHECK_EQ(c.ip_addr, 0);
		CHECK_EQ(c.gw_addr, 0);
		CHECK_EQ(c.netcon_port, 4444);
		CHECK_EQ(c.netcon_psk_len, 0);
	}
}

TEST(psk_of_64_bytes_accepted_65_refused)
{
	struct hv_config c;
	char line[200] = "netcon_psk=";
	for (int i = 0; i < 128; i++)
		strcat(line, "a");
	CHECK_EQ(cmdline_parse(line, &c, NULL, NULL), 0);
	CHECK_EQ(c.netcon_psk_len, 64);
	strcat(line, "aa");
	CHECK_EQ(cmdline_parse(line, &c, NULL, NULL), 1);
	CHECK_EQ(c.netcon_psk_len, 0);
}

TEST(parse_ipv4_edges)
{
	u32 a;
	CHECK_EQ(parse_ipv4("255.255.255.255", &a), 0);
	CHECK_EQ(a, 0xffffffffu);
	CHECK_EQ(parse_ipv4("1.2.3.4 ", &a), -1);
	CHECK_EQ(parse_ipv4("01234.1.1.1", &a), -1);
	CHECK_EQ(parse_ipv4("", &a), -1);
	CHECK_EQ(parse_ipv4("1..2.3", &a), -1);
}

TEST(redact_hides_only_the_psk_value)
{
	char out[128];
	cmdline_redact("guest=demo netcon_psk=00ff10ab netcon_psk_id=ops", out, sizeof(out));
	CHECK_STR_EQ(out, "guest=demo netcon_psk=<hidden> netcon_psk_id=ops");
	cmdline_redact("netcon_psk=abcd", out, sizeof(out));
	CHECK_STR_EQ(out, "netcon_psk=<hidden>");
	cmdline_redact("xnetcon_psk=abcd", out, sizeof(out)); /* not the option: shown */
	CHECK_STR_EQ(out, "xnetcon_psk=abcd");
	cmdline_redact("", out, sizeof(out));
	CHECK_STR_EQ(out, "");
}

TEST(redact_never_overruns_a_small_buffer)
{
	char out[8];
	cmdline_redact("netcon_psk=abcd guest=x", out, sizeof(out));
	CHECK_EQ(strlen(out), 7);
	CHECK(strncmp(out, "netcon_", 7) == 0);
	cmdline_redact("guest=demonstration", out, sizeof(out));
	CHECK_STR_EQ(out, "guest=d");
	cmdline_redact("anything", out, 1);
	CHECK_STR_EQ(out, "");
}

TEST(a_bad_ip_after_a_good_one_changes_nothing)
{
	struct hv_config c;
	char line[] = "ip=10.0.0.1/24 ip=0.0.0.0/24 ip=10.0.0.9/33";
	CHECK_EQ(cmdline_parse(line, &c, NULL, NULL), 2);
	CHECK_EQ(c.ip_addr, 0x0a000001);
	CHECK_EQ(c.ip_prefix, 24);
}

TEST(incoming_takes_tcp_any_host_and_a_port)
{
	CHECK_EQ(parse("noguest"), 0);
	CHECK_EQ(cfg.incoming_port, 0);
	CHECK_EQ(parse("incoming=tcp:0:4445"), 0);
	CHECK_EQ(cfg.incoming_port, 4445);
	CHECK_EQ(parse("incoming=tcp::7"), 0);
	CHECK_EQ(cfg.incoming_port, 7);
	CHECK_EQ(parse("incoming=tcp:0.0.0.0:65535"), 0);
	CHECK_EQ(cfg.incoming_port, 65535);
}

TEST(bad_incoming_warns_and_stays_off)
{
	static const char *const bad[] = {
		"incoming", "incoming=", "incoming=tcp:0:0", "incoming=tcp:0:65536", "incoming=udp:0:4445",
		"incoming=tcp:10.0.0.1:4445", "incoming=tcp:0:", "incoming=tcp:4445", "incoming=tcp:0:44x",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_EQ(parse(bad[i]), 1);
		CHECK_EQ(cfg.incoming_port, 0);
	}
}

TEST(migrate_test_is_a_bare_flag)
{
	CHECK_EQ(parse("guest=demo"), 0);
	CHECK(!cfg.migrate_test);
	CHECK_EQ(parse("migrate_test"), 0);
	CHECK(cfg.migrate_test);
	CHECK_EQ(parse("migrate_test=1"), 1);
	CHECK(!cfg.migrate_test);
}

/* ---- the migration's own key (docs/network-console.md, key slots) ---- */

TEST(migrate_key_defaults)
{
	CHECK_EQ(parse(""), 0);
	CHECK_EQ(cfg.migrate_psk_len, 0);
	CHECK_STR_EQ(cfg.migrate_psk_id, "tern-migrate");
	CHECK(!cfg.migrate_plain);
}

TEST(migrate_key_identity_and_plain)
{
	CHECK_EQ(parse("netcon_psk=0102 migrate_psk=00ff10Ab migrate_psk_id=dc2 migrate_plain"), 0);
	CHECK_EQ(cfg.migrate_psk_len, 4);
	CHECK_EQ(cfg.migrate_psk[0], 0x00);
	CHECK_EQ(cfg.migrate_psk[1], 0xff);
	CHECK_EQ(cfg.migrate_psk[2], 0x10);
	CHECK_EQ(cfg.migrate_psk[3], 0xab);
	CHECK_STR_EQ(cfg.migrate_psk_id, "dc2");
	CHECK(cfg.migrate_plain);
	/* The console's key stays its own. */
	CHECK_EQ(cfg.netcon_psk_len, 2);
	CHECK_EQ(cfg.netcon_psk[0], 0x01);
	CHECK_STR_EQ(cfg.netcon_psk_id, "tern");
}

TEST(bad_migrate_key_warns_and_leaves_no_key)
{
	static const char *const bad[] = {
		"migrate_psk", "migrate_psk=", "migrate_psk=abc", "migrate_psk=zz", "migrate_psk=0g",
		"migrate_psk_id", "migrate_psk_id=", "migrate_plain=1",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_EQ(parse(bad[i]), 1);
		CHECK_EQ(cfg.migrate_psk_len, 0);
		CHECK_STR_EQ(cfg.migrate_psk_id, "tern-migrate");
		CHECK(!cfg.migrate_plain);
	}
	CHECK_EQ(parse("migrate_psk=zz"), 1);
	CHECK(strstr(warnings[0], "migrate_psk: want 2 to 128 hex digits"));
	CHECK(!strstr(warnings[0], "zz")); /* a bad key is not echoed either */
	/* A good key followed by a bad one: no key at all, not the old one. */
	CHECK_EQ(parse("migrate_psk=0011 migrate_psk=xyz1"), 1);
	CHECK_EQ(cfg.migrate_psk_len, 0);
}

TEST(migrate_psk_of_64_bytes_accepted_65_refused)
{
	char line[200] = "migrate_psk=";
	for (int i = 0; i < 128; i++)
		strcat(line, "b");
	CHECK_EQ(parse(line), 0);
	CHECK_EQ(cfg.migrate_psk_len, 64);
	CHECK_EQ(cfg.migrate_psk[63], 0xbb);
	strcat(line, "bb");
	CHECK_EQ(parse(line), 1);
	CHECK_EQ(cfg.migrate_psk_len, 0);
	char id[80] = "migrate_psk_id=";
	for (int i = 0; i < 63; i++)
		strcat(id, "n");
	CHECK_EQ(parse(id), 0); /* 63 characters fit */
	CHECK_EQ(strlen(cfg.migrate_psk_id), 63);
	strcat(id, "n");
	CHECK_EQ(parse(id), 1);
	CHECK_STR_EQ(cfg.migrate_psk_id, "tern-migrate");
}

TEST(redact_hides_both_keys)
{
	char out[160];
	cmdline_redact("netcon_psk=00ff migrate_psk=a1b2c3 migrate_psk_id=dc2 migrate_plain", out,
		       sizeof(out));
	CHECK_STR_EQ(out, "netcon_psk=<hidden> migrate_psk=<hidden> migrate_psk_id=dc2 migrate_plain");
	cmdline_redact("migrate_psk=abcd", out, sizeof(out));
	CHECK_STR_EQ(out, "migrate_psk=<hidden>");
	cmdline_redact("guest=x\tmigrate_psk=abcd", out, sizeof(out));
	CHECK_STR_EQ(out, "guest=x\tmigrate_psk=<hidden>");
	cmdline_redact("xmigrate_psk=abcd migrate_psk_id=abcd", out, sizeof(out)); /* not the key */
	CHECK_STR_EQ(out, "xmigrate_psk=abcd migrate_psk_id=abcd");
	char small[10];
	cmdline_redact("migrate_psk=abcdef", small, sizeof(small));
	CHECK_STR_EQ(small, "migrate_p"); /* cut, and never a digit of the key */
}

TEST(test_hypercalls_is_a_bare_flag)
{
	CHECK_EQ(parse("guest=demo"), 0);
	CHECK(!cfg.test_hypercalls);
	CHECK_EQ(parse("test_hypercalls"), 0);
	CHECK(cfg.test_hypercalls);
	CHECK_EQ(parse("test_hypercalls=on"), 1);
	CHECK(!cfg.test_hypercalls);
}
