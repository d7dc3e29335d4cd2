#!/usr/bin/env python3
"""The other end of the guest's Ethernet link: QEMU's `dgram` netdev sends
each frame the guest transmits to this script's UDP port on 127.0.0.1 and
takes each datagram it gets as a frame for the guest.

The script finds the guest (its DHCP requests name its MAC; ARP for
10.0.2.15 answers once the static fallback is up), checks that ICMP echo,
TCP (a SYN to port 80 gets a SYN-ACK) and UDP echo (port 7) work, then
sends malformed frames, each of which the guest must drop without an
answer, each followed by a ping that must be answered. Checksums here are
computed independently of the kernel's code.

Usage: raw_frames.py OUR_PORT QEMU_PORT
Prints `expect REASON=N ...` (what the guest's `net` must count) last."""

import socket
import struct
import sys
import time

OUR_MAC = bytes.fromhex("525500000202")
OUR_IP = bytes([10, 0, 2, 2])
GUEST_IP = bytes([10, 0, 2, 15])
BROADCAST = b"\xff" * 6


def fail(why):
    print(f"raw: FAILED: {why}", flush=True)
    sys.exit(1)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def eth(dst, ethertype, payload):
    return dst + OUR_MAC + struct.pack("!H", ethertype) + payload


def ipv4(proto, segment, ident=1):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(segment), ident, 0, 64, proto, 0, OUR_IP, GUEST_IP)
    header = header[:10] + struct.pack("!H", csum(header)) + header[12:]
    return header + segment


def icmp_echo(ident, seq, data=b"odonata raw ping"):
    m = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]


def pseudo(proto, segment):
    return OUR_IP + GUEST_IP + struct.pack("!BBH", 0, proto, len(segment))


def tcp_syn(sport, dport=80, seq=1000):
    s = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 0x50, 0x02, 65535, 0, 0)
    return s[:16] + struct.pack("!H", csum(pseudo(6, s) + s)) + s[18:]


def tcp_rst(sport, dport, seq):
    s = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 0x50, 0x04, 0, 0, 0)
    return s[:16] + struct.pack("!H", csum(pseudo(6, s) + s)) + s[18:]


def udp(sport, dport, payload):
    s = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return s[:6] + struct.pack("!H", csum(pseudo(17, s) + s) or 0xFFFF) + s[8:]


