//! The block-device interface drivers implement (virtio-blk today; NVMe
//! and AHCI later) and callers use without knowing which: capacity, block
//! size, read-only, and async `read`, `write`, `flush` with typed errors.
//!
//! Buffers are plain slices, a whole number of blocks long; a driver that
//! DMAs copies through memory it owns, so a caller's buffer is never the
//! device's and dropping a request's future mid-flight cannot let the
//! device write into memory that was freed or reused.

use core::fmt;
use core::future::Future;

/// Why a block request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// The device reported an I/O error.
    Io,
    /// The device does not support the request (a flush on a disk without a
    /// cache, say).
    Unsupported,
    /// Blocks `lba..lba + blocks` are not all below `capacity`.
    OutOfRange {
        /// First block asked for.
        lba: u64,
        /// Blocks asked for.
        blocks: u64,
        /// The device's capacity in blocks.
        capacity: u64,
    },
    /// A write to a read-only device.
    ReadOnly,
    /// The buffer is not a whole number of blocks.
    BadLength {
        /// Its length.
        len: usize,
        /// The block size.
        block_size: u32,
    },
    /// The device misbehaved (returned something impossible) or the driver
    /// could not get what it needed (DMA memory); the message says which.
    Device(&'static str),
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockError::Io => f.write_str("device I/O error"),
            BlockError::Unsupported => f.write_str("not supported by the device"),
            BlockError::OutOfRange { lba, blocks, capacity } => {
                write!(f, "blocks {lba}..{} are past the end of the disk ({capacity} blocks)", lba.saturating_add(*blocks))
            }
            BlockError::ReadOnly => f.write_str("the disk is read-only"),
            BlockError::BadLength { len, block_size } => write!(f, "{len} bytes is not a whole number of {block_size}-byte blocks"),
            BlockError::Device(why) => write!(f, "device error: {why}"),
        }
    }
}

/// A disk.
pub trait BlockDevice {
    /// Bytes per block.
    fn block_size(&self) -> u32;
    /// Blocks on the device.
    fn capacity(&self) -> u64;
    /// Whether writes are refused.
    fn read_only(&self) -> bool;
    /// Reads `buf.len() / block_size` blocks from `lba` into `buf`.
    fn read(&self, lba: u64, buf: &mut [u8]) -> impl Future<Output = Result<(), BlockError>>;
    /// Writes `buf` to the blocks from `lba`.
    fn write(&self, lba: u64, buf: &[u8]) -> impl Future<Output = Result<(), BlockError>>;
    /// Makes every completed write durable.
    fn flush(&self) -> impl Future<Output = Result<(), BlockError>>;

    /// Checks a request of `len` bytes at `lba` against the device, as every
    /// implementation must before anything reaches the device.
    fn check(&self, lba: u64, len: usize, write: bool) -> Result<u64, BlockError> {
        let bs = self.block_size();
        if !len.is_multiple_of(bs as usize) {
            return Err(BlockError::BadLength { len, block_size: bs });
        }
        let blocks = (len / bs as usize) as u64;
        if lba.checked_add(blocks).is_none_or(|end| end > self.capacity()) {
            return Err(BlockError::OutOfRange { lba, blocks, capacity: self.capacity() });
        }
        if write && self.read_only() {
            return Err(BlockError::ReadOnly);
        }
        Ok(blocks)
    }
}
