/*
 * The PC platform (enum vm_platform, tern/vm.h): the smallest PC a stock
 * OS boots on, for a Linux guest entered through the 64-bit boot protocol.
 * The pure models do the work (hv/linux_boot.c, hv/vacpi.c, hv/vlapic.c);
 * this file places them in the VM: ACPI tables at PC_ACPI_BASE, the kernel,
 * command line, initrd and zero page where linux_boot_plan says, the LAPIC's
 * MSRs, interrupts and timer, the ACPI sleep and reset ports.
 * Context: boot (vm_create_linux) and the service loop / run loop.
 */
#include <tern/hypercall.h>
#include <tern/linux_boot.h>
#include <tern/log.h>
#include <tern/mm.h>
#include <tern/vcpu_state.h>
#include <tern/vm.h>
#include <string.h>
#include "vm_pc.h"

#define MSR_APIC_BASE 0x1b

/* Guest-physical layout below 1 MiB (docs/linux-guest.md). */
#define PC_ACPI_BASE 0xe0000ULL /* in the BIOS area the e820 map reserves */
#define PC_STACK_BASE (TERN_GUEST_STACK_TOP - 0x10000)

/* The ports the ACPI tables name (none inside COM1's eight). */
static const struct vacpi_config pc_acpi = {
	.ncpus = 1,
	.sleep_ctl_port = 0x600,
	.sleep_sts_port = 0x601,
	.s5_slp_typ = 5,
	.reset_port = 0x604,
	.reset_value = 0x0e,
	.com1_port = VUART_BASE,
};

/* This host's own boot files (guest=linux), for PC VMs that arrive. */
static struct vm_linux_boot local_boot;

void vm_pc_set_boot_files(const struct vm_linux_boot *lb)
{
	local_boot = *lb;
}

void vm_pc_adopt(struct vm *vm)
{
	vm->platform = VM_PLATFORM_PC;
	vm->acpi = pc_acpi;
	vm->linux_boot = local_boot;
}

/* Large (the e820 table): one VM at a time is loaded, from the service loop. */
static struct linux_boot_plan plan;

int vm_pc_load(struct vm *vm, const char **err)
{
	const struct vm_linux_boot *lb = &vm->linux_boot;
	struct linux_image k;
	if (!lb->kernel) {
		*err = "this host has no kernel to boot it again (the VM came by migration; boot "
		       "the destination with guest=linux and the same modules to allow a reset)";
		return -1;
	}
	if (linux_bzimage_parse(lb->kernel, lb->kernel_len, &k, err))
		return -1;
	vm->acpi = pc_acpi;
	struct vacpi_layout acpi;
	if (vacpi_build(vm->ram + PC_ACPI_BASE, VACPI_BUF_MAX, PC_ACPI_BASE, &vm->acpi, &acpi, err))
		return -1;
	/* Tern's start GDT, page tables and stack are dead once Linux runs its
	 * own: usable RAM for it, but the loader puts nothing there. */
	const struct linux_mem_range ranges[] = {
		{ 0, TERN_GUEST_BOOT_END, LINUX_MEM_BOOT_ONLY },
		{ PC_STACK_BASE, TERN_GUEST_STACK_TOP - PC_STACK_BASE, LINUX_MEM_BOOT_ONLY },
		{ PC_ACPI_BASE, ALIGN_UP(acpi.size, PAGE_SIZE), LINUX_E820_ACPI },
	};
	const struct linux_guest_mem mem = {
		.ram_size = vm->ram_size, .ranges = ranges, .n_ranges = ARRAY_SIZE(ranges),
		.acpi_rsdp = acpi.rsdp_gpa,
	};
	u64 cmdline_len = strlen(lb->cmdline);
	if (linux_boot_plan(&k, &mem, lb->initrd ? lb->initrd_len : 0, cmdline_len, &plan, err) ||
	    linux_boot_write(&k, &plan, lb->cmdline, lb->initrd, vm->ram, vm->ram_size, err))
		return -1;
	vm->entry = plan.entry;
	vm->vcpu.boot_rsi = plan.zero_page;
	/* CPUID 0x15 reports the TSC as the crystal (vmx_cpuid_pc), and Linux
	 * times the LAPIC by the crystal: one rate for both. */
	vlapic_init(&vm->vcpu.lapic, 0, arch_tsc_hz(), arch_tsc_hz());
	hv_log("vm%d: Linux %s: kernel at %#lx, initrd %lu KiB at %#lx, zero page %#lx, ACPI %#lx, "
	       "%u e820 entries\n", vm->id, k.kernel_version ? k.kernel_version : "(no version)",
	       plan.kernel_addr, plan.initrd_size >> 10, plan.initrd_addr, plan.zero_page,
	       acpi.rsdp_gpa, plan.e820_entries);
	return 0;
}

