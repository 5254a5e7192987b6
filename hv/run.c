/*
 * The service loop of the boot CPU: serve the console and the network
 * (net_poll: NIC, lwIP timers, queued frames), then give the vCPU a slice
 * (the VMX preemption timer brings it back), forever. The migration engine
 * is polled here too; while auto-converge throttles the guest, the vCPU
 * sits out that share of the time (the loop keeps serving the rest).
 */
#include <tern/arch.h>
#include <tern/console.h>
#include <tern/dirty.h>
#include <tern/hv.h>
#include <tern/log.h>
#include <tern/migrate.h>
#include <tern/net.h>
#include <tern/netcon.h>
#include <tern/tls_stream.h>
#include <tern/vm.h>

#define SLICE_NS 2000000ULL /* 2 ms: the console answers within a slice */


/*
 * Throttling: after a slice that ran for d ns, the vCPU waits d * t / (100 - t)
 * ns, so it gets (100 - t)% of the time. Returns true while it must wait.
 * The wait is capped at what a full slice earns at 99% (about 0.2 s): a slice
 * that overran (one long instruction under an emulator) must not freeze the
 * guest for seconds (measured: 2 s gaps that the guest's clock check saw).
 */
#define THROTTLE_WAIT_MAX_NS (99 * SLICE_NS)
static u64 throttle_until;

static bool throttled(u64 now)
{
	return migrate_throttle() && now < throttle_until;
}

static void throttle_after(u64 ran_ns)
{
	u32 t = migrate_throttle();
	if (t)
		throttle_until = arch_time_ns() + MIN(ran_ns * t / (100 - t), THROTTLE_WAIT_MAX_NS);
}

void hv_run_loop(void)
{
	for (;;) {
		con_poll();
		net_poll();
		netcon_poll();
		tls_stream_poll();
		migrate_poll();
		struct vm *vm = the_vm;
		u64 now = arch_time_ns();
		if (vm)
			dirty_rate_poll(vm, now);
		if (!vm || vm->state != VM_RUNNING || throttled(now)) {
			arch_cpu_relax();
			continue;
		}
		enum vcpu_run_result r = arch_vcpu_run(&vm->vcpu, SLICE_NS);
		throttle_after(arch_time_ns() - now);
		if (r == VCPU_IDLE)
			arch_cpu_relax();
	}
}
