//! A function's address and the one trait configuration-space access goes
//! through.

use core::fmt;

/// Segment, bus, device (0..32) and function (0..8) of one PCI function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bdf {
    /// PCI segment group (0 on every machine QEMU makes).
    pub segment: u16,
    /// Bus number.
    pub bus: u8,
    /// Device number, below 32.
    pub device: u8,
    /// Function number, below 8.
    pub function: u8,
}

impl Bdf {
    /// A function's address; `None` if `device` or `function` is out of range.
    pub const fn new(segment: u16, bus: u8, device: u8, function: u8) -> Option<Self> {
        if device < 32 && function < 8 { Some(Self { segment, bus, device, function }) } else { None }
    }
}

impl fmt::Display for Bdf {
    /// `lspci`'s form: `bb:dd.f`, with the segment in front when it is not 0.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segment != 0 {
            write!(f, "{:04x}:", self.segment)?;
        }
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.device, self.function)
    }
}

/// Reads and writes one function's configuration space. Offsets are byte
/// offsets, aligned to the access size; a function that does not exist
/// reads as all ones (what hardware returns), and writes to it are dropped.
pub trait ConfigAccess {
    /// The 32-bit register at `offset` (a multiple of 4).
    fn read32(&self, at: Bdf, offset: u16) -> u32;

    /// Writes the 32-bit register at `offset` (a multiple of 4).
    fn write32(&self, at: Bdf, offset: u16, value: u32);

    /// Writes the 16-bit register at `offset` (a multiple of 2), without
    /// touching its neighbour (the command register sits beside the status
    /// register, whose bits are cleared by writing ones).
    fn write16(&self, at: Bdf, offset: u16, value: u16);

    /// The 16-bit register at `offset` (a multiple of 2).
    fn read16(&self, at: Bdf, offset: u16) -> u16 {
        (self.read32(at, offset & !3) >> ((offset & 2) * 8)) as u16
    }

    /// The byte at `offset`.
    fn read8(&self, at: Bdf, offset: u16) -> u8 {
        (self.read32(at, offset & !3) >> ((offset & 3) * 8)) as u8
    }
}
