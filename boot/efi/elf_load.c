/*
 * Loads the embedded tern.elf. The blob is validated first (ELF magic, 64-bit
 * little-endian x86_64, program headers and segment contents inside the blob,
 * every PT_LOAD inside [TERN_LINK_PHYS, TERN_LINK_PHYS + image_size) and
 * linked either in the higher half or identity), and the tern_header at
 * the image start is checked. The image is then placed in pages below 4 GiB
 * at an address congruent to TERN_LINK_PHYS modulo 2 MiB, so that the
 * higher-half window can be mapped with 2 MiB pages; it is zeroed and each
 * segment's file bytes copied in, which leaves bss zero.
 */
#include <tern/image.h>
#include "loader.h"

#define ELF_PT_LOAD 1
#define ELF_EM_X86_64 62
#define IMAGE_MAX (SZ_1G - SZ_2M) /* one page directory of 2 MiB pages */

struct elf64_ehdr {
	u8 ident[16];
	u16 type, machine;
	u32 version;
	u64 entry, phoff, shoff;
	u32 flags;
	u16 ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};

struct elf64_phdr {
	u32 type, flags;
	u64 offset, vaddr, paddr, filesz, memsz, align;
};

static EFI_STATUS bad(const char *why)
{
	log_str(LOG_BOTH, "tern-efi: embedded tern.elf is invalid:\n");
	return fail(why, EFI_SUCCESS);
}

static const struct elf64_phdr *phdr(const u8 *blob, const struct elf64_ehdr *eh, u16 i)
{
	return (const struct elf64_phdr *)(blob + eh->phoff + (u64)i * sizeof(struct elf64_phdr));
}

static EFI_STATUS check_elf(const u8 *blob, u64 len, const struct tern_header **hdr)
{
	const struct elf64_ehdr *eh = (const void *)blob;
	const struct elf64_phdr *first = NULL;

	if (len < sizeof(*eh) || eh->ident[0] != 0x7f || eh->ident[1] != 'E' ||
	    eh->ident[2] != 'L' || eh->ident[3] != 'F')
		return bad("no ELF magic");
	if (eh->ident[4] != 2 || eh->ident[5] != 1)
		return bad("not a 64-bit little-endian ELF");
	if (eh->machine != ELF_EM_X86_64)
		return bad("not an x86_64 ELF");
	if (eh->phentsize != sizeof(struct elf64_phdr) || eh->phnum == 0)
		return bad("unexpected program header size or no program headers");
	if (eh->phoff > len || (len - eh->phoff) / sizeof(struct elf64_phdr) < eh->phnum)
		return bad("program headers run past the end of the file");
	for (u16 i = 0; i < eh->phnum; i++) {
		const struct elf64_phdr *ph = phdr(blob, eh, i);

		if (ph->type != ELF_PT_LOAD || ph->memsz == 0)
			continue;
		if (ph->offset > len || ph->filesz > len - ph->offset)
			return bad("a segment's bytes run past the end of the file");
		if (ph->filesz > ph->memsz)
			return bad("a segment has filesz > memsz");
		if (!first || ph->paddr < first->paddr)
			first = ph;
	}
	if (!first || first->paddr != TERN_LINK_PHYS || first->filesz < sizeof(**hdr))
		return bad("no loadable segment starting with the tern_header at TERN_LINK_PHYS");
	if ((first->offset & 7) != 0)
		return bad("tern_header is misaligned in the file");
	*hdr = (const void *)(blob + first->offset);
	return EFI_SUCCESS;
}

static EFI_STATUS check_header(const u8 *blob, const struct tern_header *h)
{
	const struct elf64_ehdr *eh = (const void *)blob;

	if (h->magic != TERN_HEADER_MAGIC)
		return bad("tern_header magic is wrong");
	if (h->link_phys != TERN_LINK_PHYS || h->virt_base != TERN_VIRT_BASE)
		return bad("tern_header link_phys/virt_base differ from include/tern/image.h");
	if (h->image_size == 0 || h->image_size > IMAGE_MAX)
		return bad("tern_header image_size is zero or over 1 GiB");
	if (h->entry64 < TERN_VIRT_BASE || h->entry64 - TERN_VIRT_BASE >= h->image_size)
		return bad("tern_header entry64 is outside the image");
	for (u16 i = 0; i < eh->phnum; i++) {
		const struct elf64_phdr *ph = phdr(blob, eh, i);

		if (ph->type != ELF_PT_LOAD || ph->memsz == 0)
			continue;
		if (ph->paddr < TERN_LINK_PHYS || ph->memsz > h->image_size ||
		    ph->paddr - TERN_LINK_PHYS > h->image_size - ph->memsz)
			return bad("a segment lies outside the image range of tern_header");
		/* higher half, or identity (32-bit code only the multiboot2 path runs) */
		if (ph->vaddr != TERN_VIRT_BASE + (ph->paddr - TERN_LINK_PHYS) &&
		    ph->vaddr != ph->paddr)
			return bad("a segment's vaddr is neither its paddr nor its higher-half address");
	}
	return EFI_SUCCESS;
}

EFI_STATUS load_tern_elf(const u8 *blob, u64 blob_len, struct tern_image *img)
{
	const struct elf64_ehdr *eh = (const void *)blob;
	const struct tern_header *h = NULL;
	u64 size, area, load;
	EFI_STATUS st;

	st = check_elf(blob, blob_len, &h);
	if (EFI_ERROR(st))
		return st;
	st = check_header(blob, h);
	if (EFI_ERROR(st))
		return st;
	size = ALIGN_UP(h->image_size, PAGE_SIZE);
	st = alloc_low(size + SZ_2M, &area);
	if (EFI_ERROR(st))
		return fail("no memory below 4 GiB for the hypervisor image", st);
	/* first address >= area that is congruent to TERN_LINK_PHYS mod 2 MiB */
	load = ALIGN_DOWN(area, SZ_2M) + (TERN_LINK_PHYS % SZ_2M);
	if (load < area)
		load += SZ_2M;
	ZeroMem((void *)(UINTN)load, size);
	for (u16 i = 0; i < eh->phnum; i++) {
		const struct elf64_phdr *ph = phdr(blob, eh, i);

		if (ph->type != ELF_PT_LOAD || ph->filesz == 0)
			continue;
		CopyMem((void *)(UINTN)(load + ph->paddr - TERN_LINK_PHYS),
			(void *)(blob + ph->offset), ph->filesz);
	}
	img->load = load;
	img->size = h->image_size;
	img->entry64 = h->entry64;
	return EFI_SUCCESS;
}
