/*
 * The operator's side of migration: parameters and capabilities, the
 * console commands with QEMU's names and statistics, the progress line,
 * and the one place the status changes (tern/mig_policy.h's machine).
 */
#include <tern/arch.h>
#include <tern/cmdline.h>
#include <tern/console.h>
#include <tern/hv.h>
#include <tern/log.h>
#include <tern/migrate.h>
#include <tern/net.h>
#include <tern/netcon.h>
#include <tern/tls.h>
#include <tern/vm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"

#define PROGRESS_NS 1000000000ULL

struct mig_engine mig;

void mig_set_status(enum mig_event ev)
{
	enum mig_status before = mig.status;
	if (mig_status_step(&mig.status, ev) < 0)
		hv_log("migrate: internal: event %d refused in status %s\n", ev, mig_status_name(before));
}

void mig_report(const char *fmt, ...)
{
	char line[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	hv_log("%s", line);
	netcon_notify(line);
}

void mig_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(mig.error, sizeof(mig.error), fmt, ap);
	va_end(ap);
	if (mig.status == MIG_CANCELLING) {
		mig_set_status(MIG_EV_CANCELLED);
	} else {
		if (!mig_status_busy(mig.status))
			mig_set_status(MIG_EV_START); /* refused before it began: still a failed migration */
		mig_set_status(MIG_EV_ERROR);
	}
	mig.stats.end_ns = arch_time_ns();
	mig_report("migrate: failed: %s\n", mig.error);
}

static u64 elapsed_ms(void)
{
	if (!mig.stats.start_ns)
		return 0;
	u64 end = mig_status_busy(mig.status) ? arch_time_ns() : mig.stats.end_ns;
	return (end - mig.stats.start_ns) / 1000000;
}

void mig_progress(u64 now, u32 round, u64 remaining, u64 bw)
{
	mig.stats.remaining_pages = remaining / PAGE_SIZE;
	if (now - mig.last_progress_ns < PROGRESS_NS)
		return;
	u64 span = now - mig.last_progress_ns, guest = hv_guest_ns();
	u64 share = span ? (guest - mig.last_progress_guest_ns) * 1000 / span : 0;
	mig.last_progress_ns = now;
	mig.last_progress_guest_ns = guest;
	u64 eta_ms = bw ? remaining * 1000 / bw : 0;
	hv_log("migrate: %s, round %u, remaining %lu.%02lu MiB, %lu KiB/s, ETA %lu.%lu s, throttle %u%% "
	       "(guest ran %lu.%lu%%)\n",
	       mig_status_name(mig.status), round, remaining >> 20, ((remaining & 0xfffff) * 100) >> 20,
	       bw / 1024, eta_ms / 1000, (eta_ms % 1000) / 100, mig.policy.throttle, share / 10,
	       share % 10);
}

/* "tcp:A.B.C.D:PORT"; host may be "0" or empty for migrate_incoming. */
static int parse_uri(const char *uri, u32 *addr, u16 *port, bool any_host)
{
	if (strncmp(uri, "tcp:", 4))
		return -1;
	const char *host = uri + 4, *colon = strrchr(host, ':');
	if (!colon)
		return -1;
	char h[32];
	size_t hl = (size_t)(colon - host);
	if (hl >= sizeof(h))
		return -1;
	memcpy(h, host, hl);
	h[hl] = '\0';
	s64 p = parse_size(colon + 1);
	if (p < 1 || p > 65535)
		return -1;
	*port = (u16)p;
	if (any_host && (!hl || !strcmp(h, "0") || !strcmp(h, "0.0.0.0"))) {
		*addr = 0;
		return 0;
	}
	if (any_host || parse_ipv4(h, addr) || !*addr || *addr == 0xffffffffu)
		return -1;
	return 0;
}

