//! MSI and MSI-X: the capability layouts (PCI Local Bus 3.0, 6.8) and the
//! message an x86 CPU's local APIC takes (Intel SDM vol. 3, 11.11).
//!
//! A message is a memory write the device makes: the address picks the
//! destination local APIC (0xFEE0_0000 | APIC id << 12, physical
//! destination mode), the data the vector (fixed delivery, edge). MSI
//! keeps one message in the capability itself; MSI-X keeps a table of them
//! (and a pending-bit array) in a memory BAR, which the kernel maps and
//! writes through [`TableEntry`]'s offsets.

use core::fmt;

use crate::{Bdf, ConfigAccess};

/// The address/data pair a device writes to raise an interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    /// Where the device writes.
    pub address: u64,
    /// What it writes.
    pub data: u32,
}

/// The message cannot name that destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestinationTooLarge(pub u32);

impl fmt::Display for DestinationTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "APIC id {} does not fit an MSI address (8 bits without interrupt remapping)", self.0)
    }
}

const MSI_ADDRESS_BASE: u64 = 0xfee0_0000;

/// The message for `vector` on the local APIC `apic_id` (xAPIC and x2APIC
/// alike: without interrupt remapping the address holds 8 bits of
/// destination, so x2APIC ids above 255 are refused).
pub fn message(apic_id: u32, vector: u8) -> Result<Message, DestinationTooLarge> {
    if apic_id > 0xff {
        return Err(DestinationTooLarge(apic_id));
    }
    Ok(Message { address: MSI_ADDRESS_BASE | (u64::from(apic_id) << 12), data: u32::from(vector) })
}

/// Message control bits of the MSI capability.
mod msi_control {
    pub const ENABLE: u16 = 1 << 0;
    pub const MULTIPLE_ENABLE: u16 = 0b111 << 4;
    pub const ADDRESS_64: u16 = 1 << 7;
    pub const PER_VECTOR_MASKING: u16 = 1 << 8;
}

/// An MSI capability, as read from configuration space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Msi {
    /// Its offset.
    pub offset: u16,
    /// The device can write a 64-bit address.
    pub address_64: bool,
    /// The capability has mask and pending bits.
    pub per_vector_masking: bool,
    /// How many vectors the device asks for (a power of two, 1-32).
    pub vectors_requested: u8,
}

impl Msi {
    /// Reads the MSI capability at `offset`.
    pub fn read(access: &impl ConfigAccess, bdf: Bdf, offset: u16) -> Self {
        let control = access.read16(bdf, offset + 2);
        Self {
            offset,
            address_64: control & msi_control::ADDRESS_64 != 0,
            per_vector_masking: control & msi_control::PER_VECTOR_MASKING != 0,
            vectors_requested: 1 << ((control >> 1) & 0b111).min(5),
        }
    }

    fn data_offset(&self) -> u16 {
        self.offset + if self.address_64 { 0x0c } else { 0x08 }
    }

    fn mask_offset(&self) -> Option<u16> {
        self.per_vector_masking.then(|| self.offset + if self.address_64 { 0x10 } else { 0x0c })
    }

    /// Writes `message` (one vector: multiple-message enable stays 0).
    /// Refuses a 64-bit address on a device that takes only 32.
    pub fn program(&self, access: &impl ConfigAccess, bdf: Bdf, message: Message) -> Result<(), DestinationTooLarge> {
        if !self.address_64 && message.address > u64::from(u32::MAX) {
            return Err(DestinationTooLarge((message.address >> 12) as u32));
        }
        access.write32(bdf, self.offset + 4, message.address as u32);
        if self.address_64 {
            access.write32(bdf, self.offset + 8, (message.address >> 32) as u32);
        }
        access.write16(bdf, self.data_offset(), message.data as u16);
        let control = access.read16(bdf, self.offset + 2);
        access.write16(bdf, self.offset + 2, control & !msi_control::MULTIPLE_ENABLE);
        Ok(())
    }

