/*
 * Post-copy migration between two Tern hosts (docs/migration-protocol.md,
 * "Post-copy"): the hand-over, the live phase in which the destination runs the
 * guest while pages still arrive, and the recovery after a link failure.
 *
 * The source S streams pre-copy pages while the guest runs, pauses it, sends the
 * state with the MAP of the pages still to come (POSTCOPY) and waits for ACK; on
 * ACK it records "handed over" (the guest never runs on S again) and only then
 * sends GO. The destination D runs the guest on GO (or on the operator's
 * migrate_continue). In the live phase D requests a page the guest touches (REQ),
 * S answers and pushes the others, then END; D answers COMPLETE once it holds
 * every page, and S frees its copy. D never overwrites a page it holds: the
 * guest may have written it since. After a link failure both sides pause;
 * migrate_recover on D and migrate -r on S reconnect: RESUME, D's HAVE map, S
 * resends what D lacks, END, COMPLETE.
 *
 * Faults, each at any point: the link may be cut (everything in flight is lost,
 * both sides see it) up to MAXCUTS times; one message may vanish with all that
 * follow it in its direction while the connection looks up (a black hole: only
 * a timeout tells); either host may crash; every wait may time out (a free
 * choice, so also while the answer is on its way). The operator reads both
 * consoles and acts by the rules of the docs.
 *
 * Pages: NP of them. g_ver is the truth (what the guest last wrote, wherever it
 * ran), s_ver S's copy, d_ver and d_held D's. Versions: 0 the initial content,
 * 1 written on S during pre-copy, DW written on D (S never has that one).
 *
 * Properties (tests/model/run.sh):
 *   safety (monitor, ltl safe): never running on both hosts, never on S after
 *   the hand-over; every page D holds is the guest's latest content (no stale
 *   page, no overwritten write); S frees its copy, and D says completed, only
 *   when D holds every page;
 *   honest end states (assertion at the end of init, ltl settled): completed,
 *   or running on S before the hand-over, or paused with the consoles saying
 *   why (link lost: recover; source lost: cannot complete; destination lost:
 *   the VM is lost; GO not received), or lost only with a crashed host;
 *   progress (ltl done; the operator recovers until his recoveries are spent):
 *   with no fault but link faults after the hand-over, the migration completes.
 * Injected bugs (-DBUG_...), each of which spin must catch:
 * BUG_RESUME_AFTER_HANDOVER, BUG_OVERWRITE, BUG_FREE_ON_END, BUG_RUN_BEFORE_GO
 * (the monitor), BUG_TRUST_SENT and BUG_DISCARD_ON_LINK_LOSS (the end state). Reachability
 * probes (-DREACH_...) turn an end state that must be reachable into an
 * assertion failure.
 */

#define NP        2   /* guest pages */
/*
 * All the faults together are too many for a quick check (14 million states,
 * 80 s); tests/model/run.sh checks the link faults (-DNO_CRASH: a cut and a
 * black hole, so that a recovery can itself fail) and the crashes (-DNO_CUT: a
 * crash and a black hole) apart.
 */
#ifdef NO_CUT
#define MAXCUTS   0
#else
#define MAXCUTS   1   /* link cuts */
#endif
#define MAXSTALLS 1   /* black holes */
#define MAXREC    (MAXCUTS + MAXSTALLS + 1)  /* recoveries the operator types: one per fault, and one spare */
#define NONE      255
#define DW        2   /* the version the guest writes on D */

/*
 * A wait times out when nothing more can come on the connection: a black hole
 * in either direction, or a crashed peer (a cut is seen at once). It then
 * fires at any point, so also with a message still on its way. A free timeout
 * on a healthy link is the first model's subject before the hand-over (late
 * ACK, late GO); after it, such a timeout only closes the connection, which the
 * Link can already do at any point. (Promela's timeout cannot serve: the Link,
 * the crash and the operator can always still move.) So a wait on a healthy
 * link that nothing answers is a hang, and shows as an end state no console
 * explains.
 */
#define TIMEOUT (s2d_hole || d2s_hole || s_crashed || d_crashed)

