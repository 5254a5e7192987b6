/*
 * The service loop of the boot CPU: serve the console and the network
 * (net_poll: NIC, lwIP timers, queued frames), then give the vCPU a slice
 * (the VMX preemption timer brings it back), forever. Later the migration
 * engine is polled here too, or these move to their own core.
 */
#include <tern/arch.h>
#include <tern/console.h>
#include <tern/dirty.h>
#include <tern/hv.h>
#include <tern/log.h>
#include <tern/net.h>
#include <tern/netcon.h>
#include <tern/tls_stream.h>
#include <tern/vm.h>

#define SLICE_NS 2000000ULL /* 2 ms: the console answers within a slice */


void hv_run_loop(void)
{
	for (;;) {
		con_poll();
		net_poll();
		netcon_poll();
		tls_stream_poll();
		struct vm *vm = the_vm;
		if (vm)
			dirty_rate_poll(vm, arch_time_ns());
		if (!vm || vm->state != VM_RUNNING) {
			arch_cpu_relax();
			continue;
		}
		if (arch_vcpu_run(&vm->vcpu, SLICE_NS) == VCPU_IDLE)
			arch_cpu_relax();
	}
}