def main():
    our_port, qemu_port = int(sys.argv[1]), int(sys.argv[2])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", our_port))
    qemu = ("127.0.0.1", qemu_port)
    start = time.monotonic()

    def send(frame):
        sock.sendto(frame, qemu)

    def frames(until):
        """Frames from the guest until the deadline."""
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return
            sock.settimeout(left)
            try:
                data, _ = sock.recvfrom(4096)
            except socket.timeout:
                return
            yield data

    def wait_for(match, seconds):
        """The first frame `match` accepts within `seconds`, and every frame
        seen before it (or all seen, and None)."""
        seen = []
        for f in frames(time.monotonic() + seconds):
            if match(f):
                return f, seen
            seen.append(f)
        return None, seen

    # The guest's MAC, from its first frame (DHCP discover or ARP).
    first, _ = wait_for(lambda f: len(f) >= 14, 120)
    if first is None:
        fail("the guest sent nothing")
    guest_mac = first[6:12]
    print(f"raw: guest MAC {guest_mac.hex(':')} after {time.monotonic() - start:.1f} s", flush=True)

    def is_arp_reply(f):
        return len(f) >= 42 and f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x02" and f[28:32] == GUEST_IP

    arp_request = eth(BROADCAST, 0x0806, struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, OUR_MAC, OUR_IP, b"\0" * 6, GUEST_IP))
    deadline = time.monotonic() + 120
    while True:
        send(arp_request)
        reply, _ = wait_for(is_arp_reply, 0.5)
        if reply is not None:
            break
        if time.monotonic() > deadline:
            fail("no ARP reply for 10.0.2.15")
    print(f"raw: ARP reply from 10.0.2.15 after {time.monotonic() - start:.1f} s", flush=True)

    def to_guest(ethertype, payload):
        return eth(guest_mac, ethertype, payload)

    def is_echo_reply(ident, seq):
        def m(f):
            return (len(f) >= 42 and f[12:14] == b"\x08\x00" and f[23] == 1 and f[34] == 0
                    and struct.unpack("!HH", f[38:42]) == (ident, seq))
        return m

    seq = [0]

    def ping(why):
        seq[0] += 1
        t = time.monotonic()
        send(to_guest(0x0800, ipv4(1, icmp_echo(0x0DA7, seq[0]))))
        reply, seen = wait_for(is_echo_reply(0x0DA7, seq[0]), 10)
        if reply is None:
            fail(f"no answer to a ping {why}")
        return (time.monotonic() - t) * 1000, seen

    print(f"raw: ping answered in {ping('before anything else')[0]:.1f} ms", flush=True)

    def is_tcp_from_80(sport, flags):
        return lambda f: (len(f) >= 54 and f[12:14] == b"\x08\x00" and f[23] == 6
                          and struct.unpack("!HH", f[34:38]) == (80, sport) and f[47] & flags == flags)

    def is_udp_echo(sport, payload):
        return lambda f: (len(f) >= 42 and f[12:14] == b"\x08\x00" and f[23] == 17
                          and struct.unpack("!HH", f[34:38]) == (7, sport) and payload in f[42:])

    # Well-formed TCP and UDP work, so their damaged twins below are dropped
    # for their damage.
    send(to_guest(0x0800, ipv4(6, tcp_syn(40000))))
    syn_ack, _ = wait_for(is_tcp_from_80(40000, 0x12), 10)
    if syn_ack is None:
        fail("no SYN-ACK to a well-formed SYN to port 80")
    send(to_guest(0x0800, ipv4(6, tcp_rst(40000, 80, 1001))))
    send(to_guest(0x0800, ipv4(17, udp(40001, 7, b"raw udp echo"))))
    echo, _ = wait_for(is_udp_echo(40001, b"raw udp echo"), 10)
    if echo is None:
        fail("no UDP echo from port 7")
    print("raw: a SYN to port 80 got a SYN-ACK, UDP echo answered", flush=True)

    def flip(data, at, mask=0x01):
        b = bytearray(data)
        b[at] ^= mask
        return bytes(b)

    good_echo = ipv4(1, icmp_echo(0xBAD0, 1))
    arp_body = arp_request[14:]
    syn = ipv4(6, tcp_syn(40002))
    long_offset = bytearray(tcp_syn(40002))
    long_offset[12] = 0xF0
    u = udp(40003, 7, b"must not come back")
    cases = [
        # (what, frame, reason the guest counts, an answer that must not come)
        ("a 10-byte runt", to_guest(0x0800, b"")[:10], "too_short", lambda f: False),
        ("a 1600-byte frame", to_guest(0x0800, ipv4(17, udp(40004, 7, b"x" * 1558))), "too_long", is_udp_echo(40004, b"xxxx")),
        ("a truncated ARP request", to_guest(0x0806, arp_body[:20]), "bad_arp", is_arp_reply),
        ("ARP for another protocol", to_guest(0x0806, flip(arp_body, 2, 0x86)), "bad_arp", is_arp_reply),
        ("an IPv4 header of version 5", to_guest(0x0800, flip(good_echo, 0, 0x10)), "bad_ip_header", is_echo_reply(0xBAD0, 1)),
        ("an IPv4 total length past the frame", to_guest(0x0800, flip(good_echo, 3, 0x40)), "bad_ip_header", is_echo_reply(0xBAD0, 1)),
        ("a wrong IPv4 header checksum", to_guest(0x0800, flip(good_echo, 10)), "bad_ip_checksum", is_echo_reply(0xBAD0, 1)),
        ("a wrong ICMP checksum", to_guest(0x0800, flip(good_echo, 22)), "bad_transport_checksum", is_echo_reply(0xBAD0, 1)),
        ("a wrong TCP checksum on a SYN to port 80", to_guest(0x0800, flip(syn, 36)), "bad_transport_checksum", is_tcp_from_80(40002, 0)),
        ("a TCP data offset past the segment", to_guest(0x0800, ipv4(6, bytes(long_offset))), "bad_transport_header", is_tcp_from_80(40002, 0)),
        ("a UDP length past the packet", to_guest(0x0800, ipv4(17, u[:4] + struct.pack("!H", len(u) + 20) + u[6:])), "bad_transport_header", is_udp_echo(40003, b"must not")),
        ("a wrong UDP checksum to port 7", to_guest(0x0800, ipv4(17, flip(u, 7))), "bad_transport_checksum", is_udp_echo(40003, b"must not")),
    ]
    expect = {}
    for what, frame, reason, answer in cases:
        send(frame)
        ms, seen = ping(f"after {what}")
        # An answer to the damaged frame would have come before the ping's;
        # look a little longer for a late one too.
        late, _ = wait_for(answer, 0.2)
        if late is not None or any(answer(f) for f in seen):
            fail(f"the guest answered {what}")
        expect[reason] = expect.get(reason, 0) + 1
        print(f"raw: {what}: dropped, and the next ping answered in {ms:.1f} ms", flush=True)
    print(f"raw: done after {time.monotonic() - start:.1f} s", flush=True)
    print("expect " + " ".join(f"{k}={v}" for k, v in sorted(expect.items())), flush=True)


main()
