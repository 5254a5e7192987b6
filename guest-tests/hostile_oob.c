/*
 * A hostile guest: it maps a guest-physical address above its RAM into its own
 * page tables and reads it. The guest page walk succeeds, so the access
 * reaches Tern's EPT, which has nothing there; Tern must stop this VM
 * ("vm0: stopped: ...") and stay up. If the read returns, Tern let the guest
 * see memory that is not its own, and the test reports FAIL.
 */
#include "guest.h"

#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_PS (1ull << 7)
#define PTE_ADDR 0x000ffffffffff000ull

/* Used only when the CPU has no 1 GiB pages: maps one 2 MiB page. */
static u64 oob_pd[512] __attribute__((aligned(4096)));

int guest_main(u64 ram_size)
{
	u32 a, b, c, d;
	cpuid(0x80000001, 0, &a, &b, &c, &d);
	bool has_1g = d & (1u << 26);

	/* The first 1 GiB slot at or above 3 GiB that holds no RAM. */
	u64 slot = MAX(3ull, ALIGN_UP(ram_size, SZ_1G) / SZ_1G);
	u64 target = slot * SZ_1G;
	u64 *pml4 = (u64 *)(uintptr_t)(read_cr3() & PTE_ADDR);
	u64 *pdpt = (u64 *)(uintptr_t)(pml4[0] & PTE_ADDR);

	if (slot >= 512 || !(pml4[0] & PTE_P) || (pdpt[slot] & PTE_P)) {
		report_fail("hostile_oob: cannot map 0x%lx (PML4[0]=0x%lx, slot %lu already used)",
			    target, pml4[0], slot);
		return 1;
	}
	if (has_1g) {
		pdpt[slot] = target | PTE_PS | PTE_RW | PTE_P;
	} else {
		oob_pd[0] = target | PTE_PS | PTE_RW | PTE_P;
		pdpt[slot] = (u64)(uintptr_t)oob_pd | PTE_RW | PTE_P;
	}
	write_cr3(read_cr3()); /* drop any cached translations */

	uprintf("hostile_oob: touching 0x%lx (RAM ends at 0x%lx, %s page)\n",
		target, ram_size, has_1g ? "1 GiB" : "2 MiB");
	u64 v = *(volatile u64 *)(uintptr_t)target;

	report_fail("read outside RAM returned: 0x%lx = 0x%lx", target, v);
	return 1;
}
