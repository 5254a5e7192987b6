#!/usr/bin/env python3
"""Run every guest test (build/guests/NAME.elf other than demo) under Tern in
emulated machines, and check what Tern prints (docs/guest-abi.md).

Configurations:
  bochs-skylake   Bochs corei7_skylake_x, BIOS + GRUB + tern.elf (EPT with PML)
  bochs-haswell   Bochs corei7_haswell_4770, BIOS + GRUB + tern.elf (EPT, no PML)
  bochs-ovmf      Bochs corei7_skylake_x, OVMF + tern.efi (UEFI path; a subset)
  qemu-novmx      QEMU/TCG, OVMF + tern.efi, no VMX: console-only mode

Each case: boot, wait for the guest's outcome, check the console still
answers (`info status`, `info exits`), then `shutdown` must power the machine
off. On bochs-skylake also: `console` (every command against the demo guest)
and `crash_ud|gp|pf|df|mc|panic` (boot option debug_crash, then `crash KIND`:
the crash report on serial must be complete, the handler must have run on the
stack its vector has in tern.elf (#DF and #MC on their IST stacks, the rest on
the boot stack), and Tern must stay halted; crash_mc first takes a real NMI,
which must run on the NMI stack and return).
One line per case, then `guest: N passed, N failed`; exit 1 on failure.
Serial transcripts: build/test-logs/NAME-CONFIG.log.

Usage: guest_tests.py --build build [--only NAME]... [--config NAME]... [-j N]
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import (BOCHS_IPS, BOCHS_POWER_OFF, ROOT, POWER_OFF, Machine,  # noqa: E402
                     MachineError, bochs_panics, grub_test_cfg, kill_all)
from ending_samples import SAMPLES, check_samples  # noqa: E402

BOOT_TIMEOUT = 180       # power-on to Tern's first line (BIOS ~1.5 s, OVMF ~10 s idle)
RUN_TIMEOUT = 300        # Tern's first line to the guest's outcome
CONSOLE_TIMEOUT = 60     # one console command
SHUTDOWN_GRACE = 60      # `shutdown` to the emulator's exit

# Tern's first line, or a firmware/boot loader that gave up: OVMF falls back
# to its shell when tern.efi fails; GRUB waits for a key after an error.
BOOT_RX = r"^(?P<tern>tern: )|(?P<shell>Shell> )|(?P<grub>Press any key to continue)"


@dataclass(frozen=True)
class Expect:
    """What a guest test must produce. `stop` set: Tern must stop the VM
    with a matching reason; otherwise the guest must report PASS and exit 0."""
    stop: str | None = None
    run_timeout: float | None = None  # None: RUN_TIMEOUT
    # Regexes that must match lines of the dump after 'vm0: stopped'; {SYM}
    # stands for the guest ELF's symbol SYM (16 hex digits, from nm).
    dump: tuple[str, ...] = ()


# Tests that do not simply PASS and exit 0; every other test must.
EXPECT: dict[str, Expect] = {
    "hostile_oob": Expect(stop=r"outside guest memory"),
    "hostile_triple": Expect(stop=r"triple fault"),
    # A task switch from 32-bit protected mode: JMP (source 2) to selector 0x20.
    "unhandled_exit": Expect(
        stop=r"^unhandled exit 9 \(TASK_SWITCH\), qualification 0x80000020$",
        dump=(r"^vm0:   RIP={unhandled_exit_ljmp} ",
              r"^vm0:   CR0=00010033 .* EFER=00000900 ",  # paging and long mode off
              r"^vm0:   last exit: TASK_SWITCH \(9\), qualification 0x80000020,")),
}
DEFAULT_EXPECT = Expect()


@dataclass(frozen=True)
class Config:
    name: str
    emulator: str
    firmware: str
    model: str = "corei7_skylake_x"
    subset: tuple[str, ...] | None = None  # None: every guest test
    cmdline: str = ""                      # extra words for Tern's command line


CONFIGS = [
    Config("bochs-skylake", "bochs", "bios", "corei7_skylake_x"),
    Config("bochs-haswell", "bochs", "bios", "corei7_haswell_4770"),
    # Write protection forced on a CPU that has PML (docs/dirty-tracking.md).
    Config("bochs-skylake-wp", "bochs", "bios", "corei7_skylake_x",
           subset=("dirty_log",), cmdline="dirty=wp"),
    Config("bochs-ovmf", "bochs", "ovmf", "corei7_skylake_x",
           subset=("cpuid", "memtest", "hostile_triple", "dirty_log")),
    Config("qemu-novmx", "qemu", "ovmf"),
]
NOVMX_CASE = "novmx"  # the one case of qemu-novmx
# The shutdown verdict's classifier against recorded emulator endings (no emulator).
ENDING_CASE = "ending_classifier"
CONSOLE_CASE = "console"  # the serial console driven against the demo guest (bochs-skylake)
# Tern crashed on purpose (`crash KIND`, boot option debug_crash) with the demo
# guest running: what the crash report must say (bochs-skylake).
CRASH_CASES = {
    "crash_ud": r"^tern: EXCEPTION 6 \(#UD invalid opcode\) in the hypervisor",
    "crash_gp": r"^tern: EXCEPTION 13 \(#GP general protection\) in the hypervisor",
    "crash_pf": r"^tern: EXCEPTION 14 \(#PF page fault\) in the hypervisor",
    "crash_df": r"^tern: EXCEPTION 8 \(#DF double fault\) in the hypervisor",
    "crash_mc": r"^tern: EXCEPTION 18 \(#MC machine check\) in the hypervisor",
    "crash_panic": r"^tern: PANIC: crash requested at the console",
}
# The stack (a symbol of tern.elf) each crash's handler must run on: IST
# stacks for #DF and #MC (cpu_init.c), the boot stack for the others.
CRASH_STACKS = {"df": "ist_stack_df", "mc": "ist_stack_mc"}
BOOT_STACK = "boot_stack"



@dataclass(frozen=True)
class Variant:
    """A guest test booted another way: with more command-line words (a
    `mem=` size), or as a flat image (objcopy -O binary of its ELF, which is
    linked to start at the flat load address 0x100000)."""
    guest: str
    cmdline: str = ""
    flat: bool = False


# Run on every config that runs every guest test (or names them in its subset).
VARIANTS = {
    "memtest_mem32": Variant("memtest", "mem=32M"),
    "memtest_mem128": Variant("memtest", "mem=128M"),
    "memtest_flat": Variant("memtest", flat=True),
}
DEFAULT_MEM = 64 << 20  # README: "default 64 MiB"
FLAT_LOAD_ADDR = 0x100000  # docs/guest-abi.md
# CPU models whose guests must run fpu_state's AVX half (both have AVX).
AVX_MODELS = {"corei7_skylake_x", "corei7_haswell_4770"}
# Tern's entry to the guest's first instruction, in emulated instructions:
# half an emulated second (about 20M is what it takes now, most of it
# zeroing guest RAM and calibrating the TSC).
BOOT_COST_MAX = BOCHS_IPS // 2
# The lines the uart guest writes, exactly as Tern must relay them.
UART_LINES = [
    "vm0| uart: line one",
    "vm0| uart: formatted -42 42 0xbeef str !",
    "vm0| uart: long line: the quick brown fox jumps over the lazy dog; "
    "pack my box with five dozen liquor jugs. END",
    "vm0| uart-marker: 0123456789 abcdefghij",
    "vm0| uart: done",
]


def guest_of(name: str) -> str:
    return VARIANTS[name].guest if name in VARIANTS else name


def mem_bytes(cmdline: str) -> int:
    """The guest RAM size a command line asks for, read by the harness itself."""
    m = re.search(r"(?:^| )mem=(\d+)([KMG])(?: |$)", cmdline)
    if not m:
        return DEFAULT_MEM
    return int(m.group(1)) << {"K": 10, "M": 20, "G": 30}[m.group(2)]


def info(text: str, rx: str, what: str) -> re.Match:
    """The guest's INFO report matching rx, or fail naming what is missing."""
    m = re.search(r"^vm0: report INFO " + rx, text, re.M)
    check(m is not None, f"the guest did not report {what}")
    return m


