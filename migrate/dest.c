/*
 * The destination side: listen, take one incoming stream at a time, check
 * its header before any page moves (RAM, CPU features, TSC rate), create
 * the VM from it, fill memory, load and validate every state section, ACK,
 * and run the VM only on GO (docs/migration-protocol.md). Anything wrong
 * before the ACK frees the partial VM and the host listens again; a GO
 * that never comes leaves the complete VM paused for migrate_continue.
 *
 * Post-copy: the stream ends its first part with the MAP of the pages
 * still to come and POSTCOPY instead of END. Those pages become absent
 * (hv/vm_absent.c) and the VM runs on GO; a page the vCPU waits for is
 * asked for at once (REQ, on the reply direction, which carries nothing
 * else), the others arrive as the source pushes them. A page that is here
 * already is never written again: the guest may have changed it. After
 * END and the last page, COMPLETE lets the source free its copy. A broken
 * link pauses (postcopy-paused): the guest runs on until it touches a page
 * that has not arrived, and migrate_recover waits for the source's
 * migrate -r, which gets the map of the pages that are here (HAVE).
 */
#include <tern/arch.h>
#include <tern/bitmap.h>
#include <tern/log.h>
#include <tern/tls.h>
#include <tern/vcpu_state.h>
#include <tern/vm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"
#include "sections.h"
#include "lwip/tcp.h"

#define RX_BUDGET (256 * 1024) /* bytes per poll: the console stays responsive */

enum dphase {
	D_IDLE, D_STREAM, D_WAIT_GO, D_WAIT_CONTINUE,
	D_PC_LIVE,    /* post-copy: the VM runs here, pages arriving */
	D_PC_PAUSED,  /* ... the link is gone: waiting for migrate_recover */
	D_PC_LISTEN,  /* migrate_recover: listening for the source's migrate -r */
	D_PC_RESUME,  /* connected: header and RESUME expected */
};

static struct {
	enum dphase phase;
	struct mig_conn conn;
	struct mig_dec *dec;
	struct vm *vm;
	struct mig_header hdr;
	struct vcpu_state *cpu;
	u32 have;          /* bit i: sections[i] arrived */
	struct mig_sec_timer timer;
	struct vuart_state uart;
	struct mig_sec_time time;
	struct vlapic_state pc;
	u32 rounds;
	u64 pages;
	u64 wait_start_ns;
	bool go;
	/* post-copy */
	u64 *map;          /* MAP: the pages still to come (bits) */
	u64 *requested;    /* REQ sent on this connection */
	bool postcopy;     /* POSTCOPY arrived: the VM runs before its pages */
	bool complete;     /* END of a post-copy stream: every page is here */
	u64 id;
} dst;

static struct log_limit busy_log = LOG_LIMIT("migrate: refused connections", 10000000000ULL, 3);

static void dest_release(void)
{
	mig_conn_close(&dst.conn);
	free(dst.dec);
	free(dst.cpu);
	free(dst.map);
	free(dst.requested);
	dst.dec = NULL;
	dst.cpu = NULL;
	dst.map = dst.requested = NULL;
	dst.phase = D_IDLE;
}

/* Before ACK: nothing of the VM may survive; the host listens again. */
static void dest_discard(const char *reason)
{
	char why[200]; /* reason may live in what dest_release clears */
	snprintf(why, sizeof(why), "%s", reason);
	if (dst.vm) {
		vm_destroy(dst.vm);
		dst.vm = NULL;
	}
	dest_release();
	mig_fail("%s; the partial VM was freed, listening again on port %u", why, mig.listen_port);
}

static void send_reply(const u8 *b, size_t n)
{
	/* Replies are tiny and TCP's buffer is empty on this direction. */
	if (mig_conn_send(&dst.conn, b, n) != (long)n)
		hv_log("migrate: could not queue a %zu-byte reply\n", n);
}

static void refuse(const char *why)
{
	u8 buf[3 + MIG_REASON_MAX];
	send_reply(buf, mig_enc_refuse(buf, why));
}

