/*
 * VM-exit dispatch: one table indexed by the basic exit reason (SDM
 * Appendix C), one small handler each. An exit without a handler stops that
 * VM with a register dump; Tern itself carries on.
 * Context: the run loop, right after the exit, with the vCPU's VMCS current.
 */
#include <tern/hypercall.h>
#include <tern/log.h>
#include <tern/vm.h>
#include <string.h>
#include "cpu.h"
#include "fpu.h"
#include "vmcs.h"
#include "vmx.h"
#include "vmx_ctl.h"

enum exit_reason {
	EXIT_EXCEPTION_NMI = 0, EXIT_EXTERNAL_INTR = 1, EXIT_TRIPLE_FAULT = 2,
	EXIT_INIT = 3, EXIT_SIPI = 4, EXIT_INTR_WINDOW = 7, EXIT_NMI_WINDOW = 8,
	EXIT_TASK_SWITCH = 9, EXIT_CPUID = 10, EXIT_GETSEC = 11, EXIT_HLT = 12,
	EXIT_INVD = 13, EXIT_INVLPG = 14, EXIT_RDPMC = 15, EXIT_RDTSC = 16,
	EXIT_VMCALL = 18, EXIT_VMCLEAR = 19, EXIT_VMLAUNCH = 20, EXIT_VMPTRLD = 21,
	EXIT_VMPTRST = 22, EXIT_VMREAD = 23, EXIT_VMRESUME = 24, EXIT_VMWRITE = 25,
	EXIT_VMXOFF = 26, EXIT_VMXON = 27, EXIT_CR_ACCESS = 28, EXIT_DR_ACCESS = 29,
	EXIT_IO = 30, EXIT_RDMSR = 31, EXIT_WRMSR = 32, EXIT_BAD_GUEST_STATE = 33,
	EXIT_BAD_MSR_LOAD = 34, EXIT_MWAIT = 36, EXIT_MTF = 37, EXIT_MONITOR = 39,
	EXIT_PAUSE = 40, EXIT_MACHINE_CHECK = 41, EXIT_EPT_VIOLATION = 48,
	EXIT_EPT_MISCONFIG = 49, EXIT_INVEPT = 50, EXIT_RDTSCP = 51,
	EXIT_PREEMPT_TIMER = 52, EXIT_INVVPID = 53, EXIT_WBINVD = 54,
	EXIT_XSETBV = 55, EXIT_RDRAND = 57, EXIT_INVPCID = 58, EXIT_VMFUNC = 59,
	EXIT_RDSEED = 61, EXIT_PML_FULL = 62, EXIT_XSAVES = 63, EXIT_XRSTORS = 64,
};

#define VEC_UD 6
#define VEC_GP 13

typedef enum exit_action (*exit_handler)(struct vcpu *vcpu);

/* ---- helpers ---- */

void vmx_skip_instruction(void)
{
	vmcs_write(GUEST_RIP, vmcs_read(GUEST_RIP) + vmcs_read32(EXIT_INSTR_LEN));
	/* Retiring the instruction ends any STI/MOV-SS blocking it started. */
	u32 intr = vmcs_read32(GUEST_INTERRUPTIBILITY);
	if (intr & 3)
		vmcs_write(GUEST_INTERRUPTIBILITY, intr & ~3u);
}

void vmx_inject_exception(unsigned vector, bool has_error, u32 error)
{
	u32 info = INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | vector;
	if (has_error) {
		info |= INTR_INFO_HAS_ERROR;
		vmcs_write(ENTRY_EXCEPTION_ERROR, error);
	}
	vmcs_write(ENTRY_INTR_INFO, info);
}

/* GPR by the 4-bit register number used in exit qualifications (SDM Table 28-3). */
static u64 *gpr(struct arch_vcpu *av, unsigned n)
{
	struct guest_regs *r = &av->regs;
	u64 *const map[16] = { &r->rax, &r->rcx, &r->rdx, &r->rbx, NULL, &r->rbp, &r->rsi, &r->rdi,
			       &r->r8, &r->r9, &r->r10, &r->r11, &r->r12, &r->r13, &r->r14, &r->r15 };
	return map[n & 15];
}

static u64 read_gpr(struct arch_vcpu *av, unsigned n)
{
	return (n & 15) == 4 ? vmcs_read(GUEST_RSP) : *gpr(av, n);
}

