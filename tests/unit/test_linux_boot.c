/*
 * hv/linux_boot.c: synthetic bzImages are built here byte by byte at the
 * offsets of Linux's Documentation/x86/boot.rst, with values like Debian
 * 12's kernel (protocol 2.15, pref_address 16 MiB, 2 MiB alignment,
 * init_size ~45 MiB). Every expected address and zero-page byte below was
 * worked out by hand from boot.rst and zero-page.rst, and the zero page is
 * read back with explicit little-endian loads, never through the module's
 * own definitions.
 */
#include "unit.h"
#include <tern/linux_boot.h>
#include <glob.h>

#define SETUP_SECTS 3                   /* setup = 4 sectors */
#define SETUP_LEN ((SETUP_SECTS + 1) * 512)
#define SYSSIZE 0x100                   /* 4096 bytes of protected-mode code */
#define PM_LEN (SYSSIZE * 16)
#define TRAILER 1024                    /* a signature after the code: not loaded */
#define IMG_LEN (SETUP_LEN + PM_LEN + TRAILER)
#define MiB (1ULL << 20)
#define RAM_256M (256 * MiB)
#define INIT_SIZE 0x2d00000ULL
#define VERSION_STR "6.1.0-18-amd64 (debian-kernel@lists.debian.org) #1 SMP"

static u8 img[IMG_LEN];
static struct linux_image k;
static struct linux_boot_plan plan;
static const char *err;

static void w16(u8 *p, u32 v) { p[0] = (u8)v; p[1] = (u8)(v >> 8); }
static void w32(u8 *p, u32 v) { w16(p, v & 0xffff); w16(p + 2, v >> 16); }
static void w64(u8 *p, u64 v) { w32(p, (u32)v); w32(p + 4, (u32)(v >> 32)); }
static u32 r16(const u8 *p) { return p[0] | (u32)p[1] << 8; }
static u32 r32(const u8 *p) { return r16(p) | r16(p + 2) << 16; }
static u64 r64(const u8 *p) { return r32(p) | (u64)r32(p + 4) << 32; }

/* A Debian-like bzImage: junk where a loader must not look, the header by hand. */
static void make_image(void)
{
	memset(img, 0xcc, 0x1f1);                 /* boot sector: must not reach the zero page */
	memset(img + 0x1f1, 0, SETUP_LEN - 0x1f1);
	img[0x1ef] = 0xff;                        /* images carry a nonzero sentinel */
	img[0x1f1] = SETUP_SECTS;
	w16(img + 0x1f2, 1);                      /* root_flags */
	w32(img + 0x1f4, SYSSIZE);
	w16(img + 0x1fa, 0xffff);                 /* vid_mode "normal" */
	w16(img + 0x1fe, 0xaa55);
	img[0x200] = 0xeb;
	img[0x201] = 0x6a;                        /* header ends at 0x26c (2.15) */
	memcpy(img + 0x202, "HdrS", 4);
	w16(img + 0x206, 0x020f);
	w16(img + 0x20e, 0x100);                  /* version string at 0x300 */
	img[0x211] = 0x81;                        /* LOADED_HIGH | CAN_USE_HEAP */
	w32(img + 0x214, 0x100000);               /* code32_start */
	w16(img + 0x224, 0xde00);                 /* heap_end_ptr: junk to be cleared */
	w32(img + 0x22c, 0x7fffffff);             /* initrd_addr_max */
	w32(img + 0x230, 0x200000);               /* kernel_alignment */
	img[0x234] = 1;                           /* relocatable_kernel */
	img[0x235] = 21;                          /* min_alignment */
	w16(img + 0x236, 0x1b);                   /* KERNEL_64 | ABOVE_4G | EFI_HANDOVER_64 | EFI_KEXEC */
	w32(img + 0x238, 2047);                   /* cmdline_size */
	w32(img + 0x248, 0x3c0);                  /* payload_offset */
	w32(img + 0x24c, 0xc00);                  /* payload_length */
	w64(img + 0x250, 0x1234);                 /* setup_data: junk to be cleared */
	w64(img + 0x258, 0x1000000);              /* pref_address */
	w32(img + 0x260, (u32)INIT_SIZE);
	w32(img + 0x264, 0x190);                  /* handover_offset */
	w32(img + 0x268, 0x4000);                 /* kernel_info_offset */
	memset(img + 0x26c, 0xee, 0x290 - 0x26c); /* past the header: must not be copied */
	memcpy(img + 0x300, VERSION_STR, sizeof(VERSION_STR));
	for (u32 i = 0; i < PM_LEN; i++)
		img[SETUP_LEN + i] = (u8)(i * 7 + 0x5a);
	memset(img + SETUP_LEN + PM_LEN, 0xab, TRAILER);
}

