#!/usr/bin/env python3
"""`make mutate`: break the code on purpose and check that the named test
notices (docs/testing.md, "Mutations").

tests/mutate/mutations.txt lists the mutations, one a line:
    NAME  FILE  TEST  'TEXT'  'REPLACEMENT'
(shell-style quoting; TEXT must occur exactly once in FILE, else the mutation
is reported BROKEN). TEST is one of
    unit:test_NAME          a host unit test (make BUILD/unit/test_NAME)
    fuzz:TARGET             a fuzz target's smoke run (tests/fuzz/run.sh)
    guest:NAME@CONFIG       one guest case (tests/harness/guest_tests.py)

The working tree (git ls-files, with uncommitted edits) and the build
directory (without logs and fuzz corpora) are copied once to a scratch
directory, so nothing in the real tree changes and third-party libraries are
not rebuilt. First each test the list names must pass on the unmutated copy
(once); then each mutation is applied alone, the test is rebuilt and run,
and the file is restored. CAUGHT: the test failed, or ran 10 times as long
as it did unmutated in the same session (a hang); MISSED: it passed; BROKEN:
the text was not found once, or the mutant does not build. One line per mutation, then `N caught, N missed` (a BROKEN mutation
or one whose baseline failed counts as missed); exit 1 unless all are caught.

Usage: mutate.py --build build [--only NAME]... [--keep] [--list FILE] [--check]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.dont_write_bytecode = True
ROOT = Path(__file__).resolve().parents[2]

# A mutant's build may take this long; a build cut off is BROKEN, never CAUGHT.
BUILD_TIMEOUT = 900
# The unmutated run's own limit, generous: its time is what mutants are judged by.
BASELINE_TIMEOUT = {"unit": 300, "fuzz": 400, "guest": 900}
# A mutant that runs HANG_RATIO times as long as the unmutated test did in this
# same session (at least HANG_FLOOR s) hangs: a failure, so CAUGHT.
HANG_RATIO, HANG_FLOOR = 10, 30
# Build-dir parts that are outputs of earlier runs, not inputs of a build.
SKIP_IN_BUILD = ("test-logs", "fuzz/corpus", "fuzz/artifacts", "fuzz/logs", "fuzz/seeds")


@dataclass
class Mutation:
    name: str
    file: str
    test: str
    text: str
    replacement: str
    line: int


def parse_list(path: Path) -> list[Mutation]:
    out = []
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        f = shlex.split(raw)
        if len(f) != 5:
            sys.exit(f"{path}:{n}: want NAME FILE TEST 'TEXT' 'REPLACEMENT', got {len(f)} fields")
        out.append(Mutation(*f, line=n))
    return out


def copy_tree(src: Path, build: str, dst: Path) -> None:
    """The tracked and untracked-but-not-ignored files, and the build dir, mtimes kept."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=src, capture_output=True, check=True).stdout.split(b"\0")
    files = [f for f in files if f and (src / os.fsdecode(f)).is_file()]
    lst = dst.parent / "files.lst"
    lst.write_bytes(b"\0".join(files))
    tar = "tar -C {s} --null -T {l} -cf - | tar -C {d} -xpf -"
    subprocess.run(tar.format(s=shlex.quote(str(src)), l=shlex.quote(str(lst)),
                              d=shlex.quote(str(dst))), shell=True, check=True)
    excl = " ".join(f"--exclude={shlex.quote(build + '/' + p)}" for p in SKIP_IN_BUILD)
    subprocess.run(f"tar -C {shlex.quote(str(src))} {excl} -cf - {shlex.quote(build)} | "
                   f"tar -C {shlex.quote(str(dst))} -xpf -", shell=True, check=True)


def test_commands(test: str, build: str) -> tuple[str, str]:
    """(build, run) shell commands for one test."""
    kind, _, what = test.partition(":")
    if kind == "unit":
        return f"make -s BUILD={build} {build}/unit/{what}", f"{build}/unit/{what}"
    if kind == "fuzz":
        return (f"BUILD={build} bash tests/fuzz/run.sh build {what}",
                f"BUILD={build} bash tests/fuzz/run.sh smoke {what}")
    if kind == "guest":
        name, _, config = what.partition("@")
        return (f"make -s -j2 BUILD={build} all",
                f"python3 tests/harness/guest_tests.py --build {build} --only {name} --config {config}")
    raise ValueError(f"unknown test kind in {test!r} (unit:, fuzz:, guest:)")


