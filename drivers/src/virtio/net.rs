//! virtio-net (virtio 1.2, 5.1) as a smoltcp device: one receive queue and
//! one transmit queue, both owned by the CPU that runs the network stack
//! (DragonFly's netisr: the stack belongs to one CPU), their MSI-X
//! interrupts aimed at it.
//!
//! Receive buffers are 2 KiB DMA objects kept posted: each completion is
//! copied out (the frame smoltcp reads) and the buffer posted again at
//! once. A frame to send is built in a 2 KiB DMA object that the transmit
//! slot of its head owns until the device returns it (reclaimed before
//! every transmit). The transmit queue asks for no interrupts while it has
//! room: its completions are only buffers to take back, which the next
//! transmit does anyway; only a full queue turns them on, so that a
//! completion wakes the stack to send what waits. Buffers added in one
//! turn of the stack are told to the device once, before the stack waits
//! ([`NetDevice::flush`]).
//!
//! Loopback: a frame this machine sends to itself never reaches the
//! device. One addressed to its own MAC goes back in (the next `receive`
//! returns it before the device's); an ARP request for one of its own
//! addresses (the stack's, or 127.0.0.0/8) is answered here, with its own
//! MAC, so that smoltcp's neighbour cache leads its frames for those
//! addresses back to it. The stack polls again at once while such frames
//! wait ([`NetDevice::has_looped`]). Every buffer starts with the 12-byte virtio-net header
//! (all zero: no offloads). Every received frame is checked
//! (`protocols::frame::check`: lengths, headers, every checksum) before smoltcp
//! sees it; a malformed one is counted by reason and dropped, and smoltcp
//! is told to trust received checksums, which were verified here.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use kernel::memory::dma::{DmaObject, DmaPool, NO_LIMIT};
use kernel::pci::MessageIrq;
use kernel::smp::CpuId;

use protocols::frame::{self, Malformed};
use smoltcp::phy::{self, Checksum, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use virtio::queue::Buffer;

use super::queue::VirtQueue;
use super::transport::{Transport, TransportError};

/// The virtio-net header every buffer starts with (with VERSION_1).
const HEADER: usize = 12;
/// Bytes per receive or transmit buffer.
const BUFFER: usize = 2048;
/// The largest Ethernet frame (no jumbo frames).
const MTU_FRAME: usize = frame::MAX_FRAME;
/// Receive buffers kept posted.
const RX_BUFFERS: u16 = 128;
/// Frames sent to this machine itself that wait to be received, at most
/// (more are dropped, as a full device queue drops; TCP sends them again).
const LOOPED: usize = 256;
/// Feature: the device has a MAC address in its configuration.
const F_MAC: u64 = 1 << 5;
/// Feature: the configuration has a link status word.
const F_STATUS: u64 = 1 << 16;
/// Several queue pairs (`max_virtqueue_pairs` at configuration offset 8).
const F_MQ: u64 = 1 << 22;

/// Counters for `net` and `/api/net`.
#[derive(Clone, Copy, Debug, Default)]
pub struct NetStats {
    /// Frames received (the malformed ones below included).
    pub rx: u64,
    /// Frames sent.
    pub tx: u64,
    /// Transmits refused because the queue was full (smoltcp retries).
    pub tx_full: u64,
    /// Frames this machine sent to itself (kept for `receive`, never on
    /// the device; in neither `rx` nor `tx`).
    pub looped: u64,
    /// Received frames dropped as malformed, by reason (`Malformed::index`).
    pub malformed: [u64; Malformed::ALL.len()],
}

impl NetStats {
    /// Malformed frames dropped, all reasons.
    pub fn malformed_total(&self) -> u64 {
        self.malformed.iter().sum()
    }

    /// `(reason, count)` for every reason seen at least once.
    pub fn malformed_reasons(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Malformed::ALL.iter().map(|m| (m.name(), self.malformed[m.index()])).filter(|&(_, n)| n > 0)
    }
}

const FIXED: usize = 4;
static PUBLISHED: [AtomicU64; FIXED + Malformed::ALL.len()] = [const { AtomicU64::new(0) }; FIXED + Malformed::ALL.len()];

fn publish(s: &NetStats) {
    for (slot, v) in PUBLISHED.iter().zip([s.rx, s.tx, s.tx_full, s.looped].iter().chain(&s.malformed)) {
        slot.store(*v, Relaxed);
    }
}

/// The counters as last published by the stack's CPU (for `net` on any CPU).
pub fn published_stats() -> NetStats {
    let v = |i: usize| PUBLISHED[i].load(Relaxed);
    NetStats { rx: v(0), tx: v(1), tx_full: v(2), looped: v(3), malformed: core::array::from_fn(|i| v(FIXED + i)) }
}

/// The virtio-net device.
pub struct NetDevice {
    transport: Transport,
    mac: [u8; 6],
    rx: VirtQueue,
    rx_slots: Vec<Option<DmaObject>>,
    tx: VirtQueue,
    tx_slots: Vec<Option<DmaObject>>,
    pool: Arc<DmaPool>,
    stats: NetStats,
    /// The transmit queue asks for interrupts (it was found full).
    tx_interrupts: bool,
    /// Buffers were added since the device was last told, by queue
    /// (receive, transmit): [`NetDevice::flush`] tells it.
    untold: [bool; 2],
    /// Frames sent to this machine itself, to be received (the module doc).
    looped: VecDeque<Vec<u8>>,
    /// The stack's IPv4 address, once it has one (`set_address`).
    address: Option<[u8; 4]>,
    /// Queue pairs the device offers.
    pairs_offered: u16,
}

/// Why the network device could not be brought up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetError {
    /// No virtio-net device.
    NotFound,
    /// The transport failed.
    Transport(TransportError),
    /// No DMA memory for buffers.
    NoMemory,
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::NotFound => f.write_str("no virtio-net device (cargo run -- --net)"),
            NetError::Transport(e) => write!(f, "{e}"),
            NetError::NoMemory => f.write_str("no DMA memory for network buffers"),
        }
    }
}

