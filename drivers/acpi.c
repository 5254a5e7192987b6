/*
 * ACPI table lookup (RSDP -> XSDT/RSDT -> table) and the S5 sleep type from
 * the DSDT's \_S5 package. We do not interpret AML: \_S5 is, on every
 * firmware we know, a literal package whose first two elements are the
 * SLP_TYP values, so a pattern read of that package is enough.
 */
#include <tern/acpi.h>
#include <tern/mm.h>
#include <string.h>

struct sdt_header {
	char sig[4];
	u32 length;
	u8 revision, checksum;
	char oem[6], oem_table[8];
	u32 oem_rev, creator, creator_rev;
} __packed;

#define TABLE_MAX_LEN (16u << 20)

static bool checksum_ok(const void *p, u32 len)
{
	const u8 *b = p;
	u8 sum = 0;
	for (u32 i = 0; i < len; i++)
		sum += b[i];
	return sum == 0;
}

static const struct sdt_header *table_at(u64 pa)
{
	const struct sdt_header *h = phys_to_virt(pa);
	if (!pa || h->length < sizeof(*h) || h->length > TABLE_MAX_LEN || !checksum_ok(h, h->length))
		return NULL;
	return h;
}

const void *acpi_find_table(u64 rsdp_phys, const char sig[4])
{
	const u8 *rsdp = phys_to_virt(rsdp_phys);
	if (!rsdp_phys || memcmp(rsdp, "RSD PTR ", 8) || !checksum_ok(rsdp, 20))
		return NULL;
	u8 rev = rsdp[15];
	u32 rsdt;
	u64 xsdt = 0;
	memcpy(&rsdt, rsdp + 16, 4);
	if (rev >= 2)
		memcpy(&xsdt, rsdp + 24, 8);
	const struct sdt_header *root = table_at(xsdt ? xsdt : rsdt);
	if (!root)
		return NULL;
	u32 esize = xsdt ? 8 : 4;
	const u8 *entries = (const u8 *)(root + 1);
	u32 n = (root->length - sizeof(*root)) / esize;
	for (u32 i = 0; i < n; i++) {
		u64 pa = 0;
		memcpy(&pa, entries + i * esize, esize);
		const struct sdt_header *t = table_at(pa);
		if (t && !memcmp(t->sig, sig, 4))
			return t;
	}
	return NULL;
}

/* Read one AML integer element of a package: ZeroOp, OneOp, BytePrefix, WordPrefix. */
static int aml_int(const u8 **p, const u8 *end, u16 *v)
{
	if (*p >= end)
		return -1;
	switch (**p) {
	case 0x00: *v = 0; *p += 1; return 0;
	case 0x01: *v = 1; *p += 1; return 0;
	case 0x0a: if (*p + 2 > end) return -1; *v = (*p)[1]; *p += 2; return 0;
	case 0x0b: if (*p + 3 > end) return -1; *v = (u16)((*p)[1] | (*p)[2] << 8); *p += 3; return 0;
	default: return -1;
	}
}

static int parse_s5(const struct sdt_header *dsdt, struct acpi_sleep *s)
{
	const u8 *b = (const u8 *)dsdt, *end = b + dsdt->length;
	for (const u8 *p = b + sizeof(*dsdt); p + 8 < end; p++) {
		if (memcmp(p, "_S5_", 4) || p[4] != 0x12) /* PackageOp */
			continue;
		const u8 *q = p + 5;
		q += 1 + (*q >> 6); /* PkgLength: lead byte + follow bytes */
		q += 1;             /* NumElements */
		if (!aml_int(&q, end, &s->slp_typ_a) && !aml_int(&q, end, &s->slp_typ_b))
			return 0;
	}
	return -1;
}

int acpi_s5_info(u64 rsdp_phys, struct acpi_sleep *s, const char **err)
{
	const u8 *fadt = acpi_find_table(rsdp_phys, "FACP");
	memset(s, 0, sizeof(*s));
	if (!fadt) {
		*err = "no ACPI FADT";
		return -1;
	}
	u32 len = ((const struct sdt_header *)fadt)->length;
	u32 dsdt32 = 0;
	u64 dsdt = 0;
	memcpy(&dsdt32, fadt + 40, 4);
	memcpy(&s->smi_cmd, fadt + 48, 4);
	s->acpi_enable = fadt[52];
	memcpy(&s->pm1a_cnt, fadt + 64, 4);
	memcpy(&s->pm1b_cnt, fadt + 68, 4);
	if (len >= 148)
		memcpy(&dsdt, fadt + 140, 8);
	const struct sdt_header *d = table_at(dsdt ? dsdt : dsdt32);
	if (!s->pm1a_cnt) {
		*err = "FADT has no PM1a control block";
		return -1;
	}
	if (!d || parse_s5(d, s)) {
		*err = "no \\_S5 package in the DSDT";
		return -1;
	}
	return 0;
}
