/* The core's entry and service loop (hv/main.c, hv/run.c). */
#ifndef TERN_HV_H
#define TERN_HV_H

#include <tern/boot_info.h>

__noreturn void hv_main(struct boot_info *bi);
/* The service loop: runs the vCPU in slices, serves the console between them. */
__noreturn void hv_run_loop(void);
/* Nanoseconds the vCPU has spent in its slices since boot (the CPU share it got). */
u64 hv_guest_ns(void);
/* Console `shutdown`: power off the machine. */
void hv_shutdown(void);

#endif
