/*
 * The names of the dirty-tracking mechanisms, shared by the boot option
 * (dirty=, hv/cmdline.c), the console (dirty_log_mode) and the log itself.
 * Pure: unit-tested with the config parser.
 */
#include <tern/dirty.h>
#include <string.h>

const char *dirty_mode_name(enum dirty_mode m)
{
	switch (m) {
	case DIRTY_AUTO: return "auto";
	case DIRTY_WP: return "write-protect";
	case DIRTY_PML: return "pml";
	}
	return "?";
}

int dirty_mode_parse(const char *s)
{
	if (!strcmp(s, "auto"))
		return DIRTY_AUTO;
	if (!strcmp(s, "pml"))
		return DIRTY_PML;
	if (!strcmp(s, "wp"))
		return DIRTY_WP;
	return -1;
}
