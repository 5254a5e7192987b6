/*
 * Translating a guest linear address to a guest-physical one by walking
 * the guest's own page tables, as the CPU would (SDM Vol. 3 4.3-4.5): for
 * exits that report a linear address and leave the access to Tern (string
 * port I/O). Pure code over a callback that reads guest RAM; unit-tested.
 */
#ifndef TERN_GUEST_WALK_H
#define TERN_GUEST_WALK_H

#include <tern/types.h>

/* The paging state that decides the walk, from CR0, CR4 and EFER. */
struct gwalk_mode {
	bool paging;  /* CR0.PG */
	bool pae;     /* CR4.PAE */
	bool lma;     /* EFER.LMA: 4-level paging */
	bool pse;     /* CR4.PSE: 4 MiB pages without PAE */
	bool wp;      /* CR0.WP: supervisor writes honour R/W */
	u64 cr3;
};

/* Guest RAM as the walker sees it: entries are read and A/D bits set in it. */
struct gwalk_mem {
	/* Pointer to the 8 (or, without PAE, 4) bytes at gpa; NULL outside RAM. */
	void *(*ptr)(void *ctx, u64 gpa, unsigned len);
	/* Told of every page-table entry the walk modified (for the dirty log). */
	void (*touched)(void *ctx, u64 gpa);
	void *ctx;
};

enum gwalk_result {
	GW_OK,
	GW_PAGE_FAULT,  /* *pf_error holds the #PF error code to inject */
	GW_BAD_TABLE,   /* a paging structure lies outside guest RAM */
};

#define PF_ERR_PRESENT (1u << 0)
#define PF_ERR_WRITE (1u << 1)
#define PF_ERR_USER (1u << 2)
#define PF_ERR_RSVD (1u << 3)

/*
 * Translate la for a data access (write or read; user: CPL 3). Sets the
 * accessed flags on the way and the dirty flag of the leaf for a write,
 * as the CPU does. Returns GW_OK with *gpa set, or why not.
 */
enum gwalk_result guest_walk(const struct gwalk_mode *m, const struct gwalk_mem *mem, u64 la,
			     bool write, bool user, u64 *gpa, u32 *pf_error);

#endif
