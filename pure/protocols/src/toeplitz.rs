//! The Toeplitz hash of a connection's addresses and ports, which picks
//! the CPU that owns the connection (receive-side scaling, RSS).
//!
//! The hash is Microsoft's RSS hash, which virtio-net's RSS computes too:
//! each set bit of the input, counted from the first byte's top bit, XORs
//! in the 32 bits of the key that start at that bit. The input is the
//! source address, destination address, source port and destination port,
//! big-endian as on the wire.
//!
//! With [`SYMMETRIC_KEY`] (DragonFly's: the two bytes 0x6d, 0x5a over and
//! over, a period of 16 bits) both directions of a connection hash alike:
//! swapping the addresses swaps two 32-bit words and swapping the ports
//! two 16-bit halves, and with a key of period 16 the window of key bits
//! each input bit meets depends only on its position modulo 16, the same
//! for both words of a pair. So a frame received and a frame sent on one
//! connection name the same CPU, in software and in a device's RSS alike.
//!
//! A CPU is chosen through an indirection table as a device's RSS does
//! ([`TABLE_SIZE`] entries, entry `i` naming CPU `i % cpus`), so the device's
//! table and the stack's choice agree by construction.

/// DragonFly's symmetric key (`sys/net/toeplitz.c`): 40 bytes, enough for
/// the 12 bytes of an IPv4 TCP or UDP tuple (and IPv6's 36).
pub const SYMMETRIC_KEY: [u8; 40] = {
    let mut k = [0u8; 40];
    let mut i = 0;
    while i < 40 {
        k[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
        i += 1;
    }
    k
};

/// Entries in the indirection table (a device's RSS table has 128 in QEMU's
/// virtio-net).
pub const TABLE_SIZE: usize = 128;

/// The Toeplitz hash of `input` under `key`. `key` must be at least 4
/// bytes longer than `input` (panics otherwise: a programming error).
pub fn hash(key: &[u8], input: &[u8]) -> u32 {
    assert!(key.len() >= input.len() + 4, "a Toeplitz key must be 4 bytes longer than its input");
    let mut result = 0u32;
    // The 32 key bits that start at the input bit being looked at.
    let mut window = u32::from_be_bytes([key[0], key[1], key[2], key[3]]);
    for (i, &byte) in input.iter().enumerate() {
        let next = key[i + 4];
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                result ^= window;
            }
            window = (window << 1) | u32::from((next >> (7 - bit)) & 1);
        }
    }
    result
}

/// The hash of an IPv4 TCP or UDP packet from `src:src_port` to
/// `dst:dst_port`.
pub fn ipv4_ports(key: &[u8], src: [u8; 4], dst: [u8; 4], src_port: u16, dst_port: u16) -> u32 {
    let mut input = [0u8; 12];
    input[..4].copy_from_slice(&src);
    input[4..8].copy_from_slice(&dst);
    input[8..10].copy_from_slice(&src_port.to_be_bytes());
    input[10..].copy_from_slice(&dst_port.to_be_bytes());
    hash(key, &input)
}

/// The hash of an IPv4 packet's addresses alone (UDP by address, and
/// packets with no ports).
pub fn ipv4(key: &[u8], src: [u8; 4], dst: [u8; 4]) -> u32 {
    let mut input = [0u8; 8];
    input[..4].copy_from_slice(&src);
    input[4..].copy_from_slice(&dst);
    hash(key, &input)
}

/// The CPU (of `cpus`, at least 1) that the indirection table names for
/// `hash`: entry `hash % TABLE_SIZE`, which holds `entry % cpus`.
pub fn cpu_of(hash: u32, cpus: usize) -> usize {
    (hash as usize % TABLE_SIZE) % cpus.max(1)
}

/// The indirection table's entries for `cpus` CPUs (for a device's RSS).
pub fn table(cpus: usize) -> [u16; TABLE_SIZE] {
    core::array::from_fn(|i| (i % cpus.max(1)) as u16)
}

/// Of `candidates`, the first local port whose connection from `local` to
/// `remote` (address, port) hashes to `cpu` of `cpus`, as DragonFly picks a
/// connecting socket's port so that its connection stays on the CPU that
/// asked; `None` if none does.
pub fn port_for_cpu(
    key: &[u8],
    local: [u8; 4],
    (remote, remote_port): ([u8; 4], u16),
    (cpu, cpus): (usize, usize),
    mut candidates: impl Iterator<Item = u16>,
) -> Option<u16> {
    candidates.find(|&port| cpu_of(ipv4_ports(key, remote, local, remote_port, port), cpus) == cpu)
}