class CaseFailed(Exception):
    pass


def elf_symbols(elf: Path) -> dict[str, tuple[int, int | None]]:
    """name -> (address, size or None) for the symbols of an ELF (nm -S)."""
    r = subprocess.run(["nm", "-S", str(elf)], capture_output=True, text=True)
    if r.returncode != 0:
        raise CaseFailed(f"nm {elf} failed: {r.stderr.strip()[-200:]}")
    syms = {}
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) == 4:
            syms[f[3]] = (int(f[0], 16), int(f[1], 16))
        elif len(f) == 3:
            syms[f[2]] = (int(f[0], 16), None)
    return syms


def tern_stacks(elf: Path) -> dict[str, range]:
    """Tern's stacks as address ranges: each IST stack (sized symbols) and
    the boot stack (boot_stack .. boot_stack_top, entry64.S)."""
    syms = elf_symbols(elf)
    stacks = {n: range(a, a + sz) for n, (a, sz) in syms.items()
              if n.startswith("ist_stack_") and sz}
    if BOOT_STACK in syms and BOOT_STACK + "_top" in syms:
        stacks[BOOT_STACK] = range(syms[BOOT_STACK][0], syms[BOOT_STACK + "_top"][0])
    if len(stacks) != 4:
        raise CaseFailed(f"{elf}: expected 3 IST stacks and the boot stack, found {sorted(stacks)}")
    return stacks


def stack_of(stacks: dict[str, range], addr: int) -> str | None:
    return next((n for n, r in stacks.items() if addr in r), None)


def check(cond: bool, reason: str) -> None:
    if not cond:
        raise CaseFailed(reason)


