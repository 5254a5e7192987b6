/*
 * Inside the migration engine (migrate/): the one migration a host runs at
 * a time, whichever side it is on. control.c holds the parameters and the
 * console, source.c and dest.c the two sides, conn.c the connection.
 */
#ifndef MIGRATE_ENGINE_H
#define MIGRATE_ENGINE_H

#include <tern/mig_policy.h>
#include <tern/mig_postcopy.h>
#include <tern/mig_stream.h>
#include <tern/tcp_pipe.h>
#include <tern/types.h>

struct vm;
struct pmm;
struct tcp_pcb;

#define MIG_DEFAULT_PORT 4445
#define MIG_IDLE_TIMEOUT_NS (10ULL * 1000000000ULL) /* no byte from the peer: the link is gone */
#define MIG_ACK_TIMEOUT_NS (10ULL * 1000000000ULL)  /* END sent, no ACK: the source takes the VM back */
#define MIG_GO_TIMEOUT_NS (10ULL * 1000000000ULL)   /* ACK sent, no GO: the destination waits for the operator */

struct tls_session;

/* A connection: TLS-PSK with the migration key (the default), or plain TCP
 * when the boot config allows it (migrate_plain) and tls-creds is off. */
struct mig_conn {
	struct tcp_pipe pipe;
	struct tls_session *tls;    /* NULL: plaintext */
	bool secure;                /* TLS wanted (decided before connecting) */
	bool ready;                 /* TCP up and, with TLS, the handshake done */
	char tls_error[120];
	struct tcp_pcb *connecting; /* source: tcp_connect not answered yet */
	bool open;                  /* pipe attached */
	bool refused;               /* the connect failed (reset, unreachable) */
	u64 last_rx_ns;             /* the last time the peer sent anything */
};

/* Source: start connecting; 0, or -1 with why. mig_conn_progress says when it is up. */
int mig_conn_connect(struct mig_conn *c, u32 addr_be, u16 port, bool secure, char *why, size_t len);
/* Destination: take over an accepted pcb; -1 (pcb left to the caller) when
 * no TLS session can be had. */
int mig_conn_accept(struct mig_conn *c, struct tcp_pcb *pcb, bool secure);
/* Drive the TLS handshake: 1 when ready, 0 not yet, -1 failed (why in tls_error). */
int mig_conn_progress(struct mig_conn *c);

long mig_conn_send(struct mig_conn *c, const void *buf, size_t len);
long mig_conn_recv(struct mig_conn *c, void *buf, size_t len);
/* Bytes handed to TCP that the peer has not acknowledged. */
u32 mig_conn_unacked(struct mig_conn *c);
void mig_conn_close(struct mig_conn *c);
bool mig_conn_failed(const struct mig_conn *c);

/* Test-only faults (boot option migrate_test, parameter x-fault). */
enum mig_fault {
	MIG_FAULT_NONE,
	MIG_FAULT_DROP_ACK, /* destination: load everything, never send ACK */
	MIG_FAULT_DROP_GO,  /* source: hand over, never send GO */
	MIG_FAULT_CUT_PAGES, /* source: close the link in the middle of round 1 */
	MIG_FAULT_CUT_FINAL, /* source: close the link during the final copy */
	MIG_FAULT_CUT_POSTCOPY, /* source: close the link once a quarter of post-copy's pages went */
};

struct mig_stats {
	u64 start_ns, setup_end_ns, end_ns;
	u64 pause_ns;          /* source: vCPU paused; destination: GO seen */
	u64 downtime_ns;
	u64 transferred;       /* bytes handed to the connection */
	u64 precopy_bytes, downtime_bytes;
	u64 duplicate, normal; /* fill / normal page records */
	u64 pages_resent;      /* pages sent more than once */
	u64 total_pages;
	u64 remaining_pages;
	u32 dirty_sync_count;
	u64 final_pages;
};

/* Post-copy (QEMU's postcopy-* statistics plus ours), both sides. */
struct mig_pc_stats {
	u64 switch_ns;          /* when the source paused the guest for the switch */
	u32 switch_round;       /* the pre-copy rounds before it */
	char why[200];          /* why it switched (the policy's figures, or the operator) */
	u64 pages_at_switch;    /* pages still to come then */
	u64 requests;           /* REQ records (source: received; destination: sent) */
	u64 pages_requested;    /* source: pages sent because they were asked for */
	u64 pages_pushed;       /* source: pages pre-paging pushed */
	u64 bytes;              /* postcopy-bytes: sent (source) / received (destination) after GO */
	u64 pages_arrived;      /* destination: absent pages filled */
	u64 pages_dropped;      /* destination: copies of pages it had already (never written) */
	u32 recoveries;         /* successful migrate -r / migrate_recover */
	u64 live_start_ns, live_end_ns; /* GO .. the last page */
	struct mig_lat lat;     /* destination: how long the vCPU waited per fault */
};

enum mig_role { MIG_ROLE_NONE, MIG_ROLE_SOURCE, MIG_ROLE_DEST };

struct mig_engine {
	enum mig_status status;
	enum mig_role role;
	struct mig_params params;
	bool validate_ram;
	bool plain_allowed;    /* boot option migrate_plain */
	bool tls_creds;        /* parameter tls-creds: "migrate" (on) or "" (plaintext) */
	bool test_faults_allowed;
	enum mig_fault fault;
	char peer[48];         /* "10.0.5.2:4445" */
	char error[200];       /* why it failed or was refused */
	char handover[200];    /* source: to whom the VM was handed (kept after the VM is gone) */
	struct mig_stats stats;
	struct mig_pc_stats pc;
	bool postcopy_requested; /* migrate_start_postcopy: switch at the next chance */
	struct mig_policy policy;
	u64 last_progress_ns;
	u64 last_progress_guest_ns; /* hv_guest_ns() then: the CPU share since */
	struct vm *slot;       /* the VM object of this host */
	struct pmm *pmm;
	/* incoming */
	u16 listen_port;
	struct tcp_pcb *listener;
};

extern struct mig_engine mig;

/* ns from then to now; 0 when then is later (it was read after now was). */
static inline u64 mig_since(u64 now, u64 then)
{
	return now > then ? now - then : 0;
}

/* source.c */
int mig_source_start(u32 addr_be, u16 port);
void mig_source_poll(u64 now);
void mig_source_cancel(void);
bool mig_source_owns_log(const struct vm *vm);
void mig_source_info(void);
/* migrate -r: reconnect a paused post-copy; 0, or -1 with an answer printed. */
int mig_source_recover(u32 addr_be, u16 port);
/* migrate_cancel in postcopy-paused: give the source's copy up. */
void mig_source_abandon(void);
/* migrate_pause: drop the link of a post-copy on purpose (either side). */
void mig_source_pause(void);

/* dest.c */
int mig_dest_listen(u16 port, char *why, size_t len);
void mig_dest_poll(u64 now);
void mig_dest_cancel(void);
void mig_dest_continue(void);
/* migrate_recover: listen for the source's migrate -r; 0, or -1 with why. */
int mig_dest_recover(u16 port, char *why, size_t len);
void mig_dest_page_wanted(u64 gfn);
void mig_dest_pause(void);
void mig_dest_info(void);

/* control.c */
void mig_set_status(enum mig_event ev);
void mig_stats_reset(void);
/* An event line for serial and the network console's client (ends in \n). */
__printf(1, 2) void mig_report(const char *fmt, ...);
/* Fail the migration with a reason (printed and kept for info migrate). */
__printf(1, 2) void mig_fail(const char *fmt, ...);
void mig_progress(u64 now, u32 round, u64 remaining_bytes, u64 rate);

#endif
