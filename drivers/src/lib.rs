//! Odonata's device drivers. Each is an `async fn` (or a `Stream`) running
//! on one CPU's executor, plus a tiny interrupt handler that only
//! acknowledges the device and stashes its data in an `io::IrqRing`; the
//! kernel's [`kernel::irq`] does the wake.
//!
//! - [`serial`]: COM1 receive (interrupt-driven, flow-controlled into a
//!   ring; `read`, `read_line`) and transmit (queued, pumped by a task on
//!   transmitter-empty interrupts), as `embedded-io-async` `Read`/`Write`.
//! - [`edu`]: QEMU's educational PCI device: MSI on a chosen CPU, a
//!   factorial and DMA both ways; the worked example of a PCI driver.
//! - [`keyboard`]: the i8042 PS/2 controller; a `Stream` of decoded keys
//!   (`pc-keyboard`, layout selectable, US by default).
//! - [`virtio`]: virtio-blk with a queue per CPU, each queue's MSI-X
//!   interrupt aimed at its CPU; virtio-net as a smoltcp device.
//! - [`net`]: the network stack (smoltcp over virtio-net, on one CPU) and
//!   the sockets any task on any CPU can use.
//! - [`power`]: the ACPI power button, a level-triggered SCI: the worked
//!   example of a line that stays masked until its task has drained the
//!   device.
//!
//! See README, "Writing a driver", for the pattern with the keyboard as the
//! worked example.
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

extern crate alloc;

pub mod edu;
pub mod keyboard;
pub mod net;
pub mod power;
pub mod serial;
pub mod virtio;