void migrate_init(const struct hv_config *cfg, struct vm *slot, struct pmm *pmm)
{
	mig.slot = slot;
	mig.pmm = pmm;
	mig_params_default(&mig.params);
	mig.test_faults_allowed = cfg->migrate_test;
	mig.plain_allowed = cfg->migrate_plain;
	/* Encrypted whenever a key is there; plaintext only when allowed and keyless. */
	mig.tls_creds = tls_key_ready(TLS_KEY_MIGRATE) || !cfg->migrate_plain;
	if (cfg->incoming_port) {
		char why[120];
		if (!net_up())
			hv_printf("tern: incoming=: networking is off; no migration can arrive\n");
		else if (mig_dest_listen(cfg->incoming_port, why, sizeof(why)))
			hv_printf("tern: incoming=: %s\n", why);
		else
			hv_printf("tern: waiting for an incoming migration on tcp port %u\n", cfg->incoming_port);
	}
}

void migrate_poll(void)
{
	if (mig.role == MIG_ROLE_NONE && !mig.listener)
		return;
	u64 now = arch_time_ns();
	mig_source_poll(now);
	mig_dest_poll(now);
}

u32 migrate_throttle(void)
{
	return mig.role == MIG_ROLE_SOURCE && mig.status == MIG_ACTIVE ? mig.policy.throttle : 0;
}

bool migrate_owns_dirty_log(const struct vm *vm)
{
	return mig_source_owns_log(vm);
}

void migrate_page_wanted(u64 gfn)
{
	if (mig.role == MIG_ROLE_DEST)
		mig_dest_page_wanted(gfn);
}

void migrate_page_latency(u64 ns)
{
	mig_lat_add(&mig.pc.lat, ns);
}

/* A fresh migration's statistics (either side). */
void mig_stats_reset(void)
{
	memset(&mig.stats, 0, sizeof(mig.stats));
	memset(&mig.pc, 0, sizeof(mig.pc));
	mig_lat_init(&mig.pc.lat);
	mig.postcopy_requested = false;
}

void migrate_cmd_migrate(int argc, char *const *argv)
{
	const char *uri = argv[argc - 1];
	bool resume = argc == 2 && !strcmp(argv[0], "-r");
	if (argc == 2 && strcmp(argv[0], "-d") && !resume) {
		hv_printf("error: migrate takes [-d|-r] tcp:HOST:PORT\n");
		return;
	}
	u32 addr;
	u16 port;
	if (parse_uri(uri, &addr, &port, false)) {
		hv_printf("error: migrate wants tcp:A.B.C.D:PORT (port 1-65535)\n");
		return;
	}
	if (!net_up()) {
		hv_printf("error: networking is off (see 'info network')\n");
		return;
	}
	if (resume) {
		if (mig.role != MIG_ROLE_SOURCE) {
			hv_printf("error: migrate -r resumes a paused post-copy from its source; this host is none\n");
			return;
		}
		snprintf(mig.peer, sizeof(mig.peer), "%u.%u.%u.%u:%u", addr >> 24, (addr >> 16) & 255,
			 (addr >> 8) & 255, addr & 255, port);
		mig_source_recover(__builtin_bswap32(addr), port);
		return;
	}
	if (mig_status_busy(mig.status)) {
		hv_printf("error: a migration is already %s\n", mig_status_name(mig.status));
		return;
	}
	if (mig.tls_creds && !tls_key_ready(TLS_KEY_MIGRATE)) {
		hv_printf("error: no migration key: boot with migrate_psk=HEX (or, on a private link, "
			  "with migrate_plain and migrate_set_parameter tls-creds none)\n");
		return;
	}
	if (!mig.tls_creds && !mig.plain_allowed) {
		hv_printf("error: plaintext migration needs the boot option migrate_plain\n");
		return;
	}
	mig_stats_reset();
	mig.error[0] = '\0';
	mig.handover[0] = '\0';
	snprintf(mig.peer, sizeof(mig.peer), "%u.%u.%u.%u:%u", addr >> 24, (addr >> 16) & 255,
		 (addr >> 8) & 255, addr & 255, port);
	mig_policy_init(&mig.policy, &mig.params);
	mig.role = MIG_ROLE_SOURCE;
	mig.stats.start_ns = arch_time_ns();
	mig.last_progress_ns = mig.stats.start_ns;
	mig.last_progress_guest_ns = hv_guest_ns();
	mig_set_status(MIG_EV_START);
	u32 addr_be = __builtin_bswap32(addr);
	if (mig_source_start(addr_be, port))
		return;
	hv_printf("migrate: to %s (downtime-limit %lu ms, max-bandwidth %s%lu, auto-converge %s, "
		  "postcopy-ram %s)\n",
		  mig.peer, mig.params.downtime_limit_ms, mig.params.max_bandwidth ? "" : "unlimited ",
		  mig.params.max_bandwidth, mig.params.auto_converge ? "on" : "off",
		  mig.params.postcopy ? "on" : "off");
}

