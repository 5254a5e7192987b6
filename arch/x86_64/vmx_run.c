/*
 * The vCPU run loop: deliver due events, enter the guest with the VMX
 * preemption timer set to the end of the slice, and dispatch each exit, until
 * the slice ends, the guest idles in HLT, or the VM stops. Context: the
 * service loop (hv/run.c), interrupts off.
 */
#include <tern/arch.h>
#include <tern/vm.h>
#include "cpu.h"
#include "time.h"
#include "vmcs.h"
#include "vmx.h"

#define INTERRUPTIBILITY_STI_MOVSS 3u

/* Deliver the guest's timer if it is due and the guest can take it now. */
static void inject_events(struct vcpu *vcpu, u64 now)
{
	int vec = vcpu_intr_pending(vcpu, now);
	u32 proc = vmx_caps.proc;
	if (vec < 0)
		goto out;
	bool can_inject = (vmcs_read(GUEST_RFLAGS) & RFLAGS_IF) &&
			  !(vmcs_read32(GUEST_INTERRUPTIBILITY) & INTERRUPTIBILITY_STI_MOVSS) &&
			  !(vmcs_read32(ENTRY_INTR_INFO) & INTR_INFO_VALID);
	if (can_inject) {
		vmcs_write(ENTRY_INTR_INFO, INTR_INFO_VALID | INTR_TYPE_EXTERNAL | (u32)vec);
		vcpu_intr_delivered(vcpu, vec);
		vcpu->vm->stats.timer_injections++;
		vcpu->halted = false;
	} else {
		/* Exit as soon as the guest can take it (after STI, say). */
		proc |= PROC_INTR_WINDOW_EXIT;
	}
out:
	/* Only the interrupt-window bit changes here, and rarely. */
	if (proc != vcpu->arch->proc_ctls) {
		vmcs_write(PROC_CONTROLS, proc);
		vcpu->arch->proc_ctls = proc;
	}
}

/* An event whose delivery the exit interrupted must be delivered again (SDM 27.2.4). */
static void requeue_vectoring_event(void)
{
	u32 info = vmcs_read32(IDT_VECTORING_INFO);
	if (!(info & INTR_INFO_VALID))
		return;
	vmcs_write(ENTRY_INTR_INFO, info & ~(1u << 12));
	if (info & INTR_INFO_HAS_ERROR)
		vmcs_write(ENTRY_EXCEPTION_ERROR, vmcs_read32(IDT_VECTORING_ERROR));
	u32 type = info & INTR_TYPE_MASK;
	if (type == INTR_TYPE_SW_INTR || type == INTR_TYPE_SW_EXCEPTION ||
	    type == INTR_TYPE_PRIV_SW_EXCEPTION)
		vmcs_write(ENTRY_INSTR_LEN, vmcs_read32(EXIT_INSTR_LEN));
}

enum vcpu_run_result arch_vcpu_run(struct vcpu *vcpu, u64 slice_ns)
{
	struct arch_vcpu *av = vcpu->arch;
	struct vm *vm = vcpu->vm;
	u64 end = arch_time_ns() + slice_ns;

	for (;;) {
		if (vm->state != VM_RUNNING)
			return VCPU_STOPPED;
		if (vcpu_blocked(vcpu))
			return VCPU_BLOCKED;
		u64 now = arch_time_ns();
		if (now >= end)
			return VCPU_SLICE_END;
		inject_events(vcpu, now);
		if (vcpu->halted)
			return VCPU_IDLE;

		/* The slice ends early for a timer event still to come: its
		 * interrupt is injected on the entry after. (One already due but
		 * blocked waits for the interrupt window instead.) */
		u64 ev = vcpu_next_event_ns(vcpu, now);
		u64 stop = ev > now ? MIN(end, ev) : end;
		u64 ticks = time_ns_to_tsc(stop - now) >> vmx_caps.preempt_shift;
		vmcs_write(PREEMPTION_TIMER_VALUE, ticks > 0xffffffffULL ? 0xffffffffU : (u32)ticks);
		fpu_enter_guest(&av->host_fpu, &av->guest_fpu, av->xcr0);
		int failed = vmx_enter(&av->regs, av->launched);
		fpu_leave_guest(&av->host_fpu, &av->guest_fpu, av->xcr0);
		if (failed) {
			vm_stop_error(vm, "VM entry failed: VM-instruction error %lu",
				      vmcs_read(VM_INSTRUCTION_ERROR));
			return VCPU_STOPPED;
		}
		av->launched = true;
		vm->stats.entries++;
		av->exit_reason = vmcs_read32(EXIT_REASON);
		av->exit_qual = vmcs_read(EXIT_QUALIFICATION);
		requeue_vectoring_event();

		switch (vmx_handle_exit(vcpu)) {
		case EXIT_RESUME:
			break;
		case EXIT_YIELD:
			return VCPU_SLICE_END;
		case EXIT_STOP:
			return VCPU_STOPPED;
		case EXIT_BLOCKED:
			return VCPU_BLOCKED;
		}
	}
}
