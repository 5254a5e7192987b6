/*
 * mig_strio: proves from the inside that Tern's own accesses to guest RAM
 * (string port I/O, which Tern emulates by walking our page tables in
 * software) see the right pages during a post-copy migration, when pages
 * not yet received are absent on the destination (docs/migration-guests.md).
 *
 * Layout, from the image end up to the RAM size in RDI:
 *   [version table][working pages ...][PDPT][PD][slot 0: PT out in][slot 1]...
 * The 2 + 3 * NSLOTS slot pages sit at the very top of RAM: a source sends
 * pages in address order, so they arrive last. Slot k's PT maps its own
 * linear window W_k = STRIO_WINDOW + k * 2 MiB (PML4[2] -> PDPT -> PD[k] ->
 * PT_k): W_k + 0 is its out page, W_k + 4096 its in page. After the set-up
 * the guest touches none of a slot's pages (nor the PDPT and PD) with loads
 * or stores, and never reaches a window with the CPU's own page walk, so
 * the first access to them is Tern's software walk for the slot's INS/OUTS.
 *
 * Out page k holds at offset 0 one line of STRIO_LINE_LEN (68) bytes:
 *   "strio: slot KK out " + 48 characters + "\n"     (KK: k, 2 decimal digits)
 * with character i (0..47) = ALPHA[(s_i >> 24) % 62], where
 *   ALPHA = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
 *   s_{-1} = (k + 1) * 0x9e3779b9 mod 2^32,
 *   s_i = (s_{i-1} * 1664525 + 1013904223) mod 2^32
 * (tests/harness/strio_check.py computes the same). The rest of the page
 * is left as it was (zeros). In page k is mig_xs_fill's xorshift page of
 * (page number k, STRIO_SEED).
 *
 * Forever: a pass rewrites a few random working pages at version + 1
 * (mig_pattern.h's versioned pages; each verified just before) and
 * verifies the next slice of them; every 250 ms of guest time the next
 * slot k is used (0..63, then 0 again; use u of the slot is cycle
 * c = u / 64):
 *   (a) rep outsb of the out line from W_k to COM1's THR: Tern relays it as
 *       "vm0| strio: slot KK out ...";
 *   (b) the scratch register gets v = (0x5a + c) mod 256 (0x5a on the first
 *       cycle: every cycle differs from the one before, so a stale in page
 *       is seen on later cycles too), then rep insb of 256 bytes from it to
 *       W_k + 4096 + 1024;
 *   (c) with ordinary loads through the identity map: in page k is v at
 *       1024..1279 and its xorshift pattern elsewhere, out page k still holds
 *       its line, RSI/RDI/RCX ended where the CPU leaves them, and the walk
 *       set the accessed flags on the path (PML4[2], PDPT[0], PD[k], both
 *       PTEs) and the dirty flag on the in PTE only. Then the flags of PD[k]
 *       and the two PTEs are cleared (and the window's TLB entries dropped)
 *       so that the next cycle checks them anew.
 * A slot that fails prints "strio: FAIL slot KK ..." and then mig_fail's
 * "mig: FAIL strio slot KK ..." (REPORT, then once a second forever).
 */
#include "guest.h"
#include "mig_pattern.h"

#define NSLOTS 64
#define SLOT_PAGES 3                         /* PT, out, in */
#define AREA_PAGES (2 + SLOT_PAGES * NSLOTS) /* + the shared PDPT and PD */
#define STRIO_WINDOW 0x10000000000ull        /* 1 TiB: PML4 slot 2, used by nothing else */
#define WINDOW_STRIDE 0x200000ull            /* one PD entry, so one PT, per slot */
#define STRIO_SEED 0x57210e5eed000001ull
#define STRIO_LINE_LEN 68
#define STRIO_TAIL 48
#define IN_OFFSET 1024
#define IN_LEN 256
#define SLOT_NS 250000000ull /* a slot every 250 ms of guest time */
/* A pass verifies SLICE pages (~13 ms on Bochs) and rewrites REWRITES: about
 * 150 page writes a guest second, mig_verify's rate, so that a pre-copy
 * phase before the post-copy switch can converge on the emulated link. */
#define REWRITES 2
#define SLICE 512
#define MIN_WORK_PAGES 8

#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_A 0x20ull
#define PTE_D 0x40ull
#define PTE_ADDR 0x000ffffffffff000ull

