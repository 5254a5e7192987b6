#!/usr/bin/env python3
"""`make bench`: figures, no pass/fail.

For each guest test: boot it in Bochs (corei7_skylake_x, BIOS + GRUB), let it
finish, read `info exits` and print the per-reason counts; also Bochs' tick
counts (one tick per emulated instruction; a halted CPU skips ticks ahead):
  boot  power-on to Tern's first VM entry (BIOS, GRUB, Tern's set-up),
  run   first VM entry to the VM's end (guest and hypervisor work together).
Both come from the Bochs debugger: breakpoints on START_SYMBOL and on
END_SYMBOLS in tern.elf, `ptime` at each hit. Then the boot cost, the stock
Linux guest's boot and idle exits (linux_bench.py, from Tern's cycle counter),
dirty tracking, the network, the hypervisor's image size (`size`), its lines
of code, and live migration (mig_bench.py).

Usage: bench.py --build build [--only NAME]... [-j N]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import ROOT, Machine, MachineError, grub_test_cfg  # noqa: E402

# The first VM entry, and functions Tern runs when a VM ends (the last hit
# before the outcome line counts). vuart_flush runs on every REPORT and on
# EXIT; vm_stop_error when Tern stops a VM.
# TODO(tern): a noinline `vm_finished(struct vm *)` called on every way a VM
# ends would be a stabler END marker than vuart_flush.
START_SYMBOL = "vmx_enter"
END_SYMBOLS = ("vuart_flush", "vm_stop_error")
MAX_END_HITS = 500   # rc-script length bound: breaks on END symbols we follow

BOOT_TIMEOUT = 180
RUN_TIMEOUT = 600
CODE_DIRS = ("boot", "arch", "hv", "drivers", "net", "lib", "include")
CODE_EXTS = (".c", ".S", ".h")


@dataclass
class Result:
    name: str
    outcome: str = "?"
    secs: float = 0.0
    boot_ticks: int | None = None
    run_ticks: int | None = None
    total_ticks: int | None = None
    exits: dict[str, int] = field(default_factory=dict)
    exits_total: int | None = None
    error: str = ""


def symbols(elf: Path) -> dict[str, int]:
    out = subprocess.run(["nm", str(elf)], capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "Tt":
            syms[parts[2]] = int(parts[0], 16)
    return syms


def elf_from_iso(iso: Path, workdir: Path) -> Path | None:
    """The tern.elf inside the ISO: the one whose addresses Bochs will run."""
    out = workdir / "tern.elf"
    r = subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract",
                        "/boot/tern.elf", str(out)], capture_output=True)
    return out if r.returncode == 0 and out.exists() else None


def debugger_script(syms: dict[str, int]) -> tuple[str, str]:
    """The rc script for Bochs' debugger, and a note when ticks are unavailable."""
    if START_SYMBOL not in syms:
        return "c\n", f"no symbol {START_SYMBOL} in tern.elf"
    ends = [s for s in END_SYMBOLS if s in syms]
    if not ends:
        return "c\n", f"none of {', '.join(END_SYMBOLS)} in tern.elf"
    rc = [f"lb {syms[START_SYMBOL]:#x}", "c", "ptime", "d 1"]
    rc += [f"lb {syms[s]:#x}" for s in ends]
    rc += ["c", "ptime"] * MAX_END_HITS
    rc += [f"d {i + 2}" for i in range(len(ends))] + ["c"]
    return "\n".join(rc) + "\n", ""


def parse_exits(text: str) -> tuple[dict[str, int], int | None]:
    counts: dict[str, int] = {}
    total = None
    for line in text.splitlines():
        m = re.match(r"^\s+([A-Za-z_][\w/-]*)\s+(\d+)\s*$", line)
        if not m:
            continue
        if m.group(1) == "total":
            total = int(m.group(2))
        else:
            counts[m.group(1)] = int(m.group(2))
    return counts, total