static void parse_ok(void)
{
	err = NULL;
	int rc = linux_bzimage_parse(img, IMG_LEN, &k, &err);
	if (rc)
		unit_fail(__FILE__, __LINE__, "parse failed: %s", err);
}

TEST(parse_accepts_debian_like_image)
{
	make_image();
	parse_ok();
	CHECK_EQ(k.version, 0x020f);
	CHECK_EQ(k.setup_len, 2048);
	CHECK_EQ(k.hdr_end, 0x26c);
	CHECK_EQ(k.payload_len, 4096);
	CHECK_EQ(k.relocatable, 1);
	CHECK_EQ(k.kernel_alignment, 0x200000);
	CHECK_EQ(k.pref_address, 0x1000000);
	CHECK_EQ(k.init_size, 0x2d00000);
	CHECK_EQ(k.cmdline_size, 2047);
	CHECK_EQ(k.initrd_addr_max, 0x7fffffff);
	CHECK_EQ(k.xloadflags, 0x1b);
	CHECK_STR_EQ(k.kernel_version, VERSION_STR);
}

TEST(parse_setup_sects_zero_means_four)
{
	make_image();
	img[0x1f1] = 0;
	parse_ok();
	CHECK_EQ(k.setup_len, 5 * 512);
}

TEST(parse_version_string_outside_setup_is_dropped)
{
	make_image();
	w16(img + 0x20e, 0x700);  /* 0x900 is past the 2048-byte setup */
	parse_ok();
	CHECK(k.kernel_version == NULL);
	make_image();
	memset(img + 0x300, 'x', SETUP_LEN - 0x300); /* no NUL before the setup ends */
	parse_ok();
	CHECK(k.kernel_version == NULL);
}

struct bad_case {
	const char *name;
	u32 off, width; /* where to write val; width 0: change the length instead */
	u64 val;
	const char *msg;
};

static const struct bad_case bad_cases[] = {
	{ "short", 0, 0, 1000, "not a bzImage: shorter than a boot sector and a setup sector" },
	{ "magic", 0x202, 1, 'X', "not a bzImage: no HdrS magic" },
	{ "boot_flag", 0x1fe, 2, 0x55aa, "not a bzImage: boot_flag is not 0xAA55" },
	{ "proto_2_10", 0x206, 2, 0x020a, "boot protocol 2.10 is older than 2.12" },
	{ "proto_2_11", 0x206, 2, 0x020b, "boot protocol 2.11 is older than 2.12" },
	{ "jump", 0x200, 1, 0xe9, "setup header does not start with a short jump" },
	{ "hdr_short", 0x201, 1, 0x60, "setup header ends at 0x262, outside [0x268, 0x290]" },
	{ "hdr_long", 0x201, 1, 0x90, "setup header ends at 0x292, outside [0x268, 0x290]" },
	{ "zimage", 0x211, 1, 0x80, "not a bzImage: LOADED_HIGH is clear (a zImage)" },
	{ "not_64", 0x236, 2, 0x02, "kernel is not 64-bit capable (XLF_KERNEL_64 clear)" },
	{ "setup_sects", 0x1f1, 1, 255, "setup (255 sectors) extends past the end of the file" },
	{ "syssize_zero", 0x1f4, 4, 0, "syssize is zero" },
	{ "syssize_big", 0x1f4, 4, 0x141, "syssize says 5136 bytes, the file has 5120 after the setup" },
	{ "syssize_huge", 0x1f4, 4, 0xffffffff,
	  "syssize says 68719476720 bytes, the file has 5120 after the setup" },
	{ "payload", 0x24c, 4, 0xc41, "payload_offset/payload_length lie outside the protected-mode code" },
	{ "payload_wrap", 0x248, 4, 0xfffffff0, "payload_offset/payload_length lie outside the protected-mode code" },
	{ "init_small", 0x260, 4, 0x800, "init_size 0x800 is smaller than the protected-mode code (0x1000)" },
	{ "init_huge", 0x260, 4, 0x40000001, "init_size 0x40000001 is larger than 1 GiB" },
	{ "relocatable", 0x234, 1, 2, "relocatable_kernel is 2, neither 0 nor 1" },
	{ "align_not_pow2", 0x230, 4, 0x300000, "kernel_alignment 0x300000 is not a power of two in [4 KiB, 1 GiB]" },
	{ "align_small", 0x230, 4, 0x800, "kernel_alignment 0x800 is not a power of two in [4 KiB, 1 GiB]" },
	{ "align_zero", 0x230, 4, 0, "kernel_alignment 0x0 is not a power of two in [4 KiB, 1 GiB]" },
	{ "pref_low", 0x258, 8, 0x80000, "pref_address 0x80000 is not a page-aligned address in [1 MiB, 1 TiB)" },
	{ "pref_unaligned", 0x258, 8, 0x1000800,
	  "pref_address 0x1000800 is not a page-aligned address in [1 MiB, 1 TiB)" },
	{ "pref_huge", 0x258, 8, 1ULL << 40,
	  "pref_address 0x10000000000 is not a page-aligned address in [1 MiB, 1 TiB)" },
	{ "cmdline_zero", 0x238, 4, 0, "cmdline_size 0 is not in [1, 1 MiB]" },
	{ "cmdline_huge", 0x238, 4, 0x100001, "cmdline_size 1048577 is not in [1, 1 MiB]" },
	{ "initrd_max", 0x22c, 4, 0x1000, "initrd_addr_max 0x1000 is below 1 MiB" },
};

