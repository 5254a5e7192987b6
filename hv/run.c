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
 * ns, so it gets (100 - t)% of the time. The wait is at most
 * THROTTLE_WAIT_MAX_NS: above the throttle where a full slice would earn a
 * longer one, the slices get shorter instead (0.5 ms at 99%), so the guest
 * sees the same share as many short gaps rather than a few long ones (its
 * timer runs late by at most that much, and a slice that overran, one long
 * instruction under an emulator, cannot freeze it for seconds: measured 2 s
 * gaps before the cap).
 */
#define THROTTLE_WAIT_MAX_NS 50000000ULL /* 50 ms */
static u64 throttle_until;
static u64 guest_ns;

u64 hv_guest_ns(void)
{
	return guest_ns;
}

static bool throttled(u64 now)
{
	return migrate_throttle() && now < throttle_until;
}

static u64 slice_ns(void)
{
	u32 t = migrate_throttle();
	return t ? MIN(SLICE_NS, THROTTLE_WAIT_MAX_NS * (100 - t) / t) : SLICE_NS;
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
		/* A vCPU waiting for a page (post-copy) sits out until the engine,
		 * polled above, has brought it in. */
		if (!vm || vm->state != VM_RUNNING || throttled(now) || vcpu_blocked(&vm->vcpu)) {
			arch_cpu_relax();
			continue;
		}
		enum vcpu_run_result r = arch_vcpu_run(&vm->vcpu, slice_ns());
		u64 ran = arch_time_ns() - now;
		guest_ns += ran;
		throttle_after(ran);
		/* The guest's own reset (ACPI reset register); during post-copy it
		 * waits for the last page, or one arriving later would overwrite
		 * the reloaded image. */
		if (vm->reset_requested && !vm->absent.map)
			vm_reset(vm);
		if (r == VCPU_IDLE)
			arch_cpu_relax();
	}
}
