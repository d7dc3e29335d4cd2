//! The heap's accounting, as `mem` shows it.

use crate::MAX_CPUS;
use crate::page::PageUsage;
use crate::slab::SLAB_SIZE;

/// One CPU's cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuStats {
    /// Blocks allocated from its slabs since boot.
    pub allocs: u64,
    /// Blocks taken back into its slabs (its own frees and remote ones).
    pub frees: u64,
    /// Bytes in its live blocks (by class size; remote frees count until
    /// they are taken back).
    pub live_bytes: u64,
    /// Slabs it holds, empty ones included.
    pub slabs: u64,
    /// Of those, empty.
    pub empty_slabs: u64,
    /// Bytes in its magazines: blocks it freed, kept for its next
    /// allocations (free, but still counted in their slabs).
    pub magazine_bytes: u64,
    /// Blocks on its remote list, freed elsewhere, not yet taken back.
    pub in_transit: u64,
    /// Blocks freed here for other CPUs, gathered in its outbox, not yet
    /// sent.
    pub outbox: u64,
    /// Frees it sent to other CPUs' lists (and its handlers' frees).
    pub remote_frees: u64,
}

impl CpuStats {
    /// Bytes of slab it holds.
    pub fn held_bytes(&self) -> u64 {
        self.slabs * SLAB_SIZE as u64
    }
}

/// The whole heap.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    /// Per CPU (entries past the CPUs in use are zero).
    pub cpus: [CpuStats; MAX_CPUS],
    /// The page level.
    pub pages: PageUsage,
    /// Misuses reported since boot.
    pub misuse: u64,
}

impl Stats {
    /// Bytes in live allocations: slab blocks by class size, page-level
    /// blocks by the size asked for.
    pub fn used(&self) -> u64 {
        self.cpus.iter().map(|c| c.live_bytes).sum::<u64>() + self.pages.block_bytes
    }

    /// Allocations since boot.
    pub fn allocations(&self) -> u64 {
        self.cpus.iter().map(|c| c.allocs).sum::<u64>() + self.pages.allocs
    }

    /// Bytes of slab held by all CPUs.
    pub fn held_bytes(&self) -> u64 {
        self.cpus.iter().map(CpuStats::held_bytes).sum()
    }

    /// Blocks in remote transit, all CPUs: in outboxes and on lists.
    pub fn in_transit(&self) -> u64 {
        self.cpus.iter().map(|c| c.in_transit + c.outbox).sum()
    }

    /// Of the slab bytes held, the share not in live blocks (free blocks,
    /// headers, empty slabs), in per mille: the heap's fragmentation.
    pub fn fragmentation_permille(&self) -> u64 {
        let held = self.held_bytes();
        let live: u64 = self.cpus.iter().map(|c| c.live_bytes).sum();
        (held.saturating_sub(live) * 1000).checked_div(held).unwrap_or(0)
    }
}