TEST(parse_refuses_each_bad_field)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		u64 len = IMG_LEN;
		make_image();
		if (c->width == 0)
			len = c->val;
		else if (c->width == 1)
			img[c->off] = (u8)c->val;
		else if (c->width == 2)
			w16(img + c->off, (u32)c->val);
		else if (c->width == 4)
			w32(img + c->off, (u32)c->val);
		else
			w64(img + c->off, c->val);
		err = NULL;
		if (linux_bzimage_parse(img, len, &k, &err) != -1)
			unit_fail(__FILE__, __LINE__, "case %s: accepted", c->name);
		if (!err || strcmp(err, c->msg))
			unit_fail(__FILE__, __LINE__, "case %s: \"%s\"", c->name, err ? err : "(null)");
	}
}

/* Every truncation, in a buffer of exactly that size: ASan sees any read past it. */
TEST(parse_truncated_images_stay_in_bounds)
{
	make_image();
	for (u64 len = 0; len <= IMG_LEN; len += (len < 0x400 ? 1 : 61)) {
		u8 *copy = malloc(len ? len : 1);
		CHECK(copy);
		memcpy(copy, img, len);
		err = NULL;
		int rc = linux_bzimage_parse(copy, len, &k, &err);
		CHECK(rc == 0 || err);
		if (len < SETUP_LEN + PM_LEN)
			CHECK_EQ(rc, -1);
		free(copy);
	}
}

TEST(parse_random_headers_never_crash)
{
	u32 seed = 12345;
	for (int round = 0; round < 3000; round++) {
		make_image();
		for (int n = 0; n < 4; n++) {
			seed = seed * 1103515245 + 12345;
			u32 off = 0x1f1 + (seed >> 8) % (0x290 - 0x1f1);
			seed = seed * 1103515245 + 12345;
			img[off] = (u8)(seed >> 16);
		}
		err = NULL;
		int rc = linux_bzimage_parse(img, IMG_LEN, &k, &err);
		CHECK(rc == 0 || (rc == -1 && err));
		if (rc == 0)
			CHECK(k.setup_len + k.payload_len <= IMG_LEN && k.init_size >= k.payload_len);
	}
}

/* ---- layout ---- */

static void check_e820(u32 i, u64 addr, u64 size, u32 type)
{
	if (plan.e820[i].addr != addr || plan.e820[i].size != size || plan.e820[i].type != type)
		unit_fail(__FILE__, __LINE__, "e820[%u] = {0x%" PRIx64 ", 0x%" PRIx64 ", %u}, want {0x%" PRIx64
			  ", 0x%" PRIx64 ", %u}", i, plan.e820[i].addr, plan.e820[i].size, plan.e820[i].type,
			  addr, size, type);
}

/* Tern's start pages and stack, the ACPI tables at the top of RAM, the LAPIC page. */
static const struct linux_mem_range tern_ranges[] = {
	{ 0, 0x8000, LINUX_MEM_BOOT_ONLY },
	{ 0x70000, 0x10000, LINUX_MEM_BOOT_ONLY },
	{ 0xfff0000, 0x10000, LINUX_E820_ACPI },
	{ 0xfee00000, 0x1000, LINUX_E820_RESERVED },
};

static int plan_for(u64 ram, const struct linux_mem_range *r, u32 n, u64 initrd, u64 cmdline)
{
	struct linux_guest_mem mem = { .ram_size = ram, .ranges = r, .n_ranges = n, .acpi_rsdp = 0xfff0000 };
	err = NULL;
	return linux_boot_plan(&k, &mem, initrd, cmdline, &plan, &err);
}

#define PLAN_OK(...)                                                               \
	do {                                                                       \
		if (plan_for(__VA_ARGS__))                                         \
			unit_fail(__FILE__, __LINE__, "plan failed: %s", err);     \
	} while (0)

