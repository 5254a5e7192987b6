/*
 * Linux bzImage loader, 64-bit boot protocol (contract in tern/linux_boot.h).
 * The image comes from outside (a boot module), so every header field is
 * read with explicit little-endian loads at bounds-checked offsets, and
 * every address the plan produces is checked against guest RAM before a
 * byte is written. The zero page is written field by field at the offsets
 * zero-page.rst gives, not through a C struct, so the host and the
 * hypervisor produce the same bytes whatever the compiler's layout.
 */
#include <tern/linux_boot.h>
#include <stdio.h>
#include <string.h>

#define SECTOR 512
#define RAM_MAX (1ULL << 40)        /* 1 TiB: far above any Tern guest */
#define PHYS_MAX (1ULL << 52)       /* architectural physical-address limit */
#define INIT_SIZE_MAX (1U << 30)    /* a kernel needing > 1 GiB to boot is not one */
#define CMDLINE_SIZE_MAX (1U << 20)
#define ALIGN_MIN 0x1000U
#define ALIGN_MAX (1U << 30)
#define VERSION_MAX 256             /* longest kernel_version string we accept */

static u16 le16(const u8 *p) { return (u16)(p[0] | p[1] << 8); }
static u32 le32(const u8 *p) { return (u32)le16(p) | (u32)le16(p + 2) << 16; }
static u64 le64(const u8 *p) { return (u64)le32(p) | (u64)le32(p + 4) << 32; }

static void put16(u8 *p, u16 v) { p[0] = (u8)v; p[1] = (u8)(v >> 8); }
static void put32(u8 *p, u32 v) { put16(p, (u16)v); put16(p + 2, (u16)(v >> 16)); }
static void put64(u8 *p, u64 v) { put32(p, (u32)v); put32(p + 4, (u32)(v >> 32)); }

/* a + b <= limit, without overflow. */
static bool fits(u64 a, u64 b, u64 limit)
{
	return a <= limit && b <= limit - a;
}

static bool is_pow2(u64 v)
{
	return v && !(v & (v - 1));
}

/* ---- parsing ---- */

/* The version string, if kernel_version points at a NUL-terminated one inside the setup. */
static const char *find_version(const u8 *img, u32 setup_len)
{
	u16 ptr = le16(img + LINUX_HDR_KERNEL_VERSION);
	if (!ptr)
		return NULL;
	u32 off = (u32)ptr + 0x200;
	if (off >= setup_len)
		return NULL;
	u32 room = MIN(setup_len - off, (u32)VERSION_MAX);
	if (!memchr(img + off, 0, room))
		return NULL;
	return (const char *)img + off;
}

static int parse_fail(struct linux_image *k, const char **err, const char *msg)
{
	*err = msg;
	return -1;
}

/* Errors with numbers are formatted into k->err_buf. */
#define PARSE_FAILF(k, err, ...)                                              \
	(snprintf((k)->err_buf, sizeof((k)->err_buf), __VA_ARGS__),          \
	 parse_fail((k), (err), (k)->err_buf))

/* The fields that must hold for any bzImage, before protocol specifics. */
static int parse_basic(const u8 *img, u64 len, struct linux_image *k, const char **err)
{
	if (len < 2 * SECTOR)
		return parse_fail(k, err, "not a bzImage: shorter than a boot sector and a setup sector");
	if (le32(img + LINUX_HDR_HEADER) != LINUX_HDR_MAGIC)
		return parse_fail(k, err, "not a bzImage: no HdrS magic");
	if (le16(img + LINUX_HDR_BOOT_FLAG) != LINUX_BOOT_FLAG)
		return parse_fail(k, err, "not a bzImage: boot_flag is not 0xAA55");
	k->version = le16(img + LINUX_HDR_VERSION);
	if (k->version < LINUX_PROTO_MIN)
		return PARSE_FAILF(k, err, "boot protocol %u.%02u is older than 2.12",
				   k->version >> 8, k->version & 0xff);
	/* The header ends where the jump at 0x200 lands (boot.rst, "the header"). */
	if (img[LINUX_HDR_JUMP] != 0xeb)
		return parse_fail(k, err, "setup header does not start with a short jump");
	k->hdr_end = LINUX_HDR_HEADER + img[LINUX_HDR_JUMP + 1];
	if (k->hdr_end < LINUX_HDR_END_2_12 || k->hdr_end > LINUX_HDR_END_MAX)
		return PARSE_FAILF(k, err, "setup header ends at 0x%x, outside [0x%x, 0x%x]",
				   k->hdr_end, LINUX_HDR_END_2_12, LINUX_HDR_END_MAX);
	k->loadflags = img[LINUX_HDR_LOADFLAGS];
	if (!(k->loadflags & LINUX_LOADED_HIGH))
		return parse_fail(k, err, "not a bzImage: LOADED_HIGH is clear (a zImage)");
	k->xloadflags = le16(img + LINUX_HDR_XLOADFLAGS);
	if (!(k->xloadflags & LINUX_XLF_KERNEL_64))
		return parse_fail(k, err, "kernel is not 64-bit capable (XLF_KERNEL_64 clear)");
	return 0;
}

