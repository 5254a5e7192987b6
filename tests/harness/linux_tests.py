#!/usr/bin/env python3
"""A stock Debian Linux guest under Tern on Bochs (PML model, BIOS + GRUB,
the ISO's own `tern-linux` entry: Debian's 6.1 kernel and our busybox
initramfs, docs/linux-guest.md).

The verdicts come from the guest's own answers, typed through Tern's serial
mux (Ctrl-A c) at its shell, checked against facts from outside it: the
kernel version against the Debian package the build fetched
(build/linux/vmlinuz.version), the timer's rate against the guest's own
uptime, the memory stress program's verification of its data.

Cases, in order (one boot, then a reboot):
  boot        Tern loads the kernel; the guest's /init says it is ready; the
              mux hands COM1 to the guest and its shell prompts
  version     uname -r is the fetched package's version
  cpus        one CPU (nproc)
  clocksource the TSC (sysfs)
  timer       the LAPIC timer ticks at HZ (250) while the CPU is busy:
              LOC interrupts over the guest's uptime
  ram         MemTotal between 200 and 256 MiB (mem=256M, less the kernel)
  memstress   32 MiB written and verified for 5 s by our static program
  reboot      `reboot` resets the VM through the FADT's reset register; it
              boots again to its shell
  poweroff    `poweroff` ends the VM cleanly (ACPI S5): Tern says so and
              `info status` says shutdown
  migrate     two more Terns joined by bxhub (A runs Linux with mem=128M, B
              waits with the same boot files): memstress (4 MiB) runs in the
              background on A, A migrates the VM to B (pre-copy, the
              defaults); on B memstress goes on verifying its data with no
              FAIL, the largest step its CLOCK_MONOTONIC took between two
              readings across the move is within the downtime (+0.5 s), and
              the shell answers through B's serial mux
  migrate-postcopy  the same with memstress on 16 MiB (faster than the
              link) and postcopy-ram on: Tern switches to post-copy by
              itself; the clock's step is bounded by the downtime plus the
              time B's vCPU waited for pages
One PASS/FAIL line per case, then `linux: N passed, N failed`.
Transcript: BUILD/test-logs/linux-pml.log.

Usage: linux_tests.py --build build [-v]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import Machine  # noqa: E402
from net_tests import free_udp_base  # noqa: E402
from suite import Suite, check  # noqa: E402

# Hang guards only: Bochs under load runs many times slower than usual.
BOOT_TIMEOUT = 1500
STEP_TIMEOUT = 300
PROMPT = "tern-linux# "
HZ = 250  # Debian's CONFIG_HZ
MUX = "\x01c"
TEST_CFG = "set default=tern-linux\nset timeout=0\n"
KERNEL_LINE = ("console=ttyS0,115200 nokaslr pci=off tsc=reliable 8250.nr_uarts=1 panic=-1 noapic "
               "reboot=acpi rdinit=/init quiet")
MIG_IPS = ("10.0.5.1", "10.0.5.2")
MIG_PORT = 4445
MOVE_TIMEOUT = 1800
MONO_RX = r"memstress: pass (\d+) ok \(\d+ MiB verified\) mono=(\d+\.\d+) maxgap=(\d+\.\d+)"


def linux_cfg(tern_args: str) -> str:
    """/tern-test.cfg: the ISO's kernel and initramfs with Tern options of our own."""
    return ("menuentry \"Tern linux test\" --id tern-test {\n"
            f"\tmultiboot2 ($isodev)/boot/tern.elf guest=linux mem=128M {tern_args}\n"
            f"\tmodule2 ($isodev)/boot/linux/vmlinuz linux {KERNEL_LINE}\n"
            "\tmodule2 ($isodev)/boot/linux/initrd.img initrd\n"
            "\tboot\n}\nset default=tern-test\nset timeout=0\n")


