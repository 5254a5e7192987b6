/*
 * The management console: command table, parser and line editor are pure
 * code (hv/console_cmd.c, unit-tested and fuzzed on the host); hv/console.c
 * connects them to the serial port and to the VM.
 * Command names follow QEMU's monitor so operators' habits carry over.
 */
#ifndef TERN_CONSOLE_H
#define TERN_CONSOLE_H

#include <tern/types.h>

#define CON_LINE_MAX 256
#define CON_MAX_ARGS 8
#define CON_PROMPT "(tern) "

enum con_cmd_id {
	CON_HELP,
	CON_INFO_STATUS,
	CON_INFO_VM,
	CON_INFO_REGISTERS,
	CON_INFO_EXITS,
	CON_INFO_VERSION,
	CON_INFO_DIRTY,
	CON_INFO_NETWORK,
	CON_CALC_DIRTY_RATE,
	CON_DIRTY_LOG_MODE,
	CON_PING,
	CON_NET_SEND,
	CON_STOP,
	CON_CONT,
	CON_SYSTEM_RESET,
	CON_SHUTDOWN,
	CON_CRASH,
	CON_MIGRATE,
	CON_MIGRATE_INCOMING,
	CON_MIGRATE_CANCEL,
	CON_MIGRATE_CONTINUE,
	CON_MIGRATE_START_POSTCOPY,
	CON_MIGRATE_RECOVER,
	CON_MIGRATE_PAUSE,
	CON_MIGRATE_SET_PARAMETER,
	CON_MIGRATE_SET_CAPABILITY,
	CON_MIGRATE_SET_SPEED,
	CON_MIGRATE_SET_DOWNTIME,
	CON_INFO_MIGRATE,
	CON_INFO_MIGRATE_PARAMETERS,
	CON_INFO_MIGRATE_CAPABILITIES,
	CON_NR_CMDS
};

struct con_cmd_desc {
	const char *name; /* "info status": one or two words */
	enum con_cmd_id id;
	int min_args, max_args;
	const char *args; /* usage of the arguments, "" if none */
	const char *help;
};

extern const struct con_cmd_desc con_commands[CON_NR_CMDS];

struct con_parsed {
	const struct con_cmd_desc *cmd;
	int argc;
	char *argv[CON_MAX_ARGS];
};

/*
 * Parse one line in place (it is split into words). Returns 1 with *out
 * filled, 0 for an empty line, -1 with a one-line message in err.
 */
int con_parse(char *line, struct con_parsed *out, char *err, size_t err_len);

/* A line editor for a byte stream: backspace, CR/LF, overlong lines. */
struct con_line {
	char buf[CON_LINE_MAX + 1];
	u32 len;
	bool overflow; /* the current line grew past CON_LINE_MAX: it is dropped */
	bool last_cr;  /* swallow the LF of a CR LF pair */
	char echo[2];
};

enum con_feed_result {
	CON_FEED_NONE,    /* nothing to do */
	CON_FEED_ECHO,    /* echo *echo (a printable byte or "\b \b") */
	CON_FEED_LINE,    /* a complete line is in buf */
	CON_FEED_TOOLONG, /* a line was too long and has been dropped */
};

void con_line_init(struct con_line *l);

/* ---- the serial console (hv/console.c); context: the service loop ---- */
void con_init(void);
/* Serve what COM1 has received, a bounded amount per call. */
void con_poll(void);
/* What `info status` says while there is no VM. */
void con_set_no_vm_reason(const char *why);
/* Boot option debug_crash: let the `crash` command bring Tern down. */
void con_allow_crash(bool allow);
/* Boot option stamp_guest: the VM's relayed serial lines read
 * "vm0| @CYCLES text", CYCLES being arch_cycles() at the line's first byte. */
void con_stamp_guest(bool on);
enum con_feed_result con_line_feed(struct con_line *l, int c, const char **echo);

/*
 * hv/console.c: run one command line exactly as if typed at the serial
 * console, its whole answer going to sink instead of the serial port (the
 * network console, net/netcon.c). Context: service loop.
 */
void con_run_line_to(char *line, void (*sink)(void *ctx, const char *buf, size_t len), void *ctx);

#endif