/* Sizes: setup_sects, syssize, payload_offset/length, init_size. */
static int parse_sizes(const u8 *img, u64 len, struct linux_image *k, const char **err)
{
	u32 sects = img[LINUX_HDR_SETUP_SECTS];
	if (!sects)
		sects = 4;
	k->setup_len = (sects + 1) * SECTOR;
	if (k->setup_len >= len)
		return PARSE_FAILF(k, err, "setup (%u sectors) extends past the end of the file", sects);
	u32 syssize = le32(img + LINUX_HDR_SYSSIZE);
	k->payload_len = (u64)syssize * 16;
	if (!syssize)
		return parse_fail(k, err, "syssize is zero");
	if (k->payload_len > len - k->setup_len)
		return PARSE_FAILF(k, err, "syssize says %llu bytes, the file has %llu after the setup",
				   (unsigned long long)k->payload_len,
				   (unsigned long long)(len - k->setup_len));
	u32 poff = le32(img + LINUX_HDR_PAYLOAD_OFFSET), plen = le32(img + LINUX_HDR_PAYLOAD_LENGTH);
	if (!fits(poff, plen, k->payload_len))
		return parse_fail(k, err, "payload_offset/payload_length lie outside the protected-mode code");
	k->init_size = le32(img + LINUX_HDR_INIT_SIZE);
	if (k->init_size < k->payload_len)
		return PARSE_FAILF(k, err, "init_size 0x%x is smaller than the protected-mode code (0x%llx)",
				   k->init_size, (unsigned long long)k->payload_len);
	if (k->init_size > INIT_SIZE_MAX)
		return PARSE_FAILF(k, err, "init_size 0x%x is larger than 1 GiB", k->init_size);
	return 0;
}

/* Placement fields: relocatable_kernel, kernel_alignment, pref_address, cmdline_size. */
static int parse_placement(const u8 *img, struct linux_image *k, const char **err)
{
	k->relocatable = img[LINUX_HDR_RELOCATABLE];
	if (k->relocatable > 1)
		return PARSE_FAILF(k, err, "relocatable_kernel is %u, neither 0 nor 1", k->relocatable);
	k->kernel_alignment = le32(img + LINUX_HDR_KERNEL_ALIGNMENT);
	if (!is_pow2(k->kernel_alignment) || k->kernel_alignment < ALIGN_MIN ||
	    k->kernel_alignment > ALIGN_MAX)
		return PARSE_FAILF(k, err, "kernel_alignment 0x%x is not a power of two in [4 KiB, 1 GiB]",
				   k->kernel_alignment);
	k->pref_address = le64(img + LINUX_HDR_PREF_ADDRESS);
	if (k->pref_address < LINUX_HIGH_START || k->pref_address >= RAM_MAX ||
	    k->pref_address % PAGE_SIZE)
		return PARSE_FAILF(k, err, "pref_address 0x%llx is not a page-aligned address in [1 MiB, 1 TiB)",
				   (unsigned long long)k->pref_address);
	k->cmdline_size = le32(img + LINUX_HDR_CMDLINE_SIZE);
	if (!k->cmdline_size || k->cmdline_size > CMDLINE_SIZE_MAX)
		return PARSE_FAILF(k, err, "cmdline_size %u is not in [1, 1 MiB]", k->cmdline_size);
	k->initrd_addr_max = le32(img + LINUX_HDR_INITRD_ADDR_MAX);
	if (k->initrd_addr_max < LINUX_HIGH_START)
		return PARSE_FAILF(k, err, "initrd_addr_max 0x%x is below 1 MiB", k->initrd_addr_max);
	return 0;
}

