//! A CPU's outgoing remote frees: per destination CPU, a chain of blocks
//! freed here that belong there, sent as one push when it reaches
//! [`BATCH`] blocks or when the CPU's loop calls `Heap::reclaim` (snmalloc
//! batches its remote frees the same way). A stream of frees to one owner
//! then costs one compare-exchange per batch, and the owner's list line
//! moves between the CPUs once per batch instead of once per block.
//!
//! Owner-only state like the rest of the cache: only its CPU, in task
//! context, touches it (a free in an interrupt handler pushes its block
//! straight onto the owner's list instead).

use core::cell::Cell;
use core::ptr;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::MAX_CPUS;
use crate::remote::{Chain, Pushed, RemoteList};

/// Blocks gathered for one owner before they are sent.
pub const BATCH: u32 = 32;

/// One destination's chain.
struct Outgoing {
    first: Cell<*mut u8>,
    last: Cell<*mut u8>,
    count: Cell<u32>,
}

/// Every destination's chain, and which are non-empty.
pub(crate) struct Outbox {
    to: [Outgoing; MAX_CPUS],
    pending: Cell<u64>,
    /// Blocks in all chains: only this CPU writes it (loads and stores),
    /// `mem` reads it from anywhere.
    blocks: AtomicU64,
}

impl Outbox {
    pub(crate) const fn new() -> Self {
        Self {
            to: [const { Outgoing { first: Cell::new(ptr::null_mut()), last: Cell::new(ptr::null_mut()), count: Cell::new(0) } }; MAX_CPUS],
            pending: Cell::new(0),
            blocks: AtomicU64::new(0),
        }
    }

    /// Adds `block`, already marked in transit, to `owner`'s chain;
    /// `true` if the chain is now full and should be sent.
    ///
    /// # Safety
    /// On this outbox's CPU, in task context; `block` is a slab block of
    /// `owner`'s, given up by the caller.
    #[inline]
    pub(crate) unsafe fn add(&self, owner: usize, block: *mut u8) -> bool {
        let out = &self.to[owner];
        // SAFETY: the block is ours to write (given up).
        unsafe { Chain::link(block, out.first.get()) };
        if out.count.get() == 0 {
            out.last.set(block);
            self.pending.set(self.pending.get() | 1 << owner);
        }
        out.first.set(block);
        out.count.set(out.count.get() + 1);
        self.blocks.store(self.blocks.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        out.count.get() >= BATCH
    }

    /// Sends `owner`'s chain onto its list, if it has one.
    ///
    /// # Safety
    /// As [`Self::add`]; `list` is `owner`'s remote list.
    pub(crate) unsafe fn send(&self, owner: usize, list: &RemoteList) -> Option<Pushed> {
        let out = &self.to[owner];
        let n = out.count.get();
        if n == 0 {
            return None;
        }
        out.count.set(0);
        self.pending.set(self.pending.get() & !(1 << owner));
        self.blocks.store(self.blocks.load(Ordering::Relaxed) - u64::from(n), Ordering::Relaxed);
        // SAFETY: the chain's blocks were linked and tagged by `add`.
        Some(unsafe { list.push_chain(out.first.get(), out.last.get(), n as usize) })
    }

    /// The owners with a chain waiting.
    pub(crate) fn pending(&self) -> u64 {
        self.pending.get()
    }

    /// Blocks waiting here to be sent (from elsewhere: as last written).
    pub(crate) fn blocks(&self) -> u64 {
        self.blocks.load(Ordering::Relaxed)
    }
}
