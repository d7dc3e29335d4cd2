//! A CPU's remote-free list: blocks freed on other CPUs (or in interrupt
//! handlers) on their way back to the CPU that owns their slab.
//!
//! # Protocol
//! A Treiber stack that many CPUs push onto and only the owner empties,
//! always all at once:
//! 1. A freeing CPU pushes a chain of blocks it has linked itself (one
//!    block, or a batch it gathered for this owner: see `heap.rs`), each
//!    with a second word of its choosing (the heap writes the block's
//!    transit mark there, `slab.rs`). It points the
//!    chain's last block at the head it read and publishes the chain's
//!    first block with a compare-exchange (release: the owner that takes
//!    the list sees every word). It retries if another push won.
//! 2. The owner takes the whole list with one swap to null (acquire) and
//!    walks it, now or later (the heap walks one block per allocation:
//!    [`Batch::into_raw`] keeps the rest); nobody else ever unlinks, so a block cannot vanish from
//!    under a pusher and ABA is harmless: a head that went A -> null -> A
//!    while a pusher was preparing is still the right next link for it.
//! 3. The push that finds the list empty returns [`Pushed::First`]: the
//!    caller tells the owner (DragonFly sends its passive IPI only then),
//!    so a stream of frees costs the owner one wakeup per batch, not one
//!    per block. The owner also looks at its list (one load) each time it
//!    allocates and each turn of its loop, so a list that is not empty is
//!    taken soon whether or not the owner was told.
//! 4. The push and the owner's idle check are sequentially consistent: an
//!    owner that announces it is going idle and then sees an empty list,
//!    and a pusher that then finds the list empty and looks at the owner's
//!    idle flag, cannot both miss each other (the same store-then-load on
//!    both sides as the IPI queues' idle protocol).
//!
//! The count of blocks in transit is kept beside it for statistics: raised
//! before the push, lowered by the owner once it has walked a whole take.
//!
//! Model-checked with loom (`tests/loom.rs`).

use core::ptr;

use io::sync::{AtomicPtr, AtomicUsize, Ordering};

/// A list of blocks freed away from home.
#[derive(Debug)]
pub struct RemoteList {
    head: AtomicPtr<u8>,
    in_transit: AtomicUsize,
}

/// What a push found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "the first push since the owner last took its list must tell the owner"]
pub enum Pushed {
    /// The list was empty: tell the owner.
    First,
    /// Others are already waiting; the owner has been told.
    Queued,
}

impl RemoteList {
    /// An empty list.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self { head: AtomicPtr::new(ptr::null_mut()), in_transit: AtomicUsize::new(0) }
    }

    /// An empty list.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self { head: AtomicPtr::new(ptr::null_mut()), in_transit: AtomicUsize::new(0) }
    }

    /// Pushes `block`, recording `tag` in its second word.
    ///
    /// # Safety
    /// `block` is at least 16 bytes, 8-aligned, and the caller gives it up:
    /// nobody but the owner that takes it touches it again.
    pub unsafe fn push(&self, block: *mut u8, tag: usize) -> Pushed {
        // SAFETY: the block is ours to write (the caller gave it up) and
        // has two words; a chain of one.
        unsafe {
            Chain::tag(block, tag);
            self.push_chain(block, block, 1)
        }
    }

    /// Pushes the chain `first ..= last` of `n` blocks, linked through
    /// their first words ([`Chain`]) and tagged.
    ///
    /// # Safety
    /// As [`Self::push`], for every block of the chain; `last`'s link is
    /// overwritten.
    pub unsafe fn push_chain(&self, first: *mut u8, last: *mut u8, n: usize) -> Pushed {
        self.in_transit.fetch_add(n, Ordering::Relaxed);
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `last` is ours to write until the chain is published;
            // rewritten on each retry, before publishing.
            unsafe { last.cast::<*mut u8>().write(head) };
            match self.head.compare_exchange_weak(head, first, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => return if head.is_null() { Pushed::First } else { Pushed::Queued },
                Err(now) => head = now,
            }
        }
    }

    /// Whether nothing is waiting (one load; sequentially consistent for
    /// the idle check, rule 4).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head.load(Ordering::SeqCst).is_null()
    }

    /// Takes everything waiting (the owner only). Call [`Self::taken`]
    /// with the number of blocks walked.
    pub fn take(&self) -> Batch {
        Batch(self.head.swap(ptr::null_mut(), Ordering::Acquire))
    }

    /// Records that the owner took `n` blocks back.
    pub fn taken(&self, n: usize) {
        self.in_transit.fetch_sub(n, Ordering::Relaxed);
    }

    /// Blocks pushed and not yet taken back.
    pub fn in_transit(&self) -> usize {
        self.in_transit.load(Ordering::Relaxed)
    }
}

impl Default for RemoteList {
    fn default() -> Self {
        Self::new()
    }
}

/// How a freeing CPU links and tags blocks before it pushes them.
#[derive(Debug)]
pub struct Chain;

impl Chain {
    /// Writes `tag` into `block`'s second word.
    ///
    /// # Safety
    /// `block` has two words the caller may write.
    #[inline]
    pub unsafe fn tag(block: *mut u8, tag: usize) {
        // SAFETY: as promised.
        unsafe { block.cast::<usize>().add(1).write(tag) };
    }

    /// Points `block`'s link at `next`.
    ///
    /// # Safety
    /// As [`Chain::tag`].
    #[inline]
    pub unsafe fn link(block: *mut u8, next: *mut u8) {
        // SAFETY: as promised.
        unsafe { block.cast::<*mut u8>().write(next) };
    }
}

/// The blocks one [`RemoteList::take`] got, as `(block, tag)`. Each link
/// is read before its block is yielded, so the caller may reuse the block
/// at once.
#[derive(Debug)]
pub struct Batch(*mut u8);

impl Default for Batch {
    /// No blocks.
    fn default() -> Self {
        Batch(ptr::null_mut())
    }
}

impl Batch {
    /// The blocks not yet yielded, as the chain's first block (null: none),
    /// to be kept and walked on later with [`Batch::resume`].
    pub fn into_raw(self) -> *mut u8 {
        self.0
    }

    /// Walks on from what [`Batch::into_raw`] gave.
    ///
    /// # Safety
    /// `first` came from `into_raw` of a batch of this list's owner, which
    /// is the caller, and has not been resumed since.
    pub unsafe fn resume(first: *mut u8) -> Batch {
        Batch(first)
    }
}

impl Iterator for Batch {
    type Item = (*mut u8, usize);

    fn next(&mut self) -> Option<(*mut u8, usize)> {
        let block = self.0;
        if block.is_null() {
            return None;
        }
        let words = block.cast::<usize>();
        // SAFETY: every block on the list was written by `push` (link and
        // tag) before the release that published it, which the swap in
        // `take` acquired; only this owner reads it now.
        let (next, tag) = unsafe { (words.cast::<*mut u8>().read(), words.add(1).read()) };
        self.0 = next;
        Some((block, tag))
    }
}
