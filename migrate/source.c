/*
 * The source side of a migration: connect, offer the header, stream RAM in
 * rounds while the guest runs, then pause it, send what is left and the
 * CPU/device/time state, and hand over on ACK (docs/migration.md,
 * docs/migration-protocol.md). Everything happens in small steps from
 * migrate_poll(), so the console, the NIC and the guest keep their share.
 *
 * Memory consistency: the dirty log starts before the first page is read,
 * and each round ends with a harvest, so a write that lands after a page was
 * read is in a later round's set or in the final one (the log may report a
 * page twice, never miss one: tern/dirty.h).
 *
 * Post-copy (docs/migration.md): instead of the final copy, the switch
 * pauses the guest, sends its state and the MAP of the pages still to come,
 * and after the ACK hands the VM over at once; the destination runs it and
 * asks for pages as it touches them. Asked-for pages go first, the rest are
 * pushed (pre-paging, near the latest fault first), with few bytes in
 * flight, so that a request never waits behind much. From the hand-over on
 * the guest can never run here again: a broken link pauses the migration
 * (postcopy-paused) with every page kept, until migrate -r reconnects and
 * the destination says which pages it has.
 */
#include <tern/arch.h>
#include <tern/bitmap.h>
#include <tern/console.h>
#include <tern/dirty.h>
#include <tern/log.h>
#include <tern/vcpu_state.h>
#include <tern/vm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"
#include "sections.h"

#define BATCH 16                   /* pages per PAGES record */
#define OUT_CAP (3 + BATCH * MIG_PAGE_ENTRY_MAX)
#define STALL_NS (10ULL * 1000000000ULL) /* bytes owed, nothing acknowledged: the link is gone */
#define GO_FLUSH_NS (5ULL * 1000000000ULL)
/* Post-copy: at most this much handed to TCP and not yet acknowledged, so
 * that a requested page waits behind little (about 16 ms at 1 MiB/s). */
#define PC_INFLIGHT (16 * 1024)

/* Order matters: flush() counts bytes by phase. */
enum phase {
	S_IDLE, S_CONNECTING, S_WAIT_ACCEPT, S_ROUNDS,
	S_FINAL, S_PC_STATE, S_WAIT_ACK, S_GO_FLUSH, /* the guest paused (or gone) */
	S_PC_LIVE,      /* post-copy: the guest runs there; serving requests, pushing the rest */
	S_PC_END,       /* every page sent, END too: waiting for COMPLETE */
	S_PC_PAUSED,    /* the link failed: every page kept, waiting for migrate -r */
	S_PC_RECONNECT, /* migrate -r: connecting */
	S_PC_HAVE,      /* reconnected: reading which pages the destination has */
};

static struct {
	enum phase phase;
	struct mig_conn conn;
	struct vm *vm;
	bool was_running;          /* resume only what ran before */
	u64 nr_pages;
	u64 *send, *held, *prev, *dirty, *sent_once;
	u64 cursor;
	u32 round;
	struct mig_round cur;
	u64 round_start_ns;
	u64 round_start_bytes;     /* mig.stats.transferred when the round began */
	u64 live_start_ns, live_sent;
	u8 *out;
	size_t out_len, out_off;
	int final_step;            /* FINAL: 0 pages, 1..5 sections, 6 END, 7 sent;
				    * PC_STATE: 1..5 sections, 6 the CR3 page, 7 MAP, 8 POSTCOPY */
	struct vcpu_state *cpu;
	/* post-copy: send holds the pages the destination still needs */
	bool postcopy;             /* the switch happened (state sent or being sent) */
	bool handed_over;          /* ACK seen: the guest never runs here again */
	u64 id;                    /* this migration, for RESUME */
	u64 map_word;              /* PC_STATE: the next MAP word to send */
	struct mig_req_queue reqs;
	struct mig_prepage prepage;
	u64 pc_wait_ns;            /* PC_END: since; PC_HAVE: since */
	u64 pc_pushed_bytes;       /* pushed (not asked-for) since GO: what max-bandwidth paces */
	u32 recover_addr_be;
	u16 recover_port;
	struct mig_reply_dec rep;
	u64 wait_start_ns;
	u64 acked_seen, ack_progress_ns;
} src;

static void free_buffers(void)
{
	free(src.send);
	free(src.held);
	free(src.prev);
	free(src.dirty);
	free(src.sent_once);
	free(src.out);
	free(src.cpu);
	src.send = src.held = src.prev = src.dirty = src.sent_once = NULL;
	src.out = NULL;
	src.cpu = NULL;
}

