/*
 * Fuzz target: the boot configuration (hv/cmdline.c), i.e. GRUB's command
 * line or tern.cfg from the ESP. The input, cut at 2 KiB and terminated,
 * goes to cmdline_parse() and to cmdline_redact() with output buffers of
 * several sizes, each allocated exactly (ASan sees any overflow).
 * Invariants: every warning is a terminated message of < 128 bytes and
 * the return value counts them; the config is in range (guest RAM a
 * multiple of 2 MiB in [4 MiB, 4 GiB], a port, a prefix for an address,
 * terminated names, a key length that fits); bad words are ignored: the
 * config equals the one parsed from the good words alone (a bad
 * netcon_psk is kept: it deliberately clears the key); the redacted
 * copy is always terminated within out_len, equals the input with every
 * netcon_psk= value replaced by <hidden>, cut to out_len - 1 bytes, so no
 * key digit is ever printed.
 */
#include <tern/cmdline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"

#define MAX_LEN 2048
/* The options whose values cmdline_redact() hides. */
static const char *const SECRETS[] = { "netcon_psk=", "migrate_psk=" };

/* The secret s starts with, or NULL. */
static const char *secret_at(const char *s)
{
	for (size_t k = 0; k < sizeof(SECRETS) / sizeof(SECRETS[0]); k++)
		if (!strncmp(s, SECRETS[k], strlen(SECRETS[k])))
			return SECRETS[k];
	return NULL;
}

static void warn(void *ctx, const char *msg)
{
	int *n = ctx;
	(*n)++;
	size_t len = strnlen(msg, 128);
	CHECK(len > 0 && len < 128);
}

static int parse(const char *s, struct hv_config *cfg)
{
	int warnings = 0;
	int rc = cmdline_parse(s, cfg, warn, &warnings);
	CHECK(rc == warnings);
	return rc;
}

