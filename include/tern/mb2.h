/* Multiboot2 information parsing (pure; unit-tested on the host). */
#ifndef TERN_MB2_H
#define TERN_MB2_H

#include <tern/boot_info.h>

/*
 * Parse the multiboot2 information structure at info (whose physical address
 * is info_phys, used to report the RSDP copy's address) into bi. Returns 0,
 * or -1 with *err set to a static message; bi is then partially filled.
 * Bounds: never reads past total_size, however the tags are formed.
 */
int mb2_parse(const void *info, u64 info_phys, struct boot_info *bi, const char **err);

#endif
