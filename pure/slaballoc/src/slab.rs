//! One slab: [`SLAB_SIZE`] bytes aligned to their size, carved into blocks
//! of one class, with its header at the front.
//!
//! Any pointer into a slab finds its header by masking, so a free needs no
//! lookup table beyond the page level's granule map (is this a slab at
//! all?). The map marks a granule only once its header is written, so a
//! free that finds the mark trusts the header (its `key` is checked in
//! debug builds). The header has two kinds of field:
//! - set when the slab is formatted and unchanged until it is formatted
//!   again (`key`, `owner`, `class`, geometry): any CPU may read them while
//!   it holds a block of the slab, which is why a slab is only reformatted
//!   once every block is back home (live count 0);
//! - owned by the owning CPU (`Cell`s: free list, bump index, live count,
//!   list links): only that CPU touches them, with no atomics.
//!
//! Blocks are carved lazily: `bump` counts blocks ever handed out, so a
//! fresh slab costs a header write, not a pass over the whole slab; a
//! pointer at or past `bump` was never handed out.
//!
//! A block on the free list holds two words: the link to the next free
//! block (the slab's own header ends the list, so every link of a sound
//! list points into its slab, one compare), and its **free mark** (its own address mixed with a constant).
//! An allocation clears the mark; a free finds it and refuses the block:
//! a double free. The mark lives in the block's own cache line, which the
//! free writes anyway (an earlier version kept a live bitmap in the header
//! instead: one more line and read-modify-write per operation, a fifth of
//! the fast path). A block freed on a CPU that does not own it carries a
//! **transit mark** instead (the free mark's constant with its low bit
//! flipped) until it is home: a free that finds either mark is a double
//! free. What it cannot see: a double free of a block that was
//! written after its first free, over its mark, while another block of its
//! slab is live (with none live, the free is refused; a block in a magazine
//! counts as live); the allocation that would hand that block out finds
//! the mark gone and drops it (a magazine's copy: the first of the two
//! allocations cleared the mark) or the free list, as corrupted (as for a
//! broken link). A free from another CPU sets the transit mark with one
//! swap, which tells it whether either mark was there: two such frees of
//! one block, even at the same moment, cannot both pass.

use core::cell::Cell;
use core::ptr;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::class::Class;
use crate::report::Misuse;

/// Bytes per slab (and its alignment).
pub const SLAB_SIZE: usize = 32 * 1024;

/// Mixed with a slab's address to mark it formatted (checked in debug
/// builds: the granule map is what a free relies on).
const KEY: usize = 0x51ab_a11c_0de5_1ab5;

/// Mixed with a free block's address for its free mark.
const FREE: usize = 0xf4ee_b10c_0dd5_eed5;

/// Mixed with a block's address while it travels home: the free mark's
/// constant with its low bit flipped, so one compare tells a block that is
/// free, here or on its way, from one that is live.
const TRANSIT: usize = FREE ^ 1;

/// Which of its owner's lists a slab is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Listed {
    /// Has free blocks; on its class's partial list.
    Partial,
    /// Every block allocated; on no list.
    Full,
    /// No block allocated; on the CPU's empty list, ready for any class.
    Empty,
}

/// A slab's header.
#[repr(C)]
pub(crate) struct Slab {
    key: usize,
    owner: u32,
    class: Class,
    first: u32,
    size: u32,
    capacity: u32,
    /// `floor(2^32 / size) + 1`: offset * recip >> 32 is offset / size for
    /// every offset in a slab (checked by a test), without a division.
    recip: u64,
    /// On a cache line of its own: the fields above are read by every CPU
    /// that frees a block here, these are written by each allocation.
    pub(crate) owned: Owned,
}

/// The owner's half of a slab header.
#[repr(C, align(64))]
pub(crate) struct Owned {
    /// The first free block; the header's address when there is none.
    free: Cell<*mut u8>,
    /// Blocks ever carved. Written by the owner only (loads and stores); an
    /// atomic so that another CPU freeing a block may read it.
    bump: AtomicU32,
    live: Cell<u32>,
    listed: Cell<Listed>,
    pub(crate) prev: Cell<*mut Slab>,
    pub(crate) next: Cell<*mut Slab>,
}

/// What a free block's second word holds while it is on the free list.
#[inline]
pub(crate) fn free_mark(p: *mut u8) -> usize {
    p as usize ^ FREE
}

/// What a block's second word holds on its way home from another CPU's
/// free, until its owner takes it back.
#[inline]
pub(crate) fn transit_mark(p: *mut u8) -> usize {
    p as usize ^ TRANSIT
}