def run_one(name: str, iso: Path, rc: str, log_dir: Path) -> Result:
    r = Result(name)
    t0 = time.monotonic()
    m = Machine(f"bench-{name}", iso=iso, test_cfg=grub_test_cfg(name, f"guest={name} test_hypercalls"), log_dir=log_dir,
                debugger_rc=rc, wall_timeout=BOOT_TIMEOUT + RUN_TIMEOUT + 120)
    try:
        m.start()
        m.expect(r"^tern: ", BOOT_TIMEOUT)
        o = m.expect(r"^vm0: (exited with code -?\d+|stopped: .*)\n", RUN_TIMEOUT)
        r.outcome = o.group(1)[:40]
        ans = m.command("info exits", None, 60)
        r.exits, r.exits_total = parse_exits(ans.text)
        m.send_line("shutdown")
        m.wait_exit(60)
    except MachineError as e:
        r.error = e.reason
    finally:
        m.close()
        r.secs = time.monotonic() - t0
    ticks = [int(x) for x in re.findall(r"^ptime: (\d+)", m.emulator_output(), re.M)]
    if ticks:
        r.boot_ticks = ticks[0]
    if len(ticks) >= 2:
        r.run_ticks = ticks[-1] - ticks[0]
    off = [l for l in m.emulator_panics() if "soft power off" in l]
    if off:
        r.total_ticks = int(off[-1].split("p[", 1)[0])
    return r


def fmt_ticks(n: int | None) -> str:
    if n is None:
        return "n/a"
    return f"{n / 1e6:.2f}M"


def lines_of_code(root: Path) -> list[tuple[str, int, int]]:
    rows = []
    for d in CODE_DIRS:
        files = [p for p in sorted((root / d).rglob("*")) if p.suffix in CODE_EXTS
                 and p.is_file()]
        n = sum(len(p.read_bytes().splitlines()) for p in files)
        rows.append((d, len(files), n))
    return rows


def image_size(elf: Path) -> str:
    r = subprocess.run(["size", str(elf)], capture_output=True, text=True)
    if r.returncode != 0:
        return f"size failed: {r.stderr.strip()}"
    head, vals = r.stdout.splitlines()[:2]
    text, data, bss, dec = vals.split()[:4]
    return f"text {int(text):,}  data {int(data):,}  bss {int(bss):,}  total {int(dec):,} bytes"


def run_text(case: str, guest: str, iso: Path, log_dir: Path, model: str = "corei7_skylake_x",
             cmdline: str = "", megs: int = 256) -> str:
    """Boot one guest, wait for it to finish, return the serial transcript."""
    m = Machine(f"bench-{case}", iso=iso, model=model, megs=megs, log_dir=log_dir,
                test_cfg=grub_test_cfg(guest, f"guest={guest} test_hypercalls {cmdline}".strip()),
                wall_timeout=BOOT_TIMEOUT + RUN_TIMEOUT + 120)
    try:
        m.start()
        m.expect(r"^vm0: (exited with code -?\d+|stopped: .*)\n", BOOT_TIMEOUT + RUN_TIMEOUT)
        m.send_line("shutdown")
        m.wait_exit(60)
    except MachineError as e:
        return f"ERROR {e.reason}\n" + m.text()
    finally:
        m.close()
    return m.text()


# dirty_bench under each mechanism, and with 4x the RAM for the harvest's
# dependence on RAM size (docs/dirty-tracking.md).
DIRTY_RUNS = [
    ("dirty-pml", "corei7_skylake_x", "", 256),
    ("dirty-wp", "corei7_haswell_4770", "", 256),
    ("dirty-pml-256M", "corei7_skylake_x", "mem=256M", 512),
]


def dirty_section(iso: Path, log_dir: Path, jobs: int) -> None:
    print()
    print("dirty tracking (guest-tests/dirty_bench.c; cycles = instructions on Bochs;")
    print("  exits/kpage: logging exits per 1000 dirty pages; harvest: cycles per harvest;")
    print("  work off/on: the guest's cycles for one round of K page writes)")
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        texts = list(pool.map(lambda r: run_text(r[0], "dirty_bench", iso, log_dir, r[1], r[2], r[3]),
                              DIRTY_RUNS))
    for (case, model, cmdline, _), text in zip(DIRTY_RUNS, texts):
        print(f"  [{case}: {model} {cmdline}]")
        lines = [l.split("bench: ", 1)[1] for l in text.splitlines() if "| bench: " in l]
        for l in lines:
            print(f"    {l}")
        if not lines:
            print(f"    no figures: {text.splitlines()[0] if text else 'no output'}")