static unsigned guest_cpl(void)
{
	return (vmcs_read32(GUEST_SS_AR) >> 5) & 3;
}

static enum exit_action inject_ud(struct vcpu *vcpu)
{
	vmx_inject_exception(VEC_UD, false, 0);
	return EXIT_RESUME;
}

/* ---- handlers ---- */

static enum exit_action handle_exception_nmi(struct vcpu *vcpu)
{
	u32 info = vmcs_read32(EXIT_INTR_INFO);
	if ((info & INTR_TYPE_MASK) == INTR_TYPE_NMI) {
		/* A host NMI arrived while the guest ran: hand it to the host's handler. */
		asm volatile("int $2");
		return EXIT_RESUME;
	}
	vm_stop_error(vcpu->vm, "unexpected guest exception exit (vector %u)", info & 0xff);
	return EXIT_STOP;
}

static enum exit_action handle_external_intr(struct vcpu *vcpu)
{
	/* Acknowledged on exit; the host has no interrupt sources of its own yet. */
	return EXIT_RESUME;
}

static enum exit_action handle_triple_fault(struct vcpu *vcpu)
{
	vm_stop_error(vcpu->vm, "triple fault");
	return EXIT_STOP;
}

static enum exit_action handle_intr_window(struct vcpu *vcpu)
{
	/* inject_events() re-evaluates and clears the window control. */
	return EXIT_RESUME;
}

void vmx_cpuid_filter(u32 leaf, u32 sub, u64 guest_cr4, u32 *a, u32 *b, u32 *c, u32 *d)
{
	switch (leaf) {
	case 1:
		*c &= ~((1u << 3) | (1u << 5) | (1u << 6) | (1u << 21) | (1u << 24) | (1u << 27));
		*c |= 1u << 31; /* running on a hypervisor */
		if (guest_cr4 & CR4_OSXSAVE)
			*c |= 1u << 27;
		*b &= 0x00ffffff; /* APIC ID 0 */
		break;
	case 6: case 0xa:
		*a = *b = *c = *d = 0; /* thermal and PMU: not virtualized */
		break;
	case 0xd:
		if (sub == 0) {
			*a &= (u32)fpu_xcr0_supported();
			*d = 0;
		} else if (sub == 1) {
			*a &= ~(1u << 3); /* no XSAVES */
		} else if (sub >= 2 && !(fpu_xcr0_supported() & (1ULL << sub))) {
			*a = *b = *c = *d = 0;
		}
		break;
	case TERN_CPUID_BASE:
		*a = TERN_CPUID_BASE;
		memcpy(b, TERN_CPUID_SIGNATURE + 0, 4);
		memcpy(c, TERN_CPUID_SIGNATURE + 4, 4);
		memcpy(d, TERN_CPUID_SIGNATURE + 8, 4);
		break;
	default:
		if (leaf > TERN_CPUID_BASE && leaf < 0x50000000)
			*a = *b = *c = *d = 0;
		break;
	}
}

/*
 * The PC platform's additions (docs/linux-guest.md): an x2APIC with the
 * TSC-deadline timer and an always-running APIC timer (ARAT), and a TSC
 * whose rate is told truthfully in leaves 0x15/0x16 from Tern's calibration
 * (the emulator's own numbers are fixed and wrong; without a known TSC rate
 * Linux's boot hangs). The TSC is reported as the crystal, the clock the
 * LAPIC timer counts (hv/vm_pc.c).
 */
static void vmx_cpuid_pc(u32 leaf, u32 *a, u32 *b, u32 *c, u32 *d)
{
	u64 hz = arch_tsc_hz();
	switch (leaf) {
	case 0:
		*a = MAX(*a, 0x16u);
		break;
	case 1:
		*c |= (1u << 21) | (1u << 24); /* x2APIC, TSC-deadline */
		*d |= 1u << 9;                 /* APIC */
		/* Not modelled, so not shown: machine check (Linux panics on the
		 * #GP of an MCG MSR), thermal monitors, SpeedStep, PDCM. */
		*c &= ~((1u << 7) | (1u << 8) | (1u << 15));
		*d &= ~((1u << 7) | (1u << 14) | (1u << 22) | (1u << 29));
		break;
	case 6:
		*a = 1u << 2; /* ARAT */
		break;
	case 0x15:
		*a = 1, *b = 1, *c = (u32)MIN(hz, 0xffffffffULL), *d = 0;
		break;
	case 0x16:
		*a = *b = (u32)(hz / 1000000), *c = 100, *d = 0;
		break;
	}
}

