/*
 * What lwIP asks of its platform (NO_SYS=1; declarations in
 * net/include/arch/cc.h and lwip_hooks.h): a millisecond clock, diagnostic
 * output, assertion failures, random numbers and TCP initial sequence
 * numbers. Random numbers come from RDRAND where the CPU has it (Bochs'
 * Skylake does, QEMU's default TCG CPU does not), otherwise from a
 * generator seeded and stirred with the TSC: good enough for DHCP
 * transaction ids and ephemeral ports, not for keys (TLS has its own
 * entropy source). Context: service loop (sys_now also at boot).
 */
#include <tern/arch.h>
#include <tern/log.h>
#include <tern/net.h>
#include <tern/panic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "lwip/arch.h"
#include "lwip/sys.h"
#include "lwip_hooks.h"

static u64 rand_state;
static u64 isn_key[2];

/* SplitMix64's finalizer: a bijective 64-bit mix. */
static u64 mix64(u64 z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The hardware DRBG where there is one; else a mixed cycle-counter sequence
 * (lwIP's ports and IDs need unpredictability, not key-grade entropy). */
static u64 random64(void)
{
	u64 v;
	if (arch_random(&v))
		return v;
	/* A Weyl sequence through the mixer, stirred with the cycle counter. */
	rand_state += 0x9e3779b97f4a7c15ULL ^ arch_cycles();
	return mix64(rand_state);
}

void net_port_init(void)
{
	rand_state = arch_cycles() ^ arch_time_ns() << 20;
	isn_key[0] = random64();
	isn_key[1] = random64();
}

unsigned int lwip_port_rand(void)
{
	return (unsigned int)random64();
}

u32_t sys_now(void)
{
	return (u32_t)(arch_time_ns() / 1000000); /* wraps after 49 days: lwIP copes */
}

/*
 * RFC 6528: ISN = M + F(local ip, local port, remote ip, remote port,
 * secret), M a 4 us clock. F here is two rounds of a keyed 64-bit mixer:
 * unpredictable to an off-path attacker who does not see our ISNs, which is
 * what the RFC asks; it is not a cryptographic PRF.
 */
u32_t net_tcp_isn(const ip_addr_t *local_ip, u16_t local_port,
		  const ip_addr_t *remote_ip, u16_t remote_port)
{
	u64 addrs = (u64)ip_2_ip4(local_ip)->addr << 32 | ip_2_ip4(remote_ip)->addr;
	u64 ports = (u64)local_port << 16 | remote_port;
	u64 h = mix64(mix64(addrs ^ isn_key[0]) ^ ports ^ isn_key[1]);
	return (u32_t)(arch_time_ns() / 4000) + (u32_t)h;
}

void lwip_port_diag(const char *fmt, ...)
{
	char buf[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	size_t n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	hv_log("lwip: %s\n", buf);
}

/*
 * lwIP asserts its own invariants (input from the network is checked with
 * LWIP_ERROR and dropped, not asserted): a failure means lwIP's state is
 * corrupt, and carrying on could corrupt Tern's. Panic, as for any broken
 * invariant of the hypervisor.
 */
void lwip_port_assert(const char *msg, const char *file, int line)
{
	hv_log("lwip: assertion failed: %s at %s:%d\n", msg, file, line);
	hv_panic("lwIP assertion failed");
}
