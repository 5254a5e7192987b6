/*
 * Live migration (migrate/, docs/migration.md): Tern's own engine moves the
 * running VM to another Tern host over its own TCP/IP stack. The source
 * streams RAM in rounds while the guest runs (pre-copy, dirty pages from the
 * VM's dirty log), pauses the vCPU for the final copy and the CPU/device
 * state, and hands over with the ACK/GO protocol of docs/migration-protocol.md;
 * the destination creates the VM from the stream and runs it only on GO.
 * The pure parts are tern/mig_stream.h and tern/mig_policy.h.
 * Context: the service loop (console commands, migrate_poll), like lwIP.
 */
#ifndef TERN_MIGRATE_H
#define TERN_MIGRATE_H

#include <tern/types.h>

struct hv_config;
struct pmm;
struct vm;

/* Boot: keep the VM slot and allocator for incoming VMs; listen when the
 * boot option incoming=tcp:0:PORT asks. After net_init. */
void migrate_init(const struct hv_config *cfg, struct vm *slot, struct pmm *pmm);
/* Drive the migration in progress (either side); cheap when none runs. */
void migrate_poll(void);

/*
 * The share of the vCPU's time auto-converge takes away now, in percent
 * (0 = none): the service loop idles the vCPU for that share.
 */
u32 migrate_throttle(void);
/* Post-copy, destination (hv/vm_absent.c): the vCPU waits for absent page
 * gfn (ask the source for it); it waited ns for a page that arrived. */
void migrate_page_wanted(u64 gfn);
void migrate_page_latency(u64 ns);
/* True while a migration owns the VM's dirty log (other users are refused). */
bool migrate_owns_dirty_log(const struct vm *vm);

/* ---- console commands (QEMU's names); each prints its own answer ---- */
void migrate_cmd_migrate(int argc, char *const *argv);      /* migrate [-d|-r] tcp:HOST:PORT */
void migrate_cmd_incoming(const char *uri);            /* migrate_incoming tcp:0:PORT */
void migrate_cmd_cancel(void);
void migrate_cmd_continue(void);
void migrate_cmd_start_postcopy(void);                 /* migrate_start_postcopy */
void migrate_cmd_recover(const char *uri);             /* migrate_recover tcp:0:PORT */
void migrate_cmd_pause(void);                          /* migrate_pause */
void migrate_cmd_set_parameter(const char *name, const char *value);
void migrate_cmd_set_capability(const char *name, const char *value);
void migrate_cmd_info(void);                           /* info migrate */
void migrate_cmd_info_parameters(void);
void migrate_cmd_info_capabilities(void);

#endif