int linux_bzimage_parse(const void *image, u64 len, struct linux_image *out, const char **err)
{
	const u8 *img = image;
	memset(out, 0, sizeof(*out));
	out->img = img;
	out->len = len;
	if (parse_basic(img, len, out, err) || parse_sizes(img, len, out, err) ||
	    parse_placement(img, out, err))
		return -1;
	out->kernel_version = find_version(img, out->setup_len);
	return 0;
}

/* ---- the e820 map ---- */

/* Check the claimed ranges: aligned, typed, no overflow, no two overlapping. */
static int check_ranges(const struct linux_guest_mem *mem, const char **err)
{
	if (mem->ram_size <= LINUX_HIGH_START || mem->ram_size > RAM_MAX || mem->ram_size % PAGE_SIZE) {
		*err = "guest RAM size is not a page multiple in (1 MiB, 1 TiB]";
		return -1;
	}
	if (mem->n_ranges > LINUX_MAX_RANGES || (mem->n_ranges && !mem->ranges)) {
		*err = "too many claimed memory ranges";
		return -1;
	}
	for (u32 i = 0; i < mem->n_ranges; i++) {
		const struct linux_mem_range *r = &mem->ranges[i];
		if (!r->size || r->base % PAGE_SIZE || r->size % PAGE_SIZE || !fits(r->base, r->size, PHYS_MAX)) {
			*err = "a claimed memory range is empty, unaligned or beyond the physical address space";
			return -1;
		}
		if (r->type != LINUX_MEM_BOOT_ONLY && (r->type < LINUX_E820_RESERVED || r->type > LINUX_E820_UNUSABLE)) {
			*err = "a claimed memory range has an unknown type";
			return -1;
		}
		if (r->type == LINUX_MEM_BOOT_ONLY && !fits(r->base, r->size, mem->ram_size)) {
			*err = "a boot-only memory range lies outside guest RAM";
			return -1;
		}
		for (u32 j = 0; j < i; j++) {
			const struct linux_mem_range *o = &mem->ranges[j];
			if (r->base < o->base + o->size && o->base < r->base + r->size) {
				*err = "two claimed memory ranges overlap";
				return -1;
			}
		}
	}
	return 0;
}

/* The e820 type of address a: a claimed range's, else the PC convention's; 0 = not memory. */
static u32 type_at(const struct linux_guest_mem *mem, u64 a)
{
	for (u32 i = 0; i < mem->n_ranges; i++) {
		const struct linux_mem_range *r = &mem->ranges[i];
		if (a >= r->base && a - r->base < r->size && r->type != LINUX_MEM_BOOT_ONLY)
			return r->type;
	}
	if (a < LINUX_LOW_RAM_END)
		return LINUX_E820_RAM;
	if (a < LINUX_HIGH_START)
		return LINUX_E820_RESERVED;
	return a < mem->ram_size ? LINUX_E820_RAM : 0;
}

/*
 * Cut the address space at every boundary, give each piece its type and
 * merge neighbours of the same type: sorted, non-overlapping entries.
 */
static void build_e820(const struct linux_guest_mem *mem, struct linux_boot_plan *plan)
{
	u64 pts[4 + 2 * LINUX_MAX_RANGES];
	u32 n = 0;
	pts[n++] = 0;
	pts[n++] = LINUX_LOW_RAM_END;
	pts[n++] = LINUX_HIGH_START;
	pts[n++] = mem->ram_size;
	for (u32 i = 0; i < mem->n_ranges; i++) {
		pts[n++] = mem->ranges[i].base;
		pts[n++] = mem->ranges[i].base + mem->ranges[i].size;
	}
	for (u32 i = 1; i < n; i++) /* insertion sort: at most 68 points */
		for (u32 j = i; j > 0 && pts[j - 1] > pts[j]; j--) {
			u64 t = pts[j];
			pts[j] = pts[j - 1];
			pts[j - 1] = t;
		}
	plan->e820_entries = 0;
	for (u32 i = 0; i + 1 < n; i++) {
		if (pts[i] == pts[i + 1])
			continue;
		u32 type = type_at(mem, pts[i]);
		if (!type)
			continue;
		struct linux_e820_entry *last = plan->e820_entries ? &plan->e820[plan->e820_entries - 1] : NULL;
		if (last && last->type == type && last->addr + last->size == pts[i]) {
			last->size += pts[i + 1] - pts[i];
			continue;
		}
		plan->e820[plan->e820_entries++] =
			(struct linux_e820_entry){ .addr = pts[i], .size = pts[i + 1] - pts[i], .type = type };
	}
}
_Static_assert(3 + 2 * LINUX_MAX_RANGES <= LINUX_E820_MAX, "the e820 map always fits the zero page");

