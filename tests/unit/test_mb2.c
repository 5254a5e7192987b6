/*
 * boot/mb2/mb2_parse.c: multiboot2 information structures (Multiboot2 spec,
 * section 3.6) are built here byte by byte, then copied into a heap block of
 * exactly total_size bytes, so any read past the structure is an ASan
 * report. Valid structures must fill boot_info; hostile ones must give -1
 * with a message.
 */
#include "unit.h"
#include <tern/mb2.h>

#define INFO_PHYS 0x9000ULL

static u8 mb[1 << 16];
static u32 mb_len;
static struct boot_info bi;
static const char *err;

static void put32(u32 off, u32 v) { memcpy(mb + off, &v, 4); }

static void mb_begin(void)
{
	memset(mb, 0, sizeof(mb));
	mb_len = 8; /* total_size, reserved */
}

/* Append a tag; returns its offset. Padding up to 8 bytes is filled with pad. */
static u32 mb_tag_pad(u32 type, const void *payload, u32 plen, u8 pad)
{
	u32 off = mb_len;
	put32(off, type);
	put32(off + 4, 8 + plen);
	if (plen)
		memcpy(mb + off + 8, payload, plen);
	mb_len = off + 8 + plen;
	while (mb_len % 8)
		mb[mb_len++] = pad;
	return off;
}

static u32 mb_tag(u32 type, const void *payload, u32 plen)
{
	return mb_tag_pad(type, payload, plen, 0);
}

static u32 mb_cmdline(const char *s)
{
	return mb_tag(1, s, (u32)strlen(s) + 1);
}

static u32 mb_module(u32 start, u32 end, const char *cmdline)
{
	u8 p[600];
	size_t n = strlen(cmdline) + 1;
	memcpy(p, &start, 4);
	memcpy(p + 4, &end, 4);
	memcpy(p + 8, cmdline, n);
	return mb_tag(3, p, (u32)(8 + n));
}

struct mmap_ent { u64 base, len; u32 type; };

static u32 mb_mmap_esize(const struct mmap_ent *e, u32 n, u32 esize)
{
	static u8 p[8 + 300 * 40];
	memset(p, 0, sizeof(p));
	memcpy(p, &esize, 4); /* entry_size, entry_version 0 */
	for (u32 i = 0; i < n; i++) {
		memcpy(p + 8 + i * esize, &e[i].base, 8);
		memcpy(p + 8 + i * esize + 8, &e[i].len, 8);
		memcpy(p + 8 + i * esize + 16, &e[i].type, 4);
	}
	return mb_tag(6, p, 8 + n * esize);
}

static u32 mb_mmap(const struct mmap_ent *e, u32 n) { return mb_mmap_esize(e, n, 24); }

static u32 mb_end(void)
{
	u32 off = mb_tag(0, NULL, 0);
	put32(0, mb_len);
	return off;
}

/* Parse the structure from an exact-size heap copy of total bytes. */
static int parse_total(u32 total, u32 copy)
{
	u32 alloc = total < 4 ? 4 : total;
	u8 *p = malloc(alloc);
	CHECK(p);
	memset(p, 0, alloc);
	memcpy(p, mb, MIN(copy, alloc));
	memcpy(p, &total, 4);
	err = NULL;
	int rc = mb2_parse(p, INFO_PHYS, &bi, &err);
	free(p);
	return rc;
}

static int parse(void) { return parse_total(mb_len, mb_len); }

/* Rejected, with a message (err is cleared before each parse). */
#define CHECK_REJECTED(expr)                     \
	do {                                     \
		CHECK_EQ((expr), -1);            \
		CHECK(err != NULL && *err);      \
	} while (0)