static void check_config(const struct hv_config *c)
{
	CHECK(c->guest_mem >= CMDLINE_MEM_MIN && c->guest_mem <= CMDLINE_MEM_MAX);
	CHECK(c->guest_mem % SZ_2M == 0);
	CHECK(memchr(c->guest, '\0', sizeof(c->guest)));
	CHECK(memchr(c->netcon_psk_id, '\0', sizeof(c->netcon_psk_id)) && c->netcon_psk_id[0]);
	CHECK(c->netcon_psk_len <= sizeof(c->netcon_psk));
	CHECK(c->netcon_port >= 1);
	CHECK(c->dirty_mode >= 0 && c->dirty_mode <= 2);
	if (c->ip_addr)
		CHECK(c->ip_prefix >= 1 && c->ip_prefix <= 32);
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

/* "Bad words are ignored": parse again from the words that warn on their own. */
static void check_bad_words_ignored(const char *s, const struct hv_config *cfg)
{
	char *good = malloc(strlen(s) + 2), word[MAX_LEN + 1];
	size_t g = 0;
	for (const char *p = s; *p;) {
		while (blank(*p))
			p++;
		size_t len = strcspn(p, " \t");
		if (!len)
			break;
		memcpy(word, p, len);
		word[len] = '\0';
		struct hv_config one;
		/* A bad netcon_psk or migrate_psk is not ignored: it drops the key
		 * given before (the console stays closed, no migration key). */
		bool key = (!strncmp(word, "netcon_psk", 10) && (!word[10] || word[10] == '=')) ||
			   (!strncmp(word, "migrate_psk", 11) && (!word[11] || word[11] == '='));
		if (!parse(word, &one) || key) {
			memcpy(good + g, word, len);
			g += len;
			good[g++] = ' ';
		}
		p += len;
	}
	good[g] = '\0';
	struct hv_config again;
	parse(good, &again);
	/* Field by field first, so that a failure names the field. */
	CHECK(again.guest_mem == cfg->guest_mem && !strcmp(again.guest, cfg->guest));
	CHECK(again.no_guest == cfg->no_guest && again.dirty_mode == cfg->dirty_mode);
	CHECK(again.net_dhcp == cfg->net_dhcp);
	CHECK(again.ip_addr == cfg->ip_addr);
	CHECK(again.ip_prefix == cfg->ip_prefix);
	CHECK(again.gw_addr == cfg->gw_addr && again.netcon_port == cfg->netcon_port);
	CHECK(again.netcon_psk_len == cfg->netcon_psk_len);
	CHECK(!strcmp(again.netcon_psk_id, cfg->netcon_psk_id));
	CHECK(again.netcon_plain == cfg->netcon_plain);
	CHECK(again.migrate_psk_len == cfg->migrate_psk_len);
	CHECK(!strcmp(again.migrate_psk_id, cfg->migrate_psk_id));
	CHECK(again.incoming_port == cfg->incoming_port && again.migrate_plain == cfg->migrate_plain);
	CHECK(!memcmp(&again, cfg, sizeof(again)));
	free(good);
}

/* The specification of cmdline_redact(), at full length. */
static char *redacted(const char *s)
{
	char *out = malloc(strlen(s) * 2 + 16);
	size_t o = 0;
	for (size_t i = 0; s[i];) {
		const char *secret = (i == 0 || blank(s[i - 1])) ? secret_at(s + i) : NULL;
		if (secret) {
			o += (size_t)sprintf(out + o, "%s<hidden>", secret);
			i += strcspn(s + i, " \t");
		} else {
			out[o++] = s[i++];
		}
	}
	out[o] = '\0';
	return out;
}

static void check_redact(const char *s)
{
	char *want = redacted(s);
	size_t want_len = strlen(want), in_len = strlen(s);
	const size_t sizes[] = { 1, 2, 5, 12, 19, 20, in_len / 2 + 1, in_len + 1, want_len,
				 want_len + 1, want_len + 40 };
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k] ? sizes[k] : 1;
		char *out = malloc(n);
		memset(out, 0x5a, n);
		cmdline_redact(s, out, n);
		char *nul = memchr(out, '\0', n);
		CHECK(nul);
		size_t got = (size_t)(nul - out);
		CHECK(got == (want_len < n - 1 ? want_len : n - 1));
		CHECK(!memcmp(out, want, got));
		free(out);
	}
	/* out_len 0: nothing written at all. */
	char guard = 0x5a;
	cmdline_redact(s, &guard, 0);
	CHECK(guard == 0x5a);
	/* No word of the full copy shows a key. */
	for (size_t k = 0; k < sizeof(SECRETS) / sizeof(SECRETS[0]); k++) {
		size_t sl = strlen(SECRETS[k]);
		for (const char *p = want; (p = strstr(p, SECRETS[k])); p++)
			if (p == want || blank(p[-1]))
				CHECK(!strncmp(p + sl, "<hidden>", 8) && (!p[sl + 8] || blank(p[sl + 8])));
	}
	free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MAX_LEN)
		size = MAX_LEN;
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';

	struct hv_config cfg;
	parse(s, &cfg);
	check_config(&cfg);
	check_bad_words_ignored(s, &cfg);
	check_redact(s);
	free(s);
	return 0;
}

static const char *const seeds[] = {
	"guest=demo mem=64M",
	"mem=4M dirty=pml guest=guest.elf",
	"mem=4G dirty=wp noguest",
	"ip=10.0.2.15/24 gw=10.0.2.2 netcon_port=4444",
	"ip=dhcp netcon_psk=00112233445566778899aabbccddeeff netcon_psk_id=ops",
	"netcon_plain ip=192.168.1.2/16\tnetcon_psk=zz mem=65536K",
	"mem=3M mem=5M mem= mem=1G5 dirty=x ip=1.2.3/8 gw=300.1.1.1 netcon_port=0 bogus",
	("netcon_psk=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
};
static const char *const words[] = {
	"mem=", "guest=", "noguest", "dirty=", "auto", "pml", "wp", "ip=", "dhcp", "gw=",
	"netcon_port=", "netcon_psk=", "netcon_psk_id=", "netcon_plain", "/24", "0.0.0.0",
	"10.0.2.15", "4G", "2M", "65535",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!seed_dir())
		return 0;
	seed_add_strings(seeds, sizeof(seeds) / sizeof(seeds[0]));
	seed_dict_strings(words, sizeof(words) / sizeof(words[0]));
	exit(0);
}
