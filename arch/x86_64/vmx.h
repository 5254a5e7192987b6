/*
 * VMX state private to arch/x86_64: what the CPU offers (struct vmx_caps,
 * probed once), and the per-vCPU hardware state behind struct vcpu.
 */
#ifndef X86_VMX_H
#define X86_VMX_H

#include <tern/types.h>
#include <tern/vm.h>
#include "fpu.h"

struct vmx_caps {
	u32 revision;
	u32 pin, proc, proc2, exit, entry; /* controls Tern runs every guest with */
	u64 cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
	u64 ept_vpid;
	unsigned preempt_shift; /* the preemption timer counts TSC >> this */
	bool ept_ad, pml, vpid, invept_single;
	bool io_instr_info; /* INS/OUTS exits report their address size (BASIC bit 54) */
};
extern struct vmx_caps vmx_caps;

/* Guest GPRs as vmx_entry.S saves them: keep the offsets in sync. */
struct guest_regs {
	u64 rax, rbx, rcx, rdx, rsi, rdi, rbp;
	u64 r8, r9, r10, r11, r12, r13, r14, r15;
	u64 cr2;
};

struct arch_vm {
	u64 eptp;
	struct pt *ept;
	struct pmm *pmm;
	int dirty_mode; /* DIRTY_WP or DIRTY_PML while logging */
	u64 pml_pa;     /* the PML buffer (one per vCPU; one vCPU for now) */
};

struct arch_vcpu {
	struct fpu_area guest_fpu;
	struct fpu_area host_fpu;
	struct guest_regs regs;
	u64 vmcs_pa;
	u64 msr_bitmap_pa;
	u64 xcr0;
	u64 tsc_offset; /* guest TSC = host TSC + this (the VMCS TSC_OFFSET, when offsetting is on) */
	u32 proc_ctls; /* primary controls as last written: skip rewriting them */
	bool launched;
	/* The last exit, for handlers and dumps. */
	u32 exit_reason;
	u64 exit_qual;
};

/* 0 after a VM exit, 1 if VMLAUNCH/VMRESUME itself failed (vmx_entry.S). */
int vmx_enter(struct guest_regs *regs, int launched);
void vmx_exit_stub(void);

/* ept.c */
int ept_build(struct vm *vm, struct pmm *pmm);
void ept_invalidate(u64 eptp);

/* vmx_exit.c: handle the exit in vcpu->arch; returns what the run loop does next. */
/* EXIT_BLOCKED: the vCPU waits for an absent page (vcpu_blocked), its
 * instruction not retired: the run loop returns VCPU_BLOCKED. */
enum exit_action { EXIT_RESUME, EXIT_YIELD, EXIT_STOP, EXIT_BLOCKED };
enum exit_action vmx_handle_exit(struct vcpu *vcpu);

/* Inject a hardware exception at the next entry (RIP not advanced). */
void vmx_inject_exception(unsigned vector, bool has_error, u32 error);
void vmx_skip_instruction(void);
/* INS/OUTS, REP or not (vmx_string_io.c). */
enum exit_action vmx_string_io(struct vcpu *vcpu, u16 port, unsigned size, bool in, bool rep);

/* dirty.c: a guest write hit a write-protected EPT leaf while logging. */
bool dirty_write_fault(struct vcpu *vcpu, u64 gpa);
/* dirty.c: the PML buffer is full (exit reason 62). */
void dirty_pml_full(struct vcpu *vcpu);

/* guest_boot.c */
void guest_boot_write(struct vm *vm);

/* vmx_exit.c: what CPUID shows the guest (guest_cr4 decides OSXSAVE). */
void vmx_cpuid_filter(u32 leaf, u32 sub, u64 guest_cr4, u32 *a, u32 *b, u32 *c, u32 *d);

/* vcpu_state.c */
/* The passed-through MSRs and DR0-3/DR6, live in hardware, to their reset values. */
void vmx_guest_hw_regs_reset(void);
/* CR0/CR4 as the guest sees them: guest/host masks, read shadows, real registers. */
void vmx_guest_cr_write(u64 cr0, u64 cr4);
/*
 * Save, load that back, save again and compare (all but the TSC, which
 * moves; the guest's TSC is left as it was). 0, or -1 with the reason.
 * For the migration engine and tests; the VM must be out of the guest.
 */
int arch_vcpu_selftest(struct vcpu *vcpu, char *why, size_t len);

#endif
