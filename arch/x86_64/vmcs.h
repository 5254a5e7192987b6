/*
 * VMCS field encodings (SDM Vol. 3 Appendix B), grouped as the SDM groups
 * them, and the only accessors allowed to touch a VMCS. Every access checks
 * VMfail and panics naming the field and the caller: a failing VMREAD or
 * VMWRITE is a bug in Tern, not something a guest can cause.
 */
#ifndef X86_VMCS_H
#define X86_VMCS_H

#include <tern/types.h>

enum vmcs_field {
	/* B.1.1 16-bit control fields */
	VPID = 0x0000,
	/* B.1.2 16-bit guest-state fields */
	GUEST_ES_SEL = 0x0800, GUEST_CS_SEL = 0x0802, GUEST_SS_SEL = 0x0804,
	GUEST_DS_SEL = 0x0806, GUEST_FS_SEL = 0x0808, GUEST_GS_SEL = 0x080a,
	GUEST_LDTR_SEL = 0x080c, GUEST_TR_SEL = 0x080e, GUEST_PML_INDEX = 0x0812,
	/* B.1.3 16-bit host-state fields */
	HOST_ES_SEL = 0x0c00, HOST_CS_SEL = 0x0c02, HOST_SS_SEL = 0x0c04,
	HOST_DS_SEL = 0x0c06, HOST_FS_SEL = 0x0c08, HOST_GS_SEL = 0x0c0a,
	HOST_TR_SEL = 0x0c0c,
	/* B.2.1 64-bit control fields */
	IO_BITMAP_A = 0x2000, IO_BITMAP_B = 0x2002, MSR_BITMAP = 0x2004,
	EXIT_MSR_STORE_ADDR = 0x2006, EXIT_MSR_LOAD_ADDR = 0x2008,
	ENTRY_MSR_LOAD_ADDR = 0x200a, PML_ADDRESS = 0x200e, TSC_OFFSET = 0x2010,
	EPT_POINTER = 0x201a,
	/* B.2.2 64-bit read-only data fields */
	GUEST_PHYSICAL_ADDRESS = 0x2400,
	/* B.2.3 64-bit guest-state fields */
	VMCS_LINK_POINTER = 0x2800, GUEST_DEBUGCTL = 0x2802, GUEST_PAT = 0x2804,
	GUEST_EFER = 0x2806, GUEST_PDPTE0 = 0x280a, GUEST_PDPTE1 = 0x280c,
	GUEST_PDPTE2 = 0x280e, GUEST_PDPTE3 = 0x2810,
	/* B.2.4 64-bit host-state fields */
	HOST_PAT = 0x2c00, HOST_EFER = 0x2c02,
	/* B.3.1 32-bit control fields */
	PIN_CONTROLS = 0x4000, PROC_CONTROLS = 0x4002, EXCEPTION_BITMAP = 0x4004,
	PF_ERROR_MASK = 0x4006, PF_ERROR_MATCH = 0x4008, CR3_TARGET_COUNT = 0x400a,
	EXIT_CONTROLS = 0x400c, EXIT_MSR_STORE_COUNT = 0x400e,
	EXIT_MSR_LOAD_COUNT = 0x4010, ENTRY_CONTROLS = 0x4012,
	ENTRY_MSR_LOAD_COUNT = 0x4014, ENTRY_INTR_INFO = 0x4016,
	ENTRY_EXCEPTION_ERROR = 0x4018, ENTRY_INSTR_LEN = 0x401a,
	TPR_THRESHOLD = 0x401c, PROC_CONTROLS2 = 0x401e,
	/* B.3.2 32-bit read-only data fields */
	VM_INSTRUCTION_ERROR = 0x4400, EXIT_REASON = 0x4402,
	EXIT_INTR_INFO = 0x4404, EXIT_INTR_ERROR = 0x4406,
	IDT_VECTORING_INFO = 0x4408, IDT_VECTORING_ERROR = 0x440a,
	EXIT_INSTR_LEN = 0x440c, EXIT_INSTR_INFO = 0x440e,
	/* B.3.3 32-bit guest-state fields */
	GUEST_ES_LIMIT = 0x4800, GUEST_CS_LIMIT = 0x4802, GUEST_SS_LIMIT = 0x4804,
	GUEST_DS_LIMIT = 0x4806, GUEST_FS_LIMIT = 0x4808, GUEST_GS_LIMIT = 0x480a,
	GUEST_LDTR_LIMIT = 0x480c, GUEST_TR_LIMIT = 0x480e,
	GUEST_GDTR_LIMIT = 0x4810, GUEST_IDTR_LIMIT = 0x4812,
	GUEST_ES_AR = 0x4814, GUEST_CS_AR = 0x4816, GUEST_SS_AR = 0x4818,
	GUEST_DS_AR = 0x481a, GUEST_FS_AR = 0x481c, GUEST_GS_AR = 0x481e,
	GUEST_LDTR_AR = 0x4820, GUEST_TR_AR = 0x4822,
	GUEST_INTERRUPTIBILITY = 0x4824, GUEST_ACTIVITY_STATE = 0x4826,
	GUEST_SYSENTER_CS = 0x482a, PREEMPTION_TIMER_VALUE = 0x482e,
	/* B.3.4 32-bit host-state field */
	HOST_SYSENTER_CS = 0x4c00,
	/* B.4.1 natural-width control fields */
	CR0_GUEST_HOST_MASK = 0x6000, CR4_GUEST_HOST_MASK = 0x6002,
	CR0_READ_SHADOW = 0x6004, CR4_READ_SHADOW = 0x6006,
	/* B.4.2 natural-width read-only data fields */
	EXIT_QUALIFICATION = 0x6400, GUEST_LINEAR_ADDRESS = 0x640a,
	/* B.4.3 natural-width guest-state fields */
	GUEST_CR0 = 0x6800, GUEST_CR3 = 0x6802, GUEST_CR4 = 0x6804,
	GUEST_ES_BASE = 0x6806, GUEST_CS_BASE = 0x6808, GUEST_SS_BASE = 0x680a,
	GUEST_DS_BASE = 0x680c, GUEST_FS_BASE = 0x680e, GUEST_GS_BASE = 0x6810,
	GUEST_LDTR_BASE = 0x6812, GUEST_TR_BASE = 0x6814,
	GUEST_GDTR_BASE = 0x6816, GUEST_IDTR_BASE = 0x6818, GUEST_DR7 = 0x681a,
	GUEST_RSP = 0x681c, GUEST_RIP = 0x681e, GUEST_RFLAGS = 0x6820,
	GUEST_PENDING_DBG = 0x6822, GUEST_SYSENTER_ESP = 0x6824,
	GUEST_SYSENTER_EIP = 0x6826,
	/* B.4.4 natural-width host-state fields */
	HOST_CR0 = 0x6c00, HOST_CR3 = 0x6c02, HOST_CR4 = 0x6c04,
	HOST_FS_BASE = 0x6c06, HOST_GS_BASE = 0x6c08, HOST_TR_BASE = 0x6c0a,
	HOST_GDTR_BASE = 0x6c0c, HOST_IDTR_BASE = 0x6c0e,
	HOST_SYSENTER_ESP = 0x6c10, HOST_SYSENTER_EIP = 0x6c12,
	HOST_RSP = 0x6c14, HOST_RIP = 0x6c16,
};