static enum exit_action handle_cpuid(struct vcpu *vcpu)
{
	struct guest_regs *r = &vcpu->arch->regs;
	u32 leaf = (u32)r->rax, sub = (u32)r->rcx, a, b, c, d;
	cpuid(leaf, sub, &a, &b, &c, &d);
	vmx_cpuid_filter(leaf, sub, vmcs_read(GUEST_CR4), &a, &b, &c, &d);
	if (vcpu->vm->platform == VM_PLATFORM_PC)
		vmx_cpuid_pc(leaf, &a, &b, &c, &d);
	r->rax = a;
	r->rbx = b;
	r->rcx = c;
	r->rdx = d;
	vmx_skip_instruction();
	return EXIT_RESUME;
}

static enum exit_action handle_hlt(struct vcpu *vcpu)
{
	vmx_skip_instruction();
	vcpu->halted = true;
	return EXIT_RESUME;
}

static enum exit_action handle_invd(struct vcpu *vcpu)
{
	vmx_skip_instruction(); /* caches are coherent: nothing to do */
	return EXIT_RESUME;
}

static enum exit_action handle_vmcall(struct vcpu *vcpu)
{
	struct guest_regs *r = &vcpu->arch->regs;
	if (guest_cpl() != 0)
		return inject_ud(vcpu);
	u64 rip = vmcs_read(GUEST_RIP);
	u32 intr = vmcs_read32(GUEST_INTERRUPTIBILITY);
	vmx_skip_instruction();
	s64 ret = vm_hypercall(vcpu, r->rax, r->rdi, r->rsi, r->rdx);
	if (vcpu_blocked(vcpu)) {
		/* An argument lies in a page that has not arrived: the call runs
		 * again, from the start, once it is in. */
		vmcs_write(GUEST_RIP, rip);
		vmcs_write(GUEST_INTERRUPTIBILITY, intr);
		return EXIT_BLOCKED;
	}
	r->rax = (u64)ret;
	return vcpu->vm->state == VM_RUNNING ? EXIT_RESUME : EXIT_STOP;
}

/* MOV to CR0: Tern owns PE/PG (mode switches), CD/NW and NE (SDM 26.3.1.1). */
static bool set_cr0(u64 val)
{
	u64 old = vmcs_read(CR0_READ_SHADOW);
	u64 efer = vmcs_read(GUEST_EFER);
	if ((val >> 32) || ((val & CR0_PG) && !(val & CR0_PE)) || ((val & CR0_NW) && !(val & CR0_CD)))
		return false;
	if ((val & CR0_PG) && !(old & CR0_PG) && (efer & EFER_LME)) {
		if (!(vmcs_read(GUEST_CR4) & CR4_PAE))
			return false;
		vmcs_write(GUEST_EFER, efer | EFER_LMA);
		vmcs_write(ENTRY_CONTROLS, vmcs_read32(ENTRY_CONTROLS) | ENTRY_GUEST_64);
	} else if (!(val & CR0_PG) && (old & CR0_PG) && (efer & EFER_LMA)) {
		vmcs_write(GUEST_EFER, efer & ~EFER_LMA);
		vmcs_write(ENTRY_CONTROLS, vmcs_read32(ENTRY_CONTROLS) & ~ENTRY_GUEST_64);
	}
	vmcs_write(CR0_READ_SHADOW, val);
	u64 real = vmx_cr_fix(val & ~(CR0_CD | CR0_NW), vmx_caps.cr0_fixed0, vmx_caps.cr0_fixed1,
			      CR0_PE | CR0_PG);
	vmcs_write(GUEST_CR0, real);
	return true;
}

static bool set_cr4(u64 val)
{
	if (val & CR4_VMXE)
		return false; /* VMX is hidden from guests */
	u64 real = vmx_cr_fix(val, vmx_caps.cr4_fixed0, vmx_caps.cr4_fixed1, 0);
	if ((real & ~CR4_VMXE) != val)
		return false; /* a bit this CPU cannot run the guest with */
	vmcs_write(CR4_READ_SHADOW, val);
	vmcs_write(GUEST_CR4, real);
	return true;
}

