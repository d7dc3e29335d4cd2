//! Base address registers: decoded (I/O or memory, 32 or 64 bit,
//! prefetchable) and sized with the standard probe: with the function's
//! decoding turned off, write all ones, read back which address bits stick,
//! restore the original value, then restore the command register.

use alloc::vec::Vec;
use core::fmt;

use crate::header::{BAR0, COMMAND, Header, command};
use crate::{Bdf, ConfigAccess};

/// What a BAR maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    /// I/O ports.
    Io,
    /// Memory below 4 GiB.
    Memory32,
    /// Memory anywhere (the BAR takes two registers).
    Memory64,
}

/// One implemented BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bar {
    /// Its index (0-5); a 64-bit BAR also uses `index + 1`.
    pub index: u8,
    /// I/O or memory, and width.
    pub space: Space,
    /// Prefetchable memory.
    pub prefetchable: bool,
    /// The base address the firmware assigned (0: unassigned).
    pub address: u64,
    /// Its size in bytes (a power of two).
    pub size: u64,
}

impl fmt::Display for Bar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match (self.space, self.prefetchable) {
            (Space::Io, _) => "I/O",
            (Space::Memory32, false) => "32-bit memory",
            (Space::Memory32, true) => "32-bit prefetchable memory",
            (Space::Memory64, false) => "64-bit memory",
            (Space::Memory64, true) => "64-bit prefetchable memory",
        };
        write!(f, "BAR{}: {kind} at {:#x}, {} bytes", self.index, self.address, self.size)
    }
}

/// Why a BAR was skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarError {
    /// A 64-bit BAR in the last register, with no upper half.
    Truncated64(u8),
    /// The reserved memory type (0b01, or 0b11).
    ReservedType(u8),
}

impl fmt::Display for BarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BarError::Truncated64(i) => write!(f, "BAR{i} is 64-bit but is the last BAR"),
            BarError::ReservedType(i) => write!(f, "BAR{i} has a reserved memory type"),
        }
    }
}

const IO_FLAG: u32 = 0b1;
const MEMORY_TYPE: u32 = 0b110;
const MEMORY_TYPE_64: u32 = 0b100;
const PREFETCHABLE: u32 = 0b1000;

/// Reads and sizes every BAR of the function. Decoding is off during the
/// probe and the command register restored after, so the device never
/// answers at the all-ones address the probe writes.
pub fn probe(access: &impl ConfigAccess, header: &Header) -> (Vec<Bar>, Vec<BarError>) {
    let bdf = header.bdf;
    let count = header.kind.bar_count();
    let mut bars = Vec::new();
    let mut errors = Vec::new();
    if count == 0 {
        return (bars, errors);
    }
    let command = access.read16(bdf, COMMAND);
    access.write16(bdf, COMMAND, command & !(command::IO_SPACE | command::MEMORY_SPACE));
    let mut i = 0;
    while i < count {
        let at = BAR0 + 4 * u16::from(i);
        let original = access.read32(bdf, at);
        let mask = size_mask(access, bdf, at, original);
        if original & IO_FLAG != 0 {
            let bits = mask & !0b11;
            if bits != 0 {
                // I/O BARs decode 16 bits of port space at most.
                let size = u64::from((!(bits | 0xffff_0000)).wrapping_add(1));
                bars.push(Bar { index: i, space: Space::Io, prefetchable: false, address: u64::from(original & !0b11), size });
            }
            i += 1;
            continue;
        }
        let prefetchable = original & PREFETCHABLE != 0;
        match original & MEMORY_TYPE {
            0 => {
                let bits = mask & !0xf;
                if bits != 0 {
                    let size = u64::from((!bits).wrapping_add(1));
                    bars.push(Bar { index: i, space: Space::Memory32, prefetchable, address: u64::from(original & !0xf), size });
                }
                i += 1;
            }
            MEMORY_TYPE_64 => {
                if i + 1 >= count {
                    errors.push(BarError::Truncated64(i));
                    break;
                }
                let upper_at = at + 4;
                let upper = access.read32(bdf, upper_at);
                let upper_mask = size_mask(access, bdf, upper_at, upper);
                let bits = (u64::from(upper_mask) << 32) | u64::from(mask & !0xf);
                if bits != 0 {
                    let size = (!bits).wrapping_add(1);
                    let address = (u64::from(upper) << 32) | u64::from(original & !0xf);
                    bars.push(Bar { index: i, space: Space::Memory64, prefetchable, address, size });
                }
                i += 2;
            }
            _ => {
                errors.push(BarError::ReservedType(i));
                i += 1;
            }
        }
    }
    access.write16(bdf, COMMAND, command);
    (bars, errors)
}

/// Writes all ones to the register at `at`, reads back what stuck, and
/// restores `original`.
fn size_mask(access: &impl ConfigAccess, bdf: Bdf, at: u16, original: u32) -> u32 {
    access.write32(bdf, at, u32::MAX);
    let mask = access.read32(bdf, at);
    access.write32(bdf, at, original);
    mask
}
