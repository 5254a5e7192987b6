/*
 * Address spaces of the hypervisor: physical memory is identity mapped
 * (host page tables, arch/x86_64/paging.c), the image runs in the higher
 * half at TERN_VIRT_BASE wherever it was loaded physically.
 */
#ifndef TERN_MM_H
#define TERN_MM_H

#include <tern/types.h>

#define KERNEL_HALF 0xffffffff80000000ULL

extern u64 kernel_load_delta; /* load address - TERN_LINK_PHYS */

static inline u64 virt_to_phys(const void *p)
{
	u64 v = (u64)p;
	if (v >= KERNEL_HALF)
		return v - KERNEL_HALF + kernel_load_delta;
	return v;
}

static inline void *phys_to_virt(u64 pa)
{
	return (void *)pa;
}

#endif