static enum exit_action handle_cr_access(struct vcpu *vcpu)
{
	struct arch_vcpu *av = vcpu->arch;
	u64 q = av->exit_qual;
	unsigned cr = q & 15, type = (q >> 4) & 3, reg = (q >> 8) & 15;
	bool ok = false;

	if (type == 0 && cr == 0)
		ok = set_cr0(read_gpr(av, reg));
	else if (type == 0 && cr == 4)
		ok = set_cr4(read_gpr(av, reg));
	else if (type == 3) { /* LMSW: loads PE, MP, EM, TS; cannot clear PE */
		u64 cr0 = vmcs_read(CR0_READ_SHADOW), src = (q >> 16) & 0xf;
		ok = set_cr0((cr0 & ~0xeULL) | src | (cr0 & CR0_PE));
	} else {
		vm_stop_error(vcpu->vm, "unexpected CR access exit (qualification %#lx)", q);
		return EXIT_STOP;
	}
	if (!ok) {
		vmx_inject_exception(VEC_GP, true, 0);
		return EXIT_RESUME;
	}
	vmx_skip_instruction();
	return EXIT_RESUME;
}

static enum exit_action handle_io(struct vcpu *vcpu)
{
	struct arch_vcpu *av = vcpu->arch;
	u64 q = av->exit_qual;
	unsigned size = (q & 7) + 1;
	bool in = q & 8, string = q & 16, rep = q & 32;
	u16 port = (u16)(q >> 16);
	if (string)
		return vmx_string_io(vcpu, port, size, in, rep);
	u64 mask = size == 4 ? 0xffffffffULL : (1ULL << (size * 8)) - 1;
	u32 val = (u32)(av->regs.rax & mask);
	vm_pio(vcpu, port, size, in, &val);
	if (in) {
		if (size == 4)
			av->regs.rax = val; /* a 32-bit result clears bits 63:32 */
		else
			av->regs.rax = (av->regs.rax & ~mask) | (val & mask);
	}
	vmx_skip_instruction();
	return EXIT_RESUME;
}

/* MSRs a guest may read; false = #GP. */
static bool msr_read(struct vcpu *vcpu, u32 msr, u64 *v)
{
	int pc = vm_pc_msr(vcpu, msr, false, v);
	if (pc <= 0)
		return pc == 0;
	switch (msr) {
	case MSR_EFER: *v = vmcs_read(GUEST_EFER); return true;
	case MSR_PAT: *v = vmcs_read(GUEST_PAT); return true;
	case MSR_FS_BASE: *v = vmcs_read(GUEST_FS_BASE); return true;
	case MSR_GS_BASE: *v = vmcs_read(GUEST_GS_BASE); return true;
	case MSR_SYSENTER_CS: *v = vmcs_read(GUEST_SYSENTER_CS); return true;
	case MSR_SYSENTER_ESP: *v = vmcs_read(GUEST_SYSENTER_ESP); return true;
	case MSR_SYSENTER_EIP: *v = vmcs_read(GUEST_SYSENTER_EIP); return true;
	case MSR_TSC: *v = arch_vcpu_get_tsc(vcpu); return true; /* as RDTSC reads it */
	case MSR_APIC_BASE: *v = 0xfee00000ULL | (1u << 8); return true; /* BSP, APIC disabled */
	case MSR_MISC_ENABLE: *v = 1; return true;                       /* fast strings */
	case MSR_MTRRCAP: *v = 0; return true;
	default: return false;
	}
}

static bool msr_write(struct vcpu *vcpu, u32 msr, u64 v)
{
	int pc = vm_pc_msr(vcpu, msr, true, &v);
	if (pc <= 0)
		return pc == 0;
	switch (msr) {
	case MSR_EFER: {
		u64 old = vmcs_read(GUEST_EFER);
		const u64 allowed = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
		if (v & ~allowed)
			return false;
		/* LMA is read-only; LME cannot change while paging is on. */
		v = (v & ~EFER_LMA) | (old & EFER_LMA);
		if (((v ^ old) & EFER_LME) && (vmcs_read(CR0_READ_SHADOW) & CR0_PG))
			return false;
		vmcs_write(GUEST_EFER, v);
		return true;
	}
	case MSR_PAT:
		for (int i = 0; i < 8; i++) {
			u8 t = (u8)(v >> (i * 8));
			if (t == 2 || t == 3 || t > 7)
				return false;
		}
		vmcs_write(GUEST_PAT, v);
		return true;
	case MSR_FS_BASE: vmcs_write(GUEST_FS_BASE, v); return true;
	case MSR_GS_BASE: vmcs_write(GUEST_GS_BASE, v); return true;
	case MSR_SYSENTER_CS: vmcs_write(GUEST_SYSENTER_CS, v); return true;
	case MSR_SYSENTER_ESP: vmcs_write(GUEST_SYSENTER_ESP, v); return true;
	case MSR_SYSENTER_EIP: vmcs_write(GUEST_SYSENTER_EIP, v); return true;
	case MSR_TSC: arch_vcpu_set_tsc(vcpu, v); return true; /* through the TSC offset */
	default: return false;
	}
}

