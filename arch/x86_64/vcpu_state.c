/*
 * The whole vCPU state in and out of struct vcpu_state (tern/vcpu_state.h):
 * GPRs from the guest register block, the rest from the VMCS guest-state
 * area, the XSAVE area Tern keeps for the guest (fpu.c saves it in the
 * standard, non-compacted format on every exit), and what lives in the
 * hardware itself while Tern runs: the passed-through MSRs (vmx.c's
 * passthrough_msrs[]: Tern never uses them) and DR0-DR3/DR6 (MOV DR does
 * not exit and Tern never uses them; DR7 is in the VMCS). Also the guest
 * TSC (TSC offsetting) and the caps a loaded state is checked against.
 * Context: the service loop, the vCPU out of the guest.
 */
#include <tern/arch.h>
#include <tern/mig_stream.h>
#include <tern/vcpu_state.h>
#include <tern/vm.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "cpu.h"
#include "fpu.h"
#include "vmcs.h"
#include "vmx.h"
#include "vmx_ctl.h"

#define XSAVE_HEADER 512
#define XSAVE_LEGACY_END 576
#define DR6_RESET 0xffff0ff0ULL
#define DR7_RESET 0x400ULL
#define CR0_HIGH 0xffffffff00000000ULL

/* ---- pieces shared with the reset path (guest_boot.c) ---- */

/* CPUID.80000001H:EDX.RDTSCP: without it IA32_TSC_AUX does not exist (#GP). */
static bool have_tsc_aux(void)
{
	static int known = -1;
	if (known < 0) {
		u32 a, b, c, d;
		cpuid(0x80000000, 0, &a, &b, &c, &d);
		known = 0;
		if (a >= 0x80000001) {
			cpuid(0x80000001, 0, &a, &b, &c, &d);
			known = !!(d & (1u << 27));
		}
	}
	return known;
}

#define DR_ACCESSORS(n) \
	static u64 read_dr##n(void) { u64 v; asm volatile("mov %%db" #n ", %0" : "=r"(v)); return v; } \
	static void write_dr##n(u64 v) { asm volatile("mov %0, %%db" #n : : "r"(v)); }
DR_ACCESSORS(0)
DR_ACCESSORS(1)
DR_ACCESSORS(2)
DR_ACCESSORS(3)
DR_ACCESSORS(6)
#undef DR_ACCESSORS

void vmx_guest_hw_regs_reset(void)
{
	wrmsr(MSR_STAR, 0);
	wrmsr(MSR_LSTAR, 0);
	wrmsr(MSR_CSTAR, 0);
	wrmsr(MSR_SFMASK, 0);
	wrmsr(MSR_KERNEL_GS_BASE, 0);
	if (have_tsc_aux())
		wrmsr(MSR_TSC_AUX, 0);
	write_dr0(0);
	write_dr1(0);
	write_dr2(0);
	write_dr3(0);
	write_dr6(DR6_RESET);
}

void vmx_guest_cr_write(u64 cr0, u64 cr4)
{
	/* Bits Tern owns: mode switches (PE, PG), caching (CD, NW), and NE and
	 * VMXE which VMX forces on; the guest reads its own view from the shadow. */
	vmcs_write(CR0_GUEST_HOST_MASK, CR0_PE | CR0_PG | CR0_CD | CR0_NW | CR0_NE | CR0_HIGH);
	vmcs_write(CR4_GUEST_HOST_MASK, CR4_VMXE | vmx_caps.cr4_fixed0 | ~vmx_caps.cr4_fixed1);
	vmcs_write(CR0_READ_SHADOW, cr0);
	vmcs_write(CR4_READ_SHADOW, cr4);
	vmcs_write(GUEST_CR0, vmx_cr_fix(cr0 & ~(CR0_CD | CR0_NW), vmx_caps.cr0_fixed0,
					 vmx_caps.cr0_fixed1, CR0_PE | CR0_PG));
	vmcs_write(GUEST_CR4, vmx_cr_fix(cr4, vmx_caps.cr4_fixed0, vmx_caps.cr4_fixed1, 0));
}

/* What MOV from CR reads: the shadow for the bits Tern owns, the register for the rest. */
static u64 guest_cr_view(enum vmcs_field real, enum vmcs_field mask, enum vmcs_field shadow)
{
	u64 m = vmcs_read(mask);
	return (vmcs_read(real) & ~m) | (vmcs_read(shadow) & m);
}

