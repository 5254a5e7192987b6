/*
 * hv/elf_load.c: minimal ELF64 images are built here with the host's
 * <elf.h> (the System V gABI layout), and loaded into a RAM buffer with
 * guard bytes on both sides. Good images must land at their physical
 * addresses with bss zeroed; bad ones must be refused with RAM and guards
 * untouched. ASan watches past the guards.
 */
#include "unit.h"
#include <tern/elf_load.h>
#include <elf.h>

#define RAM_SIZE 0x100000ULL
#define MIN_GPA 0x8000ULL
#define FLAT_GPA 0x10000ULL
#define GUARD_LEN 4096
#define GUARD_BYTE 0xcc
#define RAM_FILL 0xee

static u8 *area, *ram;
static u8 img[0x10000];
static u64 img_len;
static u64 entry;
static const char *err;

static void ram_reset(void)
{
	if (!area)
		area = malloc(GUARD_LEN + RAM_SIZE + GUARD_LEN);
	CHECK(area);
	memset(area, GUARD_BYTE, GUARD_LEN);
	memset(area + GUARD_LEN, RAM_FILL, RAM_SIZE);
	memset(area + GUARD_LEN + RAM_SIZE, GUARD_BYTE, GUARD_LEN);
	ram = area + GUARD_LEN;
}

static void check_guards(void)
{
	for (u64 i = 0; i < GUARD_LEN; i++) {
		CHECK_EQ(area[i], GUARD_BYTE);
		CHECK_EQ(area[GUARD_LEN + RAM_SIZE + i], GUARD_BYTE);
	}
}

static void check_ram_untouched(void)
{
	for (u64 i = 0; i < RAM_SIZE; i++)
		if (ram[i] != RAM_FILL)
			unit_fail(__FILE__, __LINE__, "RAM byte 0x%" PRIx64 " written", i);
}

static Elf64_Ehdr *eh(void) { return (Elf64_Ehdr *)img; }
static Elf64_Phdr *ph(int i) { return (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)) + i; }

/* An executable with nph program headers (all zero), data from 0x1000. */
static void elf_begin(int nph, u64 entry_pa)
{
	memset(img, 0, sizeof(img));
	Elf64_Ehdr *e = eh();
	memcpy(e->e_ident, ELFMAG, SELFMAG);
	e->e_ident[EI_CLASS] = ELFCLASS64;
	e->e_ident[EI_DATA] = ELFDATA2LSB;
	e->e_ident[EI_VERSION] = EV_CURRENT;
	e->e_type = ET_EXEC;
	e->e_machine = EM_X86_64;
	e->e_version = EV_CURRENT;
	e->e_entry = entry_pa;
	e->e_phoff = sizeof(Elf64_Ehdr);
	e->e_ehsize = sizeof(Elf64_Ehdr);
	e->e_phentsize = sizeof(Elf64_Phdr);
	e->e_phnum = (u16)nph;
	img_len = 0x1000;
}

/* Program header i: PT_LOAD of filesz bytes of pattern at file offset off. */
static void elf_load_seg(int i, u64 off, u64 paddr, u64 filesz, u64 memsz, u8 pattern)
{
	Elf64_Phdr *p = ph(i);
	p->p_type = PT_LOAD;
	p->p_flags = PF_R | PF_W | PF_X;
	p->p_offset = off;
	p->p_vaddr = 0xffffffff80000000ULL + paddr;
	p->p_paddr = paddr;
	p->p_filesz = filesz;
	p->p_memsz = memsz;
	p->p_align = 0x1000;
	for (u64 k = 0; k < filesz; k++)
		img[off + k] = (u8)(pattern + k);
	if (off + filesz > img_len)
		img_len = off + filesz;
}

/* Load img_len bytes of img from an exact-size heap copy. */
static int load(void)
{
	u8 *copy = malloc(img_len ? img_len : 1);
	CHECK(copy);
	memcpy(copy, img, img_len);
	err = NULL;
	entry = 0x5a5a5a5a;
	int rc = guest_image_load(copy, img_len, ram, RAM_SIZE, MIN_GPA, FLAT_GPA, &entry, &err);
	free(copy);
	return rc;
}

