//! Odonata's kernel allocator: DragonFly's slab design with per-CPU caches,
//! remote frees sent home without a lock, over a page level.
//!
//! # Shape
//! - **Size classes** (`class.rs`): 28 classes, 16 bytes to 4 KiB.
//! - **Slabs** (`slab.rs`): 32 KiB, aligned to their size, one class each,
//!   owned by one CPU; header in front; a free block carries its link and a
//!   free mark.
//! - **Magazines** (`magazine.rs`): per CPU and class, a stack of up to 28
//!   blocks the CPU freed (8 KiB at most), handed out again before any slab
//!   is touched; an empty one sends the allocation to a slab, a full one
//!   the free.
//! - **CPU caches** (`cache.rs`): per class, a magazine and a list of slabs
//!   with room, and a list of empty slabs. Allocation and a free on the
//!   owning CPU are plain loads and stores on the CPU's own cache: no lock,
//!   no atomic read-modify-write.
//! - **Remote frees** (`remote.rs`): a block freed on another CPU, or in an
//!   interrupt handler, is pushed onto its owner's lock-free list (one
//!   compare-exchange), in batches of up to 32 per owner gathered in the
//!   freeing CPU's outbox (`outbox.rs`); the first push onto an empty list
//!   tells the owner ([`Platform::notify`]). A block on its way carries a
//!   transit mark, so a second free of it, anywhere, is refused where it
//!   happens. The owner takes the whole list off when it next allocates
//!   (one load says whether there is anything) and walks it home one block
//!   per allocation, each wait for a block's line overlapping the
//!   allocating code's own work; its loop's [`Heap::reclaim`] takes the
//!   rest home (and sends the CPU's own outbox).
//! - **Page level** (`page.rs`): slabs and blocks over 4 KiB come from a
//!   [`Backing`] allocator over one region (talc behind its lock in the
//!   kernel), off the fast path. Empty slabs go back to it past a
//!   hysteresis ([`KEEP_EMPTY`] kept per CPU, trimmed only once there are
//!   more than [`TRIM_ABOVE`]), from `reclaim`, never from a free.
//!
//! # Rules for the platform
//! 1. [`Platform::context`] names the running CPU, and whether it is in an
//!    interrupt handler. A CPU's cache is only touched by that CPU in task
//!    context, so nothing there needs a lock.
//! 2. Interrupt handlers must not allocate: an allocation there is fatal,
//!    reported with the CPU and vector. (The interrupted code may be in the
//!    middle of an allocation on the same cache.) A free in a handler is
//!    allowed: it takes the remote path, even to its own CPU.
//! 3. Reports ([`Platform::report`], [`Platform::fatal`]) must not allocate.
//!
//! # What is checked
//! Always, since each check is a load or two: a free of a pointer outside
//! the heap, of one that does not start a block, of a block not allocated
//! now (double free: a free block, in a magazine or on a slab's list,
//! carries a free mark, and one on its way home a transit mark, which the
//! owner's free and another CPU's both look for; another CPU's free marks
//! the block with one swap, so two at once cannot both pass), with a
//! layout naming another class; a free list whose link points out of its
//! slab, or a free block that lost its mark (written after free), found
//! before it is handed out again. Each is reported
//! and the operation refused, so the heap stays consistent. Out of memory
//! is fatal and reports the request, the CPU, the task and the heap.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]

#[cfg(not(loom))]
mod cache;
#[cfg(not(loom))]
pub mod class;
#[cfg(not(loom))]
mod magazine;
#[cfg(not(loom))]
mod outbox;
#[cfg(not(loom))]
mod page;
pub mod remote;
#[cfg(not(loom))]
mod report;
#[cfg(not(loom))]
mod slab;
#[cfg(not(loom))]
mod stats;

#[cfg(not(loom))]
mod heap;

#[cfg(not(loom))]
pub use heap::{Heap, KEEP_EMPTY, TRIM_ABOVE};
#[cfg(not(loom))]
pub use page::{Backing, BackingUsage, PageUsage, TalcBacking};
#[cfg(not(loom))]
pub use report::{Misuse, Problem, Report, TaskRef};
#[cfg(not(loom))]
pub use slab::SLAB_SIZE;
#[cfg(not(loom))]
pub use stats::{CpuStats, Stats};

/// The most CPUs a heap has caches for.
pub const MAX_CPUS: usize = 64;

/// Where the allocator is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// Task (or boot) code on this CPU.
    Task(usize),
    /// An interrupt or exception handler on this CPU.
    Interrupt {
        /// The CPU.
        cpu: usize,
        /// The vector it is handling.
        vector: u8,
    },
}

/// What the heap needs from the machine it runs on.
#[cfg(not(loom))]
pub trait Platform: Sync {
    /// Which CPU is running (< [`MAX_CPUS`]), and in which context.
    fn context(&self) -> Context;

    /// The task running on this CPU, if any.
    fn task(&self) -> Option<TaskRef>;

    /// CPU `owner`'s remote list has just gone from empty to non-empty:
    /// make sure it takes it back soon (wake it if it is halted). Called
    /// from any context; must not allocate.
    fn notify(&self, owner: usize);

    /// A misuse was found and refused. Must not allocate.
    fn report(&self, report: &Report);

    /// A fatal condition: print and stop. Must not allocate.
    fn fatal(&self, report: &Report, stats: &Stats) -> !;
}
