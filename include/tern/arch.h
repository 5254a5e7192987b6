/*
 * The CPU contract: everything the arch-neutral core (hv/) asks of the
 * processor layer, and nothing else. arch/x86_64/ implements it with VMX and
 * EPT; the core never includes an arch/ header. Each function states the
 * context it runs in. All run on the boot CPU for now, interrupts off.
 */
#ifndef TERN_ARCH_H
#define TERN_ARCH_H

#include <tern/types.h>

struct boot_info;
struct pmm;
struct vm;
struct vcpu;

/* ---- CPU bring-up (boot, once, in this order) ---- */

/* Own GDT/TSS with IST stacks, an IDT that reports every exception, SSE/XSAVE on. */
void arch_cpu_init(void);
/* Tern's own page tables: identity map of all physical memory plus the image. */
void arch_paging_init(const struct boot_info *bi, struct pmm *pmm);
/* Calibrate the clock; arch_time_ns() is valid afterwards. */
void arch_time_init(void);
u64 arch_time_ns(void);
/*
 * Power the machine off: ACPI S5, else UEFI ResetSystem (efi_runtime, the
 * runtime services table, or 0). Returns only if both failed.
 */
void arch_power_off(u64 acpi_rsdp, u64 efi_runtime);

__noreturn void arch_halt_forever(void);
/*
 * Fault on purpose (the console's `crash`, for checking that a crash in
 * Tern is reported): "ud" an invalid opcode, "gp" a non-canonical access,
 * "pf" a read of an unmapped page, "df" a double fault through an unmapped
 * stack, "mc" the machine-check vector (INT 18), "nmi" a real NMI through
 * the local APIC, which is handled and returns. False for an unknown kind.
 */
bool arch_crash(const char *kind);
void arch_backtrace(void *frame_pointer);
void arch_cpu_relax(void);

/* ---- virtualization ---- */

/*
 * Probe and enable hardware virtualization on this CPU. Returns 0, or -1 with
 * a human-readable reason ("VMX not available", ...) in why. Also prints the
 * optional features found (EPT A/D, PML, VPID, preemption timer).
 */
int arch_virt_init(struct pmm *pmm, char *why, size_t why_len);

/* Second-level address translation for vm->ram (EPT). 0 or -1 (out of memory). */
int arch_vm_init(struct vm *vm, struct pmm *pmm);
/* Per-vCPU hardware state (VMCS). 0 or -1. */
int arch_vcpu_init(struct vcpu *vcpu, struct pmm *pmm);
/* Give back what arch_vcpu_init / arch_vm_init took (either may have failed
 * half way); the vCPU must not be in the guest. */
void arch_vcpu_destroy(struct vcpu *vcpu, struct pmm *pmm);
void arch_vm_destroy(struct vm *vm, struct pmm *pmm);
/*
 * Put the vCPU in the documented start state (docs/guest-abi.md), writing the
 * boot structures (GDT, page tables) into guest RAM, entry at rip.
 */
void arch_vcpu_reset(struct vcpu *vcpu, u64 rip);

enum vcpu_run_result {
	VCPU_SLICE_END, /* the time slice ran out; call again */
	VCPU_IDLE,      /* the guest is halted waiting for an event */
	VCPU_STOPPED,   /* the VM left the running state (exit, error, pause) */
	VCPU_BLOCKED,   /* waits for a page that has not arrived (post-copy) */
};
/* Run the guest for up to slice_ns, handling exits; context: service loop. */
enum vcpu_run_result arch_vcpu_run(struct vcpu *vcpu, u64 slice_ns);

/* ---- whole vCPU state (tern/vcpu_state.h), for migration and reset ---- */

struct vcpu_state;
struct vcpu_caps;
struct mig_cpu_fp;
/* Read everything the guest can observe of its CPU into s. Context: the
 * service loop, vCPU out of the guest. */
void arch_vcpu_save(struct vcpu *vcpu, struct vcpu_state *s);
/* Check s (vcpu_state_check against this CPU) and load it; 0, or -1 with
 * the reason in why and the vCPU untouched. */
int arch_vcpu_load(struct vcpu *vcpu, const struct vcpu_state *s, char *why, size_t why_len);
/* What this CPU lets a guest load (VMX fixed bits, XCR0, EFER, MAXPHYADDR). */
void arch_vcpu_caps(struct vcpu_caps *caps);
/* The CPUID features guests are shown here and the XCR0 they may use. */
void arch_cpu_fingerprint(struct mig_cpu_fp *fp);
/* TSC ticks per second (calibrated at boot). */
u64 arch_tsc_hz(void);
/* The guest's TSC now / make it read tsc now (TSC offsetting). */
u64 arch_vcpu_get_tsc(struct vcpu *vcpu);
void arch_vcpu_set_tsc(struct vcpu *vcpu, u64 tsc);

/* Print the guest's registers, each line starting with prefix. */
void arch_vcpu_dump(struct vcpu *vcpu, const char *prefix);

/* ---- dirty page tracking (contract and ordering in tern/dirty.h) ---- */

bool arch_dirty_pml_available(void);
/* Make every RAM page clean and tracked with mode (DIRTY_WP or DIRTY_PML). */
int arch_dirty_start(struct vm *vm, int mode);
/* Move what the hardware logged (PML buffers) into the dirty log. */
void arch_dirty_collect(struct vm *vm);
/* Track again (write-protect / clear the EPT dirty bit of) page first_gfn + b
 * for each bit b set in bits; first_gfn is a multiple of 64... */
void arch_dirty_rearm(struct vm *vm, u64 first_gfn, u64 bits);
/* ...and make those changes visible to the guest (INVEPT). */
void arch_dirty_flush(struct vm *vm);
/* Stop tracking: all RAM writable, PML off. */
void arch_dirty_stop(struct vm *vm);

/* ---- post-copy: absent pages (contract in tern/vm.h, struct vm_absent) ---- */

/* Take the guest's access to page gfn away (splitting a large EPT leaf) or
 * give it back; 0, or -1 (out of memory for a table). Visible after
 * arch_ept_flush. */
int arch_ept_set_present(struct vm *vm, u64 gfn, bool present);
void arch_ept_flush(struct vm *vm);
/* ---- hardware randomness (arch/x86_64/random.c) ---- */

#define ARCH_RNG_SEED 1u /* an entropy source fit for keys (RDSEED) */
#define ARCH_RNG_DRBG 2u /* a hardware DRBG (RDRAND) */
/* Which of the sources above this CPU has (probed once). */
unsigned arch_rng_sources(void);
/* One word from the entropy source / the DRBG; false if absent or failing. */
bool arch_random_seed(u64 *v);
bool arch_random(u64 *v);

/* A cycle counter for cost measurements (TSC; counts instructions on Bochs). */
u64 arch_cycles(void);

#define ARCH_NR_EXIT_REASONS 80
/* Name of a hardware exit reason for statistics ("CPUID", "EPT_VIOLATION"). */
const char *arch_exit_reason_name(unsigned reason);

#endif
