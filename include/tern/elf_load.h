/* Loading a guest image (ELF64 or flat binary) into guest RAM: pure code. */
#ifndef TERN_ELF_LOAD_H
#define TERN_ELF_LOAD_H

#include <tern/types.h>

/*
 * Copy img into ram (ram_size bytes, guest-physical 0 at ram[0]). An ELF64
 * x86-64 executable is loaded by its PT_LOAD physical addresses, which must
 * lie in [min_gpa, ram_size); anything else is a flat image loaded at
 * flat_gpa. *entry receives the entry point. Returns 0, or -1 with *err set;
 * nothing outside ram is ever written, whatever the image holds.
 */
int guest_image_load(const u8 *img, u64 len, u8 *ram, u64 ram_size, u64 min_gpa,
		     u64 flat_gpa, u64 *entry, const char **err);

#endif
