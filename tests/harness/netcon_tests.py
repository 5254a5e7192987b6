#!/usr/bin/env python3
"""Tern's network console (docs/network-console.md) against real clients.

QEMU/TCG (no VMX: console only), OVMF + tern.efi, an e1000 on QEMU's
user-mode network (restrict=on) with Tern at 10.0.2.15/24 and a loopback
port forward 127.0.0.1:PORT -> 10.0.2.15:4444. Clients: build/ternctl,
`openssl s_client`, and raw sockets from this script (stall, garbage).

Boots:
  tls    -cpu max (RDSEED/RDRAND), netcon_psk + netcon_psk_id: ternctl and
         openssl answers, the same `help` as on serial, wrong key and wrong
         identity refused and logged, a stalled client and floods that do not
         block the serial console, clients in turn, shutdown over the network.
  noentropy  QEMU's default CPU (no RDRAND, no RDSEED): the TLS console
         refuses to start and says why; the serial console works.
  plain  netcon_plain: the loud warning, then ternctl --plain.
  bochs  Bochs with VMX and the demo guest running, an e1000 on no network
         (ethmod=null): the console starts with entropy from RDSEED (QEMU's
         TCG has only RDRAND) and the guest keeps running beside it.

One PASS/FAIL line per case, then `netcon: N passed, N failed`; exit 1 on
failure. Serial transcripts: build/test-logs/netcon-*.log.

Usage: netcon_tests.py --build build [--boot tls|noentropy|plain|bochs]...
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import ROOT, Machine, MachineError, free_port, grub_test_cfg  # noqa: E402
from suite import CaseFailed, Suite, check  # noqa: E402

BOOT_TIMEOUT = 180
KEY = "5eed" * 8                 # 16-byte test key
IDENTITY = "operator"
TERN_NET = "ip=10.0.2.15/24 gw=10.0.2.2"
SERIAL_SLOW = 10.0               # a serial answer slower than this counts as blocked
HANDSHAKE_FAIL_RX = r"^netcon: handshake from 10\.0\.2\.2 failed: (?P<why>.*)\n"


class Runner(Suite):
    def __init__(self, build: Path, verbose: bool):
        super().__init__("netcon", build, verbose)
        self.key_file = self.scratch / "key.hex"
        self.key_file.write_text(KEY + "\n")
        self.bad_key_file = self.scratch / "bad.hex"
        self.bad_key_file.write_text("0badc0de" * 4 + "\n")
        self.port = 0

    # ---- helpers ----

    def machine(self, name: str, cmdline: str, cpu: str | None) -> Machine:
        esp = self.scratch / f"{name}.img"
        r = subprocess.run(["bash", str(ROOT / "scripts" / "mkesp.sh"), str(esp),
                            str(self.build / "tern.efi"), "", cmdline],
                           capture_output=True, text=True)
        if r.returncode:
            raise CaseFailed(f"mkesp.sh: {(r.stderr or r.stdout).strip()[-200:]}")
        self.port = free_port()
        extra = ("-cpu", cpu) if cpu else ()
        extra += ("-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{self.port}-:4444",
                  "-device", "e1000,netdev=n0,mac=52:54:00:7e:72:21")
        return Machine(name, emulator="qemu", firmware="ovmf", esp=esp, log_dir=self.log_dir,
                       wall_timeout=900, extra_config=extra)

    def ternctl(self, *args: str, key: Path | None = None, identity: str = IDENTITY,
                stdin: str | None = None, timeout: float = 60, plain: bool = False):
        argv = [str(self.build / "ternctl"), f"127.0.0.1:{self.port}", "-v"]
        if plain:
            argv.append("--plain")
        else:
            argv += ["--psk-file", str(key or self.key_file), "--identity", identity]
        argv += list(args)
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)

    def s_client(self, cipher: str = "PSK-AES128-GCM-SHA256") -> subprocess.Popen:
        """`openssl s_client` over TLS-PSK, pipes on stdin and stdout; it keeps
        the connection open at the end of its input (-ign_eof)."""
        argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}", "-psk", KEY,
                "-psk_identity", IDENTITY, "-tls1_2", "-cipher", cipher, "-quiet", "-ign_eof"]
        return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)

    @staticmethod
    def wait_log(m: Machine, regex: str, mark: int, timeout: float, what: str) -> re.Match:
        """Wait for regex in the serial text after mark, without consuming it."""
        rx = re.compile(regex, re.M)
        deadline = time.monotonic() + timeout
        while True:
            found = rx.search(m.text_since(mark))
            if found:
                return found
            if time.monotonic() > deadline or not m.running():
                raise CaseFailed(f"no {what} in the serial log")
            time.sleep(0.1)

    @staticmethod
    def serial_answers(m: Machine) -> float:
        """`info status` on serial: the answer's delay in seconds."""
        t0 = time.monotonic()
        m.command("info status", r"^VM status:", timeout=60)
        dt = time.monotonic() - t0
        check(dt < SERIAL_SLOW, f"the serial console took {dt:.1f} s to answer")
        return dt

    # ---- boot: TLS ----

    TLS_CASES = ["netcon-boot", "netcon-ternctl-status", "netcon-ternctl-help", "netcon-openssl",
                 "netcon-wrong-key", "netcon-wrong-identity", "netcon-stall", "netcon-flood-garbage",
                 "netcon-flood-lines", "netcon-kill-handshake", "netcon-kill-mid-command",
                 "netcon-kill-unread-answer", "netcon-in-turn", "netcon-throughput", "netcon-shutdown"]

    def run_tls(self) -> None:
        try:
            m = self.machine("netcon-tls", f"noguest {TERN_NET} netcon_psk={KEY} "
                             f"netcon_psk_id={IDENTITY}", "max")
        except CaseFailed as e:
            self.fail_all(self.TLS_CASES, e.reason)
            return
        try:
            if not self.case("netcon-boot", self.tls_boot, m):
                self.fail_all(self.TLS_CASES[1:], "the network console did not start")
                return
            self.case("netcon-ternctl-status", self.ternctl_status, m)
            self.case("netcon-ternctl-help", self.ternctl_help, m)
            self.case("netcon-openssl", self.openssl, m)
            self.case("netcon-wrong-key", self.wrong_key, m)
            self.case("netcon-wrong-identity", self.wrong_identity, m)
            self.case("netcon-stall", self.stall, m)
            self.case("netcon-flood-garbage", self.flood_garbage, m)
            self.case("netcon-flood-lines", self.flood_lines, m)
            self.case("netcon-kill-handshake", self.kill_mid_handshake, m)
            self.case("netcon-kill-mid-command", self.kill_mid_command, m)
            self.case("netcon-kill-unread-answer", self.kill_unread_answer, m)
            self.case("netcon-in-turn", self.in_turn, m)
            self.case("netcon-throughput", self.throughput, m)
            self.case("netcon-shutdown", self.shutdown, m)
        finally:
            m.close()

    def tls_boot(self, m: Machine) -> str:
        m.start()
        a = m.expect(r"^netcon: (.*)\n", BOOT_TIMEOUT, "the network console's start")
        check(a.group(1).startswith(f"TLS 1.2 PSK console on TCP port 4444, identity '{IDENTITY}'"),
              f"netcon said: {a.group(1)}")
        m.expect(r"console ready", BOOT_TIMEOUT, "the serial console")
        return a.group(1)

    def ternctl_status(self, m: Machine) -> str:
        r = self.ternctl("info", "status")
        check(r.returncode == 0, f"ternctl exit {r.returncode}: {r.stderr.strip()}")
        check(re.match(r"VM status: none \(VMX not available", r.stdout) is not None,
              f"answer {r.stdout!r}")
        line = self.wait_log(m, r"^netcon: 10\.0\.2\.2 connected \((.*)\)\n", 0, 10, "connect line")
        return f"{r.stdout.strip()[:40]}...; Tern: {line.group(1)}"

    def ternctl_help(self, m: Machine) -> str:
        r = self.ternctl("help")
        check(r.returncode == 0, f"ternctl exit {r.returncode}: {r.stderr.strip()}")
        serial = m.command("help", r"^\s+help\s", timeout=30).text
        # The serial answer starts after the echo; compare the command lines.
        want = [l.rstrip() for l in serial.splitlines() if l.startswith("  ")]
        got = [l.rstrip() for l in r.stdout.splitlines()]
        check(got == want, f"network help differs from serial help: {got[:3]} vs {want[:3]}")
        return f"{len(got)} commands, same as serial"

    def openssl(self, m: Machine) -> str:
        notes = []
        for cipher in ("PSK-AES128-GCM-SHA256", "PSK-AES256-GCM-SHA384"):
            p = self.s_client(cipher)
            try:
                out = self.read_until(p.stdout, b"(tern) ", 30)
                check(out.startswith(b"Tern network console"), f"greeting {out[:80]!r}")
                p.stdin.write(b"info status\n")
                p.stdin.flush()
                out = self.read_until(p.stdout, b"\n(tern) ", 30)
                check(out.startswith(b"VM status: "), f"answer {out[:80]!r}")
                p.stdin.write(b"quit\n")
                p.stdin.flush()
                p.wait(20)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            notes.append(cipher)
        return ", ".join(notes)

    @staticmethod
    def read_until(f, end: bytes, timeout: float) -> bytes:
        """Read a pipe until the data ends with `end` (a reader thread: no
        blocking forever on a silent peer)."""
        got = bytearray()
        done = threading.Event()

        def reader():
            while not got.endswith(end):
                b = f.read1(4096) if hasattr(f, "read1") else f.read(1)
                if not b:
                    break
                got.extend(b)
            done.set()

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        done.wait(timeout)
        check(got.endswith(end), f"no {end!r} within {timeout:.0f} s; got {bytes(got[-120:])!r}")
        return bytes(got[:-len(end)])

    def wrong_key(self, m: Machine) -> str:
        mark = m.mark()
        r = self.ternctl("info", "status", key=self.bad_key_file)
        check(r.returncode == 2, f"ternctl exit {r.returncode} with a wrong key")
        check("rejected the key" in r.stderr, f"ternctl said {r.stderr.strip()!r}")
        f = self.wait_log(m, HANDSHAKE_FAIL_RX, mark, 10, "handshake failure")
        check(f.group("why").startswith("wrong key"), f"Tern logged {f.group(0).strip()!r}")
        said = r.stderr.strip().splitlines()[-1]
        self.serial_answers(m)
        r = self.ternctl("info", "status")
        check(r.returncode == 0, f"a good key after a bad one: exit {r.returncode}: {r.stderr.strip()}")
        return f"Tern: {f.group('why')}; {said}"

    def wrong_identity(self, m: Machine) -> str:
        mark = m.mark()
        r = self.ternctl("info", "status", identity="mallory")
        check(r.returncode == 2, f"ternctl exit {r.returncode} with a wrong identity")
        f = self.wait_log(m, HANDSHAKE_FAIL_RX, mark, 10, "handshake failure")
        check("identity" in f.group("why"), f"Tern logged {f.group(0).strip()!r}")
        return f.group("why")

    def stall(self, m: Machine) -> str:
        """A client that connects and says nothing holds the console for 10 s
        at most; meanwhile serial answers and a good client waits its turn."""
        mark = m.mark()
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            time.sleep(1)
            delay = self.serial_answers(m)
            t0 = time.monotonic()
            r = self.ternctl("info", "status", timeout=60)
            waited = time.monotonic() - t0
            check(r.returncode == 0, f"the client after the staller: exit {r.returncode}: "
                  f"{r.stderr.strip()}")
            f = self.wait_log(m, HANDSHAKE_FAIL_RX, mark, 5, "the staller's timeout")
            check("no handshake within 10 s" in f.group("why"), f"Tern logged {f.group(0).strip()!r}")
            self.wait_log(m, r"^netcon: 10\.0\.2\.2 waits", mark, 1, "the queued client")
        finally:
            s.close()
        return f"serial answered in {delay:.2f} s, the next client was served after {waited:.1f} s"

    def flood_garbage(self, m: Machine) -> str:
        """Random bytes instead of a ClientHello, as fast as the socket takes them."""
        mark = m.mark()
        stop = threading.Event()
        sent = [0]

        def flood():
            rnd = random.Random(7)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                    while not stop.is_set():
                        sent[0] += s.send(rnd.randbytes(16384))
            except OSError:
                pass  # Tern hung up: expected

        t = threading.Thread(target=flood, daemon=True)
        t.start()
        try:
            f = self.wait_log(m, HANDSHAKE_FAIL_RX, mark, 20, "the flooder's handshake failure")
            delay = self.serial_answers(m)
        finally:
            stop.set()
            t.join(10)
        r = self.ternctl("info", "status")
        check(r.returncode == 0, f"a client after the flood: exit {r.returncode}: {r.stderr.strip()}")
        return f"{sent[0]} bytes sent; Tern: {f.group('why')}; serial {delay:.2f} s"

    @staticmethod
    def flood_data() -> bytes:
        """Lines, overlong lines and noise, far more than a client could read."""
        rnd = random.Random(11)
        chunks = []
        for i in range(3000):
            k = rnd.randrange(4)
            if k == 0:
                chunks.append(b"info status\n")
            elif k == 1:
                chunks.append(b"x" * rnd.randrange(200, 2000) + b"\n")
            elif k == 2:
                chunks.append(bytes(rnd.randrange(1, 256) for _ in range(rnd.randrange(1, 300))) + b"\n")
            else:
                chunks.append(b"bogus command %d\n" % i)
        return b"".join(chunks)

    def spawn_flooder(self, m: Machine, mark: int, data: bytes) -> subprocess.Popen:
        """An authenticated client that sends data and never reads: its
        answers go to a pipe nobody reads; once that is full, the client
        stops reading the connection too and its receive window fills."""
        p = self.s_client()

        def feed():
            try:
                p.stdin.write(data)
                p.stdin.close()
            except OSError:
                pass
        threading.Thread(target=feed, daemon=True).start()
        try:
            self.wait_log(m, r"^netcon: 10\.0\.2\.2 connected", mark, 60, "the flooder's connect")
        except BaseException:
            p.kill()
            p.wait()
            raise
        return p

    def flood_lines(self, m: Machine) -> str:
        """A client that sends far more than it reads. Tern reads only as fast
        as the client takes answers and serial keeps answering. Then the
        client is killed with its window full and its commands still
        buffered on the way (QEMU's user network keeps acknowledging for it
        and delivers them first; WAIT_NS outlasts that): the next client
        must be served."""
        data = self.flood_data()
        mark = m.mark()
        p = self.spawn_flooder(m, mark, data)
        try:
            delays = []
            for _ in range(3):
                delays.append(self.serial_answers(m))
                time.sleep(0.5)
        finally:
            p.kill()
            p.wait()
        waited = self.next_client_served(m, mark, "the flooder")
        return f"{len(data)} bytes offered; serial answered in at most {max(delays):.2f} s; " \
               f"the next client was served {waited:.1f} s after the kill"

    # ---- clients killed in each state ----

    # How a killed client's session may end; any of them frees the console.
    DEAD_END_RX = (r"^netcon: (?:handshake from 10\.0\.2\.2 failed: .*|10\.0\.2\.2 disconnected: .*|"
                   r"10\.0\.2\.2: connection lost: .*)\n")

    def next_client_served(self, m: Machine, mark: int, who: str) -> float:
        """Right after a client was killed, the next one must be served. The
        bound is Tern's own: a waiting client is closed after WAIT_NS (120 s
        by Tern's clock), twelve times NETCON_STALL_NS, the longest a dead
        session holds the console after its last acknowledged byte. Both run
        on the same clock, so a loaded machine cannot make this pass or fail;
        the wall time is a figure."""
        t0 = time.monotonic()
        r = self.ternctl("--timeout", "300", "info", "version", timeout=330)
        waited = time.monotonic() - t0
        check(r.returncode == 0 and r.stdout.startswith("Tern "),
              f"the client after {who}: exit {r.returncode}: {r.stdout.strip()!r} {r.stderr.strip()!r}")
        # Serial lags behind the network: wait for the next client's whole
        # session in the log. The killed session's end is the last one
        # logged before it opened (an earlier client's end may come late).
        deadline = time.monotonic() + 60
        while True:
            text = m.text_since(mark)
            done = [x.start() for x in re.finditer(r"^netcon: 10\.0\.2\.2 disconnected: closed by the "
                                                   r"client, 1 commands$", text, re.M)]
            opened = [x.start() for x in re.finditer(r"^netcon: 10\.0\.2\.2 connected", text, re.M)
                      if done and x.start() < done[-1]]
            ends = [e for e in re.finditer(self.DEAD_END_RX, text, re.M)
                    if opened and e.start() < opened[-1]]
            if ends or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        served = opened
        check("for the console" not in text, f"a client gave up waiting behind {who}")
        check(bool(served), "the next client's session is not in the serial log")
        check(bool(ends), f"no end of {who}'s session before the next one in the serial log")
        end = ends[-1]
        self.figures.append(f"next client served {waited:.1f} s after {who} was killed "
                            f"({end.group(0).strip()[8:]})")
        return waited

    def spawn_openssl(self) -> subprocess.Popen:
        """An interactive TLS client at the prompt: the greeting was read."""
        p = self.s_client()
        try:
            out = self.read_until(p.stdout, b"(tern) ", 60)
            check(out.startswith(b"Tern network console"), f"greeting {out[:80]!r}")
        except BaseException:
            p.kill()
            p.wait()
            raise
        return p

    def kill_client(self, m: Machine, who: str, prepare) -> str:
        mark = m.mark()
        p = prepare()
        try:
            time.sleep(0.5)  # let Tern take what it sent
        finally:
            p.kill()
            p.wait()
        waited = self.next_client_served(m, mark, who)
        return f"the next client was served {waited:.1f} s after the kill"

    def kill_mid_handshake(self, m: Machine) -> str:
        """Killed after half a ClientHello: Tern waits for the rest."""
        hello_start = "16030100c8" + "010000c4" + "0303" + "5eed" * 16
        code = ("import socket, sys, time\n"
                f"s = socket.create_connection(('127.0.0.1', {self.port}))\n"
                f"s.sendall(bytes.fromhex('{hello_start}'))\n"
                "print('ready', flush=True)\n"
                "time.sleep(600)\n")

        def prepare():
            p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
            check(p.stdout.readline().strip() == b"ready", "the half-handshake client did not start")
            return p
        return self.kill_client(m, "a client mid-handshake", prepare)

    def kill_typing(self, m: Machine, who: str, typed: bytes) -> str:
        """An interactive client killed right after typing `typed`."""
        def prepare():
            p = self.spawn_openssl()
            p.stdin.write(typed)
            p.stdin.flush()
            return p
        return self.kill_client(m, who, prepare)

    def kill_mid_command(self, m: Machine) -> str:
        """Killed halfway through typing a command."""
        return self.kill_typing(m, "a client mid-command", b"info sta")

    def kill_unread_answer(self, m: Machine) -> str:
        """Killed right after commands with long answers it never reads."""
        return self.kill_typing(m, "a client with unread answers", b"help\ninfo network\nhelp\n")

    def in_turn(self, m: Machine) -> str:
        """Several clients at once: served one after the other, all answered."""
        procs = [subprocess.Popen([str(self.build / "ternctl"), f"127.0.0.1:{self.port}",
                                   "--psk-file", str(self.key_file), "--identity", IDENTITY,
                                   "info", "version"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
        outs = []
        for p in procs:
            out, err = p.communicate(timeout=90)
            outs.append((p.returncode, out, err))
        for rc, out, err in outs:
            check(rc == 0 and out.startswith("Tern "), f"exit {rc}: {out.strip()!r} {err.strip()!r}")
        return f"{len(outs)} clients answered"

    def throughput(self, m: Machine) -> str:
        """Figures only (TCG): handshakes as ternctl sees them (connect to
        the end of the handshake, QEMU's user network included), then 200
        `help` answers over one TLS session."""
        hs = []
        for _ in range(5):
            r = self.ternctl("info", "version")
            check(r.returncode == 0, f"ternctl exit {r.returncode}: {r.stderr.strip()}")
            found = re.search(r"handshake ([\d.]+) ms", r.stderr)
            check(found is not None, f"no handshake time in {r.stderr.strip()!r}")
            hs.append(float(found.group(1)))
        hs.sort()
        self.figures.append(f"TLS handshake seen by ternctl: min {hs[0]:.1f} ms, median {hs[2]:.1f} ms "
                            f"(5 connections, QEMU TCG + user network)")
        n = 200
        t0 = time.monotonic()
        r = self.ternctl(stdin="help\n" * n, timeout=300)
        secs = time.monotonic() - t0
        check(r.returncode == 0, f"ternctl exit {r.returncode}: {r.stderr.strip()}")
        answers = r.stdout.count("  shutdown ")
        check(answers == n, f"{answers} of {n} answers")
        kib = len(r.stdout) / 1024
        fig = f"{n} help answers, {kib:.0f} KiB in {secs:.2f} s: {n / secs:.0f} commands/s, " \
              f"{kib / secs:.0f} KiB/s (QEMU TCG)"
        self.figures.append(fig)
        return fig

    def shutdown(self, m: Machine) -> str:
        mark = m.mark()
        r = self.ternctl("shutdown")
        check(r.returncode == 0, f"ternctl exit {r.returncode}: {r.stderr.strip()}")
        self.wait_log(m, r"^netcon: 10\.0\.2\.2: shutdown\n", mark, 10, "the audit line")
        rc = m.wait_exit(60)
        check(rc is not None, "QEMU still runs after shutdown")
        return f"QEMU exited with {rc}"

    # ---- boot: no hardware entropy ----

    NOENTROPY_CASES = ["netcon-no-entropy"]

    def run_noentropy(self) -> None:
        try:
            m = self.machine("netcon-noentropy", f"noguest {TERN_NET} netcon_psk={KEY}", None)
        except CaseFailed as e:
            self.fail_all(self.NOENTROPY_CASES, e.reason)
            return
        try:
            self.case("netcon-no-entropy", self.no_entropy, m)
        finally:
            m.close()

    def no_entropy(self, m: Machine) -> str:
        m.start()
        a = m.expect(r"^netcon: (.*)\n", BOOT_TIMEOUT, "the network console's verdict")
        check("not started" in a.group(1) and "RDSEED" in a.group(1), f"netcon said: {a.group(1)}")
        m.expect(r"console ready", BOOT_TIMEOUT, "the serial console")
        self.serial_answers(m)
        # QEMU's user network accepts the connection for the guest, then closes
        # it once Tern resets the forwarded one: the port must say "closed",
        # not stay silent (a TLS server says nothing before the ClientHello).
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            s.settimeout(60)
            try:
                s.sendall(bytes.fromhex("16030100c8010000c40303") + b"\0" * 32)
                got = s.recv(100)
            except (ConnectionResetError, BrokenPipeError):
                got = b""
            except socket.timeout:
                raise CaseFailed("the console port took a ClientHello and stayed silent "
                                 "for 60 s: open, or not answering") from None
        check(got == b"", f"something answered on the console port: {got!r}")
        r = self.ternctl("--timeout", "60", "info", "status", timeout=90)
        check(r.returncode == 2, f"ternctl exit {r.returncode} with no console: {r.stderr.strip()}")
        return f"{a.group(1)}; port closed; ternctl: {r.stderr.strip().splitlines()[-1]}"

    # ---- boot: plain ----

    PLAIN_CASES = ["netcon-plain"]

    def run_plain(self) -> None:
        try:
            m = self.machine("netcon-plain", f"noguest {TERN_NET} netcon_plain", "max")
        except CaseFailed as e:
            self.fail_all(self.PLAIN_CASES, e.reason)
            return
        try:
            self.case("netcon-plain", self.plain, m)
        finally:
            m.close()

    def plain(self, m: Machine) -> str:
        m.start()
        m.expect(r"^netcon: WARNING: netcon_plain: port 4444 has NO encryption", BOOT_TIMEOUT,
                 "the plain-text warning")
        m.expect(r"console ready", BOOT_TIMEOUT, "the serial console")
        r = self.ternctl("info", "status", plain=True)
        check(r.returncode == 0 and r.stdout.startswith("VM status:"),
              f"exit {r.returncode}: {r.stdout.strip()!r} {r.stderr.strip()!r}")
        return r.stdout.strip()[:50]


    # ---- boot: Bochs, VMX, a running guest, RDSEED ----

    BOCHS_CASES = ["netcon-bochs-rdseed"]

    def run_bochs(self) -> None:
        cfg = grub_test_cfg("demo", f"guest=demo ip=10.0.9.2/24 netcon_psk={KEY}")
        m = Machine("netcon-bochs", iso=self.build / "tern.iso", test_cfg=cfg, log_dir=self.log_dir,
                    wall_timeout=900,
                    extra_config=("pci: enabled=1, chipset=i440fx, slot1=e1000",
                                  "e1000: enabled=1, mac=52:54:00:7e:72:22, ethmod=null"))
        try:
            self.case("netcon-bochs-rdseed", self.bochs_rdseed, m)
        finally:
            m.close()

    def bochs_rdseed(self, m: Machine) -> str:
        m.start()
        a = m.expect(r"^netcon: (.*)\n", BOOT_TIMEOUT, "the network console's start")
        check(a.group(1).endswith("entropy from RDSEED"), f"netcon said: {a.group(1)}")
        m.expect(r"console ready", BOOT_TIMEOUT, "the serial console")
        m.command("info status", r"^VM status: running", timeout=60)
        return a.group(1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="the build folder (default: build)")
    ap.add_argument("--boot", action="append", choices=("tls", "noentropy", "plain", "bochs"),
                    help="run only this boot (repeatable)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    build = Path(args.build)
    if not build.is_absolute():
        build = (Path.cwd() / build).resolve()
    missing = [f for f in ("tern.efi", "tern.iso", "ternctl") if not (build / f).exists()]
    if missing or not shutil.which("openssl"):
        print(f"netcon_tests: missing {', '.join(missing) or 'openssl'} (run make)", file=sys.stderr)
        print("netcon: 0 passed, 1 failed")
        return 1
    r = Runner(build, args.verbose)
    return r.run({"tls": r.run_tls, "noentropy": r.run_noentropy, "plain": r.run_plain,
                  "bochs": r.run_bochs}, args.boot or ["tls", "noentropy", "plain", "bochs"])

if __name__ == "__main__":
    sys.exit(main())
