/*
 * The device and time sections of the stream (besides MIG_SEC_CPU, which is
 * struct vcpu_state): fixed little-endian layouts, one version each. The
 * destination checks the length against the version before it reads a
 * field, and every field before it uses it.
 */
#ifndef MIGRATE_SECTIONS_H
#define MIGRATE_SECTIONS_H

#include <tern/types.h>
#include <tern/vuart.h>

#define MIG_TIMER_VERSION 1
struct mig_sec_timer {
	u64 deadline_ns; /* in the VM's clock; 0 = disarmed */
	u32 vector;      /* 32..255 when armed */
	u32 halted;      /* the vCPU sleeps in HLT until the timer */
} __attribute__((packed));

/* The UART section is struct vuart_state (tern/vuart.h: registers, receive
 * FIFO, the line the guest had not finished), saved and validated by
 * vuart_save / vuart_load. Version 1 was its first seven registers alone. */
#define MIG_UART_VERSION 2

/* The PC platform's section (a Linux guest): struct vlapic_state (tern/vlapic.h),
 * checked by vlapic_load. Its presence makes the destination's VM a PC one;
 * the ACPI tables and the rest of its platform are in guest RAM. */
#define MIG_PC_VERSION 1

#define MIG_TIME_VERSION 1
struct mig_sec_time {
	u64 vm_clock_ns; /* the VM's clock at the stop: it continues from here */
	u64 guest_tsc;   /* the guest's TSC at the stop: likewise */
	u64 tsc_hz;
} __attribute__((packed));

#endif
