/*
 * The guest's ACPI tables, built at VM creation into a buffer the guest sees
 * at a fixed physical address. Layout, each table 16-byte aligned:
 *   RSDP (36) | XSDT (36 + 8 * 2) | FADT (276) | MADT (44 + 8 or 16 per CPU) | DSDT
 * Fields are stored one byte at a time, little-endian, at the offsets of
 * ACPI 6.5 (sections 5.2.5 RSDP, 5.2.8 XSDT, 5.2.9 FADT, 5.2.12 MADT), so
 * neither the host's alignment nor struct packing matters. The DSDT's AML is
 * emitted by the small encoder below (ACPI 6.5 section 20.2), not pasted.
 */
#include <tern/vacpi.h>
#include <string.h>

#define OEM_ID "TERN  "        /* 6 bytes */
#define OEM_TABLE_ID "TERNVM  " /* 8 bytes */
#define CREATOR_ID "TERN"
#define HDR_LEN 36

#define RSDP_LEN 36
#define XSDT_ENTRIES 2 /* FADT, MADT: the DSDT hangs off the FADT */
#define FADT_LEN 276   /* ACPI 6.0 and later: up to the hypervisor vendor id */
#define FADT_REVISION 6
#define FADT_MINOR 5
#define MADT_REVISION 5
#define MADT_LAPIC_LEN 8
#define MADT_X2APIC_LEN 16
#define DSDT_REVISION 2 /* 64-bit AML integers */

/* FADT field offsets and bits (ACPI 6.5 table 5.9, 5.10, 5.11). */
#define FADT_DSDT 40
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_MINOR_VERSION 131
#define FADT_X_DSDT 140
#define FADT_SLEEP_CONTROL_REG 244
#define FADT_SLEEP_STATUS_REG 256
#define FADT_HYPERVISOR_ID 268
#define BOOT_VGA_NOT_PRESENT (1u << 2)
#define BOOT_MSI_NOT_SUPPORTED (1u << 3)
#define BOOT_CMOS_RTC_NOT_PRESENT (1u << 5)
#define FLAG_WBINVD (1u << 0)
#define FLAG_PWR_BUTTON (1u << 4) /* no fixed-feature power button */
#define FLAG_SLP_BUTTON (1u << 5)
#define FLAG_RESET_REG_SUP (1u << 10)
#define FLAG_HW_REDUCED_ACPI (1u << 20)
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1

#define APIC_DEFAULT_BASE 0xfee00000u
#define MADT_ENABLED 1u

static void put16(u8 *p, u16 v)
{
	p[0] = (u8)v;
	p[1] = (u8)(v >> 8);
}

static void put32(u8 *p, u32 v)
{
	put16(p, (u16)v);
	put16(p + 2, (u16)(v >> 16));
}

static void put64(u8 *p, u64 v)
{
	put32(p, (u32)v);
	put32(p + 4, (u32)(v >> 32));
}

/* The byte that makes p[0..len) sum to 0 mod 256, with *csum taken as 0. */
static void fix_checksum(u8 *p, u64 len, u8 *csum)
{
	u8 sum = 0;
	*csum = 0;
	for (u64 i = 0; i < len; i++)
		sum = (u8)(sum + p[i]);
	*csum = (u8)-sum;
}

/* The common 36-byte header (ACPI 6.5 table 5.4); the checksum comes last. */
static void put_header(u8 *t, const char sig[4], u32 len, u8 revision)
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = revision;
	memcpy(t + 10, OEM_ID, 6);
	memcpy(t + 16, OEM_TABLE_ID, 8);
	put32(t + 24, 1); /* OEM revision */
	memcpy(t + 28, CREATOR_ID, 4);
	put32(t + 32, 1); /* creator revision */
}

/* A Generic Address Structure (ACPI 6.5 table 5.1) for one I/O byte. */
static void put_gas_io8(u8 *g, u16 port)
{
	g[0] = GAS_SYSTEM_IO;
	g[1] = 8; /* bit width */
	g[2] = 0; /* bit offset */
	g[3] = GAS_ACCESS_BYTE;
	put64(g + 4, port);
}

