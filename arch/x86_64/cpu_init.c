/*
 * Host CPU bring-up: our own GDT with a 64-bit TSS whose IST stacks take NMI,
 * #DF and #MC on known-good stacks, an IDT in which every exception reports
 * itself on the serial console, and SSE/XSAVE (newlib may use SSE; guest FPU
 * state is switched in vmx_run.c). Context: boot CPU, once, interrupts off.
 */
#include <tern/arch.h>
#include <tern/log.h>
#include <string.h>
#include "cpu.h"
#include "desc.h"
#include "fpu.h"

struct tss64 {
	u32 reserved0;
	u64 rsp[3];
	u64 reserved1;
	u64 ist[7];
	u64 reserved2;
	u16 reserved3;
	u16 iomap_base;
} __packed;

struct idt_entry {
	u16 off_lo, sel;
	u8 ist, type;
	u16 off_mid;
	u32 off_hi, reserved;
} __packed;

#define IST_STACK_SIZE 8192

static u64 gdt[8] __attribute__((aligned(16)));
static struct idt_entry idt[256] __attribute__((aligned(16)));
static struct tss64 tss __attribute__((aligned(16)));
/* One stack per IST vector, each its own symbol: the crash tests read their
 * bounds from tern.elf to check where a handler ran. */
static u8 ist_stack_nmi[IST_STACK_SIZE] __attribute__((aligned(16)));
static u8 ist_stack_df[IST_STACK_SIZE] __attribute__((aligned(16)));
static u8 ist_stack_mc[IST_STACK_SIZE] __attribute__((aligned(16)));
extern const u64 exc_stub_table[32];

u64 desc_gdt_base(void) { return (u64)gdt; }
u64 desc_idt_base(void) { return (u64)idt; }
u64 desc_tss_base(void) { return (u64)&tss; }

static void gdt_init(void)
{
	gdt[0] = 0;
	gdt[SEL_CODE64 / 8] = 0x00af9b000000ffffULL;
	gdt[SEL_DATA / 8] = 0x00cf93000000ffffULL;
	u64 base = (u64)&tss, limit = sizeof(tss) - 1;
	gdt[SEL_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) |
			   (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt[SEL_TSS / 8 + 1] = base >> 32;

	tss.ist[IST_NMI - 1] = (u64)&ist_stack_nmi[IST_STACK_SIZE];
	tss.ist[IST_DF - 1] = (u64)&ist_stack_df[IST_STACK_SIZE];
	tss.ist[IST_MC - 1] = (u64)&ist_stack_mc[IST_STACK_SIZE];
	tss.iomap_base = sizeof(tss);

	struct dtr d = { sizeof(gdt) - 1, (u64)gdt };
	asm volatile("lgdt %0\n\t"
		     "pushq %1\n\t"
		     "leaq 1f(%%rip), %%rax\n\t"
		     "pushq %%rax\n\t"
		     "lretq\n"
		     "1:\n\t"
		     "mov %2, %%ds\n\tmov %2, %%es\n\tmov %2, %%ss\n\t"
		     "mov %2, %%fs\n\tmov %2, %%gs\n\t"
		     : : "m"(d), "i"(SEL_CODE64), "r"(SEL_DATA) : "rax", "memory");
	asm volatile("ltr %w0" : : "r"(SEL_TSS));
}

static void idt_set(int vec, u64 handler, int ist)
{
	struct idt_entry *e = &idt[vec];
	e->off_lo = handler & 0xffff;
	e->sel = SEL_CODE64;
	e->ist = ist;
	e->type = 0x8e; /* present, DPL 0, 64-bit interrupt gate */
	e->off_mid = (handler >> 16) & 0xffff;
	e->off_hi = handler >> 32;
}

static void idt_init(void)
{
	for (int v = 0; v < 32; v++)
		idt_set(v, exc_stub_table[v], 0);
	idt_set(2, exc_stub_table[2], IST_NMI);
	idt_set(8, exc_stub_table[8], IST_DF);
	idt_set(18, exc_stub_table[18], IST_MC);
	struct dtr d = { sizeof(idt) - 1, (u64)idt };
	asm volatile("lidt %0" : : "m"(d));
}

/* The legacy PICs would deliver on exception vectors if ever unmasked. */
static void pic_mask_all(void)
{
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
}

void arch_cpu_init(void)
{
	gdt_init();
	idt_init();
	pic_mask_all();
	fpu_host_init();
}

void arch_cpu_relax(void)
{
	cpu_relax();
}

void arch_halt_forever(void)
{
	for (;;) {
		cpu_cli();
		cpu_hlt();
	}
}

void arch_backtrace(void *fp)
{
	u64 *frame = fp;
	hv_puts("tern: backtrace:");
	for (int depth = 0; frame && depth < 16; depth++) {
		/* Only follow frames inside the image's higher-half mapping. */
		if ((u64)frame < 0xffffffff80000000ULL || ((u64)frame & 7))
			break;
		u64 ret = frame[1];
		if (!ret)
			break;
		hv_printf(" %lx", ret);
		frame = (u64 *)frame[0];
	}
	hv_puts("\n");
}
