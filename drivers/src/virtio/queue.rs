//! A virtqueue as a driver uses it: the split ring (the host-tested
//! `virtio::queue::SplitQueue`), the place to notify the device, and the
//! MSI-X interrupt its used ring raises, made together by
//! [`Transport::queue`](super::transport::Transport::queue) and kept
//! together, so a driver holds one value per queue instead of four.
//!
//! The ring is the driver's (`&mut self` to add or take); the interrupt is
//! shared ([`VirtQueue::interrupt`], an `Arc`), so a completion task can
//! await it while the ring lives in CPU-owned state (`OwnerCell`).

use alloc::sync::Arc;
use core::fmt;
use core::time::Duration;

use kernel::pci::{BarMapping, MessageIrq};
use kernel::time;
use virtio::queue::{Buffer, DeviceError, Layout, QueueFull, SplitQueue, Used};

use super::transport::QueueMemory;

/// Why [`VirtQueue::next_used`] returned without a used buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// Nothing came back within the deadline.
    Timeout(Duration),
    /// The device broke the ring's rules (the driver stops believing it).
    Device(DeviceError),
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Timeout(d) => write!(f, "the device returned nothing within {d:?}"),
            QueueError::Device(e) => write!(f, "{e}"),
        }
    }
}

/// One queue of a device: its ring, its notification, its interrupt.
pub struct VirtQueue {
    index: u16,
    ring: SplitQueue<QueueMemory>,
    notify: Arc<BarMapping>,
    notify_at: u64,
    irq: Arc<MessageIrq>,
}

impl VirtQueue {
    pub(super) fn new(index: u16, ring: SplitQueue<QueueMemory>, notify: Arc<BarMapping>, notify_at: u64, irq: MessageIrq) -> Self {
        Self { index, ring, notify, notify_at, irq: Arc::new(irq) }
    }

    /// The queue's index on its device.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// Its size and memory layout.
    pub fn layout(&self) -> Layout {
        self.ring.layout()
    }

    /// Descriptors free now.
    pub fn free(&self) -> u16 {
        self.ring.free()
    }

    /// Makes a chain of buffers available (without notifying); returns its
    /// head, the tag its completion comes back with. A full ring refuses
    /// and keeps nothing.
    pub fn add(&mut self, chain: &[Buffer]) -> Result<u16, QueueFull> {
        self.ring.add(chain)
    }

    /// Tells the device about what was added, if it asked to be told.
    pub fn notify(&self) {
        if self.ring.should_notify() {
            self.notify.write16(self.notify_at, self.index);
        }
    }

    /// Asks for an interrupt on each completion, or for none
    /// (`SplitQueue::set_interrupts`: look at the used ring again after
    /// turning them on).
    pub fn set_interrupts(&mut self, wanted: bool) {
        self.ring.set_interrupts(wanted);
    }

    /// [`add`](Self::add), then [`notify`](Self::notify).
    pub fn add_and_notify(&mut self, chain: &[Buffer]) -> Result<u16, QueueFull> {
        let head = self.add(chain)?;
        self.notify();
        Ok(head)
    }

    /// The next buffer the device returned, if any (completions come by
    /// head, in the device's order).
    pub fn pop_used(&mut self) -> Result<Option<Used>, DeviceError> {
        self.ring.pop_used()
    }

    /// Waits for the next returned buffer, at most `within`.
    pub async fn next_used(&mut self, within: Duration) -> Result<Used, QueueError> {
        let deadline = time::Instant::now() + within;
        loop {
            if let Some(used) = self.ring.pop_used().map_err(QueueError::Device)? {
                return Ok(used);
            }
            let left = deadline.saturating_duration_since(time::Instant::now());
            // The interrupt's cell remembers a signal that came since the last
            // wait, so one between the look above and this wait is not lost.
            if left.is_zero() || time::timeout(left, self.irq.wait()).await.is_err() {
                return match self.ring.pop_used().map_err(QueueError::Device)? {
                    Some(used) => Ok(used),
                    None => Err(QueueError::Timeout(within)),
                };
            }
        }
    }

    /// The queue's interrupt (its CPU, vector and count; a completion task
    /// awaits it).
    pub fn interrupt(&self) -> &Arc<MessageIrq> {
        &self.irq
    }
}