static void build_rsdp(u8 *t, u64 xsdt_gpa)
{
	memcpy(t, "RSD PTR ", 8);
	memcpy(t + 9, OEM_ID, 6);
	t[15] = 2;        /* revision: ACPI 2.0+, XSDT present */
	put32(t + 16, 0); /* no RSDT: Linux takes the XSDT when revision > 1 */
	put32(t + 20, RSDP_LEN);
	put64(t + 24, xsdt_gpa);
	fix_checksum(t, 20, &t[8]);
	fix_checksum(t, RSDP_LEN, &t[32]);
}

static void build_xsdt(u8 *t, u64 fadt_gpa, u64 madt_gpa)
{
	u32 len = HDR_LEN + 8 * XSDT_ENTRIES;
	put_header(t, "XSDT", len, 1);
	put64(t + HDR_LEN, fadt_gpa);
	put64(t + HDR_LEN + 8, madt_gpa);
	fix_checksum(t, len, &t[9]);
}

/* Hardware-reduced: no PM1/GPE blocks, no SCI, no FACS (Linux ignores the
 * FACS on hardware-reduced platforms). The 32-bit DSDT field stays 0, so
 * X_DSDT is the only address given and the two cannot disagree. */
static void build_fadt(u8 *t, u64 dsdt_gpa, const struct vacpi_config *cfg)
{
	put_header(t, "FACP", FADT_LEN, FADT_REVISION);
	put32(t + FADT_DSDT, 0);
	/* No legacy devices, no 8042 (bits 0 and 1 clear); no VGA, MSI or RTC. */
	put16(t + FADT_IAPC_BOOT_ARCH, BOOT_VGA_NOT_PRESENT | BOOT_MSI_NOT_SUPPORTED |
					       BOOT_CMOS_RTC_NOT_PRESENT);
	put32(t + FADT_FLAGS, FLAG_WBINVD | FLAG_PWR_BUTTON | FLAG_SLP_BUTTON |
				      FLAG_RESET_REG_SUP | FLAG_HW_REDUCED_ACPI);
	put_gas_io8(t + FADT_RESET_REG, cfg->reset_port);
	t[FADT_RESET_VALUE] = cfg->reset_value;
	t[FADT_MINOR_VERSION] = FADT_MINOR;
	put64(t + FADT_X_DSDT, dsdt_gpa);
	put_gas_io8(t + FADT_SLEEP_CONTROL_REG, cfg->sleep_ctl_port);
	put_gas_io8(t + FADT_SLEEP_STATUS_REG, cfg->sleep_sts_port);
	memcpy(t + FADT_HYPERVISOR_ID, "TERN    ", 8);
	fix_checksum(t, FADT_LEN, &t[9]);
}

static u64 madt_len(u32 ncpus)
{
	u32 lapics = MIN(ncpus, (u32)VACPI_X2APIC_FIRST_ID);
	return HDR_LEN + 8 + (u64)lapics * MADT_LAPIC_LEN +
	       (u64)(ncpus - lapics) * MADT_X2APIC_LEN;
}

/* Flags 0: no PC-AT dual 8259. The processor UID equals the APIC ID. */
static void build_madt(u8 *t, u32 ncpus)
{
	u32 len = (u32)madt_len(ncpus);
	u8 *e = t + HDR_LEN + 8;

	put_header(t, "APIC", len, MADT_REVISION);
	put32(t + HDR_LEN, APIC_DEFAULT_BASE);
	put32(t + HDR_LEN + 4, 0);
	for (u32 id = 0; id < ncpus; id++) {
		if (id < VACPI_X2APIC_FIRST_ID) {
			e[0] = 0; /* Processor Local APIC */
			e[1] = MADT_LAPIC_LEN;
			e[2] = (u8)id; /* ACPI processor UID */
			e[3] = (u8)id; /* APIC ID */
			put32(e + 4, MADT_ENABLED);
			e += MADT_LAPIC_LEN;
		} else {
			e[0] = 9; /* Processor Local x2APIC */
			e[1] = MADT_X2APIC_LEN;
			put16(e + 2, 0);
			put32(e + 4, id); /* x2APIC ID */
			put32(e + 8, MADT_ENABLED);
			put32(e + 12, id); /* ACPI processor UID */
			e += MADT_X2APIC_LEN;
		}
	}
	fix_checksum(t, len, &t[9]);
}

