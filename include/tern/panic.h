/* Fatal errors: a broken internal invariant of the hypervisor. */
#ifndef TERN_PANIC_H
#define TERN_PANIC_H

#include <tern/types.h>

/* Print the message and a backtrace on the serial console and halt this CPU. */
__noreturn __printf(1, 2) void hv_panic(const char *fmt, ...);

#define HV_ASSERT(c) do { if (!(c)) hv_panic("assertion failed: %s at %s:%d", #c, __FILE__, __LINE__); } while (0)

#endif