static int on_header(void *ctx, const struct mig_header *h, char *why, size_t len)
{
	if (dst.phase == D_PC_RESUME) {
		if (!(h->caps & MIG_CAP_RESUME) || h->ram_size != dst.vm->ram_size) {
			snprintf(why, len, "this host waits for the post-copy of its %lu MiB VM to resume, "
				 "not a new migration", dst.vm->ram_size >> 20);
			return -1;
		}
		return 0; /* RESUME follows */
	}
	if (h->caps & MIG_CAP_RESUME) {
		snprintf(why, len, "no post-copy is paused here to resume");
		return -1;
	}
	struct mig_cpu_fp here;
	arch_cpu_fingerprint(&here);
	if (mig_fp_check(&h->fp, &here, why, len))
		return -1;
	if (mig_tsc_check(h->tsc_hz, arch_tsc_hz(), why, len))
		return -1;
	if (the_vm) {
		snprintf(why, len, "this host already has a VM (%s)", vm_state_name(the_vm->state));
		return -1;
	}
	if (vm_create_incoming(mig.slot, h->ram_size, mig.pmm, why, len))
		return -1;
	dst.vm = mig.slot;
	dst.hdr = *h;
	u64 words = BITMAP_WORDS(h->ram_size / PAGE_SIZE);
	dst.map = calloc(words, sizeof(u64));
	dst.requested = calloc(words, sizeof(u64));
	if (!dst.map || !dst.requested) {
		snprintf(why, len, "out of memory for the page maps");
		return -1; /* dest_discard frees the VM */
	}
	u8 ok[1];
	send_reply(ok, mig_enc_accept(ok));
	mig.stats.setup_end_ns = arch_time_ns();
	mig.stats.total_pages = h->ram_size / PAGE_SIZE;
	mig_set_status(MIG_EV_SETUP_DONE);
	hv_log("migrate: incoming VM from %s: %lu MiB RAM, TSC %lu Hz; receiving\n", mig.peer,
	       h->ram_size >> 20, h->tsc_hz);
	return 0;
}

/* Post-copy: only a page that has not arrived is written; any other copy
 * is older than what the guest has (it may have written the page since). */
static bool take_page(u64 gfn)
{
	if (!dst.dec->postcopy_live)
		return true;
	if (!vm_page_absent(dst.vm, gfn)) {
		mig.pc.pages_dropped++;
		return false;
	}
	return true;
}

static void page_in(u64 gfn)
{
	dst.pages++;
	if (dst.dec->postcopy_live) {
		mig.pc.pages_arrived++;
		vm_page_arrived(dst.vm, gfn);
	}
}

static int on_page(void *ctx, u64 gfn, const u8 *data, char *why, size_t len)
{
	if (!take_page(gfn))
		return 0;
	memcpy(dst.vm->ram + gfn * PAGE_SIZE, data, PAGE_SIZE);
	mig.stats.normal++;
	page_in(gfn);
	return 0;
}

static int on_fill(void *ctx, u64 gfn, u8 byte, char *why, size_t len)
{
	if (!take_page(gfn))
		return 0;
	memset(dst.vm->ram + gfn * PAGE_SIZE, byte, PAGE_SIZE);
	mig.stats.duplicate++;
	page_in(gfn);
	return 0;
}

static int on_map(void *ctx, u64 first_gfn, const u64 *words, u16 nwords, char *why, size_t len)
{
	if (mig_map_apply(dst.map, dst.vm->ram_size / PAGE_SIZE, first_gfn, words, nwords, false))
		return 0;
	snprintf(why, len, "MAP at gfn %#lx (%u words) does not fit the VM", first_gfn, nwords);
	return -1;
}

/* Each section: where it lands, the version this host reads, its size. */
static const struct {
	u32 id, version, size;
	const char *name;
	bool optional; /* only some VMs have it */
} sections[] = {
	{ MIG_SEC_CPU, VCPU_STATE_VERSION, sizeof(struct vcpu_state), "cpu", false },
	{ MIG_SEC_TIMER, MIG_TIMER_VERSION, sizeof(struct mig_sec_timer), "timer", false },
	{ MIG_SEC_UART, MIG_UART_VERSION, sizeof(struct vuart_state), "uart", false },
	{ MIG_SEC_TIME, MIG_TIME_VERSION, sizeof(struct mig_sec_time), "time", false },
	{ MIG_SEC_PC, MIG_PC_VERSION, sizeof(struct vlapic_state), "pc", true },
};
#define HAVE_PC (1u << 4)