/*
 * A bounded AML emitter. Writes past cap set overflow and are dropped, so
 * the builder can emit unconditionally and check once at the end.
 * Packages (PkgLength-prefixed terms) reserve four length bytes when opened;
 * closing encodes the real length in the fewest bytes and moves the body
 * down over the unused ones (ACPI 6.5 section 20.2.4).
 */
struct aml {
	u8 *p;
	u64 cap, len;
	bool overflow;
};

static void aml_byte(struct aml *a, u8 b)
{
	if (a->len >= a->cap) {
		a->overflow = true;
		return;
	}
	a->p[a->len++] = b;
}

static void aml_bytes(struct aml *a, const u8 *b, u64 n)
{
	for (u64 i = 0; i < n; i++)
		aml_byte(a, b[i]);
}

/* A NameSeg: 4 characters, short names padded with '_'. */
static void aml_nameseg(struct aml *a, const char *name)
{
	u64 n = strlen(name);
	for (u64 i = 0; i < 4; i++)
		aml_byte(a, i < n ? (u8)name[i] : '_');
}

/* Integers in the shortest encoding: ZeroOp, OneOp or a prefixed constant. */
static void aml_integer(struct aml *a, u64 v)
{
	if (v == 0 || v == 1) {
		aml_byte(a, (u8)v);
	} else if (v <= 0xff) {
		aml_byte(a, 0x0a);
		aml_byte(a, (u8)v);
	} else if (v <= 0xffff) {
		aml_byte(a, 0x0b);
		aml_byte(a, (u8)v);
		aml_byte(a, (u8)(v >> 8));
	} else if (v <= 0xffffffffu) {
		aml_byte(a, 0x0c);
		for (int i = 0; i < 4; i++)
			aml_byte(a, (u8)(v >> (8 * i)));
	} else {
		aml_byte(a, 0x0e);
		for (int i = 0; i < 8; i++)
			aml_byte(a, (u8)(v >> (8 * i)));
	}
}

/* EISAID("PNPxxxx") as a DWordConst, the form _HID takes: three 5-bit
 * letters (A = 1) big-endian in the first two bytes, then the four hex
 * digits as two bytes (ACPI 6.5 section 19.6.35). */
static void aml_eisaid(struct aml *a, const char id[7])
{
	u16 vendor = (u16)(((id[0] - 0x40) & 0x1f) << 10 | ((id[1] - 0x40) & 0x1f) << 5 |
			   ((id[2] - 0x40) & 0x1f));
	u8 digits[4];
	for (int i = 0; i < 4; i++) {
		char c = id[3 + i];
		digits[i] = (u8)(c <= '9' ? c - '0' : c - 'A' + 10);
	}
	aml_byte(a, 0x0c);
	aml_byte(a, (u8)(vendor >> 8));
	aml_byte(a, (u8)vendor);
	aml_byte(a, (u8)(digits[0] << 4 | digits[1]));
	aml_byte(a, (u8)(digits[2] << 4 | digits[3]));
}

#define PKG_RESERVE 4

static u64 aml_pkg_open(struct aml *a)
{
	u64 at = a->len;
	for (int i = 0; i < PKG_RESERVE; i++)
		aml_byte(a, 0);
	return at;
}

unsigned vacpi_pkglength(u64 body, u8 out[4])
{
	unsigned n;
	if (body + 1 <= 0x3f)
		n = 1;
	else if (body + 2 <= 0xfff)
		n = 2;
	else if (body + 3 <= 0xfffff)
		n = 3;
	else if (body + 4 <= 0xfffffff)
		n = 4;
	else
		return 0;
	u64 total = body + n;
	if (n == 1) {
		out[0] = (u8)total;
		return 1;
	}
	/* bits 7:6 count the bytes that follow, bits 3:0 are the low nibble */
	out[0] = (u8)((n - 1) << 6 | (total & 0xf));
	for (unsigned i = 1; i < n; i++)
		out[i] = (u8)(total >> (4 + 8 * (i - 1)));
	return n;
}