/* Back to no migration: the guest runs on as if nothing happened. */
static void source_release(bool resume)
{
	mig_conn_close(&src.conn);
	if (src.vm) {
		dirty_log_stop(src.vm);
		if (resume && src.vm->state == VM_FINISH_MIGRATE) {
			/* As on a destination, the guest's clock and TSC continue from
			 * the stop: the pause for a failed handover is invisible. */
			vm_clock_set(src.vm, vm_clock_ns(src.vm, mig.stats.pause_ns));
			arch_vcpu_set_tsc(&src.vm->vcpu, src.cpu->tsc);
			src.vm->state = src.was_running ? VM_RUNNING : VM_PAUSED;
		}
	}
	free_buffers();
	src.phase = S_IDLE;
	src.vm = NULL;
}

static void source_pc_paused(const char *reason);

static void source_failed(const char *reason)
{
	if (src.handed_over) {
		/* The guest runs there now: never back here; keep every page. */
		source_pc_paused(reason);
		return;
	}
	char why[200]; /* reason may live in what source_release clears */
	snprintf(why, sizeof(why), "%s", reason);
	bool paused = src.vm && src.vm->state == VM_FINISH_MIGRATE;
	source_release(true);
	mig_fail("%s; the VM %s here", why, paused ? "resumes" : "continues");
}

bool mig_source_owns_log(const struct vm *vm)
{
	return src.phase != S_IDLE && src.vm == vm;
}

int mig_source_start(u32 addr_be, u16 port)
{
	struct vm *vm = the_vm;
	char why[120];
	if (!vm) {
		mig_fail("no VM to migrate");
		return -1;
	}
	if (vm->state != VM_RUNNING && vm->state != VM_PAUSED) {
		mig_fail("the VM is %s, not running or paused", vm_state_name(vm->state));
		return -1;
	}
	if (vm->dirty.active) {
		mig_fail("the dirty log is in use (calc_dirty_rate or a guest's test log)");
		return -1;
	}
	memset(&src, 0, sizeof(src));
	src.vm = vm;
	src.nr_pages = vm->ram_size / PAGE_SIZE;
	mig.policy.ram_pages = src.nr_pages;
	mig.policy.final_extra_bytes = 4 * MIG_SECTION_HDR_LEN + sizeof(struct vcpu_state) +
				       sizeof(struct mig_sec_timer) + sizeof(struct vuart_state) +
				       sizeof(struct mig_sec_time) + MIG_END_LEN +
				       (vm->platform == VM_PLATFORM_PC ?
					MIG_SECTION_HDR_LEN + sizeof(struct vlapic_state) : 0);
	size_t words = BITMAP_WORDS(src.nr_pages);
	src.send = calloc(words, 8);
	src.held = calloc(words, 8);
	src.prev = calloc(words, 8);
	src.dirty = calloc(words, 8);
	src.sent_once = calloc(words, 8);
	src.out = malloc(OUT_CAP);
	src.cpu = malloc(sizeof(*src.cpu));
	if (!src.send || !src.held || !src.prev || !src.dirty || !src.sent_once || !src.out ||
	    !src.cpu) {
		source_release(false);
		mig_fail("out of memory for the migration's bitmaps");
		return -1;
	}
	if (mig_conn_connect(&src.conn, addr_be, port, mig.tls_creds, why, sizeof(why))) {
		source_release(false);
		mig_fail("%s", why);
		return -1;
	}
	mig_reply_init(&src.rep);
	src.rep.ram_pages = src.nr_pages;
	mig.stats.total_pages = src.nr_pages;
	src.phase = S_CONNECTING;
	src.wait_start_ns = arch_time_ns();
	return 0;
}

/* Stage bytes for the connection (the staging buffer is empty or has room). */
static void stage(const void *p, size_t n)
{
	memcpy(src.out + src.out_len, p, n);
	src.out_len += n;
}

/* Hand staged bytes to TCP; true when all are gone. */
static bool flush(void)
{
	while (src.out_off < src.out_len) {
		long n = mig_conn_send(&src.conn, src.out + src.out_off, src.out_len - src.out_off);
		if (n < 0) {
			source_failed("the connection to the destination failed");
			return false;
		}
		if (n == 0)
			return false;
		src.out_off += (size_t)n;
		mig.stats.transferred += (u64)n;
		if (src.phase == S_ROUNDS)
			src.live_sent += (u64)n;
		if (src.phase >= S_PC_LIVE)
			mig.pc.bytes += (u64)n;
		else if (src.phase >= S_FINAL)
			mig.stats.downtime_bytes += (u64)n;
		else
			mig.stats.precopy_bytes += (u64)n;
	}
	src.out_len = src.out_off = 0;
	return true;
}

/* resume: the header of migrate -r's connection, then RESUME. */
static void send_header(bool resume)
{
	struct mig_header h = { .version = MIG_VERSION, .page_size = MIG_PAGE_SIZE };
	h.ram_size = src.vm->ram_size;
	h.tsc_hz = arch_tsc_hz();
	h.caps = resume ? MIG_CAP_RESUME : mig.validate_ram ? MIG_CAP_VALIDATE_RAM : 0;
	arch_cpu_fingerprint(&h.fp);
	u8 buf[MIG_HEADER_LEN];
	stage(buf, mig_enc_header(buf, &h));
	if (resume) {
		u8 rec[9];
		stage(rec, mig_enc_resume(rec, src.id));
	}
}

