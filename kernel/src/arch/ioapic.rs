//! I/O APICs: route a device's interrupt line (a global system interrupt,
//! GSI) to a vector on a chosen CPU. All lines start masked.

use alloc::vec::Vec;

use spin::Mutex;

use super::lapic::ApicId;
use super::vectors::Vector;

/// An IOAPIC from the MADT.
#[derive(Clone, Copy, Debug)]
pub struct IoApicInfo {
    /// Its id.
    pub id: u8,
    /// Physical address of its registers.
    pub address: u32,
    /// The first GSI it handles.
    pub gsi_base: u32,
}

/// Signal polarity of an interrupt line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polarity {
    /// Asserted high (ISA default).
    ActiveHigh,
    /// Asserted low.
    ActiveLow,
}

/// Trigger mode of an interrupt line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Edge (ISA default).
    Edge,
    /// Level.
    Level,
}

const REG_VERSION: u32 = 0x01;
const REG_REDIRECTION: u32 = 0x10;
const MASKED: u64 = 1 << 16;
const LEVEL: u64 = 1 << 15;
const ACTIVE_LOW: u64 = 1 << 13;

struct IoApic {
    base: u64,
    gsi_base: u32,
    lines: u32,
}

impl IoApic {
    fn read(&self, reg: u32) -> u32 {
        // SAFETY: `base` maps this IOAPIC's register window uncached
        // (IOREGSEL at +0, IOWIN at +0x10); the lock on IOAPICS serialises
        // the select-then-access pairs.
        unsafe {
            core::ptr::write_volatile(self.base as *mut u32, reg);
            core::ptr::read_volatile((self.base + 0x10) as *const u32)
        }
    }

    fn write(&self, reg: u32, value: u32) {
        // SAFETY: as in `read`.
        unsafe {
            core::ptr::write_volatile(self.base as *mut u32, reg);
            core::ptr::write_volatile((self.base + 0x10) as *mut u32, value);
        }
    }

    fn set_entry(&self, line: u32, value: u64) {
        let reg = REG_REDIRECTION + 2 * line;
        // Mask first so a half-written entry never fires.
        self.write(reg, MASKED as u32);
        self.write(reg + 1, (value >> 32) as u32);
        self.write(reg, value as u32);
    }
}

static IOAPICS: Mutex<Vec<IoApic>> = Mutex::new(Vec::new());

/// Maps every IOAPIC and masks all its lines.
pub fn init(ioapics: &[IoApicInfo]) {
    let mut list = IOAPICS.lock();
    for info in ioapics {
        // SAFETY: the MADT names this address as an IOAPIC's registers.
        let base = unsafe { crate::memory::mmio::map(u64::from(info.address), 0x20) }.as_u64();
        let mut io = IoApic { base, gsi_base: info.gsi_base, lines: 0 };
        io.lines = ((io.read(REG_VERSION) >> 16) & 0xff) + 1;
        for line in 0..io.lines {
            io.set_entry(line, MASKED);
        }
        log::info!("IOAPIC {} at {:#x}: GSIs {}..{}", info.id, info.address, info.gsi_base, info.gsi_base + io.lines);
        list.push(io);
    }
}

/// Why a route could not be set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// No IOAPIC handles this GSI.
    NoIoApic(u32),
}

/// Routes `gsi` to `vector` on the CPU with `cpu`'s APIC id, unmasked.
pub fn route(gsi: u32, polarity: Polarity, trigger: Trigger, vector: Vector, cpu: ApicId) -> Result<(), RouteError> {
    // Interrupts off while the lock is held: `set_masked` runs in interrupt
    // handlers (level-triggered lines), and must not spin on a lock held by
    // the code it interrupted.
    x86_64::instructions::interrupts::without_interrupts(|| route_locked(gsi, polarity, trigger, vector, cpu))
}

fn route_locked(gsi: u32, polarity: Polarity, trigger: Trigger, vector: Vector, cpu: ApicId) -> Result<(), RouteError> {
    let list = IOAPICS.lock();
    let io = list.iter().find(|io| gsi >= io.gsi_base && gsi < io.gsi_base + io.lines).ok_or(RouteError::NoIoApic(gsi))?;
    let mut entry = u64::from(vector.as_u8()) | (u64::from(cpu.0 & 0xff) << 56);
    if polarity == Polarity::ActiveLow {
        entry |= ACTIVE_LOW;
    }
    if trigger == Trigger::Level {
        entry |= LEVEL;
    }
    io.set_entry(gsi - io.gsi_base, entry);
    Ok(())
}

/// Masks or unmasks `gsi` (a level-triggered line stays masked until its
/// task has drained the device).
pub fn set_masked(gsi: u32, masked: bool) -> Result<(), RouteError> {
    x86_64::instructions::interrupts::without_interrupts(|| set_masked_locked(gsi, masked))
}

fn set_masked_locked(gsi: u32, masked: bool) -> Result<(), RouteError> {
    let list = IOAPICS.lock();
    let io = list.iter().find(|io| gsi >= io.gsi_base && gsi < io.gsi_base + io.lines).ok_or(RouteError::NoIoApic(gsi))?;
    let reg = REG_REDIRECTION + 2 * (gsi - io.gsi_base);
    let low = io.read(reg);
    let low = if masked { low | MASKED as u32 } else { low & !(MASKED as u32) };
    io.write(reg, low);
    Ok(())
}