TEST(layout_debian_256m)
{
	make_image();
	parse_ok();
	PLAN_OK(RAM_256M, tern_ranges, 4, 0x123456, 100);
	CHECK_EQ(plan.e820_entries, 5);
	check_e820(0, 0, 0x9f000, 1);
	check_e820(1, 0x9f000, 0x61000, 2);
	check_e820(2, 0x100000, 0xfef0000, 1);
	check_e820(3, 0xfff0000, 0x10000, 3);
	check_e820(4, 0xfee00000, 0x1000, 2);
	CHECK_EQ(plan.kernel_addr, 0x1000000);
	CHECK_EQ(plan.kernel_end, 0x3d00000);
	CHECK_EQ(plan.entry, 0x1000200);
	/* Highest page-aligned start below the ACPI tables: 0xfff0000 - 0x123456 = 0xfeccbaa. */
	CHECK_EQ(plan.initrd_addr, 0xfecc000);
	CHECK_EQ(plan.initrd_size, 0x123456);
	CHECK_EQ(plan.zero_page, 0x8000);     /* first page after Tern's start pages */
	CHECK_EQ(plan.cmdline_addr, 0x9000);
	CHECK_EQ(plan.cmdline_len, 100);
	CHECK_EQ(plan.acpi_rsdp, 0xfff0000);
}

TEST(layout_initrd_below_initrd_addr_max)
{
	make_image();
	w32(img + 0x22c, 0x7ffffff);  /* 128 MiB - 1 */
	w16(img + 0x236, 0x01);       /* KERNEL_64 only */
	parse_ok();
	PLAN_OK(RAM_256M, tern_ranges, 4, 0x123456, 0);
	/* 0x8000000 - 0x123456 = 0x7edcbaa, page aligned down. */
	CHECK_EQ(plan.initrd_addr, 0x7edc000);
	/* With XLF_CAN_BE_LOADED_ABOVE_4G the limit is the end of RAM instead. */
	w16(img + 0x236, 0x03);
	parse_ok();
	PLAN_OK(RAM_256M, tern_ranges, 4, 0x123456, 0);
	CHECK_EQ(plan.initrd_addr, 0xfecc000);
}

TEST(layout_no_initrd)
{
	make_image();
	parse_ok();
	PLAN_OK(RAM_256M, NULL, 0, 0, 0);
	CHECK_EQ(plan.initrd_addr, 0);
	CHECK_EQ(plan.initrd_size, 0);
	CHECK_EQ(plan.zero_page, 0x1000);  /* page 0 is never used */
	CHECK_EQ(plan.cmdline_addr, 0x2000);
	CHECK_EQ(plan.e820_entries, 3);
	check_e820(2, 0x100000, RAM_256M - 0x100000, 1);
}

TEST(layout_ram_too_small)
{
	make_image();
	parse_ok();
	CHECK_EQ(plan_for(32 * MiB, NULL, 0, 0, 10), -1);
	CHECK_STR_EQ(err, "no room for the kernel: it needs 0x2d00000 bytes of RAM at or above 0x1000000");
	img[0x234] = 0;
	parse_ok();
	CHECK_EQ(plan_for(32 * MiB, NULL, 0, 0, 10), -1);
	CHECK_STR_EQ(err, "no room for the kernel: it needs 0x2d00000 bytes of RAM at 0x1000000");
	/* Exactly enough: [16 MiB, 61 MiB) ends at the end of a 61 MiB RAM. */
	PLAN_OK(61 * MiB, NULL, 0, 0, 10);
	CHECK_EQ(plan.kernel_addr, 0x1000000);
}

TEST(layout_reserved_range_in_kernel_way)
{
	static const struct linux_mem_range hole[] = { { 0x2000000, 0x200000, LINUX_E820_RESERVED } };
	make_image();
	parse_ok();
	PLAN_OK(RAM_256M, hole, 1, 0, 0);
	CHECK_EQ(plan.e820_entries, 5);
	check_e820(2, 0x100000, 0x1f00000, 1);
	check_e820(3, 0x2000000, 0x200000, 2);
	check_e820(4, 0x2200000, RAM_256M - 0x2200000, 1);
	CHECK_EQ(plan.kernel_addr, 0x2200000);  /* first 2 MiB-aligned start past the hole */
	CHECK_EQ(plan.entry, 0x2200200);

	/* A boot-only page in the way: the map keeps it as RAM, the kernel moves past it. */
	static const struct linux_mem_range tern_page[] = { { 0x3000000, 0x1000, LINUX_MEM_BOOT_ONLY } };
	PLAN_OK(RAM_256M, tern_page, 1, 0, 0);
	CHECK_EQ(plan.e820_entries, 3);
	CHECK_EQ(plan.kernel_addr, 0x3200000);

	img[0x234] = 0;  /* not relocatable: only pref_address will do */
	parse_ok();
	CHECK_EQ(plan_for(RAM_256M, hole, 1, 0, 0), -1);
	CHECK_STR_EQ(err, "no room for the kernel: it needs 0x2d00000 bytes of RAM at 0x1000000");
}