/* One page as a PAGES record of its own (post-copy: each may be asked for). */
static void stage_one_page(u64 g)
{
	u8 head[3];
	stage(head, mig_enc_pages_begin(head, 1));
	size_t len = mig_enc_page(src.out + src.out_len, g, src.vm->ram + g * PAGE_SIZE);
	src.out_len += len;
	if (len < MIG_PAGE_ENTRY_MAX)
		mig.stats.duplicate++;
	else
		mig.stats.normal++;
	src.send[g / 64] &= ~(1ULL << (g % 64));
}

/* Stage up to one batch of the pages set in send; false when none are left. */
static bool stage_batch(void)
{
	u64 gfns[BATCH];
	u16 n = 0;
	while (n < BATCH) {
		u64 g = bitmap_next(src.send, src.nr_pages, src.cursor);
		if (g >= src.nr_pages)
			break;
		src.send[g / 64] &= ~(1ULL << (g % 64));
		src.cursor = g + 1;
		gfns[n++] = g;
	}
	if (!n)
		return false;
	u8 head[3];
	stage(head, mig_enc_pages_begin(head, n));
	for (u16 i = 0; i < n; i++) {
		u64 g = gfns[i];
		size_t len = mig_enc_page(src.out + src.out_len, g, src.vm->ram + g * PAGE_SIZE);
		src.out_len += len;
		if (len < MIG_PAGE_ENTRY_MAX)
			mig.stats.duplicate++;
		else
			mig.stats.normal++;
		if (bitmap_test(src.sent_once, g))
			mig.stats.pages_resent++;
		else
			bitmap_set(src.sent_once, g);
	}
	src.cur.pages_sent += n;
	return true;
}

static void start_round(u64 now)
{
	src.round++;
	memset(&src.cur, 0, sizeof(src.cur));
	src.cur.round = src.round;
	src.cursor = 0;
	src.round_start_ns = now;
	src.round_start_bytes = mig.stats.transferred;
	u8 rec[5];
	stage(rec, mig_enc_round(rec, src.round));
}

/*
 * Pause the vCPU for good (the final copy, or the switch to post-copy) and
 * gather in send every page whose latest contents the destination lacks.
 */
static void pause_and_harvest(u64 now, enum mig_event ev)
{
	struct vm *vm = src.vm;
	src.was_running = vm->state == VM_RUNNING;
	vm->state = VM_FINISH_MIGRATE;
	mig.stats.pause_ns = now;
	/* The state as the guest left it, its TSC included: read now, not after
	 * the final copy, or the guest would see the copy's time as a jump. */
	arch_vcpu_save(&vm->vcpu, src.cpu);
	mig_set_status(ev);
	/* The last harvest: the vCPU is out of the guest and stays out. It ORs
	 * into what the round's own harvest left in dirty: both must go, with
	 * the held pages and what this round had not reached yet. */
	mig.stats.dirty_sync_count++;
	dirty_log_harvest(vm, src.prev);
	for (u64 w = 0; w < BITMAP_WORDS(src.nr_pages); w++)
		src.dirty[w] |= src.prev[w];
	mig_select_next(src.send, src.held, src.prev, src.dirty, src.nr_pages, false);
}

static void enter_final(u64 now, enum mig_reason why)
{
	pause_and_harvest(now, MIG_EV_STOP_COPY);
	mig.stats.final_pages = bitmap_weight(src.send, src.nr_pages);
	src.phase = S_FINAL;
	src.final_step = 0;
	src.cursor = 0;
	hv_log("migrate: stop-and-copy (%s): vCPU paused, %lu pages left after %u rounds\n",
	       mig_reason_name(why), mig.stats.final_pages, src.round);
}

/*
 * The switch to post-copy: the guest stops as for the final copy, but what
 * is still dirty goes after the hand-over, when the destination wants it.
 * why: the policy's figures, or the operator.
 */
static void enter_postcopy(u64 now, const char *why)
{
	pause_and_harvest(now, MIG_EV_POSTCOPY);
	src.postcopy = true;
	u64 t = arch_cycles();
	src.id = (t ^ (t >> 29) ^ (u64)src.nr_pages << 40) | 1;
	mig.pc.switch_ns = now;
	mig.pc.switch_round = src.round;
	snprintf(mig.pc.why, sizeof(mig.pc.why), "%s", why);
	mig.pc.pages_at_switch = bitmap_weight(src.send, src.nr_pages);
	mig.stats.final_pages = mig.pc.pages_at_switch;
	src.phase = S_PC_STATE;
	src.final_step = 1;
	src.map_word = 0;
	hv_log("migrate: switching to post-copy after %u rounds (%s): vCPU paused, %lu pages will follow the VM\n",
	       src.round, why, mig.pc.pages_at_switch);
}