/* ---- placement ---- */

struct span {
	u64 base, end;
};

/* Ranges the loader must not place anything on: boot-only ranges, then what it placed. */
struct avoid {
	struct span s[LINUX_MAX_RANGES + 4];
	u32 n;
};

static void avoid_add(struct avoid *a, u64 base, u64 size)
{
	if (size)
		a->s[a->n++] = (struct span){ base, base + size };
}

/* The first avoided span that [c, c + size) touches, or NULL. */
static const struct span *avoid_hit(const struct avoid *a, u64 c, u64 size)
{
	for (u32 i = 0; i < a->n; i++)
		if (c < a->s[i].end && a->s[i].base < c + size)
			return &a->s[i];
	return NULL;
}

/* Lowest align-aligned c in [min, limit) with [c, c+size) in one RAM entry and clear; 0 = none. */
static u64 find_lowest(const struct linux_boot_plan *plan, const struct avoid *a, u64 size,
		       u64 align, u64 min, u64 limit)
{
	for (u32 i = 0; i < plan->e820_entries; i++) {
		const struct linux_e820_entry *e = &plan->e820[i];
		if (e->type != LINUX_E820_RAM)
			continue;
		u64 lo = MAX(e->addr, min), hi = MIN(e->addr + e->size, limit);
		u64 c = ALIGN_UP(lo, align);
		while (c >= lo && fits(c, size, hi)) {
			const struct span *s = avoid_hit(a, c, size);
			if (!s)
				return c;
			c = ALIGN_UP(s->end, align);
		}
	}
	return 0;
}

/* Highest such c; 0 = none. */
static u64 find_highest(const struct linux_boot_plan *plan, const struct avoid *a, u64 size,
			u64 align, u64 min, u64 limit)
{
	for (u32 i = plan->e820_entries; i-- > 0;) {
		const struct linux_e820_entry *e = &plan->e820[i];
		if (e->type != LINUX_E820_RAM)
			continue;
		u64 lo = MAX(e->addr, min), hi = MIN(e->addr + e->size, limit);
		if (hi <= lo || !fits(lo, size, hi))
			continue;
		u64 c = ALIGN_DOWN(hi - size, align);
		while (c >= lo) {
			const struct span *s = avoid_hit(a, c, size);
			if (!s)
				return c;
			if (s->base < lo + size)
				break;
			c = ALIGN_DOWN(s->base - size, align);
		}
	}
	return 0;
}

/* Errors with numbers are formatted into plan->err_buf. */
#define PLAN_FAILF(plan, err, ...)                                              \
	(snprintf((plan)->err_buf, sizeof((plan)->err_buf), __VA_ARGS__),      \
	 *(err) = (plan)->err_buf, -1)

/*
 * The kernel: at pref_address if it fits, else (relocatable) the lowest
 * aligned address above it. Not below: Linux's startup_64 never runs
 * below LOAD_PHYSICAL_ADDR (= pref_address), it would move there anyway.
 */
static int place_kernel(const struct linux_image *k, struct linux_boot_plan *plan,
			const struct avoid *a, const char **err)
{
	u64 c = find_lowest(plan, a, k->init_size, PAGE_SIZE, k->pref_address,
			    k->pref_address + k->init_size);
	if (!c && k->relocatable)
		c = find_lowest(plan, a, k->init_size, k->kernel_alignment, k->pref_address, RAM_MAX);
	if (!c)
		return PLAN_FAILF(plan, err, "no room for the kernel: it needs 0x%x bytes of RAM at %s0x%llx",
				  k->init_size, k->relocatable ? "or above " : "",
				  (unsigned long long)k->pref_address);
	plan->kernel_addr = c;
	plan->kernel_end = c + k->init_size;
	plan->entry = c + LINUX_ENTRY_64_OFFSET;
	return 0;
}

