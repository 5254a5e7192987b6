#!/usr/bin/env python3
"""Tern's TCP/IP against real peers (docs/network.md).

Configurations:
  qemu   QEMU/TCG, OVMF + tern.efi, an e1000 on a tap device whose other end
         is in a network namespace this script creates (tern-PID, Linux side
         10.0.3.1/24, Tern 10.0.3.15/24): Linux pings Tern, Tern pings Linux,
         net_send to a Python sink, a Python client to Tern's sink (a clean
         and a corrupted stream), hostile frames, `info network`.
  dhcp   QEMU/TCG with QEMU's user-mode network (restrict=on) and ip=dhcp:
         the address from its DHCP server, a ping to its gateway.
  bochs  two Tern instances under Bochs (VMX, the demo guest running) joined
         by bxhub, 10.0.5.1 and 10.0.5.2: ping, and net_send from one to the
         other's sink with the content verified. (bxhub itself answers ARP
         and DHCP for 10.0.2.x, hence another subnet.)

QEMU runs in the root namespace, so that its serial port stays on this
script's loopback: QEMU creates the tap (no address), the script moves it
into the namespace and configures it there. The root namespace never gets an
address or a route; the namespace is deleted afterwards, whatever happens.
Needs root (ip netns, /dev/net/tun) for qemu. The peers (sink, client, ping
fallback) are this same script in --peer mode, run inside the namespace.

One PASS/FAIL line per case, then `net: N passed, N failed`; exit 1 on
failure. Serial transcripts: build/test-logs/net-*.log.

Usage: net_tests.py --build build [--config qemu|dhcp|bochs]... [--bytes N]
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import random
import re
import selectors
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import ROOT, Machine, MachineError, grub_test_cfg  # noqa: E402
from suite import CaseFailed, Suite, check  # noqa: E402

BOOT_TIMEOUT = 180
CONSOLE_TIMEOUT = 60
TRANSFER_TIMEOUT = 300

LINUX_IP, TERN_IP = "10.0.3.1", "10.0.3.15"
BOCHS_IPS = ("10.0.5.1", "10.0.5.2")
SINK_PORT = 5001
TLS_SINK_PORT = 5002       # Tern's TLS sink
LINUX_TLS_PORT = 5003      # openssl s_server in the namespace
PSK, PSK_ID = "7e7a" * 8, "tern-test"   # the TLS streams use the console's key
TERN_PSK = f"netcon_psk={PSK} netcon_psk_id={PSK_ID}"
SINK_RX = (r"^net: tcp sink: (?P<bytes>\d+) bytes from (?P<peer>[\d.]+), pattern "
           r"(?P<verdict>ok|BAD at offset (?P<bad>\d+)), (?P<ms>\d+) ms, (?P<kib>\d+) KiB/s(?P<how>.*)\n")
SEND_RX = r"^net_send: (?P<bytes>\d+) bytes to (?P<peer>[\d.:]+) in (?P<ms>\d+) ms, (?P<kib>\d+) KiB/s\n"
SEND_FAIL_RX = r"^net_send: [\d.:]+: .* after \d+ of \d+ bytes\n"
TLS_SINK_RX = (r"^net: tls sink: (?P<bytes>\d+) bytes from (?P<peer>[\d.]+), pattern "
               r"(?P<verdict>ok|BAD at offset (?P<bad>\d+)), (?P<ms>\d+) ms, (?P<kib>\d+) KiB/s, "
               r"tls (?P<cpb>[\d.]+) cycles/byte(?P<how>.*)\n")
TLS_SEND_RX = (r"^net_send: (?P<bytes>\d+) bytes to (?P<peer>[\d.:]+) over TLS in (?P<ms>\d+) ms, "
               r"(?P<kib>\d+) KiB/s, tls (?P<cpb>[\d.]+) cycles/byte\n")

# ---- the test pattern (tern/tcp_pattern.h): SplitMix64 seeded with 0 ----

M64 = (1 << 64) - 1


def pattern_word(i: int) -> int:
    z = ((i + 1) * 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def pattern(offset: int, n: int) -> bytes:
    """Stream bytes [offset, offset + n)."""
    first, last = offset // 8, (offset + n + 7) // 8
    raw = b"".join(pattern_word(i).to_bytes(8, "little") for i in range(first, last))
    skip = offset - first * 8
    return raw[skip:skip + n]


# ---- peers: run inside the namespace as `net_tests.py --peer ...` ----

def peer_sink(host: str, port: int, expect: int, timeout: float) -> dict:
    """Accept one stream, check it against the pattern, report as JSON. The
    first `expect` bytes of the pattern are made before listening, so that
    Python's speed does not limit the measured rate."""
    ref = pattern(0, expect)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(1)
    ls.settimeout(timeout)
    print("ready", flush=True)
    c, addr = ls.accept()
    c.settimeout(timeout)
    t0 = time.monotonic()
    total, bad = 0, None
    while True:
        data = c.recv(1 << 16)
        if not data:
            break
        if bad is None:
            end = total + len(data)
            want = ref[total:end] if end <= len(ref) else pattern(total, len(data))
            if data != want:
                bad = total + next(i for i in range(len(data)) if data[i] != want[i])
        total += len(data)
    secs = time.monotonic() - t0
    c.close()
    return {"bytes": total, "bad": bad, "secs": secs, "peer": addr[0]}