def wait_boot(m: Machine) -> None:
    """Wait for Tern's first line; fail fast when the boot went astray."""
    b = m.expect(BOOT_RX, BOOT_TIMEOUT, "Tern's first line ('tern: ...')")
    if b.group("tern"):
        return
    text = m.text()
    errors = re.findall(r"^(?:tern-efi: )?error: .*$", text, re.M)
    last = f": {errors[-1]}" if errors else ""
    if b.group("shell"):
        raise CaseFailed(f"OVMF fell back to the UEFI shell, tern.efi did not start{last}")
    raise CaseFailed(f"GRUB stopped with an error before Tern started{last}")


class Runner:
    def __init__(self, build: Path, log_dir: Path):
        self.build = build
        self.log_dir = log_dir
        self.print_lock = threading.Lock()
        self.interrupted = False
        self.scratch = Path(tempfile.mkdtemp(prefix="tern-guest-tests-"))

    def say(self, line: str) -> None:
        with self.print_lock:
            print(line, flush=True)

    # ---- one case ----

    def run_case(self, cfg: Config, name: str) -> tuple[bool, str]:
        case = f"{name}-{cfg.name}"
        log = self.log_dir / f"{case}.log"
        rel_log = log.relative_to(ROOT) if log.is_relative_to(ROOT) else log
        t0 = time.monotonic()
        m = None
        try:
            m = self.make_machine(cfg, name, case)
            m.start()
            if cfg.name == "qemu-novmx":
                self.novmx_checks(m)
            elif name == CONSOLE_CASE:
                self.console_checks(m)
            elif name in CRASH_CASES:
                self.crash_checks(m, name)  # Tern halts for good: no shutdown
            else:
                self.guest_checks(m, name)
                if name == "dirty_log":
                    self.dirty_mode_check(m, cfg)
                verdict = self.VERDICTS.get(guest_of(name))
                if verdict:
                    verdict(self, m, cfg, name)
            if name not in CRASH_CASES:
                self.shutdown(m)
            ok, reason = True, ""
        except (CaseFailed, MachineError) as e:
            ok, reason = False, getattr(e, "reason", None) or str(e)
            if m is not None and isinstance(e, MachineError) and cfg.emulator == "bochs":
                panics = [p for p in bochs_panics(m.emulator_log()) if p != BOCHS_POWER_OFF]
                if panics:
                    reason += f"; Bochs panic: {panics[-1]}"
        except Exception as e:  # a harness bug: report it as this case's failure
            ok, reason = False, f"harness error: {type(e).__name__}: {e}"
        finally:
            if m is not None:
                m.close()
        secs = time.monotonic() - t0
        if self.interrupted:
            return False, "interrupted"
        if ok:
            self.say(f"PASS {name} [{cfg.name}] ({secs:.1f}s)")
        else:
            self.say(f"FAIL {name} [{cfg.name}]: {reason} (see {rel_log})")
        return ok, reason

    def make_machine(self, cfg: Config, name: str, case: str) -> Machine:
        common = dict(emulator=cfg.emulator, firmware=cfg.firmware, model=cfg.model,
                      log_dir=self.log_dir, wall_timeout=BOOT_TIMEOUT + RUN_TIMEOUT
                      + 4 * CONSOLE_TIMEOUT + SHUTDOWN_GRACE + 120)
        if cfg.firmware == "bios":
            iso = self.build / "tern.iso"
            check(iso.exists(), f"{iso} missing (make builds it)")
            guest = "demo" if name == CONSOLE_CASE or name in CRASH_CASES else guest_of(name)
            cmdline = f"guest={guest} {self.extra_words(cfg, name)}".strip()
            if name in VARIANTS and VARIANTS[name].flat:
                flat = self.flat_image(guest, case)
                return Machine(case, iso=iso, test_cfg=grub_test_cfg(guest, cmdline, "guest.bin"),
                               cfg_files={"guest.bin": flat}, **common)
            return Machine(case, iso=iso, test_cfg=grub_test_cfg(guest, cmdline), **common)
        efi = self.build / "tern.efi"
        check(efi.exists(), f"{efi} missing (make builds it)")
        if cfg.name == "qemu-novmx":
            guest = self.build / "guests" / "demo.elf"
        elif name in VARIANTS and VARIANTS[name].flat:
            guest = self.flat_image(guest_of(name), case)
        else:
            guest = self.build / "guests" / f"{guest_of(name)}.elf"
        esp = self.scratch / f"{case}.img"
        mkesp = ROOT / "scripts" / "mkesp.sh"
        r = subprocess.run(["bash", str(mkesp), str(esp), str(efi), str(guest),
                            f"guest=guest.elf {self.extra_words(cfg, name)}".strip()],
                           capture_output=True, text=True)
        check(r.returncode == 0, f"mkesp.sh failed: {(r.stderr or r.stdout).strip()[-300:]}")
        return Machine(case, esp=esp, **common)

    @staticmethod
    def extra_words(cfg: Config, name: str) -> str:
        """Tern's command line beyond guest=: the config's and the variant's."""
        # Every guest test may use the test hypercalls (the dirty-log ones),
        # but the one that checks they are absent without the option.
        if name == "test_calls_off":
            return cfg.cmdline
        if name in CRASH_CASES:
            return "debug_crash test_hypercalls"
        return f"test_hypercalls {cfg.cmdline} {VARIANTS[name].cmdline if name in VARIANTS else ''}".strip()

    def flat_image(self, guest: str, case: str) -> Path:
        """GUEST.elf as a flat image: its bytes from the load address on."""
        elf = self.build / "guests" / f"{guest}.elf"
        data = elf.read_bytes()
        entry, = struct.unpack_from("<Q", data, 0x18)
        check(entry == FLAT_LOAD_ADDR, f"{elf} starts at {entry:#x}, not {FLAT_LOAD_ADDR:#x}")
        out = self.scratch / f"{case}.bin"
        r = subprocess.run(["objcopy", "-O", "binary", str(elf), str(out)],
                           capture_output=True, text=True)
        check(r.returncode == 0, f"objcopy -O binary {elf}: {r.stderr.strip()}")
        check(out.read_bytes()[:4] != b"\x7fELF", f"{out} is still an ELF")
        return out

    def guest_checks(self, m: Machine, name: str) -> None:
        exp = EXPECT.get(name, DEFAULT_EXPECT)
        wait_boot(m)
        outcome = m.expect(r"^vm0: (exited with code (-?\d+)|stopped: (.*)|"
                           r"cannot load the guest image: (.*))\n",
                           exp.run_timeout or RUN_TIMEOUT,
                           "the guest's outcome ('vm0: exited with code N' or 'vm0: stopped: ...')")
        check(outcome.group(4) is None, f"Tern refused the guest image: {outcome.group(4)}")
        text = m.text()
        fail = re.search(r"^vm0: report FAIL.*$", text, re.M)
        check(fail is None, f"guest reported failure: '{fail.group(0) if fail else ''}'")
        if exp.stop:
            check(outcome.group(3) is not None,
                  f"expected 'vm0: stopped: ...{exp.stop}', got '{outcome.group(0).strip()}'")
            check(re.search(exp.stop, outcome.group(3)) is not None,
                  f"stopped for the wrong reason: '{outcome.group(3)}' (want /{exp.stop}/)")
            self.dump_checks(m, name, exp)
        else:
            check(outcome.group(3) is None, f"the VM was stopped: {outcome.group(3)}")
            check(outcome.group(2) == "0", f"the guest exited with code {outcome.group(2)}")
            check(re.search(r"^vm0: report PASS", text, re.M) is not None,
                  "the guest exited 0 without 'vm0: report PASS'")
        # The console must still answer after the guest is done.
        m.command("info status", r"^VM status:", CONSOLE_TIMEOUT)
        ans = m.command("info exits", None, CONSOLE_TIMEOUT)
        check(ans.text.strip() != "", "'info exits' gave an empty answer")
        check(not re.search(r"^error:", ans.text, re.M),
              f"'info exits' answered: {ans.text.strip().splitlines()[0]}")
        # Late failures, while the console was busy.
        text = m.text()
        fail = re.search(r"^vm0: report FAIL.*$", text, re.M)
        check(fail is None, f"guest reported failure: '{fail.group(0) if fail else ''}'")
        if not exp.stop:
            stop = re.search(r"^vm0: stopped:.*$", text, re.M)
            check(stop is None, f"'{stop.group(0) if stop else ''}'")

    def dump_checks(self, m: Machine, name: str, exp: Expect) -> None:
        """The register dump after 'vm0: stopped' must say what the guest did."""
        if not exp.dump:
            return
        syms = elf_symbols(self.build / "guests" / f"{name}.elf")
        for rx in exp.dump:
            rx = re.sub(r"\{(\w+)\}", lambda s: f"{syms[s.group(1)][0]:016x}", rx)
            m.expect(rx, CONSOLE_TIMEOUT, f"/{rx}/ in the dump")

    def dirty_mode_check(self, m: Machine, cfg: Config) -> None:
        """The dirty log must use PML where the CPU has it, unless forced;
        Tern says at boot when the CPU has none, and only then."""
        no_pml = "haswell" in cfg.model
        want = "write-protect" if (no_pml or "dirty=wp" in cfg.cmdline) else "pml"
        check(f"dirty log started ({want})" in m.text(),
              f"the dirty log did not run with {want}")
        said = re.search(r"^tern: PML not available, using write protection$", m.text(), re.M)
        check(bool(said) == no_pml, f"'PML not available' {'missing' if no_pml else 'said'} "
              f"on {cfg.model}")

    def dirty_rate_check(self, m: Machine, secs: int, mode: str, reset: bool = False) -> None:
        """calc_dirty_rate against the demo guest, which writes every page
        above its image each round: the count must lie between those pages
        and all of RAM, and the rate must be that count over the time printed.
        A round is about 100 ms of Tern's clock (10 heartbeat rounds a second
        in both modes), a tenth of the window; on Bochs that clock follows
        the instruction count, not the host's load. A reset while measuring
        must count every page: Tern rewrote all of RAM."""
        m.command(f"calc_dirty_rate {secs}", rf"^measuring the dirty rate for {secs} s \({mode}\)",
                  CONSOLE_TIMEOUT)
        if reset:
            m.command("system_reset", r"^vm0: system reset", CONSOLE_TIMEOUT)
            m.expect(r"^vm0\| Tern demo guest: 64 MiB RAM", RUN_TIMEOUT, "the banner after a reset")
        r = m.expect(r"^vm0: dirty rate: (\d+) pages/s \((\d+) KiB/s\), (\d+) distinct pages "
                     r"in (\d+) ms \((\S+)\)\n", RUN_TIMEOUT, "the dirty rate result")
        per_s, kib_s, pages, ms = (int(g) for g in r.groups()[:4])
        ram = DEFAULT_MEM  # the console case boots the demo without mem=
        free = (ram - demo_image_end(self.build / "guests" / "demo.elf")) // 4096
        check(r.group(5) == mode, f"calc_dirty_rate ran with {r.group(5)}, want {mode}")
        check(ms >= secs * 1000, f"calc_dirty_rate {secs} measured only {ms} ms")
        least = ram // 4096 if reset else free
        check(least <= pages <= ram // 4096,
              f"{pages} distinct pages; the demo writes {free} a round, RAM has {ram // 4096}"
              + (" and the reset rewrote them all" if reset else ""))
        check(pages * 1000 // (ms + 1) <= per_s <= pages * 1000 // ms and kib_s == per_s * 4,
              f"{per_s} pages/s ({kib_s} KiB/s) is not {pages} pages in {ms} ms")

    def console_checks(self, m: Machine) -> None:
        """Every console command against a running guest, and hostile input."""
        wait_boot(m)
        m.expect(r"^vm0\| demo: round", RUN_TIMEOUT, "the demo guest's first heartbeat")
        m.command("info status", r"^VM status: running", CONSOLE_TIMEOUT)
        m.command("info vm", r"^vm0: state running, 1 vCPU, 64 MiB RAM", CONSOLE_TIMEOUT)
        m.command("info registers", r"RIP=[0-9a-f]{16}", CONSOLE_TIMEOUT)
        m.command("info exits", r"^\s+total\s+\d+", CONSOLE_TIMEOUT)
        m.command("info version", r"^Tern .*booted via multiboot2", CONSOLE_TIMEOUT)
        m.command("stop", r"^VM paused", CONSOLE_TIMEOUT)
        m.command("info status", r"^VM status: paused", CONSOLE_TIMEOUT)
        m.command("stop", r"^error: the VM is not running", CONSOLE_TIMEOUT)
        mark = m.mark()
        time.sleep(3)
        check("demo: round" not in m.text_since(mark), "the guest ran while paused")
        m.command("cont", r"^VM resumed", CONSOLE_TIMEOUT)
        m.expect(r"^vm0\| demo: round", RUN_TIMEOUT, "a heartbeat after cont")
        m.command("system_reset", r"^vm0: system reset", CONSOLE_TIMEOUT)
        m.expect(r"^vm0\| Tern demo guest: 64 MiB RAM", RUN_TIMEOUT, "the banner after a reset")
        # Malformed input: an error line each, and the console keeps answering.
        m.command("frobnicate", r"^error: unknown command 'frobnicate'", CONSOLE_TIMEOUT)
        m.command("info", r"^error: info", CONSOLE_TIMEOUT)
        m.command("cont now", r"^error: usage: cont", CONSOLE_TIMEOUT)
        m.command("calc_dirty_rate 1000", r"^error: calc_dirty_rate takes", CONSOLE_TIMEOUT)
        m.command("x" * 400, r"^error: line longer than", CONSOLE_TIMEOUT)
        m.send_raw("\x00\x01\x1b[A\xff\x7f\x7f\r")
        m.command("a b c d e f g h i j k", r"^error: too many words", CONSOLE_TIMEOUT)
        m.command("crash ud", r"^error: crash is off; boot with debug_crash", CONSOLE_TIMEOUT)
        # The dirty rate of the demo guest, with each mechanism and across a reset.
        self.dirty_rate_check(m, 1, "pml")
        m.command("dirty_log_mode frob", r"^error: dirty_log_mode takes", CONSOLE_TIMEOUT)
        m.command("dirty_log_mode wp", r"^dirty log mode: write-protect$", CONSOLE_TIMEOUT)
        self.dirty_rate_check(m, 2, "write-protect")
        m.command("calc_dirty_rate 3", r"^measuring the dirty rate", CONSOLE_TIMEOUT)
        m.command("dirty_log_mode auto", r"^error: the dirty log is active", CONSOLE_TIMEOUT)
        m.expect(r"^vm0: dirty rate: ", RUN_TIMEOUT, "the dirty rate result")
        m.command("dirty_log_mode auto", r"^dirty log mode: auto$", CONSOLE_TIMEOUT)
        self.dirty_rate_check(m, 1, "pml", reset=True)
        m.command("info dirty", r"^dirty log: off", CONSOLE_TIMEOUT)
        m.command("info status", r"^VM status: running", CONSOLE_TIMEOUT)

    def crash_checks(self, m: Machine, name: str) -> None:
        """`crash KIND` with the guest running: a full report on serial, then
        nothing more (the CPU halts: no guest output, no console)."""
        wait_boot(m)
        m.expect(r"^vm0\| demo: round", RUN_TIMEOUT, "the demo guest's first heartbeat")
        kind = name.split("_", 1)[1]
        stacks = tern_stacks(self.build / "tern.elf")
        if kind == "mc":
            self.nmi_check(m, stacks)
        m.send_line(f"crash {kind}")
        m.expect(CRASH_CASES[name], CONSOLE_TIMEOUT, "the crash report")
        if kind != "panic":
            regs = m.expect(r"^\s+RIP=([0-9a-f]{16}) CS=0008", CONSOLE_TIMEOUT, "the registers")
            check(regs.group(1).startswith("ffffffff8"), f"RIP {regs.group(1)} is not in Tern's image")
            if kind == "df":  # the fault came from a stack that is none of Tern's
                rsp = m.expect(r"^\s+RSP=([0-9a-f]{16}) ", CONSOLE_TIMEOUT, "the interrupted RSP")
                check(stack_of(stacks, int(rsp.group(1), 16)) is None,
                      f"the #DF came from a good stack (RSP {rsp.group(1)})")
            m.expect(r"^\s+R13=", CONSOLE_TIMEOUT, "the last register line")
            st = m.expect(r"^\s+handler stack ([0-9a-f]{16})\n", CONSOLE_TIMEOUT, "the handler's stack")
            want = CRASH_STACKS.get(kind, BOOT_STACK)
            got = stack_of(stacks, int(st.group(1), 16))
            check(got == want, f"the handler ran on {got or 'an unknown stack'} "
                  f"({st.group(1)}), not on {want}")
        if kind == "pf":
            m.expect(r"^\s+faulting address 0xffff800000000000 \(read, not present\)",
                     CONSOLE_TIMEOUT, "the faulting address")
        m.expect(r"^tern: backtrace:( [0-9a-f]+){2,}\n", CONSOLE_TIMEOUT, "a backtrace of 2+ frames")
        m.expect(r"^tern: halted\n", CONSOLE_TIMEOUT, "'tern: halted'")
        mark = m.mark()
        m.send_line("info status")
        time.sleep(3)
        check("VM status" not in m.text_since(mark) and "demo: round" not in m.text_since(mark),
              "Tern or the guest kept running after the crash")

    def nmi_check(self, m: Machine, stacks: dict[str, range]) -> None:
        """A real NMI (`crash nmi`: the local APIC sends one to this CPU) is
        handled on the NMI stack and returns; the console still answers."""
        ans = m.command("crash nmi", r"^tern: NMI taken and resumed, handler stack ([0-9a-f]{16})$",
                        CONSOLE_TIMEOUT)
        got = stack_of(stacks, int(ans.match.group(1), 16))
        check(got == "ist_stack_nmi", f"the NMI handler ran on {got or 'an unknown stack'}")
        m.command("info status", r"^VM status: running", CONSOLE_TIMEOUT)

    def novmx_checks(self, m: Machine) -> None:
        wait_boot(m)
        m.expect(r"VMX not available", RUN_TIMEOUT, "'VMX not available'")
        m.command("info status", r"^VM status:", CONSOLE_TIMEOUT)
        ans = m.command("help", r"info status", CONSOLE_TIMEOUT)
        for cmd in ("help", "info exits", "shutdown"):
            check(re.search(rf"^\s*{cmd}\b", ans.text, re.M) is not None,
                  f"'help' does not list '{cmd}'")

    # ---- verdicts from outside Tern: what the guest measured, against what
    # the harness itself knows (the command line, the ELF, the emulator) ----

    def memtest_verdict(self, m: Machine, cfg: Config, name: str) -> None:
        """memtest wrote and read back every page from its image's end to the
        RAM size Tern passed it: that size must be the mem= the harness gave
        (a larger one would have stopped the VM at the first unbacked page)."""
        r = info(m.text(), r"memtest: (\d+) pages checked \((0x[0-9a-f]+)\.\.(0x[0-9a-f]+), RAM",
                 "the range it checked")
        pages, start, end = int(r.group(1)), int(r.group(2), 16), int(r.group(3), 16)
        want = mem_bytes(self.extra_words(cfg, name))
        check(end == want, f"memtest checked RAM up to {end:#x}, but mem= asked for {want:#x}")
        image_end = demo_image_end(self.build / "guests" / "memtest.elf")
        check(start == image_end, f"memtest started at {start:#x}, its image ends at {image_end:#x}")
        check(pages * 4096 == end - start, f"memtest counted {pages} pages in {start:#x}..{end:#x}")
        if name in VARIANTS and VARIANTS[name].flat:
            size = (self.scratch / f"{name}-{cfg.name}.bin").stat().st_size
            check(re.search(rf"^tern: guest image .*, {size} bytes$", m.text(), re.M) is not None,
                  f"Tern did not load the {size}-byte flat image")
            check(re.search(rf"^vm0: started .* entry {FLAT_LOAD_ADDR:#x}$", m.text(), re.M)
                  is not None, f"the flat image was not entered at {FLAT_LOAD_ADDR:#x}")

    def uart_verdict(self, m: Machine, cfg: Config, name: str) -> None:
        """Every line the guest wrote to COM1, relayed exactly and in order."""
        got = [l for l in m.lines() if l.startswith("vm0| ")]
        check(got == UART_LINES, f"relayed lines {got} differ from what the guest wrote")

    def fpu_state_verdict(self, m: Machine, cfg: Config, name: str) -> None:
        """The AVX half must have run where the CPU model has AVX."""
        if cfg.model in AVX_MODELS:
            check(re.search(r"^vm0: report PASS fpu_state: xmm0-15, ymm0-15", m.text(), re.M)
                  is not None, f"fpu_state skipped its AVX half on {cfg.model}, which has AVX")

    def hlt_timer_verdict(self, m: Machine, cfg: Config, name: str) -> None:
        """Tern's clock against the TSC the guest read itself, whose rate on
        Bochs is the ips the harness configured: the two must agree to 1%, and
        the 2 ms timer must not have fired early (nor over 2x late) by it."""
        check(cfg.emulator == "bochs", "hlt_timer's clock check knows Bochs' TSC rate only")
        text = m.text()
        c = info(text, r"hlt_timer: clocks: (\d+) ns by Tern, (\d+) TSC ticks", "its clocks")
        tern_ns, tsc = int(c.group(1)), int(c.group(2))
        ratio = tern_ns / (tsc * 1e9 / BOCHS_IPS)
        check(0.99 <= ratio <= 1.01,
              f"Tern's clock runs at {ratio:.4f}x the emulator's ({tern_ns} ns over {tsc} TSC ticks)")
        w = info(text, r"hlt_timer: woke (\d+) TSC ticks \(\d+ ns by Tern\) after arming (\d+) ns",
                 "when HLT woke")
        woke, armed = int(w.group(1)), int(w.group(2)) * BOCHS_IPS // 10**9
        check(woke >= armed, f"the timer fired after {woke} TSC ticks, armed for {armed}")
        check(woke <= 2 * armed, f"the timer fired after {woke} TSC ticks, over twice the {armed} armed")

    def boot_cost_verdict(self, m: Machine, cfg: Config, name: str) -> None:
        """Tern's entry, the VM's creation, the guest's first instruction (its
        own RDTSC) and guest_main come in that order, and the first three span
        at most BOOT_COST_MAX cycles (instructions on Bochs)."""
        text = m.text()
        e = re.search(r"^tern: hypervisor starting at cycle (\d+)$", text, re.M)
        v = re.search(r"^vm0: started at cycle (\d+):", text, re.M)
        check(e is not None and v is not None, "Tern's 'starting at cycle' lines are missing")
        g = info(text, r"boot_cost: first guest instruction at cycle (\d+), guest_main at cycle (\d+)",
                 "its first cycle")
        entry, vm, first, main = int(e.group(1)), int(v.group(1)), int(g.group(1)), int(g.group(2))
        check(entry < vm < first < main,
              f"cycles out of order: Tern {entry}, VM {vm}, guest {first}, guest_main {main}")
        check(first - entry <= BOOT_COST_MAX,
              f"Tern took {first - entry} cycles to the guest's first instruction (max {BOOT_COST_MAX})")

    VERDICTS = {
        "memtest": memtest_verdict,
        "uart": uart_verdict,
        "fpu_state": fpu_state_verdict,
        "hlt_timer": hlt_timer_verdict,
        "boot_cost": boot_cost_verdict,
    }

    def shutdown(self, m: Machine) -> None:
        """`shutdown` must power the machine off: Tern says so, and the
        emulator itself saw a power-off (not a panic, reset or triple fault,
        which end the emulator with the same exit status)."""
        mark = m.mark()
        m.send_line("shutdown")
        status = m.wait_exit(SHUTDOWN_GRACE)
        if status is None:
            m.close()
            raise CaseFailed(f"shutdown did not power off within {SHUTDOWN_GRACE}s")
        said = m.text_since(mark)
        ending = m.ending()
        check(ending.kind == POWER_OFF, f"after shutdown: {ending.detail}")
        check(re.search(r"^tern: shutting down$", said, re.M) is not None,
              "the machine powered off without Tern's 'tern: shutting down'")
        check("did not power off" not in said, "Tern said the machine did not power off")


