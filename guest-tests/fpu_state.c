/*
 * fpu_state: the guest's SSE registers (and x87 control word, MXCSR) must
 * survive VM exits, including exits during which Tern formats text with
 * newlib (which may use SSE itself). Loads all 16 XMM registers with
 * patterns, takes many exits of several kinds, and compares.
 * With XSAVE it also enables AVX through XSETBV and checks the ymm upper
 * halves the same way. Whether the AVX half ran is in the PASS line
 * ("ymm0-15"): the harness requires it on CPU models that have AVX, so a
 * Tern that hides AVX cannot pass by having this half skipped.
 */
#include "guest.h"

#define EXITS 200

static u8 want[16][32] __attribute__((aligned(32)));
static u8 got[16][32] __attribute__((aligned(32)));

#define FOR_XMM(op) op(0) op(1) op(2) op(3) op(4) op(5) op(6) op(7) \
	op(8) op(9) op(10) op(11) op(12) op(13) op(14) op(15)
#define LOAD_XMM(n) __asm__ volatile("movdqu %0, %%xmm" #n : : "m"(want[n][0]));
#define SAVE_XMM(n) __asm__ volatile("movdqu %%xmm" #n ", %0" : "=m"(got[n][0]));
#define LOAD_YMM(n) __asm__ volatile("vmovdqu %0, %%ymm" #n : : "m"(want[n][0]));
#define SAVE_YMM(n) __asm__ volatile("vmovdqu %%ymm" #n ", %0" : "=m"(got[n][0]));

static void take_exits(u64 round)
{
	u32 a, b, c, d;
	cpuid(0, 0, &a, &b, &c, &d);                      /* CPUID exit */
	(void)tern_time_ns();                             /* VMCALL */
	(void)inb(0x80);                                  /* I/O exit */
	if (round % 50 == 0)
		report_info("fpu_state: round %lu", round); /* Tern runs vsnprintf */
}

static int check(const char *what, unsigned bytes)
{
	for (int r = 0; r < 16; r++)
		if (memcmp(want[r], got[r], bytes)) {
			report_fail("fpu_state: %s%d changed across VM exits", what, r);
			return -1;
		}
	return 0;
}

static void fill(u64 seed)
{
	for (int r = 0; r < 16; r++)
		for (int i = 0; i < 32; i++)
			want[r][i] = (u8)(seed * 31 + (u64)r * 17 + (u64)i * 7 + 1);
}

int guest_main(u64 ram_size)
{
	u16 fcw_want = 0x027f, fcw_got;
	u32 mxcsr_want = 0x1f80 | (3u << 13), mxcsr_got; /* round toward zero */
	__asm__ volatile("fldcw %0" : : "m"(fcw_want));
	__asm__ volatile("ldmxcsr %0" : : "m"(mxcsr_want));

	fill(1);
	FOR_XMM(LOAD_XMM)
	for (u64 i = 0; i < EXITS; i++)
		take_exits(i);
	FOR_XMM(SAVE_XMM)
	if (check("xmm", 16))
		return 1;
	__asm__ volatile("fnstcw %0" : "=m"(fcw_got));
	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr_got));
	if (fcw_got != fcw_want || mxcsr_got != mxcsr_want) {
		report_fail("fpu_state: FCW %#x MXCSR %#x, want %#x %#x", fcw_got, mxcsr_got, fcw_want,
			    mxcsr_want);
		return 1;
	}

	u32 a, b, c, d;
	cpuid(1, 0, &a, &b, &c, &d);
	bool avx = (c & (1u << 26)) && (c & (1u << 28)); /* XSAVE and AVX */
	if (!avx)
		report_info("fpu_state: CPUID.1:ECX=0x%x lacks XSAVE or AVX: AVX half skipped", c);
	if (avx) {
		cpuid(0xd, 0, &a, &b, &c, &d);
		if (!(a & 4)) { /* AVX advertised, its state component not */
			report_fail("fpu_state: CPUID.1 has AVX but CPUID.0xD:EAX=0x%x lacks the AVX state", a);
			return 1;
		}
	}
	if (avx) {
		u64 cr4;
		__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
		__asm__ volatile("mov %0, %%cr4" : : "r"(cr4 | (1ul << 18))); /* OSXSAVE */
		__asm__ volatile("xsetbv" : : "c"(0), "a"(7), "d"(0));      /* x87|SSE|AVX */
		fill(2);
		FOR_XMM(LOAD_YMM)
		for (u64 i = 0; i < EXITS; i++)
			take_exits(i);
		FOR_XMM(SAVE_YMM)
		if (check("ymm", 32))
			return 1;
	}
	report_pass("fpu_state: xmm0-15%s, FCW and MXCSR survived %d rounds of exits",
		    avx ? ", ymm0-15" : "", EXITS * (avx ? 2 : 1));
	return 0;
}