/* The highest address the initrd may end at (exclusive). */
static u64 initrd_limit(const struct linux_image *k, const struct linux_guest_mem *mem)
{
	if (k->xloadflags & LINUX_XLF_CAN_BE_LOADED_ABOVE_4G)
		return mem->ram_size;
	return MIN((u64)k->initrd_addr_max + 1, mem->ram_size);
}

int linux_boot_plan(const struct linux_image *k, const struct linux_guest_mem *mem, u64 initrd_size,
		    u64 cmdline_len, struct linux_boot_plan *plan, const char **err)
{
	memset(plan, 0, sizeof(*plan));
	if (check_ranges(mem, err))
		return -1;
	if (cmdline_len > k->cmdline_size)
		return PLAN_FAILF(plan, err, "the command line is %llu bytes, the kernel takes at most %u",
				  (unsigned long long)cmdline_len, k->cmdline_size);
	if (initrd_size > mem->ram_size)
		return PLAN_FAILF(plan, err, "the initramfs (%llu bytes) is larger than guest RAM",
				  (unsigned long long)initrd_size);
	build_e820(mem, plan);
	plan->acpi_rsdp = mem->acpi_rsdp;

	struct avoid a = { .n = 0 };
	for (u32 i = 0; i < mem->n_ranges; i++)
		if (mem->ranges[i].type == LINUX_MEM_BOOT_ONLY)
			avoid_add(&a, mem->ranges[i].base, mem->ranges[i].size);
	if (place_kernel(k, plan, &a, err))
		return -1;
	avoid_add(&a, plan->kernel_addr, k->init_size);

	if (initrd_size) {
		u64 c = find_highest(plan, &a, initrd_size, PAGE_SIZE, LINUX_HIGH_START, initrd_limit(k, mem));
		if (!c)
			return PLAN_FAILF(plan, err, "no room for the initramfs (%llu bytes) below 0x%llx",
					  (unsigned long long)initrd_size,
					  (unsigned long long)initrd_limit(k, mem));
		plan->initrd_addr = c;
		plan->initrd_size = initrd_size;
		avoid_add(&a, c, ALIGN_UP(initrd_size, PAGE_SIZE));
	}

	/* Page 0 stays free: a zero page at address 0 would read as "no zero page". */
	plan->zero_page = find_lowest(plan, &a, PAGE_SIZE, PAGE_SIZE, PAGE_SIZE, RAM_MAX);
	if (!plan->zero_page) {
		*err = "no free page for the zero page";
		return -1;
	}
	avoid_add(&a, plan->zero_page, PAGE_SIZE);
	u64 cl_room = ALIGN_UP(cmdline_len + 1, PAGE_SIZE);
	plan->cmdline_addr = find_lowest(plan, &a, cl_room, PAGE_SIZE, PAGE_SIZE, RAM_MAX);
	if (!plan->cmdline_addr) {
		*err = "no free pages for the command line";
		return -1;
	}
	plan->cmdline_len = (u32)cmdline_len;
	return 0;
}

/* ---- the zero page ---- */

static int check_plan(const struct linux_image *k, const struct linux_boot_plan *plan, const char **err)
{
	if (plan->e820_entries == 0 || plan->e820_entries > LINUX_E820_MAX) {
		*err = "the e820 map is empty or longer than the zero page holds";
		return -1;
	}
	if (plan->cmdline_len > k->cmdline_size) {
		*err = "the command line is longer than the kernel's cmdline_size";
		return -1;
	}
	if (!plan->cmdline_addr || !plan->zero_page) {
		*err = "the plan has no command line or zero page address";
		return -1;
	}
	if (plan->initrd_size && !(k->xloadflags & LINUX_XLF_CAN_BE_LOADED_ABOVE_4G) &&
	    !fits(plan->initrd_addr, plan->initrd_size, (u64)k->initrd_addr_max + 1)) {
		*err = "the initramfs ends above the kernel's initrd_addr_max";
		return -1;
	}
	return 0;
}

