/*
 * ternctl's pure pieces: parsing of the key file, the target argument and
 * the command words, and the end-of-answer rule of the network console
 * (docs/network-console.md). No I/O here, so the unit tests include it.
 */
#include "proto.h"
#include <string.h>

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int psk_parse(const char *text, size_t text_len, unsigned char *key, size_t *len,
	      const char **why)
{
	size_t a = 0, b = text_len;
	while (a < b && is_space(text[a]))
		a++;
	while (b > a && is_space(text[b - 1]))
		b--;
	size_t digits = b - a;
	if (digits < 2 || digits > 2 * TERNCTL_PSK_MAX) {
		*why = "the key must be 2 to 128 hex digits";
		return -1;
	}
	if (digits % 2) {
		*why = "the key has an odd number of hex digits";
		return -1;
	}
	for (size_t i = 0; i < digits; i += 2) {
		int hi = hex_digit(text[a + i]), lo = hex_digit(text[a + i + 1]);
		if (hi < 0 || lo < 0) {
			*why = "the key file holds something other than hex digits";
			return -1;
		}
		key[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	*len = digits / 2;
	return 0;
}

static int copy_str(char *dst, size_t dst_len, const char *src, size_t n)
{
	if (n == 0 || n >= dst_len)
		return -1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

static int port_ok(const char *p)
{
	long v = 0;
	if (!*p)
		return 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10 + (*p - '0');
		if (v > 65535)
			return 0;
	}
	return v > 0;
}

int target_parse(const char *arg, const char *default_port, char *host, size_t host_len,
		 char *port, size_t port_len, const char **why)
{
	const char *h = arg, *p = NULL;
	size_t hn;
	if (arg[0] == '[') {
		const char *close = strchr(arg, ']');
		if (!close || (close[1] && close[1] != ':')) {
			*why = "bad [IPv6]:PORT";
			return -1;
		}
		h = arg + 1;
		hn = (size_t)(close - h);
		p = close[1] ? close + 2 : NULL;
	} else {
		const char *colon = strchr(arg, ':');
		if (colon && strchr(colon + 1, ':')) { /* a bare IPv6 address */
			hn = strlen(arg);
		} else {
			hn = colon ? (size_t)(colon - arg) : strlen(arg);
			p = colon ? colon + 1 : NULL;
		}
	}
	if (copy_str(host, host_len, h, hn)) {
		*why = "bad host";
		return -1;
	}
	if (!p)
		p = default_port;
	if (!port_ok(p) || copy_str(port, port_len, p, strlen(p))) {
		*why = "the port must be 1 to 65535";
		return -1;
	}
	return 0;
}

int command_join(char **words, int n, char *line, size_t line_len, const char **why)
{
	size_t used = 0;
	size_t limit = line_len - 1 < TERNCTL_LINE_MAX ? line_len - 1 : TERNCTL_LINE_MAX;
	for (int i = 0; i < n; i++) {
		size_t w = strlen(words[i]);
		if (strpbrk(words[i], "\r\n")) {
			*why = "a command is one line";
			return -1;
		}
		if (used + (i > 0) + w > limit) {
			*why = "the command is longer than 256 characters";
			return -1;
		}
		if (i > 0)
			line[used++] = ' ';
		memcpy(line + used, words[i], w);
		used += w;
	}
	line[used] = '\0';
	return 0;
}

long answer_end(const char *buf, size_t len)
{
	size_t pl = strlen(TERNCTL_PROMPT);
	if (len < pl || memcmp(buf + len - pl, TERNCTL_PROMPT, pl))
		return -1;
	size_t start = len - pl;
	if (start > 0 && buf[start - 1] != '\n')
		return -1; /* "(tern) " inside a line is not the prompt */
	return (long)start;
}
