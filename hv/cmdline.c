/*
 * Boot command line parsing (contract in tern/cmdline.h). Words are split on
 * spaces; each is key or key=value. Every problem becomes a warning.
 */
#include <tern/cmdline.h>
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
		/* Same spelling as the console's dirty_log_mode (tern/dirty.h order). */
		if (val && !strcmp(val, "auto"))
			cfg->dirty_mode = 0;
		else if (val && !strcmp(val, "wp"))
			cfg->dirty_mode = 1;
		else if (val && !strcmp(val, "pml"))
			cfg->dirty_mode = 2;
		else
			warnf(warn, ctx, n, "dirty=%s: want auto, pml or wp", val ? val : "");
	} else if (!strcmp(word, "noguest") && !val) {
		cfg->no_guest = true;
	} else {
		warnf(warn, ctx, n, "unknown option '%s' ignored", word);
	}
}

int cmdline_parse(const char *cmdline, struct hv_config *cfg,
		  void (*warn)(void *ctx, const char *msg), void *ctx)
{
	char word[128];
	int n = 0;
	memset(cfg, 0, sizeof(*cfg));
	cfg->guest_mem = CMDLINE_MEM_DEFAULT;
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