/* A round sent everything it had: harvest, ask the policy, go on or stop. */
static void end_round(u64 now)
{
	src.cur.duration_ns = now - src.round_start_ns;
	mig.stats.dirty_sync_count++;
	src.cur.pages_dirtied = dirty_log_harvest(src.vm, src.dirty);
	u64 pending = 0;
	for (u64 w = 0; w < BITMAP_WORDS(src.nr_pages); w++)
		pending += (u64)__builtin_popcountll(src.dirty[w] | src.held[w]);
	enum mig_reason why = mig_policy_round_end(&mig.policy, &src.cur, pending);
	hv_log("migrate: round %u: %lu pages sent, %lu dirtied, %lu ms, %lu KiB/s; %lu pending%s%s\n",
	       src.round, src.cur.pages_sent, src.cur.pages_dirtied, src.cur.duration_ns / 1000000,
	       mig.policy.bandwidth / 1024, pending, why == MIG_GO_ON ? "" : " -> stop: ",
	       why == MIG_GO_ON ? "" : mig_reason_name(why));
	if (why == MIG_SWITCH_POSTCOPY) {
		enter_postcopy(now, mig.policy.why);
		return;
	}
	if (why != MIG_GO_ON) {
		enter_final(now, why);
		return;
	}
	/* Hold the hot pages back from round 3 on: they were dirty twice. A
	 * round with nothing but held pages would end at once and measure
	 * nothing, so then the hot pages go after all. */
	if (!mig_select_next(src.send, src.held, src.prev, src.dirty, src.nr_pages, src.round >= 2))
		mig_select_next(src.send, src.held, src.prev, src.dirty, src.nr_pages, false);
	start_round(now);
}

static void pump_rounds(u64 now)
{
	for (;;) {
		if (!flush())
			return;
		if (src.phase != S_ROUNDS)
			return;
		if (mig.postcopy_requested) {
			mig.postcopy_requested = false;
			enter_postcopy(now, "migrate_start_postcopy (the operator)");
			return;
		}
		if (mig.fault == MIG_FAULT_CUT_PAGES && src.round == 1 &&
		    src.cursor > src.nr_pages / 2) {
			mig_conn_close(&src.conn);
			source_failed("test fault cut-pages: the link was cut in round 1");
			return;
		}
		if (mig_policy_allowance(&mig.policy, src.live_sent, src.live_start_ns, now) == 0)
			return;
		if (!stage_batch()) {
			src.cur.bytes_sent = mig.stats.transferred - src.round_start_bytes;
			end_round(now);
			if (src.phase != S_ROUNDS)
				return;
		}
	}
}

static void stage_section(u32 id, u32 version, const void *data, u32 len)
{
	u8 head[MIG_SECTION_HDR_LEN];
	stage(head, mig_enc_section_begin(head, id, version, len));
	stage(data, len);
}

static void stage_state(int step)
{
	struct vm *vm = src.vm;
	switch (step) {
	case 1:
		stage_section(MIG_SEC_CPU, VCPU_STATE_VERSION, src.cpu, sizeof(*src.cpu));
		break;
	case 2: {
		struct mig_sec_timer t = { .deadline_ns = vm->vcpu.timer_deadline_ns,
					   .vector = vm->vcpu.timer_vector,
					   .halted = vm->vcpu.halted };
		stage_section(MIG_SEC_TIMER, MIG_TIMER_VERSION, &t, sizeof(t));
		break;
	}
	case 3: {
		struct vuart_state u;
		vuart_save(&vm->uart, &u);
		stage_section(MIG_SEC_UART, MIG_UART_VERSION, &u, sizeof(u));
		break;
	}
	case 4: {
		/* The clock stopped with the vCPU: both continue from here. */
		struct mig_sec_time t = { .vm_clock_ns = vm_clock_ns(vm, mig.stats.pause_ns),
					  .guest_tsc = src.cpu->tsc, .tsc_hz = arch_tsc_hz() };
		stage_section(MIG_SEC_TIME, MIG_TIME_VERSION, &t, sizeof(t));
		break;
	}
	case 5:
		if (vm->platform == VM_PLATFORM_PC) {
			struct vlapic_state l;
			vlapic_save(&vm->vcpu.lapic, &l);
			stage_section(MIG_SEC_PC, MIG_PC_VERSION, &l, sizeof(l));
		}
		break;
	case 6: {
		u8 rec[MIG_END_LEN];
		bool digest = mig.validate_ram;
		stage(rec, mig_enc_end(rec, digest, digest ? mig_ram_digest(vm->ram, vm->ram_size) : 0));
		break;
	}
	}
}