static void *section_dest(u32 id)
{
	switch (id) {
	case MIG_SEC_CPU: return dst.cpu;
	case MIG_SEC_TIMER: return &dst.timer;
	case MIG_SEC_UART: return &dst.uart;
	case MIG_SEC_PC: return &dst.pc;
	default: return &dst.time;
	}
}

/* The fields a section's size cannot vouch for. */
static int section_check(u32 id, char *why, size_t len)
{
	if (id == MIG_SEC_TIMER && ((dst.timer.deadline_ns && (dst.timer.vector < 32 ||
							     dst.timer.vector > 255)) ||
				    dst.timer.halted > 1)) {
		snprintf(why, len, "timer section: vector %u, halted %u out of range", dst.timer.vector,
			 dst.timer.halted);
		return -1;
	}
	return 0; /* cpu and uart: arch_vcpu_load and vuart_load check it all at the end */
}

static int on_section(void *ctx, u32 id, u32 version, const u8 *data, u32 dlen, char *why,
		      size_t len)
{
	for (unsigned i = 0; i < ARRAY_SIZE(sections); i++) {
		if (sections[i].id != id)
			continue;
		if (version != sections[i].version || dlen != sections[i].size) {
			snprintf(why, len, "%s section: version %u, %u bytes; this host reads version %u, %u bytes",
				 sections[i].name, version, dlen, sections[i].version, sections[i].size);
			return -1;
		}
		memcpy(section_dest(id), data, dlen);
		if (section_check(id, why, len))
			return -1;
		dst.have |= 1u << i;
		return 0;
	}
	snprintf(why, len, "unknown section %u (version %u, %u bytes)", id, version, dlen);
	return -1;
}

static int on_round(void *ctx, u32 round, char *why, size_t len)
{
	dst.rounds = round;
	return 0;
}

/* Every section arrived: load and validate them all (END or POSTCOPY). */
static int load_state(char *why, size_t len)
{
	struct vm *vm = dst.vm;
	const char *err;
	if (vuart_load(&vm->uart, &dst.uart, &err)) {
		snprintf(why, len, "%s", err);
		return -1;
	}
	if (dst.have & HAVE_PC) {
		vm_pc_adopt(vm);
		if (vlapic_load(&vm->vcpu.lapic, &dst.pc, &err)) {
			snprintf(why, len, "pc section: %s", err);
			return -1;
		}
	}
	if (arch_vcpu_load(&vm->vcpu, dst.cpu, why, len))
		return -1;
	vm->vcpu.timer_deadline_ns = dst.timer.deadline_ns;
	vm->vcpu.timer_vector = (u8)dst.timer.vector;
	vm->vcpu.halted = dst.timer.halted;
	return 0;
}

static int sections_complete(const char *what, char *why, size_t len)
{
	if (!dst.vm) {
		snprintf(why, len, "%s before any VM was created", what);
		return -1;
	}
	for (unsigned i = 0; i < ARRAY_SIZE(sections); i++)
		if (!(dst.have & (1u << i)) && !sections[i].optional) {
			snprintf(why, len, "stream ended without the %s section", sections[i].name);
			return -1;
		}
	return 0;
}

static void send_ack(void)
{
	if (mig.fault == MIG_FAULT_DROP_ACK) {
		hv_log("migrate: test fault drop-ack: everything loaded, ACK not sent\n");
	} else {
		u8 ack[1];
		send_reply(ack, mig_enc_ack(ack));
	}
	dst.phase = D_WAIT_GO;
	dst.wait_start_ns = arch_time_ns();
}