/* ---- TSC ---- */

u64 arch_vcpu_get_tsc(struct vcpu *vcpu)
{
	return rdtsc() + vcpu->arch->tsc_offset;
}

void arch_vcpu_set_tsc(struct vcpu *vcpu, u64 tsc)
{
	struct arch_vcpu *av = vcpu->arch;
	if (!(vmx_caps.proc & PROC_TSC_OFFSET))
		return; /* the guest reads the host's TSC, and so does get_tsc */
	av->tsc_offset = tsc - rdtsc();
	vmcs_load(av->vmcs_pa);
	vmcs_write(TSC_OFFSET, av->tsc_offset);
}

/* ---- caps and fingerprint ---- */

static u8 maxphyaddr(void)
{
	u32 a, b, c, d;
	cpuid(0x80000000, 0, &a, &b, &c, &d);
	if (a < 0x80000008)
		return 36;
	cpuid(0x80000008, 0, &a, &b, &c, &d);
	return (u8)a;
}

void arch_vcpu_caps(struct vcpu_caps *caps)
{
	u32 a, b, c, d, ext_d = 0;
	memset(caps, 0, sizeof(*caps));
	caps->cr0_fixed0 = vmx_caps.cr0_fixed0;
	caps->cr0_fixed1 = vmx_caps.cr0_fixed1;
	caps->cr4_fixed0 = vmx_caps.cr4_fixed0;
	caps->cr4_fixed1 = vmx_caps.cr4_fixed1;
	caps->unrestricted = vmx_caps.proc2 & PROC2_UNRESTRICTED;
	cpuid(0x80000000, 0, &a, &b, &c, &d);
	if (a >= 0x80000001)
		cpuid(0x80000001, 0, &a, &b, &c, &ext_d);
	/* The EFER bits vmx_exit.c's WRMSR lets a guest set, where the CPU has them. */
	if (ext_d & (1u << 11))
		caps->efer_allowed |= EFER_SCE;
	if (ext_d & (1u << 29))
		caps->efer_allowed |= EFER_LME | EFER_LMA;
	if (ext_d & (1u << 20))
		caps->efer_allowed |= EFER_NXE;
	caps->xcr0_supported = fpu_xcr0_supported();
	caps->xsave_max = fpu_xsave_size();
	caps->maxphyaddr = maxphyaddr();
	caps->mxcsr_mask = fpu_mxcsr_mask();
}

void arch_cpu_fingerprint(struct mig_cpu_fp *fp)
{
	u32 a, b, c, d, max, ext_max;
	memset(fp, 0, sizeof(*fp));
	cpuid(0, 0, &max, &b, &c, &d);
	cpuid(0x80000000, 0, &ext_max, &b, &c, &d);
	/* Filtered as the CPUID exit shows them, with guest CR4 = 0: OSXSAVE
	 * mirrors the guest's CR4, not a feature, so it is never in the print. */
	cpuid(1, 0, &a, &b, &c, &d);
	vmx_cpuid_filter(1, 0, 0, &a, &b, &c, &d);
	fp->leaf1_ecx = c;
	fp->leaf1_edx = d;
	if (max >= 7) {
		cpuid(7, 0, &a, &b, &c, &d);
		vmx_cpuid_filter(7, 0, 0, &a, &b, &c, &d);
		fp->leaf7_ebx = b;
		fp->leaf7_ecx = c;
		fp->leaf7_edx = d;
	}
	if (ext_max >= 0x80000001) {
		cpuid(0x80000001, 0, &a, &b, &c, &d);
		vmx_cpuid_filter(0x80000001, 0, 0, &a, &b, &c, &d);
		fp->ext1_ecx = c;
		fp->ext1_edx = d;
	}
	fp->xcr0_mask = fpu_xcr0_supported();
}

/* ---- save ---- */

static void save_segments(struct vcpu_state *s)
{
	/* Selector, limit, access rights and base fields are laid out in parallel
	 * in VMCS order ES, CS, SS, DS, FS, GS, LDTR, TR, as enum vcpu_seg_index. */
	for (unsigned i = 0; i < VSEG_NR; i++) {
		struct vcpu_segment *g = &s->seg[i];
		g->selector = (u16)vmcs_read(GUEST_ES_SEL + 2 * i);
		g->limit = vmcs_read32(GUEST_ES_LIMIT + 2 * i);
		g->attrib = vmcs_read32(GUEST_ES_AR + 2 * i);
		g->base = vmcs_read(GUEST_ES_BASE + 2 * i);
	}
	s->gdtr_base = vmcs_read(GUEST_GDTR_BASE);
	s->gdtr_limit = vmcs_read32(GUEST_GDTR_LIMIT);
	s->idtr_base = vmcs_read(GUEST_IDTR_BASE);
	s->idtr_limit = vmcs_read32(GUEST_IDTR_LIMIT);
}