impl NetDevice {
    /// Brings up the first virtio-net device, its interrupts aimed at `cpu`
    /// (the CPU that will run the stack).
    pub fn open(cpu: CpuId) -> Result<Self, NetError> {
        let function = super::find(virtio::pci::device_type::NET).next().ok_or(NetError::NotFound)?;
        let transport = Transport::open(function).map_err(NetError::Transport)?;
        let features = transport.negotiate(F_MAC | F_STATUS).map_err(NetError::Transport)?;
        // Offered, not taken yet: one pair is used (issue 30 takes a pair per CPU).
        let pairs_offered = if transport.offered() & F_MQ != 0 { transport.config_u16(8).max(1) } else { 1 };
        let mut mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
        if features & F_MAC != 0 {
            let lo = transport.config_u32(0).to_le_bytes();
            let hi = transport.config_u16(4).to_le_bytes();
            mac = [lo[0], lo[1], lo[2], lo[3], hi[0], hi[1]];
        }
        let rx = transport.queue(0, 256, cpu).map_err(NetError::Transport)?;
        let tx = transport.queue(1, 256, cpu).map_err(NetError::Transport)?;
        let rx_slots = (0..rx.layout().size).map(|_| None).collect();
        let tx_slots = (0..tx.layout().size).map(|_| None).collect();
        let mut dev = Self {
            transport,
            mac,
            rx,
            rx_slots,
            tx,
            tx_slots,
            pool: DmaPool::new(BUFFER, NO_LIMIT),
            stats: NetStats::default(),
            tx_interrupts: false,
            untold: [false; 2],
            looped: VecDeque::new(),
            address: None,
            pairs_offered,
        };
        dev.tx.set_interrupts(false);
        dev.transport.driver_ok();
        for _ in 0..RX_BUFFERS.min(dev.rx.layout().size) {
            let buf = dev.pool.alloc().map_err(|_| NetError::NoMemory)?;
            dev.post_rx(buf);
        }
        dev.flush();
        Ok(dev)
    }

