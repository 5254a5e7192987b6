#!/usr/bin/env python3
"""Post-copy figures (part of `make bench`, after mig_bench.py): no pass/fail,
but a failure is reported as one.

For mig_incr and mig_hot (docs/migration-guests.md; 8 MiB guests), two Terns
boot in Bochs joined by bxhub, as in mig_bench.py, with postcopy-ram on on
both. Per max-bandwidth cap (512 KiB/s, then 256 KiB/s; the cap paces the
pages the source pushes after GO, never the ones the destination asks for)
the VM moves twice, back and forth on one pair:
  pure    `migrate` then `migrate_start_postcopy` at once: every page absent
          on the destination when the guest resumes there;
  hybrid  `migrate` only: pre-copy rounds until the policy switches by itself
          (docs/migration.md, "Post-copy and the hybrid").

Per migration, from `info migrate` on both sides after both said completed:
  wire / RAM      transferred / total (source);
  wire / ws       transferred / (normal x 4096 + duplicate x 10): the source's
                  own page counts, so a page sent twice counts twice in both
                  terms; the ratio is the stream's overhead (goal <= 1.1x);
  page sends      (normal + duplicate) / RAM pages (1.00 = each page once);
  pc time         source's postcopy-time (GO to the last page) against its
                  postcopy-bytes / cap: the cap is kept by the source's clock
                  (the two emulators' clocks run at their own paces); asked-for
                  pages are not paced but count against the pushes' allowance;
  latency         destination's postcopy-latency min / median / max against
                  2 round trips (ping between the Terns) + one page / cap;
  blocked         destination's postcopy-blocked (the vCPU's waiting time,
                  guest faults, Tern's own accesses); source's asked / pushed;
  guest rate      from the guest's own lines (units per second of guest time):
                  before (source, last 3 lines before `migrate`), during
                  (destination, between GO and the last page), after
                  (destination, after the last page); when no two lines fell
                  inside the post-copy phase, "<=N" is the rate from the last
                  line before GO to the first after the last page, an upper
                  bound (it includes full-speed stretches);
  downtime        source's downtime, and for the hybrid postcopy-switch (round,
                  reason).

Prints a table, details, QEMU 7.2's post-copy figures beside them, and rewrites
the block between the PC_BEGIN / PC_END markers of docs/migration-bench.md
after every migration (a run stopped half-way keeps what it measured; with
--only, the other workload's rows stay).

Usage: pc_bench.py --build build [--only mig_hot] [--cap BYTES]... [--limit S] [--no-doc]
Transcripts: BUILD/test-logs/bench-pc-WORKLOAD-{a,b}.log (a pair booted after a
failed run: bench-pc-WORKLOAD-N-{a,b}.log).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import ROOT, Machine, MachineError  # noqa: E402
from mig_bench import (BOOT_TIMEOUT, FAIL_RX, GO_RX, MEM, UNITS, fmt, parse_info, ping_rtt,  # noqa: E402
                       progress_points, rate, wait_points)
from postcopy_tests import DONE_RX  # noqa: E402
from run_migrate import IPS, PORT, start_hub, tern_on_hub  # noqa: E402

WORKLOADS = ("mig_hot", "mig_incr")
CAPS = (512 * 1024, 256 * 1024)
MODES = ("pure", "hybrid")
PAGE = 4096
FILL = 10               # bytes of a FILL record (a uniform page), docs/migration-stream.md
DOC = ROOT / "docs" / "migration-bench.md"
PC_BEGIN = "<!-- PC_BEGIN: written by tests/harness/pc_bench.py; edits inside are overwritten -->"
PC_END = "<!-- PC_END -->"

LAST_PAGE_RX = re.compile(r"^migrate: completed \(post-copy\): every page arrived.*\n", re.M)
PRECOPY_DONE_RX = re.compile(r"^migrate: completed: .*\n", re.M)
SWITCH_RX = re.compile(r"^migrate: switching to post-copy after (\d+) rounds \((.*)\): vCPU paused", re.M)

# Reference data, not a result: ../shared/docs/migration-conventions.md, "QEMU 7.2
# measured on this kind of machine" and "Numbers to beat"; QEMU's post-copy is
# started by hand (migrate_start_postcopy 2 s in), 128 MiB guests, localhost.
QEMU_PC = """\
QEMU 7.2 post-copy reference (../shared/docs/migration-conventions.md; TCG, 128 MiB guests, localhost,
downtime-limit 300 ms, median of 3 runs; reference data, not measured here):
| workload | cap MiB/s | started by | wire / RAM | pc time (floor: bytes / cap) | downtime | guest during post-copy | fault latency |
|---|---|---|---|---|---|---|---|
| incrementer | 8 | operator, 2 s in | 48.8 MiB / 128 = 0.38x | 6.0 s (6.1 s) | 2 ms | ~47 of ~2,050 passes/s (~2%) | 10.7 ms (0.57 ms with postcopy-preempt) |
| incrementer | 32 | operator, 2 s in | 96.1 MiB / 128 = 0.75x | 2.7 s (3.0 s) | 2 ms | - | - |
| hot set | 8 / 32 | - | not needed: pre-copy converges (4.9 MiB) | - | 2-3 ms | - | - |
QEMU never switches by itself (auto-converge off, post-copy only on migrate_start_postcopy); its times
cover the whole migration (the 2 s of pre-copy included), and its floor here is wire bytes / cap."""


@dataclass
class PcRun:
    workload: str
    cap: int
    mode: str
    direction: str = ""
    outcome: str = "?"
    wall_s: float = 0.0
    src: dict = field(default_factory=dict)
    dst: dict = field(default_factory=dict)
    rtt_us: int | None = None
    switch_round: int | None = None
    switch_why: str = ""
    throttle_max: int | None = None
    rate_before: float | None = None
    rate_precopy: float | None = None   # hybrid: on the source, before the switch
    rate_during: float | None = None
    during_bound: bool = False          # rate_during brackets the phase (an upper bound)
    rate_after: float | None = None
    note: str = ""
    guest_fail: str = ""

    def ws_bytes(self) -> int | None:
        s = self.src
        if "normal" not in s or "duplicate" not in s:
            return None
        return s["normal"] * PAGE + s["duplicate"] * FILL

    def pc_floor_s(self) -> float | None:
        b = self.src.get("pc_bytes")
        return None if b is None else b / self.cap

    def lat_floor_ms(self) -> float | None:
        if self.rtt_us is None:
            return None
        return 2 * self.rtt_us / 1000 + PAGE / self.cap * 1000


def parse_pc(text: str) -> dict:
    """info migrate's postcopy-* lines (either side) and the downtime."""
    d: dict = {}
    grab = lambda rx: re.search(rx, text, re.M)
    for key, rx in (("pc_requests", r"^postcopy-requests: (\d+)"), ("pc_bytes", r"^postcopy-bytes: (\d+)"),
                    ("pc_time", r"^postcopy-time: (\d+) ms"), ("at_switch", r"^postcopy-pages-at-switch: (\d+)"),
                    ("downtime", r"^downtime: (\d+) ms")):
        m = grab(rx)
        if m:
            d[key] = int(m.group(1))
    m = grab(r"^postcopy-switch: after round (\d+), (\d+) ms after the start: (.*)$")
    if m:
        d["switch_round"], d["switch_ms"], d["switch_why"] = int(m.group(1)), int(m.group(2)), m.group(3)
    m = grab(r"^postcopy-pages: (\d+) asked for, (\d+) pushed")
    if m:
        d["asked"], d["pushed"] = map(int, m.groups())
    m = grab(r"^postcopy-pages: (\d+) arrived, (\d+) copies dropped")
    if m:
        d["arrived"], d["dropped"] = map(int, m.groups())
    m = grab(r"^postcopy-latency: (\d+) faults; min (\d+) us, median (\d+) us, max (\d+) us")
    if m:
        d["faults"], d["lat_min"], d["lat_med"], d["lat_max"] = map(int, m.groups())
    m = grab(r"^postcopy-blocked: (\d+) ms \(guest faults (\d+), Tern's own accesses (\d+)\)")
    if m:
        d["blocked_ms"], d["guest_faults"], d["own"] = map(int, m.groups())
    return d


