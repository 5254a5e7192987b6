/*
 * QEMU's migration status machine (tern/mig_policy.h): the names query-migrate
 * and `info migrate` print, and the transitions the engine may take. One table,
 * indexed by status and event; -1 is a refused event. Pure: host unit tests in
 * tests/unit/test_mig_policy.c.
 *
 *   none -START-> setup -SETUP_DONE-> active -STOP_COPY-> device -DONE-> completed
 *   setup/active/device -ERROR-> failed, -CANCEL-> cancelling
 *   cancelling -CANCELLED-> cancelled; cancelling -ERROR-> cancelled (the cancel wins:
 *       an error while tearing down is what the cancel asked for)
 *   completed/failed/cancelled -RESET-> none, -START-> setup (a new migration)
 *   post-copy: active -POSTCOPY-> postcopy-active -DONE-> completed;
 *   postcopy-active -PAUSE-> postcopy-paused -RECOVER-> postcopy-recover
 *       -RECOVERED-> postcopy-active, -PAUSE-> postcopy-paused (the retry failed);
 *   postcopy-active -ERROR-> failed (before the hand-over: the VM resumes on
 *       the source), -CANCEL-> cancelling (likewise); postcopy-paused and
 *       postcopy-recover -ERROR-> failed (the operator gave the VM up)
 */
#include <tern/mig_policy.h>

static const char *const status_names[MIG_NR_STATUS] = {
	[MIG_NONE] = "none",
	[MIG_SETUP] = "setup",
	[MIG_ACTIVE] = "active",
	[MIG_DEVICE] = "device",
	[MIG_COMPLETED] = "completed",
	[MIG_FAILED] = "failed",
	[MIG_CANCELLING] = "cancelling",
	[MIG_CANCELLED] = "cancelled",
	[MIG_POSTCOPY_ACTIVE] = "postcopy-active",
	[MIG_POSTCOPY_PAUSED] = "postcopy-paused",
	[MIG_POSTCOPY_RECOVER] = "postcopy-recover",
};

const char *mig_status_name(enum mig_status s)
{
	if ((unsigned)s >= MIG_NR_STATUS)
		return "unknown";
	return status_names[s];
}

#define NR_EVENTS MIG_NR_EVENTS
#define NO (-1)

/* next[status][event]: the status after the event, NO when refused. */
static const signed char next[MIG_NR_STATUS][NR_EVENTS] = {
	/*                 START      SETUP_DONE  STOP_COPY   DONE           ERROR          CANCEL          CANCELLED      RESET     POSTCOPY             PAUSE                RECOVER               RECOVERED */
	[MIG_NONE]       = { MIG_SETUP, NO,         NO,         NO,            NO,            NO,             NO,            NO,       NO,                  NO,                  NO,                   NO },
	[MIG_SETUP]      = { NO,        MIG_ACTIVE, NO,         NO,            MIG_FAILED,    MIG_CANCELLING, NO,            NO,       NO,                  NO,                  NO,                   NO },
	[MIG_ACTIVE]     = { NO,        NO,         MIG_DEVICE, NO,            MIG_FAILED,    MIG_CANCELLING, NO,            NO,       MIG_POSTCOPY_ACTIVE, NO,                  NO,                   NO },
	[MIG_DEVICE]     = { NO,        NO,         NO,         MIG_COMPLETED, MIG_FAILED,    MIG_CANCELLING, NO,            NO,       NO,                  NO,                  NO,                   NO },
	[MIG_COMPLETED]  = { MIG_SETUP, NO,         NO,         NO,            NO,            NO,             NO,            MIG_NONE, NO,                  NO,                  NO,                   NO },
	[MIG_FAILED]     = { MIG_SETUP, NO,         NO,         NO,            NO,            NO,             NO,            MIG_NONE, NO,                  NO,                  NO,                   NO },
	[MIG_CANCELLING] = { NO,        NO,         NO,         NO,            MIG_CANCELLED, NO,             MIG_CANCELLED, NO,       NO,                  NO,                  NO,                   NO },
	[MIG_CANCELLED]  = { MIG_SETUP, NO,         NO,         NO,            NO,            NO,             NO,            MIG_NONE, NO,                  NO,                  NO,                   NO },
	[MIG_POSTCOPY_ACTIVE]  = { NO,  NO,         NO,         MIG_COMPLETED, MIG_FAILED,    MIG_CANCELLING, NO,            NO,       NO,                  MIG_POSTCOPY_PAUSED, NO,                   NO },
	[MIG_POSTCOPY_PAUSED]  = { NO,  NO,         NO,         NO,            MIG_FAILED,    NO,             NO,            NO,       NO,                  NO,                  MIG_POSTCOPY_RECOVER, NO },
	[MIG_POSTCOPY_RECOVER] = { NO,  NO,         NO,         NO,            MIG_FAILED,    NO,             NO,            NO,       NO,                  MIG_POSTCOPY_PAUSED, NO,                   MIG_POSTCOPY_ACTIVE },
};

int mig_status_step(enum mig_status *s, enum mig_event ev)
{
	if ((unsigned)*s >= MIG_NR_STATUS || (unsigned)ev >= NR_EVENTS)
		return -1;
	int n = next[*s][ev];
	if (n == NO)
		return -1;
	*s = (enum mig_status)n;
	return n;
}

bool mig_status_busy(enum mig_status s)
{
	return s == MIG_SETUP || s == MIG_ACTIVE || s == MIG_DEVICE || s == MIG_CANCELLING ||
	       s == MIG_POSTCOPY_ACTIVE || s == MIG_POSTCOPY_PAUSED || s == MIG_POSTCOPY_RECOVER;
}