void migrate_cmd_start_postcopy(void)
{
	if (mig.role != MIG_ROLE_SOURCE || (mig.status != MIG_SETUP && mig.status != MIG_ACTIVE)) {
		hv_printf("error: migrate_start_postcopy switches a running migration on its source (%s here)\n",
			  mig_status_name(mig.status));
		return;
	}
	if (!mig.params.postcopy) {
		hv_printf("error: postcopy-ram is off: migrate_set_capability postcopy-ram on, before migrate\n");
		return;
	}
	mig.postcopy_requested = true;
	hv_printf("migrate_start_postcopy: switching as soon as pages flow\n");
}

void migrate_cmd_pause(void)
{
	if (mig.role == MIG_ROLE_DEST)
		mig_dest_pause();
	else if (mig.role == MIG_ROLE_SOURCE)
		mig_source_pause();
	else
		hv_printf("error: no migration here\n");
}

void migrate_cmd_recover(const char *uri)
{
	u32 addr;
	u16 port;
	char why[160];
	if (parse_uri(uri, &addr, &port, true)) {
		hv_printf("error: migrate_recover wants tcp:0:PORT (port 1-65535)\n");
		return;
	}
	if (mig.role != MIG_ROLE_DEST || mig_dest_recover(port, why, sizeof(why))) {
		hv_printf("error: %s\n", mig.role != MIG_ROLE_DEST ? "migrate_recover is typed on the "
			  "destination of a paused post-copy" : why);
		return;
	}
	hv_printf("migrate_recover: listening on tcp port %u for the source's migrate -r\n", port);
}

void migrate_cmd_incoming(const char *uri)
{
	u32 addr;
	u16 port;
	char why[120];
	if (parse_uri(uri, &addr, &port, true)) {
		hv_printf("error: migrate_incoming wants tcp:0:PORT (port 1-65535)\n");
		return;
	}
	if (!net_up()) {
		hv_printf("error: networking is off (see 'info network')\n");
		return;
	}
	if (mig_dest_listen(port, why, sizeof(why))) {
		hv_printf("error: %s\n", why);
		return;
	}
	hv_printf("migrate_incoming: listening on tcp port %u%s\n", port,
		  the_vm ? " (this host has a VM: connections are refused until it is gone)" : "");
}

void migrate_cmd_cancel(void)
{
	if (!mig_status_busy(mig.status)) {
		hv_printf("error: no migration in progress (%s)\n", mig_status_name(mig.status));
		return;
	}
	if (mig.role == MIG_ROLE_DEST) {
		mig_dest_cancel();
		return;
	}
	if (mig.handover[0]) { /* post-copy after the hand-over: the guest runs there */
		mig_source_abandon();
		return;
	}
	mig_set_status(MIG_EV_CANCEL);
	mig_source_cancel();
	mig.stats.end_ns = arch_time_ns();
	mig_set_status(MIG_EV_CANCELLED);
}

