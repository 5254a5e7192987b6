/*
 * The first bytes of the image: the tern_header that the UEFI loader reads
 * (include/tern/image.h), then the multiboot2 header GRUB looks for in the
 * first 32 KiB. Both live in .boot32, which is linked at its physical address.
 */
#include <tern/image.h>

	.section .tern_header, "a"
	.balign 8
	.quad TERN_HEADER_MAGIC
	.quad tern_entry64
	.quad TERN_LINK_PHYS
	.quad TERN_VIRT_BASE
	.quad image_size

#define MB2_MAGIC 0xe85250d6
#define MB2_ARCH_I386 0

	.section .multiboot2, "a"
	.balign 8
mb2_header:
	.long MB2_MAGIC
	.long MB2_ARCH_I386
	.long mb2_header_end - mb2_header
	.long -(MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
	/* Information request: command line, modules, memory map, ACPI. */
	.balign 8
1:	.short 1, 0
	.long 2f - 1b
	.long 1, 3, 6, 14, 15
2:	.balign 8
	/* End tag. */
	.short 0, 0
	.long 8
mb2_header_end:
