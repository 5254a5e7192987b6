/*
 * The VM and vCPU objects of the core, and the core services the CPU layer
 * calls while it handles exits (port I/O semantics, hypercalls, stopping a
 * VM). One VM with one vCPU for now; the objects are shaped for more.
 */
#ifndef TERN_VM_H
#define TERN_VM_H

#include <tern/types.h>
#include <tern/arch.h>
#include <tern/vuart.h>
#include <tern/vacpi.h>
#include <tern/vlapic.h>
#include <tern/dirty.h>

struct boot_module;
struct pmm;

enum vm_state {
	VM_NONE,     /* no VM (virtualization unavailable or no guest) */
	VM_RUNNING,
	VM_PAUSED,   /* console `stop` */
	VM_SHUTDOWN, /* the guest exited (TERN_HC_EXIT) */
	VM_ERROR,    /* Tern stopped it: triple fault, bad access, unhandled exit */
	/* QEMU's migration run states (docs/migration.md) */
	VM_INMIGRATE,      /* destination: memory and state arriving, not runnable */
	VM_FINISH_MIGRATE, /* source: paused for the final copy */
	VM_POSTMIGRATE,    /* source: handed over; never runs here again */
};

struct vm_stats {
	u64 exits[ARCH_NR_EXIT_REASONS];
	u64 entries;
	u64 pio_unhandled_reads;
	u64 pio_unhandled_writes;
	u64 hypercalls;
	u64 timer_injections;
	/* post-copy (hv/vm_absent.c): waits for pages that had not arrived */
	u64 absent_faults;     /* by the guest's own accesses (EPT violations) */
	u64 absent_fetches;    /* by Tern's accesses for the guest (string I/O, walks, hypercalls) */
	u64 blocked_ns;        /* time the vCPU spent waiting for them */
};

struct arch_vcpu;
struct arch_vm;

/*
 * What the guest's machine looks like. TERN: Tern's own test guests
 * (docs/guest-abi.md: hypercalls, the TIME_NS timer, COM1). PC: the smallest
 * PC a stock OS boots on (docs/linux-guest.md): ACPI tables (hardware
 * reduced), one x2APIC with its timers, COM1, the ACPI sleep and reset
 * ports; entered through the Linux 64-bit boot protocol.
 */
enum vm_platform { VM_PLATFORM_TERN, VM_PLATFORM_PC };

/* A Linux guest's boot files, kept for system_reset (GRUB modules). */
struct vm_linux_boot {
	const u8 *kernel;
	u64 kernel_len;
	const char *cmdline;
	const u8 *initrd; /* NULL: none */
	u64 initrd_len;
};

struct vcpu {
	struct vm *vm;
	int id;
	bool halted;           /* executed HLT, waits for the timer */
	u64 timer_deadline_ns; /* 0 = disarmed */
	u8 timer_vector;
	u64 boot_rsi;          /* RSI at reset (PC platform: the Linux zero page) */
	struct vlapic lapic;   /* PC platform only */
	bool waiting;          /* for the absent page wait_gfn (post-copy) */
	u64 wait_gfn;
	u64 wait_since_ns;
	struct arch_vcpu *arch;
};

/*
 * Post-copy on the destination: the pages of guest RAM that have not
 * arrived yet. They are absent from EPT, so the guest's first touch of one
 * exits; Tern's own accesses for the guest ask vm_fetch first. Either way
 * the vCPU waits (its instruction not retired) while the migration engine
 * fetches the page, and runs on once vm_page_arrived made it present.
 */
struct vm_absent {
	u64 *map;   /* bit set: not arrived; NULL: all of RAM is here */
	u64 count;  /* bits set in map */
	bool flush; /* EPT entries changed since the last vm_absent_flush */
};

struct vm {
	int id;
	enum vm_platform platform;
	enum vm_state state;
	char stop_reason[160];
	int exit_code;
	bool reset_requested; /* the guest asked for a reset: the service loop does it */
	u64 ram_size;
	u64 ram_hpa;     /* host-physical base of the contiguous guest RAM */
	u8 *ram;         /* the same, as a host pointer */
	const u8 *image; /* guest image as loaded by the firmware */
	u64 image_len;
	u64 entry;       /* guest entry point from the image */
	struct vcpu vcpu;
	struct vuart uart;
	struct vm_linux_boot linux_boot; /* PC platform */
	struct vacpi_config acpi;        /* PC platform: the ports its tables name */
	struct vm_stats stats;
	u64 started_ns;
	/* The VM's clock: guest time = host time + clock_offset (mod 2^64), so
	 * that after a migration it continues from its value at the stop. */
	u64 clock_offset;
	struct pmm *pmm;      /* where RAM came from (vm_destroy gives it back) */
	struct arch_vm *arch; /* second-level translation (EPT) */
	struct dirty_log dirty;
	struct vm_absent absent;
};

extern struct vm *the_vm; /* NULL while there is none */

