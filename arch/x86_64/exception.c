/*
 * What happens when the hypervisor itself takes an exception: a register
 * dump with the faulting address on the serial console, then a clean halt.
 * Guest exceptions never arrive here (they stay in the guest or become VM
 * exits). NMIs are counted and resumed: a watchdog NMI is no reason to die.
 */
#include <tern/arch.h>
#include <tern/log.h>
#include <string.h>
#include "cpu.h"
#include "desc.h"

static const char *const exc_names[32] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
	"#BR bound", "#UD invalid opcode", "#NM device not available",
	"#DF double fault", "coprocessor overrun", "#TS invalid TSS",
	"#NP segment not present", "#SS stack fault", "#GP general protection",
	"#PF page fault", "reserved 15", "#MF x87 error", "#AC alignment check",
	"#MC machine check", "#XM SIMD error", "#VE virtualization", "#CP control protection",
};

static u64 host_nmis;
static u64 last_nmi_stack;

u64 exception_nmi_count(void)
{
	return *(volatile u64 *)&host_nmis;
}

u64 exception_last_nmi_stack(void)
{
	return last_nmi_stack;
}

void exception_dispatch(struct exc_frame *f)
{
	if (f->vector == 2) {
		last_nmi_stack = (u64)f;
		host_nmis++;
		return;
	}
	const char *name = exc_names[f->vector & 31] ? exc_names[f->vector & 31] : "reserved";
	log_capture(NULL, NULL); /* even inside a network console command: to serial */
	hv_printf("\ntern: EXCEPTION %lu (%s) in the hypervisor, error code %#lx\n",
		  f->vector, name, f->error);
	hv_printf("  RIP=%016lx CS=%04lx RFLAGS=%016lx\n", f->rip, f->cs, f->rflags);
	hv_printf("  RSP=%016lx SS=%04lx CR2=%016lx CR3=%016lx\n", f->rsp, f->ss,
		  read_cr2(), read_cr3());
	hv_printf("  RAX=%016lx RBX=%016lx RCX=%016lx RDX=%016lx\n", f->rax, f->rbx, f->rcx, f->rdx);
	hv_printf("  RSI=%016lx RDI=%016lx RBP=%016lx R8 =%016lx\n", f->rsi, f->rdi, f->rbp, f->r8);
	hv_printf("  R9 =%016lx R10=%016lx R11=%016lx R12=%016lx\n", f->r9, f->r10, f->r11, f->r12);
	hv_printf("  R13=%016lx R14=%016lx R15=%016lx\n", f->r13, f->r14, f->r15);
	/* The frame sits on the handler's stack: an IST stack or the interrupted one. */
	hv_printf("  handler stack %016lx\n", (u64)f);
	if (f->vector == 14)
		hv_printf("  faulting address %#lx (%s, %s)\n", read_cr2(),
			  f->error & 2 ? "write" : "read", f->error & 1 ? "protection" : "not present");
	arch_backtrace((void *)f->rbp);
	hv_puts("tern: halted\n");
	arch_halt_forever();
}
