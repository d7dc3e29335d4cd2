//! Virtio devices over the modern PCI transport: the transport itself
//! (`transport.rs`), a queue bundled with its notification and interrupt
//! (`queue.rs`: [`VirtQueue`](queue::VirtQueue)), CPU-owned queue state
//! (`owner_cell.rs`), and the drivers: block (`blk.rs`), network
//! (`net.rs`) and entropy (`rng.rs`, the worked example of README's
//! "Writing a virtio driver"). The virtqueue and layouts are the
//! host-tested `virtio` crate.

pub mod blk;
pub mod net;
mod owner_cell;
pub mod queue;
pub mod rng;
pub mod transport;

use kernel::pci::{self, Function};

/// Every virtio function of `device_type` (`virtio::pci::device_type`) on
/// the bus, in bus order, whether it carries the modern id (0x1040 + type)
/// or the transitional one (QEMU's default on the `pc` machine).
pub fn find(device_type: u16) -> impl Iterator<Item = &'static Function> {
    pci::functions().iter().filter(move |f| virtio::pci::matches(f.header.vendor, f.header.device, device_type))
}
