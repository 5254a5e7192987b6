/*
 * The serial management console: bytes from COM1 go through the line
 * editor and parser (hv/console_cmd.c); each command runs here against the
 * VM. Polled from the service loop between guest slices, so a console that
 * floods or stalls only ever costs one line's work per poll.
 */
#include <tern/arch.h>
#include <tern/cmdline.h>
#include <tern/console.h>
#include <tern/dirty.h>
#include <tern/hv.h>
#include <tern/log.h>
#include <tern/migrate.h>
#include <tern/net.h>
#include <tern/panic.h>
#include <tern/serial.h>
#include <tern/tls_stream.h>
#include <tern/vm.h>
#include <stdio.h>
#include <string.h>

#define TERN_VERSION "0.1"
#define POLL_BUDGET 64 /* bytes per poll: bounds the time a flood can take */

static struct con_line con_line;
static const char *no_vm_reason = "not started";
extern const char *hv_boot_path;


void con_set_no_vm_reason(const char *why)
{
	no_vm_reason = why;
}

static bool crash_allowed;

void con_allow_crash(bool allow)
{
	crash_allowed = allow;
}

/* `crash KIND`: what an operator uses to check crash reporting end to end. */
static void cmd_crash(const char *kind)
{
	if (!crash_allowed) {
		hv_printf("error: crash is off; boot with debug_crash to allow it\n");
		return;
	}
	if (!strcmp(kind, "panic"))
		hv_panic("crash requested at the console");
	hv_log("tern: crash %s requested at the console\n", kind);
	if (!arch_crash(kind))
		hv_printf("error: crash wants ud, gp, pf, df, mc, nmi or panic\n");
}

static void cmd_help(void)
{
	for (int i = 0; i < CON_NR_CMDS; i++) {
		const struct con_cmd_desc *c = &con_commands[i];
		hv_printf("  %-16s %s\n", c->name, c->help);
	}
}

static void cmd_info_status(struct vm *vm)
{
	if (!vm) {
		hv_printf("VM status: none (%s)\n", no_vm_reason);
		return;
	}
	switch (vm->state) {
	case VM_SHUTDOWN:
		hv_printf("VM status: shutdown (guest exited with code %d)\n", vm->exit_code);
		break;
	case VM_ERROR:
		hv_printf("VM status: error (%s)\n", vm->stop_reason);
		break;
	default:
		if (vcpu_blocked(&vm->vcpu))
			hv_printf("VM status: %s (vCPU waiting for page %#lx; %lu pages still to arrive: post-copy)\n",
				  vm_state_name(vm->state), vm->vcpu.wait_gfn, vm->absent.count);
		else
			hv_printf("VM status: %s%s\n", vm_state_name(vm->state),
				  vm->vcpu.halted ? " (vCPU halted)" : "");
	}
}

static void cmd_info_vm(struct vm *vm)
{
	u64 up_ms = (arch_time_ns() - vm->started_ns) / 1000000;
	hv_printf("vm%d: state %s, 1 vCPU, %lu MiB RAM at host %#lx\n", vm->id,
		  vm_state_name(vm->state), vm->ram_size >> 20, vm->ram_hpa);
	hv_printf("vm%d: image %lu bytes, entry %#lx, up %lu.%03lu s, %lu guest entries\n", vm->id,
		  vm->image_len, vm->entry, up_ms / 1000, up_ms % 1000, vm->stats.entries);
}

static void cmd_info_exits(struct vm *vm)
{
	const struct vm_stats *s = &vm->stats;
	u64 total = 0;
	hv_printf("  %-24s %12s\n", "reason", "count");
	for (unsigned r = 0; r < ARCH_NR_EXIT_REASONS; r++) {
		if (!s->exits[r])
			continue;
		total += s->exits[r];
		hv_printf("  %-24s %12lu\n", arch_exit_reason_name(r), s->exits[r]);
	}
	hv_printf("  %-24s %12lu\n", "total", total);
	hv_printf("  io: %lu unhandled reads (all ones), %lu unhandled writes (ignored)\n",
		  s->pio_unhandled_reads, s->pio_unhandled_writes);
	hv_printf("  hypercalls %lu, timer interrupts injected %lu\n", s->hypercalls,
		  s->timer_injections);
}