static enum exit_action handle_rdmsr(struct vcpu *vcpu)
{
	struct guest_regs *r = &vcpu->arch->regs;
	u64 v;
	if (!msr_read(vcpu, (u32)r->rcx, &v)) {
		vmx_inject_exception(VEC_GP, true, 0);
		return EXIT_RESUME;
	}
	r->rax = (u32)v;
	r->rdx = v >> 32;
	vmx_skip_instruction();
	return EXIT_RESUME;
}

static enum exit_action handle_wrmsr(struct vcpu *vcpu)
{
	struct guest_regs *r = &vcpu->arch->regs;
	u64 v = (r->rdx << 32) | (u32)r->rax;
	if (!msr_write(vcpu, (u32)r->rcx, v)) {
		vmx_inject_exception(VEC_GP, true, 0);
		return EXIT_RESUME;
	}
	vmx_skip_instruction();
	return EXIT_RESUME;
}

static enum exit_action handle_bad_entry(struct vcpu *vcpu)
{
	vm_stop_error(vcpu->vm, "VM entry failed: %s (qualification %#lx)",
		      arch_exit_reason_name(vcpu->arch->exit_reason & 0xffff), vcpu->arch->exit_qual);
	return EXIT_STOP;
}

static enum exit_action handle_ept_violation(struct vcpu *vcpu)
{
	u64 gpa = vmcs_read(GUEST_PHYSICAL_ADDRESS), q = vcpu->arch->exit_qual;
	const char *what = (q & 4) ? "fetch" : (q & 2) ? "write" : "read";
	/* Post-copy: a page that has not arrived; the instruction runs again once it is in. */
	if (vm_page_absent(vcpu->vm, gpa >> PAGE_SHIFT)) {
		vm_absent_fault(vcpu, gpa >> PAGE_SHIFT);
		return EXIT_BLOCKED;
	}
	/* A write to a page write-protected for the dirty log. */
	if (gpa < vcpu->vm->ram_size && (q & 2) && vcpu->vm->dirty.active &&
	    dirty_write_fault(vcpu, gpa))
		return vcpu->vm->state == VM_RUNNING ? EXIT_RESUME : EXIT_STOP;
	if (gpa >= vcpu->vm->ram_size)
		vm_stop_error(vcpu->vm, "EPT violation: %s at GPA %#lx outside guest memory (RAM ends at %#lx)",
			      what, gpa, vcpu->vm->ram_size);
	else
		vm_stop_error(vcpu->vm, "EPT violation: %s at GPA %#lx inside RAM (qualification %#lx)",
			      what, gpa, q);
	return EXIT_STOP;
}

static enum exit_action handle_ept_misconfig(struct vcpu *vcpu)
{
	vm_stop_error(vcpu->vm, "EPT misconfiguration at GPA %#lx",
		      vmcs_read(GUEST_PHYSICAL_ADDRESS));
	return EXIT_STOP;
}

static enum exit_action handle_pml_full(struct vcpu *vcpu)
{
	dirty_pml_full(vcpu);
	return EXIT_RESUME;
}

static enum exit_action handle_preempt_timer(struct vcpu *vcpu)
{
	return EXIT_YIELD;
}

