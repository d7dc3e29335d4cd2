//! The Odonata kernel library: everything a kernel image needs, shared by the
//! real kernel (`src/main.rs`) and the test kernels (`tests/kernels`).
//!
//! Boot flow (see `boot::start`): per-CPU data, serial console and logger,
//! TSC calibration, memory (frames, page tables, heap, guard-paged stacks),
//! the boot CPU's GDT/TSS/IDT, a switch onto a guard-paged kernel stack, SMP
//! bring-up (ACPI, APICs, timers, every application processor, each running
//! its executor), the IPI queues, then the image's `main` on the boot CPU.
//!
//! Layers, lowest first; each calls only down, and up only through hooks it
//! is given (the table, with every allowed edge, is ARCHITECTURE.md's
//! "Kernel layers"; `tests/layers.rs` checks the code against it):
//! - [`memory`] (frames, the physical-memory window, address spaces,
//!   stacks, MMIO, DMA); it learns about CPUs and shootdowns through hooks;
//! - [`arch`]: everything x86_64 (descriptor tables, entry stubs, APICs,
//!   the per-CPU block, `CpuId`, `CpuArray`, the vector map); it calls the
//!   console and the fatal path only through `arch::hooks`;
//! - [`acpi`], [`time`], [`console`], [`smp`] (bring-up, fixed IPIs; an AP's
//!   main is given to it), [`irq`] (device lines bound to tasks), [`pci`];
//! - [`heap`]: the global allocator's platform;
//! - [`ipiq`]: the cross-CPU message transport; [`stall`]: the detector;
//! - [`exec`]: one executor per CPU, given its platform hooks here (its
//!   remote wakes are `ipiq` messages);
//! - [`run_on`]: `spawn_on`, `run_on`, `broadcast`, on `exec` and `ipiq`;
//! - [`port`], [`token`], [`tlb`]: the hooks `io`'s ports and tokens and
//!   `memory`'s address spaces are given (on `ipiq` and `run_on`);
//! - [`fatal`]: panic and fault reports; [`boot`], [`testing`]: the top.
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

extern crate alloc;

pub mod acpi;
pub mod arch;
pub mod boot;
pub mod console;
pub mod exec;
pub mod fatal;
pub mod heap;
pub mod ipiq;
pub mod irq;
pub mod memory;
pub mod pci;
pub mod port;
pub mod run_on;
pub mod smp;
pub mod stall;
pub mod testing;
pub mod time;
pub mod tlb;
pub mod token;

/// Re-exported so that [`entry!`] can name it from any kernel image.
pub use bootloader_api;

/// Declares the entry point of a kernel image.
///
/// `entry!(main)` makes `main: fn() -> !` run after the kernel is initialised
/// (see [`boot::start`]), on the boot CPU's guard-paged kernel stack.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        $crate::bootloader_api::entry_point!(__odonata_bootloader_entry, config = &$crate::boot::BOOTLOADER_CONFIG);
        fn __odonata_bootloader_entry(info: $crate::boot::Handoff<'static>) -> ! {
            $crate::boot::start(info, $main)
        }
    };
}