static void cmd_info_dirty(struct vm *vm)
{
	const struct dirty_log *d = &vm->dirty;
	if (d->active)
		hv_printf("dirty log: active, %s%s\n", dirty_mode_name(d->mode),
			  d->rate_end_ns ? " (calc_dirty_rate running)" : "");
	else
		hv_printf("dirty log: off (mode %s; PML %s)\n", dirty_mode_name(d->preferred),
			  arch_dirty_pml_available() ? "available" : "not available");
	hv_printf("  pages logged %lu, harvests %lu, pages harvested %lu, Tern writes %lu\n",
		  d->pages_logged, d->harvests, d->pages_harvested, d->tern_writes);
	hv_printf("  exits spent on logging %lu, start cost %lu cycles, last harvest %lu cycles\n",
		  d->exits, d->start_tsc_cost, d->last_harvest_tsc);
	if (d->rate_ns)
		hv_printf("  last dirty rate: %lu pages in %lu ms\n", d->rate_pages, d->rate_ns / 1000000);
}

static void cmd_calc_dirty_rate(struct vm *vm, const char *arg)
{
	s64 secs = parse_size(arg);
	if (secs < 1 || secs > 60) {
		hv_printf("error: calc_dirty_rate takes 1 to 60 seconds\n");
		return;
	}
	if (vm->state != VM_RUNNING) {
		hv_printf("error: the VM is not running\n");
		return;
	}
	if (migrate_owns_dirty_log(vm)) {
		hv_printf("error: the dirty log belongs to the migration in progress\n");
		return;
	}
	if (dirty_rate_start(vm, (u64)secs)) {
		hv_printf("error: the dirty log is in use or cannot start\n");
		return;
	}
	hv_printf("measuring the dirty rate for %ld s (%s)\n", secs, dirty_mode_name(vm->dirty.mode));
}

static void cmd_dirty_log_mode(struct vm *vm, const char *arg)
{
	int m = dirty_mode_parse(arg);
	if (m < 0) {
		hv_printf("error: dirty_log_mode takes auto, pml or wp\n");
		return;
	}
	if (m == DIRTY_PML && !arch_dirty_pml_available()) {
		hv_printf("error: this CPU has no PML\n");
		return;
	}
	if (migrate_owns_dirty_log(vm)) {
		hv_printf("error: the dirty log belongs to the migration in progress\n");
		return;
	}
	if (vm->dirty.active) {
		hv_printf("error: the dirty log is active; the mode applies when it starts\n");
		return;
	}
	vm->dirty.preferred = (enum dirty_mode)m;
	hv_printf("dirty log mode: %s\n", dirty_mode_name(vm->dirty.preferred));
}

/* migrate_set_downtime SECONDS (QEMU's old form, fractions allowed: "0.3"). */
static void cmd_set_downtime(const char *arg)
{
	u64 ms = 0, scale = 1000;
	const char *p = arg;
	for (; *p >= '0' && *p <= '9' && ms < 2000000; p++)
		ms = ms * 10 + (u64)(*p - '0') * 1000;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			if ((scale /= 10))
				ms += (u64)(*p - '0') * scale;
	if (*p || p == arg) {
		hv_printf("error: migrate_set_downtime takes seconds (0.3, 2)\n");
		return;
	}
	char v[24];
	snprintf(v, sizeof(v), "%lu", ms);
	migrate_cmd_set_parameter("downtime-limit", v);
}

static bool need_vm(struct vm *vm)
{
	if (!vm)
		hv_printf("error: no VM (%s)\n", no_vm_reason);
	return vm != NULL;
}