    /// The queue pairs the device offers (one is used).
    pub fn pairs_offered(&self) -> u16 {
        self.pairs_offered
    }

    /// Its MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The stack's IPv4 address (for loopback: ARP requests for it are
    /// answered here).
    pub fn set_address(&mut self, address: Option<[u8; 4]>) {
        self.address = address;
    }

    /// Whether frames sent to this machine itself wait to be received.
    pub fn has_looped(&self) -> bool {
        !self.looped.is_empty()
    }

    /// Keeps `frame` for `receive` if it is for this machine itself (the
    /// module doc): true if it was taken.
    fn loop_back(&mut self, frame: &[u8]) -> bool {
        const ARP: [u8; 2] = [0x08, 0x06];
        if frame.len() < frame::ETHERNET_HEADER {
            return false;
        }
        let looped = if frame[..6] == self.mac {
            frame.to_vec()
        } else if frame[12..14] == ARP && frame.len() >= frame::ETHERNET_HEADER + 28 {
            let arp = &frame[frame::ETHERNET_HEADER..];
            let request = arp[6..8] == [0, 1];
            let target: [u8; 4] = arp[24..28].try_into().expect("4 bytes");
            if !request || !(Some(target) == self.address || target[0] == 127) {
                return false;
            }
            arp_reply(self.mac, arp, target)
        } else {
            return false;
        };
        if self.looped.len() < LOOPED {
            self.looped.push_back(looped);
            self.stats.looped += 1;
            publish(&self.stats);
        }
        true
    }

    /// Whether the link is up (always, if the device does not say).
    pub fn link_up(&self) -> bool {
        self.transport.config_u16(6) & 1 != 0
    }

    /// Counters so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// The interrupts, for the stack's task to wait on (receive, transmit).
    pub fn interrupts(&self) -> (&MessageIrq, &MessageIrq) {
        (self.rx.interrupt(), self.tx.interrupt())
    }

    /// Tells the device about the buffers added since the last time (one
    /// notification a queue, each a trap to the hypervisor, for all the
    /// frames one turn of the stack sent and the buffers it posted). The
    /// stack calls it before it waits.
    pub fn flush(&mut self) {
        if core::mem::take(&mut self.untold[0]) {
            self.rx.notify();
        }
        if core::mem::take(&mut self.untold[1]) {
            self.tx.notify();
        }
    }

    fn post_rx(&mut self, buf: DmaObject) {
        let chain = [Buffer { addr: buf.phys_addr().as_u64(), len: BUFFER as u32, device_writes: true }];
        match self.rx.add(&chain) {
            Ok(head) => {
                self.rx_slots[usize::from(head)] = Some(buf);
                self.untold[0] = true;
            }
            // Never more buffers than slots: only one posted per slot freed.
            Err(_) => drop(buf),
        }
    }

    /// Returns sent buffers to the pool.
    fn reclaim_tx(&mut self) {
        let mut took = false;
        while let Ok(Some(used)) = self.tx.pop_used() {
            self.tx_slots[usize::from(used.head)] = None;
            took = true;
        }
        if took && self.tx_interrupts {
            self.tx.set_interrupts(false);
            self.tx_interrupts = false;
        }
    }

