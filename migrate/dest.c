/*
 * The destination side: listen, take one incoming stream at a time, check
 * its header before any page moves (RAM, CPU features, TSC rate), create
 * the VM from it, fill memory, load and validate every state section, ACK,
 * and run the VM only on GO (docs/migration-protocol.md). Anything wrong
 * before the ACK frees the partial VM and the host listens again; a GO
 * that never comes leaves the complete VM paused for migrate_continue.
 */
#include <tern/arch.h>
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

enum dphase { D_IDLE, D_STREAM, D_WAIT_GO, D_WAIT_CONTINUE };

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
} dst;

static struct log_limit busy_log = LOG_LIMIT("migrate: refused connections", 10000000000ULL, 3);

static void dest_release(void)
{
	mig_conn_close(&dst.conn);
	free(dst.dec);
	free(dst.cpu);
	dst.dec = NULL;
	dst.cpu = NULL;
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
	u8 ok[1];
	send_reply(ok, mig_enc_accept(ok));
	mig.stats.setup_end_ns = arch_time_ns();
	mig.stats.total_pages = h->ram_size / PAGE_SIZE;
	mig_set_status(MIG_EV_SETUP_DONE);
	hv_log("migrate: incoming VM from %s: %lu MiB RAM, TSC %lu Hz; receiving\n", mig.peer,
	       h->ram_size >> 20, h->tsc_hz);
	return 0;
}

static int on_page(void *ctx, u64 gfn, const u8 *data, char *why, size_t len)
{
	memcpy(dst.vm->ram + gfn * PAGE_SIZE, data, PAGE_SIZE);
	dst.pages++;
	mig.stats.normal++;
	return 0;
}

static int on_fill(void *ctx, u64 gfn, u8 byte, char *why, size_t len)
{
	memset(dst.vm->ram + gfn * PAGE_SIZE, byte, PAGE_SIZE);
	dst.pages++;
	mig.stats.duplicate++;
	return 0;
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

/* Everything arrived: load and validate it all, then ACK. */
static int on_end(void *ctx, bool has_digest, u64 digest, char *why, size_t len)
{
	struct vm *vm = dst.vm;
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
	if (mig.fault == MIG_FAULT_DROP_ACK) {
		hv_log("migrate: test fault drop-ack: everything loaded, ACK not sent\n");
	} else {
		u8 ack[1];
		send_reply(ack, mig_enc_ack(ack));
	}
	dst.phase = D_WAIT_GO;
	dst.wait_start_ns = arch_time_ns();
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

static const struct mig_dec_ops dec_ops = {
	.header = on_header,
	.page = on_page,
	.fill = on_fill,
	.section = on_section,
	.round = on_round,
	.end = on_end,
	.go = on_go,
};

/* Turn a connection away before it carries anything (logged, rate-limited). */
static err_t refuse_conn(struct tcp_pcb *pcb, const char *ip, const char *why)
{
	if (log_limit_ok(&busy_log, arch_time_ns()))
		hv_log("migrate: connection from %s refused: %s\n", ip, why);
	tcp_abort(pcb);
	return ERR_ABRT;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	if (err != ERR_OK || !pcb)
		return ERR_VAL;
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
	memset(&mig.stats, 0, sizeof(mig.stats));
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

static void feed_stream(void)
{
	static u8 buf[4096];
	for (size_t budget = RX_BUDGET; budget && dst.phase != D_IDLE;) {
		long n = mig_conn_recv(&dst.conn, buf, sizeof(buf));
		if (n == 0)
			return;
		if (n < 0) {
			if (dst.phase == D_STREAM)
				dest_discard(n == TCP_PIPE_CLOSED ? "the source closed the connection mid-stream"
								  : "the connection from the source failed mid-stream");
			else
				return; /* D_WAIT_GO: handled by the caller */
			return;
		}
		budget -= MIN(budget, (size_t)n);
		mig.stats.transferred += (u64)n;
		mig_dec_feed(dst.dec, buf, (size_t)n);
		if (dst.dec->status == MIG_DEC_ERROR) {
			char why[200];
			snprintf(why, sizeof(why), "%s", dst.dec->error);
			if (dst.phase == D_STREAM) {
				refuse(why);
				dest_discard(why);
			} else {
				hv_log("migrate: after ACK the source sent something other than GO: %s\n", why);
				dst.phase = D_WAIT_CONTINUE;
			}
			return;
		}
		if (dst.go) {
			run_here("GO received");
			return;
		}
	}
}

static void wait_continue(const char *what)
{
	dst.phase = D_WAIT_CONTINUE;
	mig_conn_close(&dst.conn);
	mig_report("migrate: %s after ACK: the VM stays paused here, complete. If the source says it "
	       "handed the VM over (or the source is down), type migrate_continue here; if the source "
	       "says the VM runs there, do not.\n", what);
}

void mig_dest_poll(u64 now)
{
	if (dst.phase == D_IDLE || dst.phase == D_WAIT_CONTINUE)
		return;
	if (mig_conn_failed(&dst.conn)) {
		if (dst.phase == D_STREAM)
			dest_discard("the connection from the source was reset mid-stream");
		else
			wait_continue("GO not received (the connection was reset)");
		return;
	}
	int up = mig_conn_progress(&dst.conn);
	if (up < 0) {
		dest_discard(dst.conn.tls_error);
		return;
	}
	if (up)
		feed_stream();
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
}