static void run_command(const struct con_parsed *p)
{
	struct vm *vm = the_vm;
	switch (p->cmd->id) {
	case CON_HELP:
		cmd_help();
		break;
	case CON_INFO_STATUS:
		cmd_info_status(vm);
		break;
	case CON_INFO_VERSION:
		hv_printf("Tern %s, booted via %s\n", TERN_VERSION, hv_boot_path);
		break;
	case CON_INFO_VM:
		if (need_vm(vm))
			cmd_info_vm(vm);
		break;
	case CON_INFO_REGISTERS:
		if (need_vm(vm))
			arch_vcpu_dump(&vm->vcpu, "  ");
		break;
	case CON_INFO_EXITS:
		if (need_vm(vm))
			cmd_info_exits(vm);
		break;
	case CON_INFO_DIRTY:
		if (need_vm(vm))
			cmd_info_dirty(vm);
		break;
	case CON_INFO_NETWORK:
		net_info();
		tls_stream_info();
		break;
	case CON_PING:
		net_ping(p->argv[0], p->argc > 1 ? p->argv[1] : NULL);
		break;
	case CON_CRASH:
		cmd_crash(p->argv[0]);
		break;
	case CON_NET_SEND:
		if (p->argc < 4)
			net_send(p->argv[0], p->argv[1], p->argv[2]);
		else if (!strcmp(p->argv[3], "tls"))
			tls_stream_send(p->argv[0], p->argv[1], p->argv[2]);
		else
			hv_printf("error: net_send's last word may only be 'tls'\n");
		break;
	case CON_CALC_DIRTY_RATE:
		if (need_vm(vm))
			cmd_calc_dirty_rate(vm, p->argv[0]);
		break;
	case CON_DIRTY_LOG_MODE:
		if (need_vm(vm))
			cmd_dirty_log_mode(vm, p->argv[0]);
		break;
	case CON_STOP:
		if (!need_vm(vm))
			break;
		if (vm->state != VM_RUNNING) {
			hv_printf("error: the VM is not running (%s)\n", vm_state_name(vm->state));
			break;
		}
		vm->state = VM_PAUSED;
		hv_printf("VM paused\n");
		break;
	case CON_CONT:
		if (!need_vm(vm))
			break;
		if (vm->state == VM_POSTMIGRATE || vm->state == VM_FINISH_MIGRATE ||
		    vm->state == VM_INMIGRATE) {
			hv_printf("error: the VM is %s: %s\n", vm_state_name(vm->state),
				  vm->state == VM_POSTMIGRATE ? "it was handed over and runs elsewhere"
				  : vm->state == VM_INMIGRATE ? "it is arriving (migrate_continue runs it once the source handed over)"
							      : "the migration's final copy is running (migrate_cancel)");
			break;
		}
		if (vm->state != VM_PAUSED) {
			hv_printf("error: the VM is not paused (%s)\n", vm_state_name(vm->state));
			break;
		}
		vm->state = VM_RUNNING;
		hv_printf("VM resumed\n");
		break;
	case CON_SYSTEM_RESET:
		if (vm && vm->absent.map)
			hv_printf("error: %lu pages of this VM are still arriving (post-copy); reset after\n",
				  vm->absent.count);
		else if (need_vm(vm) && vm_reset(vm))
			hv_printf("error: reset failed; the VM stays stopped\n");
		break;
	case CON_SHUTDOWN:
		hv_shutdown();
		break;
	case CON_MIGRATE:
		migrate_cmd_migrate(p->argc, p->argv);
		break;
	case CON_MIGRATE_INCOMING:
		migrate_cmd_incoming(p->argv[0]);
		break;
	case CON_MIGRATE_CANCEL:
		migrate_cmd_cancel();
		break;
	case CON_MIGRATE_CONTINUE:
		migrate_cmd_continue();
		break;
	case CON_MIGRATE_START_POSTCOPY:
		migrate_cmd_start_postcopy();
		break;
	case CON_MIGRATE_RECOVER:
		migrate_cmd_recover(p->argv[0]);
		break;
	case CON_MIGRATE_PAUSE:
		migrate_cmd_pause();
		break;
	case CON_MIGRATE_SET_PARAMETER:
		migrate_cmd_set_parameter(p->argv[0], p->argv[1]);
		break;
	case CON_MIGRATE_SET_CAPABILITY:
		migrate_cmd_set_capability(p->argv[0], p->argv[1]);
		break;
	case CON_MIGRATE_SET_SPEED:
		migrate_cmd_set_parameter("max-bandwidth", p->argv[0]);
		break;
	case CON_MIGRATE_SET_DOWNTIME:
		cmd_set_downtime(p->argv[0]);
		break;
	case CON_INFO_MIGRATE:
		migrate_cmd_info();
		break;
	case CON_INFO_MIGRATE_PARAMETERS:
		migrate_cmd_info_parameters();
		break;
	case CON_INFO_MIGRATE_CAPABILITIES:
		migrate_cmd_info_capabilities();
		break;
	case CON_NR_CMDS:
		break;
	}
}

/* Parse and run one line; the answer goes wherever hv_printf writes now. */
static void exec_line(char *line)
{
	char err[160];
	struct con_parsed parsed;
	int rc = con_parse(line, &parsed, err, sizeof(err));
	if (rc < 0)
		hv_printf("error: %s\n", err);
	else if (rc > 0)
		run_command(&parsed);
}

void con_run_line_to(char *line, void (*sink)(void *ctx, const char *buf, size_t len), void *ctx)
{
	log_capture(sink, ctx);
	exec_line(line);
	log_capture(NULL, NULL);
}

