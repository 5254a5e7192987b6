/*
 * hv/dirty.c, the dirty log's bookkeeping, against a recording fake of the
 * CPU layer's arch_dirty_* contract (tern/arch.h). Checks the ordering that
 * makes the log lossless (tern/dirty.h): hardware logs are collected before
 * the bitmap is read, exactly the harvested pages are re-armed, and the
 * re-arming is flushed once per harvest.
 */
#include "unit.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../hv/dirty.c"
#include "../../hv/dirty_check.c"

/* ---- the fake CPU layer ---- */
static bool fake_pml = true;
static int started_mode = -1, stops, flushes, collects;
static u64 rearmed[64], nrearmed;
static u64 pending_hw[8], npending_hw; /* what the "PML buffer" holds */
static u64 now_ns;
static struct vm *fake_vm;
static bool flushed_after_rearm;

bool arch_dirty_pml_available(void) { return fake_pml; }
int arch_dirty_start(struct vm *vm, int mode) { started_mode = mode; return 0; }
void arch_dirty_stop(struct vm *vm) { stops++; }
u64 arch_cycles(void) { return 0; }
u64 arch_time_ns(void) { return now_ns; }
void arch_dirty_collect(struct vm *vm)
{
	collects++;
	for (u64 i = 0; i < npending_hw; i++)
		dirty_log_mark_gfn(vm, pending_hw[i]);
	npending_hw = 0;
}
void arch_dirty_rearm(struct vm *vm, u64 first_gfn, u64 bits)
{
	CHECK_EQ(first_gfn % 64, 0);
	CHECK(bits != 0);
	flushed_after_rearm = false;
	for (unsigned b = 0; b < 64; b++)
		if ((bits >> b & 1) && nrearmed < ARRAY_SIZE(rearmed))
			rearmed[nrearmed++] = first_gfn + b;
}
void arch_dirty_flush(struct vm *vm) { flushes++; flushed_after_rearm = true; }
void hv_log(const char *fmt, ...) { (void)fmt; }
/* Guest RAM for the hypercalls: the same contract as hv/vm.c's. */
void *vm_gpa_ptr(struct vm *vm, u64 gpa, u64 len)
{
	if (gpa > vm->ram_size || len > vm->ram_size - gpa)
		return NULL;
	return vm->ram + gpa;
}

static struct vm vm;

static void setup(u64 ram_pages, enum dirty_mode preferred)
{
	free(vm.dirty.bitmap);
	free(vm.ram);
	memset(&vm, 0, sizeof(vm));
	vm.ram_size = ram_pages * PAGE_SIZE;
	vm.ram = calloc(ram_pages, PAGE_SIZE);
	vm.dirty.preferred = preferred;
	fake_vm = &vm;
	started_mode = -1;
	stops = flushes = collects = 0;
	nrearmed = npending_hw = 0;
	now_ns = 0;
}

static u64 bm[BITMAP_WORDS(1000)];

TEST(auto_prefers_pml_and_falls_back_to_wp)
{
	setup(100, DIRTY_AUTO);
	fake_pml = true;
	CHECK_EQ(dirty_log_start(&vm), 0);
	CHECK_EQ(started_mode, DIRTY_PML);
	CHECK_EQ(vm.dirty.mode, DIRTY_PML);
	setup(100, DIRTY_AUTO);
	fake_pml = false;
	CHECK_EQ(dirty_log_start(&vm), 0);
	CHECK_EQ(started_mode, DIRTY_WP);
	fake_pml = true;
}

TEST(forced_pml_without_pml_is_refused)
{
	setup(100, DIRTY_PML);
	fake_pml = false;
	CHECK_EQ(dirty_log_start(&vm), -1);
	CHECK(!vm.dirty.active);
	CHECK_EQ(started_mode, -1);
	fake_pml = true;
}

TEST(forced_wp_on_a_pml_cpu)
{
	setup(100, DIRTY_WP);
	CHECK_EQ(dirty_log_start(&vm), 0);
	CHECK_EQ(started_mode, DIRTY_WP);
}