class Runner(Suite):
    def __init__(self, build: Path, verbose: bool):
        super().__init__("linux", build, verbose)
        self.m: Machine | None = None
        self.migrate_only = False

    # ---- the guest's shell ----

    def sh(self, cmd: str, timeout: float = STEP_TIMEOUT) -> str:
        """Type cmd at the guest's shell; its output (without the echo)."""
        m = self.m
        mark = m.mark()
        m.send_line(cmd)
        deadline = time.monotonic() + timeout
        while True:
            text = m.text_since(mark).replace("\r", "")
            echo = text.find("\n")
            if echo >= 0:
                end = text.find(PROMPT, echo)
                if end >= 0:
                    return text[echo + 1:end]
            check(time.monotonic() < deadline, f"no prompt after {cmd!r}: got {text[-300:]!r}")
            time.sleep(0.2)

    def wait_prompt(self, timeout: float) -> None:
        m = self.m
        deadline = time.monotonic() + timeout
        while True:
            mark = m.mark()
            m.send_line("")
            t_end = min(deadline, time.monotonic() + 10)
            while time.monotonic() < t_end:
                if PROMPT in m.text_since(mark):
                    return
                time.sleep(0.2)
            check(time.monotonic() < deadline, "the guest's shell never prompted")

    # ---- cases ----

    def boot(self) -> str:
        m = self.m
        m.start()
        k = m.expect(r"^vm0: Linux (?P<v>\S+) .*\n", BOOT_TIMEOUT, "Tern loading the kernel")
        self.version = k.group("v")
        m.expect(r"^tern: console ready on COM1", BOOT_TIMEOUT, "Tern's console")
        m.expect(r"^vm0\| tern-linux: init ready", BOOT_TIMEOUT, "the guest's /init")
        m.send_raw(MUX)
        m.expect(r"COM1 is the guest's console now", STEP_TIMEOUT, "the mux switching")
        self.wait_prompt(STEP_TIMEOUT)
        return f"Linux {self.version} to its shell in {m.elapsed():.0f} s wall"

    def version_case(self) -> str:
        # "linux-image-6.1.0-57-amd64 6.1.192-3": the package, then its version
        pkg = (self.build / "linux" / "vmlinuz.version").read_text().split()[0]
        want = pkg.removeprefix("linux-image-")
        got = self.sh("uname -r").strip()
        check(got == want, f"uname -r says {got!r}, the fetched package is {want!r}")
        check(got == self.version, f"uname -r {got!r}, Tern loaded {self.version!r}")
        return got

    def cpus(self) -> str:
        got = self.sh("nproc").strip()
        check(got == "1", f"nproc says {got!r}")
        return "1 CPU"

    def clocksource(self) -> str:
        got = self.sh("cat /sys/devices/system/clocksource/clocksource0/current_clocksource").strip()
        check(got == "tsc", f"clocksource {got!r}")
        return got

    def timer(self) -> str:
        # Busy for 3 s (memstress) so that the tick is not stopped while idle.
        out = self.sh("cat /proc/uptime; grep LOC /proc/interrupts; memstress 4 3 >/dev/null; "
                      "cat /proc/uptime; grep LOC /proc/interrupts")
        up = [float(x) for x in re.findall(r"^(\d+\.\d+) \d+\.\d+$", out, re.M)]
        loc = [int(x) for x in re.findall(r"^\s*LOC:\s+(\d+)", out, re.M)]
        check(len(up) == 2 and len(loc) == 2, f"could not read uptime and LOC: {out!r}")
        rate = (loc[1] - loc[0]) / (up[1] - up[0])
        check(0.8 * HZ <= rate <= 1.2 * HZ, f"LAPIC timer at {rate:.0f} interrupts/s, want {HZ}")
        return f"{rate:.0f} LOC interrupts/s over {up[1] - up[0]:.1f} s of guest uptime (HZ {HZ})"

    def ram(self) -> str:
        out = self.sh("grep MemTotal /proc/meminfo")
        kb = re.search(r"MemTotal:\s+(\d+) kB", out)
        check(kb is not None, f"no MemTotal: {out!r}")
        v = int(kb.group(1))
        check(200 * 1024 <= v <= 256 * 1024, f"MemTotal {v} kB")
        return f"MemTotal {v} kB"

    def memstress(self) -> str:
        out = self.sh("memstress 32 5", timeout=STEP_TIMEOUT * 2)
        check("FAIL" not in out, out.strip()[-200:])
        done = re.search(r"memstress: done, (\d+) passes ok", out)
        check(done is not None, f"no verdict from memstress: {out[-300:]!r}")
        return f"{done.group(1)} passes over 32 MiB verified"

    def reboot(self) -> str:
        m = self.m
        mark = m.mark()
        m.send_line("reboot")
        m.expect(r"the guest asked for a reset \(ACPI reset register\)", STEP_TIMEOUT, "the reset")
        m.expect(r"tern-linux: init ready", BOOT_TIMEOUT, "the second boot's /init")
        self.wait_prompt(STEP_TIMEOUT)
        check("Kernel panic" not in m.text_since(mark), "the kernel panicked")
        return "reset through the FADT and booted again"

    def poweroff(self) -> str:
        m = self.m
        m.send_line("poweroff")
        m.expect(r"^vm0: the guest powered off \(ACPI S5\)", STEP_TIMEOUT, "the power-off")
        m.send_raw(MUX)
        m.expect(r"COM1 is Tern's console again", STEP_TIMEOUT, "the mux giving COM1 back")
        a = m.command("info status", r"^VM status: (?P<s>.*)\n")
        check(a.match.group("s").startswith("shutdown"), f"info status: {a.match.group('s')!r}")
        return "ACPI S5: VM shutdown, Tern's console answers"

    # ---- migration ----

    def sh_on(self, m: Machine, cmd: str) -> str:
        saved, self.m = self.m, m
        try:
            return self.sh(cmd)
        finally:
            self.m = saved

    def migrate(self, postcopy: bool = False) -> str:
        """postcopy: memstress rewrites 16 MiB, faster than the link, and
        postcopy-ram is on: Tern must switch to post-copy by itself."""
        base = free_udp_base(4)
        hub = subprocess.Popen(["bxhub", "-ports=2", f"-base={base}"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        ms = []
        for i, extra in enumerate(("", f"noguest incoming=tcp:0:{MIG_PORT}")):
            ms.append(Machine(
                f"linux-mig-{'ab'[i]}", iso=self.build / "tern.iso",
                test_cfg=linux_cfg(f"ip={MIG_IPS[i]}/24 migrate_plain {extra}"), megs=512,
                log_dir=self.log_dir, wall_timeout=BOOT_TIMEOUT * 3,
                extra_config=("pci: enabled=1, chipset=i440fx, slot1=e1000",
                              f"e1000: enabled=1, mac=52:54:00:7e:73:{0x20 + i:02x}, "
                              f"ethmod=socket, ethdev={base + 2 * i}")))
        a, b = ms
        try:
            for x in ms:
                x.start()
            b.expect(rf"waiting for an incoming migration on tcp port {MIG_PORT}", BOOT_TIMEOUT,
                     "B listening")
            a.expect(r"^vm0\| tern-linux: init ready", BOOT_TIMEOUT, "Linux on A")
            a.send_raw(MUX)
            a.expect(r"COM1 is the guest's console now", STEP_TIMEOUT, "A's mux")
            saved, self.m = self.m, a
            try:
                self.wait_prompt(STEP_TIMEOUT)
                a.send_line(f"memstress {16 if postcopy else 4} 100000 &")
                a.expect(r"memstress: fill ok", STEP_TIMEOUT, "memstress filling on A")
                a.expect(r"memstress: pass \d+ ok", STEP_TIMEOUT, "memstress verifying on A")
            finally:
                self.m = saved
            a.send_raw(MUX)
            a.expect(r"COM1 is Tern's console again", STEP_TIMEOUT, "A's console back")
            mark_a = a.mark()
            if postcopy:
                for x in ms:
                    x.command("migrate_set_capability postcopy-ram on", r"^postcopy-ram: on")
            a.command(f"migrate tcp:{MIG_IPS[1]}:{MIG_PORT}", r"^migrate: to ")
            done = a.expect(r"^migrate: (completed(?: \(post-copy\))?: .*downtime (?P<dt>\d+) ms; "
                            r"(?P<bytes>\d+) bytes sent\b.*|failed: .*)\n", MOVE_TIMEOUT, "the migration")
            check(done.group("dt") is not None, done.group(0).strip())
            b.expect(r"^migrate: GO received: the VM runs on this host now", STEP_TIMEOUT, "B running it")
            mark_b = b.mark()
            blocked = 0.0
            if postcopy:
                sw = re.search(r"^migrate: switching to post-copy after (\d+) rounds", a.text_since(mark_a), re.M)
                check(sw is not None, "A never switched to post-copy")
                b.expect(r"^migrate: completed \(post-copy\): every page arrived", MOVE_TIMEOUT, "B's last page")
                t = b.command("info migrate", r"^status: completed").text
                bl = re.search(r"^postcopy-blocked: (\d+) ms", t, re.M)
                check(bl is not None, "info migrate on B lacks postcopy-blocked")
                blocked = int(bl.group(1)) / 1000
            deadline = time.monotonic() + STEP_TIMEOUT
            while len(re.findall(MONO_RX, b.text_since(mark_b))) < 3:
                check("FAIL" not in b.text_since(mark_b), f"memstress on B: {b.text_since(mark_b)[-300:]!r}")
                check(time.monotonic() < deadline, "memstress made no progress on B")
                time.sleep(0.5)
            for x, mk in ((a, mark_a), (b, mark_b)):
                bad = re.search(r"memstress: FAIL.*", x.text_since(mk))
                check(bad is None, f"{x.name}: {bad.group(0) if bad else ''}")
            # The guest's own clock across the move: the largest step it saw
            # between two readings (memstress reads it every 32 KiB).
            before = re.findall(MONO_RX, a.text_since(mark_a))
            after = re.findall(MONO_RX, b.text_since(mark_b))
            check(before and after, "no memstress lines around the move")
            check(float(after[0][1]) > float(before[-1][1]), "CLOCK_MONOTONIC went back")
            gap = max(float(g) for _, _, g in after[:2])
            dt = int(done.group("dt")) / 1000
            # Post-copy: the guest also stood still while its vCPU waited for
            # pages (B's figure); a larger step would be a clock that jumped.
            check(gap <= dt + blocked + 0.5,
                  f"the guest's clock stepped {gap:.3f} s across a {dt:.3f} s downtime"
                  f" and {blocked:.3f} s of waits for pages")
            b.send_raw(MUX)
            b.expect(r"COM1 is the guest's console now", STEP_TIMEOUT, "B's mux")
            up = self.sh_on(b, "cat /proc/uptime")
            check(re.search(r"^\d+\.\d+ \d+\.\d+$", up, re.M) is not None, f"uptime on B: {up!r}")
            how = f"post-copy after {sw.group(1)} rounds, vCPU waited {blocked:.1f} s; " if postcopy else ""
            return (f"{how}downtime {done.group('dt')} ms, {int(done.group('bytes')) >> 20} MiB sent for 128 MiB; "
                    f"memstress verifying on B, largest clock step {gap * 1000:.0f} ms")
        finally:
            for x in ms:
                x.close()
            hub.terminate()
            hub.wait(10)

    def run_all(self) -> None:
        if self.migrate_only:
            self.case("linux-migrate", self.migrate)
            self.case("linux-migrate-postcopy", self.migrate, True)
            return
        self.m = Machine("linux-pml", iso=self.build / "tern.iso", test_cfg=TEST_CFG, megs=512,
                         log_dir=self.log_dir, wall_timeout=BOOT_TIMEOUT * 3)
        try:
            if not self.case("linux-boot", self.boot):
                return
            self.case("linux-version", self.version_case)
            self.case("linux-cpus", self.cpus)
            self.case("linux-clocksource", self.clocksource)
            self.case("linux-timer", self.timer)
            self.case("linux-ram", self.ram)
            self.case("linux-memstress", self.memstress)
            if self.case("linux-reboot", self.reboot):
                self.case("linux-poweroff", self.poweroff)
        finally:
            self.m.close()
        self.case("linux-migrate", self.migrate)
        self.case("linux-migrate-postcopy", self.migrate, True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", type=Path, default=Path("build"))
    ap.add_argument("--migrate-only", action="store_true", help="only the migration case (development)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    r = Runner(args.build.resolve(), args.verbose)
    r.migrate_only = args.migrate_only
    return r.run({"pml": r.run_all}, ["pml"])


if __name__ == "__main__":
    sys.exit(main())
