/*
 * The hypervisor's C heap: one contiguous region handed to newlib's malloc
 * through sbrk (hv/libc_stubs.c). Set it once, early, before any malloc.
 */
#ifndef TERN_HEAP_H
#define TERN_HEAP_H

#include <tern/types.h>

void heap_init(void *base, size_t size);

#endif