static const struct mmap_ent pc_mmap[] = {
	{ 0, 0x9fc00, 1 },
	{ 0x9fc00, 0x400, 2 },
	{ 0x100000, 0x7ee0000, 1 },
	{ 0x7fe0000, 0x10000, 3 },
	{ 0x7ff0000, 0x10000, 4 },
	{ 0x8000000, 0x1000, 5 },
	{ 0xfffc0000, 0x40000, 2 },
	{ 0x100000000, 0x40000000, 1 },
	{ 0x140000000, 0x1000, 7 }, /* persistent memory, unknown here */
};

TEST(full_structure_fills_boot_info)
{
	mb_begin();
	mb_cmdline("mem=128M guest=demo");
	mb_module(0x200000, 0x234567, "guest extra args");
	mb_mmap(pc_mmap, ARRAY_SIZE(pc_mmap));
	u8 rsdp[20] = "RSD PTR ";
	mb_tag(14, rsdp, sizeof(rsdp));
	mb_end();
	CHECK_EQ(parse(), 0);
	CHECK_EQ(bi.magic, BOOT_INFO_MAGIC);
	CHECK_EQ(bi.source, BOOT_SRC_MULTIBOOT2);
	CHECK_STR_EQ(bi.cmdline, "mem=128M guest=demo");
	CHECK_EQ(bi.nr_modules, 1);
	CHECK_EQ(bi.modules[0].base, 0x200000);
	CHECK_EQ(bi.modules[0].len, 0x34567);
	CHECK_STR_EQ(bi.modules[0].name, "guest");
	CHECK_EQ(bi.nr_mem, ARRAY_SIZE(pc_mmap));
	static const u32 want_type[] = {
		BOOT_MEM_USABLE, BOOT_MEM_RESERVED, BOOT_MEM_USABLE, BOOT_MEM_ACPI_RECLAIM,
		BOOT_MEM_ACPI_NVS, BOOT_MEM_BAD, BOOT_MEM_RESERVED, BOOT_MEM_USABLE,
		BOOT_MEM_RESERVED,
	};
	for (u32 i = 0; i < bi.nr_mem; i++) {
		CHECK_EQ(bi.mem[i].base, pc_mmap[i].base);
		CHECK_EQ(bi.mem[i].len, pc_mmap[i].len);
		CHECK_EQ(bi.mem[i].type, want_type[i]);
	}
	CHECK_EQ(bi.nr_reserved, 0);
	CHECK_EQ(bi.image_phys_start, 0);
}

TEST(minimal_structure_is_valid)
{
	mb_begin();
	mb_end();
	CHECK_EQ(mb_len, 16);
	CHECK_EQ(parse(), 0);
	CHECK_EQ(bi.nr_mem, 0);
	CHECK_EQ(bi.nr_modules, 0);
	CHECK_EQ(bi.acpi_rsdp, 0);
	CHECK_STR_EQ(bi.cmdline, "");
}

TEST(rsdp_address_is_tag_payload)
{
	u8 rsdp1[20] = { 0 }, rsdp2[36] = { 0 };
	mb_begin();
	mb_cmdline("x");
	u32 off = mb_tag(14, rsdp1, sizeof(rsdp1));
	mb_end();
	CHECK_EQ(parse(), 0);
	CHECK_EQ(bi.acpi_rsdp, INFO_PHYS + off + 8);

	mb_begin();
	off = mb_tag(15, rsdp2, sizeof(rsdp2));
	mb_end();
	CHECK_EQ(parse(), 0);
	CHECK_EQ(bi.acpi_rsdp, INFO_PHYS + off + 8);
}

TEST(acpi_new_preferred_over_old_in_any_order)
{
	u8 rsdp1[20] = { 0 }, rsdp2[36] = { 0 };
	mb_begin();
	mb_tag(14, rsdp1, sizeof(rsdp1));
	u32 new_off = mb_tag(15, rsdp2, sizeof(rsdp2));
	mb_end();
	CHECK_EQ(parse(), 0);
	CHECK_EQ(bi.acpi_rsdp, INFO_PHYS + new_off + 8);

	mb_begin();
	new_off = mb_tag(15, rsdp2, sizeof(rsdp2));
	mb_tag(14, rsdp1, sizeof(rsdp1));
	mb_end();
	CHECK_EQ(parse(), 0);
	CHECK_EQ(bi.acpi_rsdp, INFO_PHYS + new_off + 8);
}