/* Refused with a message; RAM and guards exactly as before. */
static void check_refused(void)
{
	CHECK_EQ(load(), -1);
	CHECK(err && *err);
	CHECK_EQ(entry, 0x5a5a5a5a);
	check_guards();
	check_ram_untouched();
}

/* A valid two-segment image: text at 0x10000, data+bss at 0x20000. */
static void good_image(void)
{
	ram_reset();
	elf_begin(2, 0x10020);
	elf_load_seg(0, 0x1000, 0x10000, 0x100, 0x100, 0x10);
	elf_load_seg(1, 0x1100, 0x20000, 0x10, 0x1000, 0x80);
}

TEST(loads_segments_at_paddr)
{
	good_image();
	CHECK_EQ(load(), 0);
	CHECK_EQ(entry, 0x10020);
	for (u64 k = 0; k < 0x100; k++)
		CHECK_EQ(ram[0x10000 + k], (u8)(0x10 + k));
	for (u64 k = 0; k < 0x10; k++)
		CHECK_EQ(ram[0x20000 + k], (u8)(0x80 + k));
	CHECK_EQ(ram[0x10000 - 1], RAM_FILL);
	CHECK_EQ(ram[0x10100], RAM_FILL);
	check_guards();
}

TEST(bss_is_zeroed)
{
	good_image();
	CHECK_EQ(load(), 0);
	for (u64 k = 0x10; k < 0x1000; k++)
		CHECK_EQ(ram[0x20000 + k], 0);
	CHECK_EQ(ram[0x21000], RAM_FILL);
}

TEST(pure_bss_segment)
{
	ram_reset();
	elf_begin(2, 0x10000);
	elf_load_seg(0, 0x1000, 0x10000, 0x10, 0x10, 1);
	elf_load_seg(1, 0, 0x30000, 0, 0x2000, 0);
	CHECK_EQ(load(), 0);
	for (u64 k = 0; k < 0x2000; k++)
		CHECK_EQ(ram[0x30000 + k], 0);
	CHECK_EQ(ram[0x32000], RAM_FILL);
}

TEST(other_program_headers_ignored)
{
	ram_reset();
	elf_begin(3, 0x10000);
	ph(0)->p_type = PT_NOTE;
	ph(0)->p_offset = ~0ULL; /* nonsense, but not loaded */
	ph(0)->p_filesz = 0x100000;
	ph(0)->p_memsz = 0x100000;
	elf_load_seg(1, 0x1000, 0x10000, 0x40, 0x40, 7);
	ph(2)->p_type = PT_GNU_STACK;
	CHECK_EQ(load(), 0);
	CHECK_EQ(ram[0x10000], 7);
	check_guards();
}

TEST(segment_touching_ram_edges_accepted)
{
	ram_reset();
	elf_begin(2, RAM_SIZE - 1);
	elf_load_seg(0, 0x1000, MIN_GPA, 0x10, 0x10, 3);
	elf_load_seg(1, 0x1010, RAM_SIZE - 0x100, 0x20, 0x100, 9);
	CHECK_EQ(load(), 0);
	CHECK_EQ(entry, RAM_SIZE - 1);
	CHECK_EQ(ram[MIN_GPA], 3);
	CHECK_EQ(ram[RAM_SIZE - 0x100], 9);
	CHECK_EQ(ram[RAM_SIZE - 1], 0);
	CHECK_EQ(ram[MIN_GPA - 1], RAM_FILL);
	check_guards();
}

