/*
 * A tiny host unit-test framework. Each tests/unit/test_*.c is its own
 * program: it includes this header once, defines tests with TEST(name) and
 * gets main() from here. A failed CHECK ends the current test (longjmp) and
 * the others still run. Output: "PASS name" or "FAIL name: file:line: msg"
 * per test, then "N passed, N failed"; exit status 1 if any failed.
 * Optional arguments: run only the tests whose names contain one of them.
 */
#ifndef TERN_UNIT_H
#define TERN_UNIT_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
	struct unit_test *next;
};

static struct unit_test *unit_head;
static struct unit_test **unit_tail = &unit_head;
static const char *unit_current;
static jmp_buf unit_jmp;

#define TEST(name)                                                          \
	static void unit_fn_##name(void);                                   \
	static struct unit_test unit_rec_##name = { #name, unit_fn_##name, 0 }; \
	__attribute__((constructor)) static void unit_reg_##name(void)      \
	{                                                                   \
		*unit_tail = &unit_rec_##name;                              \
		unit_tail = &unit_rec_##name.next;                          \
	}                                                                   \
	static void unit_fn_##name(void)

__attribute__((noreturn, unused, format(printf, 3, 4)))
static void unit_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	printf("FAIL %s: %s:%d: ", unit_current, file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	longjmp(unit_jmp, 1);
}

#define CHECK(cond)                                                         \
	do {                                                                \
		if (!(cond))                                                \
			unit_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);  \
	} while (0)

#define CHECK_EQ(a, b)                                                      \
	do {                                                                \
		uint64_t unit_a_ = (uint64_t)(a), unit_b_ = (uint64_t)(b);  \
		if (unit_a_ != unit_b_)                                     \
			unit_fail(__FILE__, __LINE__,                       \
				  "CHECK_EQ(%s, %s): %" PRIu64 " (0x%" PRIx64 \
				  ") != %" PRIu64 " (0x%" PRIx64 ")",       \
				  #a, #b, unit_a_, unit_a_, unit_b_, unit_b_); \
	} while (0)

#define CHECK_STR_EQ(a, b)                                                  \
	do {                                                                \
		const char *unit_sa_ = (a), *unit_sb_ = (b);                \
		if (!unit_sa_ || !unit_sb_ || strcmp(unit_sa_, unit_sb_))   \
			unit_fail(__FILE__, __LINE__,                       \
				  "CHECK_STR_EQ(%s, %s): \"%s\" != \"%s\"", #a, #b, \
				  unit_sa_ ? unit_sa_ : "(null)",           \
				  unit_sb_ ? unit_sb_ : "(null)");          \
	} while (0)

static int unit_selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strstr(name, argv[i]))
			return 1;
	return 0;
}

/* setjmp lives here, apart from main's counters, so none can be clobbered. */
static int unit_run_one(struct unit_test *t)
{
	unit_current = t->name;
	if (setjmp(unit_jmp))
		return 0;
	t->fn();
	printf("PASS %s\n", t->name);
	return 1;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (struct unit_test *t = unit_head; t; t = t->next) {
		if (!unit_selected(t->name, argc, argv))
			continue;
		if (unit_run_one(t))
			passed++;
		else
			failed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#endif
