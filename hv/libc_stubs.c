/*
 * The system calls newlib expects underneath it (built with
 * --disable-newlib-supplied-syscalls, so they carry no leading underscore).
 * The hypervisor has no files or processes: stdout/stderr go to the serial
 * console, sbrk carves the region given to heap_init, and exit is fatal.
 * Context: any, single CPU (no lock yet).
 */
#include <tern/heap.h>
#include <tern/panic.h>
#include <tern/serial.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

static char *heap_base, *heap_brk, *heap_end;

void heap_init(void *base, size_t size)
{
	heap_base = base;
	heap_brk = base;
	heap_end = heap_base + size;
}

void *sbrk(ptrdiff_t incr)
{
	char *old = heap_brk;

	if (!heap_base || incr > heap_end - heap_brk || incr < heap_base - heap_brk) {
		errno = ENOMEM;
		return (void *)-1;
	}
	heap_brk += incr;
	return old;
}

static int is_console(int fd)
{
	return fd >= 0 && fd <= 2;
}

_READ_WRITE_RETURN_TYPE write(int fd, const void *buf, size_t len)
{
	if (fd != 1 && fd != 2) {
		errno = EBADF;
		return -1;
	}
	serial_write(buf, len);
	return (_READ_WRITE_RETURN_TYPE)len;
}

_READ_WRITE_RETURN_TYPE read(int fd, void *buf, size_t len)
{
	if (fd != 0) {
		errno = EBADF;
		return -1;
	}
	return 0; /* stdin is never read through stdio: end of file */
}

int open(const char *path, int flags, ...)
{
	errno = ENOENT;
	return -1;
}

int close(int fd)
{
	if (is_console(fd))
		return 0;
	errno = EBADF;
	return -1;
}

int fstat(int fd, struct stat *st)
{
	if (!is_console(fd)) {
		errno = EBADF;
		return -1;
	}
	*st = (struct stat){ .st_mode = S_IFCHR };
	return 0;
}

int isatty(int fd)
{
	if (is_console(fd))
		return 1;
	errno = EBADF;
	return 0;
}

off_t lseek(int fd, off_t off, int whence)
{
	errno = is_console(fd) ? ESPIPE : EBADF;
	return -1;
}

pid_t getpid(void)
{
	return 1;
}

/* Reached from abort() and raise(): there is nobody else to signal. */
int kill(pid_t pid, int sig)
{
	if (pid == getpid())
		hv_panic("libc: signal %d raised (abort?)", sig);
	errno = ESRCH;
	return -1;
}

void _exit(int status)
{
	hv_panic("libc: exit(%d) called", status);
}