static const char alpha[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/* The working region (mig_verify's scheme, smaller). */
static u8 *base;
static u32 *table;
static u64 first_pn, npages, writes, cursor;
static u64 rng = 0x5712105712100001ull;

/* The slot area. Volatile: Tern writes the tables and pages behind our back. */
static u64 area;                  /* its first page: the PDPT */
static volatile u64 *pml4;
static u64 uses, slots_ok;
static int cur_slot = -1;         /* for the #PF handler */
static u8 expect_in[PAGE_SIZE] __attribute__((aligned(8)));
static char line_buf[STRIO_LINE_LEN + 1];

static inline u64 pdpt_pa(void) { return area; }
static inline u64 pd_pa(void) { return area + PAGE_SIZE; }
static inline u64 slot_pa(unsigned k, unsigned which) /* 0 PT, 1 out, 2 in */
{
	return area + (2 + (u64)k * SLOT_PAGES + which) * PAGE_SIZE;
}
static inline u64 window(unsigned k) { return STRIO_WINDOW + k * WINDOW_STRIDE; }
static inline volatile u64 *table_at(u64 pa) { return (volatile u64 *)(uintptr_t)pa; }
static inline volatile u8 *bytes_at(u64 pa) { return (volatile u8 *)(uintptr_t)pa; }

/* The out line of slot k (the formula in the header); buf holds LEN + 1. */
static void out_line(unsigned k, char *buf)
{
	u32 s = (u32)(k + 1) * 0x9e3779b9u;
	int n = format(buf, STRIO_LINE_LEN + 1, "strio: slot %02u out ", k);

	for (int i = 0; i < STRIO_TAIL; i++) {
		s = s * 1664525u + 1013904223u;
		buf[n + i] = alpha[(s >> 24) % 62];
	}
	buf[n + STRIO_TAIL] = '\n';
	buf[n + STRIO_TAIL + 1] = '\0';
}

/* ---- the working region ---- */

static void verify_page(u64 i)
{
	void *p = base + i * PAGE_SIZE;

	if (mig_pat_check(p, first_pn + i, table[i], NULL))
		mig_fail_page(p, first_pn + i, table[i]);
}

static void work_pass(void)
{
	for (int r = 0; r < REWRITES; r++) {
		u64 i = mig_xorshift64(&rng) % npages;
		verify_page(i); /* a stale page must not be overwritten unseen */
		mig_pat_write(base + i * PAGE_SIZE, first_pn + i, ++table[i]);
		writes++;
	}
	for (int s = 0; s < SLICE; s++) {
		verify_page(cursor);
		if (++cursor < npages)
			continue;
		cursor = 0;
		u64 sum = 0;
		for (u64 i = 0; i < npages; i++)
			sum += table[i];
		if (sum != npages + writes)
			mig_fail("version table sum %lu, expected %lu (%lu pages, %lu writes)", sum,
				 npages + writes, npages, writes);
	}
}

/* ---- the slots ---- */

static void slot_fail(unsigned k, const char *fmt, ...) __printf(2, 3) __noreturn;
static void slot_fail(unsigned k, const char *fmt, ...)
{
	char text[160];
	va_list ap;

	va_start(ap, fmt);
	vformat(text, sizeof(text), fmt, ap);
	va_end(ap);
	uprintf("strio: FAIL slot %02u %s\n", k, text);
	mig_fail("strio slot %02u %s", k, text);
}

/* Tern's walk found a table entry not present: the page it read was wrong. */
static void on_pf(struct int_frame *f)
{
	u64 cr2 = read_cr2();

	if (cur_slot < 0)
		mig_fail("page fault outside a slot at 0x%lx (error 0x%lx, RIP 0x%lx)", cr2,
			 f->error_code, f->rip);
	slot_fail((unsigned)cur_slot, "page fault at 0x%lx (error 0x%lx, RIP 0x%lx)", cr2,
		  f->error_code, f->rip);
}

static void setup_slots(u64 end)
{
	area = end - AREA_PAGES * PAGE_SIZE;
	volatile u64 *pdpt = table_at(pdpt_pa()), *pd = table_at(pd_pa());

	pml4 = table_at(read_cr3() & PTE_ADDR);
	for (unsigned i = 0; i < 512; i++)
		pdpt[i] = pd[i] = 0;
	pdpt[0] = pd_pa() | PTE_P | PTE_W;
	for (unsigned k = 0; k < NSLOTS; k++) {
		volatile u64 *pt = table_at(slot_pa(k, 0));
		volatile u8 *out = bytes_at(slot_pa(k, 1));
		for (unsigned i = 0; i < 512; i++)
			pt[i] = 0;
		pt[0] = slot_pa(k, 1) | PTE_P | PTE_W;
		pt[1] = slot_pa(k, 2) | PTE_P | PTE_W;
		pd[k] = slot_pa(k, 0) | PTE_P | PTE_W;
		out_line(k, line_buf);
		for (unsigned i = 0; i < STRIO_LINE_LEN; i++)
			out[i] = (u8)line_buf[i];
		mig_xs_fill((void *)(uintptr_t)slot_pa(k, 2), k, STRIO_SEED);
	}
	pml4[STRIO_WINDOW >> 39] = pdpt_pa() | PTE_P | PTE_W;
	/* Nothing of the windows may linger: the first walk must be Tern's. */
	write_cr3(read_cr3());
}

static void check_flag(unsigned k, const char *what, u64 e, u64 must, u64 must_not)
{
	if ((e & must) != must || (e & must_not))
		slot_fail(k, "flags: %s 0x%lx, want%s%s%s", what, e, must & PTE_A ? " A" : "",
			  must & PTE_D ? " D" : "", must_not & PTE_D ? " not D" : "");
}

static void use_slot(unsigned k)
{
	u8 v = (u8)(0x5a + uses / NSLOTS);
	u64 w = window(k), si = w, di = w + PAGE_SIZE + IN_OFFSET, cx;
	volatile u64 *pt = table_at(slot_pa(k, 0)), *pd = table_at(pd_pa());
	volatile u64 *pdpt = table_at(pdpt_pa());
	volatile u8 *in = bytes_at(slot_pa(k, 2)), *out = bytes_at(slot_pa(k, 1));

	cur_slot = (int)k;
	cx = STRIO_LINE_LEN;
	__asm__ volatile("rep outsb" : "+S"(si), "+c"(cx) : "d"((u16)COM1) : "memory");
	if (si != w + STRIO_LINE_LEN || cx)
		slot_fail(k, "regs: rep outsb left RSI 0x%lx RCX %lu, want 0x%lx 0", si, cx,
			  w + STRIO_LINE_LEN);
	outb(UART_SCR, v);
	cx = IN_LEN;
	__asm__ volatile("rep insb" : "+D"(di), "+c"(cx) : "d"((u16)UART_SCR) : "memory");
	if (di != w + PAGE_SIZE + IN_OFFSET + IN_LEN || cx)
		slot_fail(k, "regs: rep insb left RDI 0x%lx RCX %lu, want 0x%lx 0", di, cx,
			  w + PAGE_SIZE + IN_OFFSET + IN_LEN);

	mig_xs_fill(expect_in, k, STRIO_SEED);
	memset(expect_in + IN_OFFSET, v, IN_LEN);
	for (unsigned i = 0; i < PAGE_SIZE; i++)
		if (in[i] != expect_in[i])
			slot_fail(k, "in offset %u: want 0x%02x got 0x%02x", i, expect_in[i], in[i]);
	out_line(k, line_buf);
	for (unsigned i = 0; i < STRIO_LINE_LEN; i++)
		if (out[i] != (u8)line_buf[i])
			slot_fail(k, "out offset %u: want 0x%02x got 0x%02x", i, (u8)line_buf[i],
				  out[i]);

	/* What the CPU's walk would have set: A on the path, D on the written leaf. */
	check_flag(k, "PML4[2]", pml4[STRIO_WINDOW >> 39], PTE_A, 0);
	check_flag(k, "PDPT[0]", pdpt[0], PTE_A, 0);
	check_flag(k, "PD[k]", pd[k], PTE_A, 0);
	check_flag(k, "out PTE", pt[0], PTE_A, PTE_D);
	check_flag(k, "in PTE", pt[1], PTE_A | PTE_D, 0);
	pd[k] &= ~PTE_A;
	pt[0] &= ~(PTE_A | PTE_D);
	pt[1] &= ~(PTE_A | PTE_D);
	__asm__ volatile("invlpg (%0)" : : "r"(w) : "memory");
	__asm__ volatile("invlpg (%0)" : : "r"(w + PAGE_SIZE) : "memory");
	cur_slot = -1;
	uses++;
	slots_ok++;
	uprintf("strio: slot %02u in ok\n", k);
}

int guest_main(u64 ram_size)
{
	u64 start = ALIGN_UP((u64)(uintptr_t)__image_end, PAGE_SIZE);
	u64 end = ALIGN_DOWN(ram_size, PAGE_SIZE);
	u64 passes = 0;

	mig_clock_init();
	idt_set_handler(14, on_pf);
	if (end < start + (AREA_PAGES + 1 + MIN_WORK_PAGES) * PAGE_SIZE)
		mig_fail("RAM size 0x%lx leaves too few pages above the image end 0x%lx", ram_size,
			 start);
	setup_slots(end);
	/* The version table takes the first working pages; 1024 entries a page. */
	u64 avail = (area - start) / PAGE_SIZE, table_pages = (avail + 1024) / 1025;
	npages = avail - table_pages;
	table = (u32 *)(uintptr_t)start;
	base = (u8 *)(uintptr_t)(start + table_pages * PAGE_SIZE);
	first_pn = (u64)(uintptr_t)base / PAGE_SIZE;
	uprintf("strio: guest: %lu pages from 0x%lx to 0x%lx, %u slots from 0x%lx to 0x%lx, "
		"windows at 0x%llx\n", npages, (u64)(uintptr_t)base, area, NSLOTS, area, end,
		STRIO_WINDOW);
	for (u64 i = 0; i < npages; i++) {
		mig_pat_write(base + i * PAGE_SIZE, first_pn + i, 1);
		table[i] = 1;
		if (i % 64 == 0)
			mig_clock_poll(false);
	}
	u64 last_slot = mig_clock_poll(true);
	for (;;) {
		work_pass();
		passes++;
		u64 now = mig_clock_poll(false);
		if (now - last_slot >= SLOT_NS) {
			use_slot((unsigned)(uses % NSLOTS));
			last_slot = now;
		}
		if (mig_progress_due())
			uprintf("strio: pass %lu slots %lu ok, %lu writes, time %lu ns\n", passes,
				slots_ok, writes, now);
	}
}