TEST(efi64_tag_gives_the_system_table)
{
	u64 st = 0x7f9e1018ULL;
	mb_begin();
	mb_cmdline("x");
	mb_end();
	CHECK_EQ(parse(), 0);
	CHECK_EQ(bi.efi_system_table, 0);

	mb_begin();
	mb_tag(12, &st, sizeof(st));
	mb_end();
	CHECK_EQ(parse(), 0);
	CHECK_EQ(bi.efi_system_table, st);
	CHECK_EQ(bi.efi_runtime, 0); /* found later, in the table itself */

	mb_begin();
	mb_tag(12, &st, 4);
	mb_end();
	CHECK_REJECTED(parse());
}

TEST(module_name_is_first_word)
{
	mb_begin();
	mb_module(0x1000000, 0x1001000, "demo");
	mb_module(0x2000000, 0x2000000, "");
	mb_module(0x3000000, 0x3000010, "linux console=ttyS0 quiet");
	mb_end();
	CHECK_EQ(parse(), 0);
	CHECK_EQ(bi.nr_modules, 3);
	CHECK_STR_EQ(bi.modules[0].name, "demo");
	CHECK_EQ(bi.modules[0].len, 0x1000);
	CHECK_STR_EQ(bi.modules[1].name, "");
	CHECK_EQ(bi.modules[1].len, 0);
	CHECK_STR_EQ(bi.modules[2].name, "linux");
	CHECK_EQ(bi.modules[2].base, 0x3000000);
	CHECK_STR_EQ(bi.modules[0].args, "");
	CHECK_STR_EQ(bi.modules[1].args, "");
	CHECK_STR_EQ(bi.modules[2].args, "console=ttyS0 quiet");
}

TEST(module_args_after_the_spaces_ending_the_name)
{
	mb_begin();
	mb_module(0x1000000, 0x1001000, "linux   a  b ");
	mb_module(0x2000000, 0x2001000, "initrd ");
	mb_end();
	CHECK_EQ(parse(), 0);
	CHECK_STR_EQ(bi.modules[0].name, "linux");
	CHECK_STR_EQ(bi.modules[0].args, "a  b ");
	CHECK_STR_EQ(bi.modules[1].name, "initrd");
	CHECK_STR_EQ(bi.modules[1].args, "");
}