static void pump_final(u64 now)
{
	for (;;) {
		if (!flush())
			return;
		if (src.final_step == 0) {
			if (mig.fault == MIG_FAULT_CUT_FINAL && src.cursor > 0) {
				mig_conn_close(&src.conn);
				source_failed("test fault cut-final: the link was cut in the final copy");
				return;
			}
			if (stage_batch())
				continue;
			src.final_step = 1;
		}
		if (src.final_step <= 6) {
			stage_state(src.final_step++);
			continue;
		}
		src.phase = S_WAIT_ACK;
		src.wait_start_ns = now;
		hv_log("migrate: everything sent (%lu bytes in the final copy); waiting for the destination's ACK\n",
		       mig.stats.downtime_bytes);
		return;
	}
}

/* The state, the page at CR3 (the first the guest needs), the MAP of what
 * is still to come, POSTCOPY; then the ACK. */
static void pump_pc_state(u64 now)
{
	for (;;) {
		if (!flush())
			return;
		if (src.final_step <= 5) {
			stage_state(src.final_step++);
			continue;
		}
		if (src.final_step == 6) {
			u64 g = (src.cpu->cr3 & ~0xfffULL) / PAGE_SIZE;
			if (g < src.nr_pages && bitmap_test(src.send, g))
				stage_one_page(g);
			src.final_step++;
			continue;
		}
		if (src.final_step == 7) {
			u64 words = BITMAP_WORDS(src.nr_pages);
			while (src.map_word < words && !src.send[src.map_word])
				src.map_word++;
			if (src.map_word < words) {
				u16 n = (u16)MIN(words - src.map_word, (u64)MIG_MAP_WORDS_MAX);
				src.out_len += mig_enc_map(src.out + src.out_len, src.map_word * 64,
							   src.send + src.map_word, n);
				src.map_word += n;
				continue;
			}
			src.final_step++;
		}
		u8 rec[9];
		stage(rec, mig_enc_postcopy(rec, src.id));
		src.phase = S_WAIT_ACK; /* which flushes the rest */
		src.wait_start_ns = now;
		hv_log("migrate: post-copy: state and map staged (%lu bytes since the pause); waiting for the destination's ACK\n",
		       mig.stats.downtime_bytes + src.out_len - src.out_off);
		return;
	}
}

/* Post-copy after GO: asked-for pages first, then pre-paging, a few at a
 * time; END once every page is out. */
static void pump_pc_live(u64 now)
{
	for (;;) {
		if (!flush())
			return;
		if (src.phase != S_PC_LIVE)
			return;
		if (mig_conn_unacked(&src.conn) > PC_INFLIGHT)
			return;
		if (mig.fault == MIG_FAULT_CUT_POSTCOPY &&
		    mig.pc.pages_pushed + mig.pc.pages_requested >= mig.pc.pages_at_switch / 4) {
			mig.fault = MIG_FAULT_NONE; /* once: the recovery must get through */
			source_failed("test fault cut-postcopy: the link was cut during post-copy");
			return;
		}
		u64 g = src.nr_pages;
		bool asked = false;
		while (mig_req_pop(&src.reqs, &g)) {
			/* Not in send: it is on its way already (or there). */
			if (bitmap_test(src.send, g)) {
				asked = true;
				break;
			}
			g = src.nr_pages;
		}
		if (!asked)
			g = mig_prepage_next(&src.prepage, src.send);
		/* max-bandwidth paces the pushed pages, never an asked-for one (nor
		 * END: with every page out, nothing is left to pace). */
		if (!asked && g < src.nr_pages &&
		    mig_policy_allowance(&mig.policy, src.pc_pushed_bytes, mig.pc.live_start_ns, now) == 0)
			return;
		if (g >= src.nr_pages) {
			u8 rec[MIG_END_LEN];
			stage(rec, mig_enc_end(rec, false, 0));
			src.phase = S_PC_END;
			src.pc_wait_ns = now;
			flush();
			hv_log("migrate: post-copy: every page sent (%lu asked for, %lu pushed); waiting for COMPLETE\n",
			       mig.pc.pages_requested, mig.pc.pages_pushed);
			return;
		}
		size_t before = src.out_len;
		stage_one_page(g);
		if (asked) {
			mig.pc.pages_requested++;
		} else {
			mig.pc.pages_pushed++;
			src.pc_pushed_bytes += src.out_len - before;
		}
	}
}

/* Reconnected (migrate -r): the destination's HAVE map decides what is sent
 * again; what left before the link failed may never have arrived. */
static void have_done(u64 now)
{
	mig_map_invert(src.send, src.held, src.nr_pages);
	mig_req_init(&src.reqs);
	mig_prepage_init(&src.prepage, src.nr_pages);
	mig.pc.recoveries++;
	mig_set_status(MIG_EV_RECOVERED);
	src.phase = S_PC_LIVE;
	mig_report("migrate: post-copy recovered with %s: %lu pages still to send\n", mig.peer,
		   bitmap_weight(src.send, src.nr_pages));
	(void)now;
}

