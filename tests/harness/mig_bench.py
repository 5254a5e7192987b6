#!/usr/bin/env python3
"""Live-migration figures (part of `make bench`): no pass/fail, but a failure
is reported as one.

For each workload (guest-tests/mig_idle, mig_static, mig_incr, mig_hot, the
four of ../shared/docs/migration-conventions.md, and mig_verify) two Terns
boot in Bochs joined by bxhub (as tests/harness/migrate_tests.py); the guest
runs on A with 8 MiB of RAM. Then, once per `max-bandwidth` cap (256 KiB/s
and 512 KiB/s, below the ~0.9-1.6 MiB/s the Bochs link carries), the VM is
migrated from the host that holds it to the other one (A -> B, then B -> A),
with Tern's defaults otherwise (downtime-limit 300 ms, auto-converge on).

Per migration, from the source's `info migrate` (the source's clock):
total-time, setup-time, downtime (vCPU paused on the source until the
destination's ACK arrived there; the destination resumes on GO, half a round
trip later) against expected-downtime, transferred / RAM, rounds,
pages-resent, cpu-throttle-percentage (the highest the progress lines showed,
and the last); the floor of the same run, downtime-bytes / measured bandwidth
(info migrate's mbps) + one round trip (the average of `ping PEER 4` between
the two Terns just before); and the guest's progress rate from its own lines
(units of work per second of guest time, TIME_NS): before the migration,
during it (on the source, up to the stop), after it (on the destination).
The verdict on the moved guest is its own: a FAIL line, or no progress line
after the GO, is a failed run.

mig_incr runs ~10x slower in wall time under Bochs than the others; its
migrations get their own, shorter limit (--incr-limit) and, when one has not
converged by then, it is reported as "not converged after N s" with its
figures so far and cancelled (migrate_cancel).

Usage: mig_bench.py --build build [--only mig_idle]... [--limit S] [--incr-limit S]
Transcripts: BUILD/test-logs/bench-mig-WORKLOAD-{a,b}.log.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import Machine, MachineError  # noqa: E402
from run_migrate import IPS, PORT, start_hub, tern_on_hub  # noqa: E402

WORKLOADS = ("mig_idle", "mig_static", "mig_incr", "mig_hot", "mig_verify")
CAPS = (256 * 1024, 512 * 1024)
MEM = "8M"
BOOT_TIMEOUT = 300
UNITS = {"mig_verify": "passes", "mig_idle": "ticks", "mig_static": "pages verified",
         "mig_incr": "page writes", "mig_hot": "passes"}

# The guests' progress lines (docs/migration-guests.md), after Tern's `vm0| `.
PASS_RX = re.compile(r"^vm0\| mig: pass (\d+) ok: (\d+) pages verified, (\d+) writes, clock ok, "
                     r"time (\d+) ns$", re.M)
PROGRESS_RX = re.compile(r"^vm0\| mig: (idle|static|incr|hot) ok: (\d+) (ticks|pages verified|page writes|"
                         r"passes)(?:, [a-z ]+ \d+)?, time (\d+) ns$", re.M)
FAIL_RX = re.compile(r"^vm0\| mig: FAIL.*$", re.M)
GO_RX = re.compile(r"^migrate: GO received: the VM runs on this host now.*$", re.M)

# Reference data, not a result: ../shared/docs/migration-conventions.md, "QEMU 7.2
# measured on this kind of machine" (two QEMU 7.2 TCG processes, 128 MiB guests,
# localhost, downtime-limit 300 ms, max-bandwidth 8 / 32 MiB/s, median of 3 runs).
QEMU_TABLE = """\
QEMU 7.2 reference (../shared/docs/migration-conventions.md, "QEMU 7.2 measured on this kind of
machine": TCG, 128 MiB guests, localhost, downtime-limit 300 ms, max-bandwidth 8 / 32 MiB/s,
median of 3 runs; reference data, not measured here):
| workload    | cap MiB/s | pre-copy | post-copy (started by hand 2 s in) |
|---|---|---|---|
| idle        | 8 / 32 | 0.90 MiB sent, downtime 1 / 3 ms | - |
| static      | 8 / 32 | 126.8 MiB sent (1.0x), 15.7 s / 3.9 s, downtime 1 ms | - |
| incrementer | 8 / 32 | never converges: cancelled after 120 s and 961 / 3,839 MiB (7-30x RAM), expected-downtime 4.1 s / 1.0 s against 300 ms | completes: 48.8 / 96.1 MiB, 6.0 / 2.7 s, downtime 2 ms; guest at ~47 of ~2,050 passes/s during post-copy at 8 MiB/s |
| hot set     | 8 / 32 | converges: 4.9 MiB (2 MiB of it in the final copy), downtime 2-3 ms | not needed |
QEMU needs an operator for the incrementer (migrate_start_postcopy; auto-converge is off by default)."""


@dataclass
class Run:
    workload: str
    cap: int
    direction: str = ""
    outcome: str = "?"          # completed / not converged after N s / failed: ...
    wall_s: float = 0.0
    info: dict = field(default_factory=dict)
    rounds: int | None = None
    stop_reason: str = ""
    rtt_us: int | None = None
    throttle_max: int | None = None
    rate_before: float | None = None
    rate_during: float | None = None
    rate_after: float | None = None
    note: str = ""

    @property
    def ram(self) -> int | None:
        return self.info.get("total")

    def floor_ms(self) -> float | None:
        bw = self.info.get("bw")
        db = self.info.get("downtime_bytes")
        if not bw or db is None or self.rtt_us is None:
            return None
        return db / bw * 1000 + self.rtt_us / 1000


def progress_points(text: str) -> list[tuple[int, int, int]]:
    """(offset in text, cumulative count, guest time ns) of every progress line."""
    text = text.replace("(tern) ", "\n" * 7)  # a prompt ends a line (same length)
    pts = [(m.start(), int(m.group(1)), int(m.group(4))) for m in PASS_RX.finditer(text)]
    pts += [(m.start(), int(m.group(2)), int(m.group(4))) for m in PROGRESS_RX.finditer(text)]
    return sorted(pts)


def rate(pts: list[tuple[int, int, int]]) -> float | None:
    """Units of work per second of guest time over the points (first to last)."""
    if len(pts) < 2 or pts[-1][2] <= pts[0][2]:
        return None
    return (pts[-1][1] - pts[0][1]) / ((pts[-1][2] - pts[0][2]) / 1e9)


def parse_info(text: str) -> dict:
    """The fields of `info migrate` this bench reports."""
    d: dict = {}
    grab = lambda rx: re.search(rx, text, re.M)
    for key, rx in (("total_time", r"^total-time: (\d+) ms"), ("setup_time", r"^setup-time: (\d+) ms"),
                    ("total", r"^total: (\d+) bytes"), ("resent", r"^pages-resent: (\d+)"),
                    ("duplicate", r"^duplicate: (\d+) pages"), ("normal", r"^normal: (\d+) pages"),
                    ("dirty_rate", r"^dirty-pages-rate: (\d+)"), ("syncs", r"^dirty-sync-count: (\d+)"),
                    ("throttle", r"^cpu-throttle-percentage: (\d+)"), ("rounds", r"^rounds: (\d+)"),
                    ("remaining", r"^remaining: (\d+) bytes")):
        m = grab(rx)
        if m:
            d[key] = int(m.group(1))
    m = grab(r"^downtime: (\d+) ms \(expected (\d+) ms, limit (\d+) ms\)")
    if m:
        d["downtime"], d["expected"], d["limit"] = map(int, m.groups())
    m = grab(r"^expected-downtime: (\d+) ms")
    if m:
        d["expected"] = int(m.group(1))
    m = grab(r"^transferred: (\d+) bytes \(precopy-bytes (\d+), downtime-bytes (\d+)\)")
    if m:
        d["transferred"], d["precopy_bytes"], d["downtime_bytes"] = map(int, m.groups())
    m = grab(r"^mbps: (\d+)\.(\d+)")
    if m:
        d["bw"] = (int(m.group(1)) + int(m.group(2)) / 100) * 1e6 / 8  # bytes/s
    m = grab(r"^status: (\S+)")
    if m:
        d["status"] = m.group(1)
    return d


class Pair:
    """Two Terns on one bxhub; the guest starts on A."""

    def __init__(self, build: Path, workload: str):
        self.hub, base = start_hub()
        tag = workload.replace("_", "-")
        self.m = [tern_on_hub(f"bench-{tag}-a", 0, base, f"guest={workload} mem={MEM}", build,
                              guest=workload, wall_timeout=3600),
                  tern_on_hub(f"bench-{tag}-b", 1, base, f"noguest incoming=tcp:0:{PORT}", build,
                              wall_timeout=3600)]
        self.holder = 0

    def close(self) -> None:
        for x in self.m:
            x.close()
        self.hub.terminate()
        self.hub.wait(10)


def wait_points(m: Machine, mark: int, n: int, timeout: float, what: str) -> list:
    deadline = time.monotonic() + timeout
    while True:
        text = m.text_since(mark)
        bad = FAIL_RX.search(text)
        if bad:
            raise MachineError(f"{m.name}: the guest says: {bad.group(0)}")
        pts = progress_points(text)
        if len(pts) >= n:
            return pts
        if time.monotonic() > deadline or not m.running():
            raise MachineError(f"{m.name}: {len(pts)} of {n} progress lines {what} within {timeout:.0f} s")
        time.sleep(0.5)


def ping_rtt(src: Machine, dst_ip: str) -> int | None:
    mark = src.mark()
    src.command(f"ping {dst_ip} 4", None, 60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = re.search(r"^ping: \S+: \d+ transmitted, (\d+) received.*?rtt min/avg/max (\d+)/(\d+)/(\d+) us",
                      src.text_since(mark), re.M)
        if m:
            return int(m.group(3))
        if re.search(r"^ping: \S+: \d+ transmitted, 0 received", src.text_since(mark), re.M):
            return None
        time.sleep(0.5)
    return None


def migrate_once(p: Pair, workload: str, cap: int, limit: float) -> Run:
    s, d = p.holder, 1 - p.holder
    src, dst = p.m[s], p.m[d]
    r = Run(workload, cap, direction=f"{'AB'[s]}->{'AB'[d]}")
    # The destination must be listening (A after it handed the VM over is not).
    if "incoming: listening" not in dst.command("info migrate", None, 60).text:
        dst.command(f"migrate_incoming tcp:0:{PORT}", r"^migrate_incoming: listening", 60)
    r.rtt_us = ping_rtt(src, IPS[d])
    src.command(f"migrate_set_parameter max-bandwidth {cap}", r"^max-bandwidth: ", 60)
    before = progress_points(src.text())
    r.rate_before = rate(before[-3:])
    ms, md = src.mark(), dst.mark()
    t0 = time.monotonic()
    src.command(f"migrate tcp:{IPS[d]}:{PORT}", r"^migrate: to ", 60)
    done = None
    while True:
        text = src.text_since(ms)
        bad = FAIL_RX.search(text) or FAIL_RX.search(dst.text_since(md))
        if bad:
            r.outcome = f"FAILED: guest: {bad.group(0)[5:100]}"
            break
        done = re.search(r"^migrate: completed: .*\n", text, re.M)
        if done:
            break
        failed = re.search(r"^migrate: failed: (.*)\n", text, re.M)
        if failed:
            r.outcome = f"FAILED: {failed.group(1)[:70]}"
            break
        if time.monotonic() - t0 > limit:
            r.outcome = f"not converged after {limit:.0f} s"
            break
        gone = [x for x in (src, dst) if not x.running()]
        if gone:
            # Bochs exits by itself only on a panic (see its log); a status of
            # -15 or -9 is a signal from outside this harness.
            r.outcome = "FAILED: " + ", ".join(f"{x.name} exited (status {x.wait_exit(1)})" for x in gone)
            r.wall_s = time.monotonic() - t0
            return r
        time.sleep(0.5)
    r.wall_s = time.monotonic() - t0
    text = src.text_since(ms)
    r.info = parse_info(src.command("info migrate", r"^status: ", 60).text)
    rounds = re.findall(r"^migrate: round (\d+):", text, re.M)
    r.rounds = r.info.get("rounds", len(rounds))
    stop = re.search(r"^migrate: stop-and-copy \(([^)]*)\): vCPU paused, (\d+) pages left", text, re.M)
    if stop:
        r.stop_reason = f"{stop.group(1)}, {stop.group(2)} pages in the final copy"
    throttles = [int(x) for x in re.findall(r"^migrate: active, round .*throttle (\d+)%", text, re.M)]
    if "throttle" in r.info:
        throttles.append(r.info["throttle"])
    r.throttle_max = max(throttles) if throttles else None
    end = stop.start() if stop else len(text)
    during = [pt for pt in progress_points(text) if pt[0] < end]
    r.rate_during = rate(during)
    if done:
        r.outcome = "completed"
        deadline = time.monotonic() + 120
        while not (go := GO_RX.search(dst.text_since(md))):
            if time.monotonic() > deadline:
                raise MachineError(f"{dst.name}: no GO line within 120 s of the source's completion")
            time.sleep(0.5)
        p.holder = d
        try:
            pts = wait_points(dst, md + go.end(), 3 if workload != "mig_incr" else 2,
                              240 if workload == "mig_incr" else 120, "after the GO")
        except MachineError as e:
            # The guest's verdict on the move (a FAIL line, or silence): the
            # migration failed, whatever the engine reported; keep its figures.
            r.outcome = f"FAILED after GO: {e.reason}"[:160]
            return r
        r.rate_after = rate(pts)
    elif r.outcome.startswith("not converged"):
        src.command("migrate_cancel", r"^migrate: cancelled", 60)
        try:
            dst.expect(r"^migrate: (failed|incoming migration cancelled).*\n", 60, "the destination freeing its copy")
        except MachineError as e:
            r.note = f"destination: {e.reason}"
        # The guest must still run on the source.
        wait_points(src, src.mark(), 1, 240 if workload == "mig_incr" else 120, "after the cancel")
    return r


def bench_workload(build: Path, workload: str, caps, limit: float) -> list[Run]:
    p = Pair(build, workload)
    runs: list[Run] = []
    try:
        a, b = p.m
        a.start()
        b.start()
        b.expect(rf"waiting for an incoming migration on tcp port {PORT}", BOOT_TIMEOUT, "B listening")
        for x in (a, b):
            x.expect(r"console ready", BOOT_TIMEOUT, "the console")
        start = 0
        if workload == "mig_static":
            f = a.expect(r"^vm0\| mig: static filled: .*\n", BOOT_TIMEOUT, "the static fill")
            start = a.text().find(f.group(0)) + len(f.group(0))
        wait_points(a, start, 2, BOOT_TIMEOUT * (3 if workload == "mig_incr" else 1), "at start")
        for cap in caps:
            try:
                runs.append(migrate_once(p, workload, cap, limit))
                if runs[-1].outcome.startswith("FAILED"):
                    break
            except MachineError as e:
                runs.append(Run(workload, cap, outcome=f"FAILED: {e.reason}"[:120]))
                break
    except MachineError as e:
        runs.append(Run(workload, caps[len(runs)] if len(runs) < len(caps) else 0,
                        outcome=f"FAILED: {e.reason}"[:120]))
    finally:
        p.close()
    return runs


def fmt(v, spec: str = ",.0f", none: str = "-") -> str:
    return none if v is None else format(v, spec)


def table(runs: list[Run]) -> list[str]:
    out = [
        "| workload | cap KiB/s | run | outcome | total s | sent / RAM | rounds | pages resent | setup ms "
        "| downtime ms (expected) | floor ms | rate before / during / after (per guest s) | throttle max / last % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        i = r.info
        ratio = i["transferred"] / i["total"] if i.get("transferred") and i.get("total") else None
        dt = f"{i['downtime']} ({i.get('expected', '?')})" if "downtime" in i else \
            (f"- (expected {i['expected']})" if "expected" in i and r.rounds else "-")
        rates = " / ".join(fmt(x, ",.0f") for x in (r.rate_before, r.rate_during, r.rate_after))
        thr = f"{fmt(r.throttle_max, 'd')} / {fmt(i.get('throttle'), 'd')}"
        out.append(f"| {r.workload} | {r.cap // 1024} | {r.direction or '-'} | {r.outcome} | "
                   f"{fmt(i.get('total_time') / 1000 if 'total_time' in i else None, '.1f')} | "
                   f"{fmt(ratio, '.2f')}x | {fmt(r.rounds, 'd')} | {fmt(i.get('resent'), ',d')} | "
                   f"{fmt(i.get('setup_time'), 'd')} | {dt} | {fmt(r.floor_ms() if 'downtime' in i else None, '.0f')} | {rates} "
                   f"{UNITS.get(r.workload, '')} | {thr} |")
    return out


def details(runs: list[Run]) -> list[str]:
    out = []
    for r in runs:
        i = r.info
        bits = [f"wall {r.wall_s:.0f} s"]
        if "transferred" in i:
            bits.append(f"{i['transferred']:,} bytes (precopy {i['precopy_bytes']:,}, "
                        f"final copy {i['downtime_bytes']:,}) for {i.get('total', 0):,} bytes of RAM")
        if "duplicate" in i:
            bits.append(f"pages {i['duplicate']:,} zero + {i.get('normal', 0):,} normal")
        if i.get("bw"):
            bits.append(f"bandwidth {i['bw'] / 1024:,.0f} KiB/s")
        if r.rtt_us is not None:
            bits.append(f"rtt {r.rtt_us / 1000:.1f} ms")
        if r.stop_reason:
            bits.append(f"stop: {r.stop_reason}")
        if "remaining" in i and not r.outcome == "completed":
            bits.append(f"remaining {i['remaining']:,} bytes at the end")
        if r.note:
            bits.append(r.note)
        out.append(f"  {r.workload} {r.cap // 1024} KiB/s {r.direction}: " + "; ".join(bits))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--only", action="append", metavar="WORKLOAD", choices=WORKLOADS)
    ap.add_argument("--cap", action="append", type=int, metavar="BYTES_PER_S",
                    help="max-bandwidth caps (default 262144 and 524288)")
    ap.add_argument("--limit", type=float, default=120, help="wall s per migration (default 120)")
    ap.add_argument("--incr-limit", type=float, default=90,
                    help="wall s per mig_incr migration (default 90)")
    args = ap.parse_args(argv)
    build = Path(args.build).resolve()
    caps = tuple(args.cap) if args.cap else CAPS
    print()
    print(f"live migration (two Terns on Bochs over bxhub, guests with {MEM} of RAM; "
          f"downtime-limit 300 ms, auto-converge on)")
    if not (build / "tern.iso").exists():
        print(f"  not measured: {build / 'tern.iso'} missing")
        return 1
    if not shutil.which("bxhub"):
        print("  not measured: bxhub missing (Debian package bochs)")
        return 1
    t0 = time.monotonic()
    runs: list[Run] = []
    for w in args.only or WORKLOADS:
        t = time.monotonic()
        got = bench_workload(build, w, caps, args.incr_limit if w == "mig_incr" else args.limit)
        runs += got
        for line in table(got)[2:]:
            print(f"  ... {line}  [{time.monotonic() - t:.0f} s wall]", flush=True)
    print()
    print("Times are the source's clock (emulated; 1 TSC tick = 1 instruction at 100 M/s). downtime: "
          "info migrate on the source, vCPU paused there until the destination's ACK arrived (the "
          "destination runs the VM on GO, half a round trip later; the two hosts' clocks differ, so "
          "their serial lines are not subtracted). floor: downtime-bytes / measured bandwidth (info "
          "migrate mbps) + one round trip (ping between the Terns). sent / RAM: transferred / total. "
          "rates: the guest's own progress lines, units per second of guest time.")
    for line in table(runs):
        print(line)
    for line in details(runs):
        print(line)
    print()
    print(QEMU_TABLE)
    print(f"\nmigration bench: {len(runs)} migrations, {time.monotonic() - t0:.0f} s wall; "
          f"transcripts {build / 'test-logs'}/bench-mig-*-{{a,b}}.log")
    return 0 if all(not r.outcome.startswith("FAILED") for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
