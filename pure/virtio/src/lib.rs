//! Virtio 1.x (OASIS virtio v1.2) as pure code, shared by the block and
//! network drivers: the split virtqueue's bookkeeping ([`queue`]), the
//! modern PCI transport's capability and register layouts ([`pci`]), and
//! the block device's request format ([`blk`]). Memory the device shares
//! is reached through [`SharedMemory`], which the kernel implements over a
//! DMA buffer and the tests over a simulated device's memory.
//!
//! Why not the `virtio-drivers` crate: it has no MSI-X (its PCI transport
//! never writes `queue_msix_vector`) and no multiqueue (virtio-blk uses
//! one queue of 16, completions in ring order), and Odonata needs a queue
//! per CPU with its interrupt aimed at that CPU and completions in
//! whatever order the device finishes.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

extern crate alloc;

pub mod blk;
pub mod pci;
pub mod queue;

/// Memory shared with a device: the driver reads and writes it with
/// volatile accesses at byte offsets, and the device sees it at
/// `phys() + offset`.
pub trait SharedMemory {
    /// The device's address of offset 0.
    fn phys(&self) -> u64;
    /// Bytes available.
    fn len(&self) -> usize;
    /// Whether it has no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The `u16` at `offset` (aligned).
    fn read_u16(&self, offset: usize) -> u16;
    /// Writes the `u16` at `offset` (aligned).
    fn write_u16(&self, offset: usize, value: u16);
    /// The `u32` at `offset` (aligned).
    fn read_u32(&self, offset: usize) -> u32;
    /// Writes the `u32` at `offset` (aligned).
    fn write_u32(&self, offset: usize, value: u32);
    /// Writes the `u64` at `offset` (aligned).
    fn write_u64(&self, offset: usize, value: u64);
}

/// Device status bits (2.1).
pub mod status {
    /// The guest found the device.
    pub const ACKNOWLEDGE: u8 = 1;
    /// The guest knows how to drive it.
    pub const DRIVER: u8 = 2;
    /// The driver is ready.
    pub const DRIVER_OK: u8 = 4;
    /// Feature negotiation is complete.
    pub const FEATURES_OK: u8 = 8;
    /// The device hit an error it cannot recover from.
    pub const DEVICE_NEEDS_RESET: u8 = 64;
    /// The guest gave up on the device.
    pub const FAILED: u8 = 128;
}

/// Feature bits every device shares (6).
pub mod feature {
    /// The device follows virtio 1.x (required of a modern device).
    pub const VERSION_1: u64 = 1 << 32;
}
