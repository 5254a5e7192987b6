/*
 * VMX bring-up and per-vCPU VMCS setup: probe what the CPU offers, turn
 * VMX on (handling IA32_FEATURE_CONTROL, which OVMF leaves unlocked), and
 * fill a VMCS with the host state and the controls every guest runs with.
 * Context: boot CPU, interrupts off.
 */
#include <tern/arch.h>
#include <tern/log.h>
#include <tern/mm.h>
#include <tern/pmm.h>
#include <tern/vm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cpu.h"
#include "desc.h"
#include "vmcs.h"
#include "vmx.h"
#include "vmx_ctl.h"

struct vmx_caps vmx_caps;

#define BASIC_TRUE_CTLS (1ULL << 55)
#define EPT_CAP_WALK4 (1ULL << 6)
#define EPT_CAP_WB (1ULL << 14)
#define EPT_CAP_INVEPT (1ULL << 20)
#define EPT_CAP_AD (1ULL << 21)
#define EPT_CAP_INVEPT_SINGLE (1ULL << 25)
#define EPT_CAP_INVEPT_ALL (1ULL << 26)

static int fail(char *why, size_t len, const char *msg, u32 bits)
{
	if (bits)
		snprintf(why, len, "%s (missing control bits %#x)", msg, bits);
	else
		snprintf(why, len, "%s", msg);
	return -1;
}

/* Firmware may have locked VMX off; if it left the MSR unlocked, we lock it on. */
static int enable_feature_control(char *why, size_t len)
{
	u64 fc = rdmsr(MSR_FEATURE_CONTROL);
	if (fc & FEATURE_CONTROL_LOCK) {
		if (!(fc & FEATURE_CONTROL_VMX_OUTSIDE_SMX))
			return fail(why, len, "VMX not available: disabled by firmware (IA32_FEATURE_CONTROL locked)", 0);
		return 0;
	}
	wrmsr(MSR_FEATURE_CONTROL, fc | FEATURE_CONTROL_LOCK | FEATURE_CONTROL_VMX_OUTSIDE_SMX);
	return 0;
}

static int probe_controls(char *why, size_t len)
{
	struct vmx_caps *c = &vmx_caps;
	u64 basic = rdmsr(MSR_VMX_BASIC);
	bool true_ctls = basic & BASIC_TRUE_CTLS;
	u32 missing;

	c->revision = (u32)basic & 0x7fffffff;
	c->io_instr_info = basic & (1ULL << 54);
	/* EPT first: the CPUs without it (Penryn and older) also lack the
	 * preemption timer, and EPT is the reason that matters. The secondary
	 * controls MSR exists only when the primary ones allow it. */
	u64 proc_cap = rdmsr(true_ctls ? MSR_VMX_TRUE_PROCBASED : MSR_VMX_PROCBASED);
	if (!((proc_cap >> 32) & PROC_SECONDARY) || !((rdmsr(MSR_VMX_PROCBASED2) >> 32) & PROC2_EPT))
		return fail(why, len, "EPT not available", 0);
	if (vmx_ctl_adjust(rdmsr(true_ctls ? MSR_VMX_TRUE_PINBASED : MSR_VMX_PINBASED),
			   PIN_EXT_INTR_EXIT | PIN_NMI_EXIT | PIN_PREEMPT_TIMER, PIN_VIRTUAL_NMI,
			   &c->pin, &missing))
		return fail(why, len, "VMX preemption timer or NMI exiting not available", missing);
	if (vmx_ctl_adjust(rdmsr(true_ctls ? MSR_VMX_TRUE_PROCBASED : MSR_VMX_PROCBASED),
			   PROC_HLT_EXIT | PROC_UNCOND_IO_EXIT | PROC_USE_MSR_BITMAPS |
			   PROC_MWAIT_EXIT | PROC_MONITOR_EXIT | PROC_SECONDARY, PROC_TSC_OFFSET,
			   &c->proc, &missing))
		return fail(why, len, "VMX processor controls not available", missing);
	if (c->proc & (PROC_CR3_LOAD_EXIT | PROC_CR3_STORE_EXIT))
		return fail(why, len, "CR3 exiting cannot be turned off", 0);
	/* vcpu_state.c relies on DR0-3/DR6 staying live in hardware for the guest. */
	if (c->proc & PROC_MOV_DR_EXIT)
		return fail(why, len, "MOV-DR exiting cannot be turned off", 0);
	if (vmx_ctl_adjust(rdmsr(MSR_VMX_PROCBASED2), PROC2_EPT | PROC2_UNRESTRICTED,
			   PROC2_VPID | PROC2_RDTSCP | PROC2_INVPCID, &c->proc2, &missing)) {
		if (missing & PROC2_EPT)
			return fail(why, len, "EPT not available", 0);
		return fail(why, len, "unrestricted guest not available", missing);
	}
	if (vmx_ctl_adjust(rdmsr(true_ctls ? MSR_VMX_TRUE_EXIT : MSR_VMX_EXIT),
			   EXIT_HOST_64 | EXIT_ACK_INTR | EXIT_SAVE_EFER | EXIT_LOAD_EFER |
			   EXIT_SAVE_PAT | EXIT_LOAD_PAT | EXIT_SAVE_DEBUG, 0, &c->exit, &missing))
		return fail(why, len, "VMX exit controls not available", missing);
	if (vmx_ctl_adjust(rdmsr(true_ctls ? MSR_VMX_TRUE_ENTRY : MSR_VMX_ENTRY),
			   ENTRY_LOAD_EFER | ENTRY_LOAD_PAT | ENTRY_LOAD_DEBUG, 0, &c->entry, &missing))
		return fail(why, len, "VMX entry controls not available", missing);

	c->ept_vpid = rdmsr(MSR_VMX_EPT_VPID_CAP);
	if (!(c->ept_vpid & EPT_CAP_WALK4) || !(c->ept_vpid & EPT_CAP_WB) ||
	    !(c->ept_vpid & EPT_CAP_INVEPT) ||
	    !(c->ept_vpid & (EPT_CAP_INVEPT_SINGLE | EPT_CAP_INVEPT_ALL)))
		return fail(why, len, "EPT not available (no 4-level write-back EPT with INVEPT)", 0);
	c->invept_single = c->ept_vpid & EPT_CAP_INVEPT_SINGLE;
	c->ept_ad = c->ept_vpid & EPT_CAP_AD;
	c->vpid = c->proc2 & PROC2_VPID;
	/* PML is probed here and used by dirty logging (it needs EPT A/D bits). */
	u32 proc2_cap = (u32)(rdmsr(MSR_VMX_PROCBASED2) >> 32);
	c->pml = (proc2_cap & PROC2_PML) && c->ept_ad;
	c->preempt_shift = rdmsr(MSR_VMX_MISC) & 0x1f;
	c->cr0_fixed0 = rdmsr(MSR_VMX_CR0_FIXED0);
	c->cr0_fixed1 = rdmsr(MSR_VMX_CR0_FIXED1);
	c->cr4_fixed0 = rdmsr(MSR_VMX_CR4_FIXED0);
	c->cr4_fixed1 = rdmsr(MSR_VMX_CR4_FIXED1);
	return 0;
}