def boot_section(iso: Path, log_dir: Path) -> None:
    text = run_text("boot-cost", "boot_cost", iso, log_dir)
    grab = lambda rx: (lambda m: int(m.group(1)) if m else None)(re.search(rx, text))
    entry = grab(r"hypervisor starting at cycle (\d+)")
    vm = grab(r"vm0: started at cycle (\d+)")
    guest = grab(r"first guest instruction at cycle (\d+)")
    print()
    if None in (entry, vm, guest):
        print("boot cost: not measured (see build/test-logs/bench-boot-cost.log)")
        return
    print(f"boot cost (cycles = instructions on Bochs): firmware+GRUB until Tern's entry {entry:,}; "
          f"Tern's entry to VM created {vm - entry:,}; to the guest's first instruction "
          f"{guest - entry:,}")


def qemu_rate(nbytes: int, ms: int) -> str:
    """A transfer timed by Tern's clock under QEMU."""
    return f"{nbytes / 2**20:.0f} MiB in {ms} ms, {nbytes / 2**20 / max(ms, 1) * 1000:.1f} MiB/s"


def bochs_rate(nbytes: int, ms: int) -> str:
    """A transfer between two Bochs machines, timed by the sender's clock (emulated time).
    No instructions per byte here: only Tern's cycle counter measures those (the TLS
    rows carry its figure); milliseconds times the bochsrc's ips would be a guess."""
    return (f"{nbytes / 2**20:.0f} MiB in {ms} ms emulated, {nbytes / 2**20 / max(ms, 1) * 1000:.2f} "
            f"MiB/s")


