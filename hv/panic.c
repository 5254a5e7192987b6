/*
 * hv_panic: a broken invariant inside the hypervisor. Prints the message and
 * a frame-pointer backtrace (the hypervisor is built with frame pointers),
 * then halts this CPU for good with interrupts off.
 */
#include <tern/panic.h>
#include <tern/log.h>
#include <tern/arch.h>

void hv_panic(const char *fmt, ...)
{
	va_list ap;
	log_capture(NULL, NULL); /* a network command's panic still reaches serial */
	hv_puts("\ntern: PANIC: ");
	va_start(ap, fmt);
	hv_vprintf(fmt, ap);
	va_end(ap);
	hv_puts("\n");
	arch_backtrace(__builtin_frame_address(0));
	hv_puts("tern: halted\n");
	arch_halt_forever();
}
