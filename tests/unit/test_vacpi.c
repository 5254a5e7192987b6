/*
 * hv/vacpi.c: the guest's ACPI tables. Every field is read back here at its
 * ACPI 6.5 offset with explicit little-endian loads (RSDP table 5.3, header
 * table 5.4, XSDT table 5.7, FADT table 5.9, GAS table 5.1, MADT tables
 * 5.21/5.23/5.45); addresses are followed from the RSDP as Linux does, not
 * taken from vacpi_layout. The DSDT's AML is compared with bytes derived by
 * hand from section 20 below. If iasl (acpica-tools) is installed, one more
 * test has it disassemble every table; without it that test says SKIP.
 */
#include "unit.h"
#include <tern/vacpi.h>
#include <unistd.h>

#define BASE 0x000e0000ull /* where the guest sees the buffer */

static u8 img[VACPI_BUF_MAX];

static const struct vacpi_config def_cfg = {
	.ncpus = 1,
	.sleep_ctl_port = 0x600,
	.sleep_sts_port = 0x601,
	.s5_slp_typ = 5,
	.reset_port = 0x604,
	.reset_value = 0x0e,
	.com1_port = 0x3f8,
};

static u16 ld16(const u8 *p) { return (u16)(p[0] | p[1] << 8); }
static u32 ld32(const u8 *p) { return (u32)ld16(p) | (u32)ld16(p + 2) << 16; }
static u64 ld64(const u8 *p) { return (u64)ld32(p) | (u64)ld32(p + 4) << 32; }

static u8 sum8(const u8 *p, u64 n)
{
	u8 s = 0;
	for (u64 i = 0; i < n; i++)
		s = (u8)(s + p[i]);
	return s;
}

/* The image byte at guest physical address gpa (bounds-checked). */
static const u8 *at_gpa(u64 gpa, u64 len)
{
	CHECK(gpa >= BASE);
	CHECK(gpa - BASE + len <= sizeof(img));
	return img + (gpa - BASE);
}

static struct vacpi_layout build(const struct vacpi_config *cfg)
{
	struct vacpi_layout lo;
	const char *err = NULL;
	memset(img, 0xa5, sizeof(img)); /* padding must not depend on this */
	int rc = vacpi_build(img, sizeof(img), BASE, cfg, &lo, &err);
	if (rc)
		printf("  vacpi_build: %s\n", err ? err : "(no message)");
	CHECK_EQ(rc, 0);
	return lo;
}

static const u8 *rsdp(void) { return at_gpa(BASE, 36); }
static const u8 *xsdt(void) { return at_gpa(ld64(rsdp() + 24), 36); }

/* The XSDT entry whose table has this signature. */
static const u8 *table(const char sig[4])
{
	const u8 *x = xsdt();
	u32 len = ld32(x + 4);
	CHECK(len >= 36 && (len - 36) % 8 == 0);
	for (u32 off = 36; off < len; off += 8) {
		const u8 *t = at_gpa(ld64(x + off), 36);
		if (!memcmp(t, sig, 4))
			return at_gpa(ld64(x + off), ld32(t + 4));
	}
	CHECK(!"table not in XSDT");
	return NULL;
}

static const u8 *fadt(void) { return table("FACP"); }
static const u8 *dsdt(void) { return at_gpa(ld64(fadt() + 140), 36); }

static void check_header(const u8 *t, const char *sig, u32 len, u8 rev)
{
	CHECK(!memcmp(t, sig, 4));
	CHECK_EQ(ld32(t + 4), len);
	CHECK_EQ(t[8], rev);
	CHECK(!memcmp(t + 10, "TERN  ", 6));
	CHECK_EQ(sum8(t, len), 0);
}

TEST(rsdp_fields_and_both_checksums)
{
	struct vacpi_layout lo = build(&def_cfg);
	const u8 *r = rsdp();
	CHECK_EQ(lo.rsdp_gpa, BASE);
	CHECK(!memcmp(r, "RSD PTR ", 8));
	CHECK_EQ(sum8(r, 20), 0);
	CHECK_EQ(sum8(r, 36), 0);
	CHECK(!memcmp(r + 9, "TERN  ", 6));
	CHECK_EQ(r[15], 2);
	CHECK_EQ(ld32(r + 20), 36);
	CHECK_EQ(ld64(r + 24), lo.xsdt_gpa);
	CHECK_EQ(ld64(r + 24) % 8, 0);
	/* Each checksum is really used: break a byte and the sum is not 0. */
	img[10] ^= 1;
	CHECK(sum8(r, 20) != 0);
	img[10] ^= 1;
	img[30] ^= 1;
	CHECK(sum8(r, 36) != 0);
}