class PcPair:
    """Two Terns on one bxhub, postcopy-ram on both; the guest starts on A."""

    def __init__(self, build: Path, workload: str, n: int = 1):
        self.hub, base = start_hub()
        # A pair booted after a failed run gets transcripts of its own.
        tag = workload.replace("_", "-") + (f"-{n}" if n > 1 else "")
        self.m = [tern_on_hub(f"bench-pc-{tag}-a", 0, base, f"guest={workload} mem={MEM}", build,
                              guest=workload, wall_timeout=7200),
                  tern_on_hub(f"bench-pc-{tag}-b", 1, base, f"noguest incoming=tcp:0:{PORT}", build,
                              wall_timeout=7200)]
        self.holder = 0

    def up(self) -> None:
        a, b = self.m
        a.start()
        b.start()
        for x in (a, b):
            x.expect(r"console ready", BOOT_TIMEOUT, "the console")
        wait_points(a, 0, 2, BOOT_TIMEOUT * 3, "at start")

    def close(self) -> None:
        for x in self.m:
            x.close()
        self.hub.terminate()
        self.hub.wait(10)


def wait_rx(ms: list[tuple[Machine, int]], rx: re.Pattern, who: int, deadline: float, what: str,
            fails: list[str]):
    """Poll until rx appears on machine `who` since its mark; fail on a migration
    failure, an emulator that exited or the deadline. A guest's FAIL line goes
    into fails (the first one): the migration's own figures still come."""
    while True:
        for m, mark in ms:
            bad = FAIL_RX.search(m.text_since(mark))
            if bad and not fails:
                fails.append(f"{m.name}: {bad.group(0)[5:110]}")
        m, mark = ms[who]
        text = m.text_since(mark)
        got = rx.search(text)
        if got:
            return got, text
        failed = re.search(r"^migrate: (failed|postcopy-paused): (.*)\n", text, re.M)
        if failed:
            raise MachineError(f"{m.name}: {failed.group(1)}: {failed.group(2)[:80]}")
        gone = [x for x, _ in ms if not x.running()]
        if gone:
            raise MachineError(", ".join(f"{x.name} exited (status {x.wait_exit(1)})" for x in gone))
        if time.monotonic() > deadline:
            raise MachineError(f"{m.name}: no {what} (wall limit)")
        time.sleep(0.5)