/* Pin-based controls (SDM 24.6.1) */
#define PIN_EXT_INTR_EXIT (1u << 0)
#define PIN_NMI_EXIT (1u << 3)
#define PIN_VIRTUAL_NMI (1u << 5)
#define PIN_PREEMPT_TIMER (1u << 6)
/* Primary processor-based controls (SDM 24.6.2) */
#define PROC_INTR_WINDOW_EXIT (1u << 2)
#define PROC_TSC_OFFSET (1u << 3)
#define PROC_HLT_EXIT (1u << 7)
#define PROC_INVLPG_EXIT (1u << 9)
#define PROC_MWAIT_EXIT (1u << 10)
#define PROC_RDPMC_EXIT (1u << 11)
#define PROC_CR3_LOAD_EXIT (1u << 15)
#define PROC_CR3_STORE_EXIT (1u << 16)
#define PROC_CR8_LOAD_EXIT (1u << 19)
#define PROC_CR8_STORE_EXIT (1u << 20)
#define PROC_MOV_DR_EXIT (1u << 23)
#define PROC_UNCOND_IO_EXIT (1u << 24)
#define PROC_USE_MSR_BITMAPS (1u << 28)
#define PROC_MONITOR_EXIT (1u << 29)
#define PROC_SECONDARY (1u << 31)
/* Secondary processor-based controls */
#define PROC2_EPT (1u << 1)
#define PROC2_RDTSCP (1u << 3)
#define PROC2_VPID (1u << 5)
#define PROC2_UNRESTRICTED (1u << 7)
#define PROC2_INVPCID (1u << 12)
#define PROC2_PML (1u << 17)
#define PROC2_XSAVES (1u << 20)
/* VM-exit controls (SDM 24.7.1) */
#define EXIT_SAVE_DEBUG (1u << 2)
#define EXIT_HOST_64 (1u << 9)
#define EXIT_ACK_INTR (1u << 15)
#define EXIT_SAVE_PAT (1u << 18)
#define EXIT_LOAD_PAT (1u << 19)
#define EXIT_SAVE_EFER (1u << 20)
#define EXIT_LOAD_EFER (1u << 21)
/* VM-entry controls (SDM 24.8.1) */
#define ENTRY_LOAD_DEBUG (1u << 2)
#define ENTRY_GUEST_64 (1u << 9)
#define ENTRY_LOAD_PAT (1u << 14)
#define ENTRY_LOAD_EFER (1u << 15)

/* Interruption information (SDM 24.8.3) */
#define INTR_INFO_VALID (1u << 31)
#define INTR_INFO_HAS_ERROR (1u << 11)
#define INTR_TYPE_EXTERNAL (0u << 8)
#define INTR_TYPE_NMI (2u << 8)
#define INTR_TYPE_HW_EXCEPTION (3u << 8)
#define INTR_TYPE_SW_INTR (4u << 8)
#define INTR_TYPE_PRIV_SW_EXCEPTION (5u << 8)
#define INTR_TYPE_SW_EXCEPTION (6u << 8)
#define INTR_TYPE_MASK (7u << 8)

u64 vmcs_read_checked(enum vmcs_field f, void *caller);
void vmcs_write_checked(enum vmcs_field f, u64 v, void *caller);

#define vmcs_read(f) vmcs_read_checked((f), __builtin_return_address(0))
#define vmcs_write(f, v) vmcs_write_checked((f), (u64)(v), __builtin_return_address(0))
static inline u32 vmcs_read32(enum vmcs_field f) { return (u32)vmcs_read_checked(f, __builtin_return_address(0)); }

/* VMCLEAR/VMPTRLD of a VMCS region; panic on failure (a Tern bug). */
void vmcs_clear(u64 pa);
void vmcs_load(u64 pa);

#endif
