/*
 * hv_main: from boot_info to a running VM and console. The order matters:
 * CPU tables first (so faults are reported), then memory, our own page
 * tables and heap, the clock, virtualization, and finally the guest.
 */
#include <tern/arch.h>
#include <tern/boot_info.h>
#include <tern/cmdline.h>
#include <tern/console.h>
#include <tern/heap.h>
#include <tern/hv.h>
#include <tern/log.h>
#include <tern/migrate.h>
#include <tern/mm.h>
#include <tern/net.h>
#include <tern/netcon.h>
#include <tern/nic_probe.h>
#include <tern/panic.h>
#include <tern/pmm.h>
#include <tern/vm.h>
#include <string.h>

#define HEAP_SIZE (16UL << 20)


const char *hv_boot_path = "?";
static struct pmm pmm;
static struct vm vm0;
static struct hv_config config;
static u64 acpi_rsdp, efi_runtime;
static char virt_why[160];

static void config_warning(void *ctx, const char *msg)
{
	hv_printf("tern: config: %s\n", msg);
}

static const struct boot_module *find_module(const struct boot_info *bi, const char *name)
{
	for (u32 i = 0; i < bi->nr_modules; i++)
		if (!strcmp(bi->modules[i].name, name))
			return &bi->modules[i];
	return NULL;
}

/*
 * guest=linux: a stock kernel on the PC platform, from the GRUB modules
 * `linux` (the bzImage; the rest of its module line is the kernel's command
 * line) and `initrd` (optional). 0 started, 1 kept for incoming VMs only
 * (noguest), -1 failed.
 */
static int start_linux(const struct boot_info *bi)
{
	const struct boot_module *k = find_module(bi, "linux"), *i = find_module(bi, "initrd");
	if (!k) {
		hv_printf("tern: guest=linux but no module named 'linux' (the kernel) was loaded\n");
		return -1;
	}
	struct vm_linux_boot lb = {
		.kernel = phys_to_virt(k->base), .kernel_len = k->len, .cmdline = k->args,
		.initrd = i ? phys_to_virt(i->base) : NULL, .initrd_len = i ? i->len : 0,
	};
	/* Also what a Linux VM arriving by migration resets from. */
	vm_pc_set_boot_files(&lb);
	if (config.no_guest) {
		hv_printf("tern: Linux boot files kept for incoming VMs (noguest)\n");
		return 1;
	}
	hv_printf("tern: Linux guest: kernel %lu bytes, initrd %lu bytes, command line '%s'\n", k->len,
		  lb.initrd_len, lb.cmdline);
	return vm_create_linux(&vm0, &lb, config.guest_mem, &pmm);
}

static const struct boot_module *find_guest(const struct boot_info *bi)
{
	for (u32 i = 0; i < bi->nr_modules; i++)
		if (!strcmp(bi->modules[i].name, "guest"))
			return &bi->modules[i];
	return bi->nr_modules ? &bi->modules[0] : NULL;
}

static void start_guest(const struct boot_info *bi)
{
	if (arch_virt_init(&pmm, virt_why, sizeof(virt_why))) {
		hv_printf("tern: %s\n", virt_why);
		hv_printf("tern: no VM can run on this machine; the console stays available\n");
		con_set_no_vm_reason(virt_why);
		return;
	}
	if (!strcmp(config.guest, "linux")) {
		int rc = start_linux(bi);
		if (rc) {
			con_set_no_vm_reason(rc > 0 ? "noguest given" :
					     "the Linux guest could not be started (see the boot log)");
			return;
		}
		goto started;
	}
	const struct boot_module *m = find_guest(bi);
	if (config.no_guest || !m) {
		con_set_no_vm_reason(config.no_guest ? "noguest given" : "no guest image was loaded");
		hv_printf("tern: no guest image; console only\n");
		return;
	}
	hv_printf("tern: guest image '%s' (%s), %lu bytes\n", m->name,
		  config.guest[0] ? config.guest : "unnamed", m->len);
	if (vm_create(&vm0, phys_to_virt(m->base), m->len, config.guest_mem, &pmm)) {
		con_set_no_vm_reason("the VM could not be created (see the boot log)");
		return;
	}
started:
	vm0.dirty.preferred = config.dirty_mode;
	if (vm0.dirty.preferred == DIRTY_PML && !arch_dirty_pml_available()) {
		hv_printf("tern: dirty=pml given but this CPU has no PML; using auto\n");
		vm0.dirty.preferred = DIRTY_AUTO;
	}
}

void hv_main(struct boot_info *bi)
{
	arch_cpu_init();
	hv_boot_path = bi->source == BOOT_SRC_UEFI ? "UEFI" : "multiboot2 (GRUB)";
	hv_printf("tern: Tern hypervisor, booted via %s\n", hv_boot_path);
	char shown[BOOT_CMDLINE_LEN];
	cmdline_redact(bi->cmdline, shown, sizeof(shown));
	hv_printf("tern: command line: '%s'\n", shown);
	cmdline_parse(bi->cmdline, &config, config_warning, NULL);
	con_allow_crash(config.debug_crash);
	con_stamp_guest(config.stamp_guest);
	vm_allow_test_hypercalls(config.test_hypercalls);
	acpi_rsdp = bi->acpi_rsdp;
	efi_runtime = bi->efi_runtime;

	if (pmm_init(&pmm, bi, phys_to_virt))
		hv_panic("memory: no usable memory for the page allocator");
	hv_printf("tern: memory: %lu MiB free of %u map entries, image at %#lx-%#lx\n",
		  (pmm.free_frames * PAGE_SIZE) >> 20, bi->nr_mem, bi->image_phys_start,
		  bi->image_phys_end);
	arch_paging_init(bi, &pmm);
	u64 heap = pmm_alloc(&pmm, HEAP_SIZE / PAGE_SIZE, PAGE_SIZE);
	if (!heap)
		hv_panic("memory: no room for the %lu MiB heap", HEAP_SIZE >> 20);
	heap_init(phys_to_virt(heap), HEAP_SIZE);
	arch_time_init();

	start_guest(bi);
	nic_probe(&pmm, acpi_rsdp);
	net_init(&config);
	netcon_init(&config); /* after net_init: listens only when the stack is up */
	migrate_init(&config, &vm0, &pmm);
	hv_printf("tern: console ready on COM1; type 'help'\n");
	con_init();
	hv_run_loop();
}

void hv_shutdown(void)
{
	hv_printf("tern: shutting down\n");
	arch_power_off(acpi_rsdp, efi_runtime);
}