mtype = { PAGE, POSTCOPY, GO, END, RESUME,            /* S -> D */
	  ACK, REFUSE, REQ, COMPLETE, HAVE,           /* D -> S */
	  CONT, CONTINUE, RECOVER, CANCEL };          /* the operator */

/* Room for everything one connection can carry, so that a send never blocks
 * (a blocked send would split the atomic step that checks the link). */
chan s2d = [8] of { mtype, byte, byte };   /* type, page or map, version */
chan d2s = [4] of { mtype, byte };         /* type, page or map */
chan op2s = [6] of { mtype };
chan op2d = [6] of { mtype };

/* S's console, in order: >= S_CON_HANDED means it says "handed over". */
#define S_CON_MIGRATING 1  /* active; then device (paused, waiting for ACK) */
#define S_CON_FAILED    2  /* "migration failed: the VM runs here" */
#define S_CON_HANDED    3  /* "handed over: postcopy-active, N pages to go" */
#define S_CON_PAUSED    4  /* "postcopy paused: link lost; run migrate -r (this host keeps the pages)" */
#define S_CON_VM_LOST   5  /* "the VM is lost: the destination is down (this copy is stale)" */
#define S_CON_COMPLETED 6
/* D's console */
#define D_CON_INMIGRATE  1 /* receiving, or paused waiting for GO */
#define D_CON_GO_MISSING 2 /* "GO not received: run migrate_continue only if the source
			      reports handed over (or is down)" */
#define D_CON_ACTIVE     3 /* postcopy-active: running, pages arriving */
#define D_CON_PAUSED     4 /* "postcopy paused: link lost; run migrate_recover here, migrate -r on the source" */
#define D_CON_LISTENING  5 /* "postcopy paused: waiting for the source to reconnect" */
#define D_CON_SRC_LOST   6 /* "the VM cannot be completed: the source is lost" */
#define D_CON_COMPLETED  7
#define D_CON_DISCARDED  8 /* "incoming migration failed: nothing kept" */
#define CON_GONE         0

/* D's states (what the operator reads besides the console) */
#define D_RECV    0
#define D_WAIT_GO 1
#define D_HOLD    2
#define D_LIVE    3
#define D_PAUSED  4
#define D_LOST    5
#define D_DONE    6
#define D_DISCARD 7

bool srun, drun;              /* the guest runs on S / on D (on D maybe blocked on a page) */
bool s_crashed, d_crashed;
bool s_handed, s_freed;
byte s_console = S_CON_MIGRATING;
byte d_console = D_CON_INMIGRATE;
byte d_state = D_RECV;
byte g_ver[NP], s_ver[NP], d_ver[NP];
bool s_dirty[NP];             /* S: not sent since last written (the MAP) */
bool todo[NP];                /* S: still to push on this connection */
bool d_recv[NP];              /* D: a pre-copy version arrived */
bool d_held[NP];              /* D: the page is valid here (mapped into the guest) */
byte d_blocked = NONE;        /* the page D's vCPU waits for */
bool d_listen;                /* D accepts a reconnection (migrate_recover) */
bool cut;                     /* the connection is down */
bool s2d_hole, d2s_hole;      /* a black hole swallows this direction */
byte cuts, stalls;
bool fault;                   /* anything went wrong */
bool hard;                    /* a fault other than a link fault after the hand-over */
bool d_continued;             /* D runs on migrate_continue */
bool resumed;                 /* a reconnection succeeded */
bool dup_written;             /* D dropped a re-sent page the guest had written */

#define all_held (d_held[0] && d_held[1])
#define held_map (d_held[0] + 2 * d_held[1])

inline link_fault() {
	fault = true;
	if
	:: !s_handed -> hard = true   /* before the hand-over a failure fails the migration */
	:: else -> skip
	fi
}

inline drain() {
	do :: s2d?_, _, _ :: empty(s2d) -> break od;
	do :: d2s?_, _ :: empty(d2s) -> break od
}

/* A side gives up on the connection (a timeout): it closes it, the peer sees the cut. */
inline close_link() {
	atomic { cut = true; drain() }
}