TEST(xsdt_points_to_fadt_and_madt)
{
	struct vacpi_layout lo = build(&def_cfg);
	const u8 *x = xsdt();
	check_header(x, "XSDT", 36 + 16, 1);
	CHECK_EQ(ld64(x + 36), lo.fadt_gpa);
	CHECK_EQ(ld64(x + 44), lo.madt_gpa);
	CHECK(!memcmp(at_gpa(ld64(x + 36), 4), "FACP", 4));
	CHECK(!memcmp(at_gpa(ld64(x + 44), 4), "APIC", 4));
}

static void check_gas_io8(const u8 *g, u16 port)
{
	CHECK_EQ(g[0], 1); /* system I/O */
	CHECK_EQ(g[1], 8); /* bit width */
	CHECK_EQ(g[2], 0); /* bit offset */
	CHECK_EQ(g[3], 1); /* byte access */
	CHECK_EQ(ld64(g + 4), port);
}

TEST(fadt_hardware_reduced_with_sleep_and_reset)
{
	struct vacpi_layout lo = build(&def_cfg);
	const u8 *f = fadt();
	check_header(f, "FACP", 276, 6);
	CHECK_EQ(f[131], 5); /* minor version: 6.5 */
	u32 flags = ld32(f + 112);
	CHECK(flags & (1u << 20)); /* HW_REDUCED_ACPI */
	CHECK(flags & (1u << 10)); /* RESET_REG_SUP */
	/* exactly: WBINVD, PWR_BUTTON, SLP_BUTTON, RESET_REG_SUP, HW_REDUCED */
	CHECK_EQ(flags, 0x00100431);
	/* IAPC_BOOT_ARCH: no LEGACY_DEVICES (bit 0), no 8042 (bit 1),
	 * VGA not present (bit 2), MSI not supported (3), no CMOS RTC (5). */
	CHECK_EQ(ld16(f + 109), 0x002c);
	CHECK_EQ(ld32(f + 36), 0); /* no FACS */
	CHECK_EQ(ld32(f + 40), 0); /* 32-bit DSDT unused */
	CHECK_EQ(ld64(f + 132), 0);
	CHECK_EQ(ld64(f + 140), lo.dsdt_gpa);
	CHECK_EQ(ld16(f + 46), 0); /* no SCI */
	for (int off = 56; off < 88; off++) /* no PM1/PM2/PM_TMR/GPE blocks */
		CHECK_EQ(f[off], 0);
	for (int off = 148; off < 244; off++) /* nor their X_ forms */
		CHECK_EQ(f[off], 0);
	check_gas_io8(f + 116, 0x604);
	CHECK_EQ(f[128], 0x0e);
	check_gas_io8(f + 244, 0x600);
	check_gas_io8(f + 256, 0x601);
	CHECK(!memcmp(f + 268, "TERN    ", 8));
}

TEST(madt_one_lapic_no_ioapic_no_8259)
{
	build(&def_cfg);
	const u8 *m = table("APIC");
	check_header(m, "APIC", 44 + 8, 5);
	CHECK_EQ(ld32(m + 36), 0xfee00000);
	CHECK_EQ(ld32(m + 40), 0); /* PCAT_COMPAT clear */
	const u8 *e = m + 44;
	CHECK_EQ(e[0], 0); /* Processor Local APIC */
	CHECK_EQ(e[1], 8);
	CHECK_EQ(e[2], 0); /* UID */
	CHECK_EQ(e[3], 0); /* APIC ID */
	CHECK_EQ(ld32(e + 4), 1); /* enabled */
}

/* IDs 0..254 as Local APIC entries, 255 and above as x2APIC (section
 * 5.2.12.12); entry i has APIC ID and UID i, all enabled. */
TEST(madt_many_cpus_switch_to_x2apic_entries)
{
	struct vacpi_config c = def_cfg;
	c.ncpus = 300;
	build(&c);
	const u8 *m = table("APIC");
	u32 len = 44 + 255 * 8 + 45 * 16;
	check_header(m, "APIC", len, 5);
	const u8 *e = m + 44;
	for (u32 id = 0; id < 300; id++) {
		if (id < 255) {
			CHECK_EQ(e[0], 0);
			CHECK_EQ(e[1], 8);
			CHECK_EQ(e[2], id);
			CHECK_EQ(e[3], id);
			CHECK_EQ(ld32(e + 4), 1);
		} else {
			CHECK_EQ(e[0], 9);
			CHECK_EQ(e[1], 16);
			CHECK_EQ(ld16(e + 2), 0);
			CHECK_EQ(ld32(e + 4), id);
			CHECK_EQ(ld32(e + 8), 1);
			CHECK_EQ(ld32(e + 12), id);
		}
		e += e[1];
	}
	CHECK(e == m + len);
}

