/*
 * What every fuzz target shares: the invariant check (a failed one aborts,
 * so libFuzzer keeps the input), libFuzzer's entry points, and the seed
 * writer of seed_util.c.
 */
#ifndef TERN_FUZZ_H
#define TERN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(c)                                                                    \
	do {                                                                        \
		if (!(c)) {                                                         \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #c);                                      \
			abort();                                                    \
		}                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* seed_util.c: non-NULL when the target was started to write its seeds. */
const char *seed_dir(void);
void seed_add(const void *data, size_t len);
void seed_dict(const void *word, size_t len);
/* The same for n NUL-terminated strings. */
void seed_add_strings(const char *const *s, size_t n);
void seed_dict_strings(const char *const *s, size_t n);

#endif