/* Create the VM from the image, RAM from pmm; 0 or -1 with a message printed. */
int vm_create(struct vm *vm, const u8 *image, u64 image_len, u64 ram_size, struct pmm *pmm);
/* Create a PC-platform VM booting a bzImage (hv/vm_pc.c); likewise. */
int vm_create_linux(struct vm *vm, const struct vm_linux_boot *lb, u64 ram_size, struct pmm *pmm);
/* An incoming VM turns out to be a PC one (its LAPIC state arrived): its
 * ports as the tables in its RAM name them, and this host's own boot files
 * for a later reset (set_pc_boot_files), if it has any. */
void vm_pc_adopt(struct vm *vm);
/* The boot files a PC VM arriving here resets from (guest=linux with
 * incoming=: the same modules as the source booted). */
void vm_pc_set_boot_files(const struct vm_linux_boot *lb);
/*
 * Create a VM for an incoming migration: ram_size bytes of zeroed RAM, EPT
 * and vCPU, state VM_INMIGRATE (the stream fills memory and the vCPU).
 * 0, or -1 with the reason in why and nothing left allocated.
 */
int vm_create_incoming(struct vm *vm, u64 ram_size, struct pmm *pmm, char *why, size_t why_len);
/* Free everything the VM holds (RAM, EPT, vCPU); the_vm becomes NULL. */
void vm_destroy(struct vm *vm);
/* The VM's clock in ns (TIME_NS, the guest timer); host_ns from arch_time_ns(). */
static inline u64 vm_clock_ns(const struct vm *vm, u64 host_ns)
{
	return host_ns + vm->clock_offset;
}
/* Make the VM's clock read vm_ns now. */
void vm_clock_set(struct vm *vm, u64 vm_ns);
/* Reload the image and restart the vCPU (console `system_reset`). */
int vm_reset(struct vm *vm);
/* Tern stops the VM for a guest error: prints reason and register dump. */
__printf(2, 3) void vm_stop_error(struct vm *vm, const char *fmt, ...);
/* Host pointer to [gpa, gpa + len) of guest RAM, or NULL if not all inside. */
void *vm_gpa_ptr(struct vm *vm, u64 gpa, u64 len);
const char *vm_state_name(enum vm_state s);

/* ---- post-copy: pages not arrived yet (hv/vm_absent.c) ---- */

/* Make the pages set in map (ram_size / PAGE_SIZE bits) absent; 0, or -1
 * (out of memory for the map or for EPT tables) with nothing changed. */
int vm_absent_begin(struct vm *vm, const u64 *map);
static inline bool vm_page_absent(const struct vm *vm, u64 gfn)
{
	return vm->absent.map && gfn < vm->ram_size / PAGE_SIZE &&
	       (vm->absent.map[gfn / 64] >> (gfn % 64) & 1);
}
/*
 * Tern is about to access [gpa, gpa + len) for the guest: true when all of
 * it is here. Otherwise the vCPU now waits for the first absent page (the
 * engine was asked for it) and the caller must leave the instruction
 * unretired and return to the run loop (arch: EXIT_BLOCKED).
 */
bool vm_fetch(struct vcpu *vcpu, u64 gpa, u64 len);
/* The guest touched an absent page (EPT violation): wait for it. */
void vm_absent_fault(struct vcpu *vcpu, u64 gfn);
/* The page's contents are in RAM now: present it to the guest, wake the
 * vCPU if it waited for it. */
void vm_page_arrived(struct vm *vm, u64 gfn);
/* Make the changes of vm_page_arrived visible (one INVEPT per batch). */
void vm_absent_flush(struct vm *vm);
/* True while the vCPU waits for an absent page. */
static inline bool vcpu_blocked(const struct vcpu *vcpu)
{
	return vcpu->waiting;
}
/* Forget the absent set (the VM is being destroyed). */
void vm_absent_end(struct vm *vm);

/* ---- services for the CPU layer's exit handlers ---- */

/* Port I/O by the guest; in: *val receives the result. Never fails. */
void vm_pio(struct vcpu *vcpu, u16 port, unsigned size, bool in, u32 *val);
/* Boot option test_hypercalls: the dirty-log test calls (5-8) answer;
 * without it they do not exist (-38), so no production guest can touch the
 * log a migration reads. */
void vm_allow_test_hypercalls(bool on);
/* A hypercall (docs/guest-abi.md); returns RAX. */
s64 vm_hypercall(struct vcpu *vcpu, u64 nr, u64 a0, u64 a1, u64 a2);
/*
 * Interrupts (hv/vm.c; the PC platform's come from its LAPIC, Tern guests'
 * from the TIME_NS timer): the vector to deliver now (host clock), or -1;
 * that vector was injected; the host time (ns) of the next event that will
 * make one due, ~0 if none (the run loop's slice ends there). Context: the
 * run loop, the vCPU's VMCS current.
 */
int vcpu_intr_pending(struct vcpu *vcpu, u64 now_ns);
void vcpu_intr_delivered(struct vcpu *vcpu, int vec);
u64 vcpu_next_event_ns(struct vcpu *vcpu, u64 now_ns);
/* PC platform MSRs (the x2APIC range, TSC_DEADLINE, APIC_BASE): 1 = not one
 * of them, 0 = done (*val read or written), -1 = #GP. */
int vm_pc_msr(struct vcpu *vcpu, u32 msr, bool write, u64 *val);

#endif