/* The state is here, the MAP'd pages are not: they become absent, then ACK. */
static int on_postcopy(void *ctx, u64 id, char *why, size_t len)
{
	if (sections_complete("POSTCOPY", why, len) || load_state(why, len))
		return -1;
	if (vm_absent_begin(dst.vm, dst.map)) {
		snprintf(why, len, "out of memory for post-copy (EPT tables)");
		return -1;
	}
	dst.postcopy = true;
	dst.id = id;
	mig.pc.pages_at_switch = dst.vm->absent.count;
	mig_set_status(MIG_EV_POSTCOPY);
	send_ack();
	hv_log("migrate: post-copy: state loaded after %lu pages, %lu pages to come; waiting for GO\n",
	       dst.pages, dst.vm->absent.count);
	return 0;
}

/* Post-copy's END: the source sent every page. */
static int on_end_postcopy(char *why, size_t len)
{
	if (dst.vm->absent.map) {
		snprintf(why, len, "END with %lu pages still missing", dst.vm->absent.count);
		return -1;
	}
	dst.complete = true;
	return 0;
}

/* Everything arrived: load and validate it all, then ACK. */
static int on_end(void *ctx, bool has_digest, u64 digest, char *why, size_t len)
{
	struct vm *vm = dst.vm;
	if (dst.postcopy)
		return on_end_postcopy(why, len);
	if (!vm) {
		snprintf(why, len, "END before any VM was created");
		return -1;
	}
	for (unsigned i = 0; i < ARRAY_SIZE(sections); i++)
		if (!(dst.have & (1u << i)) && !sections[i].optional) {
			snprintf(why, len, "stream ended without the %s section", sections[i].name);
			return -1;
		}
	if ((dst.hdr.caps & MIG_CAP_VALIDATE_RAM) && !has_digest) {
		snprintf(why, len, "validate-ram was announced but END carries no digest");
		return -1;
	}
	if (has_digest) {
		u64 here = mig_ram_digest(vm->ram, vm->ram_size);
		if (here != digest) {
			snprintf(why, len, "validate-ram: RAM digest %#lx, the source's %#lx", here, digest);
			return -1;
		}
		hv_log("migrate: validate-ram: all %lu MiB match the source's digest\n", vm->ram_size >> 20);
	}
	if (load_state(why, len))
		return -1;
	send_ack();
	mig_set_status(MIG_EV_STOP_COPY);
	hv_log("migrate: stream complete (%lu pages, %u rounds), state loaded; waiting for GO\n",
	       dst.pages, dst.rounds);
	return 0;
}

/* The VM's clock and TSC continue from their values at the stop. */
static void run_here(const char *how)
{
	struct vm *vm = dst.vm;
	vm_clock_set(vm, dst.time.vm_clock_ns);
	arch_vcpu_set_tsc(&vm->vcpu, dst.time.guest_tsc);
	vm->started_ns = arch_time_ns();
	vm->state = VM_RUNNING;
	if (dst.postcopy) {
		/* The pages follow: the connection stays, the status too. */
		mig.pc.live_start_ns = vm->started_ns;
		dst.phase = D_PC_LIVE;
		mig_report("migrate: %s: the VM runs on this host now (from %s); post-copy: %lu pages to come\n",
			   how, mig.peer, vm->absent.count);
		return;
	}
	mig.stats.end_ns = arch_time_ns();
	mig.stats.pause_ns = mig.stats.end_ns;
	mig_set_status(MIG_EV_DONE);
	mig_report("migrate: %s: the VM runs on this host now (from %s)\n", how, mig.peer);
	dst.vm = NULL;
	dest_release();
}

static int on_go(void *ctx, char *why, size_t len)
{
	dst.go = true;
	return 0;
}

/* Which pages are here, for the source's migrate -r (it resends the rest). */
static int send_have(void)
{
	u64 pages = dst.vm->ram_size / PAGE_SIZE, words = BITMAP_WORDS(pages);
	u8 buf[MIG_MAP_HDR_LEN + 8 * MIG_HAVE_WORDS_MAX];
	/* dst.requested is free here (a new connection asks afresh): it holds the map. */
	u64 *have = dst.requested;
	mig_map_invert(have, dst.vm->absent.map, pages);
	for (u64 w = 0; w < words; w += MIG_HAVE_WORDS_MAX) {
		u16 n = (u16)MIN(words - w, (u64)MIG_HAVE_WORDS_MAX);
		size_t len = mig_enc_have(buf, w * 64, have + w, n);
		if (mig_conn_send(&dst.conn, buf, len) != (long)len)
			return -1;
	}
	size_t len = mig_enc_have_end(buf);
	return mig_conn_send(&dst.conn, buf, len) == (long)len ? 0 : -1;
}

