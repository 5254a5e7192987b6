/* The hypervisor's serial console port (drivers/serial.c). */
#ifndef TERN_SERIAL_H
#define TERN_SERIAL_H

#include <tern/types.h>

void serial_init(void);
void serial_write(const char *buf, size_t len);
int serial_getc(void); /* -1 if no byte is waiting */

#endif