def migrate_pc(p: PcPair, workload: str, cap: int, mode: str, limit: float) -> PcRun:
    s, d = p.holder, 1 - p.holder
    src, dst = p.m[s], p.m[d]
    r = PcRun(workload, cap, mode, direction=f"{'AB'[s]}->{'AB'[d]}")
    if "incoming: listening" not in dst.command("info migrate", None, 60).text:
        dst.command(f"migrate_incoming tcp:0:{PORT}", r"^migrate_incoming: listening", 60)
    for x in (src, dst):
        x.command("migrate_set_capability postcopy-ram on", r"^postcopy-ram: on", 60)
    r.rtt_us = ping_rtt(src, IPS[d])
    src.command(f"migrate_set_parameter max-bandwidth {cap}", r"^max-bandwidth: ", 60)
    r.rate_before = rate(progress_points(src.text())[-3:])
    ms, md = src.mark(), dst.mark()
    t0 = time.monotonic()
    deadline = t0 + limit
    pair = [(src, ms), (dst, md)]
    fails: list[str] = []
    try:
        src.command(f"migrate tcp:{IPS[d]}:{PORT}", r"^migrate: to .*postcopy-ram on", 60)
        if mode == "pure":
            src.command("migrate_start_postcopy", r"^migrate_start_postcopy: switching", 60)
        rx = re.compile(f"{DONE_RX}|{PRECOPY_DONE_RX.pattern}", re.M)
        done, stext = wait_rx(pair, rx, 0, deadline, "completion on the source", fails)
        if done.group(0).startswith("migrate: failed"):
            raise MachineError(f"{src.name}: {done.group(0).strip()[:100]}")
        go, _ = wait_rx(pair, GO_RX, 1, deadline + 120, "GO on the destination", fails)
        last = None
        if "post-copy" in done.group(0):
            last, _ = wait_rx(pair, LAST_PAGE_RX, 1, deadline + 120, "last page on the destination", fails)
        r.outcome = "completed (post-copy)" if last else "completed by pre-copy"
    except MachineError as e:
        r.outcome = f"FAILED: {e.reason}"[:160]
        r.guest_fail = fails[0] if fails else ""
        r.wall_s = time.monotonic() - t0
        try:  # its figures so far, where the source still answers
            sinfo = src.command("info migrate", r"^status: ", 60).text
            r.src = {**parse_info(sinfo), **parse_pc(sinfo)}
        except MachineError:
            pass
        return r
    r.wall_s = time.monotonic() - t0
    p.holder = d
    stext = src.text_since(ms)
    sinfo = src.command("info migrate", r"^status: ", 60).text
    dinfo = dst.command("info migrate", r"^status: ", 60).text
    r.src = {**parse_info(sinfo), **parse_pc(sinfo)}
    r.dst = parse_pc(dinfo)
    sw = SWITCH_RX.search(stext)
    if sw:
        r.switch_round, r.switch_why = int(sw.group(1)), sw.group(2)
        r.rate_precopy = rate([pt for pt in progress_points(stext) if pt[0] < sw.start()])
    throttles = [int(x) for x in re.findall(r"^migrate: active, round .*throttle (\d+)%", stext, re.M)]
    r.throttle_max = max(throttles) if throttles else None
    # The guest's lines: during is GO .. last page on the destination.
    dtext = dst.text_since(md)
    end = last.start() if last else go.end()
    inside = [pt for pt in progress_points(dtext) if go.end() <= pt[0] < end]
    r.rate_during = rate(inside) if last else None
    if fails:
        # The guest's verdict: the move is a failed one, whatever the engine
        # said; its lines after the FAIL are not progress.
        r.guest_fail = fails[0]
        r.outcome = f"{r.outcome}, but the guest FAILED"
        return r
    try:
        after = wait_points(dst, md + (last.end() if last else go.end()), 3 if workload != "mig_incr" else 2, 240, "after the last page")
    except MachineError as e:
        r.outcome = f"FAILED after the last page: {e.reason}"[:160]
        return r
    r.rate_after = rate(after)
    if last and r.rate_during is None:
        before_go = [pt for pt in progress_points(stext) if not sw or pt[0] < sw.start()]
        if before_go and after:
            # Guest time is continuous across the move: bracket the phase.
            r.rate_during = rate([before_go[-1], after[0]])
            r.during_bound = True
    return r