TEST(layout_initrd_avoids_claimed_ranges)
{
	static const struct linux_mem_range r[] = {
		{ 0xfe00000, 0x100000, LINUX_MEM_BOOT_ONLY },
		{ 0xfff0000, 0x10000, LINUX_E820_ACPI },
	};
	make_image();
	parse_ok();
	PLAN_OK(RAM_256M, r, 2, 0x200000, 0);
	/* 0xfff0000 - 0x200000 = 0xfdf0000 touches [0xfe00000, 0xff00000): go below it. */
	CHECK_EQ(plan.initrd_addr, 0xfc00000);

	/* 208 MiB cannot fit beside a 45 MiB kernel in 256 MiB. */
	CHECK_EQ(plan_for(RAM_256M, r, 2, 0xd000000, 0), -1);
	CHECK_STR_EQ(err, "no room for the initramfs (218103808 bytes) below 0x10000000");
	/* Room below the kernel: [1 MiB, 16 MiB) holds 14 MiB, highest start 0x1000000 - 14 MiB. */
	PLAN_OK(RAM_256M, NULL, 0, 14 * MiB, 0);
	CHECK(plan.initrd_addr >= 0x3d00000);  /* above the kernel first: there is room */
	PLAN_OK(64 * MiB, NULL, 0, 14 * MiB, 0);
	CHECK_EQ(plan.initrd_addr, 0x200000);
}

TEST(layout_command_line_length)
{
	make_image();
	parse_ok();
	PLAN_OK(RAM_256M, NULL, 0, 0, 2047);
	CHECK_EQ(plan.cmdline_len, 2047);
	CHECK_EQ(plan_for(RAM_256M, NULL, 0, 0, 2048), -1);
	CHECK_STR_EQ(err, "the command line is 2048 bytes, the kernel takes at most 2047");
}

TEST(layout_refuses_bad_memory_maps)
{
	static const struct linux_mem_range overlap[] = {
		{ 0x200000, 0x2000, LINUX_E820_RESERVED }, { 0x201000, 0x1000, LINUX_E820_ACPI } };
	static const struct linux_mem_range unaligned[] = { { 0x200800, 0x1000, LINUX_E820_RESERVED } };
	static const struct linux_mem_range empty[] = { { 0x200000, 0, LINUX_E820_RESERVED } };
	static const struct linux_mem_range ram_type[] = { { 0x200000, 0x1000, LINUX_E820_RAM } };
	static const struct linux_mem_range boot_high[] = { { RAM_256M, 0x1000, LINUX_MEM_BOOT_ONLY } };
	static const struct linux_mem_range wrap[] = { { 0xfffffffffffff000ULL, 0x2000, LINUX_E820_RESERVED } };
	make_image();
	parse_ok();
	CHECK_EQ(plan_for(RAM_256M, overlap, 2, 0, 0), -1);
	CHECK_STR_EQ(err, "two claimed memory ranges overlap");
	CHECK_EQ(plan_for(RAM_256M, unaligned, 1, 0, 0), -1);
	CHECK_STR_EQ(err, "a claimed memory range is empty, unaligned or beyond the physical address space");
	CHECK_EQ(plan_for(RAM_256M, empty, 1, 0, 0), -1);
	CHECK_EQ(plan_for(RAM_256M, wrap, 1, 0, 0), -1);
	CHECK_STR_EQ(err, "a claimed memory range is empty, unaligned or beyond the physical address space");
	CHECK_EQ(plan_for(RAM_256M, ram_type, 1, 0, 0), -1);
	CHECK_STR_EQ(err, "a claimed memory range has an unknown type");
	CHECK_EQ(plan_for(RAM_256M, boot_high, 1, 0, 0), -1);
	CHECK_STR_EQ(err, "a boot-only memory range lies outside guest RAM");
	CHECK_EQ(plan_for(RAM_256M + 0x800, NULL, 0, 0, 0), -1);
	CHECK_STR_EQ(err, "guest RAM size is not a page multiple in (1 MiB, 1 TiB]");
	CHECK_EQ(plan_for(MiB, NULL, 0, 0, 0), -1);
	CHECK_EQ(plan_for(RAM_256M, tern_ranges, LINUX_MAX_RANGES + 1, 0, 0), -1);
	CHECK_STR_EQ(err, "too many claimed memory ranges");
	CHECK_EQ(plan_for(RAM_256M, NULL, 0, RAM_256M + 1, 0), -1);
	CHECK_STR_EQ(err, "the initramfs (268435457 bytes) is larger than guest RAM");
}