inline send_s2d(mt, a1, a2) {
	atomic {
		if
		:: cut || s2d_hole -> skip
		:: !cut && !s2d_hole && stalls < MAXSTALLS -> stalls++; s2d_hole = true; link_fault()
		:: !cut && !s2d_hole -> s2d!mt, a1, a2
		fi
	}
}

inline send_d2s(mt, a1) {
	atomic {
		if
		:: cut || d2s_hole -> skip
		:: !cut && !d2s_hole && stalls < MAXSTALLS -> stalls++; d2s_hole = true; link_fault()
		:: !cut && !d2s_hole -> d2s!mt, a1
		fi
	}
}

/* S sends page pg from its copy; in pre-copy that also clears its dirty bit. */
inline s_send_page(pg) {
	atomic { todo[pg] = false; s_dirty[pg] = false; send_s2d(PAGE, pg, s_ver[pg]) }
}

inline s_guest_write(pg) {
	atomic { s_ver[pg] = 1; g_ver[pg] = 1; s_dirty[pg] = true }
}

proctype Source() {
	byte pg, m;
	bool end_sent, ok;
	{
		/* pre-copy: page 0 may be sent, and written (once) before or after it
		 * was; page 1 is always left to post-copy (the first model covers the
		 * rounds themselves) */
		do
		:: s_dirty[0] -> s_send_page(0)
		:: s_ver[0] == 0 -> s_guest_write(0)
		:: op2s?CONT -> skip                  /* already running */
		:: break                              /* the switch to post-copy */
		:: cut -> goto s_failed
		:: atomic { fault = true; hard = true }; goto s_failed   /* an error while streaming */
		od;
		/* the switch: pause, send the state with the map of pages still to come */
		atomic {
			srun = false;
			todo[0] = s_dirty[0]; todo[1] = s_dirty[1];
			m = s_dirty[0] + 2 * s_dirty[1]
		};
		send_s2d(POSTCOPY, m, 0);
		m = 0;
		do
		:: d2s?ACK, _ -> break
		:: d2s?REFUSE, _ -> atomic { fault = true; hard = true }; goto s_resume
		:: op2s?CONT -> atomic { fault = true; hard = true }; goto s_resume  /* cancel */
		:: op2s?RECOVER -> skip
		:: op2s?CANCEL -> skip
		:: cut -> goto s_resume
		:: TIMEOUT -> goto s_resume
		od;
		atomic { s_handed = true; s_console = S_CON_HANDED; send_s2d(GO, 0, 0) };
s_live:
		/* answer requests, push the rest, END, wait for COMPLETE */
		atomic { s_console = S_CON_HANDED; end_sent = false };
		do
		:: atomic { d2s?REQ, pg -> s_send_page(pg); pg = 0 }
		:: atomic { todo[0] -> s_send_page(0) }
		:: atomic { todo[1] -> s_send_page(1) }
		:: atomic { !todo[0] && !todo[1] && !end_sent -> send_s2d(END, 0, 0); end_sent = true }
#ifdef BUG_FREE_ON_END
			; goto s_done
#endif
		:: d2s?COMPLETE, _ -> goto s_done
		:: op2s?_ -> skip                     /* cont refused; nothing to recover or cancel */
		:: cut -> goto s_paused
		:: TIMEOUT -> close_link(); goto s_paused
		od;
s_paused:
		/* S keeps every page; the guest runs on D and never here again */
		s_console = S_CON_PAUSED;
#ifdef BUG_RESUME_AFTER_HANDOVER
		if
		:: srun = true      /* "the link is gone: take the guest back" */
		:: skip
		fi;
#endif
end_s_paused:
		do
		:: atomic {
			op2s?RECOVER ->               /* migrate -r: reconnect */
			if
			:: d_listen ->
				ok = true; d_listen = false;
				cut = false; s2d_hole = false; d2s_hole = false;
				drain()
			:: else -> ok = false         /* refused: D does not listen */
			fi
		   };
			if
			:: ok -> ok = false; break
			:: else -> skip
			fi
		:: op2s?CANCEL -> s_console = S_CON_VM_LOST; goto s_vm_lost   /* D is down */
		:: op2s?CONT -> skip                  /* refused */
		od;
		send_s2d(RESUME, 0, 0);
		s_console = S_CON_HANDED;
		do
		:: d2s?HAVE, m ->
#ifndef BUG_TRUST_SENT
			atomic { todo[0] = !(m & 1); todo[1] = !(m & 2) };
#endif
			/* with the bug: resend only what was never sent (todo as it is) */
			m = 0;
			resumed = true;
			goto s_live
		:: op2s?_ -> skip
		:: cut -> goto s_paused
		:: TIMEOUT -> close_link(); goto s_paused
		od;
s_done:
		atomic { s_freed = true; s_console = S_CON_COMPLETED };
end_s_done:	do
		:: d2s?_, _ -> skip
		:: op2s?_ -> skip
		od;
s_vm_lost:
end_s_lost:	do
		:: op2s?_ -> skip
		:: d2s?_, _ -> skip
		od;
s_resume:	srun = true;
s_failed:	close_link();      /* D discards its partial copy, or holds without GO */
		s_console = S_CON_FAILED;
		/* the guest runs here; a late ACK is ignored, no GO is ever sent */
end_s_failed:	do
		:: d2s?_, _ -> skip
		:: op2s?_ -> skip
		od
	} unless { s_crashed }
}

