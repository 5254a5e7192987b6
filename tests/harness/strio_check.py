#!/usr/bin/env python3
"""The verdict on mig_strio's serial lines (guest-tests/mig_strio.c,
docs/migration-guests.md): each slot's out line, which Tern read from guest
RAM by itself (rep outsb) and relayed, must be exactly the line the formula
gives, and must be followed by the guest's own "in ok" for the same slot.

Lines are taken as Tern prints them ("vm0| strio: ...") or as the text
after the "vm0| " prefix; lines that are not the guest's are ignored.

    expected_out_line(k)  the out line of slot k (no prefix, no newline)
    check_lines(lines)    (ok_count, errors): ok_count slot uses whose out line
                          was right and whose "in ok" followed it; errors, one
                          sentence each (empty: the run is good)

Run as a script: a self-test that exits 1 on a wrong verdict.
Python 3.11 standard library only.
"""

from __future__ import annotations

import re
import sys

NSLOTS = 64
ALPHA = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
TAIL = 48
GUEST_PREFIX = "vm0| "

START_RX = re.compile(r"^strio: guest: (\d+) pages from 0x([0-9a-f]+) to 0x([0-9a-f]+), "
                      r"(\d+) slots from 0x([0-9a-f]+) to 0x([0-9a-f]+), windows at 0x([0-9a-f]+)$")
PROGRESS_RX = re.compile(r"^strio: pass (\d+) slots (\d+) ok, (\d+) writes, time (\d+) ns$")
OUT_RX = re.compile(r"^strio: slot (\d\d) out (.*)$")
IN_OK_RX = re.compile(r"^strio: slot (\d\d) in ok$")
SLOT_FAIL_RX = re.compile(r"^strio: FAIL slot (\d\d) (.*)$")
FAIL_RX = re.compile(r"^(?:strio|mig): FAIL (.*)$")


def expected_out_line(k: int) -> str:
    """Slot k's out line, the formula in mig_strio.c's header."""
    s = ((k + 1) * 0x9E3779B9) & 0xFFFFFFFF
    tail = []
    for _ in range(TAIL):
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        tail.append(ALPHA[(s >> 24) % 62])
    return f"strio: slot {k:02d} out " + "".join(tail)


def _guest_text(line: str) -> str | None:
    """The guest's text of a serial line, or None when it is not the guest's."""
    line = line.rstrip("\r\n")
    if line.startswith(GUEST_PREFIX):
        return line[len(GUEST_PREFIX):]
    if line.startswith(("strio:", "mig:")):
        return line
    return None


def check_lines(lines) -> tuple[int, list[str]]:
    """Judge mig_strio's lines, in order. The first slot seen may be any
    (a harness may start reading mid-run); from then on the slots come in
    order, k + 1 after k, modulo 64, each as an out line then "in ok"."""
    ok = 0
    errors: list[str] = []
    pending: int | None = None  # the slot whose out line came, awaiting its "in ok"
    last: int | None = None     # the last slot whose out line came
    for n, raw in enumerate(lines, 1):
        text = _guest_text(raw)
        if text is None:
            # Not prefixed: a line Tern relayed from a broken out page shows
            # as "vm0| ???..." and is caught by the missing out line below.
            continue
        if FAIL_RX.match(text):
            errors.append(f"line {n}: the guest failed: {text}")
            continue
        m = OUT_RX.match(text)
        if m:
            k = int(m.group(1))
            if k >= NSLOTS or text != expected_out_line(k):
                errors.append(f"line {n}: slot {m.group(1)}'s out line is wrong: {text!r}, "
                              f"want {expected_out_line(k % NSLOTS)!r}")
                pending = None
                continue
            if pending is not None:
                errors.append(f"line {n}: slot {pending:02d} has no \"in ok\" before slot {k:02d}")
            if last is not None and k != (last + 1) % NSLOTS:
                errors.append(f"line {n}: slot {k:02d} came after slot {last:02d}, "
                              f"want {(last + 1) % NSLOTS:02d}")
            pending = last = k
            continue
        m = IN_OK_RX.match(text)
        if m:
            k = int(m.group(1))
            if pending != k:
                errors.append(f"line {n}: slot {k:02d} in ok without slot {k:02d}'s out line "
                              f"right before it")
            else:
                ok += 1
            pending = None
            continue
        if text.startswith("strio:") and not (START_RX.match(text) or PROGRESS_RX.match(text)):
            errors.append(f"line {n}: not a line mig_strio prints: {text!r}")
    return ok, errors


