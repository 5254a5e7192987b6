#!/usr/bin/env python3
"""NIC probe smoke test: boot Tern with an e1000 (or none) in the emulators
and check the lines nic_probe() prints (docs/nic.md).

Cases:
  qemu-e1000   QEMU/TCG q35 + OVMF + tern.efi, e1000 on a UDP socket netdev:
               config space through ECAM, the MAC, link up
  qemu-none    the same machine without a NIC: "no supported NIC found"
  bochs-e1000  Bochs BIOS + GRUB ISO, i440fx with the e1000 in slot 1 on a
               UDP socket: legacy config ports, BAR0 at 0xc0000000, link up

Frames do not flow here: until the network stack polls the NIC nothing is
sent. The ring logic is covered by tests/unit/test_e1000_ring.c.
Each case ends with `shutdown`. Prints one line per case, then
"nic: N passed, N failed"; exit 1 on failure.

Usage: nic_smoke.py --build build [--only CASE]...
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import ROOT, Machine, MachineError, grub_test_cfg  # noqa: E402

BOOT_TIMEOUT = 180
PROBE_TIMEOUT = 120
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


def qemu_machine(build: Path, name: str, nic: bool) -> Machine:
    extra: tuple = ()
    if nic:
        a, b = free_udp_ports(2)
        extra = ("-netdev", f"socket,id=n0,udp=127.0.0.1:{a},localaddr=127.0.0.1:{b}",
                 "-device", f"e1000,netdev=n0,mac={MAC_QEMU}")
    return Machine(name, emulator="qemu", firmware="ovmf", esp=build / "esp.img",
                   extra_config=extra, wall_timeout=600)


def bochs_machine(build: Path, name: str) -> Machine:
    # ethmod=socket receives on ethdev and sends to ethdev + 1; no hub needed
    # for the probe.
    port = free_udp_ports(1)[0]
    extra = ("pci: enabled=1, chipset=i440fx, slot1=e1000",
             f"e1000: enabled=1, mac={MAC_BOCHS}, ethmod=socket, ethdev={port}")
    return Machine(name, emulator="bochs", firmware="bios", iso=build / "tern.iso",
                   test_cfg=grub_test_cfg("demo"), extra_config=extra, wall_timeout=600)


def shutdown(m: Machine) -> None:
    m.expect(r"console ready", PROBE_TIMEOUT)
    m.send_line("shutdown")
    if m.wait_exit(60) is None:
        raise MachineError("the machine did not power off after 'shutdown'")


def case_qemu_e1000(build: Path, name: str) -> None:
    with qemu_machine(build, name, nic=True) as m:
        m.expect(r"^tern: ", BOOT_TIMEOUT)
        m.expect(r"^tern: pci: \d+ functions, config space through ECAM at 0x", PROBE_TIMEOUT)
        m.expect(r"^tern: e1000 \S+: 8086:100e, BAR0 0x[0-9a-f]+ \(128 KiB\)", PROBE_TIMEOUT)
        m.expect(rf"^tern: e1000 \S+ MAC {MAC_QEMU}, link up\n", PROBE_TIMEOUT)
        shutdown(m)


def case_qemu_none(build: Path, name: str) -> None:
    with qemu_machine(build, name, nic=False) as m:
        m.expect(r"^tern: no supported NIC found\n", BOOT_TIMEOUT + PROBE_TIMEOUT)
        shutdown(m)


def case_bochs_e1000(build: Path, name: str) -> None:
    with bochs_machine(build, name) as m:
        m.expect(r"^tern: ", BOOT_TIMEOUT)
        m.expect(r"^tern: pci: \d+ functions, config space through legacy ports",
                 PROBE_TIMEOUT)
        m.expect(r"^tern: e1000 00:02\.0: 8086:100e, BAR0 0xc0000000 \(128 KiB\)",
                 PROBE_TIMEOUT)
        m.expect(rf"^tern: e1000 00:02\.0 MAC {MAC_BOCHS}, link up\n", PROBE_TIMEOUT)
        shutdown(m)


CASES = {
    "qemu-e1000": case_qemu_e1000,
    "qemu-none": case_qemu_none,
    "bochs-e1000": case_bochs_e1000,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--only", action="append", choices=sorted(CASES))
    args = ap.parse_args()
    build = Path(args.build)
    if not build.is_absolute():
        build = ROOT / build
    passed = failed = 0
    for name, fn in CASES.items():
        if args.only and name not in args.only:
            continue
        try:
            fn(build, f"nic-{name}")
            print(f"PASS {name}", flush=True)
            passed += 1
        except MachineError as e:
            print(f"FAIL {name}: {e.reason} (transcript: {e.log})", flush=True)
            failed += 1
    print(f"nic: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