void con_init(void)
{
	con_line_init(&con_line);
	hv_puts(CON_PROMPT);
}

/*
 * The serial mux (as QEMU's): Ctrl-A c switches COM1 between Tern's console
 * and the guest's UART (PC platform only: its guest reads its UART). With
 * the guest's focus, typed bytes queue for the guest's receiver and its
 * output goes out raw; Tern's own messages still appear, marked as always.
 * Ctrl-A Ctrl-A sends one Ctrl-A to whichever has the focus.
 */
#define MUX_ESC 0x01
#define MUX_QUEUE 512
static bool guest_focus, mux_escape;
static u8 guest_in[MUX_QUEUE];
static u32 guest_in_head, guest_in_len;

static void guest_out(void *ctx, u8 byte)
{
	char b = (char)byte;
	serial_write(&b, 1);
}

static bool mux_has_guest(void)
{
	return the_vm && the_vm->platform == VM_PLATFORM_PC;
}

static void mux_switch(void)
{
	if (!guest_focus && !mux_has_guest()) {
		hv_printf("\ntern: no guest console to switch to (only a PC-platform guest reads its UART)\n%s",
			  CON_PROMPT);
		return;
	}
	guest_focus = !guest_focus;
	if (guest_focus) {
		hv_printf("\ntern: COM1 is the guest's console now (Ctrl-A c: back to Tern)\n");
		vuart_flush(&the_vm->uart);
	} else {
		if (the_vm)
			vuart_set_tx_raw(&the_vm->uart, NULL, NULL);
		guest_in_len = 0;
		hv_printf("\ntern: COM1 is Tern's console again (Ctrl-A c: the guest's)\n%s", CON_PROMPT);
	}
}

static bool stamp_on;

void con_stamp_guest(bool on)
{
	stamp_on = on;
}

/* Keep the guest's UART in step with the focus and the stamping (a reset
 * re-creates it, and this runs before the vCPU does again) and hand it what
 * was typed, as its receive FIFO makes room. */
static void mux_service(void)
{
	if (stamp_on && the_vm && the_vm->uart.clock != arch_cycles)
		vuart_set_clock(&the_vm->uart, arch_cycles);
	if (!guest_focus)
		return;
	if (!mux_has_guest()) {
		guest_focus = false;
		guest_in_len = 0;
		hv_printf("\ntern: the guest is gone; COM1 is Tern's console again\n%s", CON_PROMPT);
		return;
	}
	struct vuart *u = &the_vm->uart;
	if (u->tx_raw != guest_out)
		vuart_set_tx_raw(u, guest_out, NULL);
	while (guest_in_len && vuart_rx_push(u, guest_in[guest_in_head]) == 0) {
		guest_in_head = (guest_in_head + 1) % MUX_QUEUE;
		guest_in_len--;
	}
}

static void to_guest(u8 c)
{
	if (guest_in_len == MUX_QUEUE)
		return; /* the guest is not reading: typing ahead is bounded */
	guest_in[(guest_in_head + guest_in_len++) % MUX_QUEUE] = c;
}

/* A byte for Tern's console or the guest: false when the mux took it. */
static bool mux_feed(int c)
{
	if (mux_escape) {
		mux_escape = false;
		if (c == 'c') {
			mux_switch();
			return false;
		}
		if (c != MUX_ESC)
			return false; /* Ctrl-A then something else: nothing */
	} else if (c == MUX_ESC) {
		mux_escape = true;
		return false;
	}
	if (guest_focus) {
		to_guest((u8)c);
		return false;
	}
	return true;
}

void con_poll(void)
{
	mux_service();
	for (int budget = POLL_BUDGET; budget > 0; budget--) {
		int c = serial_getc();
		if (c < 0)
			break;
		if (!mux_feed(c))
			continue;
		const char *echo = NULL;
		switch (con_line_feed(&con_line, c, &echo)) {
		case CON_FEED_NONE:
			break;
		case CON_FEED_ECHO:
			hv_puts(echo);
			break;
		case CON_FEED_TOOLONG:
			hv_printf("\nerror: line longer than %d characters ignored\n%s", CON_LINE_MAX, CON_PROMPT);
			break;
		case CON_FEED_LINE:
			hv_puts("\n");
			exec_line(con_line.buf);
			hv_puts(CON_PROMPT);
			break;
		}
	}
	mux_service();
}
