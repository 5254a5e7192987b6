#!/usr/bin/env python3
"""End-to-end live migration: two Terns on Bochs joined by bxhub.

Host A (10.0.5.1) boots the migration guest (guest-tests/mig_verify.c), which
writes an evolving pattern over its RAM and verifies every page of it
continuously, and checks its own clock. Host B (10.0.5.2) boots with no
guest and `incoming=tcp:0:4445`. The verdict on every move comes from the
guest (its pass lines on the destination's serial, after the resume) and
from the other host's console (who holds the VM), never from the engine's
own report.

Cases, in order (each leaves the VM running on exactly one host):
  boot          both up, the guest verifying on A
  garbage       A's net_send pushes the test pattern at B's migration port:
                B refuses it, frees the partial VM and listens again
  cancel        migrate A -> B, migrate_cancel on A mid-round: the guest runs
                on A and keeps verifying, B frees its VM and listens again
  cut           x-fault cut-pages (A cuts the link in round 1): same
  lost-ack      x-fault drop-ack on B: A takes the VM back after its ACK
                timeout; B keeps the complete copy paused and says so;
                migrate_continue is not typed (A says the VM runs there);
                B is then cleaned up with migrate_cancel-equivalent restart
  move          migrate A -> B: A reports completion and frees the VM; the
                guest's passes continue on B with no FAIL and its clock ok
  cont-refused  `cont` on A is refused: the VM was handed over
  back          B -> A (A listens with migrate_incoming), verified on A
  lost-go       x-fault drop-go on A: A hands over without GO; B waits and
                says so; A says it handed over; migrate_continue on B runs it
  info          info migrate on both: statuses and counters agree with the
                number of pages and bytes

One PASS/FAIL line per case, then `migrate: N passed, N failed`.
Transcripts: build/test-logs/mig-*.log.

Usage: migrate_tests.py --build build [--config pml|wp]... [--mem 8M]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from hubtap import HubTap  # noqa: E402
from machine import Machine, grub_test_cfg  # noqa: E402
from net_tests import free_udp_base  # noqa: E402
from suite import CaseFailed, Suite, check  # noqa: E402

IPS = ("10.0.5.1", "10.0.5.2", "10.0.5.3")
PORT = 4445
PSK = "6d6967" * 10 + "6d69"          # 32 bytes, the most mbedTLS takes here
OTHER_PSK = "0ther" .encode().hex() * 6 + "0000"
NETCON_PSK = "6e6574" * 10 + "6e65"  # the network console's own key (32 bytes)
TAP_IP = "10.0.5.9"                 # Linux on the hub (tests/harness/hubtap.py)
EVENT_RX = r"^migrate: (?:completed|failed|cancelled)\b.*$"
BOOT_TIMEOUT = 240
MOVE_TIMEOUT = 900
# Any other wait: only a hang may hit it (Bochs on a loaded host runs many
# times slower than its emulated clock; the engine's own timeouts are in
# emulated time, the verdicts never depend on wall time).
EVENT_TIMEOUT = 400
# Dirty tracking under test: PML on Skylake-X, EPT write protection on Haswell.
CONFIGS = {"pml": "corei7_skylake_x", "wp": "corei7_haswell_4770"}
# migration-conventions.md's four workloads.
WORKLOADS = ("idle", "static", "incr", "hot")
WORKLOAD_TIMEOUT = 900
PASS_RX = r"^vm0\| mig: pass (?P<n>\d+) ok"
FAIL_RX = r"^vm0\| mig: FAIL.*"


class NetconClient:
    """`openssl s_client` (TLS 1.2 PSK) in the hub-tap namespace, connected
    to a Tern's network console; what it receives is kept."""

    def __init__(self, tap: HubTap, host: str, psk: str):
        self.tap = tap
        self.proc = tap.popen(["openssl", "s_client", "-connect", f"{host}:4444", "-psk", psk,
                               "-psk_identity", "tern", "-tls1_2", "-cipher", "PSK-AES128-GCM-SHA256",
                               "-quiet"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
        self.buf = bytearray()
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while chunk := self.proc.stdout.read1(4096):
            with self.lock:
                self.buf += chunk

    def text(self) -> str:
        with self.lock:
            return self.buf.decode(errors="replace")

    def send(self, line: str) -> None:
        try:
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            pass  # the client died: the checks on what it received will say so

    def wait(self, regex: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not re.search(regex, self.text()):
            check(self.proc.poll() is None,
                  f"network console client exited ({self.proc.returncode}); it got {self.text()[-300:]!r}")
            check(time.monotonic() < deadline,
                  f"network console client: no {regex!r} within {timeout:.0f} s; got {self.text()[-300:]!r}")
            time.sleep(0.5)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.tap.close()


class Runner(Suite):
    def __init__(self, build: Path, mem: str, verbose: bool):
        super().__init__("migrate", build, verbose)
        self.mem = mem
        self.workloads = WORKLOADS
        self.workloads_only = False
        self.tag, self.model = "pml", CONFIGS["pml"]

    def config(self, tag: str):
        def step() -> None:
            self.tag, self.model = tag, CONFIGS[tag]
            self.run_all()
        return step

    def machine(self, i: int, base: int, cmdline: str, guest: str = "mig_verify",
                model: str | None = None, megs: int = 256, label: str | None = None) -> Machine:
        cfg = grub_test_cfg(guest, f"{cmdline} ip={IPS[i]}/24 migrate_test")
        return Machine(
            f"mig-{self.tag}-{label or 'abc'[i]}", iso=self.build / "tern.iso", test_cfg=cfg,
            model=model or self.model, megs=megs, log_dir=self.log_dir, wall_timeout=3000,
            extra_config=("pci: enabled=1, chipset=i440fx, slot1=e1000",
                          f"e1000: enabled=1, mac=52:54:00:7e:73:{0x10 + i:02x}, "
                          f"ethmod=socket, ethdev={base + 2 * i}"))

    # ---- helpers ----

    def passes_after(self, m: Machine, mark: int, count: int, timeout: float) -> list[int]:
        """Wait for `count` complete verification passes printed after mark;
        any FAIL line from the guest fails the case at once."""
        deadline = time.monotonic() + timeout
        while True:
            text = m.text_since(mark)
            bad = re.search(FAIL_RX, text, re.M)
            check(bad is None, f"{m.name}: the guest says: {bad.group(0) if bad else ''}")
            found = [int(x.group("n")) for x in re.finditer(PASS_RX, text, re.M)]
            if len(found) >= count:
                return found
            check(time.monotonic() < deadline,
                  f"{m.name}: {len(found)} of {count} verification passes within {timeout:.0f} s")
            time.sleep(0.5)

    def holds(self, m: Machine, expect: str) -> str:
        a = m.command("info status", r"^VM status: (?P<s>.*)\n")
        s = a.match.group("s")
        check(s.startswith(expect), f"{m.name}: info status says {s!r}, expected {expect!r}")
        return s

    # ---- cases ----

    def boot(self, a: Machine, b: Machine, c: Machine) -> str:
        for x in (a, b, c):
            x.start()
        for x in (b, c):
            x.expect(rf"waiting for an incoming migration on tcp port {PORT}", BOOT_TIMEOUT,
                     f"{x.name} listening")
        for x in (a, b, c):
            x.expect(r"console ready", BOOT_TIMEOUT, "the console")
            x.command("migrate_set_parameter tls-creds none", r"^tls-creds: none")
        self.passes_after(a, 0, 2, BOOT_TIMEOUT)
        return "guest verifying on A, B and C waiting"

    def garbage(self, a: Machine, b: Machine) -> str:
        mb = b.mark()
        a.command(f"net_send {IPS[1]} {PORT} 200000", r"^net_send: connecting")
        r = b.expect(r"^migrate: failed: (?P<why>.*)\n", EVENT_TIMEOUT, "B's refusal")
        check("stream" in r.group("why") and "listening again" in r.group("why"), r.group(0))
        self.holds(b, "none")
        self.passes_after(a, a.mark(), 1, EVENT_TIMEOUT)
        return r.group("why")[:80]

    def cancel(self, a: Machine, b: Machine) -> str:
        ma = a.mark()
        a.command(f"migrate tcp:{IPS[1]}:{PORT}", r"^migrate: to ")
        a.expect(r"^migrate: .* accepted; sending", EVENT_TIMEOUT, "B accepting")
        a.expect(r"^migrate: active, round 1,", EVENT_TIMEOUT, "a progress line")
        a.command("migrate_cancel", r"^migrate: cancelled; the VM continues here")
        b.expect(r"^migrate: failed: .*(closed|reset|failed).*listening again", EVENT_TIMEOUT, "B freeing its VM")
        self.holds(a, "running")
        self.holds(b, "none")
        a.command("info migrate", r"^status: cancelled")
        self.passes_after(a, a.mark(), 1, EVENT_TIMEOUT)
        return "A runs on, B freed the partial VM"

    def cut(self, a: Machine, b: Machine, fault: str = "cut-pages", verb: str = "continues") -> str:
        a.command(f"migrate_set_parameter x-fault {fault}", rf"^x-fault: {fault}")
        a.command(f"migrate tcp:{IPS[1]}:{PORT}", r"^migrate: to ")
        r = a.expect(r"^migrate: failed: (?P<why>.*)\n", MOVE_TIMEOUT, "A's failure")
        check("cut" in r.group("why") and f"{verb} here" in r.group("why"), r.group(0))
        a.command("migrate_set_parameter x-fault none", r"^x-fault: none")
        b.expect(r"^migrate: failed: .*listening again", EVENT_TIMEOUT, "B freeing its VM")
        self.holds(a, "running")
        self.holds(b, "none")
        self.passes_after(a, a.mark(), 1, EVENT_TIMEOUT)
        return r.group("why")[:80]

    def move(self, src: Machine, dst: Machine, dst_ip: str) -> str:
        ms, md = src.mark(), dst.mark()
        before = self.passes_after(src, ms, 1, EVENT_TIMEOUT)[-1]
        src.command(f"migrate tcp:{dst_ip}:{PORT}", r"^migrate: to ")
        done = src.expect(r"^migrate: (completed: .*downtime (?P<dt>\d+) ms; (?P<bytes>\d+) bytes sent\b.*|failed: .*)\n",
                          MOVE_TIMEOUT, "the source's completion")
        check(done.group("dt") is not None, done.group(0).strip())
        dst.expect(r"^migrate: GO received: the VM runs on this host now", EVENT_TIMEOUT, "the destination running it")
        resumed = dst.mark()
        self.holds(dst, "running")
        self.holds(src, "none")
        after = self.passes_after(dst, resumed, 2, EVENT_TIMEOUT)
        check(after[0] >= before, f"pass numbers went back: {before} on the source, {after[0]} after")
        rounds = len(re.findall(r"^migrate: round \d+:", src.text_since(ms), re.M))
        note = (f"downtime {done.group('dt')} ms (source), {done.group('bytes')} bytes, {rounds} rounds, "
                f"passes {before} -> {after[-1]}")
        self.figures.append(f"{self.tag} {src.name} -> {dst.name}: {note}")
        return note

    # ---- events to the network console's client ----

    def netcon_open(self, base: int, a: Machine) -> str:
        """openssl s_client, on Linux's TCP/IP bridged onto the hub, logs in
        to A's network console (TLS-PSK) and stays connected: the migration
        events that follow must reach it."""
        self.client = NetconClient(HubTap(base, 3, f"{TAP_IP}/24"), IPS[0], NETCON_PSK)
        self.client.send("info status")
        self.client.wait(r"VM status: running", EVENT_TIMEOUT)
        self.events_mark = a.mark()
        return "connected, info status answered"

    def netcon_keepalive(self) -> None:
        """A command between cases: the console closes after 5 idle minutes."""
        if self.client:
            self.client.send("info status")

    def netcon_events(self, a: Machine) -> str:
        """Every completion, failure and cancellation A printed on serial
        since the client connected reached the client too, in order."""
        want = re.findall(EVENT_RX, a.text_since(self.events_mark), re.M)
        check(any(w.startswith("migrate: completed") for w in want) and
              any(w.startswith("migrate: cancelled") for w in want),
              f"A's serial lacks the events the cases caused: {want}")
        deadline = time.monotonic() + EVENT_TIMEOUT
        while True:
            got = self.client.text()
            pos, missing = 0, None
            for w in want:
                i = got.find(w, pos)
                if i < 0:
                    missing = w
                    break
                pos = i + len(w)
            if missing is None:
                return f"{len(want)} events on serial and on the network console"
            check(time.monotonic() < deadline, f"the network console's client never got {missing!r}")
            time.sleep(0.5)

    def cont_refused(self, a: Machine) -> str:
        a.command("cont", r"^error: no VM \(postmigrate")
        return "cont refused on the old source"

    def back(self, a: Machine, b: Machine) -> str:
        a.command(f"migrate_incoming tcp:0:{PORT}", r"^migrate_incoming: listening")
        return self.move(b, a, IPS[0])

    def lost_go(self, a: Machine, b: Machine, b_ip: str) -> str:
        a.command("migrate_set_parameter x-fault drop-go", r"^x-fault: drop-go")
        a.command(f"migrate tcp:{b_ip}:{PORT}", r"^migrate: to ")
        a.expect(r"^migrate: test fault drop-go", MOVE_TIMEOUT, "A handing over without GO")
        a.expect(r"^migrate: completed: handed over", EVENT_TIMEOUT, "A's completion")
        a.command("migrate_set_parameter x-fault none", r"^x-fault: none")
        b.expect(r"^migrate: GO not received.*migrate_continue", EVENT_TIMEOUT, "B saying what to do")
        self.holds(b, "inmigrate")
        self.holds(a, "none")
        a.command("info migrate", r"^handover: handed over to ")
        mb = b.mark()
        b.command("migrate_continue", r"^migrate: migrate_continue: the VM runs on this host now")
        self.passes_after(b, mb, 2, EVENT_TIMEOUT)
        return "B ran the VM on migrate_continue after A said it handed over"

    def lost_ack(self, a: Machine, b: Machine) -> str:
        b.command("migrate_set_parameter x-fault drop-ack", r"^x-fault: drop-ack")
        a.command(f"migrate tcp:{IPS[1]}:{PORT}", r"^migrate: to ")
        b.expect(r"^migrate: test fault drop-ack", MOVE_TIMEOUT, "B dropping its ACK")
        b.command("migrate_set_parameter x-fault none", r"^x-fault: none")  # one fault, one migration
        r = a.expect(r"^migrate: failed: (?P<why>.*)\n", EVENT_TIMEOUT, "A's ACK timeout")
        # A's ACK timeout or B's GO timeout (B then closes) comes first,
        # whichever clock runs ahead: either way A must take the VM back.
        check(re.search(r"no ACK|closed the connection", r.group("why")) is not None
              and "resumes here" in r.group("why"), r.group(0))
        b.expect(r"^migrate: GO not received.*migrate_continue", EVENT_TIMEOUT, "B waiting for the operator")
        self.holds(a, "running")
        self.holds(b, "inmigrate")
        self.passes_after(a, a.mark(), 1, EVENT_TIMEOUT)
        # The operator reads A (the VM runs there) and drops B's copy.
        b.command("migrate_cancel", r"^migrate: the paused copy was discarded")
        self.holds(b, "none")
        return "A took the VM back; B held a paused copy, said not to run it unless A handed over, and dropped it on migrate_cancel"

    def dest_killed(self, a: Machine, b: Machine) -> str:
        """B's emulator dies in the middle of the stream: A must notice and
        keep the guest running; nothing is left running on B (it is gone)."""
        a.command(f"migrate tcp:{IPS[1]}:{PORT}", r"^migrate: to ")
        a.expect(r"^migrate: active, round 1,", EVENT_TIMEOUT, "the stream under way")
        b.close()
        r = a.expect(r"^migrate: failed: (?P<why>.*)\n", EVENT_TIMEOUT, "A noticing")
        check("continues here" in r.group("why"), r.group(0))
        self.holds(a, "running")
        self.passes_after(a, a.mark(), 2, EVENT_TIMEOUT)
        return r.group("why")[:80]

    @contextlib.contextmanager
    def hub_pair(self, guest: str, label: str):
        """A (running guest) and B (waiting) on a hub of their own; both
        closed, and the hub stopped, however the case ends."""
        base = free_udp_base(4)
        hub = subprocess.Popen(["bxhub", "-ports=2", f"-base={base}"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        keys = "migrate_plain"
        a = self.machine(0, base, f"guest={guest} mem={self.mem} {keys}", guest=guest, label=f"{label}-a")
        b = self.machine(1, base, f"noguest incoming=tcp:0:{PORT} {keys}", label=f"{label}-b")
        try:
            yield a, b
        finally:
            for x in (a, b):
                x.close()
            hub.terminate()
            hub.wait(10)

    def progress_on(self, m: Machine, mark: int, progress: str, count: int = 2) -> None:
        """count of the workload's progress lines after mark; no FAIL anywhere."""
        deadline = time.monotonic() + 300
        while len(re.findall(progress, m.text_since(mark), re.M)) < count:
            check(time.monotonic() < deadline, f"the workload made no progress on {m.name}")
            time.sleep(0.5)
        bad = re.search(FAIL_RX, m.text(), re.M)
        check(bad is None, f"the guest says: {bad.group(0) if bad else ''}")

    def workload(self, name: str) -> str:
        """One of the four workloads of the QEMU figures moved A -> B with no
        operator action: it must converge (auto-converge on, the defaults),
        and its own progress lines must go on, with no FAIL, on B."""
        progress = rf"^vm0\| mig: {name} ok: (?P<n>\d+) "
        with self.hub_pair(f"mig_{name}", name) as (a, b):
            a.start()
            b.start()
            b.expect(rf"waiting for an incoming migration on tcp port {PORT}", BOOT_TIMEOUT, "B listening")
            for x in (a, b):
                x.expect(r"console ready", BOOT_TIMEOUT, "the console")
            a.expect(progress, BOOT_TIMEOUT, "the workload running")
            ms = a.mark()
            a.command(f"migrate tcp:{IPS[1]}:{PORT}", r"^migrate: to ")
            done = a.expect(r"^migrate: completed: .*downtime (?P<dt>\d+) ms; (?P<bytes>\d+) bytes sent\b",
                            WORKLOAD_TIMEOUT, "convergence with no operator action")
            b.expect(r"^migrate: GO received: the VM runs on this host now", EVENT_TIMEOUT, "B running it")
            self.progress_on(b, b.mark(), progress)
            bad = re.search(FAIL_RX, a.text(), re.M)
            check(bad is None, f"the guest says: {bad.group(0) if bad else ''}")
            src = a.text_since(ms)
            rounds = len(re.findall(r"^migrate: round \d+:", src, re.M))
            stop = re.search(r"^migrate: stop-and-copy \((?P<why>[^)]*)\)", src, re.M)
            thr = re.findall(r"throttle (\d+)%", src)
            note = (f"{rounds} rounds, {int(done.group('bytes')) / (int(self.mem[:-1]) << 20):.2f} x RAM "
                    f"on the wire, downtime {done.group('dt')} ms, stop: {stop.group('why') if stop else '?'}, "
                    f"throttle up to {max(map(int, thr)) if thr else 0}%")
            self.figures.append(f"{self.tag} workload {name}: {note}")
            return note

    def info(self, a: Machine) -> str:
        t = a.command("info migrate", r"^status: completed").text
        for field in ("total-time", "setup-time", "downtime", "transferred", "remaining", "total",
                      "duplicate", "normal", "normal-bytes", "dirty-pages-rate", "mbps",
                      "pages-per-second", "dirty-sync-count", "cpu-throttle-percentage"):
            check(re.search(rf"^{field}: ", t, re.M) is not None, f"info migrate lacks {field}")
        return "all of QEMU's fields present"

    def tls_move(self, src: Machine, dst: Machine, dst_ip: str) -> str:
        for x in (src, dst):
            x.command("migrate_set_parameter tls-creds migrate", r"^tls-creds: migrate")
        try:
            note = self.move(src, dst, dst_ip)
            check("TLS-PSK" in src.text(), "the source never said TLS-PSK")
            return note + ", over TLS-PSK"
        finally:
            for x in (src, dst):
                x.command("migrate_set_parameter tls-creds none", r"^tls-creds: none")

    def refused(self, a: Machine, c: Machine, tls: bool, want: str) -> str:
        """A migration A -> C that C must refuse before any page moves (with
        tls, both ends use TLS-PSK, each with its own key)."""
        creds = "migrate" if tls else "none"
        for x in (a, c):
            x.command(f"migrate_set_parameter tls-creds {creds}", rf"^tls-creds: {creds}")
        try:
            a.command(f"migrate tcp:{IPS[2]}:{PORT}", r"^migrate: to ")
            r = a.expect(r"^migrate: failed: (?P<why>.*)\n", EVENT_TIMEOUT, "A's failure")
            if tls:
                c.expect(r"^migrate: failed: TLS handshake failed", EVENT_TIMEOUT, "C's side of the handshake")
        finally:
            for x in (a, c):
                x.command("migrate_set_parameter tls-creds none", r"^tls-creds: none")
        check(re.search(want, r.group("why")) is not None and "continues here" in r.group("why"),
              r.group(0))
        check("sending" not in a.text_since(a.mark() - len(r.group(0)) - 400).split("migrate: to")[-1],
              "pages moved before the refusal")
        self.holds(a, "running")
        self.holds(c, "none")
        self.passes_after(a, a.mark(), 1, EVENT_TIMEOUT)
        return r.group("why")[:100]

    def run_all(self) -> None:
        if not shutil.which("bxhub"):
            self.fail_all(["boot"], "bxhub (package bochs) missing")
            return
        if self.workloads_only:
            self.run_workloads()
            return
        base = free_udp_base(8)
        hub = subprocess.Popen(["bxhub", "-ports=4", f"-base={base}"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        keys = f"migrate_psk={PSK} migrate_plain"
        a = self.machine(0, base, f"guest=mig_verify mem={self.mem} {keys} netcon_psk={NETCON_PSK}")
        b = self.machine(1, base, f"noguest incoming=tcp:0:{PORT} {keys}")
        # C refuses: PML run: a Haswell (fewer CPU features) with another key;
        # WP run: too little memory for the guest.
        if self.tag == "pml":
            c = self.machine(2, base, f"noguest incoming=tcp:0:{PORT} migrate_psk={OTHER_PSK} migrate_plain",
                             model="corei7_haswell_4770")
        else:
            c = self.machine(2, base, f"noguest incoming=tcp:0:{PORT} {keys}", megs=24)  # about 5 MiB left for a VM
        t = self.tag
        self.client = None
        try:
            if not self.case(f"{t}-boot", self.boot, a, b, c):
                return
            if t == "pml":  # the events' path does not depend on the dirty log
                self.case(f"{t}-netcon-client", self.netcon_open, base, a)
            self.case(f"{t}-garbage", self.garbage, a, b)
            if t == "pml":
                self.case(f"{t}-wrong-key", self.refused, a, c, True, r"TLS handshake failed")
                self.case(f"{t}-cpu-mismatch", self.refused, a, c, False, r"cpu: leaf .* lacks")
            else:
                self.case(f"{t}-too-little-memory", self.refused, a, c, False, r"not enough .*memory")
            self.case(f"{t}-cancel", self.cancel, a, b)
            self.netcon_keepalive()
            self.case(f"{t}-cut", self.cut, a, b)
            self.netcon_keepalive()
            self.case(f"{t}-cut-final", self.cut, a, b, "cut-final", "resumes")
            self.netcon_keepalive()
            self.case(f"{t}-lost-ack", self.lost_ack, a, b)
            self.netcon_keepalive()
            moved = self.case(f"{t}-move", self.move, a, b, IPS[1])
            if self.client:
                self.case(f"{t}-netcon-events", self.netcon_events, a)
            if not moved:
                return
            self.case(f"{t}-info", self.info, a)
            self.case(f"{t}-cont-refused", self.cont_refused, a)
            if not self.case(f"{t}-back", self.back, a, b):
                return
            b.command(f"migrate_incoming tcp:0:{PORT}", r"^migrate_incoming: listening")
            if not self.case(f"{t}-tls-move", self.tls_move, a, b, IPS[1]):
                return
            a.command(f"migrate_incoming tcp:0:{PORT}", r"^migrate_incoming: listening")
            if self.case(f"{t}-lost-go", self.lost_go, b, a, IPS[0]):
                self.case(f"{t}-dest-killed", self.dest_killed, a, b)
        finally:
            if self.client:
                self.client.close()
            for x in (a, b, c):
                x.close()
            hub.terminate()
            hub.wait(10)
        self.run_workloads()

    def run_workloads(self) -> None:
        if self.tag == "pml":  # the workloads once: the dirty mechanism is not their point
            for w in self.workloads:
                self.case(f"{self.tag}-workload-{w}", self.workload, w)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", type=Path, default=Path("build"))
    ap.add_argument("--config", action="append", choices=sorted(CONFIGS),
                    help="pml (Skylake-X, dirty log by PML), wp (Haswell, write protection); default both")
    ap.add_argument("--mem", default="8M")
    ap.add_argument("--workload", action="append", choices=("idle", "static", "incr", "hot"),
                    help=f"workloads to move after the PML cases (default: {' '.join(WORKLOADS)})")
    ap.add_argument("--workloads-only", action="store_true",
                    help="skip the fault and ping-pong cases (development)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    r = Runner(args.build.resolve(), args.mem, args.verbose)
    r.workloads_only = args.workloads_only
    if args.workload:
        r.workloads = tuple(args.workload)
    return r.run({t: r.config(t) for t in CONFIGS}, args.config or list(CONFIGS))


if __name__ == "__main__":
    sys.exit(main())
