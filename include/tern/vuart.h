/*
 * The guest's emulated 16550 on COM1 (hv/vuart.c): pure code. Bytes the guest
 * transmits are collected into lines and handed to a sink with a prefix.
 */
#ifndef TERN_VUART_H
#define TERN_VUART_H

#include <tern/types.h>

#define VUART_BASE 0x3f8
#define VUART_LINE_MAX 160

struct vuart {
	u8 ier, lcr, mcr, scr, dll, dlm;
	u32 line_len;
	char line[VUART_LINE_MAX + 1];
	u64 tx_bytes;
	/* Receives each complete line (without newline), NUL-terminated. */
	void (*sink)(void *ctx, const char *line);
	void *sink_ctx;
};

void vuart_init(struct vuart *u, void (*sink)(void *, const char *), void *ctx);
/* offset = port - VUART_BASE (0..7). */
u8 vuart_read(struct vuart *u, unsigned offset);
void vuart_write(struct vuart *u, unsigned offset, u8 val);
/* Hand over a partial line (e.g. when the VM stops). */
void vuart_flush(struct vuart *u);

#endif