TEST(layout_many_ranges_fit_the_zero_page)
{
	static struct linux_mem_range r[LINUX_MAX_RANGES];
	make_image();
	parse_ok();
	/* 32 separate one-page holes from 128 MiB on, alternating types: 3 + 64 entries. */
	for (u32 i = 0; i < LINUX_MAX_RANGES; i++)
		r[i] = (struct linux_mem_range){ 0x8000000 + i * 0x2000, 0x1000,
						 i % 2 ? LINUX_E820_ACPI : LINUX_E820_RESERVED };
	PLAN_OK(RAM_256M, r, LINUX_MAX_RANGES, 0x1000, 0);
	CHECK_EQ(plan.e820_entries, 2 + 2 * LINUX_MAX_RANGES + 1);
	check_e820(2, 0x100000, 0x8000000 - 0x100000, 1);
	check_e820(3, 0x8000000, 0x1000, 2);
	check_e820(4, 0x8001000, 0x1000, 1);
	check_e820(5, 0x8002000, 0x1000, 3);
	check_e820(66, 0x803f000, RAM_256M - 0x803f000, 1);
	CHECK_EQ(plan.initrd_addr, RAM_256M - 0x1000);
}

/* ---- zero page ---- */

static u8 zp[LINUX_ZERO_PAGE_SIZE];

static void check_e820_bytes(u32 i, u64 addr, u64 size, u32 type)
{
	const u8 *e = zp + 0x2d0 + i * 20;
	CHECK_EQ(r64(e), addr);
	CHECK_EQ(r64(e + 8), size);
	CHECK_EQ(r32(e + 16), type);
}

TEST(zero_page_bytes)
{
	make_image();
	parse_ok();
	PLAN_OK(RAM_256M, tern_ranges, 4, 0x123456, 100);
	memset(zp, 0x77, sizeof(zp));
	CHECK_EQ(linux_boot_params_build(&k, &plan, zp, &err), 0);

	CHECK_EQ(r64(zp + 0x070), 0xfff0000);      /* acpi_rsdp_addr */
	CHECK_EQ(r32(zp + 0x0c0), 0);              /* ext_ramdisk_image */
	CHECK_EQ(r32(zp + 0x0c4), 0);              /* ext_ramdisk_size */
	CHECK_EQ(r32(zp + 0x0c8), 0);              /* ext_cmd_line_ptr */
	CHECK_EQ(zp[0x1e8], 5);                    /* e820_entries */
	CHECK_EQ(zp[0x1ef], 0);                    /* sentinel: not the image's 0xff */
	CHECK_EQ(zp[0x1f1], 3);                    /* setup_sects, copied */
	CHECK_EQ(r32(zp + 0x1f4), 0x100);          /* syssize */
	CHECK_EQ(r16(zp + 0x1fe), 0xaa55);
	CHECK_EQ(r32(zp + 0x202), 0x53726448);     /* "HdrS" */
	CHECK_EQ(r16(zp + 0x206), 0x020f);
	CHECK_EQ(zp[0x210], 0xff);                 /* type_of_loader */
	CHECK_EQ(zp[0x211], 0x01);                 /* LOADED_HIGH, heap off */
	CHECK_EQ(r32(zp + 0x218), 0xfecc000);      /* ramdisk_image */
	CHECK_EQ(r32(zp + 0x21c), 0x123456);       /* ramdisk_size */
	CHECK_EQ(r16(zp + 0x224), 0);              /* heap_end_ptr */
	CHECK_EQ(r32(zp + 0x228), 0x9000);         /* cmd_line_ptr */
	CHECK_EQ(r32(zp + 0x22c), 0x7fffffff);     /* initrd_addr_max, copied */
	CHECK_EQ(r32(zp + 0x238), 2047);           /* cmdline_size, copied */
	CHECK_EQ(r64(zp + 0x250), 0);              /* setup_data */
	CHECK_EQ(r64(zp + 0x258), 0x1000000);      /* pref_address, copied */
	CHECK_EQ(r32(zp + 0x260), 0x2d00000);      /* init_size, copied */
	CHECK_EQ(r32(zp + 0x268), 0x4000);         /* kernel_info_offset: last header field */
	check_e820_bytes(0, 0, 0x9f000, 1);
	check_e820_bytes(1, 0x9f000, 0x61000, 2);
	check_e820_bytes(2, 0x100000, 0xfef0000, 1);
	check_e820_bytes(3, 0xfff0000, 0x10000, 3);
	check_e820_bytes(4, 0xfee00000, 0x1000, 2);

	/* The rest of the header is the image's, byte for byte, except the loader's fields. */
	for (u32 off = 0x1f1; off < 0x26c; off++) {
		bool loader_field = off == 0x210 || off == 0x211 || (off >= 0x218 && off < 0x220) ||
				    (off >= 0x224 && off < 0x22c) || (off >= 0x250 && off < 0x258);
		if (!loader_field && zp[off] != img[off])
			unit_fail(__FILE__, __LINE__, "header byte 0x%x: 0x%x, image 0x%x", off, zp[off], img[off]);
	}
	/* Everything else is zero: before the header, after it, after the 5 e820 entries. */
	for (u32 off = 0; off < LINUX_ZERO_PAGE_SIZE; off++) {
		bool field = (off >= 0x070 && off < 0x078) || off == 0x1e8 || (off >= 0x1f1 && off < 0x26c) ||
			     (off >= 0x2d0 && off < 0x2d0 + 5 * 20);
		if (!field && zp[off])
			unit_fail(__FILE__, __LINE__, "byte 0x%x is 0x%x, not 0", off, zp[off]);
	}
}

