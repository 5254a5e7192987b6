#!/usr/bin/env bash
# The libFuzzer targets (tests/fuzz/fuzz_*.c): builds them on the host with
# clang (ASan + UBSan) into build/fuzz/ and runs each for a bounded time.
# Usage: tests/fuzz/run.sh smoke|long|build [TARGET...]
#   smoke  15 s per target (make test, make fuzz-smoke)
#   long   10 minutes per target (make fuzz)
#   build  build only
# FUZZ_TIME=S overrides the seconds per target, FUZZ_JOBS=N how many run at
# once (default: 2, or 1 on a single CPU). FUZZ_SEED=N fixes libFuzzer's
# random seed: smoke runs use 1 unless told otherwise, so a clean checkout
# explores the same inputs each time and `make test` does not pass or fail
# by luck; long runs take a fresh seed each time, to find what is new.
# Seeds: each target writes its own (FUZZ_SEED_DIR, see seed_util.c) into
# build/fuzz/seeds/TARGET; tests/fuzz/seeds/TARGET/ holds inputs that once
# failed (regressions: a target fails at once while one still does). What
# the fuzzer finds grows build/fuzz/corpus/TARGET, kept between runs.
# A crash, leak, timeout, sanitizer report or failed invariant leaves the
# input in build/fuzz/artifacts/TARGET-* and fails the target. One line per
# target (PASS/FAIL), then "fuzz: N passed, N failed"; exit 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

MODE=${1:-smoke}
[ $# -gt 0 ] && shift
case $MODE in
smoke) SECS=${FUZZ_TIME:-15} ;;
long) SECS=${FUZZ_TIME:-600} ;;
build) SECS=0 ;;
*) echo "usage: $0 smoke|long|build [TARGET...]" >&2; exit 2 ;;
esac
JOBS=${FUZZ_JOBS:-$([ "$(nproc)" -gt 1 ] && echo 2 || echo 1)}

SELF=tests/fuzz/run.sh
OUT=build/fuzz
CC=${FUZZ_CC:-clang}
SAN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"
CFLAGS="-std=gnu11 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Wshadow -Wno-unused-parameter \
        -Iinclude -Iarch/x86_64 -DTERN_HOST_TEST"
LWIP=build/lwip/src
LWIP_INC="-Inet/include -I$LWIP/include"
NET_SRCS="net/net.c net/netif_nic.c net/tcp_guard.c net/tcp_test.c net/ping.c net/tcp_pattern.c hv/cmdline.c hv/dirty_mode.c \
          drivers/e1000_ring.c"

# TARGET -> "fuzz source | Tern sources | extra flags | max_len"
declare -A T
T[fuzz_console]="fuzz_console.c|hv/console_cmd.c||4096"
T[fuzz_cmdline]="fuzz_cmdline.c|hv/cmdline.c hv/dirty_mode.c||2048"
T[fuzz_mb2]="fuzz_mb2.c|boot/mb2/mb2_parse.c||8192"
T[fuzz_elf]="fuzz_elf.c|hv/elf_load.c||8192"
T[fuzz_e1000_rx]="fuzz_e1000_rx.c|drivers/e1000_ring.c||4096"
T[fuzz_netcon_session]="fuzz_netcon_session.c|net/netcon_session.c hv/console_cmd.c||8192"
T[fuzz_lwip_input]="fuzz_lwip_input.c|$NET_SRCS|LWIP|16384"
T[fuzz_lwip_dhcp]="fuzz_lwip_input.c|$NET_SRCS|LWIP -DFUZZ_DHCP|16384"
ORDER="fuzz_console fuzz_cmdline fuzz_mb2 fuzz_elf fuzz_e1000_rx fuzz_netcon_session \
       fuzz_lwip_input fuzz_lwip_dhcp"
TARGETS=${*:-$ORDER}
for t in $TARGETS; do
    [ -n "${T[$t]:-}" ] || { echo "unknown target $t (targets: $ORDER)" >&2; exit 2; }
done

command -v "$CC" >/dev/null || { echo "FAIL fuzz: $CC not found (scripts/install-deps.sh)"; \
    echo "fuzz: 0 passed, 1 failed"; exit 1; }
mkdir -p "$OUT/logs" "$OUT/artifacts" "$OUT/corpus" "$OUT/seeds" "$OUT/lwip"

# Is $1 missing or older than any of the other files?
stale() {
    local out=$1; shift
    [ -e "$out" ] || return 0
    [ -n "$(find "$@" -newer "$out" -print -quit 2>/dev/null)" ]
}