/* The destination loaded everything: hand over (never run here again), then GO. */
static void hand_over(u64 now)
{
	struct vm *vm = src.vm;
	vm->state = VM_POSTMIGRATE;
	src.handed_over = true;
	snprintf(mig.handover, sizeof(mig.handover), "handed over to %s at %lu ms (host clock)",
		 mig.peer, now / 1000000);
	hv_log("migrate: ACK from %s: the VM is handed over and will not run here again\n", mig.peer);
	if (mig.fault == MIG_FAULT_DROP_GO) {
		hv_log("migrate: test fault drop-go: GO not sent\n");
	} else {
		u8 go[1];
		stage(go, mig_enc_go(go));
	}
	mig.stats.downtime_ns = now - mig.stats.pause_ns;
	src.wait_start_ns = now;
	if (src.postcopy) {
		/* The pages follow; nothing of the guest changes here any more. */
		dirty_log_stop(vm);
		mig_req_init(&src.reqs);
		mig_prepage_init(&src.prepage, src.nr_pages);
		mig.pc.live_start_ns = now;
		src.phase = S_PC_LIVE;
		mig_report("migrate: post-copy: the VM runs on %s now; %lu pages follow (asked-for first)\n",
			   mig.peer, bitmap_weight(src.send, src.nr_pages));
		return;
	}
	mig.stats.end_ns = now;
	mig_set_status(MIG_EV_DONE);
	src.phase = S_GO_FLUSH;
}

/* After GO: the VM lives elsewhere; give its memory back. */
static void source_finish(void)
{
	static char gone[260];
	struct vm *vm = src.vm;
	source_release(false);
	vm_destroy(vm);
	snprintf(gone, sizeof(gone), "postmigrate: %s; this host can receive a VM (migrate_incoming)",
		 mig.handover);
	con_set_no_vm_reason(gone);
	if (mig.status == MIG_POSTCOPY_ACTIVE) {
		mig.stats.end_ns = mig.pc.live_end_ns = arch_time_ns();
		mig_set_status(MIG_EV_DONE);
		mig_report("migrate: completed (post-copy): %s; downtime %lu ms; %lu bytes sent for %lu MiB "
			   "of RAM (%lu after GO: %lu pages asked for, %lu pushed); memory freed\n",
			   mig.handover, mig.stats.downtime_ns / 1000000, mig.stats.transferred,
			   (mig.stats.total_pages * PAGE_SIZE) >> 20, mig.pc.bytes, mig.pc.pages_requested,
			   mig.pc.pages_pushed);
		return;
	}
	mig_report("migrate: completed: %s; downtime %lu ms; %lu bytes sent for %lu MiB of RAM; memory freed\n",
	       mig.handover, mig.stats.downtime_ns / 1000000, mig.stats.transferred,
	       (mig.stats.total_pages * PAGE_SIZE) >> 20);
}

/*
 * The link failed after the hand-over: the guest runs there (or its host
 * is gone); here it never runs again. Every page stays, for migrate -r.
 */
static void source_pc_paused(const char *reason)
{
	char why[200];
	snprintf(why, sizeof(why), "%s", reason);
	mig_conn_close(&src.conn);
	src.out_len = src.out_off = 0;
	src.phase = S_PC_PAUSED;
	mig_set_status(MIG_EV_PAUSE);
	u64 left = bitmap_weight(src.send, src.nr_pages);
	mig_report("migrate: postcopy-paused: %s. The VM runs on %s and can never run here again; this "
		   "host keeps all its pages (%lu not sent yet). If that host is up: migrate_recover "
		   "tcp:0:PORT there, then migrate -r tcp:HOST:PORT here. If it is down, the VM is lost.\n",
		   why, mig.peer, left);
}

int mig_source_recover(u32 addr_be, u16 port)
{
	char why[120];
	if (src.phase != S_PC_PAUSED) {
		hv_printf("error: migrate -r resumes a paused post-copy; none here (%s)\n",
			  mig_status_name(mig.status));
		return -1;
	}
	if (mig_conn_connect(&src.conn, addr_be, port, mig.tls_creds, why, sizeof(why))) {
		hv_printf("error: %s\n", why);
		return -1;
	}
	mig_reply_init(&src.rep);
	src.rep.ram_pages = src.nr_pages;
	src.out_len = src.out_off = 0;
	src.acked_seen = 0;
	src.phase = S_PC_RECONNECT;
	src.wait_start_ns = arch_time_ns();
	mig_set_status(MIG_EV_RECOVER);
	hv_printf("migrate: recovering post-copy: connecting to %s\n", mig.peer);
	return 0;
}

/* A reconnect that failed: paused again, nothing lost. */
static void recover_failed(const char *what)
{
	mig_conn_close(&src.conn);
	src.out_len = src.out_off = 0;
	src.phase = S_PC_PAUSED;
	mig_set_status(MIG_EV_PAUSE);
	mig_report("migrate: recovery failed: %s; still postcopy-paused, every page kept (migrate -r again)\n",
		   what);
}