TEST(long_strings_truncated_to_fit)
{
	char big[600];
	memset(big, 'c', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	mb_begin();
	mb_cmdline(big);
	char name[100];
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	mb_module(0x100000, 0x101000, name);
	mb_end();
	CHECK_EQ(parse(), 0);
	CHECK_EQ(strlen(bi.cmdline), BOOT_CMDLINE_LEN - 1);
	CHECK_EQ(strlen(bi.modules[0].name), BOOT_MODNAME_LEN - 1);
	CHECK_EQ(bi.modules[0].name[0], 'n');
}

TEST(zero_length_mmap_entries_skipped)
{
	static const struct mmap_ent e[] = {
		{ 0x100000, 0, 1 }, { 0x200000, 0x1000, 1 }, { 0x300000, 0, 2 },
	};
	mb_begin();
	mb_mmap(e, 3);
	mb_end();
	CHECK_EQ(parse(), 0);
	CHECK_EQ(bi.nr_mem, 1);
	CHECK_EQ(bi.mem[0].base, 0x200000);
}

TEST(larger_entry_size_is_honoured)
{
	static const struct mmap_ent e[] = {
		{ 0x100000, 0x1000, 1 }, { 0x200000, 0x2000, 3 }, { 0x300000, 0x3000, 2 },
	};
	mb_begin();
	mb_mmap_esize(e, 3, 32);
	mb_end();
	CHECK_EQ(parse(), 0);
	CHECK_EQ(bi.nr_mem, 3);
	CHECK_EQ(bi.mem[1].base, 0x200000);
	CHECK_EQ(bi.mem[1].len, 0x2000);
	CHECK_EQ(bi.mem[1].type, BOOT_MEM_ACPI_RECLAIM);
	CHECK_EQ(bi.mem[2].len, 0x3000);
}

TEST(two_mmap_tags_accumulate)
{
	mb_begin();
	mb_mmap(pc_mmap, 3);
	mb_mmap(pc_mmap + 3, 2);
	mb_end();
	CHECK_EQ(parse(), 0);
	CHECK_EQ(bi.nr_mem, 5);
	CHECK_EQ(bi.mem[4].type, BOOT_MEM_ACPI_NVS);
}

TEST(unknown_tags_skipped_and_after_end_ignored)
{
	u8 meminfo[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	u8 odd[5] = { 9, 9, 9, 9, 9 };
	mb_begin();
	mb_tag(4, meminfo, sizeof(meminfo));
	mb_tag(21, odd, sizeof(odd)); /* size 13: padded to 16 */
	mb_cmdline("after unknown");
	mb_end();
	u32 total = mb_len;
	mb_cmdline("after end");
	CHECK_EQ(parse_total(total, total), 0);
	CHECK_STR_EQ(bi.cmdline, "after unknown");
	/* Bytes past an early end tag, inside total_size, are not parsed. */
	CHECK_EQ(parse_total(mb_len, mb_len), 0);
	CHECK_STR_EQ(bi.cmdline, "after unknown");
}

/* ---- hostile inputs ---- */

TEST(total_size_too_small)
{
	mb_begin();
	for (u32 total = 0; total < 16; total++)
		CHECK_REJECTED(parse_total(total, total));
}

TEST(total_size_huge)
{
	mb_begin();
	mb_end();
	/* Only 16 bytes exist; the structure claims far more. */
	u8 *p = malloc(16);
	CHECK(p);
	memcpy(p, mb, 16);
	static const u32 totals[] = { (1u << 20) + 8, 0x7fffffff, 0xfffffff8, 0xffffffff };
	for (size_t i = 0; i < ARRAY_SIZE(totals); i++) {
		memcpy(p, &totals[i], 4);
		err = NULL;
		int rc = mb2_parse(p, INFO_PHYS, &bi, &err);
		if (rc != -1 || !err) {
			free(p);
			CHECK_REJECTED(rc);
		}
	}
	free(p);
}

TEST(tag_overrunning_total_rejected)
{
	mb_begin();
	u32 off = mb_cmdline("hello");
	mb_end();
	put32(off + 4, mb_len - off + 1);
	CHECK_REJECTED(parse());
	put32(off + 4, 0xffffffff);
	CHECK_REJECTED(parse());
	put32(off + 4, 0x80000000);
	CHECK_REJECTED(parse());
}

TEST(end_tag_overrunning_total_rejected)
{
	mb_begin();
	u32 off = mb_end();
	put32(off + 4, 16);
	CHECK_REJECTED(parse());
}

TEST(tag_size_below_eight_rejected)
{
	for (u32 size = 0; size < 8; size++) {
		mb_begin();
		u32 off = mb_cmdline("hello");
		mb_end();
		put32(off + 4, size);
		CHECK_REJECTED(parse());
	}
}

TEST(missing_end_tag_rejected)
{
	mb_begin();
	mb_cmdline("hello");
	CHECK_REJECTED(parse_total(mb_len, mb_len));
	/* Trailing bytes too few for a tag header. */
	CHECK_REJECTED(parse_total(mb_len + 4, mb_len));
	/* An end tag whose padding would lie past the total. */
	mb_begin();
	mb_tag(1, "abcd", 4); /* size 12 */
	CHECK_REJECTED(parse_total(8 + 12, 8 + 12));
}

TEST(zeroed_tail_is_not_an_end_tag)
{
	mb_begin();
	mb_cmdline("hello");
	/* type 0 with size 0: too short, not an end tag */
	CHECK_REJECTED(parse_total(mb_len + 8, mb_len));
}

TEST(too_many_modules_rejected)
{
	mb_begin();
	for (int i = 0; i < BOOT_MAX_MODULES; i++)
		mb_module(0x1000000 * (u32)(i + 1), 0x1000000 * (u32)(i + 1) + 0x1000, "m");
	u32 after8 = mb_len;
	mb_end();
	CHECK_EQ(parse(), 0);
	CHECK_EQ(bi.nr_modules, BOOT_MAX_MODULES);
	mb_len = after8;
	mb_module(0x20000000, 0x20001000, "ninth");
	mb_end();
	CHECK_REJECTED(parse());
}

TEST(too_many_mmap_entries_rejected)
{
	static struct mmap_ent e[BOOT_MAX_MEM + 1];
	for (u32 i = 0; i < ARRAY_SIZE(e); i++)
		e[i] = (struct mmap_ent){ (u64)i << 21, 0x1000, 1 };
	mb_begin();
	mb_mmap(e, BOOT_MAX_MEM);
	mb_end();
	CHECK_EQ(parse(), 0);
	CHECK_EQ(bi.nr_mem, BOOT_MAX_MEM);

	mb_begin();
	mb_mmap(e, BOOT_MAX_MEM + 1);
	mb_end();
	CHECK_REJECTED(parse());

	mb_begin();
	mb_mmap(e, 200);
	mb_mmap(e + 200, BOOT_MAX_MEM + 1 - 200);
	mb_end();
	CHECK_REJECTED(parse());
}

TEST(bad_mmap_entry_size_rejected)
{
	static const u32 sizes[] = { 0, 4, 8, 12, 16, 20, 25, 28, 30, 0xfffffff9 };
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		mb_begin();
		u32 off = mb_mmap(pc_mmap, 2);
		mb_end();
		put32(off + 8, sizes[i]);
		CHECK_REJECTED(parse());
	}
}

/*
 * An entry size far larger than the tag holds no entry: either reject it or
 * record nothing. Regression (was a bug): mb2_parse.c parse_mmap computed
 * "off + esize <= size" in u32, which wraps for esize 0xfffffff8, so it
 * records entries read at the wrong offsets.
 */
TEST(huge_mmap_entry_size_adds_no_entries)
{
	static const u32 sizes[] = { 0x80000000, 0xffffffe8, 0xfffffff0, 0xfffffff8 };
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		mb_begin();
		u32 off = mb_mmap(pc_mmap, 2);
		mb_end();
		put32(off + 8, sizes[i]);
		int rc = parse();
		if (rc)
			CHECK_REJECTED(rc);
		else
			CHECK_EQ(bi.nr_mem, 0);
	}
}

