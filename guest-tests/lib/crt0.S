/*
 * Guest entry point. Tern starts the guest in 64-bit mode with RSP at 0x80000
 * and RDI = RAM size; _start moves to a stack inside the image (so memtest can
 * treat everything above the image as free and nothing below it is ours),
 * clears .bss (a loader need not), installs the IDT so every test reports
 * unexpected exceptions, then calls guest_main(ram_size) and hands its return
 * value to the EXIT hypercall (tern_exit).
 */
#define STACK_SIZE 0x10000

	.section .text.entry, "ax"
	.globl _start
	.type _start, @function
_start:
	rdtsc					/* before anything else: for boot_cost */
	shl	$32, %rdx
	or	%rax, %rdx
	mov	%rdx, %r13			/* stored once .bss is clear */
	cli
	cld
	mov	%rdi, %r12			/* callee-saved: survives the calls */
	lea	stack_top(%rip), %rsp
	xor	%ebp, %ebp			/* terminates frame-pointer walks */

	lea	__bss_start(%rip), %rdi
	lea	__bss_end(%rip), %rcx
	sub	%rdi, %rcx
	xor	%eax, %eax
	rep stosb				/* zeroes the stack too: nothing on it yet */
	mov	%r13, guest_start_tsc(%rip)

	call	idt_install
	mov	%r12, %rdi
	call	guest_main

	mov	%rax, %rdi
	call	tern_exit			/* C wrapper: hypercall.h is not assembler-safe */
1:	cli
	hlt
	jmp	1b
	.size _start, . - _start

	.section .bss
	.balign 8
	.globl guest_start_tsc
guest_start_tsc:
	.skip	8
	.balign 16
stack_bottom:
	.skip	STACK_SIZE
stack_top:

	.section .note.GNU-stack, "", @progbits
