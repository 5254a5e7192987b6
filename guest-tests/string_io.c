/*
 * String port I/O (INS/OUTS, REP or not), which Tern emulates by walking
 * this guest's page tables: OUTS into the UART's scratch register (the last
 * byte written stays there), forwards and backwards (RFLAGS.DF); INS from a
 * port with no device (all ones) across a page boundary and longer than
 * what Tern does in one exit; word and dword elements; a count of zero; a
 * 32-bit address size (ECX/EDI) in 64-bit mode; and that RSI/RDI/RCX end
 * where the CPU would leave them, with the bytes around the buffers intact.
 * Then a page fault in the middle of a REP INSB: the guest's #PF handler
 * sees CR2 and the error code of the missing page, maps it, and the
 * instruction finishes where it stopped; the accessed and dirty flags Tern
 * set in our page table are checked too. Bytes Tern itself writes for INS
 * bypass EPT, so neither PML nor write protection sees them: they must be
 * in the dirty log all the same (read back with TERN_HC_DIRTY_LOG), and a
 * page INS did not reach must not be.
 */
#include "guest.h"
#include <tern/bitmap.h>

#define NO_DEVICE 0x80   /* the POST port: no device, reads all ones */
#define BIG 10000        /* more than Tern's 4096 elements per exit */

static u8 area[3 * 4096] __attribute__((aligned(4096)));
static const char msg[] = "0123456789abcdef";

/* The fault window: PDPT[3] -> pf_pd -> pf_pt -> pf_pages, page 1 unmapped. */
#define WINDOW 0xc0000000ULL
#define PTE_P 1ULL
#define PTE_W 2ULL
#define PTE_A 0x20ULL
#define PTE_D 0x40ULL
static u64 pf_pd[512] __attribute__((aligned(4096)));
static u64 pf_pt[512] __attribute__((aligned(4096)));
static u8 pf_pages[2 * 4096] __attribute__((aligned(4096)));
static volatile unsigned pf_count;
static volatile u64 pf_cr2, pf_error;

struct regs {
	u64 si, di, cx;
};

static struct regs outsb(u16 port, const void *src, u64 n, int backwards)
{
	struct regs r = { (u64)(uintptr_t)src, 0, n };
	if (backwards)
		__asm__ volatile("std; rep outsb; cld" : "+S"(r.si), "+c"(r.cx) : "d"(port) : "memory");
	else
		__asm__ volatile("rep outsb" : "+S"(r.si), "+c"(r.cx) : "d"(port) : "memory");
	return r;
}

static struct regs insb(u16 port, void *dst, u64 n, int backwards)
{
	struct regs r = { 0, (u64)(uintptr_t)dst, n };
	if (backwards)
		__asm__ volatile("std; rep insb; cld" : "+D"(r.di), "+c"(r.cx) : "d"(port) : "memory");
	else
		__asm__ volatile("rep insb" : "+D"(r.di), "+c"(r.cx) : "d"(port) : "memory");
	return r;
}

static int fail(const char *what, u64 got, u64 want)
{
	report_fail("%s: got 0x%lx, want 0x%lx", what, got, want);
	return 1;
}

/* Every byte of area outside [from, from + n) is still the fill byte. */
static int untouched_outside(u64 from, u64 n, u8 fill)
{
	for (u64 i = 0; i < sizeof(area); i++) {
		if (i >= from && i < from + n)
			continue;
		if (area[i] != fill)
			return fail("a byte outside the INS buffer changed, offset", i, from);
	}
	return 0;
}

