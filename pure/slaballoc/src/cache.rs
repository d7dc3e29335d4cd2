//! A CPU's cache: its slabs, by class, and its remote-free list.
//!
//! Everything but the remote list and the counters is touched only by the
//! owning CPU in task context (the heap enforces it: an interrupt handler
//! may not allocate, and its frees take the remote path), so the fast path
//! is plain loads and stores: no lock, no atomic read-modify-write.
//!
//! In front of the slabs, one magazine per class (`magazine.rs`): a free
//! keeps its block there while there is room, an allocation takes from it
//! first.
//!
//! Lists (intrusive, through the slabs' headers):
//! - `partial[class]`: slabs with room, most recently freed-into first
//!   (blocks come off the head slab, the one most likely in cache);
//! - `empty`: slabs with no live block, reusable by any class. A slab
//!   whose last block is freed moves here, unless it is its class's only
//!   partial slab (so one alloc/free pair at a slab boundary does not
//!   reformat it each time). [`CpuCache::trim`] gives slabs past the
//!   hysteresis back to the page level, from the CPU's loop, never from a
//!   free;
//! - full slabs are on no list until a block comes back.

use core::cell::Cell;
use core::ptr;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::class::{self, Class};
use crate::magazine::{Magazine, Popped};
use crate::outbox::Outbox;
use crate::page::{Backing, PageLevel};
use crate::remote::RemoteList;
use crate::report::Misuse;
use crate::slab::{Index, Listed, Slab};

/// A statistic only its CPU writes (load and store: no read-modify-write),
/// which others may read at any time.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    #[inline]
    fn sub(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_sub(n), Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A CPU's figures (see [`crate::CpuStats`]). Allocations and frees are
/// counted per class, so each operation bumps one counter and live bytes
/// are worked out when asked for.
#[derive(Debug)]
pub(crate) struct Counters {
    pub(crate) slabs: Counter,
    pub(crate) empty_slabs: Counter,
    /// Frees this CPU sent to other CPUs' lists from task context.
    pub(crate) remote_frees: Counter,
    /// Frees in interrupt handlers here, sent to the owners' lists (an
    /// atomic add: the one counter an interrupt may bump).
    pub(crate) irq_frees: AtomicU64,
}

/// Why an allocation from the cache failed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Fail {
    /// No slab to be had from the page level.
    OutOfMemory,
    /// The slab's free list was corrupted and has been dropped; try again.
    Corrupted(*mut Slab),
    /// The block on top of the magazine was written after its free; it
    /// was dropped (left live in its slab); try again.
    WrittenAfterFree(*mut u8),
}

/// One class's share of a CPU's cache: its magazine, its list of slabs
/// with room and its counters, together in 256 bytes, so that an operation
/// finds them all from one address (the CPU's plus the class shifted).
#[repr(C, align(256))]
pub(crate) struct ClassCache {
    mag: Magazine,
    partial: Cell<*mut Slab>,
    allocs: Counter,
    frees: Counter,
}

impl ClassCache {
    const fn new(size: u32) -> Self {
        Self { mag: Magazine::new(size), partial: Cell::new(ptr::null_mut()), allocs: Counter::new(), frees: Counter::new() }
    }
}

/// One CPU's slabs and lists.
#[repr(align(256))]
pub(crate) struct CpuCache {
    classes: [ClassCache; class::COUNT],
    empty: Cell<*mut Slab>,
    empty_count: Cell<u32>,
    pub(crate) remote: RemoteList,
    /// Remote frees taken off `remote` and not yet walked home (a
    /// [`crate::remote::Batch`] kept raw), and how many of that take were.
    pub(crate) homing: Cell<*mut u8>,
    pub(crate) homed: Cell<usize>,
    pub(crate) outbox: Outbox,
    pub(crate) counters: Counters,
}

impl CpuCache {
    pub(crate) const fn new() -> Self {
        Self {
            classes: {
                let mut all = [const { ClassCache::new(16) }; class::COUNT];
                let mut i = 0;
                while i < class::COUNT {
                    all[i] = ClassCache::new(class::SIZES[i]);
                    i += 1;
                }
                all
            },
            empty: Cell::new(ptr::null_mut()),
            empty_count: Cell::new(0),
            remote: RemoteList::new(),
            homing: Cell::new(ptr::null_mut()),
            homed: Cell::new(0),
            outbox: Outbox::new(),
            counters: Counters {
                slabs: Counter::new(),
                empty_slabs: Counter::new(),
                remote_frees: Counter::new(),
                irq_frees: AtomicU64::new(0),
            },
        }
    }