TEST(harvest_returns_marked_pages_once_and_rearms_exactly_them)
{
	setup(1000, DIRTY_AUTO);
	CHECK_EQ(dirty_log_start(&vm), 0);
	dirty_log_mark_gfn(&vm, 0);
	dirty_log_mark_gfn(&vm, 63);
	dirty_log_mark_gfn(&vm, 64);
	dirty_log_mark_gfn(&vm, 999);
	dirty_log_mark_gfn(&vm, 64);   /* twice: one page */
	dirty_log_mark_gfn(&vm, 1000); /* outside RAM: ignored */
	CHECK_EQ(vm.dirty.pages_logged, 4);
	CHECK_EQ(dirty_log_harvest(&vm, bm), 4);
	CHECK(bitmap_test(bm, 0) && bitmap_test(bm, 63) && bitmap_test(bm, 64) && bitmap_test(bm, 999));
	CHECK_EQ(bitmap_weight(bm, 1000), 4);
	CHECK_EQ(nrearmed, 4);
	CHECK_EQ(rearmed[0], 0);
	CHECK_EQ(rearmed[1], 63);
	CHECK_EQ(rearmed[2], 64);
	CHECK_EQ(rearmed[3], 999);
	CHECK_EQ(flushes, 1);
	CHECK(flushed_after_rearm);
	/* Nothing new: the next harvest is empty but still flushes. */
	nrearmed = 0;
	CHECK_EQ(dirty_log_harvest(&vm, bm), 0);
	CHECK_EQ(bitmap_weight(bm, 1000), 0);
	CHECK_EQ(nrearmed, 0);
}

TEST(hardware_log_is_collected_before_the_bitmap_is_read)
{
	setup(1000, DIRTY_AUTO);
	CHECK_EQ(dirty_log_start(&vm), 0);
	pending_hw[npending_hw++] = 500; /* in the PML buffer, not yet in the bitmap */
	CHECK_EQ(dirty_log_harvest(&vm, bm), 1);
	CHECK(bitmap_test(bm, 500));
	CHECK_EQ(collects, 1);
}

TEST(a_write_after_harvest_shows_up_next_time)
{
	setup(1000, DIRTY_AUTO);
	CHECK_EQ(dirty_log_start(&vm), 0);
	dirty_log_mark_gfn(&vm, 7);
	CHECK_EQ(dirty_log_harvest(&vm, bm), 1);
	dirty_log_mark_gfn(&vm, 7);
	CHECK_EQ(dirty_log_harvest(&vm, bm), 1);
	CHECK(bitmap_test(bm, 7));
}

TEST(harvest_without_output_buffer_still_clears)
{
	setup(1000, DIRTY_AUTO);
	CHECK_EQ(dirty_log_start(&vm), 0);
	dirty_log_mark_gfn(&vm, 3);
	CHECK_EQ(dirty_log_harvest(&vm, NULL), 1);
	CHECK_EQ(dirty_log_harvest(&vm, bm), 0);
}

TEST(tern_writes_mark_every_page_they_touch)
{
	setup(1000, DIRTY_AUTO);
	CHECK_EQ(dirty_log_start(&vm), 0);
	vm_mark_dirty(&vm, 4095, 2);               /* straddles pages 0 and 1 */
	vm_mark_dirty(&vm, 10 * PAGE_SIZE, 0);     /* empty: nothing */
	vm_mark_dirty(&vm, 20 * PAGE_SIZE, PAGE_SIZE); /* exactly page 20 */
	CHECK_EQ(dirty_log_harvest(&vm, bm), 3);
	CHECK(bitmap_test(bm, 0) && bitmap_test(bm, 1) && bitmap_test(bm, 20));
	CHECK(!bitmap_test(bm, 21) && !bitmap_test(bm, 10));
}

TEST(nothing_is_logged_while_inactive)
{
	setup(1000, DIRTY_AUTO);
	dirty_log_mark_gfn(&vm, 5);
	vm_mark_dirty(&vm, 0, PAGE_SIZE);
	CHECK_EQ(dirty_log_harvest(&vm, bm), 0);
	CHECK_EQ(dirty_log_start(&vm), 0);
	CHECK_EQ(dirty_log_harvest(&vm, bm), 0); /* starts clean */
	dirty_log_stop(&vm);
	CHECK_EQ(stops, 1);
	dirty_log_mark_gfn(&vm, 5);
	CHECK_EQ(dirty_log_harvest(&vm, bm), 0);
	dirty_log_stop(&vm); /* twice: no second arch stop */
	CHECK_EQ(stops, 1);
}

TEST(restart_begins_with_a_clean_bitmap)
{
	setup(1000, DIRTY_AUTO);
	CHECK_EQ(dirty_log_start(&vm), 0);
	dirty_log_mark_gfn(&vm, 9);
	dirty_log_stop(&vm);
	CHECK_EQ(dirty_log_start(&vm), 0);
	CHECK_EQ(dirty_log_harvest(&vm, bm), 0);
}