/// Every port of `range`, from `first` (clamped into it) on, wrapping.
pub fn ports_from(range: core::ops::RangeInclusive<u16>, first: u16) -> impl Iterator<Item = u16> {
    let (lo, hi) = (*range.start(), *range.end());
    let span = if lo <= hi { u32::from(hi - lo) + 1 } else { 0 };
    let start = if span == 0 { 0 } else { u32::from(first.clamp(lo, hi) - lo) };
    (0..span).map(move |n| lo + ((start + n) % span) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Microsoft's RSS key for its published verification table.
    const MS_KEY: [u8; 40] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b,
        0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ];

    /// Microsoft's "Verifying the RSS Hash Calculation": (destination,
    /// source, IPv4 only, IPv4 with TCP).
    type Vector = (([u8; 4], u16), ([u8; 4], u16), u32, u32);
    const VECTORS: [Vector; 5] = [
        (([161, 142, 100, 80], 1766), ([66, 9, 149, 187], 2794), 0x323e8fc2, 0x51ccc178),
        (([65, 69, 140, 83], 4739), ([199, 92, 111, 2], 14230), 0xd718262a, 0xc626b0ea),
        (([12, 22, 207, 184], 38024), ([24, 19, 198, 95], 12898), 0xd2d0a5de, 0x5c2b394a),
        (([209, 142, 163, 6], 2217), ([38, 27, 205, 30], 48228), 0x82989176, 0xafc7327f),
        (([202, 188, 127, 2], 1303), ([153, 39, 163, 191], 44251), 0x5d1809c5, 0x10e828a2),
    ];

    #[test]
    fn the_published_verification_table_hashes_as_published() {
        for ((dst, dport), (src, sport), ip, tcp) in VECTORS {
            assert_eq!(ipv4(&MS_KEY, src, dst), ip, "{src:?} -> {dst:?}");
            assert_eq!(ipv4_ports(&MS_KEY, src, dst, sport, dport), tcp, "{src:?}:{sport} -> {dst:?}:{dport}");
        }
    }

    #[test]
    fn the_symmetric_key_hashes_both_directions_alike_and_the_published_key_does_not() {
        let mut asymmetric = 0;
        for ((dst, dport), (src, sport), _, _) in VECTORS {
            assert_eq!(ipv4_ports(&SYMMETRIC_KEY, src, dst, sport, dport), ipv4_ports(&SYMMETRIC_KEY, dst, src, dport, sport));
            assert_eq!(ipv4(&SYMMETRIC_KEY, src, dst), ipv4(&SYMMETRIC_KEY, dst, src));
            asymmetric += usize::from(ipv4_ports(&MS_KEY, src, dst, sport, dport) != ipv4_ports(&MS_KEY, dst, src, dport, sport));
        }
        assert_eq!(asymmetric, VECTORS.len());
        // Many more tuples, from a simple generator.
        let mut x = 0x1234_5678_9abc_def0u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = x.to_le_bytes();
            let (a, c) = ([b[0], b[1], b[2], b[3]], [b[4], b[5], b[6], b[7]]);
            let (p, q) = ((x >> 20) as u16, (x >> 40) as u16);
            assert_eq!(ipv4_ports(&SYMMETRIC_KEY, a, c, p, q), ipv4_ports(&SYMMETRIC_KEY, c, a, q, p));
        }
    }

    #[test]
    fn connections_spread_over_the_cpus() {
        // A client's ports to one server address: each CPU gets its share.
        for cpus in [2usize, 4] {
            let mut per_cpu = [0usize; 4];
            for port in 40_000..44_000u16 {
                let h = ipv4_ports(&SYMMETRIC_KEY, [10, 0, 2, 2], [10, 0, 2, 15], port, 80);
                per_cpu[cpu_of(h, cpus)] += 1;
            }
            let fair = 4_000 / cpus;
            for &n in &per_cpu[..cpus] {
                assert!(n > fair * 3 / 4 && n < fair * 5 / 4, "{cpus} CPUs: {per_cpu:?}");
            }
        }
    }

    #[test]
    fn the_table_and_cpu_of_agree() {
        for cpus in 1..=8 {
            let t = table(cpus);
            for h in [0u32, 1, 127, 128, 0xdead_beef, u32::MAX] {
                assert_eq!(usize::from(t[h as usize % TABLE_SIZE]), cpu_of(h, cpus));
            }
        }
        assert_eq!(cpu_of(12345, 0), 0, "no CPUs counts as one");
    }

    #[test]
    fn a_local_port_is_found_for_each_cpu_and_hashes_there_from_the_peer_side_too() {
        let (local, remote) = ([10, 0, 2, 15], [10, 0, 2, 2]);
        for cpus in [1usize, 2, 4, 8] {
            for cpu in 0..cpus {
                let tries = ports_from(49152..=65535, 50_000).take(64);
                let port = port_for_cpu(&SYMMETRIC_KEY, local, (remote, 8000), (cpu, cpus), tries).expect("a port within 64 tries");
                assert!((49152..=65535).contains(&port));
                // The frames the peer sends (remote -> local) and ours alike.
                assert_eq!(cpu_of(ipv4_ports(&SYMMETRIC_KEY, remote, local, 8000, port), cpus), cpu);
                assert_eq!(cpu_of(ipv4_ports(&SYMMETRIC_KEY, local, remote, port, 8000), cpus), cpu);
            }
        }
        // The candidates wrap within the range; an empty range has none.
        assert_eq!(ports_from(65530..=65535, 65534).collect::<Vec<_>>(), [65534, 65535, 65530, 65531, 65532, 65533]);
        assert_eq!(ports_from(10..=20, 3).next(), Some(10), "clamped into the range");
        let (hi, lo) = (9, 10);
        assert_eq!(ports_from(lo..=hi, 10).count(), 0, "an empty range");
        assert_eq!(port_for_cpu(&SYMMETRIC_KEY, local, (remote, 8000), (0, 2), core::iter::empty()), None);
    }
}