void mig_source_pause(void)
{
	if (src.phase < S_PC_LIVE || src.phase == S_PC_PAUSED) {
		hv_printf("error: migrate_pause pauses a post-copy after the hand-over; there is none (%s)\n",
			  mig_status_name(mig.status));
		return;
	}
	source_pc_paused("migrate_pause by the operator");
}

void mig_source_abandon(void)
{
	if (src.phase != S_PC_PAUSED) {
		hv_printf("error: the VM runs on %s with pages only this host has; migrate_cancel gives "
			  "them up only once post-copy is paused\n", mig.peer);
		return;
	}
	u64 left = bitmap_weight(src.send, src.nr_pages);
	struct vm *vm = src.vm;
	source_release(false);
	vm_destroy(vm);
	mig_set_status(MIG_EV_ERROR);
	snprintf(mig.error, sizeof(mig.error), "post-copy abandoned by the operator");
	con_set_no_vm_reason("postmigrate: post-copy abandoned; the VM is lost unless its destination "
			     "had every page");
	mig.stats.end_ns = arch_time_ns();
	mig_report("migrate: post-copy abandoned: this host's copy of the VM is freed (%lu pages had not "
		   "been sent); the VM is lost unless %s had every page\n", left, mig.peer);
}

static void read_replies(u64 now)
{
	u8 buf[256];
	for (;;) {
		long n = mig_conn_recv(&src.conn, buf, sizeof(buf));
		if (n == 0)
			return;
		if (n < 0) {
			if (src.phase == S_GO_FLUSH)
				return; /* the destination closed after GO */
			source_failed(n == TCP_PIPE_CLOSED ? "the destination closed the connection"
							   : "the connection to the destination failed");
			return;
		}
		size_t off = 0;
		while (off < (size_t)n && src.phase != S_IDLE) {
			size_t used = 0;
			char reason[MIG_REASON_MAX + 1];
			enum mig_reply_kind k = mig_reply_feed(&src.rep, buf + off, (size_t)n - off, &used,
							      reason, sizeof(reason));
			off += used;
			if (k == MIG_REPLY_NONE)
				break;
			if (k == MIG_REPLY_ACCEPT && src.phase == S_WAIT_ACCEPT) {
				mig.stats.setup_end_ns = now;
				mig_set_status(MIG_EV_SETUP_DONE);
				/* Log from now on: every later write is caught. */
				if (dirty_log_start(src.vm)) {
					source_failed("the dirty log cannot start");
					return;
				}
				memset(src.send, 0xff, BITMAP_WORDS(src.nr_pages) * 8);
				if (src.nr_pages % 64)
					src.send[src.nr_pages / 64] = (1ULL << (src.nr_pages % 64)) - 1;
				src.phase = S_ROUNDS;
				src.live_start_ns = now;
				start_round(now);
				hv_log("migrate: %s accepted; sending %lu pages (dirty log: %s, %s)\n", mig.peer,
				       src.nr_pages, dirty_mode_name(src.vm->dirty.mode),
				       src.conn.tls ? "TLS-PSK" : "plaintext");
			} else if (k == MIG_REPLY_ACK && src.phase == S_WAIT_ACK) {
				hand_over(now);
			} else if (k == MIG_REPLY_REQ && (src.phase == S_PC_LIVE || src.phase == S_PC_END)) {
				mig.pc.requests++;
				mig_req_push(&src.reqs, src.rep.gfn);
				mig_prepage_fault(&src.prepage, src.rep.gfn);
			} else if (k == MIG_REPLY_COMPLETE && src.phase == S_PC_END) {
				source_finish();
				return;
			} else if (k == MIG_REPLY_HAVE && src.phase == S_PC_HAVE) {
				/* held is free after the hand-over: it collects the map */
				if (!mig_map_apply(src.held, src.nr_pages, src.rep.first_gfn, src.rep.words,
						   src.rep.nwords, true)) {
					source_failed("the destination's page map does not fit the VM");
					return;
				}
			} else if (k == MIG_REPLY_HAVE_END && src.phase == S_PC_HAVE) {
				have_done(now);
			} else if (k == MIG_REPLY_REFUSE) {
				char why[260];
				snprintf(why, sizeof(why), "the destination refused: %s", reason);
				source_failed(why);
				return;
			} else {
				source_failed(k == MIG_REPLY_BAD ? "the destination sent garbage"
								 : "the destination answered out of turn");
				return;
			}
		}
	}
}

/* Bytes owed and none acknowledged for STALL_NS: the peer or the link is gone. */
static bool stalled(u64 now)
{
	if (!src.conn.open)
		return false;
	if (src.conn.pipe.acked != src.acked_seen || !mig_conn_unacked(&src.conn)) {
		src.acked_seen = src.conn.pipe.acked;
		src.ack_progress_ns = now;
		return false;
	}
	return mig_since(now, src.ack_progress_ns) > STALL_NS;
}

