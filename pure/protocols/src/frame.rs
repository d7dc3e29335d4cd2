//! What a network driver checks in a received Ethernet frame before its
//! stack sees it, so a malformed frame is counted by what is wrong with it
//! and dropped, instead of vanishing inside the stack.
//!
//! [`check`] looks at the headers the stack will read and at every
//! checksum it would verify: ARP's fixed fields; IPv4's version, header
//! length, total length and header checksum; and, in an unfragmented (or
//! first) IPv4 packet, the TCP, UDP and ICMP header lengths and checksums
//! (a UDP checksum of zero means none). Since the checksums are verified
//! here, the stack can be told to trust received ones (smoltcp's
//! `ChecksumCapabilities` set to transmit only): each is computed once.
//!
//! Other ethertypes (IPv6, VLAN tags, ...) are not judged: [`Frame::Other`]
//! says which, and the stack decides (it drops what it does not speak).
//! Ethernet's minimum-frame padding is allowed: IPv4 and ARP end where
//! their own lengths say.

/// The Ethernet header: destination, source, ethertype.
pub const ETHERNET_HEADER: usize = 14;
/// The largest frame without a VLAN tag or the FCS.
pub const MAX_FRAME: usize = 1514;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

/// A frame that passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// ARP over Ethernet for IPv4.
    Arp,
    /// IPv4, with its protocol number.
    Ipv4(u8),
    /// Another ethertype, not judged here.
    Other(u16),
}

/// What is wrong with a malformed frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than an Ethernet header.
    TooShort,
    /// Longer than the largest Ethernet frame.
    TooLong,
    /// ARP that is truncated or not Ethernet/IPv4 ARP.
    BadArp,
    /// An IPv4 header that is not version 4, is shorter than 20 bytes, or
    /// whose lengths do not fit the frame.
    BadIpHeader,
    /// The IPv4 header checksum does not match.
    BadIpChecksum,
    /// A TCP, UDP or ICMP header that does not fit its packet.
    BadTransportHeader,
    /// The TCP, UDP or ICMP checksum does not match.
    BadTransportChecksum,
}

impl Malformed {
    /// Every reason, in the order of [`Malformed::index`].
    pub const ALL: [Malformed; 7] = [
        Malformed::TooShort,
        Malformed::TooLong,
        Malformed::BadArp,
        Malformed::BadIpHeader,
        Malformed::BadIpChecksum,
        Malformed::BadTransportHeader,
        Malformed::BadTransportChecksum,
    ];

