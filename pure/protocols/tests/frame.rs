//! The received-frame checks: well-formed frames pass (with Ethernet's
//! padding), each kind of damage is named, and no input makes them panic.

#![cfg(not(loom))]

use protocols::frame::{Frame, MAX_FRAME, Malformed, check, internet_checksum, tcp_syn_port, transport_checksum};

mod common;
use common::{GUEST, HOST, ethernet};

fn ipv4(protocol: u8, segment: &[u8]) -> Vec<u8> {
    common::ipv4_from(HOST, GUEST, protocol, segment)
}

fn icmp_echo() -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    m.extend_from_slice(b"odonata ping");
    let c = internet_checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

fn tcp_syn() -> Vec<u8> {
    let mut s = vec![0xc0, 0x00, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0];
    let c = transport_checksum(HOST, GUEST, 6, &s);
    s[16..18].copy_from_slice(&c.to_be_bytes());
    s
}

fn udp(payload: &[u8], with_checksum: bool) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut s = vec![0xc0, 0x01, 0, 7, 0, 0, 0, 0];
    s[4..6].copy_from_slice(&len.to_be_bytes());
    s.extend_from_slice(payload);
    if with_checksum {
        let c = transport_checksum(HOST, GUEST, 17, &s);
        s[6..8].copy_from_slice(&c.to_be_bytes());
    }
    s
}

fn arp_request() -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1, 0x52, 0x55, 10, 0, 2, 2];
    a.extend_from_slice(&HOST);
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&GUEST);
    ethernet(0x0806, &a)
}

/// Pads a frame to Ethernet's 60-byte minimum, as senders do.
fn padded(mut f: Vec<u8>) -> Vec<u8> {
    f.resize(f.len().max(60), 0);
    f
}

#[test]
fn well_formed_frames_pass_with_or_without_padding() {
    assert_eq!(check(&arp_request()), Ok(Frame::Arp));
    assert_eq!(check(&padded(arp_request())), Ok(Frame::Arp));
    assert_eq!(check(&ethernet(0x0800, &ipv4(1, &icmp_echo()))), Ok(Frame::Ipv4(1)));
    assert_eq!(check(&padded(ethernet(0x0800, &ipv4(6, &tcp_syn())))), Ok(Frame::Ipv4(6)));
    assert_eq!(check(&ethernet(0x0800, &ipv4(17, &udp(b"hello", true)))), Ok(Frame::Ipv4(17)));
    assert_eq!(check(&padded(ethernet(0x0800, &ipv4(17, &udp(b"x", false))))), Ok(Frame::Ipv4(17)));
    // Odd lengths exercise the padded last byte of the checksum.
    assert_eq!(check(&ethernet(0x0800, &ipv4(17, &udp(b"odd", true)))), Ok(Frame::Ipv4(17)));
    assert_eq!(check(&ethernet(0x86dd, &[0; 40])), Ok(Frame::Other(0x86dd)));
    let big = ethernet(0x0800, &ipv4(17, &udp(&[7; MAX_FRAME - 14 - 28], true)));
    assert_eq!((big.len(), check(&big)), (MAX_FRAME, Ok(Frame::Ipv4(17))));
}

#[test]
fn each_kind_of_damage_is_named() {
    let echo = ethernet(0x0800, &ipv4(1, &icmp_echo()));
    let cases: Vec<(&str, Vec<u8>, Malformed)> = vec![
        ("a runt", vec![0xff; 10], Malformed::TooShort),
        ("a giant", ethernet(0x0800, &[0; 1600]), Malformed::TooLong),
        ("truncated ARP", ethernet(0x0806, &arp_request()[14..30]), Malformed::BadArp),
        (
            "ARP for another protocol",
            {
                let mut a = arp_request();
                a[16] = 0x86;
                a
            },
            Malformed::BadArp,
        ),
        (
            "IP version 6 in an IPv4 frame",
            {
                let mut f = echo.clone();
                f[14] = 0x65;
                f
            },
            Malformed::BadIpHeader,
        ),
        (
            "a 12-byte IP header",
            {
                let mut f = echo.clone();
                f[14] = 0x43;
                f
            },
            Malformed::BadIpHeader,
        ),
        (
            "a total length past the frame",
            {
                let mut f = echo.clone();
                f[17] += 40;
                f
            },
            Malformed::BadIpHeader,
        ),
        (
            "a wrong IP checksum",
            {
                let mut f = echo.clone();
                f[24] ^= 0x01;
                f
            },
            Malformed::BadIpChecksum,
        ),
        (
            "a wrong ICMP checksum",
            {
                let mut f = echo.clone();
                f[40] ^= 0x20;
                f
            },
            Malformed::BadTransportChecksum,
        ),
        (
            "a wrong TCP checksum",
            {
                let mut f = ethernet(0x0800, &ipv4(6, &tcp_syn()));
                f[34 + 4] ^= 0x80;
                f
            },
            Malformed::BadTransportChecksum,
        ),
        (
            "a TCP data offset past the segment",
            {
                let mut s = tcp_syn();
                s[12] = 0xf0;
                ethernet(0x0800, &ipv4(6, &s))
            },
            Malformed::BadTransportHeader,
        ),
        ("a 6-byte UDP segment", ethernet(0x0800, &ipv4(17, &[0, 1, 0, 7, 0, 6])), Malformed::BadTransportHeader),
        (
            "a UDP length past the packet",
            {
                let mut s = udp(b"hello", false);
                s[5] += 10;
                ethernet(0x0800, &ipv4(17, &s))
            },
            Malformed::BadTransportHeader,
        ),
        (
            "a wrong UDP checksum",
            {
                let mut s = udp(b"hello", true);
                s[9] ^= 0x04;
                ethernet(0x0800, &ipv4(17, &s))
            },
            Malformed::BadTransportChecksum,
        ),
    ];
    for (what, frame, reason) in cases {
        assert_eq!(check(&frame), Err(reason), "{what}");
    }
}