static void request(u64 gfn)
{
	u8 rec[9];
	if (bitmap_test(dst.requested, gfn))
		return;
	if (mig_conn_send(&dst.conn, rec, mig_enc_req(rec, gfn)) != 9)
		return; /* asked again on the next poll (dest_poll) */
	bitmap_set(dst.requested, gfn);
	mig.pc.requests++;
}

static int on_resume(void *ctx, u64 id, char *why, size_t len)
{
	if (id != dst.id) {
		snprintf(why, len, "RESUME of migration %#lx; the VM here came with %#lx", id, dst.id);
		return -1;
	}
	int sent = send_have();
	memset(dst.requested, 0, BITMAP_WORDS(dst.vm->ram_size / PAGE_SIZE) * sizeof(u64));
	if (sent) {
		snprintf(why, len, "could not queue the page map for the source");
		return -1;
	}
	dst.phase = D_PC_LIVE;
	mig.pc.recoveries++;
	mig_set_status(MIG_EV_RECOVERED);
	mig_report("migrate: post-copy recovered: %s reconnected; %lu pages still to come\n", mig.peer,
		   dst.vm->absent.count);
	return 0;
}

static const struct mig_dec_ops dec_ops = {
	.header = on_header,
	.page = on_page,
	.fill = on_fill,
	.section = on_section,
	.round = on_round,
	.end = on_end,
	.go = on_go,
	.map = on_map,
	.postcopy = on_postcopy,
	.resume = on_resume,
};

/* Post-copy after GO: the link failed. The VM stays here (it may have run);
 * the vCPU goes on until it needs a page that has not arrived. */
static void dest_pc_paused(const char *reason)
{
	char why[200];
	snprintf(why, sizeof(why), "%s", reason);
	mig_conn_close(&dst.conn);
	dst.phase = D_PC_PAUSED;
	mig_set_status(MIG_EV_PAUSE);
	mig_report("migrate: postcopy-paused: %s. %lu pages have not arrived; the guest runs until it "
		   "needs one, then waits. If the source is up: migrate_recover tcp:0:PORT here, then "
		   "migrate -r tcp:HOST:PORT there. If the source is down, the VM cannot be completed: "
		   "it stays paused here.\n", why, dst.vm->absent.count);
}

/* Turn a connection away before it carries anything (logged, rate-limited). */
static err_t refuse_conn(struct tcp_pcb *pcb, const char *ip, const char *why)
{
	if (log_limit_ok(&busy_log, arch_time_ns()))
		hv_log("migrate: connection from %s refused: %s\n", ip, why);
	tcp_abort(pcb);
	return ERR_ABRT;
}

/* migrate_recover's listener: the source's migrate -r, in place of the old
 * connection; the VM and its maps stay as they are. */