def peer_send(host: str, port: int, nbytes: int, corrupt: int | None, timeout: float) -> dict:
    """Stream the pattern (one byte flipped at `corrupt`), close, wait for
    Tern's close. The stream is made before connecting (see peer_sink)."""
    data = bytearray(pattern(0, nbytes))
    if corrupt is not None and corrupt < nbytes:
        data[corrupt] ^= 0x5A
    s = socket.create_connection((host, port), timeout=timeout)
    t0 = time.monotonic()
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
    secs = time.monotonic() - t0
    s.close()
    return {"bytes": nbytes, "secs": secs}


def wait_listening(port: int, timeout: float) -> None:
    """Until something in this namespace listens on TCP port (/proc/net/tcp)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A" and int(f[1].split(":")[1], 16) == port:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


def peer_tls_sink(host: str, port: int, expect: int, psk: str, ident: str, timeout: float) -> dict:
    """openssl s_server takes one TLS 1.2 PSK stream (its stdin stays open: on
    EOF there it would hang up); its stdout is checked against the pattern."""
    ref = pattern(0, expect)
    p = subprocess.Popen(["openssl", "s_server", "-accept", f"{host}:{port}", "-nocert", "-psk", psk,
                          "-psk_identity", ident, "-tls1_2", "-quiet", "-naccept", "1"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_listening(port, 10)
    print("ready", flush=True)
    total, bad, t0 = 0, None, None
    while True:
        data = p.stdout.read1(1 << 16)
        if not data:
            break
        if t0 is None:
            t0 = time.monotonic()
        if bad is None:
            end = total + len(data)
            want = ref[total:end] if end <= len(ref) else pattern(total, len(data))
            if data != want:
                bad = total + next(i for i in range(min(len(data), len(want)))
                                   if data[i] != want[i])
        total += len(data)
    secs = time.monotonic() - (t0 or time.monotonic())
    p.stdin.close()
    p.wait(timeout)
    return {"bytes": total, "bad": bad, "secs": secs, "rc": p.returncode}


def peer_tls_send(host: str, port: int, nbytes: int, psk: str, ident: str, timeout: float) -> dict:
    """openssl s_client sends the pattern over TLS 1.2 PSK and closes."""
    data = pattern(0, nbytes)
    t0 = time.monotonic()
    r = subprocess.run(["openssl", "s_client", "-connect", f"{host}:{port}", "-psk", psk,
                        "-psk_identity", ident, "-tls1_2", "-quiet", "-no_ign_eof", "-nocommands"],
                       input=data, capture_output=True, timeout=timeout)
    return {"bytes": nbytes, "secs": time.monotonic() - t0, "rc": r.returncode,
            "err": r.stderr.decode(errors="replace")[-300:]}


def peer_junk(host: str, port: int, nbytes: int, seed: int, timeout: float) -> dict:
    """Connect, send nbytes of random bytes (no protocol at all), read until closed."""
    s = socket.create_connection((host, port), timeout=timeout)
    sent = 0
    try:
        s.sendall(random.Random(seed).randbytes(nbytes))
        sent = nbytes
        s.shutdown(socket.SHUT_WR)
        while s.recv(4096):
            pass
    except (ConnectionResetError, BrokenPipeError):
        pass
    s.close()
    return {"sent": sent}


def peer_many(host: str, port: int, conns: int, nbytes: int, timeout: float) -> dict:
    """Open conns streams at once (more than Tern's sink takes), send nbytes
    on each, close them; count those Tern reset. Tern resets a refused one
    right after the handshake, which on a fast machine is before Python's
    connect() has looked at the socket: that counts as a reset too."""
    socks: list[socket.socket | None] = []
    data, was_reset = pattern(0, nbytes), set()
    for k in range(conns):
        try:
            socks.append(socket.create_connection((host, port), timeout=timeout))
        except ConnectionResetError:
            socks.append(None)
            was_reset.add(k)
    for k, s in enumerate(socks):
        if s is None:
            continue
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except (ConnectionResetError, BrokenPipeError):
            was_reset.add(k)
        except OSError as e:
            # ENOTCONN: Tern's reset arrived after sendall handed the bytes
            # to the kernel and before shutdown (a loaded host widens that).
            if e.errno != errno.ENOTCONN:
                raise
            was_reset.add(k)
    for k, s in enumerate(socks):
        if s is None:
            continue
        try:
            while s.recv(4096):
                pass
        except ConnectionResetError:
            was_reset.add(k)
        s.close()
    return {"conns": conns, "reset": len(was_reset)}


def icmp_checksum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def peer_ping(host: str, count: int) -> dict:
    """ICMP echo with a raw socket, where the ping program is missing."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(2)
    ident, received = os.getpid() & 0xFFFF, 0
    for seq in range(count):
        body = bytes(range(56))
        hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        hdr = struct.pack("!BBHHH", 8, 0, icmp_checksum(hdr + body), ident, seq)
        s.sendto(hdr + body, (host, 0))
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                pkt, _ = s.recvfrom(2048)
            except socket.timeout:
                break
            ihl = (pkt[0] & 15) * 4
            t, _c, _s, i, q = struct.unpack("!BBHHH", pkt[ihl:ihl + 8])
            if t == 0 and i == ident and q == seq and pkt[ihl + 8:] == body:
                received += 1
                break
        time.sleep(0.2)
    return {"transmitted": count, "received": received}


def ipv4(src: bytes, dst: bytes, proto: int, body: bytes, rnd: random.Random) -> bytes:
    """An IPv4 header with a correct checksum in front of body."""
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), rnd.getrandbits(16), 0, 64,
                      proto, 0, src, dst)
    return hdr[:10] + struct.pack("!H", icmp_checksum(hdr)) + hdr[12:] + body