int vm_create_linux(struct vm *vm, const struct vm_linux_boot *lb, u64 ram_size, struct pmm *pmm)
{
	return vm_create_platform(vm, VM_PLATFORM_PC, lb, NULL, 0, ram_size, pmm);
}

int vm_pc_msr(struct vcpu *vcpu, u32 msr, bool write, u64 *val)
{
	struct vlapic *a = &vcpu->lapic;
	if (vcpu->vm->platform != VM_PLATFORM_PC)
		return 1;
	if (msr == MSR_APIC_BASE) {
		if (!write) {
			*val = vlapic_get_base(a);
			return 0;
		}
		struct vcpu_caps caps;
		arch_vcpu_caps(&caps);
		return vlapic_set_base(a, *val, caps.maxphyaddr);
	}
	if (!vlapic_handles_msr(msr))
		return 1;
	u64 now = arch_vcpu_get_tsc(vcpu);
	return write ? vlapic_wrmsr(a, msr, *val, now) : vlapic_rdmsr(a, msr, now, val);
}

int vm_pc_intr_pending(struct vcpu *vcpu)
{
	/* A self-NMI (vlapic_take_nmi) is not delivered: Linux sends one only
	 * for its NMI watchdog's self-test and backtraces, on this 1-vCPU PC. */
	vlapic_tick(&vcpu->lapic, arch_vcpu_get_tsc(vcpu));
	return vlapic_pending_vector(&vcpu->lapic);
}

void vm_pc_intr_delivered(struct vcpu *vcpu, int vec)
{
	vlapic_accept(&vcpu->lapic, vec);
}

u64 vm_pc_next_event_ns(struct vcpu *vcpu, u64 now_ns)
{
	u64 next = vlapic_next_event_tsc(&vcpu->lapic);
	if (next == ~0ULL)
		return ~0ULL;
	u64 now = arch_vcpu_get_tsc(vcpu);
	if (next <= now)
		return now_ns;
	u64 ns = (u64)((unsigned __int128)(next - now) * 1000000000u / arch_tsc_hz());
	return ns > ~0ULL - now_ns ? ~0ULL : now_ns + ns;
}

/* The guest asks for a reset: the run loop leaves the guest (not running
 * any more), and the service loop reloads it (hv/run.c). */
static void request_reset(struct vm *vm, const char *how)
{
	vuart_flush(&vm->uart);
	vm->state = VM_PAUSED;
	vm->reset_requested = true;
	hv_log("vm%d: the guest asked for a reset (%s)\n", vm->id, how);
}

/*
 * The 8042's reset line: every PC reboots through it, Linux right after the
 * ACPI reset register (its default order). Status reads 0 (both buffers
 * empty) so its wait for the input buffer ends at once; command 0xfe pulses
 * the reset line. Nothing else of a keyboard controller exists (the FADT
 * says there is none).
 */
#define PC_8042_STATUS 0x64
#define PC_8042_PULSE_RESET 0xfe

bool vm_pc_pio(struct vm *vm, u16 port, unsigned size, bool in, u32 *val)
{
	if (vm->platform != VM_PLATFORM_PC)
		return false;
	if (port == PC_8042_STATUS) {
		if (in)
			*val = 0;
		else if ((u8)*val == PC_8042_PULSE_RESET)
			request_reset(vm, "8042 reset line");
		return true;
	}
	if (!vacpi_owns_port(&vm->acpi, port))
		return false;
	if (in) {
		*val = 0; /* the sleep status never shows a wake: Linux just polls it */
		return true;
	}
	switch (vacpi_port_write(&vm->acpi, port, (u8)*val)) {
	case VACPI_EV_POWEROFF:
		vuart_flush(&vm->uart);
		vm->state = VM_SHUTDOWN;
		hv_log("vm%d: the guest powered off (ACPI S5)\n", vm->id);
		break;
	case VACPI_EV_RESET:
		request_reset(vm, "ACPI reset register");
		break;
	case VACPI_EV_NONE:
		break;
	}
	return true;
}
