/*
 * int vmx_enter(struct guest_regs *regs, int launched)
 *
 * Saves the host's callee-saved registers, records RSP as the VMCS host RSP,
 * loads the guest's GPRs and CR2, and enters with VMLAUNCH or VMRESUME. A VM
 * exit lands in vmx_exit_stub (the VMCS host RIP) with RSP pointing at the
 * saved regs pointer; it stores the guest GPRs and returns 0 from
 * vmx_enter. If the entry instruction itself fails it returns 1.
 * Offsets follow struct guest_regs in vmx.h.
 */
#define R_RAX 0
#define R_RBX 8
#define R_RCX 16
#define R_RDX 24
#define R_RSI 32
#define R_RDI 40
#define R_RBP 48
#define R_R8 56
#define R_R9 64
#define R_R10 72
#define R_R11 80
#define R_R12 88
#define R_R13 96
#define R_R14 104
#define R_R15 112
#define R_CR2 120
#define HOST_RSP_FIELD 0x6c14

	.text
	.globl vmx_enter, vmx_exit_stub
vmx_enter:
	push %rbp
	push %rbx
	push %r12
	push %r13
	push %r14
	push %r15
	push %rdi
	mov $HOST_RSP_FIELD, %eax
	vmwrite %rsp, %rax
	jbe entry_failed

	mov R_CR2(%rdi), %rax
	mov %rax, %cr2
	test %esi, %esi
	mov R_RAX(%rdi), %rax
	mov R_RBX(%rdi), %rbx
	mov R_RCX(%rdi), %rcx
	mov R_RDX(%rdi), %rdx
	mov R_RSI(%rdi), %rsi
	mov R_RBP(%rdi), %rbp
	mov R_R8(%rdi), %r8
	mov R_R9(%rdi), %r9
	mov R_R10(%rdi), %r10
	mov R_R11(%rdi), %r11
	mov R_R12(%rdi), %r12
	mov R_R13(%rdi), %r13
	mov R_R14(%rdi), %r14
	mov R_R15(%rdi), %r15
	mov R_RDI(%rdi), %rdi
	/* mov does not touch flags: ZF still says whether launched == 0. */
	jz 1f
	vmresume
	jmp entry_failed
1:	vmlaunch
entry_failed:
	pop %rdi
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbx
	pop %rbp
	mov $1, %eax
	ret

vmx_exit_stub:
	push %rdi
	mov 8(%rsp), %rdi
	mov %rax, R_RAX(%rdi)
	mov %rbx, R_RBX(%rdi)
	mov %rcx, R_RCX(%rdi)
	mov %rdx, R_RDX(%rdi)
	mov %rsi, R_RSI(%rdi)
	mov %rbp, R_RBP(%rdi)
	mov %r8, R_R8(%rdi)
	mov %r9, R_R9(%rdi)
	mov %r10, R_R10(%rdi)
	mov %r11, R_R11(%rdi)
	mov %r12, R_R12(%rdi)
	mov %r13, R_R13(%rdi)
	mov %r14, R_R14(%rdi)
	mov %r15, R_R15(%rdi)
	pop %rax
	mov %rax, R_RDI(%rdi)
	mov %cr2, %rax
	mov %rax, R_CR2(%rdi)
	pop %rdi
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbx
	pop %rbp
	xor %eax, %eax
	ret