    /// The next received frame, copied out; its buffer is posted again.
    fn next_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            let used = match self.rx.pop_used() {
                Ok(Some(u)) => u,
                Ok(None) => return None,
                Err(e) => {
                    log::error!("virtio-net receive queue: {e}");
                    return None;
                }
            };
            let Some(buf) = self.rx_slots[usize::from(used.head)].take() else {
                log::error!("virtio-net: receive head {} has no buffer", used.head);
                return None;
            };
            let len = used.len as usize;
            // What the device wrote, past the header, within the buffer.
            let frame = if len < HEADER + frame::ETHERNET_HEADER {
                Err(Malformed::TooShort)
            } else if len > HEADER + MTU_FRAME {
                Err(Malformed::TooLong)
            } else {
                let mut f = alloc::vec![0u8; len - HEADER];
                buf.read(HEADER, &mut f);
                frame::check(&f).map(|_| f)
            };
            self.post_rx(buf);
            self.stats.rx += 1;
            if let Err(m) = &frame {
                self.stats.malformed[m.index()] += 1;
            }
            publish(&self.stats);
            if let Ok(f) = frame {
                return Some(f);
            }
        }
    }

    fn send(&mut self, frame: &[u8]) {
        if self.loop_back(frame) {
            return;
        }
        if frame.len() > BUFFER - HEADER {
            // smoltcp keeps to `max_transmission_unit`; this would be a bug.
            log::error!("virtio-net: a {}-byte frame to send is longer than a buffer; not sent", frame.len());
            return;
        }
        let Ok(buf) = self.pool.alloc() else {
            self.stats.tx_full += 1;
            return;
        };
        buf.write(HEADER, frame);
        let chain = [Buffer { addr: buf.phys_addr().as_u64(), len: (HEADER + frame.len()) as u32, device_writes: false }];
        match self.tx.add(&chain) {
            Ok(head) => {
                self.tx_slots[usize::from(head)] = Some(buf);
                self.untold[1] = true;
                self.stats.tx += 1;
                publish(&self.stats);
            }
            Err(_) => self.stats.tx_full += 1,
        }
    }
}

/// The ARP reply to `request` (an ARP request's 28 bytes) saying that
/// `target` is at `mac`, in an Ethernet frame to the requester.
fn arp_reply(mac: [u8; 6], request: &[u8], target: [u8; 4]) -> Vec<u8> {
    let (asker_mac, asker_ip) = (&request[8..14], &request[14..18]);
    let mut f = Vec::with_capacity(frame::ETHERNET_HEADER + 28);
    f.extend_from_slice(asker_mac);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06]);
    // Ethernet, IPv4, 6- and 4-byte addresses, a reply.
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 2]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&target);
    f.extend_from_slice(asker_mac);
    f.extend_from_slice(asker_ip);
    f
}

/// A received frame for smoltcp.
pub struct Rx(Vec<u8>);

/// Permission to send one frame.
pub struct Tx<'a>(&'a mut NetDevice);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = alloc::vec![0u8; len];
        let r = f(&mut frame);
        self.0.send(&frame);
        r
    }
}

impl NetDevice {
    /// The next received frame (looped ones first) that `refuse` does not
    /// refuse: a refused frame is dropped, as one the device never
    /// delivered.
    pub fn receive_unless(&mut self, mut refuse: impl FnMut(&[u8]) -> bool) -> Option<(Rx, Tx<'_>)> {
        self.reclaim_tx();
        loop {
            let frame = match self.looped.pop_front() {
                Some(f) => f,
                None => self.next_frame()?,
            };
            if !refuse(&frame) {
                return Some((Rx(frame), Tx(self)));
            }
        }
    }
}

impl phy::Device for NetDevice {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _: Instant) -> Option<(Rx, Tx<'_>)> {
        self.receive_unless(|_| false)
    }

    fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
        self.reclaim_tx();
        if self.tx.free() == 0 {
            // Full: the next completion's interrupt wakes the stack. One
            // made before the device saw the flag is taken here instead.
            self.tx.set_interrupts(true);
            self.tx_interrupts = true;
            self.reclaim_tx();
            if self.tx.free() == 0 {
                self.stats.tx_full += 1;
                return None;
            }
        }
        Some(Tx(self))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU_FRAME;
        caps.max_burst_size = Some(32);
        // Received checksums were verified by `next_frame` (protocols::frame).
        caps.checksum.ipv4 = Checksum::Tx;
        caps.checksum.tcp = Checksum::Tx;
        caps.checksum.udp = Checksum::Tx;
        caps.checksum.icmpv4 = Checksum::Tx;
        caps
    }
}