def bench_workload(build: Path, workload: str, caps, limit: float, on_run=lambda runs: None) -> list[PcRun]:
    """Every (cap, mode) on one pair, back and forth; after a run that failed
    (the engine or the guest) the next one gets a freshly booted pair."""
    runs: list[PcRun] = []
    p = None
    boots = 0
    try:
        for cap in caps:
            for mode in MODES:
                if p is None:
                    boots += 1
                    p = PcPair(build, workload, boots)
                    p.up()
                try:
                    runs.append(migrate_pc(p, workload, cap, mode, limit))
                except MachineError as e:
                    runs.append(PcRun(workload, cap, mode, outcome=f"FAILED: {e.reason}"[:120]))
                on_run(runs)
                if runs[-1].outcome != "completed (post-copy)" and runs[-1].outcome != "completed by pre-copy":
                    p.close()
                    p = None
    except MachineError as e:
        runs.append(PcRun(workload, 0, "-", outcome=f"FAILED at boot: {e.reason}"[:120]))
    finally:
        if p is not None:
            p.close()
    return runs


def ms_s(v) -> str:
    return fmt(None if v is None else v / 1000, ".1f")


def table(runs: list[PcRun]) -> list[str]:
    out = ["| workload | cap KiB/s | mode | run | outcome | wire / RAM | wire / ws | page sends / RAM pages "
           "| pc time s (floor) | fault latency ms min / median / max (floor) | vCPU blocked ms (faults) "
           "| asked / pushed | guest rate before / during / after (per guest s) | downtime ms | switch |",
           "|---" * 15 + "|"]
    for r in runs:
        s, d = r.src, r.dst
        wire, ram, ws = s.get("transferred"), s.get("total"), r.ws_bytes()
        sends = (s["normal"] + s["duplicate"]) / (ram / PAGE) if ram and "normal" in s else None
        lat = "-" if "lat_min" not in d else \
            f"{d['lat_min'] / 1000:.1f} / {d['lat_med'] / 1000:.1f} / {d['lat_max'] / 1000:.1f} " \
            f"({fmt(r.lat_floor_ms(), '.1f')})"
        pct = f"{ms_s(s.get('pc_time'))} ({fmt(r.pc_floor_s(), '.1f')})" if "pc_time" in s else "-"
        blocked = f"{d['blocked_ms']:,} ({d['guest_faults']:,} + {d['own']:,} own)" if "blocked_ms" in d else "-"
        ap = f"{s['asked']:,} / {s['pushed']:,}" if "asked" in s else "-"
        during = fmt(r.rate_during, ",.0f")
        if r.during_bound and r.rate_during is not None:
            during = "<=" + during
        rates = f"{fmt(r.rate_before, ',.0f')} / {during} / {fmt(r.rate_after, ',.0f')} {UNITS[r.workload]}"
        sw = "-" if r.mode == "pure" else (f"after round {r.switch_round}" if r.switch_round is not None else "none")
        out.append(f"| {r.workload} | {r.cap // 1024} | {r.mode} | {r.direction or '-'} | {r.outcome} | "
                   f"{fmt(wire / ram if wire and ram else None, '.2f')}x | "
                   f"{fmt(wire / ws if wire and ws else None, '.3f')}x | {fmt(sends, '.2f')} | {pct} | {lat} | "
                   f"{blocked} | {ap} | {rates} | {fmt(s.get('downtime'), 'd')} | {sw} |")
    return out


