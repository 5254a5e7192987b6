/*
 * Not a fuzz target: linked into each of them by tests/fuzz/run.sh. Each
 * target knows its own input format, so it writes its own seed corpus:
 * started with FUZZ_SEED_DIR=DIR, its LLVMFuzzerInitialize() calls
 * seed_add() for every seed (DIR/seed-NNN) and seed_dict() for every
 * dictionary word (DIR.dict, libFuzzer's -dict format), then exits.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

const char *seed_dir(void)
{
	return getenv("FUZZ_SEED_DIR");
}

static FILE *open_or_die(const char *path, const char *mode)
{
	FILE *f = fopen(path, mode);
	if (!f) {
		perror(path);
		exit(1);
	}
	return f;
}

void seed_add(const void *data, size_t len)
{
	static unsigned n;
	char path[4096];
	snprintf(path, sizeof(path), "%s/seed-%03u", seed_dir(), n++);
	FILE *f = open_or_die(path, "wb");
	if (fwrite(data, 1, len, f) != len)
		exit(1);
	fclose(f);
}

void seed_dict(const void *word, size_t len)
{
	static bool started;
	char path[4096];
	snprintf(path, sizeof(path), "%s.dict", seed_dir());
	FILE *f = open_or_die(path, started ? "a" : "w");
	started = true;
	fputc('"', f);
	for (size_t i = 0; i < len; i++)
		fprintf(f, "\\x%02x", ((const unsigned char *)word)[i]);
	fputs("\"\n", f);
	fclose(f);
}

void seed_add_strings(const char *const *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		seed_add(s[i], strlen(s[i]));
}

void seed_dict_strings(const char *const *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		seed_dict(s[i], strlen(s[i]));
}
