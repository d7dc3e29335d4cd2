//! The split virtqueue, driver side (virtio 1.2, 2.7): a descriptor table,
//! the available ring (driver -> device) and the used ring (device ->
//! driver), in one piece of shared memory laid out by [`Layout`].
//!
//! # Protocol
//! - Free descriptors form a list through a shadow of their `next` fields
//!   kept here (the device never writes descriptors, but the driver must
//!   not trust what shared memory says): [`SplitQueue::add`] takes a chain
//!   from it, writes the descriptors, puts the head in the next available
//!   slot, then a release fence, then the new `avail.idx`: the device
//!   never sees a head before its descriptors.
//! - [`SplitQueue::pop_used`] reads `used.idx`, then an acquire fence, then
//!   the entries up to it: each names a chain's head and how many bytes
//!   the device wrote; the chain goes back on the free list. Completions
//!   come in whatever order the device finishes: the caller matches them
//!   by head (a tag), never by position.
//! - A chain's buffers belong to the device from `add` until its head
//!   comes back from `pop_used` (the driver keeps them alive meanwhile).

use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{Ordering, fence};

use crate::SharedMemory;

/// Descriptor flags.
mod flags {
    pub const NEXT: u16 = 1;
    pub const WRITE: u16 = 2;
}

/// `used.flags`: the device asks not to be notified.
const USED_NO_NOTIFY: u16 = 1;
/// `avail.flags`: the driver asks for no interrupt on completions.
const AVAIL_NO_INTERRUPT: u16 = 1;

/// Where each part of a queue of `size` entries lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Entries (a power of two, at most 32768).
    pub size: u16,
    /// Offset of the descriptor table (16 bytes an entry, 16-aligned).
    pub descriptors: usize,
    /// Offset of the available ring (flags, idx, ring, used_event).
    pub available: usize,
    /// Offset of the used ring (flags, idx, ring of (id, len), avail_event; 4-aligned).
    pub used: usize,
    /// Bytes in all.
    pub total: usize,
}

impl Layout {
    /// The layout of a queue of `size` entries; `None` unless `size` is a
    /// power of two from 1 to 32768.
    pub fn new(size: u16) -> Option<Self> {
        if !size.is_power_of_two() || size > 32768 {
            return None;
        }
        let n = usize::from(size);
        let descriptors = 0;
        let available = 16 * n;
        let used = (available + 6 + 2 * n).next_multiple_of(4);
        let total = used + 6 + 8 * n;
        Some(Self { size, descriptors, available, used, total })
    }
}

/// One buffer of a chain: where, how long, and who writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// The device's address of it.
    pub addr: u64,
    /// Its length in bytes.
    pub len: u32,
    /// The device writes it (a read request's data, a status byte);
    /// otherwise the device reads it.
    pub device_writes: bool,
}

/// Not enough free descriptors for the chain: wait for completions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueFull {
    /// Descriptors the chain needs.
    pub needed: u16,
    /// Descriptors free now.
    pub free: u16,
}

impl fmt::Display for QueueFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "virtqueue full: {} descriptors needed, {} free", self.needed, self.free)
    }
}

/// What the device returned that cannot be right (a head that is not in
/// flight, or a `used.idx` that moved by more than the queue holds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// A used entry names a descriptor that is not the head of a chain in flight.
    BadHead(u32),
    /// `used.idx` ran ahead of what was made available.
    UsedRanAhead {
        /// What the device says.
        used: u16,
        /// What the driver last popped.
        last: u16,
    },
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceError::BadHead(h) => write!(f, "device returned descriptor {h}, which is not in flight"),
            DeviceError::UsedRanAhead { used, last } => write!(f, "used index {used} ran more than a queue ahead of {last}"),
        }
    }
}

/// A completed chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Used {
    /// The head `add` returned for it.
    pub head: u16,
    /// Bytes the device wrote into the chain's device-writable buffers.
    pub len: u32,
}

/// The driver's side of one split virtqueue.
pub struct SplitQueue<M: SharedMemory> {
    memory: M,
    layout: Layout,
    /// Shadow of each descriptor's `next`, for the free list.
    next: Vec<u16>,
    /// Descriptors in each chain in flight, by head (0: not a head in flight).
    chain_len: Vec<u16>,
    free_head: u16,
    free: u16,
    /// The next `avail.idx` the driver publishes.
    avail_idx: u16,
    /// The `used.idx` up to which completions were taken.
    last_used: u16,
}

impl<M: SharedMemory> SplitQueue<M> {
    /// A queue of `layout.size` entries in `memory` (at least
    /// `layout.total` bytes, zeroed, 16-aligned in the device's space).
    pub fn new(memory: M, layout: Layout) -> Self {
        assert!(memory.len() >= layout.total, "{} bytes for a queue that needs {}", memory.len(), layout.total);
        assert!(memory.phys().is_multiple_of(16), "virtqueue memory must be 16-aligned");
        let n = layout.size;
        let next = (0..n).map(|i| (i + 1) % n).collect();
        Self { memory, layout, next, chain_len: alloc::vec![0; usize::from(n)], free_head: 0, free: n, avail_idx: 0, last_used: 0 }
    }

