//! A page-table entry's flag bits, as one newtype (no magic numbers outside
//! this file).

use core::ops::{BitOr, BitOrAssign};

/// The flag bits of an entry (everything but the frame address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Flags(u64);

impl Flags {
    /// The entry maps something.
    pub const PRESENT: Self = Self(1 << 0);
    /// Writes are allowed (at every level of the walk).
    pub const WRITABLE: Self = Self(1 << 1);
    /// Ring 3 may use the page (at every level of the walk).
    pub const USER: Self = Self(1 << 2);
    /// Write-through caching.
    pub const WRITE_THROUGH: Self = Self(1 << 3);
    /// Caching disabled (device registers).
    pub const NO_CACHE: Self = Self(1 << 4);
    /// Set by the CPU on access.
    pub const ACCESSED: Self = Self(1 << 5);
    /// Set by the CPU on write (leaf entries).
    pub const DIRTY: Self = Self(1 << 6);
    /// In a level-3 or level-2 entry: a 1 GiB or 2 MiB page, not a table.
    pub const HUGE: Self = Self(1 << 7);
    /// Kept in the TLB across CR3 loads (kernel mappings only).
    pub const GLOBAL: Self = Self(1 << 8);
    /// Software bit: the frame belongs to the address space, which frees it
    /// when the page is unmapped or the space is torn down. Without it the
    /// frame is borrowed (device registers, DMA, the kernel image).
    pub const OWNED: Self = Self(1 << 9);
    /// Instructions may not be fetched from the page.
    pub const NO_EXECUTE: Self = Self(1 << 63);

    /// Every bit that is a flag rather than part of the frame address.
    pub const MASK: Self = Self(!ADDRESS_MASK);

    /// No flag set.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// The flags of raw entry bits (the address bits dropped).
    pub const fn from_bits_truncate(bits: u64) -> Self {
        Self(bits & !ADDRESS_MASK)
    }

    /// The raw bits.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Both sets' bits.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// These bits with `other`'s cleared.
    pub const fn difference(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// Whether every bit of `other` is set here.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for Flags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}

impl BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Self) {
        *self = self.union(rhs);
    }
}

/// The bits of an entry that hold the physical address of a 4 KiB frame or
/// table (bits 12..52).
pub const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;
