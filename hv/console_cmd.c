/*
 * Console command table, parser and line editor (contract in
 * tern/console.h). Pure: no I/O, bounded buffers, every input accepted or
 * rejected with a message, so it can be fuzzed.
 */
#include <tern/console.h>
#include <stdio.h>
#include <string.h>

const struct con_cmd_desc con_commands[CON_NR_CMDS] = {
	{ "help", CON_HELP, 0, 0, "", "list the commands" },
	{ "info status", CON_INFO_STATUS, 0, 0, "", "show whether the VM runs" },
	{ "info vm", CON_INFO_VM, 0, 0, "", "show the VM's memory, image and state" },
	{ "info registers", CON_INFO_REGISTERS, 0, 0, "", "show the vCPU's registers" },
	{ "info exits", CON_INFO_EXITS, 0, 0, "", "show VM exit counts per reason" },
	{ "info version", CON_INFO_VERSION, 0, 0, "", "show Tern's version and how it booted" },
	{ "info dirty", CON_INFO_DIRTY, 0, 0, "", "show the dirty log: mode, pages, harvests, exits" },
	{ "info network", CON_INFO_NETWORK, 0, 0, "", "show the address, link and network counters" },
	{ "calc_dirty_rate", CON_CALC_DIRTY_RATE, 1, 1, "SECONDS", "measure the guest's dirty rate (pages/s)" },
	{ "dirty_log_mode", CON_DIRTY_LOG_MODE, 1, 1, "auto|pml|wp", "choose the dirty tracking mechanism" },
	{ "ping", CON_PING, 1, 2, "ADDR [COUNT]", "send ICMP echo requests 1 s apart (default 4)" },
	{ "net_send", CON_NET_SEND, 3, 4, "ADDR PORT BYTES [tls]", "stream the test pattern to a TCP port" },
	{ "stop", CON_STOP, 0, 0, "", "pause the VM" },
	{ "cont", CON_CONT, 0, 0, "", "resume the VM" },
	{ "system_reset", CON_SYSTEM_RESET, 0, 0, "", "reset the VM: reload its image and restart it" },
	{ "shutdown", CON_SHUTDOWN, 0, 0, "", "power the machine off" },
	{ "crash", CON_CRASH, 1, 1, "ud|gp|pf|df|mc|nmi|panic",
	  "crash Tern on purpose, to check the crash report (boot with debug_crash)" },
	{ "migrate", CON_MIGRATE, 1, 2, "[-d|-r] tcp:HOST:PORT",
	  "live-migrate the VM to another Tern (-r: resume a paused post-copy)" },
	{ "migrate_incoming", CON_MIGRATE_INCOMING, 1, 1, "tcp:0:PORT", "wait for a migrating VM" },
	{ "migrate_cancel", CON_MIGRATE_CANCEL, 0, 0, "", "cancel the migration; the VM stays" },
	{ "migrate_continue", CON_MIGRATE_CONTINUE, 0, 0, "",
	  "run an incoming VM whose GO was lost (only once the source says it handed over)" },
	{ "migrate_start_postcopy", CON_MIGRATE_START_POSTCOPY, 0, 0, "",
	  "switch the running migration to post-copy (capability postcopy-ram)" },
	{ "migrate_recover", CON_MIGRATE_RECOVER, 1, 1, "tcp:0:PORT",
	  "destination: wait for the source's migrate -r after a broken post-copy" },
	{ "migrate_pause", CON_MIGRATE_PAUSE, 0, 0, "",
	  "drop a post-copy's link on purpose (postcopy-paused; resume with migrate_recover, migrate -r)" },
	{ "migrate_set_parameter", CON_MIGRATE_SET_PARAMETER, 2, 2, "NAME VALUE",
	  "max-bandwidth BYTES/S, downtime-limit MS" },
	{ "migrate_set_capability", CON_MIGRATE_SET_CAPABILITY, 2, 2, "NAME on|off",
	  "auto-converge, postcopy-ram, validate-ram" },
	{ "migrate_set_speed", CON_MIGRATE_SET_SPEED, 1, 1, "BYTES/S", "= migrate_set_parameter max-bandwidth" },
	{ "migrate_set_downtime", CON_MIGRATE_SET_DOWNTIME, 1, 1, "SECONDS",
	  "= migrate_set_parameter downtime-limit (in s)" },
	{ "info migrate", CON_INFO_MIGRATE, 0, 0, "", "show the migration's status and statistics" },
	{ "info migrate_parameters", CON_INFO_MIGRATE_PARAMETERS, 0, 0, "", "show the migration parameters" },
	{ "info migrate_capabilities", CON_INFO_MIGRATE_CAPABILITIES, 0, 0, "", "show the migration capabilities" },
};