void migrate_cmd_continue(void)
{
	if (mig.role != MIG_ROLE_DEST) {
		hv_printf("error: migrate_continue resumes an incoming VM whose GO was lost; none here%s%s\n",
			  mig.handover[0] ? " (this host " : "", mig.handover[0] ? "handed its VM over)" : "");
		return;
	}
	mig_dest_continue();
}

/* ---- parameters and capabilities ---- */

static int parse_on_off(const char *v)
{
	if (!strcmp(v, "on") || !strcmp(v, "true"))
		return 1;
	if (!strcmp(v, "off") || !strcmp(v, "false"))
		return 0;
	return -1;
}

static const char *const fault_names[] = { "none", "drop-ack", "drop-go", "cut-pages", "cut-final",
					    "cut-postcopy" };

void migrate_cmd_set_parameter(const char *name, const char *value)
{
	s64 v = parse_size(value);
	/* x-fault is read when its moment comes, so a test may clear it any time. */
	if (mig_status_busy(mig.status) && strcmp(name, "max-bandwidth") && strcmp(name, "x-fault")) {
		hv_printf("error: only max-bandwidth (and x-fault) can change while a migration runs\n");
		return;
	}
	if (!strcmp(name, "max-bandwidth")) {
		if (v < 0) {
			hv_printf("error: max-bandwidth takes bytes per second (K, M, G suffixes; 0 = unlimited)\n");
			return;
		}
		mig.params.max_bandwidth = (u64)v;
		mig.policy.params.max_bandwidth = (u64)v;
	} else if (!strcmp(name, "downtime-limit")) {
		if (v < 1 || v > 2000000) {
			hv_printf("error: downtime-limit takes 1 to 2000000 ms\n");
			return;
		}
		mig.params.downtime_limit_ms = (u64)v;
	} else if (!strcmp(name, "tls-creds")) {
		if (!strcmp(value, "migrate")) {
			if (!tls_key_ready(TLS_KEY_MIGRATE)) {
				hv_printf("error: no migration key loaded (boot option migrate_psk=)\n");
				return;
			}
			mig.tls_creds = true;
		} else if (!strcmp(value, "none") || !strcmp(value, "\"\"")) {
			if (!mig.plain_allowed) {
				hv_printf("error: plaintext migration needs the boot option migrate_plain\n");
				return;
			}
			mig.tls_creds = false;
		} else {
			hv_printf("error: tls-creds is migrate (the migrate_psk= key) or none\n");
			return;
		}
	} else if (!strcmp(name, "x-fault")) {
		if (!mig.test_faults_allowed) {
			hv_printf("error: x-fault is for tests; boot with migrate_test to allow it\n");
			return;
		}
		for (unsigned i = 0; i < ARRAY_SIZE(fault_names); i++)
			if (!strcmp(value, fault_names[i])) {
				mig.fault = (enum mig_fault)i;
				hv_printf("x-fault: %s\n", value);
				return;
			}
		hv_printf("error: x-fault takes none, drop-ack, drop-go, cut-pages, cut-final or cut-postcopy\n");
		return;
	} else {
		hv_printf("error: unknown parameter '%s' (max-bandwidth, downtime-limit, tls-creds)\n", name);
		return;
	}
	hv_printf("%s: %s\n", name, value);
}

void migrate_cmd_set_capability(const char *name, const char *value)
{
	int on = parse_on_off(value);
	if (on < 0) {
		hv_printf("error: a capability is on or off\n");
		return;
	}
	if (mig_status_busy(mig.status)) {
		hv_printf("error: capabilities cannot change while a migration runs\n");
		return;
	}
	if (!strcmp(name, "auto-converge"))
		mig.params.auto_converge = on;
	else if (!strcmp(name, "postcopy-ram"))
		mig.params.postcopy = on;
	else if (!strcmp(name, "validate-ram"))
		mig.validate_ram = on;
	else {
		hv_printf("error: unknown capability '%s' (auto-converge, postcopy-ram, validate-ram)\n", name);
		return;
	}
	hv_printf("%s: %s\n", name, on ? "on" : "off");
}

