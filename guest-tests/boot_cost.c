/*
 * boot_cost: reports the TSC at this guest's first instruction (crt0.S reads
 * it before anything else) and now. With Tern's own "starting at cycle N"
 * and "vm0: started at cycle N" lines the harness checks the order of the
 * four and bounds what Tern spends from its entry to the guest's first
 * instruction (on Bochs the TSC counts instructions); `make bench` prints
 * the figure.
 */
#include "guest.h"

int guest_main(u64 ram_size)
{
	u64 now = rdtsc();

	if (!guest_start_tsc || now <= guest_start_tsc) {
		report_fail("boot_cost: TSC at the first instruction %lu, now %lu: not increasing",
			    guest_start_tsc, now);
		return 1;
	}
	report_info("boot_cost: first guest instruction at cycle %lu, guest_main at cycle %lu",
		    guest_start_tsc, now);
	report_pass("boot_cost: guest started");
	return 0;
}
