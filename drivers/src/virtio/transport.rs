//! The virtio 1.x modern PCI transport (virtio 1.2, 4.1): the vendor
//! capabilities found and their structures mapped, the device reset and
//! brought up by the status protocol with feature negotiation, and queues
//! set up with an MSI-X entry each ([`Transport::queue`]: queue `i` takes
//! entry `i + 1`; entry 0 is left for configuration changes, which nothing
//! here uses). The layouts are the host-tested `virtio` crate's; this file
//! reads and writes them.

use alloc::sync::Arc;
use core::fmt;

use kernel::memory::dma::{DmaBuffer, DmaOutOfMemory, NO_LIMIT};
use kernel::pci::capability::Kind;
use kernel::pci::{self, BarMapping, Claimed, ConfigAccess, Function, Handler, MapError, MsiError, MsiXTable};
use kernel::smp::CpuId;
use virtio::SharedMemory;
use virtio::pci::{CfgType, NO_VECTOR, VirtioCap, common};
use virtio::queue::{Layout, SplitQueue};

use super::queue::VirtQueue;
use virtio::{feature, status};

/// Why a virtio device could not be brought up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// A structure's capability is missing (modern devices have all four).
    Missing(&'static str),
    /// Its BAR could not be mapped.
    Map(MapError),
    /// MSI-X could not be set up.
    Msi(MsiError),
    /// The device refused the features (FEATURES_OK did not stick).
    FeaturesRefused,
    /// The device is not a virtio 1.x device (no VERSION_1).
    NotModern,
    /// No such queue, or it has size 0.
    NoQueue(u16),
    /// The device did not take the MSI-X entry for a queue.
    VectorRefused(u16),
    /// No DMA memory for a queue.
    Dma(DmaOutOfMemory),
    /// The MSI-X table has no entry for the queue.
    NoVector(u16),
    /// Another driver has the device.
    Claimed(pci::AlreadyClaimed),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Missing(what) => write!(f, "no {what} capability"),
            TransportError::Map(e) => write!(f, "{e}"),
            TransportError::Msi(e) => write!(f, "{e}"),
            TransportError::FeaturesRefused => f.write_str("the device refused the negotiated features"),
            TransportError::NotModern => f.write_str("not a virtio 1.x device"),
            TransportError::NoQueue(q) => write!(f, "queue {q} does not exist"),
            TransportError::VectorRefused(q) => write!(f, "queue {q} did not take its MSI-X entry"),
            TransportError::Dma(e) => write!(f, "{e}"),
            TransportError::NoVector(q) => write!(f, "queue {q} has no MSI-X entry (the table is too small)"),
            TransportError::Claimed(e) => write!(f, "{e}"),
        }
    }
}

/// A queue's memory: a DMA buffer, as the `virtio` crate's shared memory.
pub struct QueueMemory(DmaBuffer);

