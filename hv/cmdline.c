/*
 * Boot command line parsing (contract in tern/cmdline.h). Words are split on
 * spaces; each is key or key=value. Every problem becomes a warning.
 */
#include <tern/cmdline.h>
#include <tern/dirty.h>
#include <string.h>
#include <stdio.h>

s64 parse_size(const char *s)
{
	u64 v = 0;
	if (*s < '0' || *s > '9')
		return -1; /* empty, or a suffix without a number */
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (u64)INT64_MAX / 10)
			return -1;
		v = v * 10 + (u64)(*s - '0');
	}
	unsigned shift = 0;
	switch (*s) {
	case 'K': case 'k': shift = 10; s++; break;
	case 'M': case 'm': shift = 20; s++; break;
	case 'G': case 'g': shift = 30; s++; break;
	default: break;
	}
	if (*s || v > ((u64)INT64_MAX >> shift))
		return -1;
	return (s64)(v << shift);
}

int parse_ipv4(const char *s, u32 *out)
{
	u32 addr = 0;
	for (int part = 0; part < 4; part++) {
		u32 v = 0;
		int digits = 0;
		for (; *s >= '0' && *s <= '9' && digits < 4; s++, digits++)
			v = v * 10 + (u32)(*s - '0');
		if (!digits || v > 255 || *s != (part == 3 ? '\0' : '.'))
			return -1;
		if (part < 3)
			s++;
		addr = addr << 8 | v;
	}
	*out = addr;
	return 0;
}

/* Writes *addr and *prefix only when the whole value is valid. */
static int parse_ip_prefix(char *val, u32 *addr, u8 *prefix)
{
	char *slash = strchr(val, '/');
	u32 a;
	if (!slash)
		return -1;
	*slash = '\0';
	s64 p = parse_size(slash + 1);
	if (p < 1 || p > 32 || parse_ipv4(val, &a) || !a)
		return -1;
	*addr = a;
	*prefix = (u8)p;
	return 0;
}