static int split_words(char *line, char **words, int max)
{
	int n = 0;
	char *p = line;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			return n;
		if (n == max)
			return -1;
		words[n++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (*p)
			*p++ = '\0';
	}
}

/* How many words of the command name match, or 0. */
static int name_matches(const char *name, char **words, int nwords)
{
	char first[32];
	const char *sp = strchr(name, ' ');
	if (!sp)
		return strcmp(name, words[0]) ? 0 : 1;
	size_t n = (size_t)(sp - name);
	if (n >= sizeof(first))
		return 0;
	memcpy(first, name, n);
	first[n] = '\0';
	if (nwords < 2 || strcmp(first, words[0]) || strcmp(sp + 1, words[1]))
		return 0;
	return 2;
}

int con_parse(char *line, struct con_parsed *out, char *err, size_t err_len)
{
	char *words[CON_MAX_ARGS + 2];
	int n = split_words(line, words, CON_MAX_ARGS + 2);
	if (n < 0) {
		snprintf(err, err_len, "too many words (at most %d arguments)", CON_MAX_ARGS);
		return -1;
	}
	if (n == 0)
		return 0;
	for (int i = 0; i < CON_NR_CMDS; i++) {
		const struct con_cmd_desc *c = &con_commands[i];
		int used = name_matches(c->name, words, n);
		if (!used)
			continue;
		int argc = n - used;
		if (argc < c->min_args || argc > c->max_args) {
			snprintf(err, err_len, "usage: %s%s%s", c->name, *c->args ? " " : "", c->args);
			return -1;
		}
		out->cmd = c;
		out->argc = argc;
		for (int a = 0; a < argc; a++)
			out->argv[a] = words[used + a];
		return 1;
	}
	static const char info_list[] =
		"info status, info vm, info registers, info exits, info version, info dirty, "
		"info network";
	if (!strcmp(words[0], "info") && n == 1)
		snprintf(err, err_len, "info needs a subcommand: %s", info_list);
	else if (!strcmp(words[0], "info"))
		snprintf(err, err_len, "info %.40s: unknown; try: %s", words[1], info_list);
	else
		snprintf(err, err_len, "unknown command '%.40s'; try 'help'", words[0]);
	return -1;
}

void con_line_init(struct con_line *l)
{
	memset(l, 0, sizeof(*l));
}

enum con_feed_result con_line_feed(struct con_line *l, int c, const char **echo)
{
	bool was_cr = l->last_cr;
	l->last_cr = (c == '\r');
	if (c == '\r' || c == '\n') {
		if (c == '\n' && was_cr)
			return CON_FEED_NONE;
		l->buf[l->len] = '\0';
		bool overflow = l->overflow;
		l->len = 0;
		l->overflow = false;
		return overflow ? CON_FEED_TOOLONG : CON_FEED_LINE;
	}
	if (c == 0x7f || c == 0x08) {
		if (!l->len || l->overflow)
			return CON_FEED_NONE;
		l->len--;
		*echo = "\b \b";
		return CON_FEED_ECHO;
	}
	if (c == '\t')
		c = ' '; /* the parser separates words on tabs too */
	if (c < 0x20 || c > 0x7e)
		return CON_FEED_NONE; /* ignore control bytes and 8-bit noise */
	if (l->len == CON_LINE_MAX) {
		l->overflow = true;
		return CON_FEED_NONE;
	}
	l->buf[l->len++] = (char)c;
	l->echo[0] = (char)c;
	l->echo[1] = '\0';
	*echo = l->echo;
	return CON_FEED_ECHO;
}
