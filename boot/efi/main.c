/*
 * efi_main: the Tern UEFI loader (a gnu-efi application; crt0 calls efi_main
 * with the SysV convention). It prints a banner, reads the one-line command
 * line from /tern.cfg and the guest named by guest=FILE (or falls back to the
 * embedded demo guest; guest=linux: a kernel and initramfs from /linux/), loads the embedded tern.elf below 4 GiB, finds the
 * ACPI RSDP, builds the hand-over page tables and struct boot_info, exits Boot
 * Services with the final memory map converted into boot_info, and jumps to
 * the core's entry64 (see include/tern/image.h for the contract).
 */
#include <tern/image.h>
#include "loader.h"
#include "memmap.h"

#define GUEST_NAME_MAX 100
#define CR4_LA57 (1ULL << 12)
#define EBS_TRIES 8
#define MAP_SLACK 16 /* descriptors of room for changes made by our own calls */

static EFI_GUID acpi20_guid = ACPI_20_TABLE_GUID;
static EFI_GUID acpi10_guid = ACPI_TABLE_GUID;

static u64 read_cr4(void)
{
	u64 v;

	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static void add_reserved(struct boot_info *bi, u64 base, u64 len)
{
	if (bi->nr_reserved < BOOT_MAX_RESERVED) {
		bi->reserved[bi->nr_reserved].base = base;
		bi->reserved[bi->nr_reserved].len = ALIGN_UP(len ? len : 1, PAGE_SIZE);
		bi->nr_reserved++;
	}
}

static void free_low(u64 addr, u64 len)
{
	uefi_call_wrapper(BS->FreePages, 2, addr,
			  (UINTN)(ALIGN_UP(len ? len : 1, PAGE_SIZE) / PAGE_SIZE));
}

/* The first line of /tern.cfg, trailing blanks dropped; empty if no file. */
static EFI_STATUS read_cmdline(EFI_FILE_HANDLE root, struct boot_info *bi)
{
	u64 addr, len, n = 0;
	const char *p;
	EFI_STATUS st;

	st = read_file(root, "tern.cfg", &addr, &len);
	if (st == EFI_NOT_FOUND) {
		log_str(LOG_SERIAL, "tern-efi: no /tern.cfg, empty command line\n");
		return EFI_SUCCESS;
	}
	if (EFI_ERROR(st))
		return st;
	p = (const char *)(UINTN)addr;
	while (n < len && p[n] != '\n' && p[n] != '\r' && p[n] != 0) {
		if (n == BOOT_CMDLINE_LEN - 1) {
			log_str(LOG_BOTH, "tern-efi: warning: /tern.cfg line truncated\n");
			break;
		}
		bi->cmdline[n] = p[n];
		n++;
	}
	while (n > 0 && (bi->cmdline[n - 1] == ' ' || bi->cmdline[n - 1] == '\t'))
		n--;
	bi->cmdline[n] = 0;
	free_low(addr, len);
	return EFI_SUCCESS;
}

/* Copies the value of the first guest=VALUE word; false if there is none. */
static bool cmdline_guest(const char *s, char *out, u64 cap)
{
	while (*s) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (s[0] == 'g' && s[1] == 'u' && s[2] == 'e' && s[3] == 's' &&
		    s[4] == 't' && s[5] == '=') {
			u64 n = 0;

			for (s += 6; *s && *s != ' ' && *s != '\t' && n + 1 < cap; s++)
				out[n++] = *s;
			out[n] = 0;
			return n > 0;
		}
		while (*s && *s != ' ' && *s != '\t')
			s++;
	}
	return false;
}

static void log_range(const char *what, u64 base, u64 len)
{
	log_str(LOG_SERIAL, "tern-efi: ");
	log_str(LOG_SERIAL, what);
	log_str(LOG_SERIAL, " at ");
	log_hex(LOG_SERIAL, base);
	log_str(LOG_SERIAL, " len ");
	log_hex(LOG_SERIAL, len);
	log_str(LOG_SERIAL, "\n");
}

