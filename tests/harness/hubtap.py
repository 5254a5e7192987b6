#!/usr/bin/env python3
"""Put Linux on a bxhub link: a TAP device in a network namespace of its own,
bridged to one port of the hub, so that Linux's TCP/IP and real clients
(`openssl s_client`, ternctl) talk to the Terns on the emulated Ethernet.

The hub carries raw Ethernet frames over UDP on 127.0.0.1: for port k it
listens on base + 2k + 1 and sends to base + 2k (what Bochs' ethmod=socket
does with ethdev = base + 2k). It learns a port's MAC address from the
first broadcast seen there and forwards unicast frames only to learned
ports (multicast not at all). This process binds the UDP socket in the
caller's namespace first, then enters the new namespace (setns) and opens the
TAP there, so the socket stays on the host's loopback while the TAP and its
address exist only inside the namespace. Needs root (netns, /dev/net/tun).

Library use (tests/harness/migrate_tests.py):
    tap = HubTap(base, k, "10.0.5.9/24")   # namespace + bridge process
    tap.popen(["openssl", "s_client", ...]) # a client inside the namespace
    tap.close()
As a program (the bridge itself): hubtap.py --bridge BASE K NETNS ADDR/LEN
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import select
import socket
import struct
import subprocess
import sys
import time

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
TAP_NAME = "tap0"


def bridge(base: int, k: int, netns: str, addr: str) -> None:
    """Forward frames between the hub's port k and a TAP in netns, forever."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", base + 2 * k))
    hub = ("127.0.0.1", base + 2 * k + 1)
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{netns}", os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")
    os.close(fd)
    tap = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tap, TUNSETIFF, struct.pack("16sH", TAP_NAME.encode(), IFF_TAP | IFF_NO_PI))
    # bxhub forwards a unicast frame only to a port it has seen a broadcast
    # from: arp_notify makes Linux announce itself (gratuitous ARP) at link up.
    for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", addr, "dev", TAP_NAME],
                ["sysctl", "-q", f"net.ipv4.conf.{TAP_NAME}.arp_notify=1"],
                ["ip", "link", "set", TAP_NAME, "up"]):
        subprocess.run(cmd, check=True)
    print("hubtap: up", flush=True)
    while True:
        ready, _, _ = select.select([udp, tap], [], [])
        if udp in ready:
            frame = udp.recv(65536)
            os.write(tap, frame)
        if tap in ready:
            frame = os.read(tap, 65536)
            # Ethernet minimum (the hub and Bochs' e1000 expect >= 60 bytes)
            udp.sendto(frame.ljust(60, b"\0"), hub)


class HubTap:
    """A namespace with a TAP on hub port k at addr (CIDR), for clients."""

    def __init__(self, base: int, k: int, addr: str, timeout: float = 30):
        self.netns = f"tern-hubtap-{os.getpid()}-{k}"
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--bridge", str(base),
                                      str(k), self.netns, addr],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        line = self.proc.stdout.readline()
        if "hubtap: up" not in line or time.monotonic() > deadline:
            self.close()
            raise RuntimeError(f"hubtap bridge did not come up: {line.strip()!r}")

    def popen(self, argv: list[str], **kw) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", self.netns, *argv], **kw)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        subprocess.run(["ip", "netns", "delete", self.netns], check=False)


if __name__ == "__main__":
    if len(sys.argv) != 6 or sys.argv[1] != "--bridge":
        sys.exit(__doc__)
    bridge(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
