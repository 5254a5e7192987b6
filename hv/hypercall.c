/*
 * Hypercalls from guests (ABI in docs/guest-abi.md). Arguments come from the
 * guest and are checked like any outside input: a bad one returns an error
 * code to the guest, it never stops Tern.
 */
#include <tern/hypercall.h>
#include <tern/arch.h>
#include <tern/log.h>
#include <tern/migrate.h>
#include <tern/vm.h>

#define REPORT_MAX 200

static const char *const report_kind[] = { "PASS", "FAIL", "INFO" };
static bool test_calls;

void vm_allow_test_hypercalls(bool on)
{
	test_calls = on;
}

static s64 hc_report(struct vcpu *vcpu, u64 kind, u64 gpa)
{
	struct vm *vm = vcpu->vm;
	char text[REPORT_MAX + 1];
	if (kind > TERN_REPORT_INFO)
		return TERN_HC_EINVAL;
	u64 avail = gpa < vm->ram_size ? MIN(vm->ram_size - gpa, (u64)REPORT_MAX) : 0;
	if (!vm_fetch(vcpu, gpa, avail))
		return 0; /* the vCPU waits for the page; the call runs again */
	const char *src = vm_gpa_ptr(vm, gpa, avail);
	if (!src || !avail)
		return TERN_HC_EINVAL;
	u64 n = 0;
	for (; n < avail && src[n]; n++)
		text[n] = (src[n] >= 0x20 && src[n] < 0x7f) ? src[n] : '?';
	text[n] = '\0';
	vuart_flush(&vm->uart);
	hv_log("vm%d: report %s %s\n", vm->id, report_kind[kind], text);
	return 0;
}

static s64 hc_timer(struct vcpu *vcpu, u64 vector, u64 delay_ns)
{
	if (vector < 32 || vector > 255)
		return TERN_HC_EINVAL;
	if (!delay_ns) {
		vcpu->timer_deadline_ns = 0;
		return 0;
	}
	u64 now = vm_clock_ns(vcpu->vm, arch_time_ns());
	vcpu->timer_vector = (u8)vector;
	vcpu->timer_deadline_ns = delay_ns > ~0ULL - now ? ~0ULL : now + delay_ns;
	return 0;
}

s64 vm_hypercall(struct vcpu *vcpu, u64 nr, u64 a0, u64 a1, u64 a2)
{
	struct vm *vm = vcpu->vm;
	vm->stats.hypercalls++;
	switch (nr) {
	case TERN_HC_VERSION:
		return TERN_HC_ABI_VERSION;
	case TERN_HC_REPORT:
		return hc_report(vcpu, a0, a1);
	case TERN_HC_TIME_NS:
		return (s64)vm_clock_ns(vm, arch_time_ns());
	case TERN_HC_EXIT:
		vuart_flush(&vm->uart);
		vm->exit_code = (int)a0;
		vm->state = VM_SHUTDOWN;
		hv_log("vm%d: exited with code %d\n", vm->id, vm->exit_code);
		return 0;
	case TERN_HC_TIMER:
		return hc_timer(vcpu, a0, a1);
	case TERN_HC_DIRTY_START:
	case TERN_HC_DIRTY_LOG:
	case TERN_HC_DIRTY_HARVEST:
	case TERN_HC_DIRTY_STOP:
		/* A guest must never stop or drain the log a migration depends on. */
		if (!test_calls)
			return TERN_HC_ENOSYS;
		if (migrate_owns_dirty_log(vm))
			return TERN_HC_EBUSY;
		break;
	default:
		break;
	}
	switch (nr) {
	case TERN_HC_DIRTY_START:
		return dirty_hc_start(vm);
	case TERN_HC_DIRTY_LOG:
		return dirty_hc_log(vm, a0, a1);
	case TERN_HC_DIRTY_HARVEST:
		return dirty_hc_harvest(vm, a0);
	case TERN_HC_DIRTY_STOP:
		dirty_log_stop(vm);
		return 0;
	default:
		return TERN_HC_ENOSYS;
	}
}