/*
 * The DSDT body for COM1 at 0x3f8 and SLP_TYP 5, from ACPI 6.5 section 20
 * (one-byte PkgLength = whole package length including itself, < 64):
 *   Scope (\_SB) {                       10 <pkglen 0x30> 5C "_SB_"
 *     Device (COM1) {                    5B 82 <pkglen 0x28> "COM1"
 *       Name (_HID, EisaId ("PNP0501"))  08 "_HID" 0C 41 D0 05 01
 *         P=0x10 N=0x0E P=0x10: 0x10<<10 | 0x0E<<5 | 0x10 = 0x41D0, high
 *         byte first; then the digits 05 01
 *       Name (_UID, Zero)                08 "_UID" 00
 *       Name (_CRS, Buffer (10) {        08 "_CRS" 11 <pkglen 0x0D> 0A 0A
 *         IO (Decode16, 0x3F8, 0x3F8, 0, 8)  47 01 F8 03 F8 03 00 08
 *         EndTag                         79 <0x41>: 0x47+0x01+0xF8+0x03+0xF8
 *                                        +0x03+0x08+0x79 = 0x2BF, -0xBF = 0x41
 *   } } }
 *   Name (_S5, Package (4) {5, 5, 0, 0})  08 "_S5_" 12 <pkglen 8> 04 0A 05 0A 05 00 00
 * Package lengths: buffer 1 + 2 + 10 = 13; device 1 + 4 + 10 + 6 + 19 = 40;
 * scope 1 + 5 + 42 = 48; package 1 + 1 + 2 + 2 + 1 + 1 = 8.
 */
static const u8 dsdt_body[] = {
	0x10, 0x30, '\\', '_', 'S', 'B', '_',
	0x5b, 0x82, 0x28, 'C', 'O', 'M', '1',
	0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01,
	0x08, '_', 'U', 'I', 'D', 0x00,
	0x08, '_', 'C', 'R', 'S', 0x11, 0x0d, 0x0a, 0x0a,
	0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x00, 0x08, 0x79, 0x41,
	0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00,
};

TEST(dsdt_aml_matches_hand_encoding)
{
	struct vacpi_layout lo = build(&def_cfg);
	const u8 *d = dsdt();
	CHECK_EQ(sizeof(dsdt_body), 63);
	check_header(d, "DSDT", 36 + sizeof(dsdt_body), 2);
	CHECK(!memcmp(d + 36, dsdt_body, sizeof(dsdt_body)));
	/* The DSDT is the last table and the size covers it exactly. */
	CHECK_EQ(lo.dsdt_gpa + 36 + sizeof(dsdt_body), BASE + lo.size);
}

/* Another port and sleep type change exactly the bytes that encode them. */
TEST(dsdt_follows_config)
{
	struct vacpi_config c = def_cfg;
	c.com1_port = 0x2f8;
	c.s5_slp_typ = 1;
	build(&c);
	const u8 *d = dsdt();
	u8 want[sizeof(dsdt_body)];
	memcpy(want, dsdt_body, sizeof(want));
	want[42] = 0x02; /* min base high byte */
	want[44] = 0x02; /* max base high byte */
	want[48] = 0x43; /* end tag checksum: one 0x01 less in each of two bytes */
	/* _S5: OneOp (0x01) instead of BytePrefix 05: two bytes shorter */
	static const u8 s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04, 0x01, 0x01, 0x00, 0x00 };
	memcpy(want + 49, s5, sizeof(s5));
	u32 len = 49 + sizeof(s5);
	check_header(d, "DSDT", 36 + len, 2);
	CHECK(!memcmp(d + 36, want, len));
}

/* Section 20.2.4: one byte up to 63 total; then bits 7:6 = extra bytes,
 * bits 3:0 the low nibble, the following bytes the rest. */
