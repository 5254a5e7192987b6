/*
 * Between hv/vm.c and the PC platform's placement of its models (hv/vm_pc.c):
 * what vm.c calls for a VM_PLATFORM_PC VM.
 */
#ifndef HV_VM_PC_H
#define HV_VM_PC_H

#include <tern/vm.h>

/* Into zeroed RAM: ACPI tables, kernel, command line, initrd, zero page;
 * vm->entry and vcpu.boot_rsi set, the LAPIC reset. 0, or -1 with *err. */
int vm_pc_load(struct vm *vm, const char **err);
/* vm_create for either platform: a TERN guest from image, a PC one from lb. */
int vm_create_platform(struct vm *vm, enum vm_platform platform, const struct vm_linux_boot *lb,
		       const u8 *image, u64 image_len, u64 ram_size, struct pmm *pmm);
/* The LAPIC as the source of interrupts (see vcpu_intr_pending in tern/vm.h). */
int vm_pc_intr_pending(struct vcpu *vcpu);
void vm_pc_intr_delivered(struct vcpu *vcpu, int vec);
u64 vm_pc_next_event_ns(struct vcpu *vcpu, u64 now_ns);
/* The ACPI sleep and reset ports: true when port is one of them (handled). */
bool vm_pc_pio(struct vm *vm, u16 port, unsigned size, bool in, u32 *val);

#endif
