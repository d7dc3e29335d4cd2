//! PCI configuration space as pure code: everything here is arithmetic on
//! what a [`ConfigAccess`] reads and writes, so it builds and is tested on
//! the host against fake configuration spaces (`tests/`), and the kernel
//! plugs in the real access methods (ECAM from the ACPI MCFG table, or
//! ports 0xCF8/0xCFC).
//!
//! - [`Bdf`]: a function's address (segment, bus, device, function);
//! - [`ConfigAccess`]: how configuration space is read and written;
//! - [`header`]: the typed view of a function's header;
//! - [`capability`]: the capability list, walked with a bound;
//! - [`bar`]: BARs decoded and sized with the standard probe;
//! - [`enumerate`]: every function of every bus, behind bridges;
//! - [`msi`]: MSI and MSI-X capability layouts and message formats.
//!
//! Nothing here panics on what a device returns: absent functions (all
//! ones), malformed capability lists and impossible BARs are reported as
//! values and skipped by the caller.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

extern crate alloc;

mod address;
pub mod bar;
pub mod capability;
pub mod class;
pub mod enumerate;
pub mod header;
pub mod msi;

pub use address::{Bdf, ConfigAccess};