def run_test(test: str, tree: Path, build: str, log: Path,
             run_limit: float | None = None) -> tuple[str, str, float]:
    """(verdict, why, run seconds): verdict "pass", "fail" or "nobuild". The run
    is stopped after run_limit seconds (default: BASELINE_TIMEOUT), a failure."""
    limits = (BUILD_TIMEOUT, run_limit or BASELINE_TIMEOUT[test.partition(":")[0]])
    verdict, why, secs = "pass", "", 0.0
    with log.open("w") as f:
        for step, cmd, limit in zip(("nobuild", "fail"), test_commands(test, build), limits):
            f.write(f"$ {cmd}\n")
            f.flush()
            t0 = time.monotonic()
            try:
                r = subprocess.run(["bash", "-c", cmd], cwd=tree, stdout=f, stderr=subprocess.STDOUT,
                                   timeout=limit, start_new_session=True)
            except subprocess.TimeoutExpired:
                verdict, why = step, f"hung (stopped after {limit:.0f} s)"
                break
            finally:
                secs = time.monotonic() - t0
            if r.returncode != 0:
                verdict, why = step, f"exit {r.returncode}"
                break
    return verdict, why, secs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--list", default=str(ROOT / "tests/mutate/mutations.txt"))
    ap.add_argument("--only", action="append", metavar="NAME")
    ap.add_argument("--keep", action="store_true", help="keep the scratch copy")
    ap.add_argument("--check", action="store_true",
                    help="only check that each TEXT occurs once in the tree (seconds)")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens
    build = os.path.relpath(Path(args.build).resolve(), ROOT)
    muts = parse_list(Path(args.list))
    if args.only:
        muts = [m for m in muts if m.name in args.only]
    if args.check:
        bad = [m for m in muts if not (ROOT / m.file).is_file()
               or (ROOT / m.file).read_text().count(m.text) != 1]
        for m in bad:
            print(f"BROKEN {m.name}: {m.file}: the text does not occur exactly once "
                  f"(mutations.txt:{m.line})")
        print(f"mutate --check: {len(muts) - len(bad)} of {len(muts)} mutations apply")
        return 1 if bad else 0
    if not (ROOT / build).is_dir():
        print(f"mutate: {build} missing; run make first")
        return 1

    work = Path(tempfile.mkdtemp(prefix="tern-mutate-"))
    tree = work / "tree"
    tree.mkdir()
    logs = ROOT / build / "test-logs" / "mutate"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    t_start = time.monotonic()
    print(f"mutate: {len(muts)} mutations; scratch copy {tree}; logs {logs.relative_to(ROOT)}")
    copy_tree(ROOT, build, tree)

    baseline: dict[str, tuple[bool, float]] = {}  # test -> (passes, run seconds)
    for test in dict.fromkeys(m.test for m in muts):
        verdict, why, secs = run_test(test, tree, build, logs / f"baseline-{test.replace(':', '-')}.log")
        baseline[test] = (verdict == "pass", secs)
        print(f"baseline {test}: {'passes' if verdict == 'pass' else 'FAILS (' + why + ')'} "
              f"({secs:.0f} s)")

    caught = missed = 0
    for m in muts:
        path = tree / m.file
        where = f"{m.file}: {m.test}"
        original = path.read_text() if path.is_file() else None
        count = original.count(m.text) if original is not None else 0
        if count != 1:
            print(f"BROKEN {m.name}: {where}: the text occurs {count} times, not once "
                  f"(mutations.txt:{m.line})")
            missed += 1
            continue
        if not baseline[m.test][0]:
            print(f"MISSED {m.name}: {where}: not judged, the unmutated test fails")
            missed += 1
            continue
        stat = path.stat()
        path.write_text(original.replace(m.text, m.replacement))
        try:
            limit = max(HANG_FLOOR, HANG_RATIO * baseline[m.test][1])
            verdict, why, secs = run_test(m.test, tree, build, logs / f"{m.name}.log", limit)
        finally:
            path.write_text(original)
            # Newer than anything built from the mutant, so the next build redoes it.
            os.utime(path, ns=(stat.st_atime_ns, max(time.time_ns(), stat.st_mtime_ns + 1)))
        if verdict == "nobuild":
            missed += 1
            print(f"BROKEN {m.name}: {where}: the mutant does not build ({why}; "
                  f"{logs.relative_to(ROOT)}/{m.name}.log)")
        elif verdict == "pass":
            missed += 1
            print(f"MISSED {m.name}: {where} still passes ({secs:.0f} s)")
        else:
            caught += 1
            print(f"CAUGHT {m.name}: {where} ({why}, {secs:.0f} s)")

    if args.keep:
        print(f"mutate: scratch copy kept in {tree}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f"mutate: {time.monotonic() - t_start:.0f} s")
    print(f"{caught} caught, {missed} missed")
    return 0 if missed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
