//! virtio-blk (virtio 1.2, 5.2): feature bits, the configuration layout,
//! and a request as the device reads it: a header (type, sector), the data
//! buffers, and a status byte the device writes.

use core::fmt;

/// Feature bits.
pub mod feature {
    /// `size_max` holds the largest segment.
    pub const SIZE_MAX: u64 = 1 << 1;
    /// `seg_max` holds the most segments per request.
    pub const SEG_MAX: u64 = 1 << 2;
    /// The device is read-only.
    pub const RO: u64 = 1 << 5;
    /// `blk_size` holds the block size.
    pub const BLK_SIZE: u64 = 1 << 6;
    /// The device has a cache and honours flush.
    pub const FLUSH: u64 = 1 << 9;
    /// More than one queue (`num_queues`).
    pub const MQ: u64 = 1 << 12;
}

/// Offsets in the device configuration.
pub mod config {
    /// u64: capacity in 512-byte sectors.
    pub const CAPACITY: u64 = 0;
    /// u32: largest segment (with SIZE_MAX).
    pub const SIZE_MAX: u64 = 8;
    /// u32: most segments in a request (with SEG_MAX).
    pub const SEG_MAX: u64 = 12;
    /// u32: block size (with BLK_SIZE).
    pub const BLK_SIZE: u64 = 20;
    /// u16: queues (with MQ).
    pub const NUM_QUEUES: u64 = 34;
}

/// The unit of `sector` and `capacity`, whatever the block size.
pub const SECTOR: u64 = 512;

/// Request types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum RequestType {
    /// Read (the device writes the data buffers).
    In = 0,
    /// Write (the device reads them).
    Out = 1,
    /// Flush the device's write cache.
    Flush = 4,
}

/// The 16-byte request header, as the device reads it (little-endian).
pub fn header(kind: RequestType, sector: u64) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[..4].copy_from_slice(&(kind as u32).to_le_bytes());
    h[8..].copy_from_slice(&sector.to_le_bytes());
    h
}

/// What the device wrote into the status byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Done.
    Ok,
    /// The device failed the request.
    IoError,
    /// The device does not support it.
    Unsupported,
    /// A value the spec does not define.
    Other(u8),
}

impl Status {
    /// From the status byte.
    pub fn of(b: u8) -> Self {
        match b {
            0 => Status::Ok,
            1 => Status::IoError,
            2 => Status::Unsupported,
            other => Status::Other(other),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Ok => f.write_str("ok"),
            Status::IoError => f.write_str("device I/O error"),
            Status::Unsupported => f.write_str("unsupported by the device"),
            Status::Other(b) => write!(f, "undefined status {b}"),
        }
    }
}
