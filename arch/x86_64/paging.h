/* Page-table helpers shared by host paging and EPT (arch-internal). */
#ifndef X86_PAGING_H
#define X86_PAGING_H

#include <tern/types.h>

/* struct pt callbacks over the identity map; ctx is a struct pmm. */
u64 paging_alloc_zeroed(void *ctx);
void *paging_map_identity(void *ctx, u64 pa);

#endif