TEST(short_mmap_tag_rejected)
{
	mb_begin();
	u8 p[4] = { 24, 0, 0, 0 }; /* entry_size only: tag size 12 */
	mb_tag(6, p, sizeof(p));
	mb_end();
	CHECK_REJECTED(parse());
}

TEST(partial_trailing_mmap_entry_ignored)
{
	mb_begin();
	u32 off = mb_mmap(pc_mmap, 2);
	put32(off + 4, 16 + 24 + 16); /* the second entry cut short */
	mb_len = off + 56;
	mb_end();
	CHECK_EQ(parse(), 0);
	CHECK_EQ(bi.nr_mem, 1);
}

TEST(module_end_before_start_rejected)
{
	mb_begin();
	mb_module(0x200000, 0x1fffff, "guest");
	mb_end();
	CHECK_REJECTED(parse());
}

TEST(module_tag_without_string_rejected)
{
	mb_begin();
	u8 p[8] = { 0 };
	mb_tag(3, p, sizeof(p)); /* size 16: no room for even "" */
	mb_end();
	CHECK_REJECTED(parse());
}

TEST(unterminated_cmdline_at_buffer_end)
{
	/* The last bytes of the buffer are the string: no NUL anywhere. */
	mb_begin();
	mb_tag_pad(1, "abcdefgh", 8, 'p');
	CHECK_REJECTED(parse());
}

