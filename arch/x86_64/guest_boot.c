/*
 * The documented start state of a guest (docs/guest-abi.md): 64-bit long
 * mode on identity-mapped RAM, with the GDT and page tables Tern writes into
 * the guest's first 32 KiB, and the VMCS guest-state area to match.
 */
#include <tern/hypercall.h>
#include <tern/vm.h>
#include <string.h>
#include "cpu.h"
#include "vmcs.h"
#include "vmx.h"

#define GPTE_P 1ULL
#define GPTE_W 2ULL
#define GPTE_PS 0x80ULL
#define AR_CODE64 0xa09b
#define AR_DATA 0xc093
#define AR_TSS64_BUSY 0x8b
#define AR_UNUSABLE 0x10000
#define GUEST_PAT_RESET 0x0007040600070406ULL

static void put64(struct vm *vm, u64 gpa, u64 v)
{
	memcpy(vm->ram + gpa, &v, sizeof(v));
}

void guest_boot_write(struct vm *vm)
{
	put64(vm, TERN_GUEST_GDT + 0x00, 0);
	put64(vm, TERN_GUEST_GDT + 0x08, 0x00af9b000000ffffULL);
	put64(vm, TERN_GUEST_GDT + 0x10, 0x00cf93000000ffffULL);

	u64 pdpt = TERN_GUEST_PML4 + PAGE_SIZE, pd0 = pdpt + PAGE_SIZE;
	u64 gigs = ALIGN_UP(vm->ram_size, SZ_1G) / SZ_1G;
	memset(vm->ram + TERN_GUEST_PML4, 0, TERN_GUEST_BOOT_END - TERN_GUEST_PML4);
	put64(vm, TERN_GUEST_PML4, pdpt | GPTE_P | GPTE_W);
	for (u64 g = 0; g < gigs && g < 4; g++)
		put64(vm, pdpt + g * 8, (pd0 + g * PAGE_SIZE) | GPTE_P | GPTE_W);
	for (u64 addr = 0; addr < vm->ram_size && addr < 4 * SZ_1G; addr += SZ_2M)
		put64(vm, pd0 + addr / SZ_2M * 8, addr | GPTE_P | GPTE_W | GPTE_PS);
}

static void set_segment(enum vmcs_field sel, u16 selector, u32 ar)
{
	/* Selector, base, limit and AR fields are laid out in parallel (B.1.2, B.3.3, B.4.3). */
	unsigned i = (sel - GUEST_ES_SEL) / 2;
	vmcs_write(sel, selector);
	vmcs_write(GUEST_ES_LIMIT + 2 * i, ar == AR_TSS64_BUSY ? 0x67 : 0xffffffff);
	vmcs_write(GUEST_ES_AR + 2 * i, ar);
	vmcs_write(GUEST_ES_BASE + 2 * i, 0);
}

void arch_vcpu_reset(struct vcpu *vcpu, u64 rip)
{
	struct arch_vcpu *av = vcpu->arch;
	struct vm *vm = vcpu->vm;
	guest_boot_write(vm);

	memset(&av->regs, 0, sizeof(av->regs));
	av->regs.rdi = vm->ram_size;
	av->regs.rsi = vcpu->boot_rsi; /* the Linux 64-bit boot protocol: the zero page */
	av->xcr0 = 1;
	fpu_guest_reset(&av->guest_fpu);

	vmcs_load(av->vmcs_pa);
	vmx_guest_cr_write(CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG,
			   CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT);
	vmcs_write(GUEST_CR3, TERN_GUEST_PML4);
	vmcs_write(GUEST_EFER, EFER_LME | EFER_LMA | EFER_NXE);
	vmcs_write(ENTRY_CONTROLS, vmx_caps.entry | ENTRY_GUEST_64);

	set_segment(GUEST_CS_SEL, TERN_GUEST_CS, AR_CODE64);
	set_segment(GUEST_DS_SEL, TERN_GUEST_DS, AR_DATA);
	set_segment(GUEST_ES_SEL, TERN_GUEST_DS, AR_DATA);
	set_segment(GUEST_SS_SEL, TERN_GUEST_DS, AR_DATA);
	set_segment(GUEST_FS_SEL, TERN_GUEST_DS, AR_DATA);
	set_segment(GUEST_GS_SEL, TERN_GUEST_DS, AR_DATA);
	set_segment(GUEST_TR_SEL, 0, AR_TSS64_BUSY);
	set_segment(GUEST_LDTR_SEL, 0, AR_UNUSABLE);
	vmcs_write(GUEST_GDTR_BASE, TERN_GUEST_GDT);
	vmcs_write(GUEST_GDTR_LIMIT, 0x17);
	vmcs_write(GUEST_IDTR_BASE, 0);
	vmcs_write(GUEST_IDTR_LIMIT, 0);

	vmcs_write(GUEST_RIP, rip);
	vmcs_write(GUEST_RSP, TERN_GUEST_STACK_TOP);
	vmcs_write(GUEST_RFLAGS, 0x2);
	vmcs_write(GUEST_DR7, 0x400);
	vmcs_write(GUEST_DEBUGCTL, 0);
	/* STAR..TSC_AUX and DR0-3/DR6 live in hardware (vcpu_state.c). The TSC
	 * is not reset: it keeps counting (docs/guest-abi.md). */
	vmx_guest_hw_regs_reset();
	vmcs_write(GUEST_PAT, GUEST_PAT_RESET);
	vmcs_write(GUEST_SYSENTER_CS, 0);
	vmcs_write(GUEST_SYSENTER_ESP, 0);
	vmcs_write(GUEST_SYSENTER_EIP, 0);
	vmcs_write(GUEST_INTERRUPTIBILITY, 0);
	vmcs_write(GUEST_ACTIVITY_STATE, 0);
	vmcs_write(GUEST_PENDING_DBG, 0);
	vmcs_write(ENTRY_INTR_INFO, 0);
	vmcs_write(PROC_CONTROLS, vmx_caps.proc);
	av->proc_ctls = vmx_caps.proc;

	vcpu->halted = false;
	vcpu->timer_deadline_ns = 0;
	ept_invalidate(vm->arch->eptp);
}
