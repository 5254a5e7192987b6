/*
 * The VM object: guest RAM (one contiguous, 2 MiB-aligned block from the
 * page allocator), the image loaded into it, its state machine, and the
 * device model behind port I/O. Context: the service loop.
 */
#include <tern/elf_load.h>
#include <tern/hypercall.h>
#include <tern/log.h>
#include <tern/mm.h>
#include <tern/pmm.h>
#include <tern/vm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vm_pc.h"

struct vm *the_vm;

const char *vm_state_name(enum vm_state s)
{
	switch (s) {
	case VM_NONE: return "none";
	case VM_RUNNING: return "running";
	case VM_PAUSED: return "paused";
	case VM_SHUTDOWN: return "shutdown";
	case VM_ERROR: return "error";
	case VM_INMIGRATE: return "inmigrate";
	case VM_FINISH_MIGRATE: return "finish-migrate";
	case VM_POSTMIGRATE: return "postmigrate";
	}
	return "?";
}

static void uart_line(void *ctx, const char *line)
{
	struct vm *vm = ctx;
	hv_log("vm%d| %s\n", vm->id, line);
}

void *vm_gpa_ptr(struct vm *vm, u64 gpa, u64 len)
{
	if (gpa > vm->ram_size || len > vm->ram_size - gpa)
		return NULL;
	return vm->ram + gpa;
}

/* Zero RAM, load the image (or the Linux boot), put the vCPU at its entry. */
static int vm_load(struct vm *vm)
{
	const char *err;
	memset(vm->ram, 0, vm->ram_size);
	vm->vcpu.boot_rsi = 0;
	vm->reset_requested = false;
	if (vm->platform == VM_PLATFORM_PC ? vm_pc_load(vm, &err) :
	    guest_image_load(vm->image, vm->image_len, vm->ram, vm->ram_size, TERN_GUEST_BOOT_END,
			     TERN_GUEST_LOAD_ADDR, &vm->entry, &err)) {
		hv_log("vm%d: cannot load the guest: %s\n", vm->id, err);
		return -1;
	}
	vuart_init(&vm->uart, uart_line, vm);
	arch_vcpu_reset(&vm->vcpu, vm->entry);
	vm_mark_dirty(vm, 0, vm->ram_size); /* Tern rewrote all of RAM */
	memset(&vm->stats, 0, sizeof(vm->stats));
	vm->stop_reason[0] = '\0';
	vm->exit_code = 0;
	vm->started_ns = arch_time_ns();
	vm->state = VM_RUNNING;
	return 0;
}

/* RAM, EPT and vCPU for a VM of ram_size bytes; 0 or -1 with why. */
static int vm_alloc(struct vm *vm, u64 ram_size, struct pmm *pmm, char *why, size_t why_len)
{
	vm->ram_size = ram_size;
	vm->pmm = pmm;
	vm->vcpu.vm = vm;
	vm->ram_hpa = pmm_alloc(pmm, ram_size / PAGE_SIZE, SZ_2M);
	if (!vm->ram_hpa) {
		snprintf(why, why_len, "not enough contiguous memory for %lu MiB of guest RAM (%lu MiB free)",
			 ram_size >> 20, (pmm->free_frames * PAGE_SIZE) >> 20);
		return -1;
	}
	vm->ram = phys_to_virt(vm->ram_hpa);
	if (arch_vm_init(vm, pmm) || arch_vcpu_init(&vm->vcpu, pmm)) {
		snprintf(why, why_len, "out of memory for the VM's translation tables or vCPU state");
		vm_destroy(vm);
		return -1;
	}
	return 0;
}

int vm_create(struct vm *vm, const u8 *image, u64 image_len, u64 ram_size, struct pmm *pmm)
{
	return vm_create_platform(vm, VM_PLATFORM_TERN, NULL, image, image_len, ram_size, pmm);
}

int vm_create_platform(struct vm *vm, enum vm_platform platform, const struct vm_linux_boot *lb,
		       const u8 *image, u64 image_len, u64 ram_size, struct pmm *pmm)
{
	char why[160];
	memset(vm, 0, sizeof(*vm));
	vm->platform = platform;
	if (lb)
		vm->linux_boot = *lb;
	vm->image = image;
	vm->image_len = image_len;
	if (vm_alloc(vm, ram_size, pmm, why, sizeof(why))) {
		hv_printf("vm0: %s\n", why);
		return -1;
	}
	if (vm_load(vm))
		return -1;
	the_vm = vm;
	hv_printf("vm0: started at cycle %lu: %lu MiB RAM at host %#lx, entry %#lx\n", arch_cycles(),
		  ram_size >> 20, vm->ram_hpa, vm->entry);
	return 0;
}

