/*
 * The test traffic pattern (contract in tern/tcp_pattern.h). Pure code,
 * built into Tern and into the host unit tests. Filling and checking work
 * a 64-bit word at a time where the stream is word-aligned, because the
 * sink checks every received byte at line rate.
 */
#include <tern/tcp_pattern.h>
#include <stdio.h>
#include <string.h>

u64 tcp_pattern_word(u64 word_index)
{
	/* The (word_index + 1)-th output of SplitMix64 seeded with 0. */
	u64 z = (word_index + 1) * 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static u8 pattern_byte(u64 i)
{
	return (u8)(tcp_pattern_word(i >> 3) >> ((i & 7) * 8));
}

void tcp_pattern_fill(u8 *buf, u64 offset, size_t len)
{
	size_t i = 0;
	for (; i < len && ((offset + i) & 7); i++)
		buf[i] = pattern_byte(offset + i);
	for (; i + 8 <= len; i += 8) {
		u64 w = tcp_pattern_word((offset + i) >> 3);
		memcpy(buf + i, &w, 8); /* x86_64 is little-endian, as the pattern */
	}
	for (; i < len; i++)
		buf[i] = pattern_byte(offset + i);
}

void tcp_pattern_check_init(struct tcp_pattern_check *c)
{
	memset(c, 0, sizeof(*c));
}

static void mark_bad(struct tcp_pattern_check *c, const u8 *buf, size_t from, size_t len)
{
	for (size_t i = from; i < len; i++) {
		if (buf[i] != pattern_byte(c->offset + i)) {
			c->bad = true;
			c->bad_offset = c->offset + i;
			return;
		}
	}
}

bool tcp_pattern_check(struct tcp_pattern_check *c, const u8 *buf, size_t len)
{
	if (c->bad) {
		c->offset += len;
		return false;
	}
	size_t i = 0;
	for (; i < len && ((c->offset + i) & 7); i++) {
		if (buf[i] != pattern_byte(c->offset + i)) {
			mark_bad(c, buf, i, len);
			goto out;
		}
	}
	for (; i + 8 <= len; i += 8) {
		u64 w;
		memcpy(&w, buf + i, 8);
		if (w != tcp_pattern_word((c->offset + i) >> 3)) {
			mark_bad(c, buf, i, i + 8); /* which byte of the word */
			goto out;
		}
	}
	for (; i < len; i++) {
		if (buf[i] != pattern_byte(c->offset + i)) {
			mark_bad(c, buf, i, len);
			goto out;
		}
	}
out:
	c->offset += len;
	return !c->bad;
}

const char *tcp_pattern_verdict(const struct tcp_pattern_check *c, char *buf, size_t len)
{
	if (c->bad)
		snprintf(buf, len, "BAD at offset %lu", (unsigned long)c->bad_offset);
	else
		snprintf(buf, len, "ok");
	return buf;
}

u64 tcp_pattern_kib_per_s(u64 bytes, u64 ns)
{
	if (!ns)
		return 0;
	/* 128-bit: bytes * 1e9 overflows 64 bits from 18 GB on */
	unsigned __int128 v = (unsigned __int128)bytes * 1000000000u;
	return (u64)(v / ((unsigned __int128)ns * 1024u));
}
