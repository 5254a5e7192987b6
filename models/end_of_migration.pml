/*
 * The end of a live migration between two Tern hosts (docs/migration-protocol.md),
 * as the engine implements it (migrate/source.c, migrate/dest.c): the source S
 * streams pages while the guest runs, pauses it, sends END with the state and
 * waits for ACK; on ACK it records "handed over" (postmigrate: the VM never runs
 * on S again, `cont` is refused) and only then sends GO. The destination D loads
 * and validates the state on END, answers REFUSE (and discards) or ACK, and runs
 * the guest only on GO, or on the operator's migrate_continue.
 *
 * Faults, each at any point: the link may lose one single message, or be cut
 * (everything in flight and everything sent later is lost); either host may
 * crash (its VM and its console are gone); every wait may time out (a
 * nondeterministic choice, so a timeout may also fire while the answer is still
 * on its way: late messages). The operator reads both consoles; he may type
 * migrate_continue on D only while D holds the paused copy after ACK and S's
 * console says handed over or S is down, and `cont` on S at any time.
 *
 * Properties (tests/model/run.sh):
 *   safety: never srun && drun (monitor process, and ltl safe);
 *   never silently nowhere: in every end state the guest runs somewhere, or it
 *   is lost only because the host that alone held it crashed, or D holds the
 *   paused complete copy and the consoles tell the operator to continue it
 *   (assertion in init at the end, and ltl settled);
 *   progress: with no fault at all the guest ends up running on D (ltl done);
 *   no cycles without progress (pan -l).
 * Injected bugs (-D...), each of which spin must catch: BUG_RESUME_AFTER_GO,
 * BUG_RUN_ON_ACK, BUG_GO_BEFORE_HANDOVER, BUG_DISCARD_ON_GO_TIMEOUT,
 * BUG_SILENT_HOLD, BUG_CARELESS_OPERATOR, BUG_NO_GO (with STRICT_TIMEOUTS:
 * `done` must fail). Reachability probes (-DREACH_...)
 * turn a state that must be reachable into an assertion failure.
 */

#define MAXROUNDS 2   /* pre-copy rounds (PAGES messages) before the final copy */
#define MAXDROPS  1   /* single lost messages */
#define MAXOPS    2   /* operator commands */

/*
 * A timeout is a free choice by default: it may fire at any time, even with the
 * answer on its way (the most general case, for safety). With -DSTRICT_TIMEOUTS
 * it fires only when nothing else in the system can move (Promela's timeout):
 * the progress property `done` is checked that way, so that a missing message
 * shows as a hang rather than hiding behind a timeout that was free to fire.
 */
#ifdef STRICT_TIMEOUTS
#define TIMEOUT timeout
#else
#define TIMEOUT true
#endif

mtype = { PAGES, END, GO, ACK, REFUSE, CONT, CONTINUE };

chan s2d = [4] of { mtype };   /* S -> D: PAGES* END GO; room for all, sends never block */
chan d2s = [2] of { mtype };   /* D -> S: ACK or REFUSE */
chan op2s = [MAXOPS] of { mtype };  /* the operator on S's console */
chan op2d = [MAXOPS] of { mtype };  /* the operator on D's console */

/* what each console shows */
#define S_CON_MIGRATING 1  /* info status: running, or paused (finish-migrate) */
#define S_CON_FAILED    2  /* "migration failed: the VM runs here" */
#define S_CON_HANDED    3  /* "handed over to D: status postmigrate, cont refused" */
#define D_CON_INMIGRATE 1  /* status inmigrate: receiving or paused waiting for GO */
#define D_CON_GO_MISSING 2 /* "GO not received: run migrate_continue only if the source
                              reports handed over (or is down)" */
#define D_CON_RUNNING   3
#define D_CON_DISCARDED 4  /* "incoming migration failed: nothing kept" */
#define CON_GONE        0  /* the host crashed */

/* D's states */
#define D_WAIT    0
#define D_RECV    1
#define D_WAIT_GO 2   /* ACK sent, the complete copy paused */
#define D_HOLD    3   /* GO not received, the copy kept paused */
#define D_RUN     4
#define D_DISCARD 5