/* Module n of bi: the file at addr, named name, with args (may be NULL). */
static void set_module(struct boot_info *bi, u32 n, u64 addr, u64 len, const char *name,
		       const char *args)
{
	struct boot_module *m = &bi->modules[n];
	u64 i;

	m->base = addr;
	m->len = len;
	for (i = 0; name[i] && i + 1 < BOOT_MODNAME_LEN; i++)
		m->name[i] = name[i];
	m->name[i] = 0;
	for (i = 0; args && args[i] && i + 1 < BOOT_MODARGS_LEN; i++)
		m->args[i] = args[i];
	m->args[i] = 0;
	if (bi->nr_modules < n + 1)
		bi->nr_modules = n + 1;
	add_reserved(bi, addr, len);
}

/*
 * guest=linux: the modules GRUB's tern-linux entry gives the core, from
 * files on the ESP: /linux/vmlinuz as `linux` with the first line of
 * /linux/cmdline as its arguments (the kernel's command line), and
 * /linux/initrd.img as `initrd` when it exists.
 */
static EFI_STATUS load_linux(EFI_FILE_HANDLE root, struct boot_info *bi)
{
	char args[BOOT_MODARGS_LEN];
	u64 kaddr, klen, addr, len, n = 0;
	EFI_STATUS st;

	st = read_file(root, "linux/vmlinuz", &kaddr, &klen);
	if (st == EFI_NOT_FOUND)
		return fail("guest=linux but the ESP has no /linux/vmlinuz", st);
	if (EFI_ERROR(st))
		return st;
	st = read_file(root, "linux/cmdline", &addr, &len);
	if (EFI_ERROR(st) && st != EFI_NOT_FOUND)
		return st;
	if (st == EFI_NOT_FOUND) {
		log_str(LOG_BOTH, "tern-efi: warning: no /linux/cmdline, the kernel gets an empty "
				  "command line\n");
	} else {
		const char *p = (const char *)(UINTN)addr;

		while (n < len && n + 1 < sizeof(args) && p[n] != '\n' && p[n] != '\r' && p[n])
			args[n] = p[n], n++;
		free_low(addr, len);
	}
	while (n > 0 && (args[n - 1] == ' ' || args[n - 1] == '\t'))
		n--;
	args[n] = 0;
	set_module(bi, 0, kaddr, klen, "linux", args);
	log_range("Linux kernel /linux/vmlinuz", kaddr, klen);
	st = read_file(root, "linux/initrd.img", &addr, &len);
	if (st == EFI_NOT_FOUND) {
		log_str(LOG_SERIAL, "tern-efi: no /linux/initrd.img, booting the kernel without one\n");
		return EFI_SUCCESS;
	}
	if (EFI_ERROR(st))
		return st;
	set_module(bi, 1, addr, len, "initrd", NULL);
	log_range("initramfs /linux/initrd.img", addr, len);
	return EFI_SUCCESS;
}

static EFI_STATUS load_guest(EFI_FILE_HANDLE root, struct boot_info *bi)
{
	char name[GUEST_NAME_MAX];
	u64 addr = 0, len = 0;
	EFI_STATUS st = EFI_NOT_FOUND;

	if (root && cmdline_guest(bi->cmdline, name, sizeof(name))) {
		if (name[0] == 'l' && name[1] == 'i' && name[2] == 'n' && name[3] == 'u' &&
		    name[4] == 'x' && !name[5])
			return load_linux(root, bi);
		st = read_file(root, name, &addr, &len);
		if (st == EFI_NOT_FOUND) {
			log_str(LOG_SERIAL, "tern-efi: guest file /");
			log_str(LOG_SERIAL, name);
			log_str(LOG_SERIAL, " not found, using the embedded demo guest\n");
		} else if (EFI_ERROR(st)) {
			return st;
		}
	} else {
		log_str(LOG_SERIAL, "tern-efi: no guest= on the command line, "
				    "using the embedded demo guest\n");
	}
	if (st == EFI_NOT_FOUND) {
		len = (u64)(demo_elf_end - demo_elf_start);
		st = alloc_low(len, &addr);
		if (EFI_ERROR(st))
			return fail("no memory below 4 GiB for the demo guest", st);
		CopyMem((void *)(UINTN)addr, (void *)demo_elf_start, len);
	}
	set_module(bi, 0, addr, len, "guest", NULL);
	return EFI_SUCCESS;
}