impl SharedMemory for QueueMemory {
    fn phys(&self) -> u64 {
        self.0.phys_addr().as_u64()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn read_u16(&self, offset: usize) -> u16 {
        self.0.read_u16(offset)
    }
    fn write_u16(&self, offset: usize, value: u16) {
        self.0.write_u16(offset, value)
    }
    fn read_u32(&self, offset: usize) -> u32 {
        self.0.read_u32(offset)
    }
    fn write_u32(&self, offset: usize, value: u32) {
        self.0.write_u32(offset, value)
    }
    fn write_u64(&self, offset: usize, value: u64) {
        self.0.write_u64(offset, value)
    }
}

/// One virtio PCI device's mapped structures.
pub struct Transport {
    device_claim: Claimed,
    common: BarMapping,
    notify: Arc<BarMapping>,
    notify_multiplier: u32,
    device: BarMapping,
    msix: Arc<MsiXTable>,
}

fn map(function: &Claimed, cap: VirtioCap) -> Result<BarMapping, TransportError> {
    BarMapping::map_range(function, cap.bar, u64::from(cap.offset), u64::from(cap.length).max(1)).map_err(TransportError::Map)
}

impl Transport {
    /// Finds the structures, maps them, resets the device and opens its
    /// MSI-X table (every entry masked).
    pub fn open(function: &'static Function) -> Result<Self, TransportError> {
        let access = pci::access().ok_or(TransportError::Msi(MsiError::NoPci))?;
        let claimed = pci::claim(function).map_err(TransportError::Claimed)?;
        let bdf = function.bdf();
        let (mut common_cap, mut notify_cap, mut device_cap) = (None, None, None);
        for cap in function.capabilities.iter().filter(|c| c.kind == Kind::Vendor) {
            let Some(v) = VirtioCap::decode(|n| access.read32(bdf, cap.offset + 4 * n)) else { continue };
            match v.cfg_type {
                CfgType::Common if common_cap.is_none() => common_cap = Some(v),
                CfgType::Notify if notify_cap.is_none() => notify_cap = Some(v),
                CfgType::Device if device_cap.is_none() => device_cap = Some(v),
                _ => {}
            }
        }
        let common = map(&claimed, common_cap.ok_or(TransportError::Missing("common configuration"))?)?;
        let notify_cap = notify_cap.ok_or(TransportError::Missing("notification"))?;
        let notify = Arc::new(map(&claimed, notify_cap)?);
        let device = map(&claimed, device_cap.ok_or(TransportError::Missing("device configuration"))?)?;
        let msix = MsiXTable::open(&claimed).map_err(TransportError::Msi)?;
        let t = Self { device_claim: claimed, common, notify, notify_multiplier: notify_cap.notify_off_multiplier, device, msix };
        t.reset();
        Ok(t)
    }

    /// The PCI function.
    pub fn function(&self) -> &'static Function {
        self.device_claim.function()
    }

    /// The MSI-X table, to bind queue entries.
    pub fn msix(&self) -> &Arc<MsiXTable> {
        &self.msix
    }

    /// Resets the device (status 0) and waits, bounded, for the reset to
    /// complete (the status reads 0 again).
    pub fn reset(&self) {
        self.common.write8(common::DEVICE_STATUS, 0);
        for _ in 0..1_000_000 {
            if self.common.read8(common::DEVICE_STATUS) == 0 {
                return;
            }
            core::hint::spin_loop();
        }
        log::warn!("virtio {}: reset did not complete", self.device_claim.bdf());
    }

    fn add_status(&self, bits: u8) {
        let s = self.common.read8(common::DEVICE_STATUS);
        self.common.write8(common::DEVICE_STATUS, s | bits);
    }

    /// Marks the device failed (the driver gives up on it).
    pub fn fail(&self) {
        self.add_status(status::FAILED);
    }

    /// The features the device offers (whatever was agreed).
    pub fn offered(&self) -> u64 {
        let mut offered = 0u64;
        for half in 0..2u32 {
            self.common.write32(common::DEVICE_FEATURE_SELECT, half);
            offered |= u64::from(self.common.read32(common::DEVICE_FEATURE)) << (32 * half);
        }
        offered
    }

    /// Acknowledges the device, offers `wanted` of its features (and
    /// VERSION_1, required) and returns what was agreed.
    pub fn negotiate(&self, wanted: u64) -> Result<u64, TransportError> {
        self.add_status(status::ACKNOWLEDGE | status::DRIVER);
        let offered = self.offered();
        if offered & feature::VERSION_1 == 0 {
            self.fail();
            return Err(TransportError::NotModern);
        }
        let agreed = offered & (wanted | feature::VERSION_1);
        for half in 0..2u32 {
            self.common.write32(common::DRIVER_FEATURE_SELECT, half);
            self.common.write32(common::DRIVER_FEATURE, (agreed >> (32 * half)) as u32);
        }
        self.add_status(status::FEATURES_OK);
        if self.common.read8(common::DEVICE_STATUS) & status::FEATURES_OK == 0 {
            self.fail();
            return Err(TransportError::FeaturesRefused);
        }
        // No configuration-change interrupts: nothing here uses them.
        self.common.write16(common::CONFIG_MSIX_VECTOR, NO_VECTOR);
        Ok(agreed)
    }

