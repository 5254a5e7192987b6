#!/usr/bin/env python3
"""`make bench`'s Linux section: the stock Debian guest's boot cost and its
idle exit rate under Tern, from Tern's own cycle counter (Bochs: one cycle
per instruction, docs/linux-guest.md "Figures").

One boot of the ISO's kernel and initramfs (as linux_tests.py, mem=256M)
with the boot option `stamp_guest`: every relayed guest line reads
`vm0| @N text`, N being Tern's cycle count when the line's first byte
reached the UART. Against `tern: hypervisor starting at cycle E`:
  kernel  the first line the kernel prints (the command line has `quiet`)
  init    /init's marker line `tern-linux: init ready` (after its mounts)
  prompt  the shell's `tern-linux# ` (a line without a newline: the serial
          mux's switch hands it over, stamped with its first byte's time)
Then, with the shell idle, `info exits` twice around IDLE_S seconds of the
VM's clock (`info vm`'s `up`): exits per second by reason, against the
ideal of one timer exit per tick (HZ 250).

Usage: linux_bench.py --build build   (also run by bench.py)
Transcript: BUILD/test-logs/bench-linux.log.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import Machine, MachineError  # noqa: E402

BOOT_TIMEOUT = 1500   # hang guards only: a loaded Bochs is many times slower
STEP_TIMEOUT = 300
IDLE_S = 10.0
HZ = 250              # Debian's CONFIG_HZ
MUX = "\x01c"
KERNEL_LINE = ("console=ttyS0,115200 nokaslr pci=off tsc=reliable 8250.nr_uarts=1 panic=-1 noapic "
               "reboot=acpi rdinit=/init quiet")
STAMP_RX = r"^vm0\| @(\d+) "

# Tern's exit reasons (info exits) grouped as the figures ask. In x2APIC
# mode the guest's EOI and TSC-deadline writes are WRMSR exits: Tern counts
# exits by reason only, so the LAPIC's share of the MSR exits is not split
# out. COM1 is the only port the guest uses (it has no PIC, PIT or PCI).
GROUPS = (
    ("timer and LAPIC: WRMSR/RDMSR (x2APIC, TSC-deadline)", ("WRMSR", "RDMSR")),
    ("HLT", ("HLT",)),
    ("serial: port I/O (COM1)", ("IO_INSTRUCTION",)),
)


def linux_cfg(tern_args: str) -> str:
    return ("menuentry \"Tern linux bench\" --id tern-bench {\n"
            f"\tmultiboot2 ($isodev)/boot/tern.elf guest=linux mem=256M {tern_args}\n"
            f"\tmodule2 ($isodev)/boot/linux/vmlinuz linux {KERNEL_LINE}\n"
            "\tmodule2 ($isodev)/boot/linux/initrd.img initrd\n"
            "\tboot\n}\nset default=tern-bench\nset timeout=0\n")


def parse_exits(text: str) -> tuple[dict[str, int], int | None]:
    counts = {m.group(1): int(m.group(2))
              for m in re.finditer(r"^\s+([A-Z_]+)\s+(\d+)\s*$", text, re.M)}
    inj = re.search(r"timer interrupts injected (\d+)", text)
    return counts, int(inj.group(1)) if inj else None


def vm_up(m: Machine) -> float:
    a = m.command("info vm", r"up (?P<s>\d+\.\d+) s", 60)
    return float(a.match.group("s"))


def measure(build: Path, log_dir: Path) -> dict:
    """The figures, or {'error': why}."""
    res: dict = {}
    m = Machine("bench-linux", iso=build / "tern.iso", test_cfg=linux_cfg("stamp_guest"), megs=512,
                log_dir=log_dir, wall_timeout=BOOT_TIMEOUT * 2)
    try:
        m.start()
        res["entry"] = int(m.expect(r"hypervisor starting at cycle (\d+)\n", BOOT_TIMEOUT,
                                    "Tern's entry").group(1))
        k = m.expect(STAMP_RX + r"(.*)\n", BOOT_TIMEOUT, "the kernel's first line")
        res["kernel"], res["kernel_line"] = int(k.group(1)), k.group(2).strip()
        res["init"] = int(m.expect(STAMP_RX + r"tern-linux: init ready", BOOT_TIMEOUT,
                                   "/init's marker").group(1))
        # The banner comes right before the prompt; give the shell a moment
        # to print it, then let the mux's switch hand the partial line over.
        m.expect(STAMP_RX + r"Enter 'help'", STEP_TIMEOUT, "the shell's banner")
        time.sleep(5)
        for _ in range(2):
            m.send_raw(MUX)
            m.expect(r"COM1 is the guest's console now", STEP_TIMEOUT, "the mux switching")
            m.send_raw(MUX)
            m.expect(r"COM1 is Tern's console again", STEP_TIMEOUT, "the mux switching back")
            p = re.search(STAMP_RX + r"tern-linux# ", m.text(), re.M)
            if p:
                res["prompt"] = int(p.group(1))
                break
            time.sleep(10)
        if "prompt" not in res:
            raise MachineError("no stamped prompt line after two switches of the mux")
        # Idle at the shell: the counters around IDLE_S s of the VM's clock.
        a0 = m.command("info exits", r"timer interrupts injected", 60)
        up0 = vm_up(m)
        deadline = time.monotonic() + STEP_TIMEOUT
        up1 = up0
        while up1 - up0 < IDLE_S:
            if time.monotonic() > deadline:
                raise MachineError(f"the VM's clock moved only {up1 - up0:.1f} s")
            time.sleep(2)
            up1 = vm_up(m)
        a1 = m.command("info exits", r"timer interrupts injected", 60)
        up2 = vm_up(m)
        # The window is from between the first pair of commands to between
        # the second pair; each pair takes well under a second of VM time.
        (e0, i0), (e1, i1) = parse_exits(a0.text), parse_exits(a1.text)
        res["boot_exits"], res["boot_up"] = e0, up0
        res["idle_s"] = (up1 + up2) / 2 - up0
        res["idle_exits"] = {k: e1.get(k, 0) - e0.get(k, 0) for k in e1}
        res["idle_injected"] = (i1 - i0) if i0 is not None and i1 is not None else None
        m.send_line("shutdown")
        m.wait_exit(60)
    except MachineError as e:
        res["error"] = e.reason
    finally:
        m.close()
    return res


def report(res: dict, log_dir: Path) -> list[str]:
    out = ["", "linux guest (Debian 12 kernel + busybox initramfs, mem=256M; Bochs corei7_skylake_x,",
           "  BIOS + GRUB; Tern's cycle counter, 1 cycle = 1 instruction on Bochs; boot option stamp_guest)"]
    if "entry" in res:
        out.append(f"  firmware + GRUB until Tern's entry: {res['entry']:,} cycles")
    for key, what in (("kernel", "the kernel's first line"), ("init", "/init's marker line"),
                      ("prompt", "the shell's prompt")):
        if key in res:
            extra = f"  ({res['kernel_line'][:60]!r})" if key == "kernel" else ""
            out.append(f"  Tern's entry to {what:<24} {res[key] - res['entry']:>15,} cycles{extra}")
    if "boot_exits" in res:
        ex = res["boot_exits"]
        top = sorted(ex.items(), key=lambda kv: -kv[1])[:5]
        out.append(f"  exits from the VM's start to the idle shell ({res['boot_up']:.1f} s of its clock): "
                   f"{sum(ex.values()):,}; " + ", ".join(f"{k} {v:,}" for k, v in top))
    if "idle_exits" in res:
        dt = res["idle_s"]
        ex = res["idle_exits"]
        total = sum(ex.values())
        out.append(f"  idle at the shell, {dt:.1f} s of the VM's clock: {total / dt:,.0f} exits/s "
                   f"(ideal: one timer exit per tick, at most {HZ}/s)")
        seen: set[str] = set()
        for name, reasons in GROUPS:
            n = sum(ex.get(r, 0) for r in reasons)
            seen.update(reasons)
            out.append(f"    {name:<52} {n / dt:>9,.1f}/s")
        rest = {k: v for k, v in ex.items() if k not in seen and v}
        out.append(f"    {'others':<52} {sum(rest.values()) / dt:>9,.1f}/s"
                   + (f"  ({', '.join(f'{k} {v / dt:.1f}' for k, v in sorted(rest.items()))})" if rest else ""))
        inj = res.get("idle_injected")
        if inj:
            out.append(f"    timer interrupts injected {inj / dt:,.1f}/s (HZ {HZ}; an idle tickless kernel "
                       f"skips ticks): {total / inj:.1f} exits per timer interrupt, ideal 1")
    if "error" in res:
        out.append(f"  not measured: {res['error']} (see {log_dir}/bench-linux.log)")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", type=Path, default=Path("build"))
    args = ap.parse_args(argv)
    build = args.build.resolve()
    log_dir = build / "test-logs"
    if not (build / "linux" / "vmlinuz").exists():
        print("\nlinux guest: not measured (no build/linux/vmlinuz; make linux-guest)")
        return 0
    res = measure(build, log_dir)
    print("\n".join(report(res, log_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