    /// Its place in [`Malformed::ALL`] (for a counter array).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A short name for counters (`net`, `/api/net`).
    pub const fn name(self) -> &'static str {
        match self {
            Malformed::TooShort => "too_short",
            Malformed::TooLong => "too_long",
            Malformed::BadArp => "bad_arp",
            Malformed::BadIpHeader => "bad_ip_header",
            Malformed::BadIpChecksum => "bad_ip_checksum",
            Malformed::BadTransportHeader => "bad_transport_header",
            Malformed::BadTransportChecksum => "bad_transport_checksum",
        }
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Adds `data` to a ones'-complement sum (RFC 1071), as 16-bit big-endian
/// words, an odd last byte padded with zero.
fn sum(mut acc: u32, data: &[u8]) -> u32 {
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        acc += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The Internet checksum of `data` (what goes in the field, computed with
/// the field zeroed; over data that includes a correct field it is zero).
pub fn internet_checksum(data: &[u8]) -> u16 {
    !fold(sum(0, data))
}

/// The TCP/UDP checksum over the IPv4 pseudo-header and `segment`.
pub fn transport_checksum(src: [u8; 4], dst: [u8; 4], protocol: u8, segment: &[u8]) -> u16 {
    let pseudo = sum(sum(0, &src), &dst) + u32::from(protocol) + segment.len() as u32;
    !fold(sum(pseudo, segment))
}

/// Checks one received frame (without the FCS, which devices strip).
pub fn check(frame: &[u8]) -> Result<Frame, Malformed> {
    if frame.len() < ETHERNET_HEADER {
        return Err(Malformed::TooShort);
    }
    if frame.len() > MAX_FRAME {
        return Err(Malformed::TooLong);
    }
    let payload = &frame[ETHERNET_HEADER..];
    match be16(frame, 12) {
        ETHERTYPE_ARP => check_arp(payload).map(|()| Frame::Arp),
        ETHERTYPE_IPV4 => check_ipv4(payload).map(Frame::Ipv4),
        other => Ok(Frame::Other(other)),
    }
}

/// The destination port of a TCP connection request (SYN without ACK) in
/// a frame that [`check`] passed, `None` for any other frame: what a stack
/// needs to drop a request its listener has no room for, as Linux drops one
/// when a listener's queue is full (the client sends it again), instead of
/// refusing it.
pub fn tcp_syn_port(frame: &[u8]) -> Option<u16> {
    let p = frame.get(ETHERNET_HEADER..)?;
    if be16(frame, 12) != ETHERTYPE_IPV4 || p.len() < 20 || p[9] != PROTO_TCP || be16(p, 6) & 0x1fff != 0 {
        return None;
    }
    let s = p.get(usize::from(p[0] & 0x0f) * 4..)?;
    let flags = *s.get(13)?;
    // SYN set; ACK, RST and FIN clear.
    (flags & 0x17 == 0x02).then(|| be16(s, 2))
}

fn check_arp(p: &[u8]) -> Result<(), Malformed> {
    // Hardware Ethernet (1), protocol IPv4, 6- and 4-byte addresses.
    if p.len() < 28 || be16(p, 0) != 1 || be16(p, 2) != ETHERTYPE_IPV4 || p[4] != 6 || p[5] != 4 {
        return Err(Malformed::BadArp);
    }
    Ok(())
}

fn check_ipv4(p: &[u8]) -> Result<u8, Malformed> {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return Err(Malformed::BadIpHeader);
    }
    let header = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(be16(p, 2));
    if header < 20 || total < header || total > p.len() {
        return Err(Malformed::BadIpHeader);
    }
    if internet_checksum(&p[..header]) != 0 {
        return Err(Malformed::BadIpChecksum);
    }
    let protocol = p[9];
    // A later fragment carries no transport header, and the checksum
    // covers the reassembled whole: only a first fragment is checked.
    let first_fragment = be16(p, 6) & 0x1fff == 0;
    let more_fragments = p[6] & 0x20 != 0;
    let segment = &p[header..total];
    let (src, dst) = ([p[12], p[13], p[14], p[15]], [p[16], p[17], p[18], p[19]]);
    if first_fragment && !more_fragments {
        check_transport(protocol, src, dst, segment)?;
    } else if first_fragment {
        check_transport_header(protocol, segment)?;
    }
    Ok(protocol)
}

/// The transport header alone (a first fragment, whose checksum covers
/// bytes not here yet).
fn check_transport_header(protocol: u8, s: &[u8]) -> Result<(), Malformed> {
    let fits = match protocol {
        PROTO_TCP => s.len() >= 20 && usize::from(s[12] >> 4) * 4 >= 20,
        PROTO_UDP | PROTO_ICMP => s.len() >= 8,
        _ => true,
    };
    if fits { Ok(()) } else { Err(Malformed::BadTransportHeader) }
}

fn check_transport(protocol: u8, src: [u8; 4], dst: [u8; 4], s: &[u8]) -> Result<(), Malformed> {
    let checksum_ok = match protocol {
        PROTO_TCP => {
            if s.len() < 20 || !(20..=s.len()).contains(&(usize::from(s[12] >> 4) * 4)) {
                return Err(Malformed::BadTransportHeader);
            }
            transport_checksum(src, dst, protocol, s) == 0
        }
        PROTO_UDP => {
            let len = if s.len() >= 8 { usize::from(be16(s, 4)) } else { 0 };
            if s.len() < 8 || len < 8 || len > s.len() {
                return Err(Malformed::BadTransportHeader);
            }
            be16(s, 6) == 0 || transport_checksum(src, dst, protocol, &s[..len]) == 0
        }
        PROTO_ICMP => {
            if s.len() < 8 {
                return Err(Malformed::BadTransportHeader);
            }
            internet_checksum(s) == 0
        }
        _ => true,
    };
    if checksum_ok { Ok(()) } else { Err(Malformed::BadTransportChecksum) }
}
