/*
 * The boot configuration: a kernel-style command line of key=value words
 * ("guest=demo mem=64M"), from GRUB or from tern.cfg on the ESP. Pure code.
 */
#ifndef TERN_CMDLINE_H
#define TERN_CMDLINE_H

#include <tern/types.h>
#include <tern/dirty.h>

#define CMDLINE_MEM_MIN (4ULL << 20)
#define CMDLINE_MEM_MAX (4ULL << 30) /* the guest start map covers 4 GiB */
#define CMDLINE_MEM_DEFAULT (64ULL << 20)
#define CMDLINE_NETCON_PORT 4444
#define CMDLINE_MIGRATE_PSK_ID "tern-migrate"

struct hv_config {
	u64 guest_mem;    /* bytes, multiple of 2 MiB */
	char guest[64];   /* the guest module's name (informational) */
	bool no_guest;    /* "noguest": boot with the console only */
	enum dirty_mode dirty_mode; /* "dirty=auto|pml|wp" */
	/* Network (docs/network.md). Addresses in host byte order. */
	bool net_dhcp;    /* "ip=dhcp" */
	u32 ip_addr;      /* "ip=A.B.C.D/PREFIX", 0 = no static address */
	u8 ip_prefix;
	u32 gw_addr;      /* "gw=A.B.C.D" */
	u16 netcon_port;  /* "netcon_port=N", default 4444 */
	u8 netcon_psk[64];       /* "netcon_psk=HEX" (2..128 hex digits) */
	u32 netcon_psk_len;      /* 0 = no key: the TLS console stays closed */
	char netcon_psk_id[64];  /* "netcon_psk_id=NAME", default "tern" */
	bool netcon_plain;       /* "netcon_plain": unencrypted console, tests only */
	bool debug_crash;        /* "debug_crash": the console's `crash` command works */
	bool stamp_guest;        /* "stamp_guest": guest lines carry Tern's cycle count (make bench) */
	u16 incoming_port;       /* "incoming=tcp:0:PORT": wait for a migrating VM */
	bool migrate_test;       /* "migrate_test": the x-fault parameter works (tests only) */
	bool test_hypercalls;    /* "test_hypercalls": the dirty-log test hypercalls answer */
	/* The migration's own TLS key: the console's key must not open a stream
	 * that carries all of guest memory (docs/network-console.md). */
	u8 migrate_psk[64];      /* "migrate_psk=HEX" (2..128 hex digits) */
	u32 migrate_psk_len;     /* 0 = no migration key */
	char migrate_psk_id[64]; /* "migrate_psk_id=NAME", default "tern-migrate" */
	bool migrate_plain;      /* "migrate_plain": unencrypted migration, private links only */
};

/*
 * Copy cmdline to out (out_len bytes, always terminated) with the value of
 * every secret option (netcon_psk=, migrate_psk=) replaced by "<hidden>",
 * for logging.
 */
void cmdline_redact(const char *cmdline, char *out, size_t out_len);

/* "A.B.C.D" -> host-order address; -1 on syntax error. */
int parse_ipv4(const char *s, u32 *out);

/*
 * Parse cmdline into cfg (defaults first). Unknown keys and bad values are
 * reported through warn(ctx, message) and otherwise ignored: a bad config
 * never stops Tern from booting. Returns the number of warnings.
 */
int cmdline_parse(const char *cmdline, struct hv_config *cfg,
		  void (*warn)(void *ctx, const char *msg), void *ctx);
/* "64M", "1G", "65536K", "4194304" -> bytes; -1 on syntax error or overflow. */
s64 parse_size(const char *s);

#endif