bool srun, drun;              /* the guest runs on S / on D */
bool s_crashed, d_crashed;
bool s_handed;                /* S recorded the handover */
byte s_console = S_CON_MIGRATING;
byte d_console = D_CON_INMIGRATE;
byte d_state = D_WAIT;
bool cut;                     /* the link is cut */
byte drops;                   /* single messages lost so far */
bool fault;                   /* a loss, cut, crash, refusal, error or cancel happened */
bool d_continued;             /* D runs on the operator's migrate_continue */

/* A message on the link: lost after a cut, or alone. */
inline send(ch, m) {
	if
	:: cut -> skip
	:: !cut && drops < MAXDROPS -> drops++; fault = true   /* this one is lost */
	:: !cut -> ch!m
	fi
}

/* S's console is served between the engine's steps: `cont` resumes a guest
 * the migration paused, until the handover is recorded; then it is refused. */
inline s_console_poll() {
	if
	:: op2s?CONT ->
		if
		:: s_handed -> skip                  /* refused: postmigrate */
		:: !s_handed && !srun -> fault = true; goto s_resume  /* migration cancelled */
		:: !s_handed && srun -> skip         /* already running */
		fi
	:: true -> skip
	fi
}

proctype Source() {
	byte r = 0;
	{
		/* streaming: the guest runs */
		do
		:: r < MAXROUNDS -> send(s2d, PAGES); r++; s_console_poll()
		:: r >= 1 -> break                    /* converged (or N2/N3) */
		:: fault = true; goto s_failed        /* link loss or error while streaming */
		od;
		/* stop and copy */
		srun = false;
		send(s2d, END);
		s_console_poll();
		if
		:: d2s?ACK -> skip
		:: d2s?REFUSE -> fault = true; goto s_resume
		:: op2s?CONT -> fault = true; goto s_resume    /* cont before handover: cancel */
		:: TIMEOUT -> goto s_resume                    /* timeout or link loss */
		fi;
		s_console_poll();
#ifdef BUG_GO_BEFORE_HANDOVER
		send(s2d, GO);
		s_console_poll();
		atomic { s_handed = true; s_console = S_CON_HANDED };
#else
		atomic { s_handed = true; s_console = S_CON_HANDED };
		s_console_poll();
#ifndef BUG_NO_GO
		send(s2d, GO);
#endif
#endif
#ifdef BUG_RESUME_AFTER_GO
		if
		:: srun = true     /* the link dropped after GO: take the guest back */
		:: skip
		fi;
#endif
		/* postmigrate: cont refused for ever, late messages ignored */
end_post:	do
		:: op2s?CONT -> skip
		:: d2s?_ -> skip
		od;
s_resume:	atomic { srun = true; s_console = S_CON_FAILED };
s_failed:	s_console = S_CON_FAILED;
		/* the guest runs here; a late ACK or REFUSE is ignored, no GO is ever sent */
end_failed:	do
		:: d2s?_ -> skip
		:: op2s?CONT -> skip
		od
	} unless { s_crashed }
}