static int parse_hex(const char *s, u8 *out, u32 max, u32 *len)
{
	size_t n = strlen(s);
	if (n < 2 || n % 2 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		int v = 0;
		for (int k = 0; k < 2; k++) {
			char c = s[i + k];
			int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 :
				(c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
			if (d < 0)
				return -1;
			v = v * 16 + d;
		}
		out[i / 2] = (u8)v;
	}
	*len = (u32)(n / 2);
	return 0;
}

static void warnf(void (*warn)(void *, const char *), void *ctx, int *n,
		  const char *fmt, const char *arg)
{
	char msg[128];
	snprintf(msg, sizeof(msg), fmt, arg);
	if (warn)
		warn(ctx, msg);
	(*n)++;
}

static void apply(struct hv_config *cfg, char *word, void (*warn)(void *, const char *),
		  void *ctx, int *n)
{
	char *val = strchr(word, '=');
	if (val)
		*val++ = '\0';
	if (!strcmp(word, "mem")) {
		s64 sz = val ? parse_size(val) : -1;
		if (sz < (s64)CMDLINE_MEM_MIN || sz > (s64)CMDLINE_MEM_MAX || sz % SZ_2M)
			warnf(warn, ctx, n, "mem=%s: want a multiple of 2M between 4M and 4G; ignored", val ? val : "");
		else
			cfg->guest_mem = (u64)sz;
	} else if (!strcmp(word, "guest")) {
		if (!val || !*val || strlen(val) >= sizeof(cfg->guest))
			warnf(warn, ctx, n, "guest=%s: bad name", val ? val : "");
		else
			strcpy(cfg->guest, val);
	} else if (!strcmp(word, "dirty")) {
		int mode = val ? dirty_mode_parse(val) : -1;
		if (mode < 0)
			warnf(warn, ctx, n, "dirty=%s: want auto, pml or wp", val ? val : "");
		else
			cfg->dirty_mode = (enum dirty_mode)mode;
	} else if (!strcmp(word, "ip")) {
		if (val && !strcmp(val, "dhcp"))
			cfg->net_dhcp = true;
		else if (!val || parse_ip_prefix(val, &cfg->ip_addr, &cfg->ip_prefix))
			warnf(warn, ctx, n, "ip=%s: want dhcp or A.B.C.D/PREFIX", val ? val : "");
	} else if (!strcmp(word, "gw")) {
		if (!val || parse_ipv4(val, &cfg->gw_addr))
			warnf(warn, ctx, n, "gw=%s: want A.B.C.D", val ? val : "");
	} else if (!strcmp(word, "netcon_port")) {
		s64 port = val ? parse_size(val) : -1;
		if (port < 1 || port > 65535)
			warnf(warn, ctx, n, "netcon_port=%s: want 1..65535", val ? val : "");
		else
			cfg->netcon_port = (u16)port;
	} else if (!strcmp(word, "netcon_psk")) {
		if (!val || parse_hex(val, cfg->netcon_psk, sizeof(cfg->netcon_psk), &cfg->netcon_psk_len)) {
			cfg->netcon_psk_len = 0;
			warnf(warn, ctx, n, "netcon_psk: want 2 to 128 hex digits; the network console stays closed%s", "");
		}
	} else if (!strcmp(word, "netcon_psk_id")) {
		if (!val || !*val || strlen(val) >= sizeof(cfg->netcon_psk_id))
			warnf(warn, ctx, n, "netcon_psk_id=%s: bad identity", val ? val : "");
		else
			strcpy(cfg->netcon_psk_id, val);
	} else if (!strcmp(word, "netcon_plain") && !val) {
		cfg->netcon_plain = true;
	} else if (!strcmp(word, "incoming")) {
		s64 port = -1;
		if (val && !strncmp(val, "tcp:", 4)) {
			const char *colon = strrchr(val + 4, ':');
			bool any = colon && (colon == val + 4 || !strncmp(val + 4, "0:", 2) ||
					     !strncmp(val + 4, "0.0.0.0:", 8));
			port = any ? parse_size(colon + 1) : -1;
		}
		if (port < 1 || port > 65535)
			warnf(warn, ctx, n, "incoming=%s: want tcp:0:PORT", val ? val : "");
		else
			cfg->incoming_port = (u16)port;
	} else if (!strcmp(word, "migrate_test") && !val) {
		cfg->migrate_test = true;
	} else if (!strcmp(word, "test_hypercalls") && !val) {
		cfg->test_hypercalls = true;
	} else if (!strcmp(word, "migrate_psk")) {
		if (!val || parse_hex(val, cfg->migrate_psk, sizeof(cfg->migrate_psk), &cfg->migrate_psk_len)) {
			cfg->migrate_psk_len = 0;
			warnf(warn, ctx, n, "migrate_psk: want 2 to 128 hex digits; no migration key%s", "");
		}
	} else if (!strcmp(word, "migrate_psk_id")) {
		if (!val || !*val || strlen(val) >= sizeof(cfg->migrate_psk_id))
			warnf(warn, ctx, n, "migrate_psk_id=%s: bad identity", val ? val : "");
		else
			strcpy(cfg->migrate_psk_id, val);
	} else if (!strcmp(word, "migrate_plain") && !val) {
		cfg->migrate_plain = true;
	} else if (!strcmp(word, "stamp_guest") && !val) {
		cfg->stamp_guest = true;
	} else if (!strcmp(word, "debug_crash") && !val) {
		cfg->debug_crash = true;
	} else if (!strcmp(word, "noguest") && !val) {
		cfg->no_guest = true;
	} else {
		warnf(warn, ctx, n, "unknown option '%s' ignored", word);
	}
}

/* The options whose values are keys: never logged. */
static const char *const secrets[] = { "netcon_psk=", "migrate_psk=" };

/* The secret option p starts with, or NULL. */
static const char *secret_at(const char *p)
{
	for (size_t i = 0; i < ARRAY_SIZE(secrets); i++)
		if (!strncmp(p, secrets[i], strlen(secrets[i])))
			return secrets[i];
	return NULL;
}

void cmdline_redact(const char *cmdline, char *out, size_t out_len)
{
	size_t o = 0;
	if (!out_len)
		return;
	for (const char *p = cmdline; *p && o + 1 < out_len;) {
		bool word_start = p == cmdline || p[-1] == ' ' || p[-1] == '\t';
		const char *secret = word_start ? secret_at(p) : NULL;
		if (secret) {
			int n = snprintf(out + o, out_len - o, "%s<hidden>", secret);
			o = MIN(o + (size_t)(n > 0 ? n : 0), out_len - 1);
			p += strcspn(p, " \t");
			continue;
		}
		out[o++] = *p++;
	}
	out[o] = '\0';
}

int cmdline_parse(const char *cmdline, struct hv_config *cfg,
		  void (*warn)(void *ctx, const char *msg), void *ctx)
{
	char word[256]; /* netcon_psk= and migrate_psk= take 128 hex digits */
	int n = 0;
	memset(cfg, 0, sizeof(*cfg));
	cfg->guest_mem = CMDLINE_MEM_DEFAULT;
	cfg->netcon_port = CMDLINE_NETCON_PORT;
	strcpy(cfg->netcon_psk_id, "tern");
	strcpy(cfg->migrate_psk_id, CMDLINE_MIGRATE_PSK_ID);
	while (*cmdline) {
		while (*cmdline == ' ' || *cmdline == '\t')
			cmdline++;
		size_t len = strcspn(cmdline, " \t");
		if (!len)
			break;
		if (len >= sizeof(word)) {
			warnf(warn, ctx, &n, "option too long: %.20s...", cmdline);
		} else {
			memcpy(word, cmdline, len);
			word[len] = '\0';
			apply(cfg, word, warn, ctx, &n);
		}
		cmdline += len;
	}
	return n;
}