static err_t accept_resume(struct tcp_pcb *pcb)
{
	char ip[16];
	ip4addr_ntoa_r(&pcb->remote_ip, ip, sizeof(ip));
	if (mig_conn_accept(&dst.conn, pcb, mig.tls_creds))
		return refuse_conn(pcb, ip, "out of TLS memory");
	mig_dec_init(dst.dec, &dec_ops, NULL);
	snprintf(mig.peer, sizeof(mig.peer), "%s:%u", ip, pcb->remote_port);
	dst.phase = D_PC_RESUME;
	hv_log("migrate: post-copy: %s connected to resume\n", mig.peer);
	return ERR_OK;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	if (err != ERR_OK || !pcb)
		return ERR_VAL;
	if (dst.phase == D_PC_LISTEN)
		return accept_resume(pcb);
	const char *busy = dst.phase != D_IDLE ? "a migration is already arriving"
			   : the_vm                ? "this host already runs a VM"
			   : mig_status_busy(mig.status) ? "a migration is in progress"
							 : NULL;
	char ip[16];
	ip4addr_ntoa_r(&pcb->remote_ip, ip, sizeof(ip));
	bool secure = mig.tls_creds;
	if (!busy && (secure ? !tls_key_ready(TLS_KEY_MIGRATE) : !mig.plain_allowed))
		busy = secure ? "no migration key (boot option migrate_psk=)"
			      : "plaintext migration is off (boot option migrate_plain)";
	if (busy)
		return refuse_conn(pcb, ip, busy);
	/* dst is idle (checked above): it may take this connection. The pipe
	 * and TLS keep pointers into dst.conn, so it is set up in place. */
	memset(&dst, 0, sizeof(dst));
	dst.dec = malloc(sizeof(*dst.dec));
	dst.cpu = malloc(sizeof(*dst.cpu));
	bool mem = dst.dec && dst.cpu;
	if (!mem || mig_conn_accept(&dst.conn, pcb, secure)) {
		free(dst.dec);
		free(dst.cpu);
		memset(&dst, 0, sizeof(dst));
		return refuse_conn(pcb, ip, mem ? "out of TLS memory" : "out of memory");
	}
	mig_dec_init(dst.dec, &dec_ops, NULL);
	mig_stats_reset();
	mig.error[0] = '\0';
	snprintf(mig.peer, sizeof(mig.peer), "%s:%u", ip, pcb->remote_port);
	mig.role = MIG_ROLE_DEST;
	mig.stats.start_ns = arch_time_ns();
	mig_set_status(MIG_EV_START);
	dst.phase = D_STREAM;
	hv_log("migrate: incoming connection from %s\n", mig.peer);
	return ERR_OK;
}

int mig_dest_listen(u16 port, char *why, size_t len)
{
	if (mig.listener) {
		if (mig.listen_port == port)
			return 0;
		tcp_close(mig.listener);
		mig.listener = NULL;
	}
	struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
	if (!pcb) {
		snprintf(why, len, "out of TCP connections");
		return -1;
	}
	err_t e = tcp_bind(pcb, IP4_ADDR_ANY, port);
	if (e != ERR_OK) {
		tcp_close(pcb);
		snprintf(why, len, "cannot listen on port %u (lwIP error %d)", port, e);
		return -1;
	}
	struct tcp_pcb *l = tcp_listen_with_backlog_and_err(pcb, 1, &e);
	if (!l) {
		tcp_close(pcb);
		snprintf(why, len, "cannot listen on port %u (lwIP error %d)", port, e);
		return -1;
	}
	tcp_accept(l, on_accept);
	mig.listener = l;
	mig.listen_port = port;
	return 0;
}

static bool pc_phase(void)
{
	return dst.phase >= D_PC_LIVE;
}

/* Post-copy's END and the last page are in: the source may free its copy. */
static void pc_complete(void)
{
	u8 rec[1];
	send_reply(rec, mig_enc_complete(rec));
	mig.stats.end_ns = mig.pc.live_end_ns = arch_time_ns();
	mig_set_status(MIG_EV_DONE);
	mig_report("migrate: completed (post-copy): every page arrived from %s; %lu asked for, %lu "
		   "waits of the vCPU (median %lu us, max %lu us), %lu ms waiting in all\n", mig.peer,
		   mig.pc.requests, mig.pc.lat.count, mig_lat_median(&mig.pc.lat) / 1000,
		   mig.pc.lat.max / 1000, dst.vm->stats.blocked_ns / 1000000);
	dst.vm = NULL;
	dest_release();
}