# lwIP 2.1.3 for the host: the sources scripts/build-lwip.sh unpacked, our
# lwipopts.h, the sanitizers; built once, again when they change.
build_lwip() {
    if [ ! -f "$LWIP/include/lwip/opt.h" ]; then
        echo "fuzz: lwIP sources missing, building them: make build/lwip/liblwip.a"
        make build/lwip/liblwip.a >"$OUT/logs/lwip-make.log" 2>&1 ||
            { echo "fuzz: make build/lwip/liblwip.a failed, see $OUT/logs/lwip-make.log"; return 1; }
    fi
    local srcs=("$LWIP"/core/*.c "$LWIP"/core/ipv4/*.c "$LWIP/netif/ethernet.c")
    if stale "$OUT/lwip/.stamp" "${srcs[@]}" net/include "$LWIP/include" "$SELF"; then
        rm -f "$OUT"/lwip/*.o "$OUT/lwip/.stamp"
        export CC OUT LWIP_FLAGS="-std=gnu11 -O1 -g -fno-omit-frame-pointer -w \
            -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all $LWIP_INC"
        # shellcheck disable=SC2016 # expanded by the inner shell
        printf '%s\n' "${srcs[@]}" | xargs -P "$(nproc)" -I{} bash -c \
            '$CC $LWIP_FLAGS -c "$1" -o "$OUT/lwip/$(basename "$1" .c).o"' _ {} \
            >"$OUT/logs/lwip-build.log" 2>&1 ||
            { echo "fuzz: lwIP did not build, see $OUT/logs/lwip-build.log"; return 1; }
        touch "$OUT/lwip/.stamp"
    fi
}

# build TARGET: the binary build/fuzz/TARGET; its errors in logs/TARGET.build.
build() {
    local t=$1 src tern extra _max
    IFS='|' read -r src tern extra _max <<<"${T[$t]}"
    local flags=$CFLAGS objs=()
    if [[ $extra == LWIP* ]]; then
        flags="$flags $LWIP_INC ${extra#LWIP}"
        objs=("$OUT"/lwip/*.o)
    fi
    # shellcheck disable=SC2086
    if stale "$OUT/$t" "tests/fuzz/$src" tests/fuzz/seed_util.c tests/fuzz/fuzz.h $tern include net/include \
            "$SELF" "${objs[@]}"; then
        # shellcheck disable=SC2086
        $CC $flags $SAN "tests/fuzz/$src" tests/fuzz/seed_util.c $tern "${objs[@]}" \
            -o "$OUT/$t" >"$OUT/logs/$t.build" 2>&1 || { rm -f "$OUT/$t"; return 1; }
    fi
}

# run TARGET: one result line into logs/TARGET.result.
run() {
    local t=$1 src _tern _extra max
    IFS='|' read -r src _tern _extra max <<<"${T[$t]}"
    local log=$OUT/logs/$t.log res=$OUT/logs/$t.result
    rm -f "$res" "$OUT/artifacts/$t-"*
    rm -rf "$OUT/seeds/$t" "$OUT/seeds/$t.dict"
    mkdir -p "$OUT/seeds/$t" "$OUT/corpus/$t"
    if ! FUZZ_SEED_DIR=$OUT/seeds/$t "$OUT/$t" >"$log" 2>&1; then
        echo "FAIL $t: writing the seeds failed, see $log" >"$res"
        return
    fi
    local args=(-max_total_time="$SECS" -max_len="$max" -timeout=25 -rss_limit_mb=2560
                -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$t-")
    [ -f "$OUT/seeds/$t.dict" ] && args+=(-dict="$OUT/seeds/$t.dict")
    local seed=${FUZZ_SEED:-$([ "$MODE" = smoke ] && echo 1)}
    [ -n "$seed" ] && args+=(-seed="$seed")
    args+=("$OUT/corpus/$t" "$OUT/seeds/$t")
    [ -d "tests/fuzz/seeds/$t" ] && args+=("tests/fuzz/seeds/$t")
    local t0=$SECONDS
    timeout $((SECS * 2 + 300)) "$OUT/$t" "${args[@]}" >"$log" 2>&1
    local rc=$? runs secs rate cov
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1)
    secs=$((SECONDS - t0))
    if [ "$rc" -eq 0 ] && grep -q '^Done [0-9]* runs' "$log"; then
        echo "PASS $t: ${runs:-?} runs in $secs s (${rate:-?}/s; $cov)" >"$res"
    else
        local why art
        why=$(grep -m1 -E 'invariant failed|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|assertion failed' "$log")
        art=$(ls "$OUT/artifacts/$t-"* 2>/dev/null | head -n 1)
        [ $rc -eq 124 ] && why="hung (killed after $((SECS * 2 + 300)) s)"
        echo "FAIL $t: ${why:-exit status $rc}${art:+; input: $art}; log: $log" >"$res"
    fi
}

failed=0 passed=0
need_lwip=0
for t in $TARGETS; do [[ ${T[$t]} == *LWIP* ]] && need_lwip=1; done
lwip_ok=1
[ $need_lwip -eq 1 ] && { build_lwip || lwip_ok=0; }

echo "fuzz: building $TARGETS" | tr -s ' '
ready=()
for t in $TARGETS; do
    if [[ ${T[$t]} == *LWIP* ]] && [ $lwip_ok -eq 0 ]; then
        echo "FAIL $t: lwIP for the host did not build" >"$OUT/logs/$t.result"
    elif ! build "$t"; then
        echo "FAIL $t: build failed:" >"$OUT/logs/$t.result"
        grep -m5 -E 'error' "$OUT/logs/$t.build" | sed 's/^/    /' >>"$OUT/logs/$t.result"
    elif [ "$MODE" = build ]; then
        echo "PASS $t: built $OUT/$t" >"$OUT/logs/$t.result"
    else
        ready+=("$t")
    fi
done

if [ ${#ready[@]} -gt 0 ]; then
    echo "fuzz: running ${#ready[@]} targets, $SECS s each, $JOBS at a time"
    for t in "${ready[@]}"; do
        while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
        run "$t" &
    done
    wait
fi

for t in $TARGETS; do
    res=$OUT/logs/$t.result
    [ -f "$res" ] || echo "FAIL $t: no result" >"$res"
    cat "$res"
    if grep -q '^PASS' "$res"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