#[test]
fn fragments_are_judged_by_what_they_carry() {
    // A first fragment: the transport header must be there, its checksum
    // cannot be checked yet. A later fragment: the IP header only.
    let mut first = ipv4(17, &udp(&[1; 64], true));
    first[6] = 0x20;
    first[10..12].copy_from_slice(&[0, 0]);
    let c = internet_checksum(&first[..20]);
    first[10..12].copy_from_slice(&c.to_be_bytes());
    first[26] ^= 0xff; // the UDP checksum no longer matches: not judged
    assert_eq!(check(&ethernet(0x0800, &first)), Ok(Frame::Ipv4(17)));
    let mut later = ipv4(17, &[9; 24]);
    later[6..8].copy_from_slice(&3u16.to_be_bytes());
    later[10..12].copy_from_slice(&[0, 0]);
    let c = internet_checksum(&later[..20]);
    later[10..12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(check(&ethernet(0x0800, &later)), Ok(Frame::Ipv4(17)));
}

/// A TCP segment to port 80 with these flags (and a checksum).
fn tcp_with_flags(flags: u8) -> Vec<u8> {
    let mut s = tcp_syn();
    s[13] = flags;
    s[16..18].copy_from_slice(&[0, 0]);
    let c = transport_checksum(HOST, GUEST, 6, &s);
    s[16..18].copy_from_slice(&c.to_be_bytes());
    s
}

#[test]
fn only_a_connection_request_names_its_port() {
    let syn = padded(ethernet(0x0800, &ipv4(6, &tcp_syn())));
    assert_eq!(check(&syn), Ok(Frame::Ipv4(6)));
    assert_eq!(tcp_syn_port(&syn), Some(80));
    // SYN with ECN's flags is still a request.
    assert_eq!(tcp_syn_port(&ethernet(0x0800, &ipv4(6, &tcp_with_flags(0xc2)))), Some(80));
    // SYN-ACK, RST, a SYN with FIN or RST, a plain ACK: not requests.
    for flags in [0x12, 0x04, 0x03, 0x06, 0x10, 0x18] {
        let f = ethernet(0x0800, &ipv4(6, &tcp_with_flags(flags)));
        assert_eq!(check(&f), Ok(Frame::Ipv4(6)), "{flags:#x}");
        assert_eq!(tcp_syn_port(&f), None, "{flags:#x}");
    }
    assert_eq!(tcp_syn_port(&arp_request()), None);
    assert_eq!(tcp_syn_port(&ethernet(0x0800, &ipv4(17, &udp(b"hi", true)))), None);
    assert_eq!(tcp_syn_port(&ethernet(0x86dd, &ipv4(6, &tcp_syn()))), None);
    // A later fragment carries no TCP header, whatever its bytes.
    let mut later = ipv4(6, &tcp_syn());
    later[6..8].copy_from_slice(&3u16.to_be_bytes());
    assert_eq!(tcp_syn_port(&ethernet(0x0800, &later)), None);
    assert_eq!(tcp_syn_port(&[]), None);
}

#[test]
fn no_input_makes_the_check_panic() {
    // Random frames of every length, and good frames with random bytes
    // changed: whatever the verdict, it comes back.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let goods = [
        arp_request(),
        ethernet(0x0800, &ipv4(1, &icmp_echo())),
        ethernet(0x0800, &ipv4(6, &tcp_syn())),
        ethernet(0x0800, &ipv4(17, &udp(b"hi", true))),
    ];
    let mut verdicts = [0u32; 2];
    for i in 0..60_000 {
        let frame: Vec<u8> = if i % 2 == 0 {
            let len = (next() % 1600) as usize;
            (0..len).map(|_| next() as u8).collect()
        } else {
            let mut f = goods[i % goods.len()].clone();
            for _ in 0..1 + next() % 3 {
                let at = (next() as usize) % f.len();
                f[at] = next() as u8;
            }
            f.truncate(f.len() - (next() % 4) as usize);
            f
        };
        verdicts[usize::from(check(&frame).is_ok())] += 1;
        let _ = tcp_syn_port(&frame);
    }
    assert!(verdicts[0] > 0 && verdicts[1] > 0, "{verdicts:?}");
}