void migrate_cmd_info_parameters(void)
{
	hv_printf("max-bandwidth: %lu bytes/s%s\n", mig.params.max_bandwidth,
		  mig.params.max_bandwidth ? "" : " (unlimited)");
	hv_printf("downtime-limit: %lu ms\n", mig.params.downtime_limit_ms);
	hv_printf("tls-creds: %s%s\n", mig.tls_creds ? "migrate" : "none (plaintext)",
		  tls_key_ready(TLS_KEY_MIGRATE) ? "" : " (no migration key loaded)");
	hv_printf("x-fault: %s%s\n", fault_names[mig.fault],
		  mig.test_faults_allowed ? "" : " (boot with migrate_test to set)");
	hv_printf("limits: N1 %u pages, N2 %u rounds, N3 %u rounds; throttle from %u%% to %u%%\n",
		  mig.params.n1_pages, mig.params.n2_rounds, mig.params.n3_rounds,
		  mig.params.throttle_initial, mig.params.throttle_max);
}

void migrate_cmd_info_capabilities(void)
{
	hv_printf("auto-converge: %s\n", mig.params.auto_converge ? "on" : "off");
	hv_printf("postcopy-ram: %s\n", mig.params.postcopy ? "on" : "off");
	hv_printf("validate-ram: %s\n", mig.validate_ram ? "on" : "off");
}

/* Post-copy's lines (QEMU's names, then ours), once it switched. */
static void info_postcopy(void)
{
	const struct mig_pc_stats *p = &mig.pc;
	if (!p->pages_at_switch && !p->requests && !p->live_start_ns)
		return;
	if (mig.role == MIG_ROLE_SOURCE)
		hv_printf("postcopy-switch: after round %u, %lu ms after the start: %s\n", p->switch_round,
			  (p->switch_ns - mig.stats.start_ns) / 1000000, p->why);
	hv_printf("postcopy-pages-at-switch: %lu\n", p->pages_at_switch);
	hv_printf("postcopy-requests: %lu\n", p->requests);
	hv_printf("postcopy-bytes: %lu\n", p->bytes);
	if (p->live_start_ns) {
		u64 end = p->live_end_ns ? p->live_end_ns : arch_time_ns();
		hv_printf("postcopy-time: %lu ms (GO to the last page%s)\n", (end - p->live_start_ns) / 1000000,
			  p->live_end_ns ? "" : ", so far");
	}
	if (mig.role == MIG_ROLE_SOURCE) {
		hv_printf("postcopy-pages: %lu asked for, %lu pushed\n", p->pages_requested, p->pages_pushed);
	} else {
		struct mig_lat lat = p->lat; /* the median reorders the sample */
		hv_printf("postcopy-pages: %lu arrived, %lu copies dropped (already here)\n", p->pages_arrived,
			  p->pages_dropped);
		hv_printf("postcopy-latency: %lu faults; min %lu us, median %lu us, max %lu us\n", lat.count,
			  lat.count ? lat.min / 1000 : 0, mig_lat_median(&lat) / 1000, lat.max / 1000);
		if (the_vm)
			hv_printf("postcopy-blocked: %lu ms (guest faults %lu, Tern's own accesses %lu)\n",
				  the_vm->stats.blocked_ns / 1000000, the_vm->stats.absent_faults,
				  the_vm->stats.absent_fetches);
		mig_dest_info();
	}
	if (p->recoveries)
		hv_printf("postcopy-recoveries: %u\n", p->recoveries);
}

