/*
 * The byte pattern of Tern's test traffic (net_send and the TCP sink on
 * port 5001, docs/network.md): the output of the SplitMix64 generator
 * seeded with 0, each 64-bit output little-endian. Byte i of a stream is
 * byte i % 8 of output number i / 8. It does not repeat, so any loss,
 * duplication or reordering of stream bytes shows within the next few
 * bytes, whatever the shift. Pure code; tests/harness/net_tests.py
 * implements the same definition.
 */
#ifndef TERN_TCP_PATTERN_H
#define TERN_TCP_PATTERN_H

#include <tern/types.h>

u64 tcp_pattern_word(u64 word_index);
/* Write the pattern bytes [offset, offset + len) into buf. */
void tcp_pattern_fill(u8 *buf, u64 offset, size_t len);

/* Checks one stream, fed in order, chunk by chunk. */
struct tcp_pattern_check {
	u64 offset;     /* stream bytes seen so far */
	bool bad;       /* a byte differed... */
	u64 bad_offset; /* ...first at this stream offset */
};

void tcp_pattern_check_init(struct tcp_pattern_check *c);
/* Check len bytes that follow what was fed before; false once any differed. */
bool tcp_pattern_check(struct tcp_pattern_check *c, const u8 *buf, size_t len);

/* What the checker found, for a report: "ok" or "BAD at offset X". */
const char *tcp_pattern_verdict(const struct tcp_pattern_check *c, char *buf, size_t len);

/* Throughput in KiB/s of bytes moved in ns nanoseconds (0 when ns is 0). */
u64 tcp_pattern_kib_per_s(u64 bytes, u64 ns);

#endif
