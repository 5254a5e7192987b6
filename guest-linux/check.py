#!/usr/bin/env python3
"""Host-side checks of the Linux guest's files, no emulator (make linux-guest-check).

memstress: built as the initramfs builds it, run for a second (fill, passes,
"done" line, monotonic clock never going back); with --inject-fault it must
print the exact FAIL line for the flipped bit, whose expected word is
computed here from the pattern's definition (splitmix64's finalizer over
index * golden + (pass + 1) * 0xd1b54a32d192ed03); bad arguments exit 2.

initramfs: built twice with the same SOURCE_DATE_EPOCH it must be byte for
byte the same, with another epoch different; its newc entries, parsed here,
must hold /init (the same bytes as guest-linux/init), /etc/shrc,
/sbin/memstress, /bin/busybox and the required applet links, the
directories, and (when built as root) /dev/console c 5 1; every entry owned
by 0:0 with mtime = the epoch, in sorted order.
Ends with "N passed, N failed"; exit status 1 on any failure.
"""

from __future__ import annotations

import gzip
import os
import re
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
M64 = (1 << 64) - 1
passed = failed = 0


def check(cond: bool, what: str) -> None:
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {what}")


def word(index: int, pss: int) -> int:
    z = (index * 0x9E3779B97F4A7C15 + (pss + 1) * 0xD1B54A32D192ED03) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def check_memstress(tmp: Path) -> None:
    exe = tmp / "memstress"
    subprocess.run(["gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror",
                    str(ROOT / "guest-linux/memstress.c"), "-o", str(exe)], check=True)
    r = run([str(exe), "4", "1"])
    lines = r.stdout.splitlines()
    check(r.returncode == 0, f"memstress 4 1: exit {r.returncode}")
    check(bool(lines) and re.fullmatch(r"memstress: fill ok \(4 MiB\) mono=\d+\.\d{6}", lines[0])
          is not None, f"memstress fill line: {lines[:1]}")
    passes = [re.fullmatch(r"memstress: pass (\d+) ok \(4 MiB verified\) mono=(\d+\.\d{6}) maxgap=\d+\.\d{6}", ln)
              for ln in lines[1:-1]]
    check(bool(passes) and all(passes), f"memstress pass lines: {lines[1:3]}")
    if passes and all(passes):
        check(int(passes[0].group(1)) == 1, "the first pass line is pass 1")
        nums = [int(p.group(1)) for p in passes]
        check(nums == sorted(set(nums)), "pass numbers increase")
        monos = [float(re.search(r"mono=(\S+)", ln).group(1)) for ln in lines[:-1]]
        check(monos == sorted(monos), "CLOCK_MONOTONIC never goes back")
        done = re.fullmatch(r"memstress: done, (\d+) passes ok", lines[-1])
        check(done is not None and int(done.group(1)) > nums[-1], f"done line: {lines[-1]}")

    # The flipped bit: 0x40 in byte 3 of the word at offset 4 MiB / 2.
    r = run([str(exe), "--inject-fault", "4", "1"])
    off = 2 << 20
    want = word(off // 8, 0)
    expect = (f"memstress: FAIL at offset 0x{off:x}: read 0x{want ^ (0x40 << 24):016x}, "
              f"want 0x{want:016x} (pass 1)")
    check(r.returncode == 1, f"--inject-fault: exit {r.returncode}")
    check(r.stdout.splitlines()[-1:] == [expect],
          f"--inject-fault: {r.stdout.splitlines()[-1:]} != {expect}")

    for bad in ([], ["0"], ["x"], ["4x"], ["-1"], ["4", "-1"], ["4", "1", "2"], ["--inject-fault"]):
        r = run([str(exe)] + bad)
        check(r.returncode == 2 and "usage" in r.stderr, f"memstress {bad}: exit {r.returncode}")


def newc_entries(data: bytes) -> list[dict]:
    """Parses a newc archive; raises ValueError on anything malformed."""
    out, pos = [], 0
    while True:
        if pos + 110 > len(data) or data[pos:pos + 6] != b"070701":
            raise ValueError(f"no newc header at {pos}")
        f = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        namesize, filesize = f[11], f[6]
        name_end = pos + 110 + namesize
        if namesize < 1 or name_end > len(data) or data[name_end - 1] != 0:
            raise ValueError(f"bad name at {pos}")
        name = data[pos + 110:name_end - 1].decode()
        body = (name_end + 3) & ~3
        if body + filesize > len(data):
            raise ValueError(f"{name}: data overruns the archive")
        if name == "TRAILER!!!":
            return out
        out.append(dict(name=name, mode=f[1], uid=f[2], gid=f[3], mtime=f[5],
                        rdev=(f[9], f[10]), data=data[body:body + filesize]))
        pos = (body + filesize + 3) & ~3


def build_initramfs(outdir: Path, epoch: int) -> bytes:
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch))
    subprocess.run(["bash", str(ROOT / "scripts/build-initramfs.sh"), str(outdir)],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    return (outdir / "initrd.img").read_bytes()


def check_initramfs(tmp: Path) -> None:
    epoch = 1704067200
    a = build_initramfs(tmp / "a", epoch)
    b = build_initramfs(tmp / "b", epoch)
    c = build_initramfs(tmp / "c", epoch + 86400)
    check(a == b, "two builds with one SOURCE_DATE_EPOCH are identical")
    check(a != c, "another SOURCE_DATE_EPOCH gives another archive")
    check(a[:2] == b"\x1f\x8b" and a[4:8] == b"\0\0\0\0", "gzip with no stored time (-n)")
    try:
        ents = newc_entries(gzip.decompress(a))
    except ValueError as e:
        check(False, f"the archive parses: {e}")
        return
    names = [e["name"] for e in ents]
    by = {e["name"]: e for e in ents}
    check(names == sorted(names), "entries in sorted order")
    check(all(e["uid"] == 0 and e["gid"] == 0 for e in ents), "every entry owned by 0:0")
    check(all(e["mtime"] == epoch for e in ents), "every mtime is SOURCE_DATE_EPOCH")
    for d in ("bin", "sbin", "etc", "dev", "proc", "sys", "tmp"):
        check(d in by and stat.S_ISDIR(by[d]["mode"]), f"directory /{d}")
    for f, src in (("init", "guest-linux/init"), ("etc/shrc", "guest-linux/shrc")):
        check(f in by and by[f]["data"] == (ROOT / src).read_bytes(), f"/{f} is {src}")
    check("init" in by and by["init"]["mode"] & 0o111 == 0o111, "/init is executable")
    for f in ("bin/busybox", "sbin/memstress"):
        e = by.get(f)
        check(e is not None and stat.S_ISREG(e["mode"]) and e["data"][:4] == b"\x7fELF"
              and b"ld-linux" not in e["data"][:4096], f"/{f}: a static ELF executable")
    for app in ("sh mount mkdir cat echo uname nproc free uptime sleep poweroff reboot "
                "ls grep dmesg date setsid cttyhack").split():
        e = by.get(f"bin/{app}")
        check(e is not None and stat.S_ISLNK(e["mode"]) and e["data"] == b"busybox",
              f"/bin/{app} -> busybox")
    if os.geteuid() == 0:
        e = by.get("dev/console")
        check(e is not None and stat.S_ISCHR(e["mode"]) and e["rdev"] == (5, 1),
              "/dev/console is c 5 1")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="tern-linux-check.") as t:
        check_memstress(Path(t))
        check_initramfs(Path(t))
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
