//! What the stack publishes for other CPUs (`net`, `/api/net`): atomics
//! only its task writes.

use core::sync::atomic::{AtomicU64, Ordering};

use smoltcp::wire::Ipv4Address;

/// Published for `status` (any CPU): bit 63 once a device is up, bit 62
/// its link, the MAC below.
pub(super) static DEVICE: AtomicU64 = AtomicU64::new(0);
/// Bit 63 once configured, bit 62 if by DHCP, prefix in 32..40, address
/// in 0..32.
pub(super) static ADDRESS: AtomicU64 = AtomicU64::new(0);
/// Open TCP connections, listeners, UDP sockets (16 bits each).
pub(super) static OPEN: AtomicU64 = AtomicU64::new(0);

/// Connection requests dropped because their listener had no room
/// (`gate.rs`).
pub(super) static LISTEN_OVERFLOWS: AtomicU64 = AtomicU64::new(0);

/// The network as the stack last published it.
#[derive(Clone, Copy, Debug)]
pub struct Status {
    /// The device's MAC.
    pub mac: [u8; 6],
    /// Whether the device reports its link up.
    pub link: bool,
    /// The address and prefix length, and whether DHCP gave it.
    pub address: Option<(Ipv4Address, u8, bool)>,
    /// Open TCP connections, TCP listeners and UDP sockets.
    pub open: (u16, u16, u16),
    /// Connection requests dropped because their listener had no room
    /// (the client sends them again), Linux's ListenOverflows.
    pub listen_overflows: u64,
    /// The device's counters.
    pub counters: crate::virtio::net::NetStats,
}

/// The network's state, `None` without a network device.
pub fn status() -> Option<Status> {
    let dev = DEVICE.load(Ordering::Acquire);
    if dev >> 63 == 0 {
        return None;
    }
    let b = dev.to_be_bytes();
    let a = ADDRESS.load(Ordering::Acquire);
    let address = (a >> 63 != 0).then(|| (Ipv4Address::from_bits(a as u32), (a >> 32) as u8, a >> 62 & 1 != 0));
    let o = OPEN.load(Ordering::Relaxed);
    Some(Status {
        mac: [b[2], b[3], b[4], b[5], b[6], b[7]],
        link: dev >> 62 & 1 != 0,
        address,
        open: (o as u16, (o >> 16) as u16, (o >> 32) as u16),
        listen_overflows: LISTEN_OVERFLOWS.load(Ordering::Relaxed),
        counters: crate::virtio::net::published_stats(),
    })
}