def peer_garbage(ifname: str, dst_mac: str, count: int, seed: int) -> dict:
    """Hostile frames to Tern's MAC: random bytes, truncated and oversized
    headers, bad checksums, IP options, TCP to closed and open ports."""
    rnd = random.Random(seed)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    dst = bytes.fromhex(dst_mac.replace(":", ""))
    src = s.getsockname()[4][:6]
    tern = socket.inet_aton(TERN_IP)
    me = socket.inet_aton(LINUX_IP)
    sent = 0
    for k in range(count):
        kind = k % 6
        if kind == 0:      # random payload, random ethertype
            body = rnd.randbytes(rnd.randint(0, 1500))
            frame = dst + src + rnd.randbytes(2) + body
        elif kind == 1:    # IPv4 header claiming more than there is
            ip = bytes([0x4F, 0, 0xFF, 0xFF]) + rnd.randbytes(16)
            frame = dst + src + b"\x08\x00" + ip[:rnd.randint(0, 20)]
        elif kind == 2:    # valid IPv4, TCP to the sink with random fields
            opts = rnd.randbytes(rnd.choice((0, 4, 12, 40)))
            payload = rnd.randbytes(rnd.randint(0, 60))
            tcp = struct.pack("!HHIIBBHHH", rnd.getrandbits(16), SINK_PORT, rnd.getrandbits(32),
                              rnd.getrandbits(32), rnd.randint(0, 15) << 4, rnd.getrandbits(8),
                              rnd.getrandbits(16), 0, rnd.getrandbits(16)) + opts + payload
            if k % 12 == 2:  # a correct checksum: into TCP's state machine
                pseudo = me + tern + struct.pack("!BBH", 0, 6, len(tcp))
                csum = icmp_checksum(pseudo + tcp)
                tcp = tcp[:16] + struct.pack("!H", csum) + tcp[18:]
            frame = dst + src + b"\x08\x00" + ipv4(me, tern, 6, tcp, rnd)
        elif kind == 3:    # ARP with random fields
            frame = dst + src + b"\x08\x06" + rnd.randbytes(rnd.randint(0, 40))
        elif kind == 4:    # fragments (Tern does not reassemble)
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, rnd.getrandbits(16), 0x2000 | rnd.getrandbits(13),
                             64, 1, 0, me, tern)
            frame = dst + src + b"\x08\x00" + ip + rnd.randbytes(8)
        else:              # valid IPv4; ICMP echo requests with a wrong checksum, random ICMP
            icmp = rnd.randbytes(rnd.randint(0, 80))
            if k % 12 == 5:
                body = b"\x08\x00" + rnd.randbytes(62)
                good = icmp_checksum(body[:2] + b"\0\0" + body[4:])
                bad = (good + 1 + rnd.getrandbits(15)) & 0xFFFF
                icmp = body[:2] + struct.pack("!H", bad) + body[4:]
            frame = dst + src + b"\x08\x00" + ipv4(me, tern, 1, icmp, rnd)
        try:
            s.send(frame[:1514])
            sent += 1
        except OSError:
            pass
    return {"sent": sent}


def peer_main(argv: list[str]) -> int:
    kind, *rest = argv
    if kind == "sink":
        r = peer_sink(rest[0], int(rest[1]), int(rest[2]), float(rest[3]))
    elif kind == "send":
        corrupt = None if rest[3] == "-" else int(rest[3])
        r = peer_send(rest[0], int(rest[1]), int(rest[2]), corrupt, float(rest[4]))
    elif kind == "ping":
        r = peer_ping(rest[0], int(rest[1]))
    elif kind == "tls-sink":
        r = peer_tls_sink(rest[0], int(rest[1]), int(rest[2]), rest[3], rest[4], float(rest[5]))
    elif kind == "tls-send":
        r = peer_tls_send(rest[0], int(rest[1]), int(rest[2]), rest[3], rest[4], float(rest[5]))
    elif kind == "junk":
        r = peer_junk(rest[0], int(rest[1]), int(rest[2]), int(rest[3]), float(rest[4]))
    elif kind == "many":
        r = peer_many(rest[0], int(rest[1]), int(rest[2]), int(rest[3]), float(rest[4]))
    elif kind == "garbage":
        r = peer_garbage(rest[0], rest[1], int(rest[2]), int(rest[3]))
    else:
        print(f"unknown peer {kind}", file=sys.stderr)
        return 2
    print(json.dumps(r), flush=True)
    return 0


# ---- the harness side ----

def linux_icmp_counts(ns: "Netns") -> tuple[int, int]:
    """The namespace's kernel counters: echo requests in, echo replies out."""
    lines = [l.split() for l in ns.run(["cat", "/proc/net/snmp"]).stdout.splitlines()
             if l.startswith("Icmp:")]
    row = dict(zip(lines[0][1:], map(int, lines[1][1:])))
    return row["InEchos"], row["OutEchoReps"]


def tern_icmp_counts(m: Machine) -> tuple[int, int]:
    """A Tern peer's lwIP ICMP counters (it receives only echo requests here)."""
    a = m.command("info network", r"^  icmp +rx (\d+) tx (\d+)", CONSOLE_TIMEOUT)
    return int(a.match.group(1)), int(a.match.group(2))


def pcap_icmp_echoes(path: Path, src: str, dst: str) -> tuple[int, int]:
    """From a QEMU filter-dump capture (Ethernet, IPv4): echo requests src->dst
    and echo replies dst->src."""
    data = path.read_bytes() if path.exists() else b""
    req = rep = 0
    off = 24  # the global header
    while off + 16 <= len(data):
        incl = int.from_bytes(data[off + 8:off + 12], "little")
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(frame) < 14 + 20 + 8 or frame[12:14] != b"\x08\x00" or frame[23] != 1:
            continue
        ihl = (frame[14] & 15) * 4
        s_ip = ".".join(map(str, frame[26:30]))
        d_ip = ".".join(map(str, frame[30:34]))
        kind = frame[14 + ihl]
        if kind == 8 and (s_ip, d_ip) == (src, dst):
            req += 1
        elif kind == 0 and (s_ip, d_ip) == (dst, src):
            rep += 1
    return req, rep


