#!/usr/bin/env python3
"""Boot media and machines the guest tests do not cover: the ISO on UEFI
firmware (GRUB's EFI side, then Tern through multiboot2), a CPU with VMX but
without EPT, and the NIC probe's lines (docs/nic.md).

Cases:
  iso-uefi-qemu   QEMU/TCG q35 + OVMF booting build/tern.iso from CD, an
                  e1000 on a UDP socket (loopback, no namespace): Tern starts
                  through GRUB, says VMX is not available, keeps its console;
                  PCI config space through ECAM, the e1000's MAC, link up
  iso-uefi-bochs  Bochs Skylake-X + OVMF booting the ISO from CD, an e1000 in
                  slot 1: VMX on, the demo guest runs under Tern, config space
                  through the legacy ports (Bochs' OVMF has no ACPI tables)
  esp-linux-bochs Bochs Skylake-X + OVMF booting build/esp-linux.img (no
                  GRUB): tern.efi loads Tern, the kernel, the initramfs and
                  the kernel's command line from the ESP (tern.cfg
                  guest=linux); the Linux guest prints its first line
  noept-bochs     Bochs core2_penryn_t9600 (VMX without EPT), BIOS + GRUB, no
                  NIC: "EPT not available", no VM, the console answers, "no
                  supported NIC found"
Each case ends with `shutdown`, which must power the machine off.
One line per case, then "boot: N passed, N failed"; exit 1 on failure.
Serial transcripts: BUILD/test-logs/boot-CASE.log.

Usage: boot_tests.py --build build [--only CASE]... [-v]
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import POWER_OFF, Machine, grub_test_cfg  # noqa: E402
from suite import Suite, check  # noqa: E402

BOOT_TIMEOUT = 240     # power-on to Tern's first line (OVMF + GRUB under Bochs is the slowest)
STEP_TIMEOUT = 120     # one line or one console answer after that
SHUTDOWN_GRACE = 60
LINUX_FIRST_LINE_TIMEOUT = 600  # hang guard: Tern to the kernel's first line, about 100 s on a quiet machine
WALL_TIMEOUT = 900
MAC_QEMU = "52:54:00:12:34:56"
MAC_BOCHS = "52:54:00:12:34:57"


def free_udp_ports(n: int) -> list[int]:
    """n UDP ports on loopback that were free a moment ago."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Runner(Suite):
    def __init__(self, build: Path, verbose: bool):
        super().__init__("boot", build, verbose)
        self.iso = build / "tern.iso"

    def machine(self, case: str, **kw) -> Machine:
        return Machine(f"boot-{case}", iso=self.iso, log_dir=self.log_dir,
                       wall_timeout=WALL_TIMEOUT, **kw)

    @staticmethod
    def booted_by_grub(m: Machine) -> None:
        m.expect(r"^tern: Tern hypervisor, booted via multiboot2 \(GRUB\)\n", BOOT_TIMEOUT,
                 "Tern's banner, booted by GRUB")

    @staticmethod
    def shutdown(m: Machine) -> None:
        mark = m.mark()
        m.send_line("shutdown")
        check(m.wait_exit(SHUTDOWN_GRACE) is not None, f"no power-off within {SHUTDOWN_GRACE}s")
        ending = m.ending()
        check(ending.kind == POWER_OFF, f"after shutdown: {ending.detail}")
        check("did not power off" not in m.text_since(mark), "Tern said the machine did not power off")

    def check_boot(self, m: Machine, lines: list[tuple[str, str]],
                   answers: list[tuple[str, str]]) -> None:
        """Booted by GRUB, then each (regex, what) of lines in order on
        serial, each (command, regex) of answers, then a power-off."""
        self.booted_by_grub(m)
        for rx, what in lines:
            m.expect(rx, STEP_TIMEOUT, what)
        for cmd, rx in answers:
            m.command(cmd, rx, STEP_TIMEOUT)
        self.shutdown(m)

    # ---- cases ----

    def iso_uefi_qemu(self) -> str:
        a, b = free_udp_ports(2)
        nic = ("-netdev", f"socket,id=n0,udp=127.0.0.1:{a},localaddr=127.0.0.1:{b}",
               "-device", f"e1000,netdev=n0,mac={MAC_QEMU}")
        with self.machine("iso-uefi-qemu", emulator="qemu", firmware="ovmf",
                          extra_config=nic) as m:
            self.check_boot(m, [
                (r"^tern: VMX not available", "'VMX not available'"),
                (r"^tern: pci: \d+ functions, config space through ECAM at 0x",
                 "PCI config space through ECAM"),
                (r"^tern: e1000 \S+: 8086:100e, BAR0 0x[0-9a-f]+ \(128 KiB\)", "the e1000 and its BAR0"),
                (rf"^tern: e1000 \S+ MAC {MAC_QEMU}, link up\n", "MAC and link"),
                (r"console ready", "the console"),
            ], [
                ("info version", r"^Tern .*booted via multiboot2"),
                ("info status", r"^VM status: none \(VMX not available"),
            ])
        return "GRUB EFI -> Tern, console without VMX, e1000 through ECAM"

    def iso_uefi_bochs(self) -> str:
        port = free_udp_ports(1)[0]  # ethmod=socket: receives on port, sends to port + 1
        nic = ("pci: enabled=1, chipset=i440fx, slot1=e1000",
               f"e1000: enabled=1, mac={MAC_BOCHS}, ethmod=socket, ethdev={port}")
        with self.machine("iso-uefi-bochs", emulator="bochs", firmware="ovmf",
                          extra_config=nic) as m:
            self.check_boot(m, [
                (r"^tern: VMX on: EPT", "'VMX on'"),
                (r"^tern: pci: \d+ functions, config space through legacy ports",
                 "PCI config space through the legacy ports"),
                (rf"^tern: e1000 00:02\.0 MAC {MAC_BOCHS}, link up\n", "MAC and link"),
                (r"^vm0\| demo: round", "the demo guest running"),
            ], [
                ("info version", r"^Tern .*booted via multiboot2"),
                ("info status", r"^VM status: running"),
            ])
        return "OVMF -> GRUB EFI -> Tern with VMX, the demo guest ran"

    def esp_linux_bochs(self) -> str:
        esp = self.build / "esp-linux.img"
        check(esp.exists(), f"{esp} missing (make build/esp-linux.img)")
        with self.machine("esp-linux-bochs", emulator="bochs", firmware="ovmf", esp=esp, megs=512) as m:
            m.expect(r"^tern: Tern hypervisor, booted via UEFI\n", BOOT_TIMEOUT, "Tern's banner, booted by UEFI")
            m.expect(r"^tern: VMX on: EPT", STEP_TIMEOUT, "'VMX on'")
            m.expect(r"^tern: Linux guest: kernel \d+ bytes, initrd \d+ bytes, command line 'console=ttyS0",
                     STEP_TIMEOUT, "the kernel, initramfs and command line from the ESP")
            k = m.expect(r"^vm0: Linux (\S+) ", STEP_TIMEOUT, "Tern loading the kernel")
            first = m.expect(r"^vm0\| (.*)\n", LINUX_FIRST_LINE_TIMEOUT, "the kernel's first line")
            m.command("info status", r"^VM status: running", STEP_TIMEOUT)
            self.shutdown(m)
        return f"OVMF -> tern.efi -> Tern -> Linux {k.group(1)} from the ESP, first line {first.group(1)[:40]!r}"

    def noept_bochs(self) -> str:
        with self.machine("noept-bochs", emulator="bochs", firmware="bios",
                          model="core2_penryn_t9600", test_cfg=grub_test_cfg("cpuid")) as m:
            self.check_boot(m, [
                (r"^tern: EPT not available\n", "'EPT not available'"),
                (r"^tern: no VM can run on this machine; the console stays available\n",
                 "the console-only notice"),
                (r"^tern: no supported NIC found\n", "'no supported NIC found'"),
                (r"console ready", "the console"),
            ], [
                ("info status", r"^VM status: none \(EPT not available\)"),
                ("info vm", r"^error: "),
            ])
            check(not re.search(r"^vm0", m.text(), re.M), "a VM ran without EPT")
        return "refused with 'EPT not available', console kept"


CASES = ("iso-uefi-qemu", "iso-uefi-bochs", "esp-linux-bochs", "noept-bochs")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="the build folder (default: build)")
    ap.add_argument("--only", action="append", choices=CASES, help="run only this case (repeatable)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    build = Path(args.build)
    if not build.is_absolute():
        build = (Path.cwd() / build).resolve()
    r = Runner(build, args.verbose)
    if not r.iso.exists():
        print(f"boot_tests: {r.iso} missing (run make)", file=sys.stderr)
        print("boot: 0 passed, 1 failed")
        return 1
    steps = {c: (lambda c=c: r.case(c, getattr(r, c.replace("-", "_")))) for c in CASES}
    return r.run(steps, args.only or list(CASES))


if __name__ == "__main__":
    sys.exit(main())
