/*
 * The guest's IDT: all 256 vectors point at the stubs in isr.S, which call
 * idt_dispatch() with a struct int_frame. A test registers a handler per
 * vector (for example #GP to skip a faulting RDMSR, or its timer vector);
 * any vector without one is a bug, so the default handler reports FAIL with
 * the vector and RIP and exits with code 1.
 */
#include "guest.h"

struct idt_gate {
	u16 offset_lo;
	u16 selector;
	u8 ist;
	u8 type_attr;
	u16 offset_mid;
	u32 offset_hi;
	u32 reserved;
} __packed;

struct idt_ptr {
	u16 limit;
	u64 base;
} __packed;

#define GATE_INTERRUPT 0x8E /* present, DPL 0, 64-bit interrupt gate: IF cleared */
#define STUB_SIZE 16        /* isr.S pads every stub to this */

extern char isr_stubs[];

static struct idt_gate idt[256] __attribute__((aligned(16)));
static int_handler handlers[256];

void idt_install(void)
{
	u16 cs;

	/* Use whatever code selector we run on (Tern's GDT gives 0x08). */
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	for (unsigned v = 0; v < 256; v++) {
		u64 addr = (u64)(uintptr_t)(isr_stubs + v * STUB_SIZE);
		idt[v] = (struct idt_gate){
			.offset_lo = (u16)addr,
			.selector = cs,
			.ist = 0,
			.type_attr = GATE_INTERRUPT,
			.offset_mid = (u16)(addr >> 16),
			.offset_hi = (u32)(addr >> 32),
		};
	}
	struct idt_ptr p = { sizeof(idt) - 1, (u64)(uintptr_t)idt };
	__asm__ volatile("lidt %0" : : "m"(p) : "memory");
}

void idt_set_handler(unsigned vector, int_handler h)
{
	if (vector < 256)
		handlers[vector] = h;
}

void idt_dispatch(struct int_frame *f)
{
	int_handler h = handlers[f->vector & 0xff];

	if (h) {
		h(f);
		return;
	}
	report_fail("unexpected exception %lu at RIP 0x%lx (error 0x%lx, CR2 0x%lx)",
		    f->vector, f->rip, f->error_code, read_cr2());
	tern_exit(1);
}
