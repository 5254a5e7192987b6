/*
 * Booted without the test_hypercalls option (tests/harness/guest_tests.py
 * leaves it out for this guest only): the dirty-log hypercalls must not
 * exist, so a production guest can neither start, drain nor stop the log a
 * migration reads. Each must answer -38 (ENOSYS); the log stays off.
 */
#include "guest.h"

int guest_main(u64 ram_size)
{
	static u64 bitmap[64];
	static struct tern_dirty_stats stats;
	const struct { u64 nr, a0, a1; const char *name; } calls[] = {
		{ TERN_HC_DIRTY_START, 0, 0, "DIRTY_START" },
		{ TERN_HC_DIRTY_LOG, (u64)(uintptr_t)bitmap, sizeof(bitmap), "DIRTY_LOG" },
		{ TERN_HC_DIRTY_HARVEST, (u64)(uintptr_t)&stats, 0, "DIRTY_HARVEST" },
		{ TERN_HC_DIRTY_STOP, 0, 0, "DIRTY_STOP" },
	};
	for (unsigned i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		s64 r = hypercall(calls[i].nr, calls[i].a0, calls[i].a1, 0);
		if (r != TERN_HC_ENOSYS) {
			report_fail("%s without test_hypercalls returned %ld, want %d", calls[i].name, r,
				    TERN_HC_ENOSYS);
			return 1;
		}
	}
	report_pass("test_calls_off: the four dirty-log hypercalls answer ENOSYS without test_hypercalls");
	return 0;
}
