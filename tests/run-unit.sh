#!/usr/bin/env bash
# Runs host unit-test binaries (tests/unit/test_*.c built by `make unit-test`)
# and adds up their "N passed, N failed" lines into one summary, so that a
# crash, a hang or a sanitizer report also counts as a failure.
# Usage: run-unit.sh BINARY...   (UNIT_TIMEOUT: seconds per binary, default 120)
set -uo pipefail

total_pass=0 total_fail=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

for bin in "$@"; do
    echo "== $bin"
    timeout "${UNIT_TIMEOUT:-120}" "$bin" 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    if [ -n "$summary" ]; then
        read -r p _ f _ <<<"$summary"
    else
        p=$(grep -c '^PASS ' "$out") f=0
    fi
    # No summary (crash, hang) or a bad exit after it (e.g. a leak report):
    # one more failure for the binary itself.
    if [ "$rc" -ne 0 ] && { [ -z "$summary" ] || [ "$f" -eq 0 ]; }; then
        echo "FAIL $bin: exited with status $rc"
        f=$((f + 1))
    fi
    total_pass=$((total_pass + p)) total_fail=$((total_fail + f))
done

echo "unit: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
