/*
 * A guest that causes a VM exit Tern has no handler for: a task switch,
 * which always exits (SDM 25.1.2) and which Tern's exit table leaves
 * unhandled. Task switches do not exist in long mode, so the guest first
 * leaves it: a far return to a 32-bit code segment, then CR0.PG cleared
 * (Tern emulates that write). In 32-bit protected mode it jumps to a TSS
 * descriptor. Tern must stop the VM with a dump naming the exit and stay
 * up; the harness checks the dump against what this guest did (the RIP of
 * the jump, its selector, paging and long mode off). Reaching anything
 * after the jump is a failure: the VM kept running.
 */
#include "guest.h"

#define SEL_CODE32 0x18
#define SEL_TSS32 0x20 /* the harness expects this selector in the exit qualification */
#define TSS32_LIMIT 0x67
#define DESC_TSS32_AVAILABLE 0x89ULL /* present, DPL 0, type 9 */

static u64 gdt[5] __attribute__((aligned(16)));
static u8 tss32[TSS32_LIMIT + 1] __attribute__((aligned(16)));

/* In assembly below: 64-bit code in, 32-bit code out; never returns. */
void leave_long_mode_and_switch_task(const void *gdtr) __noreturn;

__asm__(".pushsection .text\n"
	".code64\n"
	".globl leave_long_mode_and_switch_task\n"
	"leave_long_mode_and_switch_task:\n"
	"	lgdt (%rdi)\n"
	"	pushq $0x18\n" /* SEL_CODE32 */
	"	leaq 1f(%rip), %rax\n"
	"	pushq %rax\n"
	"	lretq\n"
	".code32\n"
	/* Compatibility mode, identity-mapped: clearing PG leaves long mode. */
	"1:	movl %cr0, %eax\n"
	"	andl $0x7fffffff, %eax\n"
	"	movl %eax, %cr0\n"
	".globl unhandled_exit_ljmp\n"
	"unhandled_exit_ljmp:\n"
	"	ljmp $0x20, $0\n" /* SEL_TSS32 */
	"2:	hlt\n"
	"	jmp 2b\n"
	".code64\n"
	".popsection\n");

int guest_main(u64 ram_size)
{
	u64 base = (u64)(uintptr_t)tss32;
	struct {
		u16 limit;
		u64 base;
	} __packed gdtr = { sizeof(gdt) - 1, (u64)(uintptr_t)gdt };

	gdt[0] = 0;
	gdt[TERN_GUEST_CS / 8] = 0x00af9b000000ffffULL; /* as Tern's: 64-bit code */
	gdt[TERN_GUEST_DS / 8] = 0x00cf93000000ffffULL; /* as Tern's: data */
	gdt[SEL_CODE32 / 8] = 0x00cf9b000000ffffULL;    /* 32-bit code, 4 GiB */
	gdt[SEL_TSS32 / 8] = TSS32_LIMIT | (base & 0xffffff) << 16 | DESC_TSS32_AVAILABLE << 40 |
			     ((base >> 24) & 0xff) << 56;
	if (base >> 32) {
		report_fail("the TSS is above 4 GiB");
		return 1;
	}
	report_info("leaving long mode for a task switch (exit 9, selector 0x%x)", SEL_TSS32);
	leave_long_mode_and_switch_task(&gdtr);
}
