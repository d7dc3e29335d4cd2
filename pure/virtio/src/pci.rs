//! The virtio 1.x PCI transport's layouts (virtio 1.2, 4.1): the vendor
//! capabilities that say where each structure lives, and the register
//! offsets of the common configuration structure.

/// A virtio structure's kind (`cfg_type` of its capability).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CfgType {
    /// Common configuration (features, status, queues).
    Common,
    /// Queue notifications.
    Notify,
    /// The ISR status byte (INTx only).
    Isr,
    /// Device-specific configuration.
    Device,
    /// PCI configuration access (not used).
    PciCfg,
    /// A type this driver does not know (skipped).
    Other(u8),
}

impl CfgType {
    /// From the capability's `cfg_type` byte.
    pub fn of(t: u8) -> Self {
        match t {
            1 => CfgType::Common,
            2 => CfgType::Notify,
            3 => CfgType::Isr,
            4 => CfgType::Device,
            5 => CfgType::PciCfg,
            other => CfgType::Other(other),
        }
    }
}

/// One virtio vendor capability, decoded from its bytes in configuration
/// space (`cap_vndr`, `cap_next`, `cap_len`, `cfg_type`, `bar`, `id`, two
/// pad bytes, `offset`, `length`, and for notify `notify_off_multiplier`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtioCap {
    /// What it describes.
    pub cfg_type: CfgType,
    /// Which BAR holds it.
    pub bar: u8,
    /// Where in the BAR.
    pub offset: u32,
    /// How many bytes.
    pub length: u32,
    /// Notify only: bytes between queues' notification addresses.
    pub notify_off_multiplier: u32,
}

/// Byte offsets of the capability's fields from its start.
pub mod cap {
    /// `cap_len`.
    pub const LEN: u16 = 2;
    /// `cfg_type`.
    pub const CFG_TYPE: u16 = 3;
    /// `bar`.
    pub const BAR: u16 = 4;
    /// `offset`.
    pub const OFFSET: u16 = 8;
    /// `length`.
    pub const LENGTH: u16 = 12;
    /// `notify_off_multiplier` (notify capability only).
    pub const NOTIFY_MULTIPLIER: u16 = 16;
}

impl VirtioCap {
    /// Decodes a capability from `dword(n)` = its n-th 32-bit word; `None`
    /// if it is too short for its kind or names a BAR above 5.
    pub fn decode(dword: impl Fn(u16) -> u32) -> Option<Self> {
        let w0 = dword(0);
        let len = (w0 >> 16) as u8;
        let cfg_type = CfgType::of((w0 >> 24) as u8);
        let bar = dword(1) as u8;
        if len < 16 || bar > 5 {
            return None;
        }
        let notify_off_multiplier = match cfg_type {
            CfgType::Notify if len >= 20 => dword(4),
            CfgType::Notify => return None,
            _ => 0,
        };
        Some(Self { cfg_type, bar, offset: dword(2), length: dword(3), notify_off_multiplier })
    }
}

/// Register offsets in the common configuration structure.
pub mod common {
    /// u32: which 32 bits of device features `DEVICE_FEATURE` shows.
    pub const DEVICE_FEATURE_SELECT: u64 = 0x00;
    /// u32: device features.
    pub const DEVICE_FEATURE: u64 = 0x04;
    /// u32: which 32 bits of driver features `DRIVER_FEATURE` sets.
    pub const DRIVER_FEATURE_SELECT: u64 = 0x08;
    /// u32: driver features.
    pub const DRIVER_FEATURE: u64 = 0x0c;
    /// u16: MSI-X entry for configuration changes.
    pub const CONFIG_MSIX_VECTOR: u64 = 0x10;
    /// u16: queues the device has.
    pub const NUM_QUEUES: u64 = 0x12;
    /// u8: device status.
    pub const DEVICE_STATUS: u64 = 0x14;
    /// u8: changes whenever the device configuration does.
    pub const CONFIG_GENERATION: u64 = 0x15;
    /// u16: which queue the queue registers show.
    pub const QUEUE_SELECT: u64 = 0x16;
    /// u16: its size (the driver may lower it).
    pub const QUEUE_SIZE: u64 = 0x18;
    /// u16: its MSI-X entry.
    pub const QUEUE_MSIX_VECTOR: u64 = 0x1a;
    /// u16: 1 once the driver set it up.
    pub const QUEUE_ENABLE: u64 = 0x1c;
    /// u16: its notification offset, in multiplier units.
    pub const QUEUE_NOTIFY_OFF: u64 = 0x1e;
    /// u64: the descriptor table's address.
    pub const QUEUE_DESC: u64 = 0x20;
    /// u64: the available ring's address.
    pub const QUEUE_DRIVER: u64 = 0x28;
    /// u64: the used ring's address.
    pub const QUEUE_DEVICE: u64 = 0x30;
}

/// `*_MSIX_VECTOR` value for "no vector" (also what the device reads back
/// when it could not take the entry).
pub const NO_VECTOR: u16 = 0xffff;

/// Modern virtio PCI device ids are 0x1040 + the device type.
pub const DEVICE_ID_BASE: u16 = 0x1040;
/// Transitional (legacy-capable) ids start here: 0x1000 net, 0x1001 block.
pub const TRANSITIONAL_BLOCK: u16 = 0x1001;
/// The vendor id of every virtio device.
pub const VENDOR: u16 = 0x1af4;

/// Device types (virtio 1.2, 5): what [`matches`] and the drivers' `find`
/// take.
pub mod device_type {
    /// Network card.
    pub const NET: u16 = 1;
    /// Block device.
    pub const BLOCK: u16 = 2;
    /// Console.
    pub const CONSOLE: u16 = 3;
    /// Entropy source.
    pub const ENTROPY: u16 = 4;
    /// Memory balloon (traditional).
    pub const BALLOON: u16 = 5;
    /// SCSI host.
    pub const SCSI: u16 = 8;
    /// 9P transport.
    pub const NINE_P: u16 = 9;
}

/// The PCI device id of a transitional device of `device_type`, for the
/// types that have one (virtio 1.2, 4.1.2.1): a device QEMU offers as
/// `disable-legacy=off` (the default on the `pc` machine) carries it.
pub const fn transitional_id(device_type: u16) -> Option<u16> {
    match device_type {
        device_type::NET => Some(0x1000),
        device_type::BLOCK => Some(0x1001),
        device_type::BALLOON => Some(0x1002),
        device_type::CONSOLE => Some(0x1003),
        device_type::SCSI => Some(0x1004),
        device_type::ENTROPY => Some(0x1005),
        device_type::NINE_P => Some(0x1009),
        _ => None,
    }
}

/// The PCI device id of a modern-only device of `device_type`.
pub const fn modern_id(device_type: u16) -> u16 {
    DEVICE_ID_BASE + device_type
}

/// Whether a PCI function with these ids is a virtio device of
/// `device_type`, by either id. (Whether it speaks virtio 1.x is
/// negotiated later: VERSION_1.)
pub const fn matches(vendor: u16, device: u16, device_type: u16) -> bool {
    if vendor != VENDOR {
        return false;
    }
    if device == modern_id(device_type) {
        return true;
    }
    match transitional_id(device_type) {
        Some(id) => device == id,
        None => false,
    }
}
