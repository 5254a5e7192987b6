"""One emulated machine running Tern, and a line-oriented talk with its COM1.

Bochs (VMX, EPT, PML; BIOS + GRUB ISO or OVMF + ESP image) or QEMU/TCG
(OVMF, no VMX). The emulator's COM1 is a TCP server on loopback; both
emulators wait for our client before they start, so nothing is lost. A reader
thread collects everything, strips terminal escapes and carriage returns, and
appends it to build/test-logs/NAME.log as it arrives. expect() searches the
text after the previous match, pexpect-style.

Typical use:

    with Machine("cpuid-a", iso="build/tern.iso", test_cfg=cfg) as m:
        m.expect(r"vm0: exited with code 0", timeout=120)
        m.command("info status", r"^VM status:")
        m.send_line("shutdown")
        m.wait_exit(30)

Python 3.11 standard library only.
"""

from __future__ import annotations

import atexit
import codecs
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from collections import namedtuple
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BOCHS = "/usr/bin/bochs-bin"
QEMU = "qemu-system-x86_64"
BOCHS_BIOS = "/usr/share/bochs/BIOS-bochs-latest"
BOCHS_VGABIOS = "/usr/share/bochs/VGABIOS-lgpl-latest"
OVMF = "/usr/share/ovmf/OVMF.fd"

PROMPT = r"\(tern\) "
# Bochs' emulated instructions per emulated second. With clock: sync=none its
# TSC and PIT follow the instruction count, so this is the TSC rate a guest
# sees: a clock the harness knows without asking Tern.
BOCHS_IPS = 100_000_000
# Bochs autodetects a flat disk's geometry as cylinders x 16 heads x 63 sectors.
CHS_UNIT = 16 * 63 * 512

# CSI sequences (GRUB's menu uses them, including ESC [ = 3 h), two-byte
# escapes, and the control characters other than newline and tab.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[^\[()]")
_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

Answer = namedtuple("Answer", "text match")

# How an emulator's run ended, from the emulator's own account alone: its
# exit status, the PANIC lines of Bochs' log, QEMU's QMP SHUTDOWN event and
# its -d cpu_reset log. Never from Tern's output: a Tern that prints
# "shutting down" and then triple-faults exits Bochs (panic) and QEMU
# (-no-reboot) just as a power-off does, with the same status.
Ending = namedtuple("Ending", "kind detail")
POWER_OFF = "power-off"

BOCHS_POWER_OFF = "ACPI control: soft power off"
_BOCHS_TRIPLE = re.compile(r"exception\(\): 3rd \((\d+)\) exception with no resolution")


def bochs_panics(log: str) -> list[str]:
    """The messages of Bochs' PANIC lines, in order."""
    return [l.split(">>PANIC<<", 1)[1].strip() for l in log.splitlines() if ">>PANIC<<" in l]


def classify_ending(emulator: str, status: int | None, bochs_log: str = "",
                    qmp_events: list | tuple = (), qemu_log: str = "") -> Ending:
    """Ending(kind, detail): kind POWER_OFF only when the emulator itself saw
    the machine power off; otherwise "killed", "timeout", "triple-fault",
    "reset", "emulator-panic" or "unknown", with a one-line detail.
    Bochs exits with status 1 on every panic, an ACPI S5 power-off included
    (panic: action=fatal); QEMU exits 0 on a power-off and, with -no-reboot,
    on a guest reset or triple fault too."""
    if status is None:
        return Ending("killed", "the emulator was still running and was killed")
    if status in (124, 137):
        return Ending("timeout", f"the emulator ran past its wall-clock limit (status {status})")
    if emulator == "bochs":
        panics = bochs_panics(bochs_log)
        for p in panics:
            t = _BOCHS_TRIPLE.search(p)
            if t:
                return Ending("triple-fault", f"Bochs: triple fault (third exception, vector {t.group(1)})")
        others = [p for p in panics if p != BOCHS_POWER_OFF]
        if others:
            return Ending("emulator-panic", f"Bochs panic: {others[0]}")
        if panics and status == 1:
            return Ending(POWER_OFF, f"Bochs: {BOCHS_POWER_OFF}")
        return Ending("unknown", f"Bochs exited with status {status} and no power-off in its log")
    shutdowns = [e for e in qmp_events if e.get("event") == "SHUTDOWN"]
    if re.search(r"^Triple fault", qemu_log, re.M):
        return Ending("triple-fault", "QEMU: triple fault")
    if not shutdowns:
        return Ending("unknown", f"QEMU exited with status {status} without a SHUTDOWN event")
    reason = shutdowns[0].get("data", {}).get("reason", "?")
    if reason == "guest-shutdown" and status == 0:
        return Ending(POWER_OFF, "QEMU: guest power-off (ACPI S5)")
    if reason == "guest-reset":
        return Ending("reset", "QEMU: the guest reset the machine (-no-reboot made it an exit)")
    return Ending("unknown", f"QEMU: SHUTDOWN reason {reason}, exit status {status}")