/// Marks `p`, freed on a CPU that does not own it, as on its way home:
/// `Err` (and the word unchanged) if it is free already, at home or on
/// its way there. One swap, so two CPUs freeing the same block at once
/// cannot both pass, and the block's line comes to this CPU once, for
/// writing.
///
/// # Safety
/// As [`marked_free`].
#[inline]
pub(crate) unsafe fn mark_in_transit(p: *mut u8) -> Result<(), Misuse> {
    // SAFETY: per the contract, an aligned word that no one else writes in
    // a correct program; atomic only for the race a double free makes.
    let word = unsafe { AtomicUsize::from_ptr(p.cast::<usize>().add(1)) };
    let old = word.swap(transit_mark(p), Ordering::Relaxed);
    if free_or_in_transit(p, old) {
        word.store(old, Ordering::Relaxed);
        return Err(Misuse::DoubleFree);
    }
    Ok(())
}

/// Whether `word`, `p`'s second word, is its free or its transit mark
/// (they differ in the low bit only, which is set in `FREE`).
#[inline]
fn free_or_in_transit(p: *mut u8, word: usize) -> bool {
    const { assert!(FREE & 1 == 1 && TRANSIT == FREE ^ 1) };
    (word ^ p as usize) | 1 == FREE
}

/// Whether `p`'s second word is its free mark: it is on its slab's free
/// list (or someone wrote exactly that word there).
///
/// # Safety
/// `p` starts a block of a formatted slab (at least 16 bytes, readable).
/// The caller has given it up, so in a correct program nobody writes it
/// now; if it is in fact free, its owner may be handing it out at this
/// moment, and the answer is as good as a read of a block being double
/// freed can be.
#[inline]
pub(crate) unsafe fn marked_free(p: *mut u8) -> bool {
    // SAFETY: per the contract, two readable words.
    unsafe { p.cast::<usize>().add(1).read() == free_mark(p) }
}

/// What a block's index lookup found.
pub(crate) type Index = usize;

impl Slab {
    /// The slab containing `p` (which must be inside some slab).
    #[inline]
    pub(crate) fn containing(p: *mut u8) -> *mut Slab {
        (p as usize & !(SLAB_SIZE - 1)) as *mut Slab
    }

    /// Writes a fresh header for `class` blocks owned by `owner`.
    ///
    /// # Safety
    /// 1. `base` is [`SLAB_SIZE`]-aligned and the start of `SLAB_SIZE`
    ///    writable bytes that nothing else uses.
    /// 2. No other CPU holds a reference into the slab (it is fresh from the
    ///    page level, or empty and on `owner`'s empty list).
    pub(crate) unsafe fn format(base: *mut u8, owner: usize, class: Class) -> *mut Slab {
        debug_assert_eq!(base as usize % SLAB_SIZE, 0);
        let size = class.size();
        let first = core::mem::size_of::<Slab>().next_multiple_of(class.align());
        let header = Slab {
            key: base as usize ^ KEY,
            owner: owner as u32,
            class,
            first: first as u32,
            size: size as u32,
            capacity: ((SLAB_SIZE - first) / size) as u32,
            recip: (1u64 << 32) / size as u64 + 1,
            owned: Owned {
                free: Cell::new(base),
                bump: AtomicU32::new(0),
                live: Cell::new(0),
                listed: Cell::new(Listed::Empty),
                prev: Cell::new(ptr::null_mut()),
                next: Cell::new(ptr::null_mut()),
            },
        };
        let slab = base.cast::<Slab>();
        // SAFETY: (1) the memory is ours and aligned (SLAB_SIZE > align of
        // Slab); (2) nobody else reads it while we write.
        unsafe { slab.write(header) };
        slab
    }

    /// Whether this header was written by [`Slab::format`] at this address.
    #[inline]
    pub(crate) fn is_formatted(&self) -> bool {
        self.key == ptr::from_ref(self) as usize ^ KEY
    }

    /// The CPU whose cache owns this slab.
    #[inline]
    pub(crate) fn owner(&self) -> usize {
        self.owner as usize
    }

    /// The class of its blocks.
    #[inline]
    pub(crate) fn class(&self) -> Class {
        self.class
    }

    /// The index of the block position `p` starts, if it starts one. It
    /// may be one past the last block (the slab's tail, shorter than a
    /// block, but 16 bytes at least when it is there): the owner's free
    /// refuses it as never carved (at or past `bump`); another CPU asks
    /// [`Self::is_block`] before it sends a block home. Reads only the
    /// fields fixed at formatting, so any CPU holding a block may ask.
    #[inline]
    pub(crate) fn index_of(&self, p: *mut u8) -> Result<Index, Misuse> {
        let offset = (p as usize).wrapping_sub(ptr::from_ref(self) as usize);
        let Some(rel) = offset.checked_sub(self.first as usize) else {
            return Err(Misuse::NotAllocated);
        };
        let index = ((rel as u64 * self.recip) >> 32) as usize;
        if index * self.size as usize != rel {
            return Err(Misuse::NotAllocated);
        }
        Ok(index)
    }

    /// Whether block `index`, from [`Self::index_of`], was ever handed
    /// out. Any CPU holding a block of the slab may ask: `bump` only grows
    /// while the slab is formatted, and a CPU that was given a block saw
    /// the store that carved it (the block's hand-over orders it).
    #[inline]
    pub(crate) fn carved(&self, index: Index) -> bool {
        index < self.owned.bump.load(Ordering::Relaxed) as usize
    }

