/*
 * The 256 interrupt entry stubs and their common path. Each stub is padded to
 * 16 bytes so idt.c can find stub N at isr_stubs + 16 * N without a table.
 * Stubs for vectors where the CPU pushes no error code push a 0, so every
 * frame has the same layout (struct int_frame in guest.h): 15 GPRs, vector,
 * error code, then the CPU's RIP, CS, RFLAGS, RSP, SS. The C dispatcher may
 * change the saved registers (e.g. RIP to skip an instruction); iretq uses them.
 */

/* Exceptions that push an error code: #DF #TS #NP #SS #GP #PF #AC #CP #VC #SX. */
#define HAS_ERR(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || \
		    (v) == 21 || (v) == 29 || (v) == 30)

	.text
	.balign 16
	.globl isr_stubs
isr_stubs:
	vector = 0
	.rept 256
	.balign 16
	.if !HAS_ERR(vector)
	pushq	$0
	.endif
	pushq	$vector
	jmp	isr_common
	vector = vector + 1
	.endr

isr_common:
	push	%rax
	push	%rbx
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	push	%rbp
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	cld
	/* 5 CPU words + error + vector + 15 GPRs = 22 words: RSP stays 16-aligned. */
	mov	%rsp, %rdi
	call	idt_dispatch
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rbp
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rbx
	pop	%rax
	add	$16, %rsp			/* vector and error code */
	iretq

	.section .note.GNU-stack, "", @progbits