class Netns:
    """A network namespace of our own; deleted on exit whatever happened."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self) -> "Netns":
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        r = subprocess.run(["ip", "netns", "add", self.name], capture_output=True, text=True)
        if r.returncode:
            raise CaseFailed(f"ip netns add {self.name}: {r.stderr.strip()}")
        self.run(["ip", "link", "set", "lo", "up"])
        return self

    def __exit__(self, *exc) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    def argv(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name] + argv

    def run(self, argv: list[str], timeout: float = 60, check_rc: bool = True):
        r = subprocess.run(self.argv(argv), capture_output=True, text=True, timeout=timeout)
        if check_rc and r.returncode:
            raise CaseFailed(f"{' '.join(argv)}: {(r.stderr or r.stdout).strip()[-200:]}")
        return r

    def peer(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self.argv([sys.executable, str(Path(__file__).resolve()), "--peer",
                                           *args]), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)


def peer_result(p: subprocess.Popen, timeout: float) -> dict:
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise CaseFailed(f"the Linux peer did not finish within {timeout:.0f}s")
    lines = [l for l in out.splitlines() if l.startswith("{")]
    if p.returncode or not lines:
        raise CaseFailed(f"the Linux peer failed: {(err or out).strip()[-300:]}")
    return json.loads(lines[-1])


def with_peer(p: subprocess.Popen, during, timeout: float = 60):
    """Run during() (what Tern does and says) while the peer p works, then
    the peer's result; the peer never outlives the case."""
    try:
        seen = during()
        return seen, peer_result(p, timeout)
    finally:
        if p.poll() is None:
            p.kill()


def wait_ready(p: subprocess.Popen, timeout: float = 20) -> None:
    """The peer sink prints 'ready' once it listens."""
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        p.kill()
        raise CaseFailed("the Linux sink did not start listening")
    line = p.stdout.readline().strip()
    if line != "ready":
        p.kill()
        raise CaseFailed(f"the Linux sink said {line!r}: {p.stderr.read()[-300:]}")