proctype Dest() {
	{
		/* receiving the stream */
		do
		:: s2d?PAGES -> d_state = D_RECV
		:: s2d?END -> break
		:: s2d?GO -> goto d_discard           /* cannot happen before END */
		:: TIMEOUT -> goto d_discard          /* timeout or link loss: discard the partial copy */
		od;
		/* load and validate */
		if
		:: skip                               /* valid */
		:: fault = true; send(d2s, REFUSE); goto d_discard
		fi;
		send(d2s, ACK);
		d_state = D_WAIT_GO;
#ifdef BUG_RUN_ON_ACK
		atomic { drun = true; d_state = D_RUN; d_console = D_CON_RUNNING };
		goto end_d_run;
#endif
		if
		:: s2d?GO -> goto d_run
		:: op2d?CONTINUE -> d_continued = true; goto d_run
		:: TIMEOUT -> skip                    /* timeout or link loss without GO */
		fi;
#ifdef BUG_DISCARD_ON_GO_TIMEOUT
		goto d_discard;
#endif
#ifdef BUG_SILENT_HOLD
		d_state = D_HOLD;
#else
		atomic { d_state = D_HOLD; d_console = D_CON_GO_MISSING };
#endif
		/* paused, nothing discarded: the operator decides */
end_d_hold:	if
		:: op2d?CONTINUE -> d_continued = true
		:: s2d?GO -> skip                     /* a late GO still hands over */
		fi;
d_run:		atomic { drun = true; d_state = D_RUN; d_console = D_CON_RUNNING };
end_d_run:	do
		:: s2d?_ -> skip
		:: op2d?_ -> skip
		od;
d_discard:	atomic { d_state = D_DISCARD; d_console = D_CON_DISCARDED };
end_d_discard:	do
		:: s2d?_ -> skip
		:: op2d?_ -> skip
		od
	} unless { d_crashed }
}

/* The link: cut once, at any point; everything in flight is lost with it. */
proctype Link() {
	if
	:: atomic {
		cut = true; fault = true;
		do :: s2d?_ :: empty(s2d) -> break od;
		do :: d2s?_ :: empty(d2s) -> break od
	   }
	:: skip
	fi
}

proctype CrashS() {
	if
	:: atomic { s_crashed = true; srun = false; s_console = CON_GONE; fault = true }
	:: skip
	fi
}

proctype CrashD() {
	if
	:: atomic { d_crashed = true; drun = false; d_console = CON_GONE; d_state = D_DISCARD; fault = true }
	:: skip
	fi
}

/* The operator reads both consoles (a crashed host's console is gone). */
proctype Operator() {
	byte n = 0;
	do
	:: n < MAXOPS && !s_crashed -> op2s!CONT; n++
#ifdef BUG_CARELESS_OPERATOR
	:: n < MAXOPS && !d_crashed && (d_state == D_WAIT_GO || d_state == D_HOLD) ->
		op2d!CONTINUE; n++
#else
	:: n < MAXOPS && !d_crashed && (d_state == D_WAIT_GO || d_state == D_HOLD) &&
	   (s_console == S_CON_HANDED || s_crashed) -> op2d!CONTINUE; n++
#endif
	:: break
	od
}

/* Safety at every step: a monitor that can only move when it is violated. */
proctype Monitor() {
end_mon:	atomic { (srun && drun) -> assert(false) }
}

#define lost_by_crash ((d_crashed && s_handed) || (s_crashed && !s_handed))
#define d_holds_told (d_state == D_HOLD && !d_crashed && d_console == D_CON_GO_MISSING && \
		      (s_console == S_CON_HANDED || s_crashed))
#define settled_ok (srun || drun || lost_by_crash || d_holds_told)

ltl safe { [] !(srun && drun) }
ltl settled { <> [] settled_ok }
ltl done { ([] !fault) -> <> (drun && d_state == D_RUN && s_handed) }

init {
	srun = true;
	atomic {
		run Monitor(); run Source(); run Dest(); run Link();
		run CrashS(); run CrashD(); run Operator()
	};
	timeout;   /* everything has stopped: an end state */
	assert(!(srun && drun));
#ifndef STRICT_TIMEOUTS
	/* (with strict timeouts this timeout may come before the sides' own) */
	assert(settled_ok);
#endif
#ifdef REACH_D_RUNS
	assert(!(drun && !srun && s_handed && !fault));   /* the plain success */
#endif
#ifdef REACH_CONTINUE
	assert(!(drun && d_continued && !s_crashed));  /* GO lost, the operator continued */
#endif
#ifdef REACH_CRASH_CONTINUE
	assert(!(drun && s_crashed && !s_handed));  /* S died after the copy, D saved it */
#endif
#ifdef REACH_S_RESUMES
	assert(!(srun && d_state == D_HOLD));       /* ACK lost: S took the guest back, D holds and says so */
#endif
#ifdef REACH_HOLD
	assert(!d_holds_told);                      /* an end state waiting for the operator */
#endif
}