    /// Queues the device has.
    pub fn queue_count(&self) -> u16 {
        self.common.read16(common::NUM_QUEUES)
    }

    /// Sets up queue `index` with at most `max_size` entries (the largest
    /// power of two the device and `max_size` allow), its interrupt (MSI-X
    /// entry `index + 1`) aimed at `cpu`. Call it between
    /// [`negotiate`](Self::negotiate) and [`driver_ok`](Self::driver_ok).
    pub fn queue(&self, index: u16, max_size: u16, cpu: CpuId) -> Result<VirtQueue, TransportError> {
        let entry = index.checked_add(1).filter(|&e| e < self.msix.len()).ok_or(TransportError::NoVector(index))?;
        let (ring, notify_at) = self.setup_queue(index, max_size, entry)?;
        // MSI-X: the device needs no acknowledgement (no ISR read), so the
        // binding only wakes the queue's waiter.
        let irq = self.msix.bind(entry, cpu, Handler::NONE).map_err(TransportError::Msi)?;
        Ok(VirtQueue::new(index, ring, Arc::clone(&self.notify), notify_at, irq))
    }

    /// Sets up queue `index` with at most `max_size` entries and MSI-X
    /// entry `entry`; returns it and its notification offset.
    fn setup_queue(&self, index: u16, max_size: u16, entry: u16) -> Result<(SplitQueue<QueueMemory>, u64), TransportError> {
        self.common.write16(common::QUEUE_SELECT, index);
        let size = self.common.read16(common::QUEUE_SIZE);
        if size == 0 {
            return Err(TransportError::NoQueue(index));
        }
        // The largest power of two within both.
        let size = 1u16 << (15 - size.min(max_size).max(1).leading_zeros().min(15));
        let layout = Layout::new(size).ok_or(TransportError::NoQueue(index))?;
        let memory = DmaBuffer::new(layout.total, NO_LIMIT).map_err(TransportError::Dma)?;
        let queue = SplitQueue::new(QueueMemory(memory), layout);
        let (desc, avail, used) = queue.addresses();
        self.common.write16(common::QUEUE_SIZE, size);
        self.write64(common::QUEUE_DESC, desc);
        self.write64(common::QUEUE_DRIVER, avail);
        self.write64(common::QUEUE_DEVICE, used);
        self.common.write16(common::QUEUE_MSIX_VECTOR, entry);
        if self.common.read16(common::QUEUE_MSIX_VECTOR) != entry {
            return Err(TransportError::VectorRefused(index));
        }
        let notify_at = u64::from(self.common.read16(common::QUEUE_NOTIFY_OFF)) * u64::from(self.notify_multiplier);
        self.common.write16(common::QUEUE_ENABLE, 1);
        Ok((queue, notify_at))
    }

    /// A 64-bit common-configuration field, as two 32-bit halves (the spec
    /// allows it; QEMU's common structure takes at most 4 bytes at once).
    fn write64(&self, offset: u64, value: u64) {
        self.common.write32(offset, value as u32);
        self.common.write32(offset + 4, (value >> 32) as u32);
    }

    /// The driver is ready: the device may start.
    pub fn driver_ok(&self) {
        self.add_status(status::DRIVER_OK);
    }

    /// Reads the device configuration's `u32` at `offset`.
    pub fn config_u32(&self, offset: u64) -> u32 {
        self.device.read32(offset)
    }

    /// Reads the device configuration's `u16` at `offset`.
    pub fn config_u16(&self, offset: u64) -> u16 {
        self.device.read16(offset)
    }

    /// Reads the device configuration's `u64` at `offset`, as two halves
    /// (the configuration generation guards against a change between them).
    pub fn config_u64(&self, offset: u64) -> u64 {
        loop {
            let before = self.common.read8(common::CONFIG_GENERATION);
            let v = u64::from(self.device.read32(offset)) | (u64::from(self.device.read32(offset + 4)) << 32);
            if self.common.read8(common::CONFIG_GENERATION) == before {
                return v;
            }
        }
    }
}
