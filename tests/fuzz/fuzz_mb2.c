/*
 * Fuzz target: the multiboot2 information structure GRUB hands over
 * (boot/mb2/mb2_parse.c). The input is the structure; its total_size is
 * clamped to the input's length (the loader vouches for that field and
 * nothing else), and it is copied into a heap block of exactly
 * max(total_size, 8) bytes, so a read past the structure is an ASan report.
 * Invariants: 0 or -1 with a message; boot_info's counts within their
 * arrays, its strings terminated, module names single words, the RSDP
 * address inside the structure, memory regions non-empty.
 */
#include <tern/mb2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"

#define INFO_PHYS 0x9000ULL

static struct boot_info bi;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 8)
		return 0;
	u32 total;
	memcpy(&total, data, 4);
	if (total > size)
		total = (u32)size;
	size_t alloc = total < 8 ? 8 : total;
	u8 *info = malloc(alloc);
	memcpy(info, data, alloc);
	memcpy(info, &total, 4);

	const char *err = NULL;
	memset(&bi, 0xa5, sizeof(bi));
	int rc = mb2_parse(info, INFO_PHYS, &bi, &err);
	CHECK(rc == 0 || rc == -1);
	if (rc)
		CHECK(err && *err);
	CHECK(bi.magic == BOOT_INFO_MAGIC && bi.source == BOOT_SRC_MULTIBOOT2);
	CHECK(bi.nr_mem <= BOOT_MAX_MEM && bi.nr_modules <= BOOT_MAX_MODULES);
	CHECK(memchr(bi.cmdline, '\0', sizeof(bi.cmdline)));
	for (u32 i = 0; i < bi.nr_mem; i++) {
		CHECK(bi.mem[i].len);
		CHECK(bi.mem[i].type >= BOOT_MEM_USABLE && bi.mem[i].type <= BOOT_MEM_BAD);
	}
	for (u32 i = 0; i < bi.nr_modules; i++) {
		CHECK(memchr(bi.modules[i].name, '\0', sizeof(bi.modules[i].name)));
		CHECK(!strchr(bi.modules[i].name, ' '));
	}
	if (bi.acpi_rsdp)
		CHECK(bi.acpi_rsdp >= INFO_PHYS + 16 && bi.acpi_rsdp + (rc ? 0 : 8) <= INFO_PHYS + total);
	free(info);
	return 0;
}

/* ---- seeds: structures as GRUB builds them ---- */

static u8 mb[4096];
static u32 mb_len;

static void put32(u32 off, u32 v)
{
	memcpy(mb + off, &v, 4);
}

static void tag(u32 type, const void *payload, u32 plen)
{
	put32(mb_len, type);
	put32(mb_len + 4, 8 + plen);
	if (plen)
		memcpy(mb + mb_len + 8, payload, plen);
	mb_len += 8 + plen;
	while (mb_len % 8)
		mb[mb_len++] = 0;
}

static void begin(void)
{
	memset(mb, 0, sizeof(mb));
	mb_len = 8;
}

static void end(void)
{
	tag(0, NULL, 0);
	put32(0, mb_len);
	seed_add(mb, mb_len);
}

static void module(u32 start, u32 stop, const char *cmdline)
{
	u8 p[128];
	memcpy(p, &start, 4);
	memcpy(p + 4, &stop, 4);
	memcpy(p + 8, cmdline, strlen(cmdline) + 1);
	tag(3, p, 8 + (u32)strlen(cmdline) + 1);
}

static void mmap(u32 entries)
{
	u8 p[8 + 24 * 8] = { 0 };
	u32 esize = 24;
	memcpy(p, &esize, 4);
	for (u32 i = 0; i < entries; i++) {
		u64 base = (u64)i << 20, len = 0x80000 + i * 0x1000;
		u32 type = i % 6;
		memcpy(p + 8 + 24 * i, &base, 8);
		memcpy(p + 16 + 24 * i, &len, 8);
		memcpy(p + 24 + 24 * i, &type, 4);
	}
	tag(6, p, 8 + 24 * entries);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!seed_dir())
		return 0;
	static const char rsdp[36] = "RSD PTR ";
	begin();
	end();
	begin();
	tag(1, "guest=demo mem=64M", 19);
	tag(2, "GRUB 2.06", 10);
	module(0x200000, 0x209000, "guest demo.elf");
	module(0x300000, 0x300100, "extra");
	mmap(6);
	tag(14, rsdp, 20);
	tag(15, rsdp, 36);
	end();
	begin();
	mmap(8);
	tag(1, "noguest", 8);
	end();
	static const u32 types[] = { 0, 1, 3, 6, 14, 15 };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		seed_dict(&types[i], 4);
	exit(0);
}
