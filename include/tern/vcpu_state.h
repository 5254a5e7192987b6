/*
 * The whole architectural state of one vCPU as a plain, fixed-layout struct:
 * what the migration stream's "cpu" section carries and what system_reset
 * and a migration load back. arch_vcpu_save() fills it from the VMCS, the
 * guest register block, the passed-through MSRs and the XSAVE area;
 * arch_vcpu_load() refuses anything a VM entry could fault on.
 *
 * vcpu_state_check() is the pure half of that refusal (no hardware access,
 * host unit tests and a fuzzer): canonical addresses, reserved CR0/CR4/EFER
 * bits against the caps given, segment attribute sanity, the IA-32e entry
 * control against EFER.LMA, event injection fields, XCR0 and the XSAVE
 * header. The layout is versioned: VCPU_STATE_VERSION changes whenever a
 * field is added, and the stream's section version says which one a
 * stream carries.
 */
#ifndef TERN_VCPU_STATE_H
#define TERN_VCPU_STATE_H

#include <tern/types.h>

#define VCPU_STATE_VERSION 1
#define VCPU_XSAVE_MAX 4096 /* bytes of XSAVE area carried (legacy 512 + header 64 + components) */

struct vcpu_segment {
	u16 selector;
	u16 pad;
	u32 limit;
	u32 attrib; /* VMX access-rights format; bit 16 = unusable */
	u32 pad2;
	u64 base;
};

enum vcpu_seg_index { VSEG_ES, VSEG_CS, VSEG_SS, VSEG_DS, VSEG_FS, VSEG_GS, VSEG_LDTR, VSEG_TR, VSEG_NR };

struct vcpu_state {
	u32 version; /* VCPU_STATE_VERSION */
	u32 size;    /* sizeof(struct vcpu_state) */
	/* general registers */
	u64 rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
	u64 r8, r9, r10, r11, r12, r13, r14, r15;
	u64 rip, rflags;
	/* control; CR0 and CR4 as the guest reads them (Tern's read shadows
	 * included), the VMX-legal register values are made from them on load */
	u64 cr0, cr2, cr3, cr4, efer, pat;
	u64 dr0, dr1, dr2, dr3, dr6, dr7;
	struct vcpu_segment seg[VSEG_NR];
	u64 gdtr_base, idtr_base;
	u32 gdtr_limit, idtr_limit;
	/* MSRs */
	u64 star, lstar, cstar, sfmask, kernel_gs_base, tsc_aux;
	u64 sysenter_cs, sysenter_esp, sysenter_eip;
	u64 tsc;           /* the guest's TSC at the save */
	/* events */
	u32 interruptibility; /* VMX guest interruptibility state */
	u32 activity;         /* VMX activity state: 0 active, 1 HLT (also a vCPU Tern parked after HLT) */
	u32 pending_event;    /* VM-entry interruption-information format; bit 31 = valid */
	u32 pending_error;    /* its error code */
	u32 pending_insn_len;
	u32 ia32e_mode;       /* the IA-32e mode guest entry control */
	u64 pending_dbg;      /* VMX pending debug exceptions */
	/* extended state */
	u64 xcr0;
	u32 xsave_len;        /* bytes used of xsave[] (>= 576 when xcr0 != 0) */
	u32 pad;
	/* Standard (non-compacted) XSAVE format. XSTATE_BV may name x87 and SSE
	 * whatever XCR0 says (that state is live under any XCR0), other
	 * components only when XCR0 enables them. */
	u8 xsave[VCPU_XSAVE_MAX] __attribute__((aligned(64)));
};

/* What the loading CPU allows; filled by the arch layer, given by tests. */
struct vcpu_caps {
	u64 cr0_fixed0, cr0_fixed1; /* bits that must be 1 / may be 1 (VMX fixed MSRs) */
	u64 cr4_fixed0, cr4_fixed1;
	bool unrestricted;          /* CR0.PE/PG may be 0 */
	u64 efer_allowed;           /* EFER bits a guest may set */
	u64 xcr0_supported;         /* XCR0 bits the host offers guests */
	u32 xsave_max;              /* XSAVE area size for xcr0_supported */
	u8 maxphyaddr;              /* physical-address width (CR3 reserved bits) */
	u32 mxcsr_mask;             /* MXCSR bits XRSTOR accepts (FXSAVE's MXCSR_MASK); 0 = 0xFFBF */
};

/*
 * 0 if s can be loaded on a CPU with caps; -1 with a one-line reason in why
 * ("cpu state: CR4 sets reserved bit 0x800000") otherwise. Pure.
 */
int vcpu_state_check(const struct vcpu_state *s, const struct vcpu_caps *caps, char *why,
		     size_t why_len);

#endif