    /// A block of `class`.
    ///
    /// # Safety
    /// On the CPU `me` that owns this cache, in task context.
    #[inline]
    pub(crate) unsafe fn alloc<B: Backing>(&self, class: Class, pages: &PageLevel<B>, me: usize) -> Result<*mut u8, Fail> {
        // SAFETY: on the owner, in task context.
        match unsafe { self.classes[class.index()].mag.pop() } {
            Popped::Block(p) => {
                self.classes[class.index()].allocs.add(1);
                return Ok(p);
            }
            Popped::Corrupted(p) => return Err(Fail::WrittenAfterFree(p)),
            Popped::Empty => {}
        }
        let mut slab = self.classes[class.index()].partial.get();
        if slab.is_null() {
            // SAFETY: forwarded.
            slab = unsafe { self.refill(class, pages, me) }.ok_or(Fail::OutOfMemory)?;
        }
        // SAFETY: slabs on our lists are formatted and ours.
        let s = unsafe { &*slab };
        // SAFETY: we own it and it is on the partial list, so it has room.
        let taken = unsafe { s.take() };
        if !s.has_room() {
            self.unlink(class, slab);
            s.set_listed(Listed::Full);
        }
        let block = taken.map_err(|_| Fail::Corrupted(slab))?;
        self.classes[class.index()].allocs.add(1);
        Ok(block)
    }

    /// Puts a slab with room at the head of `class`'s partial list: an
    /// empty one reformatted, else a fresh one from the page level.
    ///
    /// # Safety
    /// As [`Self::alloc`].
    #[cold]
    #[inline(never)]
    unsafe fn refill<B: Backing>(&self, class: Class, pages: &PageLevel<B>, me: usize) -> Option<*mut Slab> {
        let (base, fresh) = match self.pop_empty() {
            Some(empty) => (empty.cast::<u8>(), false),
            None => {
                let fresh = pages.alloc_slab();
                if fresh.is_null() {
                    return None;
                }
                self.counters.slabs.add(1);
                (fresh, true)
            }
        };
        // SAFETY: `base` is a whole slab no one else references: fresh, or
        // empty (no block live or in transit) and now off our lists.
        let slab = unsafe { Slab::format(base, me, class) };
        if fresh {
            pages.publish_slab(base);
        }
        self.push_partial(class, slab);
        Some(slab)
    }

    /// A free on the owning CPU of block `p` (number `index`) of `slab`,
    /// of `class`: checked, then taken back ([`Self::take_back`]).
    ///
    /// # Safety
    /// On the owning CPU, in task context; `slab` is one of ours (its
    /// owner is `me`) and of `class`, `index` is `index_of(p)`, and `p` is
    /// given up by the caller.
    #[inline]
    pub(crate) unsafe fn free(&self, slab: *mut Slab, class: Class, p: *mut u8, index: Index) -> Result<(), Misuse> {
        // SAFETY: the caller found `slab` formatted and owned by us; `index`
        // is `p`'s.
        unsafe { (*slab).check_free(p, index) }?;
        // SAFETY: checked: live, carved, ours.
        unsafe { self.take_back(slab, class, p) };
        Ok(())
    }

    /// Takes back live block `p` of `slab`, of `class`, already checked
    /// (by [`Self::free`], or by another CPU's free, which marked it in
    /// transit): kept in the class's magazine, or given to the slab.
    ///
    /// # Safety
    /// On the owning CPU, in task context; `slab` is one of ours and of
    /// `class`, and `p` one of its carved blocks that is live.
    #[inline]
    pub(crate) unsafe fn take_back(&self, slab: *mut Slab, class: Class, p: *mut u8) {
        self.classes[class.index()].frees.add(1);
        // SAFETY: on the owner; `p` is allocated and given up.
        if !unsafe { self.classes[class.index()].mag.push(p) } {
            // SAFETY: as above.
            unsafe { self.put_back(slab, class, p) };
        }
    }

    /// For a heap running short: gives every block in this CPU's
    /// magazines back to its slab, and moves every slab with no block live
    /// to the empty list (even its class's only partial slab), where any
    /// class may reuse it and `trim` may give it back.
    ///
    /// # Safety
    /// As [`Self::alloc`].
    #[cold]
    pub(crate) unsafe fn drain_magazines(&self) {
        for class in Class::all() {
            // SAFETY: on the owner; each block in the magazine is live in
            // its slab, one of ours, of `class`.
            unsafe { self.classes[class.index()].mag.drain(|p| self.put_back(Slab::containing(p), class, p)) };
            let mut slab = self.classes[class.index()].partial.get();
            // SAFETY: slabs on our partial lists are ours; `next` is read
            // before the slab moves.
            while let Some(s) = unsafe { slab.as_ref() } {
                let next = s.owned.next.get();
                if s.live() == 0 {
                    self.unlink(class, slab);
                    self.push_empty(slab);
                }
                slab = next;
            }
        }
    }