static u64 find_rsdp(void)
{
	u64 v1 = 0;

	for (UINTN i = 0; i < ST->NumberOfTableEntries; i++) {
		EFI_CONFIGURATION_TABLE *t = &ST->ConfigurationTable[i];

		if (!CompareGuid(&t->VendorGuid, &acpi20_guid))
			return (u64)(UINTN)t->VendorTable;
		if (!CompareGuid(&t->VendorGuid, &acpi10_guid))
			v1 = (u64)(UINTN)t->VendorTable;
	}
	return v1;
}

/*
 * GetMemoryMap + ExitBootServices, retrying with a fresh map when the key is
 * stale. Once the first ExitBootServices call has been made only GetMemoryMap
 * may be used, so errors from then on go to serial and the machine halts.
 */
static EFI_STATUS exit_boot_services(EFI_HANDLE image, struct boot_info *bi)
{
	UINTN size = 0, cap = 0, key, dsize;
	UINT32 dver;
	void *map = NULL;
	EFI_STATUS st, ebs = EFI_SUCCESS;
	int n;

	st = uefi_call_wrapper(BS->GetMemoryMap, 5, &size, NULL, &key, &dsize, &dver);
	while (st == EFI_BUFFER_TOO_SMALL) {
		if (map)
			uefi_call_wrapper(BS->FreePool, 1, map);
		cap = size + MAP_SLACK * dsize;
		st = uefi_call_wrapper(BS->AllocatePool, 3, EfiLoaderData, cap, &map);
		if (EFI_ERROR(st))
			return fail("no memory for the memory map", st);
		size = cap;
		st = uefi_call_wrapper(BS->GetMemoryMap, 5, &size, map, &key, &dsize, &dver);
	}
	if (EFI_ERROR(st))
		return fail("GetMemoryMap failed", st);
	if (!map)
		return fail("GetMemoryMap returned no map", EFI_SUCCESS);
	n = memmap_convert(map, size, dsize, bi->mem, BOOT_MAX_MEM);
	if (n < 0)
		return fail("memory map needs more than BOOT_MAX_MEM regions", EFI_SUCCESS);

	for (int tries = 0; tries < EBS_TRIES; tries++) {
		bi->nr_mem = (u32)n;
		ebs = uefi_call_wrapper(BS->ExitBootServices, 2, image, key);
		console_boot_services_gone();
		if (ebs == EFI_SUCCESS)
			return EFI_SUCCESS;
		if (ebs != EFI_INVALID_PARAMETER)
			break;
		log_str(LOG_SERIAL, "tern-efi: memory map changed, retrying ExitBootServices\n");
		size = cap;
		st = uefi_call_wrapper(BS->GetMemoryMap, 5, &size, map, &key, &dsize, &dver);
		if (EFI_ERROR(st)) {
			fail("GetMemoryMap failed after ExitBootServices", st);
			halt_forever();
		}
		n = memmap_convert(map, size, dsize, bi->mem, BOOT_MAX_MEM);
		if (n < 0) {
			fail("memory map needs more than BOOT_MAX_MEM regions", EFI_SUCCESS);
			halt_forever();
		}
	}
	fail("ExitBootServices failed", ebs);
	halt_forever();
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
	EFI_LOADED_IMAGE *li;
	EFI_FILE_HANDLE root;
	struct boot_info *bi;
	struct tern_image img;
	struct boot_range pt_area;
	u64 bi_addr, cr3;
	EFI_STATUS st;

	InitializeLib(image, systab);
	serial_init();
	log_str(LOG_BOTH, "tern-efi: loader starting\n");

	st = uefi_call_wrapper(BS->HandleProtocol, 3, image, &LoadedImageProtocol,
			       (void **)&li);
	if (EFI_ERROR(st))
		return fail("no LoadedImage protocol on our own image", st);
	if ((u64)(UINTN)li->ImageBase + li->ImageSize > LOW_MAX_ADDR + 1)
		return fail("loader image is above 4 GiB; the hand-over code must be "
			    "identity mapped", EFI_SUCCESS);

	if (read_cr4() & CR4_LA57)
		return fail("firmware uses 5-level paging; the hand-over tables are 4-level",
			    EFI_SUCCESS);

	st = alloc_low(sizeof(*bi), &bi_addr);
	if (EFI_ERROR(st))
		return fail("no memory below 4 GiB for boot_info", st);
	bi = (struct boot_info *)(UINTN)bi_addr;
	ZeroMem(bi, sizeof(*bi));
	bi->magic = BOOT_INFO_MAGIC;
	bi->source = BOOT_SRC_UEFI;
	add_reserved(bi, bi_addr, sizeof(*bi));

	/* Without a file system on the boot device (GRUB chainloading us from an
	 * ISO, say) there is no tern.cfg: boot with an empty command line and the
	 * embedded demo guest rather than give up. */
	if (EFI_ERROR(open_volume(li->DeviceHandle, &root))) {
		log_str(LOG_SERIAL, "tern-efi: no file system on the boot device: no tern.cfg\n");
		root = NULL;
	}
	st = root ? read_cmdline(root, bi) : EFI_SUCCESS;
	if (!EFI_ERROR(st))
		st = load_guest(root, bi);
	if (root)
		uefi_call_wrapper(root->Close, 1, root);
	if (EFI_ERROR(st))
		return st;
	/* The core prints the command line with secrets (netcon_psk=) hidden. */
	log_str(LOG_SERIAL, bi->cmdline[0] ? "tern-efi: tern.cfg read\n" : "tern-efi: empty command line\n");
	if (bi->modules[0].name[0] == 'g')
		log_range("guest module", bi->modules[0].base, bi->modules[0].len);

	st = load_tern_elf(tern_elf_start, (u64)(tern_elf_end - tern_elf_start), &img);
	if (EFI_ERROR(st))
		return st;
	bi->image_phys_start = img.load;
	bi->image_phys_end = img.load + img.size;
	log_range("tern.elf loaded", img.load, img.size);

	bi->acpi_rsdp = find_rsdp();
	/* Runtime services stay callable in physical mode after ExitBootServices:
	 * the core uses ResetSystem to power off where ACPI is missing. */
	bi->efi_runtime = (u64)(UINTN)ST->RuntimeServices;
	if (bi->acpi_rsdp) {
		log_str(LOG_SERIAL, "tern-efi: ACPI RSDP at ");
		log_hex(LOG_SERIAL, bi->acpi_rsdp);
		log_str(LOG_SERIAL, "\n");
	} else {
		log_str(LOG_SERIAL, "tern-efi: no ACPI RSDP in the configuration table\n");
	}

	st = build_page_tables(&img, &cr3, &pt_area);
	if (EFI_ERROR(st))
		return st;
	add_reserved(bi, pt_area.base, pt_area.len);

	log_str(LOG_SERIAL, "tern-efi: exiting boot services, entry64 ");
	log_hex(LOG_SERIAL, img.entry64);
	log_str(LOG_SERIAL, "\n");
	st = exit_boot_services(image, bi);
	if (EFI_ERROR(st))
		return st;
	log_str(LOG_SERIAL, "tern-efi: boot services gone, ");
	log_dec(LOG_SERIAL, bi->nr_mem);
	log_str(LOG_SERIAL, " memory regions; jumping to the core\n");
	tern_efi_jump(cr3, img.entry64, bi_addr, img.load);
}
