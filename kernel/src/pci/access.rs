//! The two ways to reach configuration space: ECAM windows from the ACPI
//! MCFG table (PCI Express, QEMU's `q35`), each bus's megabyte mapped
//! uncached on first use; or the legacy ports 0xCF8/0xCFC (QEMU's `pc`),
//! whose address-then-data pair is one critical section per access.

use core::sync::atomic::{AtomicU64, Ordering};

use pci::{Bdf, ConfigAccess};
use x86_64::instructions::interrupts;
use x86_64::instructions::port::Port;

use crate::acpi::EcamWindow;
use crate::memory::mmio;

/// How configuration space is reached on this machine.
pub enum Access {
    /// Memory-mapped windows, one per MCFG entry.
    Ecam(alloc::vec::Vec<Ecam>),
    /// Ports 0xCF8 (address) and 0xCFC (data), segment 0 only.
    Ports(spin::Mutex<()>),
}

/// One ECAM window, its buses mapped lazily.
pub struct Ecam {
    window: EcamWindow,
    /// Per bus of the window: its mapping's virtual address (0: not yet).
    mapped: [AtomicU64; 256],
}

const BUS_SIZE: u64 = 1 << 20;

impl Ecam {
    /// A window, nothing mapped yet.
    pub fn new(window: EcamWindow) -> Self {
        Self { window, mapped: [const { AtomicU64::new(0) }; 256] }
    }

    /// The window's description.
    pub fn window(&self) -> EcamWindow {
        self.window
    }

    fn covers(&self, at: Bdf) -> bool {
        at.segment == self.window.segment && (self.window.first_bus..=self.window.last_bus).contains(&at.bus)
    }

    /// The virtual address of `at`'s 4 KiB of configuration space.
    fn function_base(&self, at: Bdf) -> u64 {
        let bus = usize::from(at.bus - self.window.first_bus);
        let slot = &self.mapped[bus];
        let mut base = slot.load(Ordering::Acquire);
        if base == 0 {
            let phys = self.window.base + bus as u64 * BUS_SIZE;
            // SAFETY: the MCFG names this range as the bus's configuration
            // space, device registers the frame allocator never hands out.
            let virt = unsafe { mmio::map(phys, BUS_SIZE) }.as_u64();
            // Two CPUs may map the same bus at once: the loser's mapping
            // stays unused (a megabyte of the MMIO region), nothing worse.
            base = match slot.compare_exchange(0, virt, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => virt,
                Err(winner) => winner,
            };
        }
        base + (u64::from(at.device) << 15) + (u64::from(at.function) << 12)
    }
}

impl Access {
    /// ECAM where the MCFG gave windows, ports otherwise.
    pub fn for_machine(windows: &[EcamWindow]) -> Self {
        if windows.is_empty() {
            Access::Ports(spin::Mutex::new(()))
        } else {
            Access::Ecam(windows.iter().copied().map(Ecam::new).collect())
        }
    }

    /// A short name for logs and `pci -v`.
    pub fn name(&self) -> &'static str {
        match self {
            Access::Ecam(_) => "ECAM (ACPI MCFG)",
            Access::Ports(_) => "ports 0xcf8/0xcfc",
        }
    }

    /// The (segment, buses) ranges to scan.
    pub fn ranges(&self) -> alloc::vec::Vec<(u16, core::ops::RangeInclusive<u8>)> {
        match self {
            Access::Ecam(windows) => windows.iter().map(|e| (e.window.segment, e.window.first_bus..=e.window.last_bus)).collect(),
            Access::Ports(_) => alloc::vec![(0, 0..=255)],
        }
    }

    fn ecam_address(&self, at: Bdf, offset: u16) -> Option<u64> {
        let Access::Ecam(windows) = self else { return None };
        let e = windows.iter().find(|e| e.covers(at))?;
        Some(e.function_base(at) + u64::from(offset & 0xfff))
    }

    fn port_address(at: Bdf, offset: u16) -> u32 {
        (1 << 31) | (u32::from(at.bus) << 16) | (u32::from(at.device) << 11) | (u32::from(at.function) << 8) | u32::from(offset & 0xfc)
    }

    /// Runs `f` with the port pair selected for `at`/`offset`, if ports are
    /// this machine's method and `at` is reachable by them.
    fn with_ports<R>(&self, at: Bdf, offset: u16, f: impl FnOnce(u16) -> R) -> Option<R> {
        let Access::Ports(lock) = self else { return None };
        if at.segment != 0 || offset >= 256 {
            return None;
        }
        Some(interrupts::without_interrupts(|| {
            let _serial = lock.lock();
            // SAFETY: 0xCF8 is the PCI configuration address port on every
            // PC-compatible chipset; the lock keeps the address-data pair
            // atomic against other CPUs, interrupts off against this one.
            unsafe { Port::<u32>::new(0xcf8).write(Self::port_address(at, offset)) };
            f(0xcfc + (offset & 3))
        }))
    }
}

impl ConfigAccess for Access {
    fn read32(&self, at: Bdf, offset: u16) -> u32 {
        if let Some(addr) = self.ecam_address(at, offset) {
            // SAFETY: `addr` is inside the function's 4 KiB of the mapped
            // ECAM window, aligned to 4 (callers pass aligned offsets).
            return unsafe { core::ptr::read_volatile(addr as *const u32) };
        }
        // SAFETY: the data port of the address `with_ports` selected.
        self.with_ports(at, offset, |port| unsafe { Port::<u32>::new(port).read() }).unwrap_or(u32::MAX)
    }

    fn write32(&self, at: Bdf, offset: u16, value: u32) {
        if let Some(addr) = self.ecam_address(at, offset) {
            // SAFETY: as in `read32`.
            unsafe { core::ptr::write_volatile(addr as *mut u32, value) };
            return;
        }
        // SAFETY: as in `read32`.
        let _ = self.with_ports(at, offset, |port| unsafe { Port::<u32>::new(port).write(value) });
    }

    fn write16(&self, at: Bdf, offset: u16, value: u16) {
        if let Some(addr) = self.ecam_address(at, offset) {
            // SAFETY: as in `read32`, aligned to 2.
            unsafe { core::ptr::write_volatile(addr as *mut u16, value) };
            return;
        }
        // SAFETY: as in `read32`; the data port plus (offset & 2) selects the half.
        let _ = self.with_ports(at, offset, |port| unsafe { Port::<u16>::new(port).write(value) });
    }
}
