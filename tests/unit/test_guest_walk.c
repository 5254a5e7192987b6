/*
 * arch/x86_64/guest_walk.c: the guest page-table walk used for string port
 * I/O, over a fake 4 MiB of guest RAM. Each format (4-level, PAE, 32-bit),
 * each page size, the permission rules (R/W with and without CR0.WP, U/S),
 * accessed/dirty flags set only by an allowed access, and tables outside RAM.
 */
#include "unit.h"
#include <string.h>
#include "guest_walk.h"

#define RAM (4u << 20)
static u8 ram[RAM] __attribute__((aligned(4096)));
static u64 touched[16];
static unsigned ntouched;

static void *ram_ptr(void *ctx, u64 gpa, unsigned len)
{
	return gpa + len <= RAM ? ram + gpa : NULL;
}

static void on_touch(void *ctx, u64 gpa)
{
	if (ntouched < 16)
		touched[ntouched++] = gpa;
}

static const struct gwalk_mem mem = { ram_ptr, on_touch, NULL };

#define P 1ULL
#define RW 2ULL
#define US 4ULL
#define A (1ULL << 5)
#define D (1ULL << 6)
#define PS (1ULL << 7)

static u64 *e64(u64 gpa) { return (u64 *)(ram + gpa); }
static u32 *e32(u64 gpa) { return (u32 *)(ram + gpa); }

static void reset(void)
{
	memset(ram, 0, sizeof(ram));
	ntouched = 0;
}

/* 4-level: PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000. */
static struct gwalk_mode long_mode(void)
{
	reset();
	*e64(0x1000 + 8 * 1) = 0x2000 | P | RW | US;  /* la 0x80_0000_0000 */
	*e64(0x2000 + 8 * 0) = 0x3000 | P | RW | US;
	*e64(0x3000 + 8 * 0) = 0x4000 | P | RW | US;  /* 4 KiB pages */
	*e64(0x4000 + 8 * 5) = 0x123000 | P | RW | US;
	*e64(0x4000 + 8 * 6) = 0x124000 | P | US;     /* read-only */
	*e64(0x4000 + 8 * 7) = 0x125000 | P | RW;     /* supervisor only */
	*e64(0x3000 + 8 * 1) = 0x200000 | P | RW | US | PS; /* a 2 MiB page */
	*e64(0x2000 + 8 * 1) = 0x40000000 | P | RW | PS;    /* a 1 GiB page */
	return (struct gwalk_mode){ .paging = true, .pae = true, .lma = true, .wp = true,
				    .cr3 = 0x1000 };
}

#define LA(off) (0x8000000000ULL + (off))

TEST(paging_off_is_identity_within_4g)
{
	struct gwalk_mode m = { 0 };
	u64 gpa;
	u32 err;
	CHECK_EQ(guest_walk(&m, &mem, 0x1234567, false, false, &gpa, &err), GW_OK);
	CHECK_EQ(gpa, 0x1234567);
	CHECK_EQ(guest_walk(&m, &mem, 0x100001000ULL, false, false, &gpa, &err), GW_OK);
	CHECK_EQ(gpa, 0x1000);
}

TEST(long_mode_4k_2m_1g)
{
	struct gwalk_mode m = long_mode();
	u64 gpa;
	u32 err;
	CHECK_EQ(guest_walk(&m, &mem, LA(0x5abc), false, false, &gpa, &err), GW_OK);
	CHECK_EQ(gpa, 0x123abc);
	CHECK_EQ(guest_walk(&m, &mem, LA(0x200000 + 0x12345), true, false, &gpa, &err), GW_OK);
	CHECK_EQ(gpa, 0x212345);
	CHECK_EQ(guest_walk(&m, &mem, LA(0x40000000 + 0x3456789), false, false, &gpa, &err), GW_OK);
	CHECK_EQ(gpa, 0x43456789);
}

TEST(accessed_and_dirty_flags_like_the_cpu)
{
	struct gwalk_mode m = long_mode();
	u64 gpa;
	u32 err;
	CHECK_EQ(guest_walk(&m, &mem, LA(0x5000), false, false, &gpa, &err), GW_OK);
	CHECK(*e64(0x1000 + 8) & A);
	CHECK(*e64(0x4000 + 8 * 5) & A);
	CHECK(!(*e64(0x4000 + 8 * 5) & D));
	CHECK_EQ(ntouched, 4);
	ntouched = 0;
	CHECK_EQ(guest_walk(&m, &mem, LA(0x5008), true, false, &gpa, &err), GW_OK);
	CHECK(*e64(0x4000 + 8 * 5) & D);
	CHECK(!(*e64(0x3000) & D)); /* only the leaf gets D */
	CHECK_EQ(ntouched, 1);
	CHECK_EQ(touched[0], 0x4000 + 8 * 5);
}