TEST(flat_image_loads_at_flat_gpa)
{
	ram_reset();
	static const u8 flat[] = { 0xfa, 0xf4, 0xeb, 0xfd, 0x90 }; /* cli; hlt; jmp */
	memcpy(img, flat, sizeof(flat));
	img_len = sizeof(flat);
	CHECK_EQ(load(), 0);
	CHECK_EQ(entry, FLAT_GPA);
	CHECK_EQ(memcmp(ram + FLAT_GPA, flat, sizeof(flat)), 0);
	CHECK_EQ(ram[FLAT_GPA + sizeof(flat)], RAM_FILL);
	CHECK_EQ(ram[FLAT_GPA - 1], RAM_FILL);
}

TEST(short_or_near_elf_images_are_flat)
{
	ram_reset();
	memcpy(img, "\177EL", 3);
	img_len = 3;
	CHECK_EQ(load(), 0);
	CHECK_EQ(entry, FLAT_GPA);
	CHECK_EQ(memcmp(ram + FLAT_GPA, "\177EL", 3), 0);
	memcpy(img, "\177ELX rest", 9);
	img_len = 9;
	CHECK_EQ(load(), 0);
	CHECK_EQ(entry, FLAT_GPA);
}

TEST(flat_image_bounds)
{
	ram_reset();
	memset(img, 0x42, sizeof(img));
	img_len = 0;
	check_refused();
	/* Exactly up to the end of RAM fits; one more byte does not. */
	u64 len = 0x1000;
	u8 *big = malloc(RAM_SIZE);
	CHECK(big);
	memset(big, 0x42, RAM_SIZE);
	err = NULL;
	int rc = guest_image_load(big, RAM_SIZE - FLAT_GPA + 1, ram, RAM_SIZE, MIN_GPA,
				  FLAT_GPA, &entry, &err);
	int rc2 = guest_image_load(big, len, ram, RAM_SIZE, MIN_GPA, RAM_SIZE - len + 1,
				   &entry, &err);
	int rc3 = guest_image_load(big, len, ram, RAM_SIZE, MIN_GPA, ~0ULL - 0x10, &entry, &err);
	int rc4 = guest_image_load(big, len, ram, RAM_SIZE, MIN_GPA, RAM_SIZE - len, &entry, &err);
	free(big);
	CHECK_EQ(rc, -1);
	CHECK_EQ(rc2, -1);
	CHECK_EQ(rc3, -1);
	check_guards();
	CHECK_EQ(rc4, 0);
	CHECK_EQ(entry, RAM_SIZE - len);
	CHECK_EQ(ram[RAM_SIZE - 1], 0x42);
}

TEST(rejects_elf32)
{
	good_image();
	eh()->e_ident[EI_CLASS] = ELFCLASS32;
	check_refused();
}

TEST(rejects_other_machines)
{
	good_image();
	eh()->e_machine = EM_386;
	check_refused();
	eh()->e_machine = EM_AARCH64;
	check_refused();
}

TEST(rejects_non_executables)
{
	good_image();
	eh()->e_type = ET_DYN;
	check_refused();
	eh()->e_type = ET_REL;
	check_refused();
	eh()->e_type = ET_CORE;
	check_refused();
}

TEST(rejects_truncated_header)
{
	good_image();
	img_len = sizeof(Elf64_Ehdr) - 1;
	check_refused();
	img_len = 4;
	check_refused();
}

TEST(rejects_wrong_phentsize)
{
	good_image();
	eh()->e_phentsize = sizeof(Elf64_Phdr) - 8;
	check_refused();
	eh()->e_phentsize = sizeof(Elf64_Phdr) + 8;
	check_refused();
	eh()->e_phentsize = 0;
	check_refused();
}

TEST(rejects_no_program_headers)
{
	good_image();
	eh()->e_phnum = 0;
	check_refused();
}

TEST(rejects_program_headers_past_end)
{
	good_image();
	img_len = sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr) - 1;
	/* segment data would be past the end too, but the headers are checked first */
	check_refused();
	good_image();
	eh()->e_phoff = img_len - sizeof(Elf64_Phdr) + 1;
	check_refused();
	eh()->e_phoff = ~0ULL - 8;
	check_refused();
	eh()->e_phoff = sizeof(Elf64_Ehdr);
	eh()->e_phnum = 0xffff;
	check_refused();
}

