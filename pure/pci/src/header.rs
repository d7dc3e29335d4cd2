//! The typed view of a function's configuration header (PCI Local Bus
//! 3.0, section 6.1): the common part every function has, and what a
//! PCI-to-PCI bridge (header type 1) adds. Register offsets are named here
//! and nowhere else.

use crate::{Bdf, ConfigAccess};

/// Vendor and device ids (two 16-bit registers).
pub const VENDOR_ID: u16 = 0x00;
/// Command (16 bits) and status (16 bits).
pub const COMMAND: u16 = 0x04;
/// Status register.
pub const STATUS: u16 = 0x06;
/// Revision, prog-if, subclass, class.
pub const CLASS_REVISION: u16 = 0x08;
/// Cache line, latency timer, header type, BIST.
pub const HEADER_TYPE_WORD: u16 = 0x0c;
/// First BAR.
pub const BAR0: u16 = 0x10;
/// Pointer to the first capability.
pub const CAPABILITIES_POINTER: u16 = 0x34;
/// Interrupt line and pin.
pub const INTERRUPT: u16 = 0x3c;
/// Type 1: primary, secondary and subordinate bus numbers.
pub const BRIDGE_BUSES: u16 = 0x18;

/// Where the header ends: capabilities live above it.
pub const HEADER_END: u16 = 0x40;

/// Command register bits.
pub mod command {
    /// Responds to I/O space accesses.
    pub const IO_SPACE: u16 = 1 << 0;
    /// Responds to memory space accesses.
    pub const MEMORY_SPACE: u16 = 1 << 1;
    /// May master the bus (DMA, and MSI writes).
    pub const BUS_MASTER: u16 = 1 << 2;
    /// INTx assertion disabled.
    pub const INTX_DISABLE: u16 = 1 << 10;
}

/// Status register bits.
pub mod status {
    /// The function has a capability list.
    pub const CAPABILITIES_LIST: u16 = 1 << 4;
}

/// The layout of the rest of the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Type 0: an ordinary function, six BARs.
    Endpoint,
    /// Type 1: a PCI-to-PCI bridge, two BARs and a secondary bus.
    Bridge,
    /// Type 2: a CardBus bridge (not followed).
    CardBus,
    /// Any other value: reported, not used.
    Unknown(u8),
}

impl Kind {
    /// How many BARs the header has.
    pub fn bar_count(self) -> u8 {
        match self {
            Kind::Endpoint => 6,
            Kind::Bridge => 2,
            Kind::CardBus | Kind::Unknown(_) => 0,
        }
    }
}

/// One function's header, as read once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Where it is.
    pub bdf: Bdf,
    /// Vendor id.
    pub vendor: u16,
    /// Device id.
    pub device: u16,
    /// Base class.
    pub class: u8,
    /// Subclass.
    pub subclass: u8,
    /// Programming interface.
    pub prog_if: u8,
    /// Revision id.
    pub revision: u8,
    /// Header layout.
    pub kind: Kind,
    /// Function 0 only: the device has functions 1-7 too.
    pub multifunction: bool,
    /// Command register.
    pub command: u16,
    /// Status register.
    pub status: u16,
    /// Interrupt pin (0: none, 1-4: INTA-INTD).
    pub interrupt_pin: u8,
    /// Type 1 only: (secondary, subordinate) bus numbers.
    pub bridge_buses: Option<(u8, u8)>,
}

impl Header {
    /// Reads the header of `bdf`; `None` if no function answers there (its
    /// vendor id reads as all ones).
    pub fn read(access: &impl ConfigAccess, bdf: Bdf) -> Option<Self> {
        let ids = access.read32(bdf, VENDOR_ID);
        let vendor = ids as u16;
        if vendor == 0xffff || vendor == 0 {
            return None;
        }
        let class = access.read32(bdf, CLASS_REVISION);
        let header_type = (access.read32(bdf, HEADER_TYPE_WORD) >> 16) as u8;
        let kind = match header_type & 0x7f {
            0 => Kind::Endpoint,
            1 => Kind::Bridge,
            2 => Kind::CardBus,
            other => Kind::Unknown(other),
        };
        let command_status = access.read32(bdf, COMMAND);
        let bridge_buses = (kind == Kind::Bridge).then(|| {
            let buses = access.read32(bdf, BRIDGE_BUSES);
            ((buses >> 8) as u8, (buses >> 16) as u8)
        });
        Some(Self {
            bdf,
            vendor,
            device: (ids >> 16) as u16,
            class: (class >> 24) as u8,
            subclass: (class >> 16) as u8,
            prog_if: (class >> 8) as u8,
            revision: class as u8,
            kind,
            multifunction: header_type & 0x80 != 0,
            command: command_status as u16,
            status: (command_status >> 16) as u16,
            interrupt_pin: (access.read32(bdf, INTERRUPT) >> 8) as u8,
            bridge_buses,
        })
    }

    /// Whether the status register says there is a capability list.
    pub fn has_capabilities(&self) -> bool {
        self.status & status::CAPABILITIES_LIST != 0
    }
}
