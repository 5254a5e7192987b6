#!/usr/bin/env bash
# What `make test` runs: build everything, then the host unit tests, then the
# guest tests under the emulators. Each stage's "N passed, N failed" line is
# added up; the last line printed is the total, and the exit status is non-zero
# if any stage failed. A stage that fails without a count counts as 1 failure.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

MAKE=${MAKE:-make}
BUILD=build
total_pass=0 total_fail=0 bad=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# stage NAME CMD...: run CMD, stream its output, add its counts.
stage() {
    local name=$1; shift
    local t0 rc line p=0 f=0
    echo "==== $name: $*"
    t0=${EPOCHREALTIME/[.,]/}
    "$@" 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    line=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
    [ -n "$line" ] && read -r p _ f _ <<<"$line"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
    fi
    [ "$rc" -ne 0 ] && bad=1
    total_pass=$((total_pass + p)) total_fail=$((total_fail + f))
    local ms=$(( (${EPOCHREALTIME/[.,]/} - t0) / 1000 ))
    printf '==== %s: %s (exit %d, %d passed, %d failed, %d.%03d s)\n' "$name" \
        "$([ "$rc" -eq 0 ] && [ "$f" -eq 0 ] && echo ok || echo FAILED)" \
        "$rc" "$p" "$f" $((ms / 1000)) $((ms % 1000))
    return "$rc"
}

build_ok=1
stage build "$MAKE" -j2 all || build_ok=0
stage unit "$MAKE" unit-test
stage model bash tests/model/run.sh
stage fuzz bash tests/fuzz/run.sh smoke
if [ ! -f tests/harness/guest_tests.py ]; then
    echo "==== guest: SKIPPED (tests/harness/guest_tests.py does not exist yet)"
elif [ $build_ok -eq 0 ]; then
    echo "==== guest: SKIPPED (the build failed)"
else
    stage guest python3 tests/harness/guest_tests.py --build "$BUILD"
    # The ISO on UEFI (QEMU and Bochs), a CPU without EPT, the NIC probe.
    stage boot python3 tests/harness/boot_tests.py --build "$BUILD"
    # Network: QEMU with a Linux peer in a namespace, two Terns over bxhub,
    # the TLS console (needs root for namespaces and tap devices).
    stage net python3 tests/harness/net_tests.py --build "$BUILD"
    stage netcon python3 tests/harness/netcon_tests.py --build "$BUILD"
    # Live migration between two Terns on Bochs (PML and write protection).
    stage migrate python3 tests/harness/migrate_tests.py --build "$BUILD"
    # Post-copy and the automatic hybrid, with a broken link recovered.
    stage postcopy python3 tests/harness/postcopy_tests.py --build "$BUILD"
    # Debian's stock kernel under Tern: its initramfs on the host, then the
    # guest's shell answering through the serial mux on Bochs.
    stage linux-files "$MAKE" linux-guest-check
    stage linux python3 tests/harness/linux_tests.py --build "$BUILD"
fi

echo "$total_pass passed, $total_fail failed"
[ $bad -eq 0 ] && [ "$total_fail" -eq 0 ]