int linux_boot_params_build(const struct linux_image *k, const struct linux_boot_plan *plan,
			    u8 *zp, const char **err)
{
	if (check_plan(k, plan, err))
		return -1;
	/* Zeroed first: the sentinel at 0x1ef stays 0, so Linux trusts every field. */
	memset(zp, 0, LINUX_ZERO_PAGE_SIZE);
	memcpy(zp + LINUX_HDR_SETUP_SECTS, k->img + LINUX_HDR_SETUP_SECTS,
	       k->hdr_end - LINUX_HDR_SETUP_SECTS);

	zp[LINUX_HDR_TYPE_OF_LOADER] = LINUX_TYPE_OF_LOADER_UNDEFINED;
	zp[LINUX_HDR_EXT_LOADER_VER] = 0;
	zp[LINUX_HDR_EXT_LOADER_TYPE] = 0;
	/* No real-mode setup runs, so no heap; KASLR_FLAG is the kernel's own to set. */
	zp[LINUX_HDR_LOADFLAGS] = LINUX_LOADED_HIGH;
	put16(zp + LINUX_HDR_HEAP_END_PTR, 0);
	put32(zp + LINUX_HDR_HW_SUBARCH, 0);
	put64(zp + LINUX_HDR_HW_SUBARCH_DATA, 0);
	put64(zp + LINUX_HDR_SETUP_DATA, 0);

	put32(zp + LINUX_HDR_CMD_LINE_PTR, (u32)plan->cmdline_addr);
	put32(zp + LINUX_BP_EXT_CMD_LINE_PTR, (u32)(plan->cmdline_addr >> 32));
	put32(zp + LINUX_HDR_RAMDISK_IMAGE, (u32)plan->initrd_addr);
	put32(zp + LINUX_BP_EXT_RAMDISK_IMAGE, (u32)(plan->initrd_addr >> 32));
	put32(zp + LINUX_HDR_RAMDISK_SIZE, (u32)plan->initrd_size);
	put32(zp + LINUX_BP_EXT_RAMDISK_SIZE, (u32)(plan->initrd_size >> 32));

	put64(zp + LINUX_BP_ACPI_RSDP_ADDR, plan->acpi_rsdp);
	zp[LINUX_BP_E820_ENTRIES] = (u8)plan->e820_entries;
	for (u32 i = 0; i < plan->e820_entries; i++) {
		u8 *e = zp + LINUX_BP_E820_TABLE + i * LINUX_E820_ENTRY_SIZE;
		put64(e, plan->e820[i].addr);
		put64(e + 8, plan->e820[i].size);
		put32(e + 16, plan->e820[i].type);
	}
	return 0;
}

/* ---- writing it all into guest RAM ---- */

int linux_boot_write(const struct linux_image *k, const struct linux_boot_plan *plan,
		     const char *cmdline, const void *initrd, u8 *ram, u64 ram_size, const char **err)
{
	if (!fits(plan->kernel_addr, k->init_size, ram_size) ||
	    !fits(plan->cmdline_addr, (u64)plan->cmdline_len + 1, ram_size) ||
	    !fits(plan->initrd_addr, plan->initrd_size, ram_size) ||
	    !fits(plan->zero_page, LINUX_ZERO_PAGE_SIZE, ram_size)) {
		*err = "the boot plan does not fit in guest RAM";
		return -1;
	}
	if (plan->cmdline_len && (!cmdline || memchr(cmdline, 0, plan->cmdline_len))) {
		*err = "the command line is shorter than its length";
		return -1;
	}
	if (plan->initrd_size && !initrd) {
		*err = "an initramfs size without its bytes";
		return -1;
	}
	/* The zero page first: it alone can still refuse, before anything is written. */
	if (linux_boot_params_build(k, plan, ram + plan->zero_page, err))
		return -1;
	memcpy(ram + plan->kernel_addr, k->img + k->setup_len, k->payload_len);
	if (plan->cmdline_len)
		memcpy(ram + plan->cmdline_addr, cmdline, plan->cmdline_len);
	ram[plan->cmdline_addr + plan->cmdline_len] = '\0';
	if (plan->initrd_size)
		memcpy(ram + plan->initrd_addr, initrd, plan->initrd_size);
	return 0;
}