class Runner(Suite):
    def __init__(self, build: Path, nbytes: int, bochs_bytes: int, verbose: bool):
        super().__init__("net", build, verbose)
        self.nbytes = nbytes
        self.bochs_bytes = bochs_bytes

    # ---- QEMU + namespace ----

    QEMU_CASES = ["qemu-boot", "qemu-linux-ping", "qemu-tern-ping", "qemu-net-send",
                  "qemu-sink", "qemu-sink-corrupt", "qemu-hostile-frames", "qemu-info",
                  "qemu-sink-limit", "qemu-tls-send", "qemu-tls-bad-peers", "qemu-tls-sink",
                  "qemu-shutdown"]

    def run_qemu(self) -> None:
        if os.geteuid() != 0 or not shutil.which("ip") or not Path("/dev/net/tun").exists():
            self.fail_all(self.QEMU_CASES, "needs root, iproute2 and /dev/net/tun")
            return
        esp = self.scratch / "net-qemu.img"
        r = subprocess.run(["bash", str(ROOT / "scripts" / "mkesp.sh"), str(esp),
                            str(self.build / "tern.efi"), "",
                            f"noguest ip={TERN_IP}/24 gw={LINUX_IP} {TERN_PSK}"],
                           capture_output=True, text=True)
        if r.returncode:
            self.fail_all(self.QEMU_CASES, f"mkesp.sh: {(r.stderr or r.stdout).strip()[-200:]}")
            return
        pid = os.getpid()
        tap = f"tnt{pid % 1000000}"
        mac = "52:54:00:7e:72:01"
        m = Machine("net-qemu", emulator="qemu", firmware="ovmf", esp=esp, log_dir=self.log_dir,
                    wall_timeout=1800,
                    extra_config=("-cpu", "max",  # RDRAND/RDSEED: TLS wants hardware entropy
                                  "-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no",
                                  "-device", f"e1000,netdev=n0,mac={mac}"))
        with Netns(f"tern-{pid}") as ns:
            try:
                booted = self.case("qemu-boot", self.qemu_boot, m, ns, tap)
                if not booted:
                    self.fail_all(self.QEMU_CASES[1:], "Tern did not come up on the network")
                    return
                self.case("qemu-linux-ping", self.qemu_linux_ping, ns)
                self.case("qemu-tern-ping", self.tern_ping, m, LINUX_IP, 3,
                          lambda: linux_icmp_counts(ns))
                self.case("qemu-net-send", self.qemu_net_send, m, ns)
                self.case("qemu-sink", self.qemu_sink, m, ns, None)
                self.case("qemu-sink-corrupt", self.qemu_sink, m, ns, 1234567)
                self.case("qemu-hostile-frames", self.qemu_hostile, m, ns, tap, mac)
                self.case("qemu-info", self.qemu_info, m)
                self.case("qemu-sink-limit", self.qemu_sink_limit, m, ns)
                self.case("qemu-tls-send", self.qemu_tls_send, m, ns)
                self.case("qemu-tls-bad-peers", self.qemu_tls_bad_peers, m, ns)
                self.case("qemu-tls-sink", self.qemu_tls_sink, m, ns)
                self.case("qemu-shutdown", self.shutdown, m)
            finally:
                m.close()
                subprocess.run(["ip", "link", "del", tap], capture_output=True)

    def qemu_boot(self, m: Machine, ns: Netns, tap: str) -> str:
        m.start()
        deadline = time.monotonic() + 30
        while not Path(f"/sys/class/net/{tap}").exists():
            check(time.monotonic() < deadline and m.running(), "QEMU did not create the tap")
            time.sleep(0.1)
        r = subprocess.run(["ip", "link", "set", tap, "netns", ns.name], capture_output=True, text=True)
        check(r.returncode == 0, f"moving the tap into {ns.name}: {r.stderr.strip()}")
        ns.run(["ip", "addr", "add", f"{LINUX_IP}/24", "dev", tap])
        ns.run(["ip", "link", "set", tap, "up"])
        m.expect(r"^tern: ", BOOT_TIMEOUT, "Tern's first line")
        a = m.expect(r"^net: (address [\d.]+ .*|.*networking off)\n", BOOT_TIMEOUT, "the network's start")
        check(a.group(1).startswith(f"address {TERN_IP} netmask 255.255.255.0 gateway {LINUX_IP}"),
              f"net said: {a.group(1)}")
        m.expect(r"console ready", BOOT_TIMEOUT, "the console")
        return a.group(1)

    def qemu_linux_ping(self, ns: Netns) -> str:
        if shutil.which("ping"):
            r = ns.run(["ping", "-c", "3", "-i", "0.5", "-W", "3", TERN_IP], check_rc=False)
            check(r.returncode == 0 and " 3 received" in r.stdout,
                  f"ping: {(r.stdout + r.stderr).strip().splitlines()[-2:]}")
            rtt = re.search(r"= ([\d.]+/[\d.]+/[\d.]+)", r.stdout)
            return f"3/3 replies, rtt min/avg/max {rtt.group(1)} ms" if rtt else "3/3 replies"
        p = ns.peer("ping", TERN_IP, "3")
        res = peer_result(p, 30)
        check(res["received"] == 3, f"{res['received']} of 3 echo replies (raw socket)")
        return "3/3 replies (raw-socket ping; install iputils-ping for ping(8))"

    def tern_ping(self, m: Machine, addr: str, count: int, peer_counts) -> str:
        """Tern pings addr; the verdict is the peer's: its own count of echo
        requests received and replies sent (peer_counts() -> (requests,
        replies)), which must match what Tern's summary claims."""
        before = peer_counts()
        m.command(f"ping {addr} {count}", r"^PING ", CONSOLE_TIMEOUT)
        s = m.expect(rf"^ping: {re.escape(addr)}: (\d+) transmitted, (\d+) received, .*\n",
                     count + 30, "the ping summary")
        check(s.group(1) == str(count) and s.group(2) == str(count), s.group(0).strip())
        after = peer_counts()
        got = (after[0] - before[0], after[1] - before[1])
        check(got == (count, count), f"Tern says {count}/{count}, the peer saw {got[0]} echo "
              f"requests and sent {got[1]} replies")
        rtt = re.search(r"rtt min/avg/max (\S+) us", s.group(0))
        note = f"{count}/{count} replies, as the peer counted them"
        if rtt:
            note += f", rtt min/avg/max {rtt.group(1)} us"
        self.figures.append(f"{m.name}: ping {addr}: {note}")
        return note

    def qemu_net_send(self, m: Machine, ns: Netns) -> str:
        p = ns.peer("sink", LINUX_IP, str(SINK_PORT), str(self.nbytes), str(TRANSFER_TIMEOUT))

        def during():
            wait_ready(p)
            m.command(f"net_send {LINUX_IP} {SINK_PORT} {self.nbytes}", r"^net_send: connecting",
                      CONSOLE_TIMEOUT)
            return m.expect(rf"({SEND_RX})|({SEND_FAIL_RX})", TRANSFER_TIMEOUT, "net_send's result")
        d, res = with_peer(p, during)
        check(d.group("bytes") is not None, d.group(0).strip())
        check(int(d.group("bytes")) == self.nbytes, d.group(0).strip())
        check(res["bytes"] == self.nbytes, f"the Linux sink got {res['bytes']} of {self.nbytes} bytes")
        check(res["bad"] is None, f"the Linux sink found a wrong byte at offset {res['bad']}")
        py = self.nbytes / 1024 / max(res["secs"], 1e-9)
        note = (f"{self.nbytes} bytes Tern -> Linux, pattern ok; Tern: {d.group('ms')} ms, "
                f"{d.group('kib')} KiB/s; Linux sink: {res['secs'] * 1000:.0f} ms, {py:.0f} KiB/s")
        self.figures.append(f"qemu net_send: {note}")
        return note

    def qemu_sink(self, m: Machine, ns: Netns, corrupt: int | None) -> str:
        nbytes = self.nbytes
        p = ns.peer("send", TERN_IP, str(SINK_PORT), str(nbytes), "-" if corrupt is None else str(corrupt),
                    str(TRANSFER_TIMEOUT))
        d, res = with_peer(p, lambda: m.expect(SINK_RX, TRANSFER_TIMEOUT, "the sink's report"))
        check(d.group("peer") == LINUX_IP, d.group(0).strip())
        check(int(d.group("bytes")) == nbytes, f"{d.group(0).strip()} (sent {nbytes})")
        if corrupt is None:
            check(d.group("verdict") == "ok" and not d.group("how"), d.group(0).strip())
            py = nbytes / 1024 / max(res["secs"], 1e-9)
            note = (f"{nbytes} bytes Linux -> Tern, pattern ok; Tern: {d.group('ms')} ms, "
                    f"{d.group('kib')} KiB/s; Linux client: {res['secs'] * 1000:.0f} ms, {py:.0f} KiB/s")
            self.figures.append(f"qemu sink: {note}")
            return note
        check(d.group("bad") == str(corrupt), f"{d.group(0).strip()} (corrupted at {corrupt})")
        return f"corruption reported at offset {corrupt}"

    def qemu_hostile(self, m: Machine, ns: Netns, tap: str, mac: str) -> str:
        before = self.counters(m)
        p = ns.peer("garbage", tap, mac, "3000", "7")
        res = peer_result(p, 120)
        check(res["sent"] > 2500, f"only {res['sent']} hostile frames went out")
        # Still alive and serving: a ping from Linux and a short clean stream.
        self.qemu_linux_ping(ns)
        after = self.counters(m)
        grew = [k for k in ("ip_chkerr", "tcp_chkerr", "icmp_chkerr", "tcp_drop")
                if after.get(k, 0) > before.get(k, 0)]
        check(len(grew) == 4, f"these counters did not grow: "
              f"{set(('ip_chkerr', 'tcp_chkerr', 'icmp_chkerr', 'tcp_drop')) - set(grew)}")
        return f"{res['sent']} malformed frames absorbed (IP/TCP/ICMP checksum errors counted), still answering"

    @staticmethod
    def counters(m: Machine) -> dict:
        ans = m.command("info network", r"^network: on", CONSOLE_TIMEOUT)
        out = {}
        for line in ans.text.splitlines():
            f = line.split()
            if len(f) > 2 and f[0] in ("link", "arp", "ip", "icmp", "udp", "tcp") and f[1] == "rx":
                for key, val in zip(f[1::2], f[2::2]):
                    if val.isdigit():
                        out[f"{f[0]}_{key}"] = int(val)
        return out

    def qemu_info(self, m: Machine) -> str:
        ans = m.command("info network", r"^network: on", CONSOLE_TIMEOUT)
        t = ans.text
        check(re.search(rf"^\s+address {TERN_IP} netmask 255\.255\.255\.0 gateway {LINUX_IP} \(static\)",
                        t, re.M) is not None, "no address line")
        check(re.search(r"MAC 52:54:00:7e:72:01, link up", t) is not None, "no MAC/link line")
        check(re.search(r"tcp sink: port 5001, 0 open, 2 streams done \(1 bad\)", t) is not None,
              "the sink's counters are not 2 streams, 1 bad")
        m.command("ping 300.1.1.1", r"^error: ping wants", CONSOLE_TIMEOUT)
        m.command("ping 10.0.3.1 0", r"^error: ping sends", CONSOLE_TIMEOUT)
        m.command("net_send 10.0.3.1 0 10", r"^error: net_send wants", CONSOLE_TIMEOUT)
        m.command("net_send 10.0.3.1 5001 0", r"^error: net_send sends", CONSOLE_TIMEOUT)
        m.command("net_send 10.0.3.1 5001 10 tcp", r"^error: net_send's last word may only be 'tls'",
                  CONSOLE_TIMEOUT)
        # Nobody listens on port 5002 in the namespace: Linux resets.
        m.command(f"net_send {LINUX_IP} 5002 1000", r"^net_send: connecting", CONSOLE_TIMEOUT)
        m.expect(r"^net_send: [\d.]+:5002: connection refused after 0 of 1000 bytes\n", 30,
                 "'connection refused'")
        return "counters and argument checks ok"

    def qemu_sink_limit(self, m: Machine, ns: Netns) -> str:
        """Six streams at once: the sink serves four, resets the others, and
        its counters say so."""
        mark = m.mark()
        res = peer_result(ns.peer("many", TERN_IP, str(SINK_PORT), "6", "10000", "60"), 90)
        deadline = time.monotonic() + 30
        while len(re.findall(SINK_RX, m.text_since(mark), re.M)) < 4:
            check(time.monotonic() < deadline, "fewer than four sink reports")
            time.sleep(0.2)
        reports = list(re.finditer(SINK_RX, m.text_since(mark), re.M))
        check(len(reports) == 4, f"{len(reports)} sink reports for 4 accepted streams")
        check(all(r.group("verdict") == "ok" and r.group("bytes") == "10000" for r in reports),
              "a stream was not 10000 good bytes")
        check(res["reset"] == 2, f"{res['reset']} of 6 connections were reset (want 2)")
        m.command("info network", r"tcp sink: port 5001, 0 open, 6 streams done \(1 bad\), 2 refused",
                  CONSOLE_TIMEOUT)
        return "4 served, 2 refused"

    def qemu_tls_send(self, m: Machine, ns: Netns) -> str:
        """net_send ... tls to openssl s_server: every byte checked on Linux."""
        n = self.nbytes
        p = ns.peer("tls-sink", LINUX_IP, str(LINUX_TLS_PORT), str(n), PSK, PSK_ID,
                    str(TRANSFER_TIMEOUT))

        def during():
            wait_ready(p)
            m.command(f"net_send {LINUX_IP} {LINUX_TLS_PORT} {n} tls",
                      r"^net_send: connecting to .* over TLS", CONSOLE_TIMEOUT)
            return m.expect(rf"({TLS_SEND_RX})|({SEND_FAIL_RX})", TRANSFER_TIMEOUT, "net_send's result")
        d, res = with_peer(p, during)
        check(d.group("bytes") is not None, d.group(0).strip())
        check(res["bytes"] == n, f"openssl s_server got {res['bytes']} of {n} bytes")
        check(res["bad"] is None, f"openssl s_server got a wrong byte at offset {res['bad']}")
        note = (f"{n} bytes Tern -> Linux over TLS, pattern ok; Tern: {d.group('ms')} ms, "
                f"{d.group('kib')} KiB/s, tls {d.group('cpb')} cycles/byte")
        self.figures.append(f"qemu tls net_send: {note}")
        return note

    def qemu_tls_bad_peers(self, m: Machine, ns: Netns) -> str:
        """A client with another key, then one sending junk: refused, logged,
        counted; Tern carries on."""
        res = peer_result(ns.peer("tls-send", TERN_IP, str(TLS_SINK_PORT), "1000", "0badc0de" * 4,
                                  PSK_ID, "60"), 90)
        check(res["rc"] != 0, "openssl s_client with a wrong key succeeded")
        f = m.expect(r"^net: tls sink: ([\d.]+): TLS handshake failed: (.*)\n", 30,
                     "the refused handshake in the log")
        check(f.group(1) == LINUX_IP and f.group(2).startswith("wrong key"), f.group(0).strip())
        # 64 KiB of random bytes instead of a ClientHello.
        peer_result(ns.peer("junk", TERN_IP, str(TLS_SINK_PORT), "65536", "11", "60"), 90)
        g = m.expect(r"^net: tls sink: ([\d.]+): TLS handshake failed: (.*)\n", 30,
                     "the junk's refusal in the log")
        check(g.group(2).startswith("not a TLS 1.2 client"), g.group(0).strip())
        m.command("info network", r"tls sink: port 5002, 0 open, \d+ streams done \(0 bad\), "
                  r"0 refused, 2 failed handshakes", CONSOLE_TIMEOUT)
        return f"{f.group(2)}; junk: {g.group(2)}"

    def qemu_tls_sink(self, m: Machine, ns: Netns) -> str:
        """openssl s_client streams the pattern into Tern's TLS sink."""
        n = self.nbytes
        p = ns.peer("tls-send", TERN_IP, str(TLS_SINK_PORT), str(n), PSK, PSK_ID,
                    str(TRANSFER_TIMEOUT))
        d, res = with_peer(p, lambda: m.expect(TLS_SINK_RX, TRANSFER_TIMEOUT, "the TLS sink's report"))
        check(res["rc"] == 0, f"openssl s_client failed: {res['err']}")
        check(d.group("peer") == LINUX_IP and int(d.group("bytes")) == n and
              d.group("verdict") == "ok" and not d.group("how"), f"{d.group(0).strip()} (sent {n})")
        note = (f"{n} bytes Linux -> Tern over TLS, pattern ok; Tern: {d.group('ms')} ms, "
                f"{d.group('kib')} KiB/s, tls {d.group('cpb')} cycles/byte")
        self.figures.append(f"qemu tls sink: {note}")
        return note

    def shutdown(self, m: Machine) -> str:
        m.send_line("shutdown")
        status = m.wait_exit(60)
        check(status in (0, 1), f"emulator status {status} after shutdown")
        return ""

    def shutdown_all(self, machines: list[Machine]) -> str:
        for x in machines:
            self.shutdown(x)
        return ""

    # ---- DHCP: QEMU's user-mode network (restrict=on: no way out of it) ----

    DHCP_CASES = ["qemu-dhcp", "qemu-dhcp-ping"]

    def run_dhcp(self) -> None:
        esp = self.scratch / "net-dhcp.img"
        r = subprocess.run(["bash", str(ROOT / "scripts" / "mkesp.sh"), str(esp),
                            str(self.build / "tern.efi"), "", "noguest ip=dhcp"],
                           capture_output=True, text=True)
        if r.returncode:
            self.fail_all(self.DHCP_CASES, f"mkesp.sh: {(r.stderr or r.stdout).strip()[-200:]}")
            return
        pcap = self.scratch / "net-dhcp.pcap"
        m = Machine("net-dhcp", emulator="qemu", firmware="ovmf", esp=esp, log_dir=self.log_dir,
                    wall_timeout=600,
                    extra_config=("-netdev", "user,id=n0,restrict=on",
                                  "-device", "e1000,netdev=n0,mac=52:54:00:7e:72:02",
                                  # What crossed the wire, for the ping's verdict.
                                  "-object", f"filter-dump,id=d0,netdev=n0,file={pcap}"))
        try:
            if not self.case("qemu-dhcp", self.dhcp_boot, m):
                self.fail_all(self.DHCP_CASES[1:], "no address from DHCP")
                return
            self.case("qemu-dhcp-ping", self.tern_ping, m, "10.0.2.2", 2,
                      lambda: pcap_icmp_echoes(pcap, "10.0.2.15", "10.0.2.2"))
            self.shutdown(m)
        finally:
            m.close()

    def dhcp_boot(self, m: Machine) -> str:
        m.start()
        m.expect(r"^tern: ", BOOT_TIMEOUT, "Tern's first line")
        m.expect(r"^net: .*asking for an address with DHCP\n", BOOT_TIMEOUT, "DHCP starting")
        a = m.expect(r"^net: address ([\d.]+) netmask ([\d.]+) gateway (\S+) \(DHCP\)\n", 60,
                     "an address from DHCP")
        # restrict=on: QEMU's DHCP server offers no router
        check(a.group(1) == "10.0.2.15" and a.group(2) == "255.255.255.0"
              and a.group(3) in ("10.0.2.2", "none"), a.group(0).strip())
        m.command("info network", r"^\s+address 10\.0\.2\.15 .*\(DHCP\)", CONSOLE_TIMEOUT)
        # No netcon_psk on this boot: no TLS sink, and net_send ... tls says why.
        m.command("net_send 10.0.2.2 5002 10 tls", r"^error: net_send \.\.\. tls needs the TLS key",
                  CONSOLE_TIMEOUT)
        return a.group(0).strip()

    # ---- two Bochs machines on bxhub ----

    BOCHS_CASES = ["bochs-boot", "bochs-ping", "bochs-net-send", "bochs-tls-send", "bochs-shutdown"]

    def run_bochs(self) -> None:
        if not shutil.which("bxhub"):
            self.fail_all(self.BOCHS_CASES, "bxhub (package bochs) missing")
            return
        iso = self.build / "tern.iso"
        base = free_udp_base()
        hub = subprocess.Popen(["bxhub", "-ports=2", f"-base={base}"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        machines = []
        try:
            for i, ip in enumerate(BOCHS_IPS):
                cfg = grub_test_cfg("demo", f"guest=demo ip={ip}/24 {TERN_PSK}")
                machines.append(Machine(
                    f"net-bochs-{i}", iso=iso, test_cfg=cfg, log_dir=self.log_dir, wall_timeout=1800,
                    extra_config=("pci: enabled=1, chipset=i440fx, slot1=e1000",
                                  f"e1000: enabled=1, mac=52:54:00:7e:72:{0x10 + i:02x}, "
                                  f"ethmod=socket, ethdev={base + 2 * i}")))
            a, b = machines
            if not self.case("bochs-boot", self.bochs_boot, machines):
                self.fail_all(self.BOCHS_CASES[1:], "the two machines did not come up")
                return
            self.case("bochs-ping", self.tern_ping, a, BOCHS_IPS[1], 3, lambda: tern_icmp_counts(b))
            self.case("bochs-net-send", self.bochs_net_send, a, b, False)
            self.case("bochs-tls-send", self.bochs_net_send, a, b, True)
            self.case("bochs-shutdown", self.shutdown_all, machines)
        finally:
            for x in machines:
                x.close()
            hub.terminate()
            hub.wait(10)

    def bochs_boot(self, machines: list[Machine]) -> str:
        for x in machines:
            x.start()
        for x, ip in zip(machines, BOCHS_IPS):
            x.expect(r"^tern: ", BOOT_TIMEOUT, "Tern's first line")
            a = x.expect(r"^net: (address [\d.]+ .*|.*networking off)\n", BOOT_TIMEOUT, "the network's start")
            check(a.group(1).startswith(f"address {ip} "), f"{x.name}: net said: {a.group(1)}")
            x.expect(r"console ready", BOOT_TIMEOUT, "the console")
            x.expect(r"^vm0\| demo: round", BOOT_TIMEOUT, "the demo guest running")
        return "two Terns with the demo guest running"

    def bochs_net_send(self, a: Machine, b: Machine, tls: bool) -> str:
        """net_send from a to b's sink (plain, or TLS to the TLS sink), checked there."""
        n = self.bochs_bytes
        port, send_rx, sink_rx = ((TLS_SINK_PORT, TLS_SEND_RX, TLS_SINK_RX) if tls
                                  else (SINK_PORT, SEND_RX, SINK_RX))
        a.command(f"net_send {BOCHS_IPS[1]} {port} {n}{' tls' if tls else ''}", r"^net_send: connecting",
                  CONSOLE_TIMEOUT)
        d = a.expect(rf"({send_rx})|({SEND_FAIL_RX})", TRANSFER_TIMEOUT, "net_send's result")
        check(d.group("bytes") is not None, d.group(0).strip())
        s = b.expect(sink_rx, 60, "the sink's report")
        check(s.group("peer") == BOCHS_IPS[0], s.group(0).strip())
        check(int(s.group("bytes")) == n and s.group("verdict") == "ok" and not s.group("how"),
              s.group(0).strip())

        def side(x: re.Match) -> str:
            cost = f", tls {x.group('cpb')} cycles/byte" if tls else ""
            return f"{x.group('ms')} ms, {x.group('kib')} KiB/s{cost}"
        note = f"{n} bytes{' over TLS' if tls else ''}, pattern ok; sender {side(d)}; sink {side(s)}"
        self.figures.append(f"bochs {'tls ' if tls else ''}net_send: {note}")
        return note


def free_udp_base(n: int = 4) -> int:
    """n consecutive UDP ports on loopback that are free now (bxhub's base:
    two per port of the hub)."""
    for _ in range(50):
        base = random.randrange(20000, 60000, 8)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise CaseFailed("no free UDP ports for bxhub")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--peer":
        return peer_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="the build folder (default: build)")
    ap.add_argument("--config", action="append", choices=("qemu", "dhcp", "bochs"),
                    help="run only this configuration (repeatable)")
    ap.add_argument("--bytes", type=int, default=4 << 20, help="QEMU stream size (default 4 MiB)")
    ap.add_argument("--bochs-bytes", type=int, default=2 << 20, help="Bochs stream size (default 2 MiB)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="on failure, also print the end of the serial transcript")
    args = ap.parse_args()
    build = Path(args.build)
    if not build.is_absolute():
        build = (Path.cwd() / build).resolve()
    for f in ("tern.efi", "tern.iso"):
        if not (build / f).exists():
            print(f"net_tests: {build / f} missing (run make)", file=sys.stderr)
            print("net: 0 passed, 1 failed")
            return 1
    r = Runner(build, args.bytes, args.bochs_bytes, args.verbose)
    return r.run({"qemu": r.run_qemu, "dhcp": r.run_dhcp, "bochs": r.run_bochs},
                 args.config or ["qemu", "dhcp", "bochs"])

if __name__ == "__main__":
    sys.exit(main())
