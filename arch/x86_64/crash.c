/*
 * Faults on purpose, for the console's `crash KIND` (boot option
 * debug_crash): each kind reaches one path of the exception code, so a test
 * can check the whole report. df, nmi and mc exist to show that the vectors
 * with IST stacks really run on them (the report prints the handler's
 * stack; the harness compares it with the stacks' symbols in tern.elf).
 */
#include <tern/arch.h>
#include <tern/log.h>
#include <tern/mm.h>
#include <string.h>
#include "cpu.h"
#include "desc.h"

/* The bottom of the upper half: Tern maps nothing there (arch/x86_64/paging.c). */
#define NEVER_MAPPED 0xffff800000000000ULL

#define APIC_BASE_X2APIC (1ULL << 10)
#define APIC_BASE_ENABLE (1ULL << 11)
#define APIC_REG_ID 0x20
#define APIC_REG_ICR_LO 0x300
#define APIC_REG_ICR_HI 0x310
#define MSR_X2APIC_ID 0x802
#define MSR_X2APIC_ICR 0x830
#define ICR_DELIVERY_NMI (4u << 8)
#define ICR_ASSERT (1u << 14)
#define NMI_WAIT_NS 1000000000ULL

/*
 * A real NMI, sent by the local APIC to this CPU alone (physical destination
 * = our own APIC ID; the "self" shorthand is not valid with NMI delivery).
 * INT 2 would enter the same handler but, unlike an NMI, does not block
 * further NMIs until IRET, so it would prove less. Returns false when the
 * local APIC is off.
 */
static bool send_self_nmi(void)
{
	u64 base = rdmsr(MSR_APIC_BASE);
	if (!(base & APIC_BASE_ENABLE))
		return false;
	if (base & APIC_BASE_X2APIC) {
		u64 id = rdmsr(MSR_X2APIC_ID);
		wrmsr(MSR_X2APIC_ICR, id << 32 | ICR_DELIVERY_NMI | ICR_ASSERT);
		return true;
	}
	volatile u32 *apic = phys_to_virt(base & ~0xfffULL);
	u32 id = apic[APIC_REG_ID / 4] >> 24;
	apic[APIC_REG_ICR_HI / 4] = id << 24;
	apic[APIC_REG_ICR_LO / 4] = ICR_DELIVERY_NMI | ICR_ASSERT;
	return true;
}

/* The NMI handler counts and returns: report the stack it ran on. */
static void crash_nmi(void)
{
	u64 before = exception_nmi_count();
	if (!send_self_nmi()) {
		hv_printf("error: the local APIC is disabled; no NMI sent\n");
		return;
	}
	u64 start = arch_time_ns();
	while (exception_nmi_count() == before && arch_time_ns() - start < NMI_WAIT_NS)
		cpu_relax();
	if (exception_nmi_count() == before) {
		hv_printf("error: the NMI did not arrive within 1 s\n");
		return;
	}
	hv_printf("tern: NMI taken and resumed, handler stack %016lx\n",
		  exception_last_nmi_stack());
}

/* A push onto an unmapped stack faults (#PF); delivering that #PF pushes
 * onto the same stack and faults again, which makes a #DF: only a handler
 * on its own IST stack can report it. */
static __noreturn void crash_double_fault(void)
{
	asm volatile("mov %0, %%rsp\n\t"
		     "push %%rax"
		     : : "r"(NEVER_MAPPED + PAGE_SIZE) : "memory");
	__builtin_unreachable();
}

bool arch_crash(const char *kind)
{
	if (!strcmp(kind, "ud"))
		asm volatile("ud2");
	else if (!strcmp(kind, "gp"))
		(void)*(volatile u64 *)0x8000000000000000ULL;
	else if (!strcmp(kind, "pf"))
		(void)*(volatile u64 *)NEVER_MAPPED;
	else if (!strcmp(kind, "df"))
		crash_double_fault();
	else if (!strcmp(kind, "mc"))
		asm volatile("int $18"); /* no way to make a real machine check */
	else if (!strcmp(kind, "nmi"))
		crash_nmi();
	else
		return false;
	return true;
}
