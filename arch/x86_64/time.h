#ifndef X86_TIME_H
#define X86_TIME_H
#include <tern/types.h>
/* TSC ticks in ns nanoseconds (for the VMX preemption timer). */
u64 time_ns_to_tsc(u64 ns);
#endif