static void save_xsave(struct arch_vcpu *av, struct vcpu_state *s)
{
	u64 bv;
	s->xcr0 = av->xcr0;
	s->xsave_len = MIN(fpu_xsave_size(), (u32)VCPU_XSAVE_MAX);
	memcpy(s->xsave, av->guest_fpu.data, s->xsave_len);
	memcpy(&bv, s->xsave + XSAVE_HEADER, sizeof(bv));
	if (!fpu_has_xsave()) {
		/* FXSAVE: no header, the legacy region always holds live state. */
		memset(s->xsave + XSAVE_HEADER, 0, XSAVE_LEGACY_END - XSAVE_HEADER);
		bv = XCR0_X87 | XCR0_SSE;
	} else {
		/* Tern saves under its own XCR0; a component the guest's XCR0
		 * does not enable (AVX after XCR0 dropped it) cannot be reached
		 * by the guest: it travels in its initial state. */
		bv &= av->xcr0 | XCR0_X87 | XCR0_SSE;
	}
	memcpy(s->xsave + XSAVE_HEADER, &bv, sizeof(bv));
}

void arch_vcpu_save(struct vcpu *vcpu, struct vcpu_state *s)
{
	struct arch_vcpu *av = vcpu->arch;
	const struct guest_regs *r = &av->regs;

	memset(s, 0, sizeof(*s));
	vmcs_load(av->vmcs_pa);
	s->version = VCPU_STATE_VERSION;
	s->size = sizeof(*s);
	s->rax = r->rax, s->rbx = r->rbx, s->rcx = r->rcx, s->rdx = r->rdx;
	s->rsi = r->rsi, s->rdi = r->rdi, s->rbp = r->rbp;
	s->r8 = r->r8, s->r9 = r->r9, s->r10 = r->r10, s->r11 = r->r11;
	s->r12 = r->r12, s->r13 = r->r13, s->r14 = r->r14, s->r15 = r->r15;
	s->rsp = vmcs_read(GUEST_RSP);
	s->rip = vmcs_read(GUEST_RIP);
	s->rflags = vmcs_read(GUEST_RFLAGS);

	s->cr0 = guest_cr_view(GUEST_CR0, CR0_GUEST_HOST_MASK, CR0_READ_SHADOW);
	s->cr2 = r->cr2;
	s->cr3 = vmcs_read(GUEST_CR3);
	s->cr4 = guest_cr_view(GUEST_CR4, CR4_GUEST_HOST_MASK, CR4_READ_SHADOW);
	s->efer = vmcs_read(GUEST_EFER);
	s->pat = vmcs_read(GUEST_PAT);
	s->dr0 = read_dr0();
	s->dr1 = read_dr1();
	s->dr2 = read_dr2();
	s->dr3 = read_dr3();
	s->dr6 = read_dr6();
	s->dr7 = vmcs_read(GUEST_DR7);
	save_segments(s);

	s->star = rdmsr(MSR_STAR);
	s->lstar = rdmsr(MSR_LSTAR);
	s->cstar = rdmsr(MSR_CSTAR);
	s->sfmask = rdmsr(MSR_SFMASK);
	s->kernel_gs_base = rdmsr(MSR_KERNEL_GS_BASE);
	s->tsc_aux = have_tsc_aux() ? rdmsr(MSR_TSC_AUX) : 0;
	s->sysenter_cs = vmcs_read32(GUEST_SYSENTER_CS);
	s->sysenter_esp = vmcs_read(GUEST_SYSENTER_ESP);
	s->sysenter_eip = vmcs_read(GUEST_SYSENTER_EIP);
	s->tsc = arch_vcpu_get_tsc(vcpu);

	s->interruptibility = vmcs_read32(GUEST_INTERRUPTIBILITY);
	/* Tern retires HLT itself and parks the vCPU (vcpu->halted); the VMX
	 * activity state stays active. The state carries either as HLT. */
	s->activity = vcpu->halted ? 1 : vmcs_read32(GUEST_ACTIVITY_STATE);
	s->pending_event = vmcs_read32(ENTRY_INTR_INFO);
	if (s->pending_event & INTR_INFO_VALID) {
		if (s->pending_event & INTR_INFO_HAS_ERROR)
			s->pending_error = vmcs_read32(ENTRY_EXCEPTION_ERROR);
		s->pending_insn_len = vmcs_read32(ENTRY_INSTR_LEN);
	} else {
		s->pending_event = 0; /* the rest is stale: never injected */
	}
	s->ia32e_mode = !!(vmcs_read32(ENTRY_CONTROLS) & ENTRY_GUEST_64);
	s->pending_dbg = vmcs_read(GUEST_PENDING_DBG);
	save_xsave(av, s);
}