    // --- Owner only from here on. ---

    /// Blocks allocated now.
    #[inline]
    pub(crate) fn live(&self) -> u32 {
        self.owned.live.get()
    }

    /// Whether a block is left to hand out (free or never carved). Only a
    /// corrupted free list, once dropped, makes this differ from "fewer
    /// blocks live than the slab holds".
    #[inline]
    pub(crate) fn has_room(&self) -> bool {
        self.owned.free.get() != ptr::from_ref(self).cast_mut().cast() || self.owned.bump.load(Ordering::Relaxed) < self.capacity
    }

    pub(crate) fn listed(&self) -> Listed {
        self.owned.listed.get()
    }

    pub(crate) fn set_listed(&self, listed: Listed) {
        self.owned.listed.set(listed);
    }

    /// Hands out a block: the last one freed, else a never-used one.
    /// `Err` if the free list was found corrupted (a write after free put a
    /// pointer outside this slab in a free block's link): the list is
    /// dropped, leaking its blocks rather than handing out foreign memory.
    ///
    /// # Safety
    /// Called on the owning CPU, on a slab that [`has room`](Self::has_room).
    #[inline]
    pub(crate) unsafe fn take(&self) -> Result<*mut u8, Misuse> {
        debug_assert!(self.has_room());
        let base = ptr::from_ref(self) as usize;
        let head = self.owned.free.get();
        let block = if head as usize == base {
            let n = self.owned.bump.load(Ordering::Relaxed);
            self.owned.bump.store(n + 1, Ordering::Relaxed);
            (base + self.first as usize + n as usize * self.size as usize) as *mut u8
        } else {
            // SAFETY: `head` is a free block of this slab; its words are the
            // link and the mark `put` wrote (blocks are at least 16
            // bytes).
            let (next, mark) = unsafe { (head.cast::<*mut u8>().read(), head.cast::<usize>().add(1).read()) };
            // The link stays in the slab: a block, or the header (the end).
            if mark != free_mark(head) || (next as usize ^ base) >= SLAB_SIZE {
                self.owned.free.set(base as *mut u8);
                return Err(Misuse::FreeListCorrupted);
            }
            self.owned.free.set(next);
            head
        };
        // No mark on a block handed out (a carved one may hold a stale
        // mark from the memory's earlier life).
        // SAFETY: the block is ours to write, at least 16 bytes.
        unsafe { block.cast::<usize>().add(1).write(0) };
        self.owned.live.set(self.owned.live.get() + 1);
        Ok(block)
    }

    /// Whether block `index` (starting at `p`) may be freed: `Err` if it
    /// is not allocated now (never carved, or freed already).
    ///
    /// # Safety
    /// Called on the owning CPU; `index` is `index_of(p)`; the caller gives
    /// up `p` (it is no longer used by anyone, if it was allocated).
    #[inline]
    pub(crate) unsafe fn check_free(&self, p: *mut u8, index: Index) -> Result<(), Misuse> {
        if !self.carved(index) {
            return Err(Misuse::NotAllocated);
        }
        // SAFETY: a block of this slab, which the caller gave up.
        let word = unsafe { p.cast::<usize>().add(1).read() };
        // Free here, or on its way home from another CPU's free. (No block
        // live: a double free whose mark was written over.)
        if free_or_in_transit(p, word) || self.owned.live.get() == 0 {
            return Err(Misuse::DoubleFree);
        }
        Ok(())
    }

    /// Takes block `p` back onto the free list, marked.
    ///
    /// # Safety
    /// Called on the owning CPU; `p` is a block of this slab that is live
    /// (it passed [`Self::check_free`], or it comes from this CPU's
    /// magazine), given up by the caller.
    #[inline]
    pub(crate) unsafe fn put(&self, p: *mut u8) {
        // SAFETY: `p` is a block of this slab, at least 16 bytes, which the
        // caller gave up.
        unsafe {
            p.cast::<*mut u8>().write(self.owned.free.get());
            p.cast::<usize>().add(1).write(free_mark(p));
        }
        self.owned.free.set(p);
        self.owned.live.set(self.owned.live.get() - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reciprocal_divides_exactly_across_a_slab() {
        for class in Class::all() {
            let size = class.size() as u64;
            let recip = (1u64 << 32) / size + 1;
            for rel in 0..SLAB_SIZE as u64 {
                assert_eq!((rel * recip) >> 32, rel / size, "size {size} offset {rel}");
            }
        }
    }

    #[test]
    fn blocks_are_aligned_and_inside_the_slab() {
        for class in Class::all() {
            let first = core::mem::size_of::<Slab>().next_multiple_of(class.align());
            let capacity = (SLAB_SIZE - first) / class.size();
            assert!(capacity >= 7, "{} bytes: {capacity} blocks", class.size());
            assert!(first + capacity * class.size() <= SLAB_SIZE);
            assert_eq!(first % class.align(), 0);
        }
    }
}