def demo_image_end(elf: Path) -> int:
    """The first page above the demo's image (where its writes begin): the
    end of its highest PT_LOAD segment, page-aligned."""
    data = elf.read_bytes()
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phsize, phnum = struct.unpack_from("<HH", data, 0x36)
    ends = [paddr + memsz for typ, paddr, memsz in
            (struct.unpack_from("<I20xQ8xQ", data, phoff + i * phsize) for i in range(phnum))
            if typ == 1]
    return -(-max(ends) // 4096) * 4096


# Guests that are not tests: the demo, benchmarks run by bench.py, and the
# migration guests (mig_*), which never end: migrate_tests.py drives them.
NOT_TESTS = {"demo", "dirty_bench"}


def is_test(name: str) -> bool:
    return name not in NOT_TESTS and not name.startswith("mig_")


def discover(build: Path) -> list[str]:
    names = sorted(p.stem for p in (build / "guests").glob("*.elf"))
    return [n for n in names if is_test(n)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="the build folder (default: build)")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="run only this guest test (repeatable)")
    ap.add_argument("--config", action="append", metavar="NAME",
                    help="run only this configuration (repeatable): "
                    + ", ".join(c.name for c in CONFIGS))
    ap.add_argument("-j", "--jobs", type=int, default=2, help="machines at once (default 2)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    build = Path(args.build)
    if not build.is_absolute():
        build = (Path.cwd() / build).resolve()
    log_dir = build / "test-logs"
    log_dir.mkdir(parents=True, exist_ok=True)

    known = {c.name for c in CONFIGS}
    for c in args.config or []:
        if c not in known:
            ap.error(f"unknown config {c!r}; known: {', '.join(sorted(known))}")
    configs = [c for c in CONFIGS if not args.config or c.name in args.config]

    tests = discover(build)
    if args.only:
        missing = [n for n in args.only
                   if n not in tests and n not in (NOVMX_CASE, CONSOLE_CASE, ENDING_CASE,
                                                   *CRASH_CASES, *VARIANTS)]
        if missing:
            print(f"guest_tests: no such guest test: {', '.join(missing)} "
                  f"(found: {', '.join(tests) or 'none'})", file=sys.stderr)
            print("guest: 0 passed, 1 failed")
            return 1
    cases: list[tuple[Config, str]] = []
    for cfg in configs:
        if cfg.name == "qemu-novmx":
            if not args.only or NOVMX_CASE in args.only:
                cases.append((cfg, NOVMX_CASE))
            continue
        if cfg.name == "bochs-skylake":
            for special in (CONSOLE_CASE, *CRASH_CASES):
                if not args.only or special in args.only:
                    cases.append((cfg, special))
        for name in tests + [v for v in VARIANTS if VARIANTS[v].guest in tests]:
            if args.only and name not in args.only:
                continue
            if cfg.subset is not None and name not in cfg.subset:
                continue
            cases.append((cfg, name))

    if args.list:
        if not args.only or ENDING_CASE in args.only:
            print(ENDING_CASE)
        for cfg, name in cases:
            print(f"{name} [{cfg.name}]")
        return 0
    if not tests and not args.only:
        print(f"guest_tests: warning: no guest tests in {build}/guests", file=sys.stderr)

    runner = Runner(build, log_dir)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    passed = failed = 0
    if not args.only or ENDING_CASE in args.only:
        wrong = check_samples()
        if wrong:
            failed += 1
            print(f"FAIL {ENDING_CASE}: {wrong[0]}" + (f" (+{len(wrong) - 1} more)" if wrong[1:] else ""))
        else:
            passed += 1
            print(f"PASS {ENDING_CASE} ({len(SAMPLES)} recorded endings)")
    t0 = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=max(1, args.jobs))
    futures = []
    try:
        futures = [pool.submit(runner.run_case, cfg, name) for cfg, name in cases]
        for f in as_completed(futures):
            ok, _ = f.result()
            passed += ok
            failed += not ok
    except KeyboardInterrupt:
        runner.interrupted = True
        for f in futures:
            f.cancel()
        kill_all()
        pool.shutdown(wait=True, cancel_futures=True)
        print("guest_tests: interrupted", file=sys.stderr)
        print(f"guest: {passed} passed, {failed + 1} failed")
        return 130
    finally:
        shutil.rmtree(runner.scratch, ignore_errors=True)
    pool.shutdown(wait=True)
    if args.verbose:
        print(f"guest_tests: {len(cases)} cases in {time.monotonic() - t0:.0f}s")
    print(f"guest: {passed} passed, {failed} failed")
    return 1 if failed or not (cases or passed) else 0


if __name__ == "__main__":
    sys.exit(main())