TEST(pkglength_encodings)
{
	u8 b[4];
	CHECK_EQ(vacpi_pkglength(0, b), 1);
	CHECK_EQ(b[0], 1);
	CHECK_EQ(vacpi_pkglength(62, b), 1);
	CHECK_EQ(b[0], 63);
	CHECK_EQ(vacpi_pkglength(63, b), 2); /* total 65 = 0x041 */
	CHECK_EQ(b[0], 0x41);
	CHECK_EQ(b[1], 0x04);
	CHECK_EQ(vacpi_pkglength(0xffd, b), 2); /* total 0xfff */
	CHECK_EQ(b[0], 0x4f);
	CHECK_EQ(b[1], 0xff);
	CHECK_EQ(vacpi_pkglength(0xffe, b), 3); /* total 0x1001 */
	CHECK_EQ(b[0], 0x81);
	CHECK_EQ(b[1], 0x00);
	CHECK_EQ(b[2], 0x01);
	CHECK_EQ(vacpi_pkglength(0x123456, b), 4); /* total 0x12345a */
	CHECK_EQ(b[0], 0xca);
	CHECK_EQ(b[1], 0x45);
	CHECK_EQ(b[2], 0x23);
	CHECK_EQ(b[3], 0x01);
	CHECK_EQ(vacpi_pkglength(0xffffffb, b), 4);
	CHECK_EQ(vacpi_pkglength(0xffffffc, b), 0);
}

TEST(layout_aligned_and_contiguous)
{
	struct vacpi_layout lo = build(&def_cfg);
	CHECK_EQ(lo.xsdt_gpa % 16, 0);
	CHECK_EQ(lo.fadt_gpa % 16, 0);
	CHECK_EQ(lo.madt_gpa % 16, 0);
	CHECK_EQ(lo.dsdt_gpa % 16, 0);
	CHECK(lo.rsdp_gpa + 36 <= lo.xsdt_gpa);
	CHECK(lo.xsdt_gpa + 52 <= lo.fadt_gpa);
	CHECK(lo.fadt_gpa + 276 <= lo.madt_gpa);
	CHECK(lo.madt_gpa + 52 <= lo.dsdt_gpa);
	CHECK(lo.size <= 1024);
	/* padding is zeroed, not left from the buffer's old contents */
	for (u64 g = lo.rsdp_gpa + 36; g < lo.xsdt_gpa; g++)
		CHECK_EQ(*at_gpa(g, 1), 0);
	for (u64 g = lo.xsdt_gpa + 52; g < lo.fadt_gpa; g++)
		CHECK_EQ(*at_gpa(g, 1), 0);
	/* beyond size nothing was written */
	CHECK_EQ(img[lo.size], 0xa5);
}

/* Every buffer size below the needed one fails cleanly; the heap buffer of
 * exactly that size lets ASan catch any write past it. */
TEST(buffer_too_small_fails_without_overflow)
{
	struct vacpi_layout lo = build(&def_cfg), lo2;
	u64 need = lo.size;
	for (u64 n = 0; n <= need; n++) {
		u8 *b = malloc(n ? n : 1);
		const char *err = NULL;
		int rc = vacpi_build(b, n, BASE, &def_cfg, &lo2, &err);
		int same = rc == 0 && !memcmp(b, img, need);
		free(b);
		if (n < need) {
			CHECK_EQ(rc, -1);
			CHECK(err && strstr(err, "too small"));
		} else {
			CHECK_EQ(rc, 0);
			CHECK(same);
			CHECK_EQ(lo2.size, need);
		}
	}
}

TEST(bad_config_rejected)
{
	struct vacpi_layout lo;
	const char *err;
	struct vacpi_config c;
#define EXPECT_BAD(field, value)                                                  \
	do {                                                                      \
		c = def_cfg;                                                      \
		c.field = value;                                                  \
		err = NULL;                                                       \
		CHECK_EQ(vacpi_build(img, sizeof(img), BASE, &c, &lo, &err), -1); \
		CHECK(err != NULL);                                               \
	} while (0)
	EXPECT_BAD(ncpus, 0);
	EXPECT_BAD(ncpus, VACPI_MAX_CPUS + 1);
	EXPECT_BAD(sleep_ctl_port, 0);
	EXPECT_BAD(sleep_sts_port, 0x600);
	EXPECT_BAD(reset_port, 0x601);
	EXPECT_BAD(s5_slp_typ, 8);
	EXPECT_BAD(com1_port, 0x5fe); /* 0x5fe..0x605 covers the sleep ports */
	EXPECT_BAD(com1_port, 0xfffa);
#undef EXPECT_BAD
	err = NULL;
	CHECK_EQ(vacpi_build(img, sizeof(img), BASE + 8, &def_cfg, &lo, &err), -1);
	CHECK(err != NULL);
	err = NULL;
	CHECK_EQ(vacpi_build(img, sizeof(img), ~0ull - 255, &def_cfg, &lo, &err), -1);
	CHECK(err != NULL);
	/* the most CPUs still fit the documented maximum buffer */
	c = def_cfg;
	c.ncpus = VACPI_MAX_CPUS;
	CHECK_EQ(vacpi_build(img, sizeof(img), BASE, &c, &lo, &err), 0);
}

