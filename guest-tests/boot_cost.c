/*
 * boot_cost: reports the TSC at this guest's first instruction, for
 * `make bench` (with Tern's own "starting at cycle N" line, the difference is
 * what Tern spends from its entry to the guest's first instruction; on
 * Bochs the TSC counts instructions). Passes if the clock moved forward.
 */
#include "guest.h"

int guest_main(u64 ram_size)
{
	if (!guest_start_tsc) {
		report_fail("boot_cost: no TSC recorded at the first instruction");
		return 1;
	}
	report_info("boot_cost: first guest instruction at cycle %lu", guest_start_tsc);
	report_pass("boot_cost: guest started");
	return 0;
}
