//! A memory BAR mapped into the kernel's MMIO region, uncached: volatile
//! reads and writes at offsets checked against the mapping's length, so a
//! driver never forms a pointer into device memory by hand.

use core::fmt;

use pci::bar::{Bar, Space};

use super::Claimed;
use crate::memory::mmio;

/// A mapped memory BAR (or its first `len` bytes).
#[derive(Debug)]
pub struct BarMapping {
    base: u64,
    len: u64,
    bar: Bar,
    /// The device stays claimed while its registers are mapped.
    claim: Claimed,
}

/// Why a BAR could not be mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The function has no such BAR.
    NoSuchBar(u8),
    /// It is an I/O BAR.
    NotMemory(u8),
    /// The firmware left it unassigned.
    Unassigned(u8),
    /// More than [`MAX_MAP`] bytes were asked for.
    TooLarge(u64),
    /// The offset is past the BAR's end.
    OutsideBar {
        /// The BAR.
        index: u8,
        /// The offset asked for.
        offset: u64,
    },
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::NoSuchBar(i) => write!(f, "no BAR{i}"),
            MapError::NotMemory(i) => write!(f, "BAR{i} is an I/O BAR"),
            MapError::Unassigned(i) => write!(f, "BAR{i} has no address assigned"),
            MapError::TooLarge(n) => write!(f, "{n} bytes is more than {MAX_MAP} bytes of one BAR mapped at once"),
            MapError::OutsideBar { index, offset } => write!(f, "offset {offset:#x} is past the end of BAR{index}"),
        }
    }
}

/// The most of one BAR mapped at once (a driver maps the registers it
/// uses, not a whole frame buffer).
pub const MAX_MAP: u64 = 64 << 20;

impl BarMapping {
    /// Maps the first `len` bytes (at most the BAR's size) of memory BAR
    /// `index` of `function`.
    pub fn map(function: &Claimed, index: u8, len: u64) -> Result<Self, MapError> {
        Self::map_range(function, index, 0, len)
    }

    /// Maps `len` bytes from `offset` of memory BAR `index` of `function`
    /// (clipped to the BAR); register offsets are then relative to `offset`.
    pub fn map_range(function: &Claimed, index: u8, offset: u64, len: u64) -> Result<Self, MapError> {
        let bar = function.bar(index).ok_or(MapError::NoSuchBar(index))?;
        if bar.space == Space::Io {
            return Err(MapError::NotMemory(index));
        }
        if bar.address == 0 {
            return Err(MapError::Unassigned(index));
        }
        if offset >= bar.size {
            return Err(MapError::OutsideBar { index, offset });
        }
        let len = len.min(bar.size - offset);
        if len > MAX_MAP {
            return Err(MapError::TooLarge(len));
        }
        // SAFETY: a memory BAR the firmware assigned is device memory,
        // never RAM the frame allocator owns.
        let base = unsafe { mmio::map(bar.address + offset, len) }.as_u64();
        Ok(Self { base, len, bar, claim: function.clone() })
    }

    /// The BAR this maps.
    pub fn bar(&self) -> Bar {
        self.bar
    }

    /// The function whose BAR this maps.
    pub fn bdf(&self) -> super::Bdf {
        self.claim.bdf()
    }

    /// The mapping's virtual address, for an interrupt handler that has no
    /// other way to reach its device (MMIO mappings are never unmapped).
    pub fn virt_base(&self) -> u64 {
        self.base
    }

    /// Bytes mapped.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing is mapped (never: a BAR has a size).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn at<T>(&self, offset: u64) -> *mut T {
        let size = core::mem::size_of::<T>() as u64;
        assert!(
            offset.is_multiple_of(size) && offset + size <= self.len,
            "BAR{} access at {offset:#x} outside its {} mapped bytes",
            self.bar.index,
            self.len
        );
        (self.base + offset) as *mut T
    }

    /// Reads the 8-bit register at `offset`.
    pub fn read8(&self, offset: u64) -> u8 {
        // SAFETY: as in `read32`.
        unsafe { core::ptr::read_volatile(self.at::<u8>(offset)) }
    }

    /// Writes the 8-bit register at `offset`.
    pub fn write8(&self, offset: u64, value: u8) {
        // SAFETY: as in `read32`.
        unsafe { core::ptr::write_volatile(self.at::<u8>(offset), value) }
    }

    /// Reads the 16-bit register at `offset`.
    pub fn read16(&self, offset: u64) -> u16 {
        // SAFETY: as in `read32`.
        unsafe { core::ptr::read_volatile(self.at::<u16>(offset)) }
    }

    /// Writes the 16-bit register at `offset`.
    pub fn write16(&self, offset: u64, value: u16) {
        // SAFETY: as in `read32`.
        unsafe { core::ptr::write_volatile(self.at::<u16>(offset), value) }
    }

    /// Reads the 32-bit register at `offset`.
    pub fn read32(&self, offset: u64) -> u32 {
        // SAFETY: `at` checked the offset against the mapping, which is
        // uncached device memory for as long as `self` lives.
        unsafe { core::ptr::read_volatile(self.at::<u32>(offset)) }
    }

    /// Writes the 32-bit register at `offset`.
    pub fn write32(&self, offset: u64, value: u32) {
        // SAFETY: as in `read32`.
        unsafe { core::ptr::write_volatile(self.at::<u32>(offset), value) }
    }

    /// Reads the 64-bit register at `offset`.
    pub fn read64(&self, offset: u64) -> u64 {
        // SAFETY: as in `read32`.
        unsafe { core::ptr::read_volatile(self.at::<u64>(offset)) }
    }

    /// Writes the 64-bit register at `offset`.
    pub fn write64(&self, offset: u64, value: u64) {
        // SAFETY: as in `read32`.
        unsafe { core::ptr::write_volatile(self.at::<u64>(offset), value) }
    }
}
