#!/usr/bin/env python3
"""`make run`: boot build/tern.iso in Bochs (corei7_skylake_x) and attach
Tern's serial console to this terminal.

On a terminal, keys go to the machine as typed (GRUB's menu works; Tern
echoes and edits the line); Ctrl-C, or Tern's `shutdown` command, ends it.
With stdin from a pipe or file, each line is sent once Tern's console is up
and has answered the previous one; the machine then runs until it powers off,
Ctrl-C, or --timeout. The transcript is kept in build/test-logs/run-demo.log.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import termios
import time
import tty
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import PROMPT, Machine, MachineError  # noqa: E402


def interactive(m: Machine, deadline: float | None) -> None:
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)  # no local echo, no line buffering; Ctrl-C still signals
    try:
        while m.running():
            if deadline and time.monotonic() > deadline:
                print("\nrun_demo: --timeout reached", file=sys.stderr)
                return
            r, _, _ = select.select([fd], [], [], 0.2)
            if not r:
                continue
            data = os.read(fd, 1024)
            if not data:
                break
            # A serial terminal sends CR for Enter.
            m.send_raw(data.replace(b"\n", b"\r").decode(errors="replace"))
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def piped(m: Machine, deadline: float | None, boot_timeout: float) -> None:
    m.expect(PROMPT, boot_timeout)
    for line in sys.stdin:
        line = line.rstrip("\r\n")
        if line.strip() == "shutdown":
            m.send_line(line)
            break
        m.command(line, None, 120)
    while m.running():
        if deadline and time.monotonic() > deadline:
            print("\nrun_demo: --timeout reached", file=sys.stderr)
            return
        time.sleep(0.2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="the build folder (default: build)")
    ap.add_argument("--model", default="corei7_skylake_x", help="Bochs CPU model")
    ap.add_argument("--uefi", action="store_true",
                    help="boot build/esp.img with OVMF instead of the ISO with the BIOS")
    ap.add_argument("--megs", type=int, default=256)
    ap.add_argument("--entry", default=None,
                    help="BIOS boot: the ISO's GRUB menu entry id to boot at once "
                         "(e.g. tern-linux; default: the menu's default after 3 s)")
    ap.add_argument("--timeout", type=float, default=0,
                    help="stop after this many seconds (default: never)")
    args = ap.parse_args()
    if args.entry and args.uefi:
        ap.error("--entry picks a GRUB entry of the ISO; it does not apply to --uefi")

    build = Path(args.build).resolve()
    if args.uefi:
        media = dict(firmware="ovmf", esp=build / "esp.img")
        path = media["esp"]
    else:
        media = dict(firmware="bios", iso=build / "tern.iso")
        path = media["iso"]
        if args.entry:
            # The ISO's grub.cfg sources /tern-test.cfg from any disk before
            # its own entries: a default set there picks the entry by id.
            media["test_cfg"] = f"set default={args.entry}\nset timeout=0\n"
    if not path.exists():
        print(f"run_demo: {path} missing; run make first", file=sys.stderr)
        return 1
    deadline = time.monotonic() + args.timeout if args.timeout else None
    m = Machine("run-demo", model=args.model, megs=args.megs, echo=True,
                log_dir=build / "test-logs", wall_timeout=args.timeout + 60 if args.timeout
                else 7 * 24 * 3600, **media)
    print(f"run_demo: Bochs {args.model}, {path.name}; Ctrl-C or 'shutdown' to quit "
          f"(transcript: {m.log_path})", file=sys.stderr)
    status = None
    try:
        m.start()
        if sys.stdin.isatty():
            interactive(m, deadline)
        else:
            piped(m, deadline, 300)
        status = m.wait_exit(10)
    except KeyboardInterrupt:
        print("\nrun_demo: interrupted", file=sys.stderr)
    except MachineError as e:
        print(f"\nrun_demo: {e.reason}", file=sys.stderr)
        m.close()
        return 1
    finally:
        m.close()
    print(f"\nrun_demo: machine {'powered off' if status is not None else 'stopped'}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