static u64 alloc_page_zeroed(struct pmm *pmm)
{
	u64 pa = pmm_alloc(pmm, 1, PAGE_SIZE);
	if (pa)
		memset(phys_to_virt(pa), 0, PAGE_SIZE);
	return pa;
}

int arch_virt_init(struct pmm *pmm, char *why, size_t why_len)
{
	u32 a, b, c, d;
	cpuid(1, 0, &a, &b, &c, &d);
	if (!(c & (1u << 5)))
		return fail(why, why_len, "VMX not available: the CPU does not report VMX (CPUID.1:ECX.VMX = 0)", 0);
	if (enable_feature_control(why, why_len) || probe_controls(why, why_len))
		return -1;

	write_cr0(vmx_cr_fix(read_cr0(), vmx_caps.cr0_fixed0, vmx_caps.cr0_fixed1, 0));
	write_cr4(vmx_cr_fix(read_cr4() | CR4_VMXE, vmx_caps.cr4_fixed0, vmx_caps.cr4_fixed1, 0));
	u64 vmxon_pa = alloc_page_zeroed(pmm);
	if (!vmxon_pa)
		return fail(why, why_len, "out of memory for the VMXON region", 0);
	*(u32 *)phys_to_virt(vmxon_pa) = vmx_caps.revision;
	bool ok;
	asm volatile("vmxon %1" : "=@cca"(ok) : "m"(vmxon_pa) : "cc", "memory");
	if (!ok)
		return fail(why, why_len, "VMXON failed", 0);

	hv_printf("tern: VMX on: EPT%s, unrestricted guest, VPID %s, preemption timer (TSC/%u)\n",
		  vmx_caps.ept_ad ? " with A/D bits" : "", vmx_caps.vpid ? "yes" : "no",
		  1u << vmx_caps.preempt_shift);
	if (!(vmx_caps.proc & PROC_TSC_OFFSET))
		hv_printf("tern: TSC offsetting not available: guests read the host's TSC\n");
	if (vmx_caps.pml)
		hv_printf("tern: PML available\n");
	else
		hv_printf("tern: PML not available, using write protection\n");
	return 0;
}

int arch_vm_init(struct vm *vm, struct pmm *pmm)
{
	vm->arch = calloc(1, sizeof(struct arch_vm));
	if (!vm->arch)
		return -1;
	vm->arch->pmm = pmm;
	return ept_build(vm, pmm);
}

/* MSRs the guest owns outright: the host never uses them (SYSCALL, swapgs),
 * so the hardware holds the guest's values while Tern runs. vcpu_state.c
 * saves, loads and resets them with the rest of the vCPU: keep it in step. */