/*
 * Connecting (migrate, or migrate -r): true once TCP and TLS are up; else
 * false, with fail called if the connection was refused (refused_why),
 * failed (the TLS error, or failed_why) or never answered.
 */
static bool conn_up(u64 now, void (*fail)(const char *), const char *refused_why,
		    const char *failed_why)
{
	if (src.conn.refused) {
		fail(refused_why);
		return false;
	}
	int up = mig_conn_progress(&src.conn);
	if (up < 0 || mig_conn_failed(&src.conn)) {
		fail(src.conn.tls_error[0] ? src.conn.tls_error : failed_why);
		return false;
	}
	if (!up && mig_since(now, src.wait_start_ns) > MIG_IDLE_TIMEOUT_NS)
		fail("the destination did not answer the connection");
	return up > 0;
}

void mig_source_poll(u64 now)
{
	if (src.phase == S_IDLE || src.phase == S_PC_PAUSED)
		return;
	if (src.phase == S_PC_RECONNECT) {
		if (!conn_up(now, recover_failed, "cannot connect to the destination",
			     "cannot connect to the destination"))
			return;
		memset(src.held, 0, BITMAP_WORDS(src.nr_pages) * 8);
		send_header(true);
		src.phase = S_PC_HAVE;
		src.wait_start_ns = now;
		src.ack_progress_ns = now;
	}
	if (src.phase == S_CONNECTING) {
		if (!conn_up(now, source_failed, "cannot connect to the destination (refused or unreachable)",
			     "the connection failed during the TLS handshake"))
			return;
		send_header(false);
		src.phase = S_WAIT_ACCEPT;
		src.wait_start_ns = now;
		src.ack_progress_ns = now;
	}
	if (mig_conn_failed(&src.conn)) {
		if (src.phase == S_GO_FLUSH) {
			source_finish();
			return;
		}
		source_failed("the connection to the destination was reset");
		return;
	}
	read_replies(now);
	if (src.phase == S_IDLE)
		return;
	if (stalled(now) && src.phase != S_GO_FLUSH) {
		source_failed("the destination stopped acknowledging data for 10 s");
		return;
	}
	switch (src.phase) {
	case S_WAIT_ACCEPT:
		flush();
		if (src.phase == S_WAIT_ACCEPT && mig_since(now, src.wait_start_ns) > MIG_IDLE_TIMEOUT_NS)
			source_failed("the destination did not answer the header");
		break;
	case S_ROUNDS:
		pump_rounds(now);
		if (src.phase == S_ROUNDS) {
			u64 t = mig_since(now, src.round_start_ns);
			u64 rate = t > 100000000 ? (mig.stats.transferred - src.round_start_bytes) * 1000 / (t / 1000000)
						 : mig.policy.bandwidth;
			mig_progress(now, src.round,
				     (bitmap_weight(src.send, src.nr_pages) + bitmap_weight(src.held, src.nr_pages)) *
					     PAGE_SIZE, rate);
		}
		break;
	case S_FINAL:
		pump_final(now);
		break;
	case S_WAIT_ACK:
		flush();
		if (src.phase == S_WAIT_ACK && mig_since(now, src.wait_start_ns) > MIG_ACK_TIMEOUT_NS)
			source_failed("no ACK from the destination within 10 s");
		break;
	case S_PC_STATE:
		pump_pc_state(now);
		break;
	case S_PC_LIVE:
		pump_pc_live(now);
		if (src.phase == S_PC_LIVE)
			mig_progress(now, src.round, bitmap_weight(src.send, src.nr_pages) * PAGE_SIZE,
				     mig.policy.bandwidth);
		break;
	case S_PC_END:
		flush();
		if (src.phase == S_PC_END && mig_since(now, src.pc_wait_ns) > MIG_ACK_TIMEOUT_NS)
			source_failed("no COMPLETE from the destination within 10 s of END");
		break;
	case S_PC_HAVE:
		flush();
		if (src.phase == S_PC_HAVE && mig_since(now, src.wait_start_ns) > MIG_IDLE_TIMEOUT_NS) {
			recover_failed("the destination did not send its page map within 10 s");
			return;
		}
		break;
	case S_GO_FLUSH:
		flush();
		if (src.phase == S_GO_FLUSH &&
		    ((!src.out_len && !mig_conn_unacked(&src.conn)) || mig_since(now, src.wait_start_ns) > GO_FLUSH_NS))
			source_finish();
		break;
	default:
		break;
	}
}

void mig_source_cancel(void)
{
	bool paused = src.vm && src.vm->state == VM_FINISH_MIGRATE;
	source_release(true);
	mig_report("migrate: cancelled; the VM %s here\n", paused ? "resumes" : "continues");
}

void mig_source_info(void)
{
	if (src.phase == S_IDLE)
		return;
	hv_printf("round: %u (this round: %lu pages sent so far)\n", src.round, src.cur.pages_sent);
}
