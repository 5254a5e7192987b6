/*
 * Multiboot2 entry: GRUB jumps here in 32-bit protected mode, paging off,
 * EAX = magic, EBX = physical address of the information structure.
 * We build just enough page tables for the 64-bit entry contract
 * (include/tern/image.h): identity [0, 4 GiB) with 2 MiB pages and the
 * image at TERN_VIRT_BASE, enter long mode, and jump to the common entry.
 * The tables live in .boot32's bss-like area below (zeroed by us, since
 * .boot32 is a loaded section).
 */
#include <tern/image.h>

#define MB2_BOOT_MAGIC 0x36d76289
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define EFER_MSR 0xc0000080
#define EFER_LME (1 << 8)
#define PTE_P 1
#define PTE_W 2
#define PTE_PS 0x80

	.section .boot32, "awx"
	.code32
	.globl mb2_entry32
mb2_entry32:
	cli
	cld
	mov %eax, %esi			/* keep magic and info across the setup */
	mov %ebx, %edi
	cmp $MB2_BOOT_MAGIC, %esi
	jne bad_magic

	/* Zero the table area: 1 PML4 + 2 PDPT + 5 PD pages. */
	mov $boot_tables, %ebx
	mov %ebx, %edx
	mov $(8 * 4096 / 4), %ecx
	xor %eax, %eax
1:	mov %eax, (%edx)
	add $4, %edx
	loop 1b

	/* PML4[0] -> PDPT_LOW, PML4[511] -> PDPT_HIGH */
	lea (4096 + PTE_P + PTE_W)(%ebx), %eax
	mov %eax, 0(%ebx)
	lea (8192 + PTE_P + PTE_W)(%ebx), %eax
	mov %eax, (511 * 8)(%ebx)
	/* PDPT_LOW[0..3] -> PD0..PD3 (identity 4 GiB) */
	lea 4096(%ebx), %edx
	lea (3 * 4096 + PTE_P + PTE_W)(%ebx), %eax
	mov $4, %ecx
1:	mov %eax, (%edx)
	add $8, %edx
	add $4096, %eax
	loop 1b
	/* PD0..PD3: 2048 entries of 2 MiB pages from 0 */
	lea (3 * 4096)(%ebx), %edx
	mov $(PTE_P + PTE_W + PTE_PS), %eax
	xor %ebp, %ebp			/* high dword for addresses >= 4 GiB: none */
	mov $2048, %ecx
1:	mov %eax, (%edx)
	mov %ebp, 4(%edx)
	add $8, %edx
	add $0x200000, %eax
	loop 1b
	/* PDPT_HIGH[510] -> PD_HIGH: 0xffffffff80000000 maps physical 0 */
	lea (7 * 4096 + PTE_P + PTE_W)(%ebx), %eax
	mov %eax, (8192 + 510 * 8)(%ebx)
	lea (7 * 4096)(%ebx), %edx
	mov $(PTE_P + PTE_W + PTE_PS), %eax
	mov $512, %ecx
1:	mov %eax, (%edx)
	add $8, %edx
	add $0x200000, %eax
	loop 1b

	mov %ebx, %cr3
	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov $EFER_MSR, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	or $CR0_PG, %eax
	mov %eax, %cr0

	lgdt boot_gdt_ptr
	ljmp $0x08, $1f
	.code64
1:	mov $0x10, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	/* RDI = information structure, RSI = load address. */
	mov %edi, %edi
	mov $TERN_LINK_PHYS, %rsi
	movabs $mb2_entry64, %rax
	jmp *%rax

	.code32
bad_magic:
	/* Not loaded by a multiboot2 loader: nothing to report to, stop. */
	hlt
	jmp bad_magic

	.balign 16
boot_gdt:
	.quad 0
	.quad 0x00af9a000000ffff	/* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff	/* 0x10: data */
boot_gdt_ptr:
	.short boot_gdt_ptr - boot_gdt - 1
	.long boot_gdt

	.balign 4096
boot_tables:
	.skip 8 * 4096
