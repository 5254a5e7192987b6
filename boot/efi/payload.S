/*
 * The payloads the UEFI loader carries: the hypervisor image (TERN_ELF) and
 * the demo guest (DEMO_ELF), included byte for byte between global symbols.
 * The Makefile passes both paths as quoted strings. The section is read-only
 * data (gnu-efi's linker script folds .rodata into the PE .data section).
 */
#ifndef TERN_ELF
#error "TERN_ELF (path of tern.elf) must be defined"
#endif
#ifndef DEMO_ELF
#error "DEMO_ELF (path of the demo guest) must be defined"
#endif

	.section .rodata.payload, "a"
	.balign 4096
	.globl tern_elf_start, tern_elf_end
	.hidden tern_elf_start, tern_elf_end
tern_elf_start:
	.incbin TERN_ELF
tern_elf_end:

	.balign 4096
	.globl demo_elf_start, demo_elf_end
	.hidden demo_elf_start, demo_elf_end
demo_elf_start:
	.incbin DEMO_ELF
demo_elf_end:

	.section .note.GNU-stack, "", @progbits
