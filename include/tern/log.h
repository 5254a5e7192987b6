/* Console output of the hypervisor: everything goes to the serial port. */
#ifndef TERN_LOG_H
#define TERN_LOG_H

#include <tern/types.h>
#include <stdarg.h>

__printf(1, 2) void hv_printf(const char *fmt, ...);
void hv_vprintf(const char *fmt, va_list ap);
void hv_puts(const char *s); /* no newline added */
/* A message not asked for at the console (VM events): always on a line of its own. */
__printf(1, 2) void hv_log(const char *fmt, ...);

#endif