TEST(unterminated_module_string_at_buffer_end)
{
	mb_begin();
	u8 p[16];
	u32 start = 0x100000, end = 0x200000;
	memcpy(p, &start, 4);
	memcpy(p + 4, &end, 4);
	memcpy(p + 8, "namename", 8);
	mb_tag(3, p, sizeof(p));
	CHECK_REJECTED(parse());
}

/*
 * A string that fills its tag without a NUL, followed by non-zero padding.
 * The spec requires the NUL; rejecting is fine, and so is keeping exactly the
 * bytes inside the tag. Reading the padding is not.
 */
TEST(unterminated_strings_never_read_past_their_tag)
{
	mb_begin();
	mb_tag_pad(1, "hello", 5, 'A');
	u8 p[13];
	u32 start = 0x100000, end = 0x200000;
	memcpy(p, &start, 4);
	memcpy(p + 4, &end, 4);
	memcpy(p + 8, "guest", 5);
	mb_tag_pad(3, p, sizeof(p), 'B');
	mb_end();
	int rc = parse();
	if (rc == 0) {
		CHECK_STR_EQ(bi.cmdline, "hello");
		CHECK_STR_EQ(bi.modules[0].name, "guest");
	} else {
		CHECK_REJECTED(rc);
	}
}

TEST(truncated_in_every_position_never_overreads)
{
	mb_begin();
	mb_cmdline("mem=64M");
	mb_module(0x200000, 0x300000, "guest x");
	mb_mmap(pc_mmap, ARRAY_SIZE(pc_mmap));
	mb_end();
	u32 full = mb_len;
	/* Every shorter total: the end tag is lost, so all must fail. */
	for (u32 total = 0; total < full; total++)
		CHECK_REJECTED(parse_total(total, total));
	CHECK_EQ(parse_total(full, full), 0);
}

TEST(byte_flips_never_overread)
{
	mb_begin();
	mb_cmdline("mem=64M");
	mb_module(0x200000, 0x300000, "guest x");
	mb_mmap(pc_mmap, 4);
	u8 rsdp[20] = { 0 };
	mb_tag(14, rsdp, sizeof(rsdp));
	mb_end();
	u8 saved[sizeof(mb)];
	u32 full = mb_len;
	memcpy(saved, mb, full);
	static const u8 vals[] = { 0x00, 0x01, 0x07, 0x08, 0x7f, 0x80, 0xff };
	for (u32 i = 4; i < full; i++) {
		for (size_t v = 0; v < ARRAY_SIZE(vals); v++) {
			memcpy(mb, saved, full);
			mb[i] = vals[v];
			int rc = parse_total(full, full);
			if (rc != 0)
				CHECK_REJECTED(rc);
			CHECK(bi.nr_mem <= BOOT_MAX_MEM);
			CHECK(bi.nr_modules <= BOOT_MAX_MODULES);
		}
	}
}

/*
 * Regression (was an overread; an ASan report would end the
 * program): the same u32 wrap as above with an empty mmap tag right before
 * the end tag makes parse_mmap read an entry at tag + 16, past the end of a
 * 32-byte structure.
 */
TEST(huge_mmap_entry_size_never_overreads)
{
	mb_begin();
	u32 off = mb_mmap(pc_mmap, 0); /* size 16: header + entry_size/version */
	put32(off + 8, 0xfffffff8);
	mb_end();
	CHECK_EQ(mb_len, 32);
	int rc = parse();
	if (rc)
		CHECK_REJECTED(rc);
	else
		CHECK_EQ(bi.nr_mem, 0);
}