static enum exit_action handle_xsetbv(struct vcpu *vcpu)
{
	struct arch_vcpu *av = vcpu->arch;
	u64 v = (av->regs.rdx << 32) | (u32)av->regs.rax;
	bool ok = (u32)av->regs.rcx == 0 && (v & XCR0_X87) && !(v & ~fpu_xcr0_supported()) &&
		  (!(v & XCR0_AVX) || (v & XCR0_SSE)) &&
		  (!(v & 0xe0) || ((v & 0xe0) == 0xe0 && (v & XCR0_AVX))) && /* AVX-512: all or none */
		  guest_cpl() == 0 &&
		  (vmcs_read(GUEST_CR4) & CR4_OSXSAVE);
	if (!ok) {
		vmx_inject_exception(VEC_GP, true, 0);
		return EXIT_RESUME;
	}
	av->xcr0 = v;
	vmx_skip_instruction();
	return EXIT_RESUME;
}

static const struct exit_entry {
	exit_handler handler;
	const char *name;
} exit_table[ARCH_NR_EXIT_REASONS] = {
	[EXIT_EXCEPTION_NMI] = { handle_exception_nmi, "EXCEPTION_NMI" },
	[EXIT_EXTERNAL_INTR] = { handle_external_intr, "EXTERNAL_INTERRUPT" },
	[EXIT_TRIPLE_FAULT] = { handle_triple_fault, "TRIPLE_FAULT" },
	[EXIT_INIT] = { NULL, "INIT" },
	[EXIT_SIPI] = { NULL, "SIPI" },
	[EXIT_INTR_WINDOW] = { handle_intr_window, "INTERRUPT_WINDOW" },
	[EXIT_NMI_WINDOW] = { NULL, "NMI_WINDOW" },
	[EXIT_TASK_SWITCH] = { NULL, "TASK_SWITCH" },
	[EXIT_CPUID] = { handle_cpuid, "CPUID" },
	[EXIT_GETSEC] = { inject_ud, "GETSEC" },
	[EXIT_HLT] = { handle_hlt, "HLT" },
	[EXIT_INVD] = { handle_invd, "INVD" },
	[EXIT_INVLPG] = { NULL, "INVLPG" },
	[EXIT_RDPMC] = { NULL, "RDPMC" },
	[EXIT_RDTSC] = { NULL, "RDTSC" },
	[EXIT_VMCALL] = { handle_vmcall, "VMCALL" },
	[EXIT_VMCLEAR] = { inject_ud, "VMCLEAR" },
	[EXIT_VMLAUNCH] = { inject_ud, "VMLAUNCH" },
	[EXIT_VMPTRLD] = { inject_ud, "VMPTRLD" },
	[EXIT_VMPTRST] = { inject_ud, "VMPTRST" },
	[EXIT_VMREAD] = { inject_ud, "VMREAD" },
	[EXIT_VMRESUME] = { inject_ud, "VMRESUME" },
	[EXIT_VMWRITE] = { inject_ud, "VMWRITE" },
	[EXIT_VMXOFF] = { inject_ud, "VMXOFF" },
	[EXIT_VMXON] = { inject_ud, "VMXON" },
	[EXIT_CR_ACCESS] = { handle_cr_access, "CR_ACCESS" },
	[EXIT_DR_ACCESS] = { NULL, "DR_ACCESS" },
	[EXIT_IO] = { handle_io, "IO_INSTRUCTION" },
	[EXIT_RDMSR] = { handle_rdmsr, "RDMSR" },
	[EXIT_WRMSR] = { handle_wrmsr, "WRMSR" },
	[EXIT_BAD_GUEST_STATE] = { handle_bad_entry, "ENTRY_FAIL_GUEST_STATE" },
	[EXIT_BAD_MSR_LOAD] = { handle_bad_entry, "ENTRY_FAIL_MSR_LOAD" },
	[EXIT_MWAIT] = { inject_ud, "MWAIT" },
	[EXIT_MTF] = { NULL, "MONITOR_TRAP_FLAG" },
	[EXIT_MONITOR] = { inject_ud, "MONITOR" },
	[EXIT_PAUSE] = { NULL, "PAUSE" },
	[EXIT_MACHINE_CHECK] = { handle_bad_entry, "ENTRY_FAIL_MACHINE_CHECK" },
	[EXIT_EPT_VIOLATION] = { handle_ept_violation, "EPT_VIOLATION" },
	[EXIT_EPT_MISCONFIG] = { handle_ept_misconfig, "EPT_MISCONFIG" },
	[EXIT_INVEPT] = { inject_ud, "INVEPT" },
	[EXIT_RDTSCP] = { NULL, "RDTSCP" },
	[EXIT_PREEMPT_TIMER] = { handle_preempt_timer, "PREEMPTION_TIMER" },
	[EXIT_INVVPID] = { inject_ud, "INVVPID" },
	[EXIT_WBINVD] = { NULL, "WBINVD" },
	[EXIT_XSETBV] = { handle_xsetbv, "XSETBV" },
	[EXIT_RDRAND] = { NULL, "RDRAND" },
	[EXIT_INVPCID] = { NULL, "INVPCID" },
	[EXIT_VMFUNC] = { inject_ud, "VMFUNC" },
	[EXIT_RDSEED] = { NULL, "RDSEED" },
	[EXIT_PML_FULL] = { handle_pml_full, "PML_FULL" },
	[EXIT_XSAVES] = { NULL, "XSAVES" },
	[EXIT_XRSTORS] = { NULL, "XRSTORS" },
};