TEST(zero_page_ext_fields_above_4g)
{
	make_image();
	parse_ok();
	PLAN_OK(RAM_256M, NULL, 0, 0, 10);
	plan.cmdline_addr = 0x123456000ULL;
	plan.initrd_addr = 0x200000000ULL;
	plan.initrd_size = 0x100001000ULL;
	plan.acpi_rsdp = 0x1122334455667788ULL;
	CHECK_EQ(linux_boot_params_build(&k, &plan, zp, &err), 0);
	CHECK_EQ(r32(zp + 0x228), 0x23456000);
	CHECK_EQ(r32(zp + 0x0c8), 1);
	CHECK_EQ(r32(zp + 0x218), 0);
	CHECK_EQ(r32(zp + 0x0c0), 2);
	CHECK_EQ(r32(zp + 0x21c), 0x1000);
	CHECK_EQ(r32(zp + 0x0c4), 1);
	CHECK_EQ(r64(zp + 0x070), 0x1122334455667788ULL);

	/* Without XLF_CAN_BE_LOADED_ABOVE_4G the initrd must end within initrd_addr_max. */
	w16(img + 0x236, 0x01);
	parse_ok();
	CHECK_EQ(linux_boot_params_build(&k, &plan, zp, &err), -1);
	CHECK_STR_EQ(err, "the initramfs ends above the kernel's initrd_addr_max");
	plan.initrd_addr = 0x7ff00000;
	plan.initrd_size = 0x100000;  /* ends at 0x7fffffff exactly: allowed */
	CHECK_EQ(linux_boot_params_build(&k, &plan, zp, &err), 0);
	plan.initrd_size = 0x100001;
	CHECK_EQ(linux_boot_params_build(&k, &plan, zp, &err), -1);
	plan.initrd_addr = 0xfffffffffffff000ULL;  /* the end wraps to 0xfff: still refused */
	plan.initrd_size = 0x2000;
	CHECK_EQ(linux_boot_params_build(&k, &plan, zp, &err), -1);
}

TEST(zero_page_refuses_bad_plans)
{
	make_image();
	parse_ok();
	PLAN_OK(RAM_256M, NULL, 0, 0, 10);
	struct linux_boot_plan good = plan;
	plan.cmdline_len = 2048;
	CHECK_EQ(linux_boot_params_build(&k, &plan, zp, &err), -1);
	CHECK_STR_EQ(err, "the command line is longer than the kernel's cmdline_size");
	plan = good;
	plan.e820_entries = 129;
	CHECK_EQ(linux_boot_params_build(&k, &plan, zp, &err), -1);
	plan = good;
	plan.e820_entries = 0;
	CHECK_EQ(linux_boot_params_build(&k, &plan, zp, &err), -1);
	plan = good;
	plan.zero_page = 0;
	CHECK_EQ(linux_boot_params_build(&k, &plan, zp, &err), -1);
}

/* ---- the whole boot written into RAM ---- */

#define RAM_64M (64 * MiB)
static const char cmdline[] = "console=ttyS0,115200 nokaslr pci=off quiet";

/* Zeroed 64 MiB of guest RAM; kept across tests so a failed CHECK leaks nothing. */
static u8 *ram_zeroed(void)
{
	static u8 *ram;
	if (!ram)
		ram = malloc(RAM_64M);
	CHECK(ram);
	memset(ram, 0, RAM_64M);
	return ram;
}

