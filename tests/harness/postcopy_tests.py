#!/usr/bin/env python3
"""Post-copy and hybrid migration end to end: Terns on Bochs joined by bxhub.

The verdicts come from the guests (their verification lines on the
destination after the move: mig_verify checks every page of its RAM each
pass, mig_strio's string-I/O lines are checked here against the formula of
strio_check.py) and from the other host's console (who holds the VM),
never from the engine's own report. Tern's counters (requests, its own
fetches) are only checked to be non-zero where the case would prove
nothing otherwise.

Cases (PML on Skylake-X unless named wp-):
  pml-pc-boot         A runs mig_verify, B waits (postcopy-ram on, both)
  pml-pc-move         migrate + migrate_start_postcopy at once (pure post-copy:
                      every page absent on B when the guest resumes there),
                      max-bandwidth 256K (the guest's faults outrun the paced
                      pushes: most pages go because they were asked for);
                      A completes and frees the VM, the guest verifies on B
  pml-pc-cont-refused `cont` on A refused: the VM was handed over
  pml-pc-recover      B -> A, x-fault cut-postcopy on B: both say
                      postcopy-paused (B: the VM runs on A, cannot run here;
                      A: the VM cannot be completed if B is down);
                      migrate_recover on A, migrate -r on B: completes, the
                      guest verifies on A
  pml-pc-hybrid-verify A -> B with postcopy-ram on and no operator action:
                      pre-copy rounds, the switch by the policy, the guest
                      verifies on B
  pml-pc-dest-killed  B -> A post-copy, A's emulator killed once the guest
                      runs there: B says the VM is lost, never resumes it
                      (its status postmigrate, `cont` refused)
  pml-pc-strio        mig_strio by pure post-copy: its string-I/O lines
                      (REP OUTSB/INSB through page tables and buffers that
                      had not arrived) are right on B, and Tern fetched for
                      its own accesses (a figure); then B -> A with B's
                      emulator killed once the guest runs on A: A pauses, and
                      on migrate_cancel says the VM cannot be completed and
                      keeps it paused
  pml-pc-hybrid-incr  mig_incr and mig_hot with postcopy-ram on and no
  pml-pc-hybrid-hot   operator: A switches by itself and says why; the
                      workload runs on, unbroken, on B
  wp-pc-move          Haswell (dirty log by write protection): pre-copy
                      rounds, then migrate_start_postcopy during round 2;
                      the guest verifies on B
  wp-pc-pause         B -> A, the operator's migrate_pause on A once the
                      guest runs there: both pause; recovered as above

One PASS/FAIL line per case, then `postcopy: N passed, N failed`.
Transcripts: build/test-logs/mig-{pml,wp}-pc-*.log.
Usage: postcopy_tests.py --build build [--config pml|wp]...
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import strio_check  # noqa: E402
from machine import Machine  # noqa: E402
from migrate_tests import (BOOT_TIMEOUT, CONFIGS, EVENT_TIMEOUT, FAIL_RX, IPS, MOVE_TIMEOUT,  # noqa: E402
                           PORT, Runner)
from net_tests import free_udp_base  # noqa: E402
from suite import check  # noqa: E402

RECOVER_PORT = 4446
DONE_RX = (r"^migrate: (completed \(post-copy\): .*downtime (?P<dt>\d+) ms; (?P<bytes>\d+) bytes sent"
           r".*\((?P<after>\d+) after GO: (?P<asked>\d+) pages asked for, (?P<pushed>\d+) pushed\).*|failed: .*)\n")


class PostcopyRunner(Runner):
    def __init__(self, build: Path, mem: str, verbose: bool):
        super().__init__(build, mem, verbose)
        self.name = "postcopy"

    def pc_machine(self, i: int, base: int, cmdline: str, guest: str, label: str) -> Machine:
        return self.machine(i, base, cmdline, guest=guest, label=f"pc-{label}")

    def up(self, *ms: Machine) -> None:
        for x in ms:
            x.start()
        for x in ms:
            x.expect(r"console ready", BOOT_TIMEOUT, "the console")
            x.command("migrate_set_capability postcopy-ram on", r"^postcopy-ram: on")

    def info_field(self, m: Machine, field: str) -> str:
        t = m.command("info migrate", r"^status: ").text
        r = re.search(rf"^{field}: (?P<v>.*)$", t, re.M)
        check(r is not None, f"{m.name}: info migrate lacks {field}")
        return r.group("v")

    # ---- a post-copy move; the verdict is the guest's on dst ----

    def pc_move(self, src: Machine, dst: Machine, dst_ip: str, start: str = "now", cap: str = "0") -> str:
        """cap: max-bandwidth for the move; it paces the pushed pages only, so
        a guest whose faults outrun it gets most pages by asking, and the
        stream must still end (END is not paced)."""
        src.command(f"migrate_set_parameter max-bandwidth {cap}", rf"^max-bandwidth: {cap}")
        try:
            return self.pc_move_capped(src, dst, dst_ip, start, cap)
        finally:
            src.command("migrate_set_parameter max-bandwidth 0", r"^(max-bandwidth: 0|error: )")

    def pc_move_capped(self, src: Machine, dst: Machine, dst_ip: str, start: str, cap: str) -> str:
        ms = src.mark()
        before = self.passes_after(src, ms, 1, EVENT_TIMEOUT)[-1]
        src.command(f"migrate tcp:{dst_ip}:{PORT}", r"^migrate: to .*postcopy-ram on")
        if start == "now":
            src.command("migrate_start_postcopy", r"^migrate_start_postcopy: switching")
        elif start == "round2":
            src.expect(r"^migrate: round 1:", MOVE_TIMEOUT, "round 1 ending")
            src.command("migrate_start_postcopy", r"^migrate_start_postcopy: switching")
        # start "auto": the hybrid must switch by itself (mig_verify dirties
        # about as fast as the Bochs link carries: pre-copy alone needs
        # auto-converge and 9-11 rounds)
        done = src.expect(DONE_RX, MOVE_TIMEOUT, "the source's completion")
        check(done.group("dt") is not None, done.group(0).strip())
        run = dst.expect(r"^migrate: GO received: the VM runs on this host now .*post-copy: (?P<n>\d+) pages to come",
                         EVENT_TIMEOUT, "the destination running it")
        resumed = dst.mark()
        dst.expect(r"^migrate: completed \(post-copy\): every page arrived", EVENT_TIMEOUT,
                   "the destination's last page")
        self.holds(dst, "running")
        self.holds(src, "none")
        after = self.passes_after(dst, resumed, 2, EVENT_TIMEOUT)
        check(after[0] >= before, f"pass numbers went back: {before} on the source, {after[0]} after")
        lat = self.info_field(dst, "postcopy-latency")
        switch = re.search(r"^migrate: switching to post-copy after (?P<r>\d+) rounds", src.text_since(ms), re.M)
        note = (f"downtime {done.group('dt')} ms, {done.group('bytes')} bytes ({done.group('after')} after GO), "
                f"{run.group('n')} pages absent at GO after {switch.group('r') if switch else '?'} rounds, "
                f"{done.group('asked')} asked for / {done.group('pushed')} pushed; latency {lat}; "
                f"passes {before} -> {after[-1]}" + (f"; max-bandwidth {cap}" if cap != "0" else ""))
        self.figures.append(f"{self.tag} {src.name} -> {dst.name}: {note}")
        return note

    def pc_recover(self, src: Machine, dst: Machine, src_ip: str, dst_ip: str, how: str = "cut") -> str:
        """how: cut (x-fault cut-postcopy on the source) or pause (the
        operator's migrate_pause on the destination once the guest runs there)."""
        dst.command(f"migrate_incoming tcp:0:{PORT}", r"^migrate_incoming: listening")
        if how == "cut":
            src.command("migrate_set_parameter x-fault cut-postcopy", r"^x-fault: cut-postcopy")
        src.command(f"migrate tcp:{dst_ip}:{PORT}", r"^migrate: to ")
        src.command("migrate_start_postcopy", r"^migrate_start_postcopy: switching")
        d = None
        if how == "pause":
            dst.expect(r"^migrate: GO received", MOVE_TIMEOUT, "the guest running there")
            d = dst.command("migrate_pause", r"^migrate: postcopy-paused: (?P<why>migrate_pause.*)\n").match
        s = src.expect(r"^migrate: postcopy-paused: (?P<why>.*)\n", MOVE_TIMEOUT, "the source pausing")
        check(("cut-postcopy" in s.group("why") or how == "pause") and "can never run here again" in s.group("why"),
              s.group(0))
        if d is None:
            d = dst.expect(r"^migrate: postcopy-paused: (?P<why>.*)\n", EVENT_TIMEOUT, "the destination pausing")
        check("cannot be completed" in d.group("why"), d.group(0))
        check(self.info_field(src, "status").startswith("postcopy-paused"), "source not postcopy-paused")
        check(self.info_field(dst, "status").startswith("postcopy-paused"), "destination not postcopy-paused")
        src.command("cont", r"^error: ")  # never a second copy
        self.holds(src, "postmigrate")
        md = dst.mark()
        dst.command(f"migrate_recover tcp:0:{RECOVER_PORT}", r"^migrate_recover: listening")
        src.command(f"migrate -r tcp:{dst_ip}:{RECOVER_PORT}", r"^migrate: recovering post-copy")
        done = src.expect(DONE_RX, MOVE_TIMEOUT, "the source's completion after the recovery")
        check(done.group("dt") is not None, done.group(0).strip())
        dst.expect(r"^migrate: completed \(post-copy\): every page arrived", EVENT_TIMEOUT, "the last page")
        self.holds(dst, "running")
        self.holds(src, "none")
        # The guest ran through the pause (it waited on a page); every pass
        # since verified all of its RAM, the pages sent after the recovery too.
        after = self.passes_after(dst, md, 2, EVENT_TIMEOUT)
        rec = self.info_field(dst, "postcopy-recoveries")
        check(rec == "1", f"postcopy-recoveries {rec}")
        return f"paused on both sides, recovered: {done.group('bytes')} bytes in all; passes on to {after[-1]}"

    def pc_dest_killed(self, src: Machine, dst: Machine, dst_ip: str) -> str:
        dst.command(f"migrate_incoming tcp:0:{PORT}", r"^migrate_incoming: listening")
        src.command(f"migrate tcp:{dst_ip}:{PORT}", r"^migrate: to ")
        src.command("migrate_start_postcopy", r"^migrate_start_postcopy: switching")
        dst.expect(r"^migrate: GO received: the VM runs on this host now", MOVE_TIMEOUT, "the guest running there")
        dst.close()
        s = src.expect(r"^migrate: postcopy-paused: (?P<why>.*)\n", EVENT_TIMEOUT, "the source noticing")
        check("the VM is lost" in s.group("why") and "can never run here again" in s.group("why"), s.group(0))
        self.holds(src, "postmigrate")
        src.command("cont", r"^error: ")
        time.sleep(2)
        self.holds(src, "postmigrate")  # still not running
        return s.group("why")[:90]

    # ---- cases on pairs of their own ----

    def strio(self) -> str:
        with self.hub_pair("mig_strio", "pc-strio") as (a, b):
            self.up(a, b)
            a.expect(r"^vm0\| strio: slot \d+ in ok", BOOT_TIMEOUT, "the guest using slots")
            a.command(f"migrate tcp:{IPS[1]}:{PORT}", r"^migrate: to ")
            a.command("migrate_start_postcopy", r"^migrate_start_postcopy: switching")
            b.expect(r"^migrate: GO received", MOVE_TIMEOUT, "B running it")
            mb = b.mark()
            b.expect(r"^migrate: completed \(post-copy\)", MOVE_TIMEOUT, "the last page")
            deadline = time.monotonic() + EVENT_TIMEOUT
            while True:
                ok, errors = strio_check.check_lines(b.text_since(mb).splitlines())
                check(not errors, f"B's strio lines: {errors[:2]}")
                if ok >= 12:
                    break
                check(time.monotonic() < deadline, f"{ok} slot uses on B")
                time.sleep(1)
            bad = re.search(FAIL_RX, a.text() + b.text(), re.M)
            check(bad is None, f"the guest says: {bad.group(0) if bad else ''}")
            blocked = self.info_field(b, "postcopy-blocked")
            own = re.search(r"Tern's own accesses (\d+)", blocked)
            check(own is not None and int(own.group(1)) > 0,
                  f"no string I/O met a page that had not arrived ({blocked}): the case proves nothing")
            return f"{ok} slot uses right on B; {blocked}" + "; " + self.source_killed(b, a, IPS[0])

    def source_killed(self, src: Machine, dst: Machine, dst_ip: str) -> str:
        """The source's emulator killed once the guest runs on dst: dst
        pauses; the operator, seeing the source gone, types migrate_cancel:
        dst says the VM cannot be completed and keeps it paused."""
        dst.command(f"migrate_incoming tcp:0:{PORT}", r"^migrate_incoming: listening")
        src.command(f"migrate tcp:{dst_ip}:{PORT}", r"^migrate: to ")
        src.command("migrate_start_postcopy", r"^migrate_start_postcopy: switching")
        dst.expect(r"^migrate: GO received", MOVE_TIMEOUT, "the guest running on the destination")
        src.close()
        d = dst.expect(r"^migrate: postcopy-paused: (?P<why>.*)\n", EVENT_TIMEOUT, "the destination pausing")
        check("cannot be completed" in d.group("why"), d.group(0))
        r = dst.command("migrate_cancel", r"^migrate: (?P<l>the VM cannot be completed: the source is lost.*)\n")
        self.holds(dst, "paused")
        check(self.info_field(dst, "status").startswith("failed"), "status not failed")
        return r.match.group("l")[:70]

    def hybrid(self, name: str) -> str:
        progress = rf"^vm0\| mig: {name} ok: (?P<n>\d+) "
        with self.hub_pair(f"mig_{name}", f"pc-{name}") as (a, b):
            self.up(a, b)
            a.expect(progress, BOOT_TIMEOUT, "the workload running")
            ms = a.mark()
            a.command(f"migrate tcp:{IPS[1]}:{PORT}", r"^migrate: to .*postcopy-ram on")
            sw = a.expect(r"^migrate: switching to post-copy after (?P<r>\d+) rounds \((?P<why>.*)\): vCPU paused",
                          MOVE_TIMEOUT, "the switch with no operator action")
            done = a.expect(DONE_RX, MOVE_TIMEOUT, "the source's completion")
            check(done.group("dt") is not None, done.group(0).strip())
            b.expect(r"^migrate: GO received", EVENT_TIMEOUT, "B running it")
            mb = b.mark()
            b.expect(r"^migrate: completed \(post-copy\)", MOVE_TIMEOUT, "the last page")
            self.progress_on(b, mb, progress)
            bad = re.search(FAIL_RX, a.text(), re.M)
            check(bad is None, f"the guest says: {bad.group(0) if bad else ''}")
            check(self.info_field(a, "postcopy-switch").startswith("after round"), "info migrate: no switch")
            ram = int(self.mem[:-1]) << 20
            note = (f"switch after {sw.group('r')} rounds, {int(done.group('bytes')) / ram:.2f} x RAM on the "
                    f"wire ({int(done.group('after')) / ram:.2f} after GO), downtime {done.group('dt')} ms; "
                    f"why: {sw.group('why')[:120]}")
            self.figures.append(f"{self.tag} hybrid {name}: {note}")
            return note

    # ---- order ----

    def run_all(self) -> None:
        if not shutil.which("bxhub"):
            self.fail_all([f"{self.tag}-pc-boot"], "bxhub (package bochs) missing")
            return
        t = self.tag
        base = free_udp_base(4)
        hub = subprocess.Popen(["bxhub", "-ports=2", f"-base={base}"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        a = self.pc_machine(0, base, f"guest=mig_verify mem={self.mem} migrate_plain", "mig_verify", "a")
        b = self.pc_machine(1, base, f"noguest incoming=tcp:0:{PORT} migrate_plain", "mig_verify", "b")
        try:
            def boot() -> str:
                self.up(a, b)
                self.passes_after(a, 0, 2, BOOT_TIMEOUT)
                return "guest verifying on A, B waiting"
            if not self.case(f"{t}-pc-boot", boot):
                return
            if t == "wp":
                if self.case(f"{t}-pc-move", self.pc_move, a, b, IPS[1], "round2"):
                    self.case(f"{t}-pc-pause", self.pc_recover, b, a, IPS[1], IPS[0], "pause")
                return
            if not self.case(f"{t}-pc-move", self.pc_move, a, b, IPS[1], "now", "256K"):
                return
            self.case(f"{t}-pc-cont-refused", self.cont_refused, a)
            if not self.case(f"{t}-pc-recover", self.pc_recover, b, a, IPS[1], IPS[0]):
                return
            if not self.case(f"{t}-pc-hybrid-verify", self.pc_move, a, b, IPS[1], "auto"):
                return
            self.case(f"{t}-pc-dest-killed", self.pc_dest_killed, b, a, IPS[0])
        finally:
            for x in (a, b):
                x.close()
            hub.terminate()
            hub.wait(10)
        if t == "pml":
            self.case(f"{t}-pc-strio", self.strio)
            for w in ("incr", "hot"):
                self.case(f"{t}-pc-hybrid-{w}", self.hybrid, w)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", type=Path, default=Path("build"))
    ap.add_argument("--config", action="append", choices=sorted(CONFIGS))
    ap.add_argument("--mem", default="8M")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    r = PostcopyRunner(args.build.resolve(), args.mem, args.verbose)
    return r.run({t: r.config(t) for t in CONFIGS}, args.config or list(CONFIGS))


if __name__ == "__main__":
    sys.exit(main())
