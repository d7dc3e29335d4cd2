//! Virtio devices over the modern PCI transport: the transport itself
//! (`transport.rs`), CPU-owned queue state (`owner_cell.rs`), and the block
//! driver (`blk.rs`). The virtqueue and layouts are the host-tested
//! `virtio` crate.

pub mod blk;
pub mod net;
mod owner_cell;
pub mod transport;
