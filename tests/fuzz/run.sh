#!/usr/bin/env bash
# The libFuzzer targets (tests/fuzz/fuzz_*.c): builds them on the host with
# clang (ASan + UBSan) into $BUILD/fuzz/ (BUILD=build unless set, as in the
# Makefile) and runs each for a bounded time.
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
BUILD=${BUILD:-build}
OUT=$BUILD/fuzz
CC=${FUZZ_CC:-clang}
SAN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"
CFLAGS="-std=gnu11 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Wshadow -Wno-unused-parameter \
        -Iinclude -Iarch/x86_64 -DTERN_HOST_TEST"
LWIP=$BUILD/lwip/src
LWIP_INC="-Inet/include -I$LWIP/include"
MBEDTLS=$BUILD/mbedtls
# (its include/mbedtls/config.h, made by build-mbedtls.sh, includes Tern's)
MBEDTLS_INC="-I$MBEDTLS/include -Inet/mbedtls"
NET_SRCS="net/net.c net/netif_nic.c net/tcp_guard.c net/tcp_test.c net/ping.c net/tcp_pattern.c hv/cmdline.c hv/dirty_mode.c \
          drivers/e1000_ring.c"

# TARGET -> "fuzz source | Tern sources | extra flags | max_len"
declare -A T
T[fuzz_console]="fuzz_console.c|hv/console_cmd.c||4096"
T[fuzz_cmdline]="fuzz_cmdline.c|hv/cmdline.c hv/dirty_mode.c||2048"
T[fuzz_mb2]="fuzz_mb2.c|boot/mb2/mb2_parse.c||8192"
T[fuzz_elf]="fuzz_elf.c|hv/elf_load.c||8192"
T[fuzz_e1000_rx]="fuzz_e1000_rx.c|drivers/e1000_ring.c||4096"
T[fuzz_e1000_regs]="fuzz_e1000_regs.c|drivers/e1000_ring.c||2048"
T[fuzz_netcon_session]="fuzz_netcon_session.c|net/netcon_session.c hv/console_cmd.c||8192"
T[fuzz_lwip_input]="fuzz_lwip_input.c|$NET_SRCS|LWIP|16384"
T[fuzz_lwip_dhcp]="fuzz_lwip_input.c|$NET_SRCS|LWIP -DFUZZ_DHCP|16384"
T[fuzz_tls_server]="fuzz_tls_server.c||MBEDTLS|16384"
T[fuzz_mig_stream]="fuzz_mig_stream.c|migrate/stream.c||24576"
T[fuzz_vcpu_state]="fuzz_vcpu_state.c|arch/x86_64/vcpu_state_check.c||4740"
ORDER="fuzz_console fuzz_cmdline fuzz_mb2 fuzz_elf fuzz_e1000_rx fuzz_e1000_regs fuzz_netcon_session \
       fuzz_lwip_input fuzz_lwip_dhcp fuzz_tls_server fuzz_mig_stream fuzz_vcpu_state"
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