def details(runs: list[PcRun]) -> list[str]:
    out = []
    for r in runs:
        s, d = r.src, r.dst
        bits = [f"wall {r.wall_s:.0f} s"]
        if "transferred" in s:
            bits.append(f"{s['transferred']:,} bytes on the wire for {s.get('total', 0):,} of RAM "
                        f"({s.get('pc_bytes', 0):,} after GO by the source's count, {d.get('pc_bytes', 0):,} "
                        f"received by the destination's)")
        if "normal" in s:
            bits.append(f"pages sent {s['normal']:,} normal + {s['duplicate']:,} uniform")
        if "pc_time" in d:
            bits.append(f"destination's postcopy-time {d['pc_time']:,} ms (its own clock)")
        if "at_switch" in s:
            bits.append(f"{s['at_switch']:,} pages absent at the switch")
        if "arrived" in d:
            bits.append(f"destination: {d['arrived']:,} arrived, {d['dropped']:,} copies dropped, "
                        f"{d.get('pc_requests', 0):,} requests, {d.get('faults', 0):,} waits timed")
        if r.rtt_us is not None:
            bits.append(f"rtt {r.rtt_us / 1000:.1f} ms")
        if r.rate_precopy is not None:
            bits.append(f"guest rate during the pre-copy rounds {r.rate_precopy:,.0f}")
        if r.throttle_max is not None:
            bits.append(f"throttle up to {r.throttle_max}%")
        if r.switch_why:
            bits.append(f"switch: {r.switch_why}")
        if r.guest_fail:
            bits.append(f"guest: {r.guest_fail}")
        if r.note:
            bits.append(r.note)
        out.append(f"- {r.workload} {r.cap // 1024} KiB/s {r.mode} {r.direction}: " + "; ".join(bits))
    return out


LEGEND = ("wire / RAM: transferred / total (source). wire / ws: transferred / (normal x 4096 + uniform x "
          "10), the source's page counts (resends count in both), goal <= 1.1x. page sends / RAM pages: "
          "1.00 = each page once. pc time: source's postcopy-time (GO to the last page; the clock that "
          "keeps the cap), floor postcopy-bytes / cap. fault latency: destination's postcopy-latency, floor 2 round trips "
          "(ping between the Terns) + one page / cap. vCPU blocked: destination's postcopy-blocked. asked / "
          "pushed: source's postcopy-pages. guest rate: the guest's own lines; during = destination, GO to "
          "the last page (\"<=\": no two lines inside it, the rate from the last line before GO to the first "
          "after, an upper bound). downtime: source's info migrate. Times are emulated (Bochs ips=100M).")