    /// Its layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Device addresses of (descriptor table, available ring, used ring),
    /// for the transport's queue registers.
    pub fn addresses(&self) -> (u64, u64, u64) {
        let p = self.memory.phys();
        (p + self.layout.descriptors as u64, p + self.layout.available as u64, p + self.layout.used as u64)
    }

    /// Free descriptors.
    pub fn free(&self) -> u16 {
        self.free
    }

    /// Chains in flight.
    pub fn in_flight(&self) -> usize {
        self.chain_len.iter().filter(|&&n| n != 0).count()
    }

    /// Makes the chain `buffers` available to the device; returns its head,
    /// the tag its completion will carry. The caller then notifies the
    /// device if [`should_notify`](Self::should_notify) says so.
    pub fn add(&mut self, buffers: &[Buffer]) -> Result<u16, QueueFull> {
        let needed = u16::try_from(buffers.len()).unwrap_or(u16::MAX);
        assert!(needed > 0, "an empty chain");
        if needed > self.free {
            return Err(QueueFull { needed, free: self.free });
        }
        let head = self.free_head;
        let mut at = head;
        for (i, b) in buffers.iter().enumerate() {
            let last = i + 1 == buffers.len();
            let d = self.layout.descriptors + 16 * usize::from(at);
            let next = self.next[usize::from(at)];
            let mut f = if b.device_writes { flags::WRITE } else { 0 };
            if !last {
                f |= flags::NEXT;
            }
            self.memory.write_u64(d, b.addr);
            self.memory.write_u32(d + 8, b.len);
            self.memory.write_u16(d + 12, f);
            self.memory.write_u16(d + 14, if last { 0 } else { next });
            if !last {
                at = next;
            } else {
                self.free_head = next;
            }
        }
        self.free -= needed;
        self.chain_len[usize::from(head)] = needed;
        let slot = self.layout.available + 4 + 2 * usize::from(self.avail_idx % self.layout.size);
        self.memory.write_u16(slot, head);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        // The descriptors and the ring slot before the index that publishes them.
        fence(Ordering::Release);
        self.memory.write_u16(self.layout.available + 2, self.avail_idx);
        Ok(head)
    }

    /// Whether the device wants a notification now (it may set
    /// `VIRTQ_USED_F_NO_NOTIFY` while it is already processing).
    pub fn should_notify(&self) -> bool {
        // After the index store: read the device's flag only then.
        fence(Ordering::SeqCst);
        self.memory.read_u16(self.layout.used) & USED_NO_NOTIFY == 0
    }

    /// Asks the device for an interrupt on each completion (`true`, as a
    /// new queue does) or for none (`false`; a hint the device may
    /// ignore). Turned back on, the caller looks at the used ring once
    /// more before it waits: a completion the device made before it saw
    /// the flag sent no interrupt (the fence here orders that look after
    /// the flag).
    pub fn set_interrupts(&mut self, wanted: bool) {
        self.memory.write_u16(self.layout.available, if wanted { 0 } else { AVAIL_NO_INTERRUPT });
        fence(Ordering::SeqCst);
    }

    /// Takes the next completion, if the device has returned one.
    pub fn pop_used(&mut self) -> Result<Option<Used>, DeviceError> {
        let used_idx = self.memory.read_u16(self.layout.used + 2);
        if used_idx == self.last_used {
            return Ok(None);
        }
        if used_idx.wrapping_sub(self.last_used) > self.layout.size {
            return Err(DeviceError::UsedRanAhead { used: used_idx, last: self.last_used });
        }
        // The entry was written before the index we just read.
        fence(Ordering::Acquire);
        let e = self.layout.used + 4 + 8 * usize::from(self.last_used % self.layout.size);
        let id = self.memory.read_u32(e);
        let len = self.memory.read_u32(e + 4);
        let head = u16::try_from(id)
            .ok()
            .filter(|&h| h < self.layout.size && self.chain_len[usize::from(h)] != 0)
            .ok_or(DeviceError::BadHead(id))?;
        self.last_used = self.last_used.wrapping_add(1);
        // Return the chain to the free list, following the shadow links.
        let n = self.chain_len[usize::from(head)];
        self.chain_len[usize::from(head)] = 0;
        let mut tail = head;
        for _ in 1..n {
            tail = self.next[usize::from(tail)];
        }
        self.next[usize::from(tail)] = self.free_head;
        self.free_head = head;
        self.free += n;
        Ok(Some(Used { head, len }))
    }
}