# third_party NAME MAKE_TARGET PROBE FLAGS DEPS -- SRC...: a library for the
# host from the sources its build script unpacked (make MAKE_TARGET when PROBE
# is missing), with the sanitizers and libFuzzer's coverage, into $OUT/NAME/;
# built once, again when a source, one of DEPS (headers) or this script changes.
third_party() {
    local name=$1 target=$2 probe=$3 flags=$4 deps=()
    shift 4
    while [ "$1" != -- ]; do deps+=("$1"); shift; done
    shift
    if [ ! -f "$probe" ]; then
        echo "fuzz: $name sources missing, building them: make $target"
        make BUILD="$BUILD" "$target" >"$OUT/logs/$name-make.log" 2>&1 ||
            { echo "fuzz: make $target failed, see $OUT/logs/$name-make.log"; return 1; }
    fi
    local srcs=() pat
    # shellcheck disable=SC2206 # the patterns are expanded here, once the sources exist
    for pat in "$@"; do srcs+=($pat); done
    if stale "$OUT/$name/.stamp" "${srcs[@]}" "${deps[@]}" "$SELF"; then
        mkdir -p "$OUT/$name"
        rm -f "$OUT/$name"/*.o "$OUT/$name/.stamp"
        export CC DIR=$OUT/$name LIB_FLAGS="-std=gnu11 -O1 -g -fno-omit-frame-pointer -w \
            -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all $flags"
        # shellcheck disable=SC2016 # expanded by the inner shell
        printf '%s\n' "${srcs[@]}" | xargs -P "$(nproc)" -I{} bash -c \
            '$CC $LIB_FLAGS -c "$1" -o "$DIR/$(basename "$1" .c).o"' _ {} \
            >"$OUT/logs/$name-build.log" 2>&1 ||
            { echo "fuzz: $name did not build, see $OUT/logs/$name-build.log"; return 1; }
        touch "$OUT/$name/.stamp"
    fi
}

# lwIP 2.1.3 with our lwipopts.h; mbedTLS 2.28 with Tern's configuration.
build_lwip() {
    third_party lwip "$BUILD/lwip/liblwip.a" "$LWIP/include/lwip/opt.h" "$LWIP_INC" \
        net/include "$LWIP/include" -- "$LWIP/core/*.c" "$LWIP/core/ipv4/*.c" "$LWIP/netif/ethernet.c"
}
build_mbedtls() {
    third_party mbedtls "$MBEDTLS/libmbedcrypto-tern.a" "$MBEDTLS/src/library/ssl_srv.c" \
        "$MBEDTLS_INC" net/mbedtls "$MBEDTLS/include" -- "$MBEDTLS/src/library/*.c"
}

# build TARGET: the binary $OUT/TARGET; its errors in logs/TARGET.build. It is
# rebuilt when any file its sources include changed: the preprocessor's list
# (-MM) of every source is kept in $OUT/TARGET.deps.
build() {
    local t=$1 src tern extra _max
    IFS='|' read -r src tern extra _max <<<"${T[$t]}"
    local flags=$CFLAGS objs=()
    if [[ $extra == LWIP* ]]; then
        flags="$flags $LWIP_INC ${extra#LWIP}"
        objs=("$OUT"/lwip/*.o)
    elif [[ $extra == MBEDTLS* ]]; then
        flags="$flags $MBEDTLS_INC ${extra#MBEDTLS}"
        objs=("$OUT"/mbedtls/*.o)
    fi
    local srcs deps=()
    # shellcheck disable=SC2206
    srcs=("tests/fuzz/$src" tests/fuzz/seed_util.c $tern)
    [ -f "$OUT/$t.deps" ] || rm -f "$OUT/$t"
    [ -f "$OUT/$t.deps" ] && mapfile -t deps < <(sed -e 's/\\$//' -e 's/^[^:]*://' "$OUT/$t.deps" |
                                                tr ' ' '\n' | grep . | sort -u)
    if stale "$OUT/$t" "${deps[@]}" "${srcs[@]}" "$SELF" "${objs[@]}"; then
        rm -f "$OUT/$t.deps"
        # shellcheck disable=SC2086
        if ! $CC $flags $SAN "${srcs[@]}" "${objs[@]}" -o "$OUT/$t" >"$OUT/logs/$t.build" 2>&1; then
            rm -f "$OUT/$t"
            return 1
        fi
        local f
        for f in "${srcs[@]}"; do
            # shellcheck disable=SC2086
            $CC $flags -MM "$f" >>"$OUT/$t.deps" 2>>"$OUT/logs/$t.build" || { rm -f "$OUT/$t"; return 1; }
        done
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
need_lwip=0 need_mbedtls=0
for t in $TARGETS; do
    [[ ${T[$t]} == *LWIP* ]] && need_lwip=1
    [[ ${T[$t]} == *MBEDTLS* ]] && need_mbedtls=1
done
lwip_ok=1 mbedtls_ok=1
[ $need_lwip -eq 1 ] && { build_lwip || lwip_ok=0; }
[ $need_mbedtls -eq 1 ] && { build_mbedtls || mbedtls_ok=0; }

echo "fuzz: building $TARGETS" | tr -s ' '
ready=()
for t in $TARGETS; do
    if [[ ${T[$t]} == *LWIP* ]] && [ $lwip_ok -eq 0 ]; then
        echo "FAIL $t: lwIP for the host did not build" >"$OUT/logs/$t.result"
    elif [[ ${T[$t]} == *MBEDTLS* ]] && [ $mbedtls_ok -eq 0 ]; then
        echo "FAIL $t: mbedTLS for the host did not build" >"$OUT/logs/$t.result"
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