def write_doc(doc: Path, runs: list[PcRun], stamp: str) -> None:
    """The block between the markers; the rows of workloads this run did not
    measure (--only) stay as they were."""
    text = doc.read_text() if doc.exists() else ""
    old_rows: list[str] = []
    old_details: list[str] = []
    if PC_BEGIN in text and PC_END in text:
        ours = {r.workload for r in runs}
        for line in text.split(PC_BEGIN, 1)[1].split(PC_END, 1)[0].splitlines():
            w = re.match(r"^(?:\| |- )(mig_\w+) ", line)
            if w and w.group(1) not in ours:
                (old_rows if line.startswith("|") else old_details).append(line)
    body = [PC_BEGIN, "", f"Written {stamp} (the rows of one workload come from one run).", "", LEGEND, ""]
    rows = table(runs)
    body += rows[:2] + old_rows + rows[2:] + [""] + old_details + details(runs) + ["", QEMU_PC, "", PC_END]
    if PC_BEGIN in text and PC_END in text:
        head, rest = text.split(PC_BEGIN, 1)
        text = head + "\n".join(body) + rest.split(PC_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Post-copy (`tests/harness/pc_bench.py`)\n" + "\n".join(body) + "\n"
    doc.write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--only", action="append", metavar="WORKLOAD", choices=WORKLOADS)
    ap.add_argument("--cap", action="append", type=int, metavar="BYTES_PER_S",
                    help="max-bandwidth caps, in this order (default 524288 then 262144)")
    ap.add_argument("--limit", type=float, default=900, help="wall s per migration (default 900)")
    ap.add_argument("--no-doc", action="store_true", help="do not rewrite docs/migration-bench.md")
    ap.add_argument("--doc", type=Path, default=DOC)
    args = ap.parse_args(argv)
    build = Path(args.build).resolve()
    caps = tuple(args.cap) if args.cap else CAPS
    print()
    print(f"post-copy (two Terns on Bochs over bxhub, {MEM} guests, postcopy-ram on both; pure = "
          f"migrate_start_postcopy at once, hybrid = the policy switches by itself)")
    if not (build / "tern.iso").exists():
        print(f"  not measured: {build / 'tern.iso'} missing")
        return 1
    if not shutil.which("bxhub"):
        print("  not measured: bxhub missing (Debian package bochs)")
        return 1
    t0 = time.monotonic()
    stamp = time.strftime("%Y-%m-%d %H:%M")
    runs: list[PcRun] = []
    for w in args.only or WORKLOADS:
        t = time.monotonic()
        # The doc after every migration: a run stopped half-way keeps its figures.
        save = (lambda got: None) if args.no_doc else (lambda got: write_doc(args.doc, runs + got, stamp))
        got = bench_workload(build, w, caps, args.limit, save)
        runs += got
        for line in table(got)[2:]:
            print(f"  ... {line}  [{time.monotonic() - t:.0f} s wall]", flush=True)
        if not args.no_doc:
            write_doc(args.doc, runs, stamp)
    print()
    print(LEGEND)
    for line in table(runs) + details(runs):
        print(line)
    lat = [r.dst["lat_med"] / 1000 for r in runs if "lat_med" in r.dst]
    if lat:
        print(f"median of the medians' fault latency: {statistics.median(lat):.1f} ms "
              f"(QEMU 7.2: 10.7 ms, 0.57 ms with postcopy-preempt)")
    print()
    print(QEMU_PC)
    print(f"\npost-copy bench: {len(runs)} migrations, {time.monotonic() - t0:.0f} s wall; "
          f"transcripts {build / 'test-logs'}/bench-pc-*-{{a,b}}.log")
    return 0 if all(r.outcome.startswith("completed") for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
