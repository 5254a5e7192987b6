/*
 * The common 64-bit entry (contract in include/tern/image.h). The UEFI
 * loader enters at tern_entry64 with RDI = boot_info; the multiboot2 path
 * enters at mb2_entry64 with RDI = GRUB's information structure. Both
 * switch to the boot stack and call boot_main(arg, load_phys, source).
 */
#include <tern/boot_info.h>

	.text
	.globl tern_entry64, mb2_entry64
tern_entry64:
	cli
	lea boot_stack_top(%rip), %rsp
	mov $BOOT_SRC_UEFI, %edx
	jmp 1f
mb2_entry64:
	lea boot_stack_top(%rip), %rsp
	mov $BOOT_SRC_MULTIBOOT2, %edx
1:	xor %ebp, %ebp
	push $0				/* fake return address: ends backtraces */
	call boot_main
2:	cli
	hlt
	jmp 2b

	.bss
	.balign 4096
	.globl boot_stack_top
boot_stack:
	.skip 32768
boot_stack_top:
