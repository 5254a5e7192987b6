/*
 * ternctl's pure pieces (tools/ternctl/proto.c, unit-tested on the host):
 * the key file, the HOST[:PORT] argument, the command line built from
 * words, and where an answer of the network console ends.
 */
#ifndef TERNCTL_PROTO_H
#define TERNCTL_PROTO_H

#include <stddef.h>

#define TERNCTL_PROMPT "(tern) "
#define TERNCTL_PSK_MAX 64   /* bytes; Tern's netcon_psk takes 2..128 hex digits */
#define TERNCTL_LINE_MAX 256 /* Tern's console line limit */

/*
 * A key file holds the key as hex digits (2..128 of them, an even count),
 * optionally surrounded by whitespace (a trailing newline, typically).
 * Returns 0 with the key in key/len, or -1 with a reason in *why.
 */
int psk_parse(const char *text, size_t text_len, unsigned char *key, size_t *len,
	      const char **why);

/*
 * "HOST", "HOST:PORT", "[V6]:PORT" or a bare IPv6 address. Returns 0, or -1
 * with a reason in *why. host and port are filled (port defaults).
 */
int target_parse(const char *arg, const char *default_port, char *host, size_t host_len,
		 char *port, size_t port_len, const char **why);

/* Join words with spaces into one command line; -1 (with *why) if too long or multi-line. */
int command_join(char **words, int n, char *line, size_t line_len, const char **why);

/*
 * Whether buf (everything received since the command went out) holds a
 * whole answer: it then ends with the prompt at the start of a line.
 * Returns the answer's length without the prompt, or -1 if more must come.
 */
long answer_end(const char *buf, size_t len);

#endif