/* D's vCPU touches page pg: it writes a page it holds (page 1 only, once, to
 * bound: page 1 always comes by post-copy) and blocks on one it lacks, with a
 * request when the link is up (live). */
inline d_touch(pg, live) {
	if
	:: drun && d_blocked == NONE && d_held[pg] && d_ver[pg] != DW && pg == 1 ->
		atomic {
			assert(d_ver[pg] == g_ver[pg]);   /* the guest sees its own latest write */
			d_ver[pg] = DW; g_ver[pg] = DW
		}
	:: atomic {
		drun && d_blocked == NONE && !d_held[pg] ->
		d_blocked = pg;
		if
		:: live -> send_d2s(REQ, pg)
		:: else -> skip
		fi
	   }
	fi
}

/* A page arrives: stored only if D lacks it (D's copy may have been written since). */
inline d_store(pg, ver) {
	if
	:: !d_held[pg] -> d_held[pg] = true; d_ver[pg] = ver
	:: else ->
		dup_written = dup_written || d_ver[pg] == DW;
#ifdef BUG_OVERWRITE
		d_ver[pg] = ver
#else
		skip
#endif
	fi;
	if
	:: d_blocked == pg -> d_blocked = NONE
	:: else -> skip
	fi
}

proctype Dest() {
	byte pg, v, m;
	bool d_end;
	{
		/* pre-copy: versions arrive and may be superseded */
		do
		:: atomic { s2d?PAGE, pg, v -> d_recv[pg] = true; d_ver[pg] = v; pg = 0; v = 0 }
		:: s2d?POSTCOPY, m, _ -> break
		:: cut -> goto d_discard
		:: TIMEOUT -> goto d_discard
		:: op2d?_ -> skip
		od;
		/* load the state: the pages not in the map are valid */
		atomic { d_held[0] = d_recv[0] && !(m & 1); d_held[1] = d_recv[1] && !(m & 2); m = 0 };
		if
		:: skip
		:: atomic { fault = true; hard = true }; send_d2s(REFUSE, 0); goto d_discard
		fi;
		send_d2s(ACK, 0);
		d_state = D_WAIT_GO;
#ifdef BUG_RUN_BEFORE_GO
		goto d_run;
#endif
		if
		:: s2d?GO, _, _ -> skip
		:: op2d?CONTINUE -> d_continued = true
		:: cut || TIMEOUT -> atomic { d_state = D_HOLD; d_console = D_CON_GO_MISSING }
end_d_hold:		if
			:: op2d?CONTINUE -> d_continued = true
			:: s2d?GO, _, _ -> skip           /* a late GO still hands over */
			fi
		fi;
d_run:		drun = true;
d_live:
		atomic { d_state = D_LIVE; d_console = D_CON_ACTIVE; d_end = false; d_listen = false };
		do
		:: atomic { s2d?PAGE, pg, v -> d_store(pg, v); pg = 0; v = 0 }
		:: s2d?END, _, _ -> d_end = true
		:: s2d?GO, _, _ -> skip               /* after migrate_continue */
		:: atomic { d_end && all_held -> send_d2s(COMPLETE, 0); goto d_done }
		:: d_touch(0, true)
		:: d_touch(1, true)
		:: op2d?_ -> skip                     /* the link is up: nothing to do */
		:: cut -> goto d_paused
		:: TIMEOUT -> close_link(); goto d_paused
		od;
d_paused:
		/* the guest runs on until it touches a missing page; nothing is discarded */
#ifdef BUG_DISCARD_ON_LINK_LOSS
		goto d_discard;
#endif
		atomic { d_state = D_PAUSED; d_console = D_CON_PAUSED; d_listen = false };
end_d_paused:
		do
		:: d_touch(0, false)
		:: d_touch(1, false)
		:: op2d?RECOVER -> atomic { d_listen = true; d_console = D_CON_LISTENING }
		:: atomic {
			s2d?RESUME, _, _ -> d_console = D_CON_ACTIVE; d_listen = false;
			send_d2s(HAVE, held_map)      /* on the connection RESUME came by */
		   };
			goto d_live
		:: d_console == D_CON_LISTENING && !d_listen && cut ->
			d_console = D_CON_PAUSED  /* the new connection died before RESUME */
		:: op2d?CANCEL ->                     /* the operator: the source is down */
			if
			:: all_held -> goto d_done
			:: else -> goto d_lost
			fi
		:: op2d?CONTINUE -> skip
		od;
d_lost:
		atomic { d_state = D_LOST; d_console = D_CON_SRC_LOST; d_listen = false };
end_d_lost:	do
		:: d_touch(0, false)
		:: d_touch(1, false)
		:: op2d?_ -> skip
		od;
d_done:
		atomic { d_state = D_DONE; d_console = D_CON_COMPLETED; d_listen = false };
		/* a COMPLETE lost with the link: S reconnects, HAVE says all, END, COMPLETE */
end_d_done:	do
		:: d_touch(0, false)
		:: d_touch(1, false)
		:: op2d?RECOVER -> d_listen = true
		:: op2d?CANCEL -> skip
		:: op2d?CONTINUE -> skip
		:: s2d?PAGE, _, _ -> skip
		:: atomic { s2d?RESUME, _, _ -> send_d2s(HAVE, held_map) }
		:: atomic { s2d?END, _, _ -> send_d2s(COMPLETE, 0) }
		od;
d_discard:
		atomic {
			d_state = D_DISCARD; d_console = D_CON_DISCARDED; drun = false;
			d_held[0] = false; d_held[1] = false; d_blocked = NONE
		};
end_d_discard:	do
		:: s2d?_, _, _ -> skip
		:: op2d?_ -> skip
		od
	} unless { d_crashed }
}

