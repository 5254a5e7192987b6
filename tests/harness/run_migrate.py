#!/usr/bin/env python3
"""`make run-migrate`: watch a live migration between two Terns, then use the
destination's console.

Two Bochs machines (corei7_skylake_x, BIOS + GRUB) joined by bxhub, as in
tests/harness/migrate_tests.py: host A (10.0.5.1) runs guest-tests/mig_verify
with 8 MiB of RAM, a guest that rewrites and verifies all its pages all the
time and checks its own clock; host B (10.0.5.2) boots with no guest, waiting
on tcp port 4445. Once the guest has verified itself on A, this types
`migrate tcp:10.0.5.2:4445` on A's console and shows both consoles'
migration lines as they come (`A| ` and `B| `; the guest's own lines are
`vm0| ...`). When B says the VM runs there and the guest's verification
passes continue on B, A prints its `info migrate` and is shut down, and B's
serial console is this terminal: try `info status`, `info migrate`, `info
vm`; `shutdown` or Ctrl-C quits.

Without a terminal on stdin (a pipe, CI) it stops there instead: both
machines are shut down and it exits 0 once the guest showed 2 passes on B,
1 on any failure (the guest's FAIL line, the migration failing, a timeout).
Transcripts: BUILD/test-logs/run-migrate-a.log and run-migrate-b.log.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import Machine, MachineError, grub_test_cfg  # noqa: E402
from net_tests import free_udp_base  # noqa: E402

IPS = ("10.0.5.1", "10.0.5.2")
PORT = 4445
BOOT_TIMEOUT = 300
MOVE_TIMEOUT = 900
PASS_RX = re.compile(r"^vm0\| mig: pass (\d+) ok", re.M)
FAIL_RX = re.compile(r"^vm0\| mig: FAIL.*$", re.M)
GO_RX = re.compile(r"^migrate: (GO received|migrate_continue): the VM runs on this host now.*$", re.M)
SRC_FAILED_RX = re.compile(r"^migrate: (failed|cancelled).*$", re.M)
# What the watcher shows: the engine's lines, Tern's incoming notice, the guest's.
SHOW_RX = re.compile(r"^(migrate[:_]|tern: waiting for an incoming|tern: incoming|vm0[:|] )")


def start_hub(ports: int = 2) -> tuple[subprocess.Popen, int]:
    """bxhub on free UDP ports: (process, base port)."""
    base = free_udp_base()
    hub = subprocess.Popen(["bxhub", f"-ports={ports}", f"-base={base}"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return hub, base


def tern_on_hub(name: str, i: int, base: int, cmdline: str, build: Path, guest: str = "mig_verify",
                wall_timeout: float = 3000, model: str = "corei7_skylake_x", **kw) -> Machine:
    """Machine i (0 = A, 1 = B) on the bxhub at `base`, address IPS[i]. The
    stream is plaintext (boot option migrate_plain, no migrate_psk= key): the
    link is private to the two emulators, and QEMU's reference figures are
    plaintext too."""
    cfg = grub_test_cfg(guest, f"{cmdline} ip={IPS[i]}/24 migrate_plain")
    return Machine(
        name, iso=build / "tern.iso", test_cfg=cfg, model=model, log_dir=build / "test-logs",
        wall_timeout=wall_timeout,
        extra_config=("pci: enabled=1, chipset=i440fx, slot1=e1000",
                      f"e1000: enabled=1, mac=52:54:00:7e:73:{0x10 + i:02x}, "
                      f"ethmod=socket, ethdev={base + 2 * i}"), **kw)


class Watcher:
    """Prints the interesting complete lines of several consoles as they
    arrive, each with its prefix."""

    def __init__(self, machines: dict[str, Machine], show=SHOW_RX):
        self.machines = machines
        self.show = show
        self.pos = {k: 0 for k in machines}

    def skip_to_now(self, key: str) -> None:
        self.pos[key] = self.machines[key].mark()

    def poll(self) -> None:
        for key, m in self.machines.items():
            text = m.text_since(self.pos[key])
            end = text.rfind("\n")
            if end < 0:
                continue
            self.pos[key] += end + 1
            for line in text[:end].splitlines():
                line = line.replace("(tern) ", "").strip()
                if line and self.show.search(line):
                    print(f"{key}| {line}", flush=True)


def fail(msg: str) -> int:
    print(f"run_migrate: FAILED: {msg}", file=sys.stderr, flush=True)
    return 1


def wait_until(watch: Watcher, timeout: float, what: str, cond) -> None:
    deadline = time.monotonic() + timeout
    while True:
        watch.poll()
        r = cond()
        if r:
            return
        if time.monotonic() > deadline:
            raise MachineError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="the build folder (default: build)")
    ap.add_argument("--model", default="corei7_skylake_x", help="Bochs CPU model")
    ap.add_argument("--mem", default="8M", help="the guest's RAM (default 8M)")
    args = ap.parse_args()
    build = Path(args.build).resolve()
    iso = build / "tern.iso"
    if not iso.exists():
        return fail(f"{iso} missing; run make first")
    if not shutil.which("bxhub"):
        return fail("bxhub missing (Debian package bochs)")
    tty = sys.stdin.isatty()
    wall = 7 * 24 * 3600 if tty else 3000
    hub, base = start_hub()
    a = tern_on_hub("run-migrate-a", 0, base, f"guest=mig_verify mem={args.mem}", build,
                    wall_timeout=wall, model=args.model)
    b = tern_on_hub("run-migrate-b", 1, base, f"noguest incoming=tcp:0:{PORT}", build,
                    wall_timeout=wall, model=args.model)
    watch = Watcher({"A": a, "B": b})
    print(f"run_migrate: two Terns in Bochs ({args.model}) joined by bxhub: A {IPS[0]} runs "
          f"mig_verify ({args.mem} of RAM), B {IPS[1]} waits for it on tcp port {PORT}.\n"
          f"run_migrate: transcripts {a.log_path} and {b.log_path}; booting (a minute or two)...",
          file=sys.stderr, flush=True)
    try:
        a.start()
        b.start()
        for m in (a, b):
            wait_until(watch, BOOT_TIMEOUT, f"{m.name}'s console",
                       lambda m=m: re.search(r"console ready", m.text()))
        wait_until(watch, BOOT_TIMEOUT, "B listening",
                   lambda: re.search(rf"waiting for an incoming migration on tcp port {PORT}", b.text()))
        wait_until(watch, BOOT_TIMEOUT, "2 verification passes on A",
                   lambda: FAIL_RX.search(a.text()) or len(PASS_RX.findall(a.text())) >= 2)
        bad = FAIL_RX.search(a.text())
        if bad:
            return fail(f"the guest failed on A before any migration: {bad.group(0)}")
        before = int(PASS_RX.findall(a.text())[-1])
        print(f"run_migrate: the guest verifies itself on A (pass {before}); typing on A: "
              f"migrate tcp:{IPS[1]}:{PORT}", file=sys.stderr, flush=True)
        ma = a.mark()
        a.send_line(f"migrate tcp:{IPS[1]}:{PORT}")
        # Wait for B's GO line (or A's failure), showing everything on the way.
        go = {}

        def moved():
            bad_a = FAIL_RX.search(a.text_since(ma)) or SRC_FAILED_RX.search(a.text_since(ma))
            if bad_a:
                raise MachineError(f"A: {bad_a.group(0)}")
            g = GO_RX.search(b.text())
            if g:
                go["at"] = g.end()
                return True
            return False

        wait_until(watch, MOVE_TIMEOUT, "B's GO line", moved)

        def passes_on_b():
            after = b.text()[go["at"]:]
            bad_b = FAIL_RX.search(after)
            if bad_b:
                raise MachineError(f"the guest on B says: {bad_b.group(0)}")
            return len(PASS_RX.findall(after)) >= 2

        wait_until(watch, 300, "2 verification passes on B after GO", passes_on_b)
        wait_until(watch, 120, "A's completion line",
                   lambda: re.search(r"^migrate: completed: .*memory freed", a.text_since(ma), re.M))
        after = [int(x) for x in PASS_RX.findall(b.text()[go["at"]:])]
        watch.poll()
        # A's own account, then A goes away.
        info = a.command("info migrate", r"^status: ", 60).text
        for line in info.splitlines():
            if line.strip():
                print(f"A| {line.strip()}", flush=True)
        a.send_line("shutdown")
        a.wait_exit(60)
        a.close()
        summary = (f"run_migrate: the VM moved from A to B while running: the guest verified every "
                   f"page on B (passes {before} on A -> {after[0]}..{after[-1]} on B, clock ok), A "
                   f"freed its copy and was shut down.")
        if not tty:
            print(summary, file=sys.stderr, flush=True)
            b.send_line("shutdown")
            b.wait_exit(60)
            b.close()
            print("run_migrate: no terminal on stdin: done (exit 0)", file=sys.stderr, flush=True)
            return 0
        print(summary + "\nrun_migrate: this terminal is now B's serial console (the guest's "
              "lines come as vm0| ...). Try 'info status', 'info migrate', 'info vm'; "
              "'shutdown' or Ctrl-C quits.", file=sys.stderr, flush=True)
        from run_demo import interactive
        # From here on B's raw output goes to the terminal; the switch is made
        # under the machine's lock so that no byte is printed twice or lost.
        with b._cond:
            rest = b._text[watch.pos["B"]:]
            print(rest, end="", flush=True)
            b.echo = True
        b.send_raw("\r")  # a fresh prompt
        interactive(b, None)
        status = b.wait_exit(10)
        print(f"\nrun_migrate: B {'powered off' if status is not None else 'stopped'}",
              file=sys.stderr)
        return 0
    except KeyboardInterrupt:
        print("\nrun_migrate: interrupted", file=sys.stderr)
        return 0 if tty else 1
    except MachineError as e:
        watch.poll()
        return fail(f"{e.reason} (transcripts {a.log_path}, {b.log_path})")
    finally:
        for m in (a, b):
            m.close()
        hub.terminate()
        hub.wait(10)


if __name__ == "__main__":
    sys.exit(main())
