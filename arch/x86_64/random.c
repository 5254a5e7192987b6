/*
 * Hardware randomness (contract in tern/arch.h): RDSEED, the entropy source,
 * for key material; RDRAND, the DRBG behind it, for everything else. Both
 * may fail transiently (CF=0), so each call retries a bounded number of times.
 */
#include <tern/arch.h>
#include "cpu.h"

#define RDSEED_TRIES 128 /* RDSEED may underflow briefly under load (SDM Vol. 1 7.3.17.2) */
#define RDRAND_TRIES 10  /* Intel's DRNG guide: 10 failures in a row mean a broken unit */

static bool probed;
static unsigned sources;

unsigned arch_rng_sources(void)
{
	u32 a, b, c, d;
	if (probed)
		return sources;
	cpuid(0, 0, &a, &b, &c, &d);
	u32 max_leaf = a;
	cpuid(1, 0, &a, &b, &c, &d);
	if (c & (1u << 30)) /* CPUID.01H:ECX.RDRAND[30] */
		sources |= ARCH_RNG_DRBG;
	if (max_leaf >= 7) {
		cpuid(7, 0, &a, &b, &c, &d);
		if (b & (1u << 18)) /* CPUID.(EAX=07H,ECX=0):EBX.RDSEED[18] */
			sources |= ARCH_RNG_SEED;
	}
	probed = true;
	return sources;
}

bool arch_random_seed(u64 *v)
{
	if (!(arch_rng_sources() & ARCH_RNG_SEED))
		return false;
	for (int i = 0; i < RDSEED_TRIES; i++) {
		bool ok;
		asm volatile("rdseed %0" : "=r"(*v), "=@ccc"(ok));
		if (ok)
			return true;
		cpu_relax();
	}
	return false;
}

bool arch_random(u64 *v)
{
	if (!(arch_rng_sources() & ARCH_RNG_DRBG))
		return false;
	for (int i = 0; i < RDRAND_TRIES; i++) {
		bool ok;
		asm volatile("rdrand %0" : "=r"(*v), "=@ccc"(ok));
		if (ok)
			return true;
	}
	return false;
}