TEST(rejects_segment_past_end_of_file)
{
	good_image();
	ph(1)->p_filesz = img_len - ph(1)->p_offset + 1;
	ph(1)->p_memsz = 0x2000;
	check_refused();
	good_image();
	ph(1)->p_offset = img_len - 0xf;
	check_refused();
}

TEST(rejects_segment_offset_overflow)
{
	static const u64 offs[] = { ~0ULL, ~0ULL - 0xf, 1ULL << 63 };
	for (size_t i = 0; i < ARRAY_SIZE(offs); i++) {
		good_image();
		ph(1)->p_offset = offs[i];
		check_refused();
	}
	good_image();
	ph(1)->p_filesz = ~0ULL;
	ph(1)->p_memsz = ~0ULL;
	check_refused();
	good_image();
	ph(1)->p_offset = 0x10;
	ph(1)->p_filesz = ~0ULL - 0xf; /* offset + filesz wraps to 0 */
	ph(1)->p_memsz = ~0ULL;
	check_refused();
}

TEST(rejects_filesz_above_memsz)
{
	good_image();
	ph(1)->p_memsz = 0xf;
	check_refused();
}

TEST(rejects_segment_below_min_gpa)
{
	good_image();
	ph(1)->p_paddr = MIN_GPA - 1;
	check_refused();
	ph(1)->p_paddr = 0;
	check_refused();
}

TEST(rejects_segment_past_ram)
{
	good_image();
	ph(1)->p_paddr = RAM_SIZE - ph(1)->p_memsz + 1;
	check_refused();
	ph(1)->p_paddr = RAM_SIZE;
	check_refused();
	good_image();
	ph(1)->p_memsz = RAM_SIZE;
	check_refused();
}

TEST(rejects_segment_address_overflow)
{
	good_image();
	ph(1)->p_paddr = ~0ULL - 0x7ff; /* paddr + memsz wraps to 0x800 */
	check_refused();
	good_image();
	ph(1)->p_memsz = ~0ULL - 0x1ffff; /* paddr 0x20000 + memsz wraps to 0 */
	check_refused();
}

TEST(rejects_without_load_segment)
{
	good_image();
	ph(0)->p_type = PT_NOTE;
	ph(1)->p_type = PT_DYNAMIC;
	check_refused();
	good_image();
	ph(0)->p_memsz = 0;
	ph(0)->p_filesz = 0;
	ph(1)->p_memsz = 0;
	ph(1)->p_filesz = 0;
	check_refused();
}

TEST(rejects_entry_outside_ram)
{
	static const u64 entries[] = { 0, MIN_GPA - 1, RAM_SIZE, ~0ULL, 0xffffffff80010020ULL };
	for (size_t i = 0; i < ARRAY_SIZE(entries); i++) {
		good_image();
		eh()->e_entry = entries[i];
		CHECK_EQ(load(), -1);
		CHECK(err && *err);
		check_guards();
	}
}

TEST(one_bad_segment_means_nothing_copied)
{
	good_image();
	ph(1)->p_paddr = RAM_SIZE; /* the first segment is fine */
	check_refused();
	good_image();
	ph(1)->p_offset = ~0ULL;
	check_refused();
}

TEST(byte_flips_in_headers_never_escape_ram)
{
	good_image();
	u8 saved[0x2000];
	memcpy(saved, img, sizeof(saved));
	u64 hdr_len = sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr);
	static const u8 vals[] = { 0x00, 0x01, 0x10, 0x7f, 0x80, 0xff };
	for (u64 i = 0; i < hdr_len; i++) {
		for (size_t v = 0; v < ARRAY_SIZE(vals); v++) {
			memcpy(img, saved, sizeof(saved));
			img[i] = vals[v];
			if (load() != 0)
				CHECK(err && *err);
			check_guards();
		}
	}
}