int vm_create_incoming(struct vm *vm, u64 ram_size, struct pmm *pmm, char *why, size_t why_len)
{
	memset(vm, 0, sizeof(*vm));
	if (vm_alloc(vm, ram_size, pmm, why, why_len))
		return -1;
	memset(vm->ram, 0, ram_size); /* pages the stream never sends read as zero */
	vuart_init(&vm->uart, uart_line, vm);
	arch_vcpu_reset(&vm->vcpu, TERN_GUEST_LOAD_ADDR);
	vm->started_ns = arch_time_ns();
	vm->state = VM_INMIGRATE;
	the_vm = vm;
	return 0;
}

void vm_destroy(struct vm *vm)
{
	struct pmm *pmm = vm->pmm;
	vm_absent_end(vm);
	dirty_log_stop(vm);
	free(vm->dirty.bitmap);
	arch_vcpu_destroy(&vm->vcpu, pmm);
	arch_vm_destroy(vm, pmm);
	if (vm->ram_hpa)
		pmm_free(pmm, vm->ram_hpa, vm->ram_size / PAGE_SIZE);
	if (the_vm == vm)
		the_vm = NULL;
	memset(vm, 0, sizeof(*vm));
}

void vm_clock_set(struct vm *vm, u64 vm_ns)
{
	vm->clock_offset = vm_ns - arch_time_ns();
}

int vm_reset(struct vm *vm)
{
	hv_printf("vm%d: system reset\n", vm->id);
	return vm_load(vm);
}

void vm_stop_error(struct vm *vm, const char *fmt, ...)
{
	va_list ap;
	vuart_flush(&vm->uart);
	va_start(ap, fmt);
	vsnprintf(vm->stop_reason, sizeof(vm->stop_reason), fmt, ap);
	va_end(ap);
	vm->state = VM_ERROR;
	hv_log("vm%d: stopped: %s\n", vm->id, vm->stop_reason);
	char prefix[16];
	snprintf(prefix, sizeof(prefix), "vm%d:   ", vm->id);
	arch_vcpu_dump(&vm->vcpu, prefix);
}

void vm_pio(struct vcpu *vcpu, u16 port, unsigned size, bool in, u32 *val)
{
	struct vm *vm = vcpu->vm;
	if (vm_pc_pio(vm, port, size, in, val))
		return;
	if (port >= VUART_BASE && port < VUART_BASE + 8) {
		/* A wider access reaches the following registers, byte by byte. */
		u32 v = 0;
		for (unsigned i = 0; i < size; i++) {
			unsigned reg = (port + i - VUART_BASE) & 7;
			if (in)
				v |= (u32)vuart_read(&vm->uart, reg) << (8 * i);
			else
				vuart_write(&vm->uart, reg, (u8)(*val >> (8 * i)));
		}
		if (in)
			*val = v;
		return;
	}
	if (in) {
		*val = size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
		vm->stats.pio_unhandled_reads++;
	} else {
		vm->stats.pio_unhandled_writes++;
	}
}

int vcpu_intr_pending(struct vcpu *vcpu, u64 now_ns)
{
	if (vcpu->vm->platform == VM_PLATFORM_PC)
		return vm_pc_intr_pending(vcpu);
	/* Deadlines are in the VM's clock, which moves with the VM. */
	if (!vcpu->timer_deadline_ns || vm_clock_ns(vcpu->vm, now_ns) < vcpu->timer_deadline_ns)
		return -1;
	return vcpu->timer_vector;
}

void vcpu_intr_delivered(struct vcpu *vcpu, int vec)
{
	if (vcpu->vm->platform == VM_PLATFORM_PC)
		vm_pc_intr_delivered(vcpu, vec);
	else
		vcpu->timer_deadline_ns = 0;
}

u64 vcpu_next_event_ns(struct vcpu *vcpu, u64 now_ns)
{
	/* Tern's own guests keep their timer checked at slice boundaries (up
	 * to a slice late), as their tests were measured. */
	if (vcpu->vm->platform == VM_PLATFORM_PC)
		return vm_pc_next_event_ns(vcpu, now_ns);
	return ~0ULL;
}
