/*
 * Multiboot2 information -> boot_info. Pure code: reads only the buffer it is
 * given, validates every tag against the structure's total size, and folds
 * the BIOS memory types into boot_mem_type. Unit-tested in tests/unit.
 */
#include <tern/mb2.h>
#include <string.h>

enum {
	MB2_TAG_END = 0,
	MB2_TAG_CMDLINE = 1,
	MB2_TAG_MODULE = 3,
	MB2_TAG_MMAP = 6,
	MB2_TAG_EFI64 = 12,
	MB2_TAG_ACPI_OLD = 14,
	MB2_TAG_ACPI_NEW = 15,
};

#define MB2_MAX_TOTAL (1u << 20)

static u32 rd32(const u8 *p)
{
	u32 v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static u64 rd64(const u8 *p)
{
	u64 v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static u32 fold_mem_type(u32 mb2_type)
{
	switch (mb2_type) {
	case 1: return BOOT_MEM_USABLE;
	case 3: return BOOT_MEM_ACPI_RECLAIM;
	case 4: return BOOT_MEM_ACPI_NVS;
	case 5: return BOOT_MEM_BAD;
	default: return BOOT_MEM_RESERVED;
	}
}

/* Copy a string field of at most max bytes (not necessarily terminated). */
static void copy_str(char *dst, size_t dst_len, const u8 *src, size_t max)
{
	size_t n = strnlen((const char *)src, max);
	if (n >= dst_len)
		n = dst_len - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int parse_mmap(const u8 *tag, u32 size, struct boot_info *bi, const char **err)
{
	if (size < 16) {
		*err = "memory map tag too short";
		return -1;
	}
	u32 esize = rd32(tag + 8);
	if (esize < 24 || esize % 8) {
		*err = "memory map entry size invalid";
		return -1;
	}
	/* 64-bit sums: a huge entry size must not wrap past the tag. */
	for (u64 off = 16; off + esize <= size; off += esize) {
		u64 base = rd64(tag + off), len = rd64(tag + off + 8);
		if (len == 0)
			continue;
		if (bi->nr_mem == BOOT_MAX_MEM) {
			*err = "too many memory map entries";
			return -1;
		}
		struct boot_mem_region *r = &bi->mem[bi->nr_mem++];
		r->base = base;
		r->len = len;
		r->type = fold_mem_type(rd32(tag + off + 16));
	}
	return 0;
}

static int parse_module(const u8 *tag, u32 size, struct boot_info *bi, const char **err)
{
	if (size < 17) {
		*err = "module tag too short";
		return -1;
	}
	if (bi->nr_modules == BOOT_MAX_MODULES) {
		*err = "too many modules";
		return -1;
	}
	u32 start = rd32(tag + 8), end = rd32(tag + 12);
	if (end < start) {
		*err = "module ends before it starts";
		return -1;
	}
	struct boot_module *m = &bi->modules[bi->nr_modules++];
	m->base = start;
	m->len = end - start;
	/* The module's name is the first word of its command line; the rest,
	 * after the spaces that end the name, are its arguments. */
	const char *cl = (const char *)tag + 16;
	size_t max = size - 16, n = strnlen(cl, max), w = 0;
	while (w < n && cl[w] != ' ')
		w++;
	copy_str(m->name, sizeof(m->name), (const u8 *)cl, w);
	while (w < n && cl[w] == ' ')
		w++;
	copy_str(m->args, sizeof(m->args), (const u8 *)cl + w, n - w);
	return 0;
}

int mb2_parse(const void *info, u64 info_phys, struct boot_info *bi, const char **err)
{
	const u8 *p = info;
	memset(bi, 0, sizeof(*bi));
	bi->magic = BOOT_INFO_MAGIC;
	bi->source = BOOT_SRC_MULTIBOOT2;

	u32 total = rd32(p);
	if (total < 16 || total > MB2_MAX_TOTAL) {
		*err = "multiboot2 information size invalid";
		return -1;
	}
	for (u32 off = 8; off + 8 <= total;) {
		u32 type = rd32(p + off), size = rd32(p + off + 4);
		if (size < 8 || size > total - off) {
			*err = "multiboot2 tag overruns the information structure";
			return -1;
		}
		const u8 *tag = p + off;
		int rc = 0;
		switch (type) {
		case MB2_TAG_END:
			return 0;
		case MB2_TAG_CMDLINE:
			copy_str(bi->cmdline, sizeof(bi->cmdline), tag + 8, size - 8);
			break;
		case MB2_TAG_MODULE:
			rc = parse_module(tag, size, bi, err);
			break;
		case MB2_TAG_MMAP:
			rc = parse_mmap(tag, size, bi, err);
			break;
		case MB2_TAG_EFI64: /* UEFI firmware: its runtime services can power off */
			if (size < 16) {
				*err = "EFI64 system table tag too short";
				return -1;
			}
			bi->efi_system_table = rd64(tag + 8);
			break;
		case MB2_TAG_ACPI_NEW:
			bi->acpi_rsdp = info_phys + off + 8;
			break;
		case MB2_TAG_ACPI_OLD:
			if (!bi->acpi_rsdp)
				bi->acpi_rsdp = info_phys + off + 8;
			break;
		default:
			break;
		}
		if (rc)
			return rc;
		off += ALIGN_UP(size, 8);
	}
	*err = "multiboot2 information has no end tag";
	return -1;
}