/* ---- load ---- */

__attribute__((format(printf, 3, 4))) static int refuse(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * PAE paging outside long mode: VM entry loads the four PDPTEs from the
 * VMCS (EPT is on), and the state carries none, so they are read again
 * from guest RAM at CR3 as MOV CR3 would, refusing what VM entry would.
 */
static int pae_pdptes(struct vcpu *vcpu, const struct vcpu_state *s, u64 pdpte[4], u8 pa_bits,
		      char *why, size_t len)
{
	memset(pdpte, 0, 4 * sizeof(u64));
	if (!(s->cr0 & CR0_PG) || !(s->cr4 & CR4_PAE) || (s->efer & EFER_LMA))
		return 0;
	u64 gpa = s->cr3 & 0xffffffe0ULL;
	const u8 *p = vm_gpa_ptr(vcpu->vm, gpa, 32);
	if (!p)
		return refuse(why, len, "cpu state: PAE page-directory pointers at %#lx outside RAM", gpa);
	memcpy(pdpte, p, 32);
	u64 reserved = 0x1e6ULL | (pa_bits < 64 ? ~0ULL << pa_bits : 0);
	for (int i = 0; i < 4; i++)
		if ((pdpte[i] & 1) && (pdpte[i] & reserved))
			return refuse(why, len, "cpu state: PAE PDPTE %d (%#lx) sets reserved bits", i,
				      pdpte[i]);
	return 0;
}

static void load_segments(const struct vcpu_state *s)
{
	for (unsigned i = 0; i < VSEG_NR; i++) {
		const struct vcpu_segment *g = &s->seg[i];
		vmcs_write(GUEST_ES_SEL + 2 * i, g->selector);
		vmcs_write(GUEST_ES_LIMIT + 2 * i, g->limit);
		vmcs_write(GUEST_ES_AR + 2 * i, g->attrib);
		vmcs_write(GUEST_ES_BASE + 2 * i, g->base);
	}
	vmcs_write(GUEST_GDTR_BASE, s->gdtr_base);
	vmcs_write(GUEST_GDTR_LIMIT, s->gdtr_limit);
	vmcs_write(GUEST_IDTR_BASE, s->idtr_base);
	vmcs_write(GUEST_IDTR_LIMIT, s->idtr_limit);
}

static void load_xsave(struct arch_vcpu *av, const struct vcpu_state *s)
{
	u8 *area = av->guest_fpu.data;
	u64 bv;
	memcpy(area, s->xsave, s->xsave_len);
	memset(area + s->xsave_len, 0, sizeof(av->guest_fpu.data) - s->xsave_len);
	memcpy(&bv, area + XSAVE_HEADER, sizeof(bv));
	if (!fpu_has_xsave())
		fpu_legacy_apply_xstate_bv(&av->guest_fpu, bv); /* FXRSTOR reads no header */
	av->xcr0 = s->xcr0;
}

int arch_vcpu_load(struct vcpu *vcpu, const struct vcpu_state *s, char *why, size_t why_len)
{
	struct arch_vcpu *av = vcpu->arch;
	struct guest_regs *r = &av->regs;
	struct vcpu_caps caps;
	u64 pdpte[4];

	arch_vcpu_caps(&caps);
	if (vcpu_state_check(s, &caps, why, why_len))
		return -1;
	if (s->tsc_aux && !have_tsc_aux())
		return refuse(why, why_len, "cpu state: TSC_AUX %#lx on a CPU without RDTSCP", s->tsc_aux);
	if (pae_pdptes(vcpu, s, pdpte, caps.maxphyaddr, why, why_len))
		return -1;

	/* Nothing was touched until here. */
	vmcs_load(av->vmcs_pa);
	r->rax = s->rax, r->rbx = s->rbx, r->rcx = s->rcx, r->rdx = s->rdx;
	r->rsi = s->rsi, r->rdi = s->rdi, r->rbp = s->rbp;
	r->r8 = s->r8, r->r9 = s->r9, r->r10 = s->r10, r->r11 = s->r11;
	r->r12 = s->r12, r->r13 = s->r13, r->r14 = s->r14, r->r15 = s->r15;
	r->cr2 = s->cr2;
	vmcs_write(GUEST_RSP, s->rsp);
	vmcs_write(GUEST_RIP, s->rip);
	vmcs_write(GUEST_RFLAGS, s->rflags);

	vmx_guest_cr_write(s->cr0, s->cr4);
	vmcs_write(GUEST_CR3, s->cr3);
	vmcs_write(GUEST_EFER, s->efer);
	vmcs_write(GUEST_PAT, s->pat);
	vmcs_write(ENTRY_CONTROLS, vmx_caps.entry | (s->ia32e_mode ? ENTRY_GUEST_64 : 0));
	for (int i = 0; i < 4; i++)
		vmcs_write(GUEST_PDPTE0 + 2 * i, pdpte[i]);
	write_dr0(s->dr0);
	write_dr1(s->dr1);
	write_dr2(s->dr2);
	write_dr3(s->dr3);
	write_dr6(s->dr6);
	vmcs_write(GUEST_DR7, s->dr7);
	vmcs_write(GUEST_DEBUGCTL, 0); /* guests cannot write it (not on the MSR allow-list) */
	load_segments(s);

	wrmsr(MSR_STAR, s->star);
	wrmsr(MSR_LSTAR, s->lstar);
	wrmsr(MSR_CSTAR, s->cstar);
	wrmsr(MSR_SFMASK, s->sfmask);
	wrmsr(MSR_KERNEL_GS_BASE, s->kernel_gs_base);
	if (have_tsc_aux())
		wrmsr(MSR_TSC_AUX, s->tsc_aux);
	vmcs_write(GUEST_SYSENTER_CS, s->sysenter_cs);
	vmcs_write(GUEST_SYSENTER_ESP, s->sysenter_esp);
	vmcs_write(GUEST_SYSENTER_EIP, s->sysenter_eip);

	vmcs_write(GUEST_INTERRUPTIBILITY, s->interruptibility);
	vmcs_write(GUEST_ACTIVITY_STATE, 0);
	vcpu->halted = s->activity == 1;
	vmcs_write(GUEST_PENDING_DBG, s->pending_dbg);
	vmcs_write(ENTRY_INTR_INFO, s->pending_event);
	vmcs_write(ENTRY_EXCEPTION_ERROR, s->pending_error);
	vmcs_write(ENTRY_INSTR_LEN, s->pending_insn_len);
	load_xsave(av, s);
	arch_vcpu_set_tsc(vcpu, s->tsc);
	/* Linear translations cached under the old CR3 are tagged with this
	 * VPID and EPTP: drop them. */
	ept_invalidate(vcpu->vm->arch->eptp);
	return 0;
}

/* ---- self-check ---- */

int arch_vcpu_selftest(struct vcpu *vcpu, char *why, size_t len)
{
	static struct vcpu_state a, b;
	struct arch_vcpu *av = vcpu->arch;
	u64 offset = av->tsc_offset;

	arch_vcpu_save(vcpu, &a);
	if (arch_vcpu_load(vcpu, &a, why, len))
		return -1;
	/* The load set the guest TSC back to its value at the save; give the
	 * guest its clock back as it was, then compare all but the TSC. */
	av->tsc_offset = offset;
	if (vmx_caps.proc & PROC_TSC_OFFSET)
		vmcs_write(TSC_OFFSET, offset);
	arch_vcpu_save(vcpu, &b);
	b.tsc = a.tsc;
	if (memcmp(&a, &b, sizeof(a))) {
		size_t i = 0;
		while (((const u8 *)&a)[i] == ((const u8 *)&b)[i])
			i++;
		return refuse(why, len, "cpu state: save, load, save differ at byte %zu of %zu", i,
			      sizeof(a));
	}
	return 0;
}