static void feed_stream(void)
{
	static u8 buf[4096];
	for (size_t budget = RX_BUDGET; budget && dst.phase != D_IDLE;) {
		long n = mig_conn_recv(&dst.conn, buf, sizeof(buf));
		if (n == 0)
			break;
		if (n < 0) {
			const char *why = n == TCP_PIPE_CLOSED ? "the source closed the connection"
							       : "the connection from the source failed";
			if (dst.phase == D_STREAM)
				dest_discard(why);
			else if (pc_phase())
				dest_pc_paused(why);
			return; /* D_WAIT_GO: handled by the caller */
		}
		budget -= MIN(budget, (size_t)n);
		mig.stats.transferred += (u64)n;
		if (pc_phase())
			mig.pc.bytes += (u64)n;
		mig_dec_feed(dst.dec, buf, (size_t)n);
		if (dst.dec->status == MIG_DEC_ERROR) {
			char why[200];
			snprintf(why, sizeof(why), "%s", dst.dec->error);
			if (dst.phase == D_STREAM) {
				refuse(why);
				dest_discard(why);
			} else if (pc_phase()) {
				refuse(why);
				dest_pc_paused(why);
			} else {
				hv_log("migrate: after ACK the source sent something other than GO: %s\n", why);
				dst.phase = D_WAIT_CONTINUE;
			}
			break;
		}
		if (dst.go) {
			dst.go = false;
			run_here("GO received");
			if (dst.phase == D_IDLE)
				return;
		}
		if (dst.complete) {
			if (dst.vm)
				vm_absent_flush(dst.vm);
			pc_complete();
			return;
		}
	}
	if (dst.vm && dst.postcopy)
		vm_absent_flush(dst.vm);
}

static void wait_continue(const char *what)
{
	dst.phase = D_WAIT_CONTINUE;
	mig_conn_close(&dst.conn);
	if (dst.postcopy) {
		/* Post-copy: the source kept the pages in the MAP; the VM can run
		 * here only with them (migrate_continue, then migrate_recover). */
		mig_report("migrate: %s after ACK: the VM stays paused here, its state loaded and %lu pages "
			   "still at the source. If the source says it handed the VM over, type migrate_continue, "
			   "then migrate_recover tcp:0:PORT for the pages; if the source says the VM runs there, "
			   "type migrate_cancel.\n", what, dst.vm->absent.count);
		return;
	}
	mig_report("migrate: %s after ACK: the VM stays paused here, complete. If the source says it "
	       "handed the VM over (or the source is down), type migrate_continue here; if the source "
	       "says the VM runs there, do not.\n", what);
}

void mig_dest_poll(u64 now)
{
	if (dst.phase == D_IDLE || dst.phase == D_WAIT_CONTINUE || dst.phase == D_PC_PAUSED ||
	    dst.phase == D_PC_LISTEN)
		return;
	if (mig_conn_failed(&dst.conn)) {
		if (pc_phase())
			dest_pc_paused("the connection from the source was reset");
		else if (dst.phase == D_STREAM)
			dest_discard("the connection from the source was reset mid-stream");
		else
			wait_continue("GO not received (the connection was reset)");
		return;
	}
	int up = mig_conn_progress(&dst.conn);
	if (up < 0) {
		if (pc_phase())
			dest_pc_paused(dst.conn.tls_error);
		else
			dest_discard(dst.conn.tls_error);
		return;
	}
	if (up)
		feed_stream();
	if (pc_phase()) {
		struct vcpu *vcpu = &dst.vm->vcpu;
		/* A request whose send failed, or one from before a recovery. */
		if (dst.phase == D_PC_LIVE && vcpu_blocked(vcpu))
			request(vcpu->wait_gfn);
		if (mig_since(now, dst.conn.last_rx_ns) > MIG_IDLE_TIMEOUT_NS)
			dest_pc_paused("nothing received from the source for 10 s");
		return;
	}
	if (dst.phase == D_STREAM && mig_since(now, dst.conn.last_rx_ns) > MIG_IDLE_TIMEOUT_NS) {
		refuse("nothing received for 10 s");
		dest_discard("nothing received from the source for 10 s");
		return;
	}
	if (dst.phase == D_WAIT_GO) {
		if (dst.conn.pipe.peer_fin && !dst.conn.pipe.rx)
			wait_continue("GO not received (the source closed the connection)");
		else if (mig_since(now, dst.wait_start_ns) > MIG_GO_TIMEOUT_NS)
			wait_continue("GO not received within 10 s");
	}
}