static void aml_pkg_close(struct aml *a, u64 at)
{
	if (a->overflow)
		return;
	u64 body = a->len - at - PKG_RESERVE;
	unsigned n = vacpi_pkglength(body, a->p + at);
	if (!n) {
		/* over 2^28 bytes: cannot happen in DSDT_SCRATCH, never emit garbage */
		a->overflow = true;
		return;
	}
	memmove(a->p + at + n, a->p + at + PKG_RESERVE, body);
	a->len = at + n + body;
}

/*
 * Device (COM1): the 16550 with only its I/O range, no IRQ descriptor:
 * Linux's 8250 driver then polls the port (a UART IRQ it cannot request
 * makes the console fail). The ResourceTemplate is an IO descriptor
 * (small item 0x08, 16-bit decode, min = max = base, 8 ports) and the end
 * tag (small item 0x0F) whose checksum makes the template sum to 0.
 */
static void aml_com1(struct aml *a, u16 base)
{
	u8 crs[10] = { 0x47, 0x01, (u8)base, (u8)(base >> 8), (u8)base, (u8)(base >> 8),
		       0x00, 0x08, 0x79, 0x00 };
	u8 sum = 0;
	for (unsigned i = 0; i < sizeof(crs) - 1; i++)
		sum = (u8)(sum + crs[i]);
	crs[9] = (u8)-sum;

	aml_byte(a, 0x5b); /* DeviceOp */
	aml_byte(a, 0x82);
	u64 dev = aml_pkg_open(a);
	aml_nameseg(a, "COM1");
	aml_byte(a, 0x08); /* NameOp */
	aml_nameseg(a, "_HID");
	aml_eisaid(a, "PNP0501");
	aml_byte(a, 0x08);
	aml_nameseg(a, "_UID");
	aml_integer(a, 0);
	aml_byte(a, 0x08);
	aml_nameseg(a, "_CRS");
	aml_byte(a, 0x11); /* BufferOp */
	u64 buf = aml_pkg_open(a);
	aml_integer(a, sizeof(crs));
	aml_bytes(a, crs, sizeof(crs));
	aml_pkg_close(a, buf);
	aml_pkg_close(a, dev);
}

/* Name (\_S5, Package () { typ, typ, 0, 0 }): SLP_TYPa, SLP_TYPb and two
 * reserved values; hardware-reduced OSPM writes only SLP_TYPa. */
static void aml_s5(struct aml *a, u8 slp_typ)
{
	aml_byte(a, 0x08);
	aml_nameseg(a, "_S5");
	aml_byte(a, 0x12); /* PackageOp */
	u64 pkg = aml_pkg_open(a);
	aml_byte(a, 4); /* NumElements */
	aml_integer(a, slp_typ);
	aml_integer(a, slp_typ);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_pkg_close(a, pkg);
}

/*
 * The DSDT at t, at most cap bytes; its length, or 0 if it did not fit.
 * Built in a scratch buffer first: open packages hold four length bytes
 * until they close, so the image briefly needs more room than its final
 * size, and bytes beyond that size must stay untouched. Its content does not
 * grow with the configuration, so the scratch size is fixed.
 */
#define DSDT_SCRATCH 256

static u64 build_dsdt(u8 *t, u64 cap, const struct vacpi_config *cfg)
{
	u8 scratch[DSDT_SCRATCH];
	struct aml a = { .p = scratch, .cap = sizeof(scratch), .len = 0, .overflow = false };
	for (int i = 0; i < HDR_LEN; i++)
		aml_byte(&a, 0);
	aml_byte(&a, 0x10); /* ScopeOp */
	u64 sb = aml_pkg_open(&a);
	aml_byte(&a, '\\');
	aml_nameseg(&a, "_SB");
	aml_com1(&a, cfg->com1_port);
	aml_pkg_close(&a, sb);
	aml_s5(&a, cfg->s5_slp_typ);
	if (a.overflow || a.len > cap)
		return 0;
	put_header(scratch, "DSDT", (u32)a.len, DSDT_REVISION);
	fix_checksum(scratch, a.len, &scratch[9]);
	memcpy(t, scratch, a.len);
	return a.len;
}