TEST(not_present_faults_and_changes_nothing)
{
	struct gwalk_mode m = long_mode();
	u64 gpa;
	u32 err = 0xff;
	CHECK_EQ(guest_walk(&m, &mem, LA(0x9000), true, false, &gpa, &err), GW_PAGE_FAULT);
	CHECK_EQ(err, PF_ERR_WRITE);
	CHECK_EQ(guest_walk(&m, &mem, 0x123000, false, true, &gpa, &err), GW_PAGE_FAULT);
	CHECK_EQ(err, PF_ERR_USER);
	CHECK(!(*e64(0x1000 + 8) & A));
	CHECK_EQ(ntouched, 0);
}

TEST(write_protection_and_user_pages)
{
	struct gwalk_mode m = long_mode();
	u64 gpa;
	u32 err;
	CHECK_EQ(guest_walk(&m, &mem, LA(0x6000), true, false, &gpa, &err), GW_PAGE_FAULT);
	CHECK_EQ(err, PF_ERR_PRESENT | PF_ERR_WRITE);
	CHECK(!(*e64(0x4000 + 8 * 6) & A));
	m.wp = false; /* a supervisor may write read-only pages */
	CHECK_EQ(guest_walk(&m, &mem, LA(0x6000), true, false, &gpa, &err), GW_OK);
	CHECK_EQ(guest_walk(&m, &mem, LA(0x6000), true, true, &gpa, &err), GW_PAGE_FAULT);
	CHECK_EQ(err, PF_ERR_PRESENT | PF_ERR_WRITE | PF_ERR_USER);
	CHECK_EQ(guest_walk(&m, &mem, LA(0x7000), false, true, &gpa, &err), GW_PAGE_FAULT);
	CHECK_EQ(err, PF_ERR_PRESENT | PF_ERR_USER);
	CHECK_EQ(guest_walk(&m, &mem, LA(0x7000), false, false, &gpa, &err), GW_OK);
	/* U/S is the AND of every level: the 1 GiB page's PDPTE lacks it. */
	CHECK_EQ(guest_walk(&m, &mem, LA(0x40000000), false, true, &gpa, &err), GW_PAGE_FAULT);
}

TEST(tables_outside_ram)
{
	struct gwalk_mode m = long_mode();
	u64 gpa;
	u32 err;
	*e64(0x1000 + 8 * 2) = 0x7fff000ULL | P | RW; /* far beyond 4 MiB */
	CHECK_EQ(guest_walk(&m, &mem, 0x10000000000ULL, false, false, &gpa, &err), GW_BAD_TABLE);
	m.cr3 = 0x90000000ULL;
	CHECK_EQ(guest_walk(&m, &mem, LA(0x5000), false, false, &gpa, &err), GW_BAD_TABLE);
}

TEST(pae_three_levels)
{
	reset();
	/* PDPT at 0x1020 (32-byte aligned), entry 2 covers 0x80000000-0xbfffffff. */
	*e64(0x1020 + 8 * 2) = 0x3000 | P;
	*e64(0x3000 + 8 * 1) = 0x4000 | P | RW;            /* 0x80200000: 4 KiB pages */
	*e64(0x4000 + 8 * 3) = 0x155000 | P | RW;
	*e64(0x3000 + 8 * 2) = 0x200000 | P | RW | PS;     /* 0x80400000: 2 MiB */
	struct gwalk_mode m = { .paging = true, .pae = true, .wp = true, .cr3 = 0x1020 };
	u64 gpa;
	u32 err;
	CHECK_EQ(guest_walk(&m, &mem, 0x80203456, true, false, &gpa, &err), GW_OK);
	CHECK_EQ(gpa, 0x155456);
	CHECK(*e64(0x4000 + 8 * 3) & D);
	CHECK(!(*e64(0x1020 + 8 * 2) & A)); /* PDPTEs have no accessed flag to set */
	CHECK_EQ(guest_walk(&m, &mem, 0x80412345, false, false, &gpa, &err), GW_OK);
	CHECK_EQ(gpa, 0x212345);
	CHECK_EQ(guest_walk(&m, &mem, 0x40000000, false, false, &gpa, &err), GW_PAGE_FAULT);
}

TEST(legacy_32bit_with_4m_pages)
{
	reset();
	*e32(0x1000 + 4 * 1) = 0x2000 | P | RW;             /* 0x00400000: 4 KiB pages */
	*e32(0x2000 + 4 * 2) = 0x177000 | P | RW;
	*e32(0x1000 + 4 * 2) = 0x00c00000 | P | RW | PS;   /* 0x00800000: a 4 MiB page */
	struct gwalk_mode m = { .paging = true, .pse = true, .wp = true, .cr3 = 0x1000 };
	u64 gpa;
	u32 err;
	CHECK_EQ(guest_walk(&m, &mem, 0x00402abc, true, false, &gpa, &err), GW_OK);
	CHECK_EQ(gpa, 0x177abc);
	CHECK(*e32(0x2000 + 4 * 2) & D);
	CHECK(*e32(0x1000 + 4) & A);
	CHECK_EQ(guest_walk(&m, &mem, 0x00812345, false, false, &gpa, &err), GW_OK);
	CHECK_EQ(gpa, 0xc12345);
	m.pse = false; /* without PSE the PS bit is ignored: a page table at 0xc00000 */
	CHECK_EQ(guest_walk(&m, &mem, 0x00812345, false, false, &gpa, &err), GW_BAD_TABLE);
}