    /// Bytes in this CPU's magazines (any CPU may ask).
    pub(crate) fn magazine_bytes(&self) -> u64 {
        Class::all().map(|c| u64::from(self.classes[c.index()].mag.len()) * c.size() as u64).sum()
    }

    /// Puts live block `p` of `slab` (ours, of `class`) on its free list,
    /// and moves the slab between lists if it was full or is now empty.
    ///
    /// # Safety
    /// On the owner, in task context; `p` is live in `slab` and given up.
    #[inline]
    unsafe fn put_back(&self, slab: *mut Slab, class: Class, p: *mut u8) {
        // SAFETY: as promised.
        let s = unsafe { &*slab };
        // SAFETY: as promised.
        unsafe { s.put(p) };
        if s.listed() != Listed::Partial || s.live() == 0 {
            self.relist(class, slab);
        }
    }

    /// After a free into a slab that was full, or is now empty: back on
    /// the partial list, or onto the empty list (unless it is its class's
    /// only partial slab, so that one alloc/free pair at a slab boundary
    /// does not reformat it each time).
    #[inline]
    fn relist(&self, class: Class, slab: *mut Slab) {
        // SAFETY: ours (owner-only fields).
        let s = unsafe { &*slab };
        match s.listed() {
            Listed::Full => self.push_partial(class, slab),
            Listed::Partial if s.live() == 0 && !self.only_partial(class, slab) => {
                self.unlink(class, slab);
                self.push_empty(slab);
            }
            _ => {}
        }
    }

    /// Gives empty slabs past `keep` back to the page level.
    ///
    /// # Safety
    /// As [`Self::alloc`].
    pub(crate) unsafe fn trim<B: Backing>(&self, pages: &PageLevel<B>, keep: u32) {
        while self.empty_count.get() > keep {
            let Some(slab) = self.pop_empty() else { break };
            self.counters.slabs.sub(1);
            // SAFETY: an empty slab: no block live or in transit.
            unsafe { pages.free_slab(slab.cast()) };
        }
    }

    /// Allocations since boot and bytes live now (by class size).
    pub(crate) fn allocs_and_live(&self) -> (u64, u64) {
        self.classes.iter().zip(class::SIZES).fold((0, 0), |(n, live), (c, size)| {
            let (a, f) = (c.allocs.get(), c.frees.get());
            (n + a, live + a.wrapping_sub(f) * u64::from(size))
        })
    }

    /// Frees since boot (its own and remote ones taken home).
    pub(crate) fn frees(&self) -> u64 {
        self.classes.iter().map(|c| c.frees.get()).sum()
    }

    /// Empty slabs held.
    pub(crate) fn empty_count(&self) -> u32 {
        self.empty_count.get()
    }

    fn only_partial(&self, class: Class, slab: *mut Slab) -> bool {
        // SAFETY: `slab` is on our partial list.
        self.classes[class.index()].partial.get() == slab && unsafe { (*slab).owned.next.get().is_null() }
    }

    fn push_partial(&self, class: Class, slab: *mut Slab) {
        let head = &self.classes[class.index()].partial;
        // SAFETY: `slab` and the list's slabs are ours (owner-only fields).
        unsafe {
            (*slab).owned.prev.set(ptr::null_mut());
            (*slab).owned.next.set(head.get());
            if let Some(old) = head.get().as_ref() {
                old.owned.prev.set(slab);
            }
            (*slab).set_listed(Listed::Partial);
        }
        head.set(slab);
    }

    fn unlink(&self, class: Class, slab: *mut Slab) {
        // SAFETY: `slab` is on `class`'s partial list; its neighbours too.
        unsafe {
            let (prev, next) = ((*slab).owned.prev.get(), (*slab).owned.next.get());
            match prev.as_ref() {
                Some(p) => p.owned.next.set(next),
                None => self.classes[class.index()].partial.set(next),
            }
            if let Some(n) = next.as_ref() {
                n.owned.prev.set(prev);
            }
        }
    }

    fn push_empty(&self, slab: *mut Slab) {
        // SAFETY: ours; the empty list is singly linked through `next`.
        unsafe {
            (*slab).owned.next.set(self.empty.get());
            (*slab).set_listed(Listed::Empty);
        }
        self.empty.set(slab);
        self.empty_count.set(self.empty_count.get() + 1);
        self.counters.empty_slabs.add(1);
    }

    fn pop_empty(&self) -> Option<*mut Slab> {
        let slab = self.empty.get();
        // SAFETY: slabs on the empty list are ours.
        let next = unsafe { slab.as_ref() }?.owned.next.get();
        self.empty.set(next);
        self.empty_count.set(self.empty_count.get() - 1);
        self.counters.empty_slabs.sub(1);
        Some(slab)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_s_share_of_the_cache_is_256_bytes() {
        assert_eq!(core::mem::size_of::<ClassCache>(), 256);
    }
}
