/*
 * A software walk of the guest's page tables (contract in guest_walk.h).
 * Three formats: 4-level (EFER.LMA), PAE (3 levels, 32-bit addresses) and
 * 32-bit (2 levels of 4-byte entries, 4 MiB pages with CR4.PSE). The walk
 * first checks the whole path, and only when the access is allowed sets
 * the accessed flags (and the leaf's dirty flag for a write), so a faulting
 * access leaves the tables as they were. Reserved-bit faults and
 * protection keys are not modelled; the guests this serves do not rely
 * on them.
 */
#include "guest_walk.h"

#define E_P (1ULL << 0)
#define E_RW (1ULL << 1)
#define E_US (1ULL << 2)
#define E_A (1ULL << 5)
#define E_D (1ULL << 6)
#define E_PS (1ULL << 7)
#define ADDR_MASK 0x000ffffffffff000ULL

struct step {
	void *entry; /* where the entry lies in guest RAM */
	u64 gpa;
	bool wide;   /* 8-byte entry (else 4 bytes) */
};

static u64 load(const struct step *s)
{
	return s->wide ? *(volatile u64 *)s->entry : *(volatile u32 *)s->entry;
}

static void set_bits(const struct gwalk_mem *mem, const struct step *s, u64 bits)
{
	u64 e = load(s);
	if ((e & bits) == bits)
		return;
	if (s->wide)
		*(volatile u64 *)s->entry = e | bits;
	else
		*(volatile u32 *)s->entry = (u32)(e | bits);
	if (mem->touched)
		mem->touched(mem->ctx, s->gpa);
}

enum gwalk_result guest_walk(const struct gwalk_mode *m, const struct gwalk_mem *mem, u64 la,
			     bool write, bool user, u64 *gpa, u32 *pf_error)
{
	struct step path[4];
	int levels, n = 0;
	u64 table, e = 0;
	bool rw = true, us = true, wide = true;

	if (!m->paging) {
		*gpa = la & 0xffffffffULL;
		return GW_OK;
	}
	if (m->lma) {
		levels = 4, table = m->cr3 & ADDR_MASK;
	} else if (m->pae) {
		/* The 4 PDPTEs: 32-byte aligned, no R/W or U/S bits of their own. */
		levels = 3, table = m->cr3 & 0xffffffe0ULL;
		la &= 0xffffffffULL;
	} else {
		levels = 2, table = m->cr3 & 0xfffff000ULL, wide = false;
		la &= 0xffffffffULL;
	}
	for (int level = levels; level >= 1; level--) {
		/* 9 index bits per level (10 with 4-byte entries), 2 for PAE's PDPT. */
		unsigned bits = wide ? 9 : 10, shift = 12 + (unsigned)(level - 1) * bits;
		if (m->pae && !m->lma && level == 3)
			bits = 2;
		u64 index = (la >> shift) & ((1ULL << bits) - 1);
		u64 egpa = table + index * (wide ? 8 : 4);
		struct step *s = &path[n++];
		s->gpa = egpa;
		s->wide = wide;
		s->entry = mem->ptr(mem->ctx, egpa, wide ? 8 : 4);
		if (!s->entry)
			return GW_BAD_TABLE;
		e = load(s);
		if (!(e & E_P)) {
			*pf_error = (write ? PF_ERR_WRITE : 0) | (user ? PF_ERR_USER : 0);
			return GW_PAGE_FAULT;
		}
		bool pdpte = m->pae && !m->lma && level == 3;
		if (!pdpte) {
			rw = rw && (e & E_RW);
			us = us && (e & E_US);
		}
		bool leaf = level == 1 || (!pdpte && (e & E_PS) &&
					   (wide ? level <= 3 : m->pse));
		if (leaf) {
			u64 page_mask = (1ULL << shift) - 1, base;
			if (wide)
				base = e & ADDR_MASK & ~page_mask;
			else if (level == 2) /* 4 MiB page: PSE-36 puts bits 39:32 at 20:13 */
				base = (e & 0xffc00000ULL) | ((e >> 13) & 0xffULL) << 32;
			else
				base = e & 0xfffff000ULL;
			if ((write && !rw && (user || m->wp)) || (user && !us)) {
				*pf_error = PF_ERR_PRESENT | (write ? PF_ERR_WRITE : 0) |
					    (user ? PF_ERR_USER : 0);
				return GW_PAGE_FAULT;
			}
			for (int i = 0; i < n; i++) {
				bool is_pdpte = m->pae && !m->lma && i == 0;
				if (!is_pdpte)
					set_bits(mem, &path[i], E_A | (write && i == n - 1 ? E_D : 0));
			}
			*gpa = base | (la & page_mask);
			return GW_OK;
		}
		table = wide ? e & ADDR_MASK : e & 0xfffff000ULL;
	}
	return GW_BAD_TABLE; /* not reached: level 1 is always a leaf */
}