TEST(write_places_everything_and_nothing_else)
{
	static u8 initrd[0x3456];
	for (u32 i = 0; i < sizeof(initrd); i++)
		initrd[i] = (u8)(i ^ 0xa5) | 1;
	u8 *ram = ram_zeroed();
	make_image();
	parse_ok();
	PLAN_OK(RAM_64M, tern_ranges, 2, sizeof(initrd), strlen(cmdline));
	CHECK_EQ(plan.kernel_addr, 0x1000000);
	CHECK_EQ(plan.initrd_addr, 0x3ffc000);  /* 0x4000000 - 0x3456 = 0x3ffcbaa, aligned down */
	CHECK_EQ(plan.zero_page, 0x8000);
	CHECK_EQ(plan.cmdline_addr, 0x9000);
	CHECK_EQ(linux_boot_write(&k, &plan, cmdline, initrd, ram, RAM_64M, &err), 0);

	for (u32 i = 0; i < PM_LEN; i++)
		if (ram[0x1000000 + i] != (u8)(i * 7 + 0x5a))
			unit_fail(__FILE__, __LINE__, "kernel byte %u", i);
	CHECK_EQ(ram[0x1000000 + PM_LEN], 0);  /* the trailer is not loaded */
	CHECK(!memcmp(ram + 0x9000, cmdline, sizeof(cmdline)));  /* with its NUL */
	CHECK(!memcmp(ram + 0x3ffc000, initrd, sizeof(initrd)));
	CHECK_EQ(ram[0x8000 + 0x210], 0xff);
	CHECK_EQ(r32(ram + 0x8000 + 0x228), 0x9000);
	CHECK_EQ(r32(ram + 0x8000 + 0x218), 0x3ffc000);
	CHECK_EQ(r32(ram + 0x8000 + 0x21c), sizeof(initrd));

	/* Wipe what was expected; all of RAM must then be zero. */
	memset(ram + 0x1000000, 0, PM_LEN);
	memset(ram + 0x9000, 0, sizeof(cmdline));
	memset(ram + 0x3ffc000, 0, sizeof(initrd));
	memset(ram + 0x8000, 0, LINUX_ZERO_PAGE_SIZE);
	for (u64 a = 0; a < RAM_64M; a += 8)
		if (r64(ram + a))
			unit_fail(__FILE__, __LINE__, "stray write near 0x%" PRIx64, a);
}

TEST(write_refuses_without_touching_ram)
{
	u8 *ram = ram_zeroed();
	make_image();
	parse_ok();
	PLAN_OK(RAM_64M, NULL, 0, 0x1000, strlen(cmdline));
	struct linux_boot_plan good = plan;
	static const u8 initrd[0x1000] = { 1 };

	CHECK_EQ(linux_boot_write(&k, &plan, cmdline, initrd, ram, 60 * MiB, &err), -1);
	CHECK_STR_EQ(err, "the boot plan does not fit in guest RAM");  /* kernel ends at 61 MiB */
	plan.zero_page = RAM_64M - 0x800;
	CHECK_EQ(linux_boot_write(&k, &plan, cmdline, initrd, ram, RAM_64M, &err), -1);
	plan = good;
	plan.initrd_addr = 0xfffffffffffff000ULL;
	CHECK_EQ(linux_boot_write(&k, &plan, cmdline, initrd, ram, RAM_64M, &err), -1);
	plan = good;
	CHECK_EQ(linux_boot_write(&k, &plan, "console\0=ttyS0", initrd, ram, RAM_64M, &err), -1);
	CHECK_STR_EQ(err, "the command line is shorter than its length");
	CHECK_EQ(linux_boot_write(&k, &plan, cmdline, NULL, ram, RAM_64M, &err), -1);
	plan.cmdline_len = 5000;
	CHECK_EQ(linux_boot_write(&k, &plan, cmdline, initrd, ram, RAM_64M, &err), -1);
	for (u64 a = 0; a < RAM_64M; a += 8)
		if (r64(ram + a))
			unit_fail(__FILE__, __LINE__, "RAM written near 0x%" PRIx64, a);
}

/* Optional: a real kernel, when this host has one installed. Never fails for
 * its absence, unless TERN_LINUX_KERNEL (a path or glob, default
 * /boot/vmlinuz-*) names one on purpose: TERN_LINUX_KERNEL=build/linux/vmlinuz
 * checks the kernel the ISO carries (scripts/fetch-linux.sh). */
TEST(real_kernel_if_present)
{
	const char *want = getenv("TERN_LINUX_KERNEL");
	const char *pattern = want && *want ? want : "/boot/vmlinuz-*";
	glob_t g;
	if (glob(pattern, 0, NULL, &g) || !g.gl_pathc) {
		if (want && *want)
			unit_fail(__FILE__, __LINE__, "TERN_LINUX_KERNEL=%s: no such file", want);
		else
			printf("SKIP real_kernel_if_present: no %s on this host\n", pattern);
		globfree(&g);
		return;
	}
	FILE *f = fopen(g.gl_pathv[0], "rb");
	if (!f) {
		printf("SKIP real_kernel_if_present: cannot read %s\n", g.gl_pathv[0]);
		globfree(&g);
		return;
	}
	static u8 buf[64 << 20];
	static char path[256];
	snprintf(path, sizeof(path), "%s", g.gl_pathv[0]);
	globfree(&g);
	size_t len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (linux_bzimage_parse(buf, len, &k, &err))
		unit_fail(__FILE__, __LINE__, "%s: %s", path, err);
	printf("  %s: protocol %u.%02u, version \"%s\", init_size 0x%x\n", path, k.version >> 8,
	       k.version & 0xff, k.kernel_version ? k.kernel_version : "?", k.init_size);
	PLAN_OK(RAM_256M, tern_ranges, 4, 8 * MiB, strlen(cmdline));
	CHECK_EQ(plan.kernel_addr, k.pref_address);
}
