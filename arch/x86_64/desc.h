/* Host descriptor tables and the exception frame (arch-internal). */
#ifndef X86_DESC_H
#define X86_DESC_H

#include <tern/types.h>

#define SEL_CODE64 0x08
#define SEL_DATA 0x10
#define SEL_TSS 0x28

#define IST_NMI 1
#define IST_DF 2
#define IST_MC 3

/* Matches the push order in exceptions.S (lowest address first). */
struct exc_frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error;
	u64 rip, cs, rflags, rsp, ss;
};

struct dtr {
	u16 limit;
	u64 base;
} __packed;

void exception_dispatch(struct exc_frame *f);
/* NMIs taken by the host so far, and where the last one's frame was. */
u64 exception_nmi_count(void);
u64 exception_last_nmi_stack(void);
/* Host GDTR/IDTR/TR bases for the VMCS host-state area. */
u64 desc_gdt_base(void);
u64 desc_idt_base(void);
u64 desc_tss_base(void);

#endif
