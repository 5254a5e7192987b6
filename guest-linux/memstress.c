/*
 * memstress: a memory stress program for the Linux guest's tests (it runs
 * inside the guest, from the initramfs; it also runs on any Linux host).
 *
 *   memstress [--inject-fault] MIB [SECONDS]
 *
 * Allocates MIB MiB and sweeps it in passes. Pass 0 fills every 8-byte word
 * with memstress_word(index, 0); pass N (N >= 1) checks that each word still
 * holds memstress_word(index, N - 1) and then overwrites it with
 * memstress_word(index, N). So every pass verifies the whole buffer as the
 * previous pass left it: a page lost, stale or corrupted (by a migration
 * that missed a dirty page, say) is caught on the next pass.
 *
 * Output: a line for pass 1 and then for the first pass to end at least a
 * second after the previous line (so a fast host, or a guest whose serial
 * port costs a VM exit per byte, is not flooded), each with CLOCK_MONOTONIC
 * so a test can see that the guest's clock ran on without a jump:
 *   memstress: fill ok (M MiB) mono=S.NNNNNN
 *   memstress: pass N ok (M MiB verified) mono=S.NNNNNN maxgap=G.GGGGGG
 * (maxgap: the largest step of the clock between two of its readings, every
 * 32 KiB, since the previous line)
 *   memstress: FAIL at offset X: read 0x..., want 0x... (pass N)   exit 1
 * With SECONDS it stops at the first pass boundary after that many seconds,
 * verifies the last pass's values once more and prints
 *   memstress: done, N passes ok
 * (N counts the verifying passes, the final check included), exit 0.
 * Without SECONDS it runs until killed. Bad arguments: usage, exit 2;
 * allocation failure: exit 3.
 *
 * --inject-fault flips one bit (0x40 in byte 3 of the word at offset
 * MIB*512 KiB, the buffer's middle) after the fill, so that pass 1 must
 * report FAIL there: the way to see that the checker can fail.
 *
 * Plain C99 + POSIX clock_gettime, no threads; built static for the
 * initramfs (gcc -static).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIB_BYTES (1024u * 1024u)
#define INJECT_BIT (UINT64_C(0x40) << 24)

/* The value word `index` holds after pass `pass`: splitmix64's finalizer
 * over index and pass, so neighbouring words, pages and passes all differ
 * and a word copied from elsewhere or left from an older pass shows. */
static uint64_t memstress_word(uint64_t index, uint64_t pass)
{
	uint64_t z = index * UINT64_C(0x9e3779b97f4a7c15) + (pass + 1) * UINT64_C(0xd1b54a32d192ed03);

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static double memstress_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0.0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parses a decimal in [min, max]; returns 0 on success, -1 otherwise. */
static int memstress_parse(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* The largest step of CLOCK_MONOTONIC between two readings since the last
 * report: the clock is read every CLOCK_EVERY words of a sweep, so a pause of
 * the whole machine (a migration's downtime, a hypervisor's throttle) shows
 * as one large step. */
#define CLOCK_EVERY 4096
static double clock_last, clock_maxgap;

static void memstress_clock(void)
{
	double now = memstress_now();
	if (clock_last > 0.0 && now - clock_last > clock_maxgap)
		clock_maxgap = now - clock_last;
	clock_last = now;
}

/* Checks pass - 1's values (unless pass is 0) and writes pass's values
 * (unless write is 0). Returns 0, or prints the FAIL line and returns -1. */
static int memstress_sweep(volatile uint64_t *buf, size_t words, uint64_t pass, int write)
{
	for (size_t i = 0; i < words; i++) {
		if (i % CLOCK_EVERY == 0)
			memstress_clock();
		if (pass > 0) {
			uint64_t want = memstress_word(i, pass - 1);
			uint64_t got = buf[i];

			if (got != want) {
				printf("memstress: FAIL at offset 0x%zx: read 0x%016" PRIx64
				       ", want 0x%016" PRIx64 " (pass %" PRIu64 ")\n",
				       i * sizeof(uint64_t), got, want, pass);
				fflush(stdout);
				return -1;
			}
		}
		if (write)
			buf[i] = memstress_word(i, pass);
	}
	return 0;
}

static int memstress_usage(void)
{
	fprintf(stderr, "usage: memstress [--inject-fault] MIB [SECONDS]\n");
	return 2;
}

int main(int argc, char **argv)
{
	int inject = 0, argi = 1;
	unsigned long mib, seconds = 0;
	int timed;

	if (argi < argc && strcmp(argv[argi], "--inject-fault") == 0) {
		inject = 1;
		argi++;
	}
	if (argc - argi < 1 || argc - argi > 2)
		return memstress_usage();
	/* The byte count must fit in size_t; 1 TiB is far beyond any guest. */
	if (memstress_parse(argv[argi], 1, 1024ul * 1024ul, &mib) != 0 ||
	    (size_t)mib > SIZE_MAX / MIB_BYTES)
		return memstress_usage();
	timed = argc - argi == 2;
	if (timed && memstress_parse(argv[argi + 1], 0, 365ul * 24 * 3600, &seconds) != 0)
		return memstress_usage();

	size_t bytes = (size_t)mib * MIB_BYTES;
	size_t words = bytes / sizeof(uint64_t);
	volatile uint64_t *buf = malloc(bytes);
	if (!buf) {
		printf("memstress: cannot allocate %lu MiB\n", mib);
		return 3;
	}

	setvbuf(stdout, NULL, _IOLBF, 0);
	double start = memstress_now();
	memstress_sweep(buf, words, 0, 1);
	printf("memstress: fill ok (%lu MiB) mono=%.6f\n", mib, memstress_now());
	if (inject)
		buf[words / 2] ^= INJECT_BIT;

	uint64_t pass = 1;
	double last_line = 0.0;
	for (;;) {
		if (memstress_sweep(buf, words, pass, 1) != 0)
			return 1;
		double now = memstress_now();
		if (pass == 1 || now - last_line >= 1.0) {
			printf("memstress: pass %" PRIu64 " ok (%lu MiB verified) mono=%.6f maxgap=%.6f\n",
			       pass, mib, now, clock_maxgap);
			clock_maxgap = 0.0;
			last_line = now;
		}
		if (timed && now - start >= (double)seconds)
			break;
		pass++;
	}
	/* The last pass's values, checked once more without rewriting them. */
	if (memstress_sweep(buf, words, pass + 1, 0) != 0)
		return 1;
	printf("memstress: done, %" PRIu64 " passes ok\n", pass + 1);
	return 0;
}