# ---- self-test ----

def _run(first: int, count: int) -> list[str]:
    """What a healthy guest prints for `count` slot uses from slot `first`."""
    out = [GUEST_PREFIX + "strio: guest: 3618 pages from 0x11c000 to 0xf3e000, 64 slots from "
           "0xf3e000 to 0x1000000, windows at 0x10000000000"]
    for u in range(count):
        k = (first + u) % NSLOTS
        out += [GUEST_PREFIX + expected_out_line(k), GUEST_PREFIX + f"strio: slot {k:02d} in ok"]
        if u % 4 == 3:
            out.append(GUEST_PREFIX + f"strio: pass {u * 20} slots {u + 1} ok, {u * 40} writes, "
                       f"time {u * 250000000} ns")
    return out


def _self_test() -> int:
    wrong = 0

    def verdict(name: str, lines, want_ok: int | None, want_errors: bool) -> None:
        nonlocal wrong
        ok, errors = check_lines(lines)
        if bool(errors) != want_errors or (want_ok is not None and ok != want_ok):
            wrong += 1
            print(f"strio_check self-test: {name}: got ok={ok} errors={errors}")

    # Recorded from mig_strio on Bochs: the C and the Python formula agree.
    if expected_out_line(0) != "strio: slot 00 out 4L1yrmq9C2jKb4QeY6v2tnQl3k5j4q5LaTlAbAgbtc5Yuz8H":
        wrong += 1
        print("strio_check self-test: slot 0's line differs from the guest's")
    if expected_out_line(2) != "strio: slot 02 out hIri23ihyaDhuNcqYse25w7S2N12darZrk6IvkY1GUBjMdMw":
        wrong += 1
        print("strio_check self-test: slot 2's line differs from the guest's")

    good = _run(0, 70)  # past slot 63, back to 0
    verdict("a good run", good, 70, False)
    verdict("a good run, Tern's lines around", ["tern: migrate: done", *good, "(tern) "], 70, False)
    verdict("a good run read from the middle", _run(40, 30)[1:], 30, False)
    verdict("a good run without the prefix", [l[len(GUEST_PREFIX):] for l in good], 70, False)
    verdict("an out line still awaiting its in ok", good + [GUEST_PREFIX + expected_out_line(6)],
            70, False)

    def corrupt(i: int, new: str | None) -> list[str]:
        lines = list(good)
        if new is None:
            del lines[i]
        else:
            lines[i] = new
        return lines

    out7 = good.index(GUEST_PREFIX + expected_out_line(7))
    line7 = good[out7]
    verdict("one character of the tail", corrupt(out7, line7[:-1] + ("x" if line7[-1] != "x" else "y")),
            None, True)
    verdict("a truncated out line", corrupt(out7, line7[:-5]), None, True)
    verdict("another slot's out line", corrupt(out7, GUEST_PREFIX + expected_out_line(8)), None, True)
    verdict("an out line from a zero page", corrupt(out7, GUEST_PREFIX + "?" * 67), None, True)
    verdict("an out line lost", corrupt(out7, None), None, True)
    verdict("an in ok lost", corrupt(out7 + 1, None), None, True)
    verdict("an in ok for the wrong slot", corrupt(out7 + 1, GUEST_PREFIX + "strio: slot 08 in ok"),
            None, True)
    verdict("a slot skipped", corrupt(out7, None)[:out7] + corrupt(out7, None)[out7 + 1:], None, True)
    verdict("a slot number past 63", good + [GUEST_PREFIX + "strio: slot 64 out " + "a" * 48], None, True)
    verdict("a FAIL line", good + [GUEST_PREFIX + "strio: FAIL slot 07 in offset 1024: want 0x5a got 0x00"],
            None, True)
    verdict("mig_fail's repeat", good + [GUEST_PREFIX + "mig: FAIL strio slot 07 in offset 3: "
                                         "want 0x11 got 0x00"], None, True)
    verdict("a mangled strio line", corrupt(out7 + 1, GUEST_PREFIX + "strio: slot 07 in ok?"), None, True)
    if wrong:
        print(f"strio_check self-test: {wrong} wrong verdicts")
        return 1
    print("strio_check self-test: all verdicts right")
    return 0


if __name__ == "__main__":
    sys.exit(_self_test())
