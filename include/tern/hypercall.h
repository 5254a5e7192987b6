/*
 * The hypercall ABI between a guest and Tern (docs/guest-abi.md).
 *
 * A guest executes VMCALL with the function number in RAX and arguments in
 * RDI, RSI, RDX. The result comes back in RAX (negative values are errors);
 * other registers are preserved. Pointers are guest-physical addresses.
 * The ABI is for test and demo guests; a production guest never needs it.
 */
#ifndef TERN_HYPERCALL_H
#define TERN_HYPERCALL_H

#define TERN_HC_ABI_VERSION 2 /* 2: DIRTY_LOG replaced DIRTY_CHECK */

enum tern_hypercall {
	TERN_HC_VERSION = 0,     /* -> TERN_HC_ABI_VERSION */
	TERN_HC_REPORT = 1,      /* rdi = enum tern_report, rsi = GPA of NUL-terminated text (<= 200 bytes) */
	TERN_HC_TIME_NS = 2,     /* -> nanoseconds of Tern's monotonic clock */
	TERN_HC_EXIT = 3,        /* rdi = exit code; the VM stops, Tern stays up */
	TERN_HC_TIMER = 4,       /* rdi = vector (32..255), rsi = delay in ns (0 disarms): one-shot interrupt */
	TERN_HC_DIRTY_START = 5, /* start the dirty log -> 1 write-protect, 2 PML */
	TERN_HC_DIRTY_LOG = 6,   /* rdi = GPA (8-aligned) of a bitmap, rsi = its bytes (>= TERN_DIRTY_LOG_BYTES):
				    harvest into it -> pages; the guest judges the log itself */
	TERN_HC_DIRTY_STOP = 7,
	TERN_HC_DIRTY_HARVEST = 8, /* rdi = GPA of struct tern_dirty_stats: harvest (discarding) -> pages */
	TERN_HC_NR
};

enum tern_report {
	TERN_REPORT_PASS = 0,
	TERN_REPORT_FAIL = 1,
	TERN_REPORT_INFO = 2,
};

/*
 * TERN_HC_DIRTY_LOG writes exactly this many bytes: one bit per 4 KiB page
 * of RAM (bit g of u64 word g / 64 for page g), bits past the last page 0.
 */
#define TERN_DIRTY_LOG_BYTES(ram_bytes) (((ram_bytes) / 4096 + 63) / 64 * 8)

/* Written by TERN_HC_DIRTY_HARVEST, for benchmarks. */
struct tern_dirty_stats {
	unsigned long long pages;          /* harvested by this call */
	unsigned long long exits;          /* exits spent on logging since it started */
	unsigned long long harvest_cycles; /* TSC ticks this harvest took inside Tern */
	unsigned long long start_cycles;   /* TSC ticks starting the log took */
};

#define TERN_HC_EBUSY (-16)  /* the dirty log belongs to a migration */
#define TERN_HC_EINVAL (-22)
#define TERN_HC_ENOSYS (-38)

/* CPUID leaf 0x40000000: EAX = max hypervisor leaf, EBX:ECX:EDX = signature. */
#define TERN_CPUID_BASE 0x40000000
#define TERN_CPUID_SIGNATURE "TernTernTern"

/* Start state of every guest (docs/guest-abi.md). */
#define TERN_GUEST_LOAD_ADDR 0x100000 /* flat images load here; ELF uses its paddrs */
#define TERN_GUEST_GDT 0x1000
#define TERN_GUEST_PML4 0x2000        /* identity map of all RAM, 2 MiB pages */
#define TERN_GUEST_BOOT_END 0x8000    /* [0, this) holds the boot structures above */
#define TERN_GUEST_STACK_TOP 0x80000  /* initial RSP */
#define TERN_GUEST_CS 0x08
#define TERN_GUEST_DS 0x10

#endif
