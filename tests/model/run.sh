#!/usr/bin/env bash
# The migration protocol models (docs/migration-protocol.md), checked with spin.
# models/end_of_migration.pml (pre-copy's end): the safety run (assertions:
# never running on both hosts, never silently nowhere at the end; invalid end
# states), the LTL properties (safe, settled, done with strict timeouts), the
# non-progress-cycle run. models/postcopy.pml (post-copy's hand-over, live
# phase and recovery; cases named postcopy/...): the safety runs for the link
# faults and for the crashes, and done (an operator who recovers). Then, for
# each model, each injected bug and each reachability probe, for which spin
# must FIND a violation (so the model cannot pass vacuously).
# Prints one line per case and "model: N passed, N failed"; exit 1 on failure.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
MODELS=$PWD/models
MODEL=$MODELS/end_of_migration.pml   # the model check() uses

if ! command -v spin >/dev/null 2>&1; then
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    echo "model: installing spin"
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq spin >/dev/null 2>&1 ||
        { "${SUDO[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq spin; }
fi
command -v spin >/dev/null 2>&1 || { echo "model: spin not available"; echo "model: 0 passed, 1 failed"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0 fail=0

# check NAME EXPECT "SPIN -D FLAGS" "GCC FLAGS" "PAN FLAGS" [WHY]
# EXPECT: ok (no error may be found) or find (spin must report an error, and
# its report must match the extended regexp WHY: the violation for the reason
# the case is about, not some other).
check() {
    local name=$1 expect=$2 sflags=$3 cflags=$4 pflags=$5 why=${6:-.} dir=$work/$1 out errors states secs
    mkdir -p "$dir"
    cp "$MODEL" "$dir/m.pml"
    if ! (cd "$dir" && spin $sflags -a m.pml >spin.log 2>&1 && gcc -O2 $cflags -o pan pan.c 2>gcc.log); then
        echo "FAIL $name: spin -a or gcc failed"; cat "$dir/spin.log" "$dir/gcc.log" 2>/dev/null | tail -5
        fail=$((fail + 1)); return
    fi
    out=$(cd "$dir" && ./pan -m200000 $pflags 2>&1)
    errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' <<<"$out" | tail -n 1)
    states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' <<<"$out" | tail -n 1)
    secs=$(sed -n 's/^pan: elapsed time \([0-9.e+]*\) seconds.*/\1/p' <<<"$out" | tail -n 1)
    if [ -z "$errors" ]; then
        echo "FAIL $name: pan gave no verdict"; tail -5 <<<"$out"; fail=$((fail + 1))
    elif [ "$expect" = ok ] && [ "$errors" -eq 0 ]; then
        echo "PASS $name: no error, $states states, ${secs:-?} s"; pass=$((pass + 1))
    elif [ "$expect" = find ] && [ "$errors" -gt 0 ] && grep -qE "$why" <<<"$out"; then
        echo "PASS $name: violation found as it must be ($(grep -m1 -oE 'assertion violated|acceptance cycle|invalid end state|non-progress cycle' <<<"$out"))"
        pass=$((pass + 1))
    else
        echo "FAIL $name: expected $expect, pan says errors: $errors"
        grep -E 'violated|cycle|invalid end' <<<"$out" | head -3
        fail=$((fail + 1))
    fi
}

# The protocol as implemented.
check safety            ok   ""                 "-DSAFETY -DNOCLAIM" ""
check ltl_safe          ok   ""                 ""                   "-a -N safe"
check ltl_settled       ok   ""                 ""                   "-a -N settled"
check non_progress      ok   ""                 "-DNP"               "-l"
check ltl_done_strict   ok   "-DSTRICT_TIMEOUTS" ""                  "-a -N done"
# The three protocol bugs of the brief, two console bugs, a careless operator, a lost GO.
# Running on both hosts: the monitor's assert(false) or init's assert(!(srun && drun)).
both='assertion violated (0 |!\(\(srun&&drun\)\))'
# Silently nowhere: the end-state assertion (it starts with srun||drun).
nowhere='assertion violated \(+srun\|\|drun'
for bug in BUG_RESUME_AFTER_GO BUG_RUN_ON_ACK BUG_GO_BEFORE_HANDOVER BUG_CARELESS_OPERATOR; do
    check "$bug" find "-D$bug" "-DSAFETY -DNOCLAIM" "" "$both"
done
for bug in BUG_DISCARD_ON_GO_TIMEOUT BUG_SILENT_HOLD; do
    check "$bug" find "-D$bug" "-DSAFETY -DNOCLAIM" "" "$nowhere"
done
check BUG_NO_GO         find "-DSTRICT_TIMEOUTS -DBUG_NO_GO" "" "-a -N done" "acceptance cycle"
# The interesting end states are reached at all (each probe asserts it is not).
for probe in REACH_D_RUNS REACH_CONTINUE REACH_CRASH_CONTINUE REACH_S_RESUMES REACH_HOLD; do
    check "$probe" find "-D$probe" "-DSAFETY -DNOCLAIM" "" "assertion violated +!"
done

# Post-copy (models/postcopy.pml). The link faults (a cut and a black hole)
# and the crashes (one host, and a black hole) are checked apart: together
# they take 80 s.
MODEL=$MODELS/postcopy.pml
pc=postcopy
safety="-DSAFETY -DNOCLAIM"
check $pc/safety_link   ok   "-DNO_CRASH"             "$safety" ""
check $pc/safety_crash  ok   "-DNO_CUT"               "$safety" ""
check $pc/ltl_done      ok   "-DNO_CRASH"  ""        "-a -N done"
# The monitor's assert(false) (running twice, a stale or overwritten page, S
# freed or D completed without every page), or the guest's own check.
unsafe='assertion violated (0 |\(d_ver\[)'
# An end state no console explains: init's assert(honest || live_wait).
dishonest='assertion violated \(+s_freed'
for bug in BUG_RESUME_AFTER_HANDOVER BUG_OVERWRITE BUG_FREE_ON_END BUG_RUN_BEFORE_GO; do
    check "$pc/$bug" find "-DNO_CRASH -D$bug" "$safety" "" "$unsafe"
done
# Discarding on a link loss leaves the VM nowhere; trusting S's "sent" set
# leaves D waiting on a healthy link for a page that never comes (a hang).
for bug in BUG_DISCARD_ON_LINK_LOSS BUG_TRUST_SENT; do
    check "$pc/$bug" find "-DNO_CRASH -D$bug" "$safety" "" "$dishonest"
done
for probe in REACH_CLEAN REACH_RECOVERED REACH_RETRIED REACH_CONTINUE REACH_DUP REACH_S_RESUMES; do
    check "$pc/$probe" find "-DNO_CRASH -D$probe" "$safety" "" "assertion violated +!"
done
for probe in REACH_SOURCE_LOST REACH_DONE_ALONE REACH_DEST_LOST; do
    check "$pc/$probe" find "-DNO_CUT -D$probe" "$safety" "" "assertion violated +!"
done

echo "model: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