static int check_outs(void)
{
	struct regs r = outsb(UART_SCR, msg, 16, false);
	if (inb(UART_SCR) != 'f')
		return fail("rep outsb forwards: scratch register", inb(UART_SCR), 'f');
	if (r.si != (u64)(uintptr_t)msg + 16 || r.cx != 0)
		return fail("rep outsb forwards: RSI past the end, RCX 0; RSI", r.si, (uintptr_t)msg + 16);
	r = outsb(UART_SCR, msg + 15, 16, true);
	if (inb(UART_SCR) != '0')
		return fail("rep outsb backwards: scratch register", inb(UART_SCR), '0');
	if (r.si != (u64)(uintptr_t)msg - 1 || r.cx != 0)
		return fail("rep outsb backwards: RSI", r.si, (uintptr_t)msg - 1);
	u64 si = (u64)(uintptr_t)(msg + 3);
	__asm__ volatile("outsb" : "+S"(si) : "d"((u16)(UART_SCR)) : "memory");
	if (inb(UART_SCR) != '3' || si != (u64)(uintptr_t)(msg + 4))
		return fail("outsb without REP: scratch register", inb(UART_SCR), '3');
	/* A word: the scratch register gets the low byte, the next port wraps
	   to the UART's register 0 (THR) and prints the high one: '\n'. */
	u16 w = 'X' | '\n' << 8;
	si = (u64)(uintptr_t)&w;
	__asm__ volatile("outsw" : "+S"(si) : "d"((u16)(UART_SCR)) : "memory");
	if (inb(UART_SCR) != 'X')
		return fail("outsw: scratch register", inb(UART_SCR), 'X');
	return 0;
}

static int check_ins(void)
{
	/* Across the boundary between the first and second page. */
	memset(area, 0x5a, sizeof(area));
	struct regs r = insb(NO_DEVICE, area + 4000, 200, false);
	for (int i = 0; i < 200; i++)
		if (area[4000 + i] != 0xff)
			return fail("rep insb across a page boundary: byte", area[4000 + i], 0xff);
	if (r.di != (u64)(uintptr_t)(area + 4200) || r.cx != 0)
		return fail("rep insb: RDI", r.di, (uintptr_t)(area + 4200));
	if (untouched_outside(4000, 200, 0x5a))
		return 1;
	/* Backwards, and longer than one exit's worth. */
	memset(area, 0x11, sizeof(area));
	r = insb(NO_DEVICE, area + 100 + BIG - 1, BIG, true);
	for (int i = 0; i < BIG; i++)
		if (area[100 + i] != 0xff)
			return fail("rep insb backwards, 10000 bytes: offset", (u64)i, 0);
	if (r.di != (u64)(uintptr_t)(area + 99) || r.cx != 0)
		return fail("rep insb backwards: RDI", r.di, (uintptr_t)(area + 99));
	if (untouched_outside(100, BIG, 0x11))
		return 1;
	/* A count of zero moves nothing. */
	memset(area, 0x22, sizeof(area));
	r = insb(NO_DEVICE, area + 8, 0, false);
	if (r.di != (u64)(uintptr_t)(area + 8) || untouched_outside(0, 0, 0x22))
		return fail("rep insb with RCX 0: RDI", r.di, (uintptr_t)(area + 8));
	/* Words and dwords: the LSR and its neighbours, as inw/inl see them. */
	u16 wv[3] = { 0 };
	u64 di = (u64)(uintptr_t)wv, cx = 3;
	__asm__ volatile("rep insw" : "+D"(di), "+c"(cx) : "d"((u16)NO_DEVICE) : "memory");
	if (wv[0] != 0xffff || wv[2] != 0xffff || di != (u64)(uintptr_t)(wv + 3))
		return fail("rep insw: last word", wv[2], 0xffff);
	u32 lv = 0, want = inl(UART_LSR);
	di = (u64)(uintptr_t)&lv;
	__asm__ volatile("insl" : "+D"(di) : "d"((u16)UART_LSR) : "memory");
	if (lv != want)
		return fail("insl from the LSR", lv, want);
	/* addr32 in 64-bit mode: ECX counts, so bit 32 of RCX must not. */
	memset(area, 0x33, sizeof(area));
	di = (u64)(uintptr_t)(area + 64);
	cx = (1ULL << 32) | 8;
	__asm__ volatile("addr32 rep insb" : "+D"(di), "+c"(cx) : "d"((u16)NO_DEVICE) : "memory");
	if ((u32)cx != 0 || (u32)di != (u32)(uintptr_t)(area + 72))
		return fail("addr32 rep insb: ECX", (u32)cx, 0);
	return untouched_outside(64, 8, 0x33);
}

