/*
 * A hostile guest that triple-faults on purpose: with an IDT of limit 0, the
 * #UD from ud2 cannot be delivered (#GP), neither can that (#DF), and the
 * CPU shuts down. Tern must see the triple fault, stop this VM with a
 * register dump and stay up. Anything that returns here is a FAIL.
 */
#include "guest.h"

int guest_main(u64 ram_size)
{
	struct {
		u16 limit;
		u64 base;
	} __packed empty_idt = { 0, 0 };

	uart_puts("hostile_triple: loading an empty IDT and executing ud2\n");
	__asm__ volatile("lidt %0\n\tud2" : : "m"(empty_idt) : "memory");

	idt_install(); /* make the report below reachable if it ever gets here */
	report_fail("triple fault returned to the guest");
	return 1;
}