void mig_dest_cancel(void)
{
	if (dst.phase == D_IDLE) {
		hv_printf("error: no migration is arriving\n");
		return;
	}
	if (dst.phase == D_PC_PAUSED || dst.phase == D_PC_LISTEN) {
		/* The operator says the source is gone (it cannot be told from a
		 * lost link here). Without its pages the VM cannot go on. */
		mig_set_status(MIG_EV_ERROR);
		snprintf(mig.error, sizeof(mig.error), "post-copy given up: the source is lost");
		mig.stats.end_ns = arch_time_ns();
		if (!dst.vm->absent.map) {
			mig_report("migrate: post-copy given up, but every page had arrived: the VM is "
				   "complete and runs on here\n");
		} else {
			dst.vm->state = VM_PAUSED;
			mig_report("migrate: the VM cannot be completed: the source is lost with %lu pages "
				   "that only it had; the VM stays paused here\n", dst.vm->absent.count);
		}
		dst.vm = NULL;
		dest_release();
		return;
	}
	if (pc_phase()) {
		hv_printf("error: the VM runs here (post-copy) with %lu pages that only the source has; "
			  "it cannot be cancelled (migrate_pause first, if the source is lost)\n",
			  dst.vm->absent.count);
		return;
	}
	if (dst.phase == D_WAIT_CONTINUE) {
		/* The operator read the source's console: the VM runs there. */
		vm_destroy(dst.vm);
		dst.vm = NULL;
		dest_release();
		mig_set_status(MIG_EV_CANCEL);
		mig_set_status(MIG_EV_CANCELLED);
		hv_log("migrate: the paused copy was discarded (right only when the source says the VM "
		       "runs there); listening again on port %u\n", mig.listen_port);
		return;
	}
	if (dst.phase != D_STREAM) {
		hv_printf("error: the stream is complete and ACKed; wait for GO (at most 10 s)\n");
		return;
	}
	mig_set_status(MIG_EV_CANCEL);
	if (dst.vm) {
		vm_destroy(dst.vm);
		dst.vm = NULL;
	}
	dest_release();
	mig_set_status(MIG_EV_CANCELLED);
	hv_log("migrate: incoming migration cancelled; the partial VM was freed\n");
}

void mig_dest_continue(void)
{
	if (dst.phase != D_WAIT_CONTINUE) {
		hv_printf("error: no incoming VM waits for migrate_continue%s\n",
			  dst.phase == D_WAIT_GO ? " (still waiting for GO)" : "");
		return;
	}
	run_here("migrate_continue");
	if (dst.postcopy) /* its pages come with migrate_recover */
		dest_pc_paused("GO was lost; the VM was started by migrate_continue");
}

int mig_dest_recover(u16 port, char *why, size_t len)
{
	if (dst.phase != D_PC_PAUSED && dst.phase != D_PC_LISTEN) {
		snprintf(why, len, "migrate_recover resumes a paused post-copy; none here (%s)",
			 mig_status_name(mig.status));
		return -1;
	}
	if (mig_dest_listen(port, why, len))
		return -1;
	if (dst.phase == D_PC_PAUSED)
		mig_set_status(MIG_EV_RECOVER);
	dst.phase = D_PC_LISTEN;
	return 0;
}

void mig_dest_pause(void)
{
	if (!pc_phase() || dst.phase == D_PC_PAUSED) {
		hv_printf("error: migrate_pause pauses a post-copy after GO; there is none (%s)\n",
			  mig_status_name(mig.status));
		return;
	}
	if (dst.phase == D_PC_LISTEN) {
		dst.phase = D_PC_PAUSED;
		mig_set_status(MIG_EV_PAUSE);
		hv_printf("migrate: postcopy-paused: no longer waiting for migrate -r\n");
		return;
	}
	dest_pc_paused("migrate_pause by the operator");
}

void mig_dest_page_wanted(u64 gfn)
{
	if (dst.phase == D_PC_LIVE)
		request(gfn);
}

void mig_dest_info(void)
{
	if (!dst.postcopy || !dst.vm)
		return;
	hv_printf("postcopy-pages-missing: %lu\n", dst.vm->absent.count);
}
