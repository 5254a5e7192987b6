/*
 * The physical page allocator: one bit per 4 KiB frame below the highest
 * usable address. Pure logic over a caller-given mapping function, so the
 * host unit tests run it over fake memory.
 */
#ifndef TERN_PMM_H
#define TERN_PMM_H

#include <tern/boot_info.h>

struct pmm {
	u64 *bitmap;     /* bit set = frame in use or not RAM */
	u64 nr_frames;   /* frames covered by the bitmap */
	u64 free_frames;
	u64 total_usable;
	u64 bitmap_phys;
	u64 hint;        /* frame to start the next search from */
};

/*
 * Build the allocator from the boot_info memory map. Never hands out: memory
 * not typed usable, the first MiB, the hypervisor image, boot modules,
 * bi->reserved ranges, or the bitmap itself (placed in the first usable range
 * that holds it). map(pa) gives a pointer to physical memory.
 * Returns 0, or -1 if no usable memory can hold the bitmap.
 */
int pmm_init(struct pmm *pmm, const struct boot_info *bi, void *(*map)(u64 pa));
/* n contiguous frames aligned to align bytes (a power of two >= 4096); 0 if none. */
u64 pmm_alloc(struct pmm *pmm, u64 n, u64 align);
void pmm_free(struct pmm *pmm, u64 pa, u64 n);
bool pmm_is_free(const struct pmm *pmm, u64 pa);

#endif