/* The link: cut at any point, up to MAXCUTS times; all in flight is lost. */
proctype Link() {
	do
	:: cuts < MAXCUTS && !cut -> atomic { cut = true; cuts++; link_fault(); drain() }
	:: break
	od
}

/* One host crashes, at any point after the hand-over (crashes before it, and
 * of both hosts, are the first model's: end_of_migration.pml). */
proctype Crash() {
end_crash:
	if
#ifndef NO_CRASH
	:: s_handed -> atomic { s_crashed = true; srun = false; s_console = CON_GONE; fault = true; hard = true }
	:: s_handed -> atomic {
		d_crashed = true; drun = false; d_listen = false; d_console = CON_GONE;
		fault = true; hard = true
	   }
#endif
	:: skip
	fi
}

/*
 * The operator reads both consoles and follows the rules of the docs. Only the
 * recoveries are counted: every other command changes the console it was
 * typed on, which is what the operator waits for (len(...) == 0: the last
 * command was read). He never gives up: a console that waits for him is
 * checked when his recoveries are spent. `cont` on S is the first model's (refused after the
 * hand-over; before it, it cancels).
 */
proctype Operator() {
	byte recs;
end_op:	do
	:: len(op2d) == 0 && !d_crashed && d_state == D_HOLD &&
	   (s_console >= S_CON_HANDED || s_crashed) -> op2d!CONTINUE
	:: recs < MAXREC && len(op2d) == 0 && !d_listen && s_console == S_CON_PAUSED &&
	   (d_console == D_CON_PAUSED || d_console == D_CON_COMPLETED) -> op2d!RECOVER; recs++
	:: len(op2s) == 0 && d_listen && s_console == S_CON_PAUSED -> op2s!RECOVER
	:: s_crashed && len(op2d) == 0 && (d_console == D_CON_PAUSED || d_console == D_CON_LISTENING) ->
	   op2d!CANCEL
	:: d_crashed && len(op2s) == 0 && s_console == S_CON_PAUSED -> op2s!CANCEL
	od
}