const char *arch_exit_reason_name(unsigned reason)
{
	if (reason < ARCH_NR_EXIT_REASONS && exit_table[reason].name)
		return exit_table[reason].name;
	return "UNKNOWN";
}

enum exit_action vmx_handle_exit(struct vcpu *vcpu)
{
	u32 reason = vcpu->arch->exit_reason;
	unsigned basic = reason & 0xffff;
	if (basic < ARCH_NR_EXIT_REASONS)
		vcpu->vm->stats.exits[basic]++;
	/* Bit 31: the VM entry failed after loading guest state (SDM 27.8). */
	if ((reason & (1u << 31)) && basic != EXIT_BAD_GUEST_STATE && basic != EXIT_BAD_MSR_LOAD &&
	    basic != EXIT_MACHINE_CHECK)
		return handle_bad_entry(vcpu);
	if (basic >= ARCH_NR_EXIT_REASONS || !exit_table[basic].handler) {
		vm_stop_error(vcpu->vm, "unhandled exit %u (%s), qualification %#lx", basic,
			      arch_exit_reason_name(basic), vcpu->arch->exit_qual);
		return EXIT_STOP;
	}
	return exit_table[basic].handler(vcpu);
}

void arch_vcpu_dump(struct vcpu *vcpu, const char *p)
{
	struct arch_vcpu *av = vcpu->arch;
	struct guest_regs *r = &av->regs;
	hv_printf("%sRIP=%016lx RSP=%016lx RFLAGS=%08lx CPL=%u\n", p, vmcs_read(GUEST_RIP),
		  vmcs_read(GUEST_RSP), vmcs_read(GUEST_RFLAGS), guest_cpl());
	hv_printf("%sRAX=%016lx RBX=%016lx RCX=%016lx RDX=%016lx\n", p, r->rax, r->rbx, r->rcx, r->rdx);
	hv_printf("%sRSI=%016lx RDI=%016lx RBP=%016lx R8 =%016lx\n", p, r->rsi, r->rdi, r->rbp, r->r8);
	hv_printf("%sR9 =%016lx R10=%016lx R11=%016lx R12=%016lx\n", p, r->r9, r->r10, r->r11, r->r12);
	hv_printf("%sR13=%016lx R14=%016lx R15=%016lx CR2=%016lx\n", p, r->r13, r->r14, r->r15, r->cr2);
	hv_printf("%sCR0=%08lx CR3=%016lx CR4=%08lx EFER=%08lx XCR0=%lx\n", p,
		  vmcs_read(CR0_READ_SHADOW), vmcs_read(GUEST_CR3), vmcs_read(CR4_READ_SHADOW),
		  vmcs_read(GUEST_EFER), av->xcr0);
	hv_printf("%sCS=%04lx SS=%04lx DS=%04lx GDTR=%lx/%lx IDTR=%lx/%lx\n", p,
		  vmcs_read(GUEST_CS_SEL), vmcs_read(GUEST_SS_SEL), vmcs_read(GUEST_DS_SEL),
		  vmcs_read(GUEST_GDTR_BASE), vmcs_read(GUEST_GDTR_LIMIT),
		  vmcs_read(GUEST_IDTR_BASE), vmcs_read(GUEST_IDTR_LIMIT));
	hv_printf("%slast exit: %s (%u), qualification %#lx, interruptibility %#x\n", p,
		  arch_exit_reason_name(av->exit_reason & 0xffff), av->exit_reason & 0xffff,
		  av->exit_qual, vmcs_read32(GUEST_INTERRUPTIBILITY));
}
