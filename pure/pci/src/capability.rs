//! The capability list: a chain of (id, next) bytes from the header's
//! capabilities pointer. Walked with a bound, so that a malformed list (a
//! loop, a pointer into the header, more entries than fit) ends the walk
//! with an error the caller logs, never a hang.

use alloc::vec::Vec;
use core::fmt;

use crate::header::{CAPABILITIES_POINTER, HEADER_END, Header};
use crate::{Bdf, ConfigAccess};

/// Capability ids this kernel knows.
pub mod id {
    /// Power management.
    pub const POWER_MANAGEMENT: u8 = 0x01;
    /// Message signalled interrupts.
    pub const MSI: u8 = 0x05;
    /// Vendor-specific (virtio's structures, for one).
    pub const VENDOR: u8 = 0x09;
    /// PCI Express.
    pub const PCI_EXPRESS: u8 = 0x10;
    /// MSI-X.
    pub const MSI_X: u8 = 0x11;
}

/// What a capability is, by its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Power management.
    PowerManagement,
    /// MSI.
    Msi,
    /// MSI-X.
    MsiX,
    /// PCI Express.
    PciExpress,
    /// Vendor-specific.
    Vendor,
    /// An id this kernel does not use.
    Unknown(u8),
}

impl Kind {
    /// The kind of capability `id`.
    pub fn of(id: u8) -> Self {
        match id {
            id::POWER_MANAGEMENT => Kind::PowerManagement,
            id::MSI => Kind::Msi,
            id::MSI_X => Kind::MsiX,
            id::PCI_EXPRESS => Kind::PciExpress,
            id::VENDOR => Kind::Vendor,
            other => Kind::Unknown(other),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::PowerManagement => f.write_str("power management"),
            Kind::Msi => f.write_str("MSI"),
            Kind::MsiX => f.write_str("MSI-X"),
            Kind::PciExpress => f.write_str("PCI Express"),
            Kind::Vendor => f.write_str("vendor-specific"),
            Kind::Unknown(id) => write!(f, "capability {id:#04x}"),
        }
    }
}

/// One capability: its kind and where its registers start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capability {
    /// What it is.
    pub kind: Kind,
    /// Its offset in configuration space.
    pub offset: u16,
}

/// Why a capability walk stopped early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkError {
    /// A next pointer points into the header (below 0x40).
    IntoHeader {
        /// The capability whose pointer it is (0: the header's own pointer).
        from: u16,
        /// Where it points.
        to: u8,
    },
    /// A next pointer leads back to a capability already seen.
    Loop {
        /// The capability whose pointer it is.
        from: u16,
        /// Where it points.
        to: u8,
    },
    /// More capabilities than fit in configuration space.
    TooMany,
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkError::IntoHeader { from, to } => write!(f, "capability pointer at {from:#x} points into the header ({to:#x})"),
            WalkError::Loop { from, to } => write!(f, "capability pointer at {from:#x} loops back to {to:#x}"),
            WalkError::TooMany => write!(f, "more than {MAX_CAPABILITIES} capabilities"),
        }
    }
}

/// The most a 256-byte configuration space can hold (a capability is at
/// least four bytes, above the 64-byte header).
pub const MAX_CAPABILITIES: usize = 48;

/// The function's capabilities, in list order, and why the walk stopped
/// early if it did (what was found before the fault is kept).
pub fn walk(access: &impl ConfigAccess, header: &Header) -> (Vec<Capability>, Option<WalkError>) {
    let mut found = Vec::new();
    if !header.has_capabilities() {
        return (found, None);
    }
    let bdf: Bdf = header.bdf;
    let mut from = 0u16;
    // The low two bits of every pointer are reserved.
    let mut next = access.read8(bdf, CAPABILITIES_POINTER) & !3;
    while next != 0 {
        if u16::from(next) < HEADER_END {
            return (found, Some(WalkError::IntoHeader { from, to: next }));
        }
        if found.iter().any(|c: &Capability| c.offset == u16::from(next)) {
            return (found, Some(WalkError::Loop { from, to: next }));
        }
        if found.len() == MAX_CAPABILITIES {
            return (found, Some(WalkError::TooMany));
        }
        let offset = u16::from(next);
        let word = access.read16(bdf, offset);
        found.push(Capability { kind: Kind::of(word as u8), offset });
        from = offset;
        next = (word >> 8) as u8 & !3;
    }
    (found, None)
}