TEST(dirty_rate_measures_distinct_pages_over_the_period)
{
	setup(1000, DIRTY_AUTO);
	now_ns = 1000;
	CHECK_EQ(dirty_rate_start(&vm, 2), 0);
	CHECK(vm.dirty.active);
	CHECK_EQ(dirty_rate_start(&vm, 2), -1); /* the log is in use */
	for (u64 g = 0; g < 50; g++)
		dirty_log_mark_gfn(&vm, g % 25);
	now_ns = 1000 + 1999999999ULL;
	dirty_rate_poll(&vm, now_ns);          /* not yet */
	CHECK(vm.dirty.active);
	now_ns = 1000 + 2000000000ULL;
	dirty_rate_poll(&vm, now_ns);
	CHECK(!vm.dirty.active);
	CHECK_EQ(vm.dirty.rate_pages, 25);
	CHECK_EQ(vm.dirty.rate_ns, 2000000000ULL);
	CHECK_EQ(stops, 1);
}

TEST(dirty_mode_names_parse_back)
{
	CHECK_EQ(dirty_mode_parse("auto"), DIRTY_AUTO);
	CHECK_EQ(dirty_mode_parse("pml"), DIRTY_PML);
	CHECK_EQ(dirty_mode_parse("wp"), DIRTY_WP);
	CHECK_EQ(dirty_mode_parse("PML"), -1);
	CHECK_EQ(dirty_mode_parse(""), -1);
}

/* TERN_HC_DIRTY_LOG: the guest gets exactly the harvested bitmap. */
TEST(dirty_log_hypercall_hands_the_bitmap_to_the_guest)
{
	setup(1000, DIRTY_AUTO);
	CHECK_EQ(dirty_log_start(&vm), 0);
	u64 len = TERN_DIRTY_LOG_BYTES(vm.ram_size), gpa = 8 * PAGE_SIZE;
	CHECK_EQ(len, BITMAP_WORDS(1000) * 8);
	memset(vm.ram + gpa, 0xa5, 2 * len); /* what lies past len must stay */
	dirty_log_mark_gfn(&vm, 5);
	dirty_log_mark_gfn(&vm, 999);
	CHECK_EQ(dirty_hc_log(&vm, gpa, len), 2);
	const u64 *out = (const u64 *)(vm.ram + gpa);
	CHECK_EQ(bitmap_weight(out, 1000), 2);
	CHECK(bitmap_test(out, 5) && bitmap_test(out, 999));
	CHECK_EQ(out[BITMAP_WORDS(1000) - 1] >> (1000 % 64), 0); /* no pages past RAM */
	CHECK_EQ(vm.ram[gpa + len], 0xa5);
	/* Tern wrote the buffer's page: the next log has it, and only it. */
	CHECK_EQ(dirty_hc_log(&vm, gpa, ~0ULL), 1);
	CHECK(bitmap_test(out, 8));
}

TEST(dirty_log_hypercall_refuses_hostile_arguments_and_keeps_the_log)
{
	setup(1000, DIRTY_AUTO);
	u64 len = TERN_DIRTY_LOG_BYTES(vm.ram_size);
	CHECK_EQ(dirty_hc_log(&vm, 0, len), TERN_HC_EINVAL); /* not logging */
	CHECK_EQ(dirty_log_start(&vm), 0);
	dirty_log_mark_gfn(&vm, 77);
	const u64 bad_gpa[] = { 4, 1000 * PAGE_SIZE, 1000 * PAGE_SIZE - 8,
				       ~0ULL & ~7ULL, (1ULL << 63), 1000 * PAGE_SIZE - len + 8 };
	for (unsigned i = 0; i < ARRAY_SIZE(bad_gpa); i++)
		CHECK_EQ(dirty_hc_log(&vm, bad_gpa[i], len), TERN_HC_EINVAL);
	CHECK_EQ(dirty_hc_log(&vm, 0, len - 1), TERN_HC_EINVAL); /* too small */
	CHECK_EQ(dirty_hc_log(&vm, 0, 0), TERN_HC_EINVAL);
	for (u64 i = 0; i < vm.ram_size; i++)
		CHECK_EQ(vm.ram[i], 0);
	CHECK_EQ(dirty_hc_log(&vm, 1000 * PAGE_SIZE - len, len), 1); /* the very end fits */
	CHECK(bitmap_test((u64 *)(vm.ram + 1000 * PAGE_SIZE - len), 77));
}
