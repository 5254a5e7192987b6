/*
 * The hypervisor image header: the first bytes of tern.elf's first loadable
 * segment, at physical address TERN_LINK_PHYS. It tells a loader that is not
 * GRUB (the UEFI loader) where to enter the core in 64-bit mode and how the
 * image was linked.
 *
 * 64-bit entry contract (tern_header.entry64), shared by every boot path:
 *  - long mode, interrupts off, any GDT with a flat 64-bit code segment;
 *  - CR3 maps [0, 4 GiB) identity with write-back RAM, and maps the image at
 *    virtual TERN_VIRT_BASE + (paddr - TERN_LINK_PHYS) for the whole
 *    image, bss included (the loader zeroes bss);
 *  - RDI = physical address of a filled struct boot_info (identity mapped);
 *  - RSI = physical address the image was loaded at (TERN_LINK_PHYS under
 *    GRUB, wherever the loader put it under UEFI);
 *  - the stack is unspecified: the entry switches to its own.
 */
#ifndef TERN_IMAGE_H
#define TERN_IMAGE_H

#define TERN_LINK_PHYS 0x100000
#define TERN_VIRT_BASE 0xffffffff80100000
#define TERN_HEADER_MAGIC 0x315244484e524554 /* "TERNHDR1" */

#ifndef __ASSEMBLER__
#include <tern/types.h>

struct tern_header {
	u64 magic;
	u64 entry64;    /* virtual address of the 64-bit entry */
	u64 link_phys;  /* TERN_LINK_PHYS */
	u64 virt_base;  /* TERN_VIRT_BASE */
	u64 image_size; /* bytes from link_phys to the end of bss */
};
#endif

#endif
