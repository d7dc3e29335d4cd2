//! PCI in the kernel: configuration-space access for this machine (ECAM or
//! ports, `access.rs`), the functions found at boot, and memory BARs mapped
//! uncached with bounds-checked volatile access (`mmio.rs`). The parsing
//! (headers, BARs, capabilities, MSI layouts) is the host-tested `pci`
//! crate; this module only reads and writes for it.
//!
//! A driver finds its functions ([`matching`], [`find`]), claims one
//! ([`claim`]: a [`Claimed`] guard, one driver per function), and maps BARs
//! ([`BarMapping::map`]), opens the MSI-X table ([`MsiXTable::open`]) and
//! binds MSI ([`bind_msi`]) through the guard.
//!
//! Enumeration runs once at boot (`init`, after SMP bring-up); its problems
//! (malformed capability lists, undecodable BARs, bridges not followed) are
//! logged and the rest of each function is kept.

mod access;
mod claim;
mod interrupts;
mod mmio;

use alloc::vec::Vec;

/// What a binding runs in interrupt context (shared with IOAPIC lines).
pub use crate::irq::Handler;
pub use ::pci::enumerate::Function;
pub use ::pci::{Bdf, ConfigAccess};
/// The configuration-space logic, for drivers: `bar`, `capability`,
/// `class`, `header`, `msi` (the host-tested `pci` crate).
pub use ::pci::{bar, capability, class, header, msi};
pub use access::Access;
pub use claim::{AlreadyClaimed, Claimed, claim, find, is_claimed, matching};
pub use interrupts::{MessageIrq, MsiError, MsiXTable, Route, bind_msi, msix_routes};
pub use mmio::{BarMapping, MapError};

struct Bus {
    access: Access,
    functions: Vec<Function>,
}

static BUS: spin::Once<Bus> = spin::Once::new();

/// Finds every function (boot CPU, once, after ACPI discovery).
pub fn init() {
    let windows = crate::acpi::machine().map(|m| m.ecam.clone()).unwrap_or_default();
    let access = Access::for_machine(&windows);
    let mut functions = Vec::new();
    for (segment, buses) in access.ranges() {
        functions.extend(pci::enumerate::scan(&access, segment, buses));
    }
    for f in &functions {
        let h = &f.header;
        log::debug!(
            "pci {} {:04x}:{:04x} {} ({} BARs, {} capabilities)",
            h.bdf,
            h.vendor,
            h.device,
            pci::class::name(h.class, h.subclass),
            f.bars.len(),
            f.capabilities.len()
        );
        for p in &f.problems {
            log::warn!("pci {}: {p}; skipped", h.bdf);
        }
    }
    log::info!("pci: {} functions through {}", functions.len(), access.name());
    BUS.call_once(|| Bus { access, functions });
}

/// Every function found at boot, in bus order (empty before `init`).
pub fn functions() -> &'static [Function] {
    BUS.get().map_or(&[], |b| &b.functions)
}

/// How this machine reaches configuration space (`None` before `init`).
pub fn access() -> Option<&'static Access> {
    BUS.get().map(|b| &b.access)
}
