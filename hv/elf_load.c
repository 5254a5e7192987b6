/*
 * Guest image loader (contract in tern/elf_load.h). The image comes from
 * outside (a boot module or a file on the ESP), so every field is checked
 * against the image and RAM bounds before a byte is copied.
 */
#include <tern/elf_load.h>
#include <string.h>

#define EI_CLASS 4
#define ELFCLASS64 2
#define EM_X86_64 62
#define ET_EXEC 2
#define PT_LOAD 1

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

/* a + b <= limit, without overflow. */
static bool fits(u64 a, u64 b, u64 limit)
{
	return a <= limit && b <= limit - a;
}

static int load_flat(const u8 *img, u64 len, u8 *ram, u64 ram_size, u64 gpa,
		     u64 *entry, const char **err)
{
	if (!len || !fits(gpa, len, ram_size)) {
		*err = "flat image does not fit in guest RAM";
		return -1;
	}
	memcpy(ram + gpa, img, len);
	*entry = gpa;
	return 0;
}

int guest_image_load(const u8 *img, u64 len, u8 *ram, u64 ram_size, u64 min_gpa,
		     u64 flat_gpa, u64 *entry, const char **err)
{
	struct elf64_ehdr eh;
	if (len < 4 || memcmp(img, "\177ELF", 4))
		return load_flat(img, len, ram, ram_size, flat_gpa, entry, err);
	if (len < sizeof(eh)) {
		*err = "ELF header truncated";
		return -1;
	}
	memcpy(&eh, img, sizeof(eh));
	if (eh.ident[EI_CLASS] != ELFCLASS64 || eh.machine != EM_X86_64 || eh.type != ET_EXEC) {
		*err = "not an x86-64 ELF64 executable";
		return -1;
	}
	if (eh.phentsize != sizeof(struct elf64_phdr) || !eh.phnum ||
	    !fits(eh.phoff, (u64)eh.phnum * sizeof(struct elf64_phdr), len)) {
		*err = "ELF program headers out of bounds";
		return -1;
	}
	/* Validate all segments before copying any. */
	int loads = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (u16 i = 0; i < eh.phnum; i++) {
			struct elf64_phdr ph;
			memcpy(&ph, img + eh.phoff + i * sizeof(ph), sizeof(ph));
			if (ph.type != PT_LOAD || !ph.memsz)
				continue;
			if (pass == 0) {
				if (ph.filesz > ph.memsz || !fits(ph.offset, ph.filesz, len)) {
					*err = "ELF segment exceeds the file";
					return -1;
				}
				if (ph.paddr < min_gpa || !fits(ph.paddr, ph.memsz, ram_size)) {
					*err = "ELF segment outside guest RAM";
					return -1;
				}
				loads++;
				continue;
			}
			memcpy(ram + ph.paddr, img + ph.offset, ph.filesz);
			memset(ram + ph.paddr + ph.filesz, 0, ph.memsz - ph.filesz);
		}
		if (pass == 0 && !loads) {
			*err = "ELF has no loadable segment";
			return -1;
		}
		if (pass == 0 && (eh.entry < min_gpa || eh.entry >= ram_size)) {
			*err = "ELF entry point outside guest RAM";
			return -1;
		}
	}
	*entry = eh.entry;
	return 0;
}
