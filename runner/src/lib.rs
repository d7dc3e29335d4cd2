//! The host side of Odonata: build kernel images and boot them in QEMU.
//!
//! `cargo run` (the `odonata` binary, `main.rs`) and the integration tests
//! (`tests/`) share this library:
//!
//! ```text
//! build::kernel()     cargo build -p PKG --bin BIN --target x86_64-unknown-none
//!                     (own target dir: target/kernel)
//! build::image()      boot/ image builder (bootloader 0.11.15, own workspace,
//!                     built once, see build.rs) -> BIN.bios.img / BIN.uefi.img
//! qemu::Machine       -> qemu-system-x86_64 command line (TCG unless --kvm)
//! netns::TapNamespace a network namespace with a tap for the guest (--net tap)
//! session::run_*      interactive (terminal or piped stdin), or captured with
//!                     a timeout for tests; the kernel's isa-debug-exit code
//!                     becomes a KernelExit
//! symbolize           backtraces in the kernel's output get function and
//!                     file:line from the ELF (addr2line)
//! ```

#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub mod build;
pub mod error;
pub mod initramfs;
pub mod netns;
pub mod qemu;
pub mod session;
pub mod symbolize;

pub use build::{Firmware, Profile};
pub use error::Error;
pub use qemu::{Accel, Chipset, Disk, Machine};
pub use session::{KernelExit, KillAfter, Outcome};

use std::path::PathBuf;

/// The root of the Odonata checkout (the workspace this runner was built in).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