#define pages_ok ((!d_held[0] || d_ver[0] == g_ver[0]) && (!d_held[1] || d_ver[1] == g_ver[1]))
#define safe_inv (!(srun && drun) && !(s_handed && srun) && pages_ok && \
		  (!s_freed || all_held) && (d_console != D_CON_COMPLETED || all_held))

/* Safety at every step: a monitor that can only move when it is violated. */
proctype Monitor() {
end_mon:	atomic { !safe_inv -> assert(false) }
}

#define s_told (s_console == S_CON_PAUSED)
#define d_told (d_console == D_CON_PAUSED || d_console == D_CON_LISTENING)
#define completed (s_freed && d_console == D_CON_COMPLETED)
#define honest ( \
	(s_freed && (d_console == D_CON_COMPLETED || d_crashed)) || \
	(d_console == D_CON_COMPLETED && (s_told || s_crashed)) || \
	(srun && !s_handed) || \
	(s_crashed && (d_crashed || (!s_handed && d_state == D_DISCARD))) || \
	(d_told && (s_told || s_crashed)) || \
	(d_console == D_CON_SRC_LOST && s_crashed) || \
	(d_crashed && (s_told || s_console == S_CON_VM_LOST)) || \
	(d_console == D_CON_GO_MISSING && (s_console >= S_CON_HANDED || s_crashed)))

ltl safe { [] safe_inv }
ltl settled { <> [] honest }
ltl done { ([] !hard) -> <> completed }

init {
	srun = true;
	s_dirty[0] = true; s_dirty[1] = true;
	atomic {
		run Monitor(); run Source(); run Dest(); run Link();
		run Crash(); run Operator()
	};
	timeout;   /* everything has stopped: an end state */
	assert(safe_inv);
	assert(honest);
#ifdef REACH_CLEAN
	assert(!(completed && !fault));                 /* the plain post-copy */
#endif
#ifdef REACH_RECOVERED
	assert(!(completed && resumed));
#endif
#ifdef REACH_RETRIED
	assert(!(completed && cuts == 1 && stalls == 1 && resumed));  /* three link faults, still done */
#endif
#ifdef REACH_CONTINUE
	assert(!(completed && d_continued));            /* GO lost, continued, completed */
#endif
#ifdef REACH_SOURCE_LOST
	assert(!(d_console == D_CON_SRC_LOST && d_blocked != NONE));  /* paused at a missing page */
#endif
#ifdef REACH_DONE_ALONE
	assert(!(d_console == D_CON_COMPLETED && s_crashed && !s_freed));  /* every page was here */
#endif
#ifdef REACH_DEST_LOST
	assert(!(s_console == S_CON_VM_LOST));
#endif
#ifdef REACH_DUP
	assert(!dup_written);                           /* a re-sent page dropped, the write kept */
#endif
#ifdef REACH_S_RESUMES
	assert(!(srun && d_console == D_CON_GO_MISSING));  /* ACK lost: S took the guest back */
#endif
}