def network_section(build: Path) -> None:
    """TCP throughput from the network suite's own transfers (tests/harness/net_tests.py)."""
    print()
    print("network (TCP test pattern, every byte checked by the receiver)")
    r = subprocess.run([sys.executable, str(ROOT / "tests/harness/net_tests.py"), "--build", str(build),
                        "--config", "qemu", "--config", "bochs"],
                       capture_output=True, text=True, timeout=900)
    rows = 0
    for line in r.stdout.splitlines():
        m = re.search(r"qemu net_send: (\d+) bytes .*?Tern: (\d+) ms", line)
        if m:
            print(f"  Tern -> Linux (QEMU TCG, e1000, tap): {qemu_rate(int(m.group(1)), int(m.group(2)))}")
            rows += 1
        m = re.search(r"qemu sink: (\d+) bytes .*?Tern: (\d+) ms", line)
        if m:
            print(f"  Linux -> Tern (QEMU TCG): {qemu_rate(int(m.group(1)), int(m.group(2)))}")
            rows += 1
        m = re.search(r"bochs net_send: (\d+) bytes, pattern ok; sender (\d+) ms", line)
        if m:
            print(f"  Tern -> Tern (two Bochs over bxhub, demo guests running): "
                  f"{bochs_rate(int(m.group(1)), int(m.group(2)))}")
            rows += 1
        m = re.search(r"qemu tls (net_send|sink): (\d+) bytes .*?Tern: (\d+) ms, \d+ KiB/s, "
                      r"tls ([\d.]+) cycles/byte", line)
        if m:
            way = "Tern -> Linux" if m.group(1) == "net_send" else "Linux -> Tern"
            print(f"  {way} over TLS (QEMU TCG, openssl): {qemu_rate(int(m.group(2)), int(m.group(3)))}, "
                  f"Tern's TLS {m.group(4)} cycles/byte")
            rows += 1
        m = re.search(r"bochs tls net_send: (\d+) bytes over TLS, pattern ok; sender (\d+) ms, "
                      r"\d+ KiB/s, tls ([\d.]+) cycles/byte; sink \d+ ms, \d+ KiB/s, tls ([\d.]+)", line)
        if m:
            print(f"  Tern -> Tern over TLS (two Bochs): {bochs_rate(int(m.group(1)), int(m.group(2)))}; "
                  f"TLS {m.group(3)} instructions/byte to encrypt, {m.group(4)} to decrypt")
            rows += 1
    if not rows:
        print(f"  not measured: {(r.stdout + r.stderr).strip().splitlines()[-1:] or ['no output']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--only", action="append", metavar="NAME")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    args = ap.parse_args()
    build = Path(args.build).resolve()
    iso = build / "tern.iso"
    log_dir = build / "test-logs"

    print("== Tern bench (Bochs corei7_skylake_x, BIOS + GRUB; 1 tick = 1 emulated instruction)")
    names = sorted(p.stem for p in (build / "guests").glob("*.elf")
                   if p.stem not in ("demo", "dirty_bench") and not p.stem.startswith("mig_"))
    if args.only:
        names = [n for n in names if n in args.only]
    results: list[Result] = []
    if not iso.exists():
        print(f"bench: {iso} missing; run make first")
    elif names:
        with tempfile.TemporaryDirectory() as td:
            elf = elf_from_iso(iso, Path(td)) or build / "tern.elf"
            rc, note = debugger_script(symbols(elf))
        if note:
            print(f"bench: tick counts unavailable: {note} (see START_SYMBOL/END_SYMBOLS)")
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            results = list(pool.map(lambda n: run_one(n, iso, rc, log_dir), names))

    if results:
        print()
        print(f"{'test':<16} {'outcome':<24} {'wall s':>7} {'boot':>9} {'run':>9} "
              f"{'power-off':>10} {'exits':>7}")
        for r in results:
            outcome = r.outcome if not r.error else f"ERROR: {r.error}"[:60]
            print(f"{r.name:<16} {outcome:<24.24} {r.secs:>7.1f} {fmt_ticks(r.boot_ticks):>9} "
                  f"{fmt_ticks(r.run_ticks):>9} {fmt_ticks(r.total_ticks):>10} "
                  f"{r.exits_total if r.exits_total is not None else 'n/a':>7}")
        for r in results:
            if r.error:
                print(f"  {r.name}: {r.error} (see {log_dir}/bench-{r.name}.log)")
        reasons = sorted({k for r in results for k in r.exits})
        if reasons:
            width = max(8, max(len(r.name) for r in results) + 1)
            print()
            print("exits per reason (info exits)")
            print(f"{'reason':<22}" + "".join(f"{r.name:>{width}}" for r in results))
            for k in reasons:
                print(f"{k:<22}" + "".join(f"{r.exits.get(k, 0):>{width}}" for r in results))

    if iso.exists() and not args.only:
        boot_section(iso, log_dir)
        try:  # the stock Linux guest (tests/harness/linux_bench.py)
            import linux_bench
            linux_bench.main(["--build", str(build)])
        except (Exception, SystemExit) as e:  # figures, not a verdict: report and go on
            print(f"\nlinux guest: not measured: {type(e).__name__}: {e}")
        dirty_section(iso, log_dir, args.jobs)
        if os.geteuid() == 0:
            network_section(build)
        else:
            print("\nnetwork: not measured (needs root for namespaces and tap devices)")

    print()
    elf = build / "tern.elf"
    print(f"hypervisor image ({elf.relative_to(build.parent) if elf.is_relative_to(build.parent) else elf}): "
          + (image_size(elf) if elf.exists() else "missing"))
    efi = build / "tern.efi"
    if efi.exists():
        print(f"UEFI loader (tern.efi, carries tern.elf and the demo guest): "
              f"{efi.stat().st_size:,} bytes")
    print()
    print("lines of code in the hypervisor (.c .S .h; guest-tests/ and tests/ excluded)")
    rows = lines_of_code(ROOT)
    for d, nfiles, n in rows:
        print(f"  {d + '/':<10} {nfiles:>4} files {n:>7} lines")
    print(f"  {'total':<10} {sum(r[1] for r in rows):>4} files {sum(r[2] for r in rows):>7} lines")

    # Live migration (tests/harness/mig_bench.py), last: a failure there loses nothing above.
    if iso.exists() and not args.only:
        try:
            import mig_bench
            mig_bench.main(["--build", str(build)])
        except (Exception, SystemExit) as e:  # figures, not a verdict: report and go on
            print(f"\nlive migration: not measured: {type(e).__name__}: {e}")
        try:  # post-copy (tests/harness/pc_bench.py), as above
            import pc_bench
            pc_bench.main(["--build", str(build)])
        except (Exception, SystemExit) as e:
            print(f"\npost-copy: not measured: {type(e).__name__}: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
