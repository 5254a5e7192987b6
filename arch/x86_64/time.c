/*
 * The monotonic clock: the TSC, calibrated once against PIT channel 2
 * (present on every PC and emulator, and it follows Bochs' instruction clock
 * like the TSC does). ns = ticks * mult >> 32, no division on the hot path.
 * Assumes an invariant TSC, as on every VMX-capable server of the last decade.
 */
#include <tern/arch.h>
#include <tern/log.h>
#include "cpu.h"
#include "time.h"

#define PIT_HZ 1193182ULL
#define CAL_MS 20ULL

static u64 tsc_hz, tsc_at_boot, ns_mult;

static u64 calibrate_tsc(void)
{
	u64 count = PIT_HZ * CAL_MS / 1000;
	u8 port61 = inb(0x61);
	outb(0x61, (port61 & ~0x02) | 0x01); /* gate on, speaker off */
	outb(0x43, 0xb0);                    /* channel 2, lo/hi byte, mode 0 */
	outb(0x42, count & 0xff);
	outb(0x42, count >> 8);
	u64 t0 = rdtsc();
	u64 spins = 0;
	while (!(inb(0x61) & 0x20) && ++spins < 100000000)
		;
	u64 t1 = rdtsc();
	outb(0x61, port61);
	return (t1 - t0) * 1000 / CAL_MS;
}

void arch_time_init(void)
{
	tsc_hz = calibrate_tsc();
	if (tsc_hz < 1000000) {
		hv_printf("tern: TSC calibration failed (%lu Hz), assuming 1 GHz\n", tsc_hz);
		tsc_hz = 1000000000ULL;
	}
	ns_mult = (u64)(((unsigned __int128)1000000000ULL << 32) / tsc_hz);
	tsc_at_boot = rdtsc();
	hv_printf("tern: TSC %lu.%03lu MHz\n", tsc_hz / 1000000, tsc_hz / 1000 % 1000);
}

u64 arch_time_ns(void)
{
	return (u64)(((unsigned __int128)(rdtsc() - tsc_at_boot) * ns_mult) >> 32);
}

u64 arch_tsc_hz(void)
{
	return tsc_hz;
}

u64 time_ns_to_tsc(u64 ns)
{
	return (u64)(((unsigned __int128)ns * tsc_hz) / 1000000000ULL);
}