void migrate_cmd_info(void)
{
	const struct mig_stats *s = &mig.stats;
	hv_printf("status: %s%s%s\n", mig_status_name(mig.status),
		  mig.role == MIG_ROLE_SOURCE ? " (source" : mig.role == MIG_ROLE_DEST ? " (destination" : "",
		  mig.role == MIG_ROLE_NONE ? "" : mig.peer[0] ? ")" : ")");
	if (mig.peer[0])
		hv_printf("peer: %s\n", mig.peer);
	if (mig.listener)
		hv_printf("incoming: listening on tcp port %u\n", mig.listen_port);
	if (mig.handover[0])
		hv_printf("handover: %s\n", mig.handover);
	if (mig.error[0])
		hv_printf("error-desc: %s\n", mig.error);
	if (mig.status == MIG_NONE)
		return;
	u64 total_ms = elapsed_ms();
	hv_printf("total-time: %lu ms\n", total_ms);
	if (s->setup_end_ns)
		hv_printf("setup-time: %lu ms\n", (s->setup_end_ns - s->start_ns) / 1000000);
	if (mig.status == MIG_COMPLETED && mig.role == MIG_ROLE_SOURCE &&
	    mig.policy.expected_downtime_ms == MIG_DOWNTIME_UNKNOWN)
		hv_printf("downtime: %lu ms (expected: unknown, no round ended; limit %lu ms)\n",
			  s->downtime_ns / 1000000, mig.params.downtime_limit_ms);
	else if (mig.status == MIG_COMPLETED && mig.role == MIG_ROLE_SOURCE)
		hv_printf("downtime: %lu ms (expected %lu ms, limit %lu ms)\n", s->downtime_ns / 1000000,
			  mig.policy.expected_downtime_ms, mig.params.downtime_limit_ms);
	else if (mig.role == MIG_ROLE_SOURCE && mig.policy.nr_history &&
		 mig.policy.expected_downtime_ms != MIG_DOWNTIME_UNKNOWN)
		hv_printf("expected-downtime: %lu ms (limit %lu ms)\n", mig.policy.expected_downtime_ms,
			  mig.params.downtime_limit_ms);
	else if (mig.role == MIG_ROLE_SOURCE)
		hv_printf("expected-downtime: unknown until round 1 ends (limit %lu ms)\n",
			  mig.params.downtime_limit_ms);
	u64 remaining = mig.status == MIG_COMPLETED ? 0 : s->remaining_pages * PAGE_SIZE;
	u64 bw = mig.policy.bandwidth;
	hv_printf("transferred: %lu bytes (precopy-bytes %lu, downtime-bytes %lu)\n", s->transferred,
		  s->precopy_bytes, s->downtime_bytes);
	hv_printf("remaining: %lu bytes%s", remaining, mig.role == MIG_ROLE_SOURCE && bw && remaining ? "" : "\n");
	if (mig.role == MIG_ROLE_SOURCE && bw && remaining)
		hv_printf(" (ETA %lu ms)\n", remaining * 1000 / bw);
	hv_printf("total: %lu bytes\n", s->total_pages * PAGE_SIZE);
	hv_printf("duplicate: %lu pages\nnormal: %lu pages\nnormal-bytes: %lu bytes\n", s->duplicate,
		  s->normal, s->normal * PAGE_SIZE);
	info_postcopy();
	if (mig.role != MIG_ROLE_SOURCE)
		return;
	hv_printf("pages-resent: %lu\n", s->pages_resent);
	hv_printf("dirty-pages-rate: %lu pages/s\n", mig.policy.dirty_rate);
	hv_printf("mbps: %lu.%02lu\n", bw * 8 / 1000000, (bw * 8 / 10000) % 100);
	hv_printf("pages-per-second: %lu\n", bw / PAGE_SIZE);
	hv_printf("dirty-sync-count: %u\n", s->dirty_sync_count);
	hv_printf("cpu-throttle-percentage: %u\n", mig.policy.throttle);
	if (mig.policy.nr_history) {
		hv_printf("rounds: %u (pages sent / dirtied during the round / ms)\n", mig.policy.rounds);
		for (u32 i = 0; i < mig.policy.nr_history; i++) {
			const struct mig_round *r = &mig.policy.history[i];
			hv_printf("  round %u: %lu / %lu / %lu\n", r->round, r->pages_sent, r->pages_dirtied,
				  r->duration_ns / 1000000);
		}
	}
	mig_source_info();
}
