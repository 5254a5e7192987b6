/*
 * Fuzz target: the guest image loader (hv/elf_load.c); the image comes
 * from a boot module or a file on the ESP. The input is the image followed
 * by two parameter bytes (guest RAM size, min_gpa and flat_gpa). Guest RAM
 * is a buffer with guard zones on both sides; the guards and the part of
 * the buffer past ram_size are poisoned for ASan and filled with a pattern.
 * Invariants: nothing outside RAM is written (ASan, and the pattern);
 * -1 leaves RAM untouched (segments are validated before any copy); a
 * flat image lands at flat_gpa; an ELF lands exactly as its PT_LOAD
 * headers say (compared with a reference copy), nothing below min_gpa
 * changes, and the entry point lies in [min_gpa, ram_size).
 */
#include <tern/elf_load.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#include "fuzz.h"
#endif
#endif
#ifndef ASAN_POISON_MEMORY_REGION
#define ASAN_POISON_MEMORY_REGION(a, n) ((void)(a), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(a, n) ((void)(a), (void)(n))
#endif

#define GUARD 4096
#define RAM_MAX 0x40000
#define FILL 0xcc
#define GUARD_FILL 0xee

static u8 block[GUARD + RAM_MAX + GUARD];
static u8 ref[RAM_MAX];

struct phdr {
	u32 type, flags;
	u64 offset, vaddr, paddr, filesz, memsz, align;
};

static u8 fill_ram[RAM_MAX], fill_guard[RAM_MAX + GUARD];

/* memcmp, not a byte loop: the fuzzer's instrumentation makes loops slow. */
static bool all(const u8 *p, size_t n, u8 v)
{
	if (!fill_ram[0]) {
		memset(fill_ram, FILL, sizeof(fill_ram));
		memset(fill_guard, GUARD_FILL, sizeof(fill_guard));
	}
	return !memcmp(p, v == FILL ? fill_ram : fill_guard, n);
}

/* Where an ELF's bytes must land: the PT_LOAD headers applied in order. */
static void reference(const u8 *img, u64 ram_size)
{
	u64 phoff;
	u16 phentsize, phnum;
	memcpy(&phoff, img + 32, 8);
	memcpy(&phentsize, img + 54, 2);
	memcpy(&phnum, img + 56, 2);
	memset(ref, FILL, ram_size);
	for (u32 i = 0; i < phnum; i++) {
		struct phdr ph;
		memcpy(&ph, img + phoff + (u64)i * sizeof(ph), sizeof(ph));
		if (ph.type != 1 || !ph.memsz)
			continue;
		memcpy(ref + ph.paddr, img + ph.offset, ph.filesz);
		memset(ref + ph.paddr + ph.filesz, 0, ph.memsz - ph.filesz);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const u64 ram_sizes[] = { 0x10000, 0x21000, 0x40000, 0x3fff8 };
	static const u64 min_gpas[] = { 0, 0x1000, 0x8000, 0x10000 };
	if (size < 2)
		return 0;
	u8 p0 = data[size - 2], p1 = data[size - 1];
	size -= 2;
	u64 ram_size = ram_sizes[p0 & 3];
	u64 min_gpa = min_gpas[(p0 >> 2) & 3];
	u64 flat_gpa = (p1 & 0x80) ? ram_size - (p1 & 0x7f) * 0x100 : (u64)p1 * 0x1000;

	/* The image in a block of its own size. */
	u8 *img = malloc(size ? size : 1);
	memcpy(img, data, size);
	u8 *ram = block + GUARD;
	memset(block, GUARD_FILL, GUARD);
	memset(ram, FILL, ram_size);
	memset(ram + ram_size, GUARD_FILL, RAM_MAX - ram_size + GUARD);
	ASAN_POISON_MEMORY_REGION(block, GUARD);
	ASAN_POISON_MEMORY_REGION(ram + ram_size, RAM_MAX - ram_size + GUARD);

	u64 entry = ~0ULL;
	const char *err = NULL;
	int rc = guest_image_load(img, size, ram, ram_size, min_gpa, flat_gpa, &entry, &err);

	ASAN_UNPOISON_MEMORY_REGION(block, sizeof(block));
	CHECK(all(block, GUARD, GUARD_FILL));
	CHECK(all(ram + ram_size, RAM_MAX - ram_size + GUARD, GUARD_FILL));
	bool elf = size >= 4 && !memcmp(img, "\177ELF", 4);
	if (rc) {
		CHECK(rc == -1 && err && *err);
		CHECK(all(ram, ram_size, FILL));
	} else if (!elf) {
		CHECK(entry == flat_gpa && flat_gpa + size <= ram_size);
		CHECK(!memcmp(ram + flat_gpa, img, size));
		CHECK(all(ram, flat_gpa, FILL));
		CHECK(all(ram + flat_gpa + size, ram_size - flat_gpa - size, FILL));
	} else {
		CHECK(entry >= min_gpa && entry < ram_size);
		CHECK(all(ram, min_gpa, FILL));
		reference(img, ram_size);
		CHECK(!memcmp(ram, ref, ram_size));
	}
	free(img);
	return 0;
}

/* ---- seeds: images like the guests Tern boots ---- */

static u8 buf[8192];

static size_t elf(u32 nph, const struct phdr *ph, u64 entry, size_t len)
{
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "\177ELF\2\1\1", 7);
	u16 type = 2, machine = 62, ehsize = 64, phentsize = 56, phnum = (u16)nph;
	u32 version = 1;
	u64 phoff = 64;
	memcpy(buf + 16, &type, 2);
	memcpy(buf + 18, &machine, 2);
	memcpy(buf + 20, &version, 4);
	memcpy(buf + 24, &entry, 8);
	memcpy(buf + 32, &phoff, 8);
	memcpy(buf + 52, &ehsize, 2);
	memcpy(buf + 54, &phentsize, 2);
	memcpy(buf + 56, &phnum, 2);
	memcpy(buf + 64, ph, nph * sizeof(*ph));
	for (size_t i = 64 + nph * sizeof(*ph); i < len; i++)
		buf[i] = (u8)(i * 13);
	return len;
}

static void add(size_t len, u8 p0, u8 p1)
{
	buf[len] = p0;
	buf[len + 1] = p1;
	seed_add(buf, len + 2);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!seed_dir())
		return 0;
	/* text + data + bss, loaded at 0x8000 (min_gpa 0x8000: p0 = 0x0a). */
	struct phdr ph[3] = {
		{ 1, 5, 0x1000, 0x8000, 0x8000, 0x400, 0x400, 0x1000 },
		{ 1, 6, 0x1400, 0x9000, 0x9000, 0x100, 0x3000, 0x1000 },
		{ 4, 4, 0x200, 0, 0, 0x20, 0x20, 4 }, /* PT_NOTE: skipped */
	};
	add(elf(3, ph, 0x8000, 0x1500), 0x0a, 0);
	add(elf(1, ph, 0x8010, 0x1400), 0x01, 0);
	/* Flat images at 0 and near the end of RAM. */
	memset(buf, 0x90, 300);
	add(300, 0x00, 0x00);
	add(256, 0x02, 0x81);
	static const u8 magic[] = { 0x7f, 'E', 'L', 'F', 2, 1, 1 };
	seed_dict(magic, sizeof(magic));
	exit(0);
}
