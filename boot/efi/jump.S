/*
 * tern_efi_jump(cr3, entry64, boot_info, load_addr): the last step of the
 * UEFI loader, after ExitBootServices. With interrupts off it loads a GDT of
 * its own (so the GDT in use is inside the loader image, which is below 4 GiB
 * and therefore mapped by the new tables), reloads the segment registers,
 * switches CR3 to the hand-over tables and jumps to the core's 64-bit entry
 * with RDI = boot_info and RSI = load address. This code runs from the
 * identity map in both the firmware's and the new tables; no stack is used
 * after CR3 changes.
 */
	.text
	.globl tern_efi_jump
	.type tern_efi_jump, @function
tern_efi_jump:
	cli
	lea gdt(%rip), %rax
	sub $16, %rsp
	movw $(gdt_end - gdt - 1), (%rsp)
	mov %rax, 2(%rsp)
	lgdt (%rsp)
	add $16, %rsp
	mov $0x10, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %eax, %fs
	mov %eax, %gs
	lea 1f(%rip), %rax
	pushq $0x08
	push %rax
	lretq
1:	mov %rdi, %cr3
	mov %rsi, %rax
	mov %rdx, %rdi
	mov %rcx, %rsi
	jmp *%rax
	.size tern_efi_jump, . - tern_efi_jump

	.data
	.balign 16
/* null, 0x08 = 64-bit code, 0x10 = flat data; accessed bits preset so the CPU
 * never writes the table */
gdt:	.quad 0
	.quad 0x00af9b000000ffff
	.quad 0x00cf93000000ffff
gdt_end:

	.section .note.GNU-stack, "", @progbits
