"""Recorded ends of real emulator runs, and what classify_ending must call
each. guest_tests.py checks them first (case `ending_classifier`): the
shutdown verdict of every other case rests on that function, so it is
judged against evidence captured from the emulators, not against itself.

The triple faults were recorded with Tern broken on purpose (arch_power_off
loading an empty IDT and executing INT3 instead of writing ACPI S5): Bochs
and QEMU then exit with the same status as after a power-off.
"""
from __future__ import annotations

from machine import POWER_OFF, classify_ending

# Bochs 2.7, corei7_skylake_x, `shutdown` at the console (bochs.log lines).
BOCHS_POWER_OFF_LOG = """\
00187443847p[ACPI  ] >>PANIC<< ACPI control: soft power off
00187443847i[CPU0  ] | RIP=ffffffff8010c1ce (ffffffff8010c1cc)
00187443847i[SIM   ] quit_sim called with exit code 1
"""
BOCHS_TRIPLE_LOG = """\
00184823782p[CPU0  ] >>PANIC<< exception(): 3rd (13) exception with no resolution
00184823782e[CPU0  ] WARNING: Any simulation after this point is completely bogus !
00184823782i[SIM   ] quit_sim called with exit code 1
"""
BOCHS_OTHER_PANIC_LOG = """\
00000000000p[HD    ] >>PANIC<< ata0-1: could not open hard drive image file 'cfg.img'
"""

# QEMU 7.2 TCG, OVMF, -no-reboot: QMP events and the -d cpu_reset log.
QMP_POWER_OFF = [
    {"event": "RTC_CHANGE", "data": {"offset": 0}},
    {"event": "SHUTDOWN", "data": {"guest": True, "reason": "guest-shutdown"}},
]
QMP_RESET = [{"event": "SHUTDOWN", "data": {"guest": True, "reason": "guest-reset"}}]
QEMU_TRIPLE_LOG = "CPU Reset (CPU 0)\nEAX=00000000 EBX=00000000\nTriple fault\n"

# (what, emulator, exit status, bochs log, QMP events, QEMU log, expected kind)
SAMPLES = [
    ("Bochs ACPI S5", "bochs", 1, BOCHS_POWER_OFF_LOG, [], "", POWER_OFF),
    ("Bochs triple fault after 'shutting down'", "bochs", 1, BOCHS_TRIPLE_LOG, [], "",
     "triple-fault"),
    ("Bochs triple fault after a power-off panic line", "bochs", 1,
     BOCHS_POWER_OFF_LOG + BOCHS_TRIPLE_LOG, [], "", "triple-fault"),
    ("Bochs device panic", "bochs", 1, BOCHS_OTHER_PANIC_LOG, [], "", "emulator-panic"),
    ("Bochs exit 0 without a panic (magic break, q)", "bochs", 0, "", [], "", "unknown"),
    ("Bochs killed by timeout(1)", "bochs", 124, BOCHS_POWER_OFF_LOG, [], "", "timeout"),
    ("Bochs killed by the harness", "bochs", None, "", [], "", "killed"),
    ("QEMU ACPI S5", "qemu", 0, "", QMP_POWER_OFF, "", POWER_OFF),
    ("QEMU triple fault (-no-reboot)", "qemu", 0, "", QMP_RESET, QEMU_TRIPLE_LOG,
     "triple-fault"),
    ("QEMU guest reset (-no-reboot)", "qemu", 0, "", QMP_RESET, "", "reset"),
    ("QEMU exit without a SHUTDOWN event", "qemu", 0, "", [], "", "unknown"),
    ("QEMU power-off with a failing status", "qemu", 1, "", QMP_POWER_OFF, "", "unknown"),
]


def check_samples() -> list[str]:
    """One line per sample that classify_ending gets wrong; empty if none."""
    wrong = []
    for what, emu, status, blog, events, qlog, want in SAMPLES:
        got = classify_ending(emu, status, blog, events, qlog)
        if got.kind != want:
            wrong.append(f"{what}: classified {got.kind} ({got.detail}), want {want}")
    return wrong
