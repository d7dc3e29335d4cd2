//! A CPU's magazine for one class: a small stack of blocks it freed,
//! handed out again before any slab is touched (Bonwick's magazines, in
//! front of DragonFly's per-CPU slabs).
//!
//! A free on the owning CPU that finds room here pushes the block; an
//! allocation pops the last one pushed. Neither touches the block's slab
//! beyond the checks the free makes first, nor any list: for the slab a
//! block in a magazine is still live, which is what makes both operations
//! short. When the magazine is empty an allocation takes a block from a
//! slab, and when it is full a free gives the block to its slab, as if
//! there were no magazine: nothing is ever moved in bulk, so no operation
//! costs more than one slab operation plus a compare.
//!
//! A block here carries its **free mark**, as on a slab's free list (see
//! `slab.rs`), so a second free of it is caught as a double free, by its
//! owner and by any other CPU, and the allocation that pops it checks the
//! mark is still there (a write after free would have destroyed it).
//!
//! What it costs in memory: a magazine holds at most [`limit`] blocks,
//! 8 KiB of its class or [`CAPACITY`] blocks, whichever is fewer: about
//! 170 KiB per CPU if every class's magazine is full, which keeps those
//! slabs from becoming empty. They go back to their slabs when the heap
//! runs short (`CpuCache::drain_magazines`).
//!
//! Only the owning CPU, in task context, pushes and pops; the count is an
//! atomic (loads and stores, no read-modify-write) only so that `mem` may
//! read it from anywhere.

use core::cell::Cell;
use core::ptr;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::slab;

/// The most blocks any magazine holds (what fits in its class's 256
/// bytes of the CPU's cache, beside the slab list and the counters).
pub(crate) const CAPACITY: usize = 28;

/// Bytes of its class a magazine holds at most (its class's [`limit`]).
const BYTES: usize = 8 * 1024;

/// How many blocks `class`'s magazine holds: at least 2.
pub(crate) const fn limit(size: u32) -> u32 {
    let n = BYTES / size as usize;
    if n > CAPACITY {
        CAPACITY as u32
    } else if n < 2 {
        2
    } else {
        n as u32
    }
}

/// One class's magazine.
pub(crate) struct Magazine {
    count: AtomicU32,
    /// At most [`CAPACITY`], fixed at construction.
    limit: u32,
    slots: [Cell<*mut u8>; CAPACITY],
}

/// What a pop found.
pub(crate) enum Popped {
    /// A block, its mark cleared.
    Block(*mut u8),
    /// Nothing here: take a block from a slab.
    Empty,
    /// The block on top lost its free mark: written after it was freed.
    /// It was dropped (left live in its slab, so never handed out).
    Corrupted(*mut u8),
}

impl Magazine {
    /// The magazine for a class of `size`-byte blocks.
    pub(crate) const fn new(size: u32) -> Self {
        Self { count: AtomicU32::new(0), limit: limit(size), slots: [const { Cell::new(ptr::null_mut()) }; CAPACITY] }
    }

    /// Blocks held now (any CPU may ask).
    pub(crate) fn len(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }

    /// Keeps `p` if there is room (`false`: give it to its slab).
    ///
    /// # Safety
    /// On the owning CPU, in task context; `p` starts a block that is
    /// allocated now (the caller checked), given up by the caller.
    #[inline]
    pub(crate) unsafe fn push(&self, p: *mut u8) -> bool {
        let n = self.count.load(Ordering::Relaxed);
        if n >= self.limit {
            return false;
        }
        // SAFETY: a block of at least 16 bytes, given up by the caller.
        unsafe { p.cast::<usize>().add(1).write(slab::free_mark(p)) };
        // SAFETY: `n < limit <= CAPACITY`.
        unsafe { self.slots.get_unchecked(n as usize) }.set(p);
        self.count.store(n + 1, Ordering::Relaxed);
        true
    }

    /// The block pushed last.
    ///
    /// # Safety
    /// On the owning CPU, in task context.
    #[inline]
    pub(crate) unsafe fn pop(&self) -> Popped {
        let n = self.count.load(Ordering::Relaxed);
        if n == 0 {
            return Popped::Empty;
        }
        // SAFETY: `0 < n <= limit <= CAPACITY`.
        let p = unsafe { self.slots.get_unchecked(n as usize - 1) }.get();
        self.count.store(n - 1, Ordering::Relaxed);
        // SAFETY: `p` is a free block of at least 16 bytes, ours.
        if !unsafe { slab::marked_free(p) } {
            return Popped::Corrupted(p);
        }
        // SAFETY: as above; no mark on a block handed out.
        unsafe { p.cast::<usize>().add(1).write(0) };
        Popped::Block(p)
    }

    /// Empties the magazine, passing each block to `give` (with its mark
    /// still on it).
    ///
    /// # Safety
    /// On the owning CPU, in task context.
    pub(crate) unsafe fn drain(&self, mut give: impl FnMut(*mut u8)) {
        let n = self.count.load(Ordering::Relaxed);
        self.count.store(0, Ordering::Relaxed);
        for slot in &self.slots[..n as usize] {
            give(slot.get());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::Class;

    fn capacity_bytes(class: Class) -> usize {
        limit(class.size() as u32) as usize * class.size()
    }

    #[test]
    fn every_class_keeps_at_least_two_blocks_and_at_most_8_kib_or_28() {
        let mut total = 0;
        for class in Class::all() {
            let n = limit(class.size() as u32) as usize;
            assert!((2..=CAPACITY).contains(&n), "{} bytes: {n}", class.size());
            assert!(n * class.size() <= BYTES.max(2 * class.size()));
            total += capacity_bytes(class);
        }
        assert!(total <= 170 * 1024, "{total} bytes per CPU at most");
    }
}