    /// Turns MSI on or off.
    pub fn set_enabled(&self, access: &impl ConfigAccess, bdf: Bdf, on: bool) {
        let control = access.read16(bdf, self.offset + 2);
        let control = if on { control | msi_control::ENABLE } else { control & !msi_control::ENABLE };
        access.write16(bdf, self.offset + 2, control);
    }

    /// Masks or unmasks vector 0; `false` if the device cannot mask.
    pub fn set_masked(&self, access: &impl ConfigAccess, bdf: Bdf, masked: bool) -> bool {
        let Some(at) = self.mask_offset() else { return false };
        let bits = access.read32(bdf, at);
        access.write32(bdf, at, if masked { bits | 1 } else { bits & !1 });
        true
    }

    /// Whether vector 0 is pending (masked and raised); `None` if the
    /// device has no pending bits.
    pub fn pending(&self, access: &impl ConfigAccess, bdf: Bdf) -> Option<bool> {
        let at = self.mask_offset()? + 4;
        Some(access.read32(bdf, at) & 1 != 0)
    }
}

/// Message control bits of the MSI-X capability.
mod msix_control {
    pub const TABLE_SIZE: u16 = 0x7ff;
    pub const FUNCTION_MASK: u16 = 1 << 14;
    pub const ENABLE: u16 = 1 << 15;
}

/// An MSI-X capability, as read from configuration space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsiX {
    /// Its offset.
    pub offset: u16,
    /// Entries in the table.
    pub table_size: u16,
    /// Which BAR holds the table.
    pub table_bar: u8,
    /// Where in that BAR.
    pub table_offset: u32,
    /// Which BAR holds the pending-bit array.
    pub pba_bar: u8,
    /// Where in that BAR.
    pub pba_offset: u32,
}

/// Byte offsets inside one 16-byte MSI-X table entry.
pub struct TableEntry;

impl TableEntry {
    /// Bytes per entry.
    pub const SIZE: u32 = 16;
    /// Message address, low 32 bits.
    pub const ADDRESS_LOW: u32 = 0;
    /// Message address, high 32 bits.
    pub const ADDRESS_HIGH: u32 = 4;
    /// Message data.
    pub const DATA: u32 = 8;
    /// Vector control: bit 0 masks the entry.
    pub const VECTOR_CONTROL: u32 = 12;
    /// The mask bit of vector control.
    pub const MASKED: u32 = 1;
}

impl MsiX {
    /// Reads the MSI-X capability at `offset`.
    pub fn read(access: &impl ConfigAccess, bdf: Bdf, offset: u16) -> Self {
        let control = access.read16(bdf, offset + 2);
        let table = access.read32(bdf, offset + 4);
        let pba = access.read32(bdf, offset + 8);
        Self {
            offset,
            table_size: (control & msix_control::TABLE_SIZE) + 1,
            table_bar: (table & 0b111) as u8,
            table_offset: table & !0b111,
            pba_bar: (pba & 0b111) as u8,
            pba_offset: pba & !0b111,
        }
    }

    /// Where entry `index` starts in the table's BAR; `None` past the table.
    pub fn entry_offset(&self, index: u16) -> Option<u32> {
        (index < self.table_size).then(|| self.table_offset + u32::from(index) * TableEntry::SIZE)
    }

    /// Where the pending bit of entry `index` is in the PBA's BAR: (byte
    /// offset of its 64-bit word, bit).
    pub fn pending_bit(&self, index: u16) -> Option<(u32, u32)> {
        (index < self.table_size).then(|| (self.pba_offset + u32::from(index / 64) * 8, u32::from(index % 64)))
    }

    /// Turns MSI-X on (with the function mask cleared) or off.
    pub fn set_enabled(&self, access: &impl ConfigAccess, bdf: Bdf, on: bool) {
        let control = access.read16(bdf, self.offset + 2);
        let control = if on { (control | msix_control::ENABLE) & !msix_control::FUNCTION_MASK } else { control & !msix_control::ENABLE };
        access.write16(bdf, self.offset + 2, control);
    }
}
