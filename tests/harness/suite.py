"""One PASS/FAIL line per case and the closing `NAME: N passed, N failed`.

Shared by the harness's suites (net_tests.py, netcon_tests.py): a case is a
function that raises CaseFailed or MachineError to fail, and may return a
short note (a figure) to print after PASS. A harness bug fails its own case
rather than the whole suite.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from machine import MachineError


class CaseFailed(Exception):
    pass


def check(cond: bool, reason: str) -> None:
    if not cond:
        raise CaseFailed(reason)


class Suite:
    def __init__(self, name: str, build: Path, verbose: bool = False):
        self.name = name
        self.build = build
        self.verbose = verbose
        self.log_dir = build / "test-logs"
        self.scratch = Path(tempfile.mkdtemp(prefix=f"tern-{name}-tests-"))
        self.passed = self.failed = 0
        self.figures: list[str] = []

    def case(self, name: str, fn, *args) -> bool:
        t0 = time.monotonic()
        try:
            note = fn(*args) or ""
            ok, reason = True, ""
        except (CaseFailed, MachineError) as e:
            # -v: a MachineError's text includes the end of the serial transcript
            ok, note = False, ""
            reason = str(e) if self.verbose else getattr(e, "reason", None) or str(e)
        except Exception as e:  # a harness bug is this case's failure
            ok, reason, note = False, f"harness error: {type(e).__name__}: {e}", ""
        secs = time.monotonic() - t0
        if ok:
            self.passed += 1
            print(f"PASS {name} ({secs:.1f}s){': ' + note if note else ''}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}: {reason}", flush=True)
        return ok

    def fail_all(self, names: list[str], reason: str) -> None:
        for n in names:
            self.failed += 1
            print(f"FAIL {n}: {reason}", flush=True)

    def run(self, steps: dict, selected: list[str]) -> int:
        """Run the selected steps (name -> method) in order; print the summary."""
        try:
            for key, step in steps.items():
                if key in selected:
                    step()
        except KeyboardInterrupt:
            print(f"{self.name}: interrupted")
            return 1
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)
        for f in self.figures:
            print(f"  {f}")
        print(f"{self.name}: {self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0