# Machines still running; killed at interpreter exit so that an exception or
# Ctrl-C in a test script never leaves an emulator behind.
_live: "weakref.WeakSet[Machine]" = weakref.WeakSet()
_aborted = False


@atexit.register
def kill_all() -> None:
    """Stop every machine still running (Ctrl-C, exceptions, exit); no new
    machine starts after this."""
    global _aborted
    _aborted = True
    for m in list(_live):
        try:
            m.close()
        except Exception:
            pass


class MachineError(Exception):
    """An expectation failed. `reason` is one short line; str() adds the
    tail of the serial transcript."""

    def __init__(self, reason: str, tail: str = "", log: Path | None = None):
        self.reason = reason
        self.tail = tail
        self.log = log
        msg = reason
        if log:
            msg += f" (transcript: {log})"
        if tail:
            msg += "\n--- last lines of serial ---\n" + tail
        super().__init__(msg)


def free_port() -> int:
    """A TCP port that was free a moment ago (start() retries on a clash)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cfg_disk(path: Path, cfg_text: str, cylinders: int = 2,
                  files: dict | None = None) -> tuple[int, int, int]:
    """A FAT disk (no partition table) holding /tern-test.cfg and `files`
    (name on the disk -> host path), sized as whole cylinders of 16 heads x
    63 sectors so that Bochs takes it as a flat disk. Returns its
    (cylinders, heads, spt)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    # Room for the files (a Linux kernel and initramfs: ~10 MB) plus the FAT.
    need = sum(Path(h).stat().st_size for h in (files or {}).values())
    cylinders = max(cylinders, -(-(need + need // 16 + 65536) // (16 * 63 * 512)) + 1)
    subprocess.run(["mformat", "-i", str(path), "-C", "-t", str(cylinders), "-h", "16",
                    "-s", "63", "::"], check=True, capture_output=True)
    src = path.with_name("tern-test.cfg")
    src.write_text(cfg_text)
    subprocess.run(["mcopy", "-i", str(path), str(src), "::/tern-test.cfg"],
                   check=True, capture_output=True)
    for name, host in (files or {}).items():
        subprocess.run(["mcopy", "-i", str(path), str(host), f"::/{name}"],
                       check=True, capture_output=True)
    return cylinders, 16, 63


def grub_test_cfg(guest: str, cmdline: str | None = None, module: str | None = None) -> str:
    """/tern-test.cfg that boots Tern from the ISO with build/guests/GUEST.elf,
    or with the file `module` from the test disk itself (make_cfg_disk's files)."""
    if cmdline is None:
        cmdline = f"guest={guest}"
    image = f"($testdev)/{module}" if module else f"($isodev)/boot/guests/{guest}.elf"
    return (
        # Sourced at the top level: export what the menu entry needs.
        "set testdev=$cfgdev\n"
        "export testdev\n"
        'menuentry "Tern test" --id tern-test {\n'
        f"\tmultiboot2 ($isodev)/boot/tern.elf {cmdline}\n"
        f"\tmodule2 {image} guest\n"
        "\tboot\n"
        "}\n"
        "set default=tern-test\n"
        "set timeout=0\n"
    )


def pad_to_cylinders(path: Path) -> int:
    """Grow a raw disk image with zeros to whole Bochs cylinders; returns the
    cylinder count. (A GPT's backup header then no longer sits in the last
    sector; firmware falls back to the primary one.)"""
    size = path.stat().st_size
    cyl = max(1, -(-size // CHS_UNIT))
    if cyl * CHS_UNIT != size:
        with open(path, "r+b") as f:
            f.truncate(cyl * CHS_UNIT)
    return cyl


class Machine:
    """One emulated machine. Arguments:

    name       names the logs: build/test-logs/NAME.log (serial transcript),
               NAME.emu.log (emulator stdout/stderr, port 0xE9 output),
               NAME.bochs.log and NAME.bochsrc (Bochs only), NAME.qemu.log
               (-d cpu_reset) and NAME.qmp.log (QMP events; QEMU only).
    emulator   "bochs" or "qemu" (QEMU/TCG: no VMX).
    firmware   "bios" (Bochs BIOS, boots `iso` from CD) or "ovmf" (boots `esp`,
               or `iso` from CD through GRUB's EFI side).
    model      Bochs CPU model (corei7_skylake_x has PML, corei7_haswell_4770 not).
    iso        the ISO from scripts/mkiso.sh (BIOS boot, or OVMF without esp).
    test_cfg   BIOS boot: text of /tern-test.cfg, put on a second disk.
    cfg_files  BIOS boot: more files for that disk (name -> host path).
    esp        OVMF boot: a raw ESP image (copied; the copy is padded).
    megs       guest-visible RAM of the emulated machine.
    wall_timeout  hard limit on the emulator's life (coreutils timeout).
    eol        what send_line() appends ("\\r", as a serial terminal sends).
    debugger_rc   Bochs: the debugger's rc script (default "c": just run).
    """

    def __init__(self, name: str, *, emulator: str = "bochs", firmware: str = "bios",
                 model: str = "corei7_skylake_x", iso: str | Path | None = None,
                 test_cfg: str | None = None, esp: str | Path | None = None,
                 megs: int = 256, cpus: int = 1, log_dir: str | Path | None = None,
                 wall_timeout: float = 900, eol: str = "\r", extra_config: tuple = (),
                 echo: bool = False, debugger_rc: str = "c\n", cfg_files: dict | None = None):
        if emulator not in ("bochs", "qemu"):
            raise ValueError(f"unknown emulator {emulator!r}")
        if firmware not in ("bios", "ovmf"):
            raise ValueError(f"unknown firmware {firmware!r}")
        if emulator == "qemu" and firmware != "ovmf":
            raise ValueError("QEMU runs are OVMF only")
        if firmware == "bios" and not iso:
            raise ValueError("a BIOS boot needs iso=")
        if firmware == "ovmf" and not (esp or iso):
            raise ValueError("an OVMF boot needs esp= or iso=")
        self.name = name
        self.emulator = emulator
        self.firmware = firmware
        self.model = model
        self.iso = Path(iso).resolve() if iso else None
        self.test_cfg = test_cfg
        self.cfg_files = dict(cfg_files or {})
        self.esp = Path(esp).resolve() if esp else None
        self.megs = megs
        self.cpus = cpus
        self.wall_timeout = wall_timeout
        self.eol = eol
        self.extra_config = tuple(extra_config)
        self.debugger_rc = debugger_rc  # Bochs: commands for its debugger
        self.echo = echo  # also copy raw serial output to stdout (run_demo)
        self.log_dir = Path(log_dir) if log_dir else ROOT / "build" / "test-logs"
        self.log_path = self.log_dir / f"{name}.log"
        self.returncode: int | None = None
        self.started_at: float | None = None

        self._proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._workdir: Path | None = None
        self._log = None
        self._cond = threading.Condition()
        self._close_lock = threading.Lock()
        self._killed = False
        self._text = ""       # cleaned transcript
        self._pos = 0         # expect() searches from here
        self._pending = ""    # an escape sequence cut by a read boundary
        self._eof = False
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._qmp_events: list[dict] = []  # QEMU: asynchronous QMP events, in order
        self._qmp_ready = threading.Event()
        self._qmp: threading.Thread | None = None

    # ---- life cycle ----

    def __enter__(self) -> "Machine":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self, connect_timeout: float = 60) -> None:
        if _aborted:
            raise MachineError("aborted: the harness is stopping")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._workdir = Path(tempfile.mkdtemp(prefix=f"tern-{self.name}-"))
        self._log = open(self.log_path, "w", encoding="utf-8", errors="replace")
        self._prepare_media()
        last_err = ""
        for _attempt in range(3):
            port = free_port()
            argv = self._argv(port)
            self._emu_out = open(self._workdir / "emu.out", "wb")
            self.started_at = time.monotonic()
            self._proc = subprocess.Popen(
                ["timeout", "-k", "5", str(int(self.wall_timeout))] + argv,
                cwd=self._workdir, stdin=subprocess.DEVNULL, stdout=self._emu_out,
                stderr=subprocess.STDOUT, start_new_session=True)
            self._sock = self._connect(port, connect_timeout)
            if self._sock:
                break
            self._proc.wait()
            self._emu_out.close()
            last_err = (self._workdir / "emu.out").read_text(errors="replace")[-2000:]
        else:
            self._save_emulator_logs()
            raise MachineError(f"{self.emulator} did not open its serial port",
                               last_err, self.log_path)
        _live.add(self)
        self._reader = threading.Thread(target=self._read_loop, name=f"serial-{self.name}",
                                        daemon=True)
        self._reader.start()
        if self.emulator == "qemu":
            self._qmp = threading.Thread(target=self._qmp_loop, name=f"qmp-{self.name}",
                                         daemon=True)
            self._qmp.start()
            # Events are sent only to monitors connected when they happen.
            self._qmp_ready.wait(30)

    def _prepare_media(self) -> None:
        wd = self._workdir
        if self.firmware == "ovmf" and self.esp:
            esp = wd / "esp.img"
            shutil.copyfile(self.esp, esp)
            if self.emulator == "bochs":
                self._esp_cyl = pad_to_cylinders(esp)
        if self.firmware == "bios" and self.test_cfg is not None:
            self._cfg_chs = make_cfg_disk(wd / "cfg.img", self.test_cfg, files=self.cfg_files)

    def bochsrc(self, port: int) -> str:
        """The Bochs configuration for this machine (also saved next to the log)."""
        wd = self._workdir
        lines = [
            f"megs: {self.megs}",
            f"cpu: model={self.model}, count={self.cpus}, ips={BOCHS_IPS}, "
            "reset_on_triple_fault=0, ignore_bad_msrs=1",
        ]
        if self.firmware == "bios":
            lines += [
                f"romimage: file={BOCHS_BIOS}, options=fastboot",
                f"vgaromimage: file={BOCHS_VGABIOS}",
                f"ata0-master: type=cdrom, path={self.iso}, status=inserted",
            ]
            if self.test_cfg is not None:
                c, h, s = self._cfg_chs
                lines.append(f"ata0-slave: type=disk, path={wd / 'cfg.img'}, mode=flat, "
                             f"cylinders={c}, heads={h}, spt={s}")
            lines.append("boot: cdrom")
        elif self.esp:
            lines += [
                f"romimage: file={OVMF}, address=0xffe00000",
                f"vgaromimage: file={BOCHS_VGABIOS}",
                "pci: enabled=1, chipset=i440fx",
                f"ata0-master: type=disk, path={wd / 'esp.img'}, mode=flat, "
                f"cylinders={self._esp_cyl}, heads=16, spt=63",
                "boot: disk",
            ]
        else:
            lines += [
                f"romimage: file={OVMF}, address=0xffe00000",
                f"vgaromimage: file={BOCHS_VGABIOS}",
                "pci: enabled=1, chipset=i440fx",
                f"ata0-master: type=cdrom, path={self.iso}, status=inserted",
                "boot: cdrom",
            ]
        lines += [
            'display_library: rfb, options="timeout=0"',
            f"com1: enabled=1, mode=socket-server, dev=localhost:{port}",
            "port_e9_hack: enabled=1",
            f"log: {wd / 'bochs.log'}",
            "panic: action=fatal",
            "clock: sync=none, time0=local",
            "speaker: enabled=0",
            # Without a sound card ALSA fails and Debian's Bochs 2.7 then
            # aborts in its mixer thread ("buffer overflow detected").
            "sound: driver=dummy",
        ]
        lines += list(self.extra_config)
        return "\n".join(lines) + "\n"

    def _argv(self, port: int) -> list[str]:
        wd = self._workdir
        if self.emulator == "bochs":
            (wd / "bochsrc").write_text(self.bochsrc(port))
            (wd / "rc").write_text(self.debugger_rc)
            return [BOCHS, "-q", "-f", str(wd / "bochsrc"), "-rc", str(wd / "rc")]
        argv = [QEMU, "-machine", "q35,accel=tcg", "-m", str(self.megs),
                "-smp", str(self.cpus), "-bios", OVMF,
                *(["-drive", f"format=raw,file={wd / 'esp.img'}"] if self.esp
                  else ["-cdrom", str(self.iso)]),
                "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on",
                "-display", "none", "-monitor", "none", "-net", "none", "-no-reboot",
                # How the run ends, told by QEMU itself (see classify_ending).
                "-qmp", f"unix:{wd / 'qmp.sock'},server=on,wait=off",
                "-d", "cpu_reset", "-D", str(wd / "qemu.log")]
        argv += list(self.extra_config)
        return argv

    def _connect(self, port: int, timeout: float) -> socket.socket | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return None
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
            except OSError:
                time.sleep(0.1)
                continue
            s.settimeout(None)
            return s
        return None

    def _qmp_loop(self) -> None:
        """QEMU: negotiate QMP, then record every event until QEMU exits."""
        path = str(self._workdir / "qmp.sock")
        deadline = time.monotonic() + 30
        s = None
        while s is None and time.monotonic() < deadline and self.running():
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
            except OSError:
                s.close()
                s = None
                time.sleep(0.1)
        if s is None:
            self._qmp_ready.set()
            return
        with s, open(self._workdir / "qmp.out", "w") as out:
            s.sendall(b'{"execute": "qmp_capabilities"}\n')
            buf = b""
            while True:
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    break
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    out.write(line.decode(errors="replace") + "\n")
                    out.flush()
                    try:
                        msg = json.loads(line)
                    except ValueError:
                        continue
                    if "return" in msg:
                        self._qmp_ready.set()
                    if "event" in msg:
                        with self._cond:
                            self._qmp_events.append(msg)
        self._qmp_ready.set()

    def ending(self) -> Ending:
        """How the emulator's run ended (classify_ending); call after it exited."""
        if self._qmp is not None:
            self._qmp.join(5)
        qemu_log = ""
        for path in ((self._workdir / "qemu.log") if self._workdir else None,
                     self.log_dir / f"{self.name}.qemu.log"):
            if path and path.exists():
                qemu_log = path.read_text(errors="replace")
                break
        status = None if self._killed or not self._proc else self._proc.poll()
        with self._cond:
            events = list(self._qmp_events)
        return classify_ending(self.emulator, status, self.emulator_log(), events, qemu_log)

    def close(self, grace: float = 0) -> int | None:
        """Stop the emulator (after `grace` seconds if it is still running),
        save its logs, return its exit status (None if we had to kill it).
        Safe to call more than once and from another thread."""
        with self._close_lock:
            self._close(grace)
        return self.returncode

    def _close(self, grace: float) -> None:
        _live.discard(self)
        if self._proc is not None:
            if grace:
                self.wait_exit(grace)
            if self._proc.poll() is None:
                self._kill()
            elif not self._killed:
                self.returncode = self._proc.returncode
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        if self._reader is not None:
            self._reader.join(5)
        if self._qmp is not None:
            self._qmp.join(5)
        self._save_emulator_logs()
        if self._log:
            self._log.close()
            self._log = None
        if self._workdir and self._workdir.exists():
            shutil.rmtree(self._workdir, ignore_errors=True)

    def _kill(self) -> None:
        # Our own process group only: timeout(1) and the emulator under it.
        self._killed = True
        try:
            os.killpg(self._proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self._proc.wait(3)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._proc.wait()
        self.returncode = None

    def _save_emulator_logs(self) -> None:
        wd = self._workdir
        if not wd or not wd.exists():
            return
        if getattr(self, "_emu_out", None):
            self._emu_out.close()
        for src, suffix in (("emu.out", "emu.log"), ("bochs.log", "bochs.log"),
                            ("bochsrc", "bochsrc"), ("qemu.log", "qemu.log"),
                            ("qmp.out", "qmp.log")):
            if (wd / src).exists():
                shutil.copyfile(wd / src, self.log_dir / f"{self.name}.{suffix}")

    def emulator_output(self) -> str:
        """The emulator's stdout and stderr so far (Bochs: debugger output,
        port 0xE9 bytes)."""
        for path in ((self._workdir / "emu.out") if self._workdir else None,
                     self.log_dir / f"{self.name}.emu.log"):
            if path and path.exists():
                return path.read_text(errors="replace")
        return ""

    def emulator_log(self) -> str:
        """Bochs' own log so far ("" for QEMU): the live file while running,
        the saved copy after close()."""
        for path in ((self._workdir / "bochs.log") if self._workdir else None,
                     self.log_dir / f"{self.name}.bochs.log"):
            if path and path.exists():
                return path.read_text(errors="replace")
        return ""

    def emulator_panics(self) -> list[str]:
        """Bochs PANIC lines (e.g. a triple fault in Tern itself, or the ACPI
        soft power off that ends a normal shutdown); see also ending()."""
        return [l for l in self.emulator_log().splitlines() if ">>PANIC<<" in l]

    def wait_exit(self, timeout: float) -> int | None:
        """Wait for the emulator to exit by itself; its status, or None."""
        try:
            self.returncode = self._proc.wait(timeout)
            return self.returncode
        except subprocess.TimeoutExpired:
            return None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at if self.started_at else 0.0

    # ---- serial ----

    def _read_loop(self) -> None:
        while True:
            try:
                data = self._sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                with self._cond:
                    self._feed(self._decoder.decode(b"", final=True), True)
                    self._eof = True
                    self._cond.notify_all()
                return
            with self._cond:
                self._feed(self._decoder.decode(data), False)
                self._cond.notify_all()

    def _feed(self, data: str, final: bool) -> None:
        if self.echo and data:
            # Raw, escapes included: an interactive terminal draws GRUB's
            # menu and Tern's line editing properly.
            print(data, end="", flush=True)
        s = self._pending + data
        self._pending = ""
        if not final:
            i = s.rfind("\x1b")
            if i != -1 and len(s) - i < 32 and not _ANSI.match(s, i):
                self._pending, s = s[i:], s[:i]
        s = _CTRL.sub("", _ANSI.sub("", s))
        if not s:
            return
        self._text += s
        if self._log:
            self._log.write(s)
            self._log.flush()

    def _note(self, what: str) -> None:
        """A harness remark in the log file only (not in the matched text)."""
        if self._log:
            nl = "" if not self._text or self._text.endswith("\n") else "\n"
            self._log.write(f"{nl}#> {what}\n")
            self._log.flush()

    def _tail(self, n: int = 40) -> str:
        return "\n".join(self._text.splitlines()[-n:])

    def _wait_for(self, rx: re.Pattern, start: int, timeout: float, what: str,
                  line_start: bool = False, budget: float | None = None):
        """Search rx in the transcript from `start`; the match, or raise.
        With line_start, `^` also matches at `start` itself and right after
        a prompt, and the match's offsets are relative to `start`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if line_start:
                    # A prompt ends a line too (same length: offsets hold).
                    # Replace over the whole text: a prompt may straddle start.
                    m = rx.search(self._text.replace("(tern) ", "\n" * 7)[start:])
                else:
                    m = rx.search(self._text, start)
                if m:
                    return m
                if self._eof:
                    status = self._proc.poll() if self._proc else None
                    raise MachineError(f"serial closed (emulator exit status {status}) while "
                                       f"waiting for {what}", self._tail(), self.log_path)
                left = deadline - time.monotonic()
                if left <= 0:
                    took = budget if budget is not None else timeout
                    raise MachineError(f"timed out after {took:.0f}s waiting for {what}",
                                       self._tail(), self.log_path)
                self._cond.wait(min(left, 1.0))

    @staticmethod
    def _rx(regex) -> re.Pattern:
        return regex if isinstance(regex, re.Pattern) else re.compile(regex, re.M)

    def expect(self, regex, timeout: float = 60, what: str | None = None) -> re.Match:
        """Wait for regex (multi-line mode) in the output after the previous
        match; consume up to its end. Raises MachineError on timeout or EOF
        (`what` names the awaited thing in the message). Note that `$` also
        matches at the end of what has arrived so far: end a pattern with
        `\\n` to wait for the whole line."""
        rx = self._rx(regex)
        m = self._wait_for(rx, self._pos, timeout, what or f"/{rx.pattern}/")
        with self._cond:
            self._pos = m.end()
        return m

    def send_line(self, s: str) -> None:
        self._note(f"send: {s}")
        self.send_raw(s + self.eol)

    def send_raw(self, s: str) -> None:
        try:
            self._sock.sendall(s.encode())
        except OSError as e:
            raise MachineError(f"cannot write to the serial port: {e}", self._tail(),
                               self.log_path) from e

    def command(self, cmd: str, expect_regex=None, timeout: float = 30) -> Answer:
        """Send a console command; wait for expect_regex (if given) in its
        answer, then for the next prompt. Returns Answer(text, match): the
        text between the command's echo (if Tern echoes) and the prompt."""
        with self._cond:
            start = len(self._text)
        self.send_line(cmd)
        # Skip the echo of the command line, if there is one, so that the
        # answer's regex cannot match the command itself.
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                seen = self._text[start:]
                if seen.startswith(cmd):
                    begin = start + len(cmd)
                    break
                if (seen and not cmd.startswith(seen)) or self._eof \
                        or time.monotonic() >= deadline:
                    begin = start
                    break
                self._cond.wait(min(1.0, max(0.01, deadline - time.monotonic())))
        m = None
        what = f"the answer to {cmd!r}"
        if expect_regex is not None:
            rx = self._rx(expect_regex)
            # The answer starts a line even when Tern neither echoes nor
            # starts a new line after the prompt.
            m = self._wait_for(rx, begin, max(1, deadline - time.monotonic()),
                               f"/{rx.pattern}/ in {what}", line_start=True, budget=timeout)
            after = begin + m.end()
        else:
            after = begin
        p = self._wait_for(self._rx(PROMPT), after, max(1, deadline - time.monotonic()),
                           f"the prompt after {what}", budget=timeout)
        with self._cond:
            self._pos = p.end()
            text = self._text[begin:p.start()]
        return Answer(text, m)

    def lines(self) -> list[str]:
        """Every line of serial output so far (cleaned)."""
        with self._cond:
            return self._text.splitlines()

    def text(self) -> str:
        with self._cond:
            return self._text

    def mark(self) -> int:
        """The current transcript length: pass to text_since()."""
        with self._cond:
            return len(self._text)

    def text_since(self, mark: int) -> str:
        with self._cond:
            return self._text[mark:]
