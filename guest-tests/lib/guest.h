/*
 * The runtime API shared by all Tern test guests: port I/O, CPU helpers,
 * UART output, string formatting, hypercall wrappers, PASS/FAIL reports and
 * per-vector interrupt handlers. Guests run at CPL0 on Tern's identity map,
 * so a pointer is also a guest-physical address. crt0.S calls idt_install()
 * and then guest_main(); guest_main's return value becomes the exit code.
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <tern/types.h>
#include <tern/hypercall.h>

/* Linker symbols (guest.ld): the image, bss and stack included. */
extern char __image_start[], __image_end[];

/* Every test and the demo define this; the result is the exit code. */
int guest_main(u64 ram_size);
/* TSC at the guest's very first instruction (instructions since reset on Bochs). */
extern u64 guest_start_tsc;

/* ---- port I/O and CPU helpers ---- */
static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u16 inw(u16 port) { u16 v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u32 inl(u16 port) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline void cpuid(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c, u32 *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

/* Raw MSR access: may raise #GP, which a test catches with a vector 13 handler. */
static inline u64 rdmsr(u32 msr)
{
	u32 lo = 0, hi = 0;
	__asm__ volatile("rdmsr" : "+a"(lo), "+d"(hi) : "c"(msr) : "memory");
	return ((u64)hi << 32) | lo;
}
static inline void wrmsr(u32 msr, u64 v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
}

/* Tern neither offsets nor intercepts the TSC: the guest reads the CPU's
 * (on Bochs, instructions since reset), a clock that is not Tern's. */
static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

static inline u64 read_cr2(void) { u64 v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline u64 read_cr3(void) { u64 v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline void write_cr3(u64 v) { __asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory"); }
static inline void cli(void) { __asm__ volatile("cli" : : : "memory"); }
static inline void sti(void) { __asm__ volatile("sti" : : : "memory"); }
static inline void cpu_pause(void) { __asm__ volatile("pause" : : : "memory"); }
/* sti's one-instruction shadow means no interrupt can slip in before the hlt. */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" : : : "memory"); }

/* ---- strings and formatting (string.c, format.c) ---- */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/* Supports %s %c %d %i %u %x %p %% with l/ll/z sizes, a width and 0 padding.
 * Always NUL-terminates (when size > 0); returns the length written. */
int vformat(char *buf, size_t size, const char *fmt, va_list ap);
int format(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);

/* ---- COM1 output (uart.c) ---- */
#define COM1 0x3F8
#define UART_LSR (COM1 + 5)
#define UART_SCR (COM1 + 7)
#define LSR_THRE 0x20 /* transmit holding register empty */
#define LSR_TEMT 0x40 /* transmitter empty */

void uart_putc(char c);
void uart_puts(const char *s);
int uprintf(const char *fmt, ...) __printf(1, 2);

/* ---- hypercalls (hypercall.c) ---- */
static inline s64 hypercall(u64 nr, u64 a0, u64 a1, u64 a2)
{
	s64 ret;
	__asm__ volatile("vmcall" : "=a"(ret) : "a"(nr), "D"(a0), "S"(a1), "d"(a2) : "memory");
	return ret;
}

s64 tern_version(void);
u64 tern_time_ns(void);
s64 tern_timer(u64 vector, u64 delay_ns);
void tern_exit(u64 code) __noreturn;
void delay_ns(u64 ns); /* busy-waits on TIME_NS, interrupts untouched */

/* Reports go through TERN_HC_REPORT; texts longer than 199 chars are cut. */
void report_pass(const char *fmt, ...) __printf(1, 2);
void report_fail(const char *fmt, ...) __printf(1, 2);
void report_info(const char *fmt, ...) __printf(1, 2);

/* ---- interrupts (idt.c, isr.S) ---- */
/* Layout pushed by isr.S; handlers may change any field, RIP in particular. */
struct int_frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error_code;
	u64 rip, cs, rflags, rsp, ss;
};

typedef void (*int_handler)(struct int_frame *f);

void idt_install(void);                        /* called by crt0.S */
void idt_set_handler(unsigned vector, int_handler h); /* NULL = default */
void idt_dispatch(struct int_frame *f);        /* called by isr.S */

#endif