TEST(port_writes_power_off_and_reset)
{
	const struct vacpi_config *c = &def_cfg;
	CHECK(vacpi_owns_port(c, 0x600));
	CHECK(vacpi_owns_port(c, 0x601));
	CHECK(vacpi_owns_port(c, 0x604));
	CHECK(!vacpi_owns_port(c, 0x602));
	CHECK(!vacpi_owns_port(c, 0x3f8));
	/* Linux: (SLP_TYP 5 << 2) | SLP_EN 0x20 = 0x34 */
	CHECK_EQ(vacpi_port_write(c, 0x600, 0x34), VACPI_EV_POWEROFF);
	CHECK_EQ(vacpi_port_write(c, 0x600, 0x14), VACPI_EV_NONE); /* no SLP_EN */
	CHECK_EQ(vacpi_port_write(c, 0x600, 0x30), VACPI_EV_NONE); /* SLP_TYP 4 */
	CHECK_EQ(vacpi_port_write(c, 0x601, 0x80), VACPI_EV_NONE); /* WAK_STS clear */
	CHECK_EQ(vacpi_port_write(c, 0x601, 0x34), VACPI_EV_NONE);
	CHECK_EQ(vacpi_port_write(c, 0x604, 0x0e), VACPI_EV_RESET);
	CHECK_EQ(vacpi_port_write(c, 0x604, 0x0f), VACPI_EV_NONE);
	CHECK_EQ(vacpi_port_write(c, 0x3f8, 0x34), VACPI_EV_NONE);
}

/*
 * ACPICA's iasl, an implementation independent of ours: every table
 * disassembles without errors or warnings (iasl 20200925 does not take a
 * lone RSDP, whose fields the first test checks), and the disassembled DSDT
 * recompiles, without optimizations, to our AML byte for byte, except the
 * end tag's checksum, which iasl leaves 0 ("treat as valid").
 */
static int write_file(const char *path, const u8 *p, u64 n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	int ok = fwrite(p, 1, n, f) == n;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

static u64 read_file(const char *path, u8 *p, u64 cap)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	u64 n = fread(p, 1, cap, f);
	fclose(f);
	return n;
}

TEST(iasl_disassembles_every_table)
{
	if (system("command -v iasl >/dev/null 2>&1") != 0) {
		printf("SKIP iasl_disassembles_every_table: iasl not installed (acpica-tools)\n");
		return;
	}
	build(&def_cfg);
	char dir[] = "/tmp/test_vacpi.XXXXXX";
	CHECK(mkdtemp(dir));
	struct { const char *name; const u8 *t; } tabs[] = {
		{ "xsdt", xsdt() }, { "facp", fadt() }, { "apic", table("APIC") }, { "dsdt", dsdt() },
	};
	char cmd[512];
	int failures = 0;
	for (size_t i = 0; i < ARRAY_SIZE(tabs); i++) {
		snprintf(cmd, sizeof(cmd), "%s/%s.dat", dir, tabs[i].name);
		CHECK_EQ(write_file(cmd, tabs[i].t, ld32(tabs[i].t + 4)), 0);
		snprintf(cmd, sizeof(cmd),
			 "cd %s && iasl -d %s.dat > %s.log 2>&1 && ! grep -Eiq "
			 "'(error|warning)' %s.dsl %s.log",
			 dir, tabs[i].name, tabs[i].name, tabs[i].name, tabs[i].name);
		if (system(cmd) != 0) {
			printf("  iasl -d %s failed: see %s/%s.log\n", tabs[i].name, dir,
			       tabs[i].name);
			failures++;
		}
	}
	CHECK_EQ(failures, 0);

	snprintf(cmd, sizeof(cmd),
		 "cd %s && iasl -oa -p re dsdt.dsl > re.log 2>&1 && "
		 "grep -q ' 0 Errors, 0 Warnings' re.log", dir);
	CHECK_EQ(system(cmd), 0);
	static u8 re[1024];
	snprintf(cmd, sizeof(cmd), "%s/re.aml", dir);
	u64 n = read_file(cmd, re, sizeof(re));
	CHECK_EQ(n, 36 + sizeof(dsdt_body));
	CHECK(!memcmp(re, "DSDT", 4));
	CHECK_EQ(re[36 + 48], 0);     /* iasl's end tag checksum */
	re[36 + 48] = dsdt_body[48]; /* ours: 0x41 */
	CHECK(!memcmp(re + 36, dsdt() + 36, sizeof(dsdt_body)));

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_EQ(system(cmd), 0);
}