static const char *check_config(const struct vacpi_config *cfg)
{
	if (cfg->ncpus < 1 || cfg->ncpus > VACPI_MAX_CPUS)
		return "vacpi: CPU count out of range";
	if (!cfg->sleep_ctl_port || !cfg->sleep_sts_port || !cfg->reset_port)
		return "vacpi: sleep and reset ports must be non-zero";
	if (cfg->sleep_ctl_port == cfg->sleep_sts_port || cfg->sleep_ctl_port == cfg->reset_port ||
	    cfg->sleep_sts_port == cfg->reset_port)
		return "vacpi: sleep control, sleep status and reset ports must differ";
	if (cfg->s5_slp_typ > (VACPI_SLP_TYP_MASK >> VACPI_SLP_TYP_SHIFT))
		return "vacpi: S5 sleep type does not fit SLP_TYP";
	if (cfg->com1_port > 0xffff - 7)
		return "vacpi: COM1 range beyond the I/O space";
	u16 ports[3] = { cfg->sleep_ctl_port, cfg->sleep_sts_port, cfg->reset_port };
	for (int i = 0; i < 3; i++)
		if (ports[i] >= cfg->com1_port && ports[i] < cfg->com1_port + 8)
			return "vacpi: a sleep or reset port lies inside COM1's range";
	return NULL;
}

int vacpi_build(void *buf, u64 buf_size, u64 guest_phys_base,
		const struct vacpi_config *cfg, struct vacpi_layout *out,
		const char **err)
{
	u8 *b = buf;
	const char *bad = check_config(cfg);
	if (bad) {
		*err = bad;
		return -1;
	}
	if (guest_phys_base & 15) {
		*err = "vacpi: RSDP address not 16-byte aligned";
		return -1;
	}
	u64 xsdt = ALIGN_UP((u64)RSDP_LEN, 16);
	u64 fadt = ALIGN_UP(xsdt + HDR_LEN + 8 * XSDT_ENTRIES, 16);
	u64 madt = ALIGN_UP(fadt + FADT_LEN, 16);
	u64 dsdt = ALIGN_UP(madt + madt_len(cfg->ncpus), 16);
	if (buf_size < dsdt) {
		*err = "vacpi: buffer too small";
		return -1;
	}
	u64 dsdt_len = build_dsdt(b + dsdt, buf_size - dsdt, cfg);
	if (!dsdt_len) {
		*err = "vacpi: buffer too small";
		return -1;
	}
	u64 size = dsdt + dsdt_len;
	if (guest_phys_base > ~(u64)0 - size) {
		*err = "vacpi: tables would wrap the guest physical address space";
		return -1;
	}
	/* Padding between tables is zero, so the image does not depend on
	 * what buf held before. */
	memset(b, 0, dsdt);
	build_madt(b + madt, cfg->ncpus);
	build_fadt(b + fadt, guest_phys_base + dsdt, cfg);
	build_xsdt(b + xsdt, guest_phys_base + fadt, guest_phys_base + madt);
	build_rsdp(b, guest_phys_base + xsdt);

	out->rsdp_gpa = guest_phys_base;
	out->size = size;
	out->xsdt_gpa = guest_phys_base + xsdt;
	out->fadt_gpa = guest_phys_base + fadt;
	out->madt_gpa = guest_phys_base + madt;
	out->dsdt_gpa = guest_phys_base + dsdt;
	return 0;
}

bool vacpi_owns_port(const struct vacpi_config *cfg, u16 port)
{
	return port == cfg->sleep_ctl_port || port == cfg->sleep_sts_port ||
	       port == cfg->reset_port;
}

enum vacpi_event vacpi_port_write(const struct vacpi_config *cfg, u16 port, u8 value)
{
	if (port == cfg->sleep_ctl_port && (value & VACPI_SLP_EN) &&
	    ((value & VACPI_SLP_TYP_MASK) >> VACPI_SLP_TYP_SHIFT) == cfg->s5_slp_typ)
		return VACPI_EV_POWEROFF;
	if (port == cfg->reset_port && value == cfg->reset_value)
		return VACPI_EV_RESET;
	return VACPI_EV_NONE;
}