/* INS into area's first two pages while logging; its third stays untouched. */
static int check_ins_logged(u64 ram_size)
{
	u64 *log = (u64 *)ALIGN_UP((u64)(uintptr_t)__image_end, PAGE_SIZE);
	u64 bytes = TERN_DIRTY_LOG_BYTES(ram_size), first = (u64)(uintptr_t)area / PAGE_SIZE;
	memset(area, 0x66, sizeof(area)); /* the guest's own writes: before the log starts */
	s64 rc = hypercall(TERN_HC_DIRTY_START, 0, 0, 0);
	if (rc < 0)
		return fail("DIRTY_START", (u64)rc, 1);
	rc = hypercall(TERN_HC_DIRTY_LOG, (u64)(uintptr_t)log, bytes, 0); /* a clean start */
	insb(NO_DEVICE, area + 4000, 200, false);
	s64 pages = hypercall(TERN_HC_DIRTY_LOG, (u64)(uintptr_t)log, bytes, 0);
	hypercall(TERN_HC_DIRTY_STOP, 0, 0, 0);
	if (rc < 0 || pages < 0)
		return fail("DIRTY_LOG", (u64)(rc < 0 ? rc : pages), 0);
	for (u64 i = 0; i < 2; i++)
		if (!bitmap_test(log, first + i))
			return fail("rep insb wrote a page the dirty log lacks: gfn", first + i, 0);
	if (bitmap_test(log, first + 2))
		return fail("a page rep insb never reached is in the dirty log: gfn", first + 2, 0);
	return 0;
}

static void on_pf(struct int_frame *f)
{
	pf_count++;
	pf_cr2 = read_cr2();
	pf_error = f->error_code;
	if (pf_count > 1) {
		report_fail("a second #PF at 0x%lx", pf_cr2);
		tern_exit(1);
	}
	pf_pt[1] = (u64)(uintptr_t)(pf_pages + 4096) | PTE_P | PTE_W;
	write_cr3(read_cr3());
}

static int check_page_fault(void)
{
	u64 *pml4 = (u64 *)(uintptr_t)(read_cr3() & ~0xfffULL);
	u64 *pdpt = (u64 *)(uintptr_t)(pml4[0] & 0x000ffffffffff000ULL);
	pf_pt[0] = (u64)(uintptr_t)pf_pages | PTE_P | PTE_W;
	pf_pd[0] = (u64)(uintptr_t)pf_pt | PTE_P | PTE_W;
	pdpt[WINDOW >> 30] = (u64)(uintptr_t)pf_pd | PTE_P | PTE_W;
	write_cr3(read_cr3());
	idt_set_handler(14, on_pf);
	memset(pf_pages, 0x44, sizeof(pf_pages));
	struct regs r = insb(NO_DEVICE, (void *)(uintptr_t)(WINDOW + 4096 - 100), 300, 0);
	idt_set_handler(14, NULL);
	if (pf_count != 1 || pf_cr2 != WINDOW + 4096 || pf_error != 2)
		return fail("#PF in rep insb: CR2 (count, error below)", pf_cr2, WINDOW + 4096) ||
		       fail("#PF count", pf_count, 1) || fail("#PF error code", pf_error, 2);
	if (r.cx != 0 || r.di != WINDOW + 4096 + 200)
		return fail("rep insb after the #PF: RDI", r.di, WINDOW + 4096 + 200);
	for (int i = 0; i < (int)sizeof(pf_pages); i++) {
		u8 want = i >= 4096 - 100 && i < 4096 + 200 ? 0xff : 0x44;
		if (pf_pages[i] != want)
			return fail("rep insb after the #PF: byte at offset", (u64)i, want);
	}
	/* Tern's page walk set what the CPU would: A on the path, D on the leaves. */
	if ((pf_pt[0] & (PTE_A | PTE_D)) != (PTE_A | PTE_D) || !(pf_pd[0] & PTE_A) ||
	    (pf_pt[1] & (PTE_A | PTE_D)) != (PTE_A | PTE_D))
		return fail("accessed/dirty flags of the window's PTE 0", pf_pt[0], 0);
	return 0;
}

int guest_main(u64 ram_size)
{
	if (check_outs() || check_ins() || check_ins_logged(ram_size) || check_page_fault())
		return 1;
	report_pass("string_io: OUTS/INS, REP forwards and backwards, bytes/words/dwords, "
		    "page crossing, %d bytes in one instruction, addr32, #PF mid-way, INS in the dirty log", BIG);
	return 0;
}