static const u32 passthrough_msrs[] = {
	MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SFMASK, MSR_KERNEL_GS_BASE, MSR_TSC_AUX,
};

static void msr_bitmap_init(u8 *bm)
{
	memset(bm, 0xff, PAGE_SIZE);
	for (size_t i = 0; i < ARRAY_SIZE(passthrough_msrs); i++) {
		u32 msr = passthrough_msrs[i];
		u32 base = (msr >= 0xc0000000) ? 1024 : 0;
		u32 bit = msr & 0x1fff;
		bm[base + bit / 8] &= (u8)~(1u << (bit % 8));        /* read */
		bm[base + 2048 + bit / 8] &= (u8)~(1u << (bit % 8)); /* write */
	}
}

static void vmcs_write_host_state(void)
{
	vmcs_write(HOST_CR0, read_cr0());
	vmcs_write(HOST_CR3, read_cr3());
	vmcs_write(HOST_CR4, read_cr4());
	vmcs_write(HOST_CS_SEL, SEL_CODE64);
	vmcs_write(HOST_SS_SEL, SEL_DATA);
	vmcs_write(HOST_DS_SEL, SEL_DATA);
	vmcs_write(HOST_ES_SEL, SEL_DATA);
	vmcs_write(HOST_FS_SEL, SEL_DATA);
	vmcs_write(HOST_GS_SEL, SEL_DATA);
	vmcs_write(HOST_TR_SEL, SEL_TSS);
	vmcs_write(HOST_FS_BASE, rdmsr(MSR_FS_BASE));
	vmcs_write(HOST_GS_BASE, rdmsr(MSR_GS_BASE));
	vmcs_write(HOST_TR_BASE, desc_tss_base());
	vmcs_write(HOST_GDTR_BASE, desc_gdt_base());
	vmcs_write(HOST_IDTR_BASE, desc_idt_base());
	vmcs_write(HOST_SYSENTER_CS, 0);
	vmcs_write(HOST_SYSENTER_ESP, 0);
	vmcs_write(HOST_SYSENTER_EIP, 0);
	vmcs_write(HOST_EFER, rdmsr(MSR_EFER));
	vmcs_write(HOST_PAT, rdmsr(MSR_PAT));
	vmcs_write(HOST_RIP, (u64)vmx_exit_stub);
}

int arch_vcpu_init(struct vcpu *vcpu, struct pmm *pmm)
{
	u64 n = ALIGN_UP(sizeof(struct arch_vcpu), PAGE_SIZE) / PAGE_SIZE;
	u64 pa = pmm_alloc(pmm, n, PAGE_SIZE);
	u64 vmcs_pa = alloc_page_zeroed(pmm);
	u64 bitmap_pa = alloc_page_zeroed(pmm);
	if (!pa || !vmcs_pa || !bitmap_pa)
		return -1;
	struct arch_vcpu *av = phys_to_virt(pa);
	memset(av, 0, sizeof(*av));
	vcpu->arch = av;
	av->vmcs_pa = vmcs_pa;
	av->msr_bitmap_pa = bitmap_pa;
	*(u32 *)phys_to_virt(vmcs_pa) = vmx_caps.revision;
	msr_bitmap_init(phys_to_virt(bitmap_pa));

	vmcs_clear(vmcs_pa);
	vmcs_load(vmcs_pa);
	vmcs_write(PIN_CONTROLS, vmx_caps.pin);
	vmcs_write(PROC_CONTROLS, vmx_caps.proc);
	av->proc_ctls = vmx_caps.proc;
	vmcs_write(PROC_CONTROLS2, vmx_caps.proc2);
	vmcs_write(EXIT_CONTROLS, vmx_caps.exit);
	vmcs_write(ENTRY_CONTROLS, vmx_caps.entry);
	vmcs_write(EXCEPTION_BITMAP, 0);
	vmcs_write(PF_ERROR_MASK, 0);
	vmcs_write(PF_ERROR_MATCH, 0);
	vmcs_write(CR3_TARGET_COUNT, 0);
	vmcs_write(EXIT_MSR_STORE_COUNT, 0);
	vmcs_write(EXIT_MSR_LOAD_COUNT, 0);
	vmcs_write(ENTRY_MSR_LOAD_COUNT, 0);
	vmcs_write(ENTRY_INTR_INFO, 0);
	/* The guest TSC starts as the host's (offset 0); see docs/guest-abi.md. */
	vmcs_write(TSC_OFFSET, 0);
	av->tsc_offset = 0;
	vmcs_write(MSR_BITMAP, bitmap_pa);
	vmcs_write(EPT_POINTER, ((struct arch_vm *)vcpu->vm->arch)->eptp);
	if (vmx_caps.vpid)
		vmcs_write(VPID, 1 + vcpu->id);
	vmcs_write(VMCS_LINK_POINTER, ~0ULL);
	vmcs_write_host_state();
	return 0;
}
