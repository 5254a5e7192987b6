/*
 * Memory and files for the loader: page allocations below 4 GiB (everything
 * handed to the core must be covered by its identity map) and whole-file reads
 * from the volume the loader itself came from, through the Simple File System
 * protocol on LoadedImage->DeviceHandle. Paths are ASCII, relative to the
 * volume root, with '/' or '\' as separator.
 */
#include "loader.h"

#define PATH_MAX_CHARS 128

/* Pages of EfiLoaderData ending at or below 4 GiB; *addr is the first byte. */
EFI_STATUS alloc_low(u64 bytes, u64 *addr)
{
	EFI_PHYSICAL_ADDRESS a = LOW_MAX_ADDR;
	UINTN pages = (UINTN)(ALIGN_UP(bytes ? bytes : 1, PAGE_SIZE) / PAGE_SIZE);
	EFI_STATUS st;

	st = uefi_call_wrapper(BS->AllocatePages, 4, AllocateMaxAddress, EfiLoaderData,
			       pages, &a);
	if (EFI_ERROR(st))
		return st;
	*addr = a;
	return EFI_SUCCESS;
}

EFI_STATUS open_volume(EFI_HANDLE device, EFI_FILE_HANDLE *root)
{
	EFI_SIMPLE_FILE_SYSTEM_PROTOCOL *fs;
	EFI_STATUS st;

	st = uefi_call_wrapper(BS->HandleProtocol, 3, device, &FileSystemProtocol,
			       (void **)&fs);
	if (EFI_ERROR(st))
		return st; /* e.g. chainloaded by GRUB from an ISO: the caller says so */
	st = uefi_call_wrapper(fs->OpenVolume, 2, fs, root);
	if (EFI_ERROR(st))
		return fail("cannot open the boot volume", st);
	return EFI_SUCCESS;
}

static bool make_path(const char *path, CHAR16 *out)
{
	UINTN n = 0;

	out[n++] = L'\\';
	for (; *path == '/' || *path == '\\'; path++)
		;
	for (; *path; path++) {
		if (n >= PATH_MAX_CHARS - 1 || (u8)*path >= 0x80)
			return false;
		out[n++] = *path == '/' ? L'\\' : (CHAR16)*path;
	}
	out[n] = 0;
	return n > 1;
}

static EFI_STATUS read_all(EFI_FILE_HANDLE f, u8 *buf, u64 len)
{
	while (len) {
		UINTN chunk = (UINTN)len;
		EFI_STATUS st = uefi_call_wrapper(f->Read, 3, f, &chunk, buf);

		if (EFI_ERROR(st))
			return st;
		if (chunk == 0)
			return EFI_END_OF_FILE;
		buf += chunk;
		len -= chunk;
	}
	return EFI_SUCCESS;
}

static EFI_STATUS file_fail(const char *path, const char *what, EFI_STATUS st)
{
	log_str(LOG_BOTH, "tern-efi: file /");
	log_str(LOG_BOTH, path);
	log_str(LOG_BOTH, ":\n");
	return fail(what, st);
}

/*
 * Reads the whole file into fresh pages below 4 GiB. Returns EFI_NOT_FOUND
 * quietly when the file does not exist (callers decide whether that is an
 * error); any other failure is reported here.
 */
EFI_STATUS read_file(EFI_FILE_HANDLE root, const char *path, u64 *addr, u64 *len)
{
	CHAR16 wpath[PATH_MAX_CHARS];
	EFI_FILE_HANDLE f;
	UINT64 size;
	EFI_STATUS st;

	if (!make_path(path, wpath))
		return file_fail(path, "bad file name (empty, too long or not ASCII)", EFI_SUCCESS);
	st = uefi_call_wrapper(root->Open, 5, root, &f, wpath, EFI_FILE_MODE_READ, 0ULL);
	if (st == EFI_NOT_FOUND)
		return st;
	if (EFI_ERROR(st))
		return file_fail(path, "cannot open it", st);
	/* Seeking to all-ones moves to the end of the file: the size. */
	st = uefi_call_wrapper(f->SetPosition, 2, f, ~0ULL);
	if (!EFI_ERROR(st))
		st = uefi_call_wrapper(f->GetPosition, 2, f, &size);
	if (!EFI_ERROR(st))
		st = uefi_call_wrapper(f->SetPosition, 2, f, 0ULL);
	if (EFI_ERROR(st)) {
		uefi_call_wrapper(f->Close, 1, f);
		return file_fail(path, "cannot find its size (is it a directory?)", st);
	}
	st = alloc_low(size, addr);
	if (EFI_ERROR(st)) {
		uefi_call_wrapper(f->Close, 1, f);
		return file_fail(path, "no memory below 4 GiB for it", st);
	}
	st = read_all(f, (u8 *)(UINTN)*addr, size);
	uefi_call_wrapper(f->Close, 1, f);
	if (EFI_ERROR(st)) {
		uefi_call_wrapper(BS->FreePages, 2, *addr,
				  (UINTN)(ALIGN_UP(size ? size : 1, PAGE_SIZE) / PAGE_SIZE));
		return file_fail(path, "cannot read it", st);
	}
	*len = size;
	return EFI_SUCCESS;
}
