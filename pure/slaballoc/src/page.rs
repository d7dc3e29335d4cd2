//! The page level: slabs and large blocks, carved from one region by a
//! [`Backing`] allocator (talc behind its lock in the kernel).
//!
//! Off the fast path by design: a CPU comes here for a fresh slab, to give
//! back slabs past its hysteresis, and for blocks larger than 4 KiB (or
//! aligned past it). Two things make frees checkable:
//! - the **granule map**, one byte per [`SLAB_SIZE`] of the region, set
//!   while that granule is a slab whose header is written: a free finds out whether its pointer is
//!   a slab block (mask to the header), a page-level block, or not the
//!   heap's at all;
//! - a 16-byte **header** before every page-level block (its address mixed
//!   with a key, its size and alignment), checked and cleared by the free,
//!   so a double free, a stray pointer and a wrong layout are caught here
//!   too. A pointer into the middle of a large block passes only if the
//!   16 bytes before it hold exactly its own keyed address.

use core::alloc::Layout;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering};

use spinning_top::RawSpinlock;
use talc::TalcLock;
use talc::source::Manual;

use crate::report::Misuse;
use crate::slab::SLAB_SIZE;

/// The memory the page level carves.
///
/// # Safety
/// `alloc` returns null or memory valid for `layout` until it is passed to
/// `dealloc`, lying inside `region()`, as `GlobalAlloc` requires; every
/// byte of `region()` stays mapped and readable.
pub unsafe trait Backing: Sync {
    /// Memory for `layout`, or null.
    fn alloc(&self, layout: Layout) -> *mut u8;

    /// Gives back what `alloc` returned.
    ///
    /// # Safety
    /// `ptr` came from `alloc(layout)` and is not used afterwards.
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout);

    /// Resizes what `alloc(layout)` returned, in place if it can; null
    /// (and the block unchanged) if there is no room.
    ///
    /// # Safety
    /// As `GlobalAlloc::realloc`.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's layout rules carry over.
        let new = self.alloc(unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) });
        if !new.is_null() {
            // SAFETY: both valid for the smaller size, distinct.
            unsafe {
                ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }

    /// Where everything comes from: (start, length); (0, 0) before any
    /// memory was given.
    fn region(&self) -> (usize, usize);

    /// How full it is.
    fn usage(&self) -> BackingUsage;
}

/// A [`Backing`]'s usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackingUsage {
    /// Bytes it manages.
    pub size: u64,
    /// Bytes handed out (slabs, large blocks, the granule map).
    pub used: u64,
    /// Bytes available.
    pub free: u64,
}

/// talc over one claimed region, behind a spin lock. (The heap as it was
/// before the per-CPU caches, which is also what the benchmarks compare
/// against.)
pub struct TalcBacking {
    talc: TalcLock<RawSpinlock, Manual>,
    start: AtomicUsize,
    len: AtomicUsize,
}

impl TalcBacking {
    /// No memory yet.
    pub const fn new() -> Self {
        Self { talc: TalcLock::new(Manual), start: AtomicUsize::new(0), len: AtomicUsize::new(0) }
    }

    /// Gives talc `[start, start + len)`; `false` if it refused. Once only.
    ///
    /// # Safety
    /// The range is writable memory nothing else uses, for ever.
    pub unsafe fn claim(&self, start: *mut u8, len: usize) -> bool {
        // SAFETY: the caller's promise is talc's precondition.
        let claimed = unsafe { self.talc.lock().claim(start, len) };
        if claimed.is_some() {
            self.start.store(start as usize, Ordering::Release);
            self.len.store(len, Ordering::Release);
        }
        claimed.is_some()
    }
}

impl Default for TalcBacking {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: talc returns blocks of the one region it was given, valid until
// freed (its `GlobalAlloc` contract); the region is the caller's for ever.
unsafe impl Backing for TalcBacking {
    fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: GlobalAlloc's rule: non-zero size, which callers here
        // guarantee (slabs, headers, the map).
        unsafe { core::alloc::GlobalAlloc::alloc(&self.talc, layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { core::alloc::GlobalAlloc::dealloc(&self.talc, ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded; talc grows in place when the next chunk is free.
        unsafe { core::alloc::GlobalAlloc::realloc(&self.talc, ptr, layout, new_size) }
    }

    fn region(&self) -> (usize, usize) {
        (self.start.load(Ordering::Acquire), self.len.load(Ordering::Acquire))
    }

    fn usage(&self) -> BackingUsage {
        let talc = self.talc.lock();
        let c = talc.counters();
        BackingUsage { size: c.claimed_bytes as u64, used: c.allocated_bytes as u64, free: c.available_bytes as u64 }
    }
}

/// Mixed with a page-level block's address in its header while allocated.
const BLOCK_KEY: usize = 0xb10c_ed0d_a7a5_e7a1;
/// Written in its place by the free, so a second free is named as one.
const FREED_KEY: usize = 0xf7ee_dbad_c0de_0bad;
const HEADER: usize = 16;

/// Where a pointer lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Home {
    /// In a slab.
    Slab,
    /// Inside the heap, not in a slab: a page-level block if it is anything.
    Page,
    /// Not in the heap.
    Outside,
}

/// Slabs and large blocks over a [`Backing`].
pub(crate) struct PageLevel<B> {
    pub(crate) backing: B,
    map: AtomicPtr<AtomicU8>,
    /// First granule number (address / SLAB_SIZE) the map covers.
    first: AtomicUsize,
    granules: AtomicUsize,
    slabs: AtomicU64,
    block_bytes: AtomicU64,
    blocks: AtomicU64,
    allocs: AtomicU64,
}

/// Page-level figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageUsage {
    /// Slabs out (held by some CPU).
    pub slabs: u64,
    /// Page-level blocks live.
    pub blocks: u64,
    /// Bytes asked for in them.
    pub block_bytes: u64,
    /// Page-level blocks allocated since boot.
    pub allocs: u64,
    /// The backing allocator's own figures.
    pub backing: BackingUsage,
}

impl<B: Backing> PageLevel<B> {
    pub(crate) const fn new(backing: B) -> Self {
        Self {
            backing,
            map: AtomicPtr::new(ptr::null_mut()),
            first: AtomicUsize::new(0),
            granules: AtomicUsize::new(0),
            slabs: AtomicU64::new(0),
            block_bytes: AtomicU64::new(0),
            blocks: AtomicU64::new(0),
            allocs: AtomicU64::new(0),
        }
    }

    /// Builds the granule map once the backing has its region; `false` if
    /// there is no room for it.
    pub(crate) fn init(&self) -> bool {
        let (start, len) = self.backing.region();
        if len == 0 {
            return false;
        }
        let first = start / SLAB_SIZE;
        let granules = (start + len).div_ceil(SLAB_SIZE) - first;
        let Ok(layout) = Layout::array::<AtomicU8>(granules) else { return false };
        let map = self.backing.alloc(layout).cast::<AtomicU8>();
        if map.is_null() {
            return false;
        }
        for i in 0..granules {
            // SAFETY: `map` has room for `granules` bytes, just allocated.
            unsafe { map.add(i).write(AtomicU8::new(0)) };
        }
        self.first.store(first, Ordering::Relaxed);
        self.map.store(map, Ordering::Relaxed);
        self.granules.store(granules, Ordering::Release);
        true
    }

    /// `p`'s byte in the map, if the map covers it. (A raw pointer, not a
    /// reference: `Option<&_>` would make the compiler test it for null.)
    #[inline]
    fn granule(&self, p: usize) -> Option<*const AtomicU8> {
        // One compare covers both ends (the subtraction wraps below the
        // region); no granules before `init`.
        let index = (p / SLAB_SIZE).wrapping_sub(self.first.load(Ordering::Relaxed));
        if index >= self.granules.load(Ordering::Acquire) {
            return None;
        }
        // In the map, which was published before `granules` (Release in
        // `init`) and lives for ever.
        Some(self.map.load(Ordering::Relaxed).wrapping_add(index))
    }

    /// Where `p` lives.
    #[inline]
    pub(crate) fn home(&self, p: *mut u8) -> Home {
        match self.granule(p as usize) {
            // SAFETY: a byte of the map (`granule`).
            Some(g) if unsafe { (*g).load(Ordering::Acquire) } != 0 => Home::Slab,
            Some(_) => Home::Page,
            None => Home::Outside,
        }
    }

    /// A fresh slab's memory, or null. Frees treat it as a slab only once
    /// it is formatted and [`published`](Self::publish_slab).
    pub(crate) fn alloc_slab(&self) -> *mut u8 {
        // SAFETY: SLAB_SIZE is a non-zero power of two.
        let layout = unsafe { Layout::from_size_align_unchecked(SLAB_SIZE, SLAB_SIZE) };
        let p = self.backing.alloc(layout);
        if !p.is_null() {
            self.slabs.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    /// Marks `p`, from `alloc_slab`, as a slab in the granule map, once its
    /// header is written: a free that finds the mark may trust the header
    /// (Release here, Acquire in `home`).
    pub(crate) fn publish_slab(&self, p: *mut u8) {
        if let Some(g) = self.granule(p as usize) {
            // SAFETY: a byte of the map (`granule`).
            unsafe { (*g).store(1, Ordering::Release) };
        }
    }

    /// Returns a slab's memory.
    ///
    /// # Safety
    /// `p` came from `alloc_slab`, and no block of it is in use or in
    /// transit.
    pub(crate) unsafe fn free_slab(&self, p: *mut u8) {
        if let Some(g) = self.granule(p as usize) {
            // SAFETY: a byte of the map (`granule`).
            unsafe { (*g).store(0, Ordering::Release) };
        }
        self.slabs.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: as promised; same layout as `alloc_slab`.
        unsafe { self.backing.dealloc(p, Layout::from_size_align_unchecked(SLAB_SIZE, SLAB_SIZE)) };
    }

    fn outer(layout: Layout) -> Option<(Layout, usize)> {
        let align = layout.align().max(HEADER);
        let outer = Layout::from_size_align(layout.size().checked_add(align)?, align).ok()?;
        Some((outer, align))
    }

    /// A page-level block for `layout`, or null.
    pub(crate) fn alloc_block(&self, layout: Layout) -> *mut u8 {
        let Some((outer, offset)) = Self::outer(layout) else { return ptr::null_mut() };
        let raw = self.backing.alloc(outer);
        if raw.is_null() {
            return raw;
        }
        // SAFETY: `offset` >= HEADER bytes precede the block inside `raw`.
        let p = unsafe { raw.add(offset) };
        let meta = layout.size() | (layout.align().trailing_zeros() as usize) << 56;
        // SAFETY: the header's two words lie in `raw`, 16-aligned.
        unsafe { p.cast::<[usize; 2]>().sub(1).write([p as usize ^ BLOCK_KEY, meta]) };
        self.blocks.fetch_add(1, Ordering::Relaxed);
        self.allocs.fetch_add(1, Ordering::Relaxed);
        self.block_bytes.fetch_add(layout.size() as u64, Ordering::Relaxed);
        p
    }

    /// Checks `p`'s header against `layout`; the header's address.
    ///
    /// # Safety
    /// `p` is inside the region ([`Home::Page`]).
    unsafe fn check_block(&self, p: *mut u8, layout: Layout) -> Result<*mut [usize; 2], Misuse> {
        let (start, _) = self.backing.region();
        if !(p as usize).is_multiple_of(HEADER) || (p as usize) < start + HEADER {
            return Err(Misuse::NotAllocated);
        }
        let header = p.cast::<[usize; 2]>().wrapping_sub(1);
        // SAFETY: the 16 bytes before `p` are inside the region (checked
        // above), which stays mapped; a volatile read, since for a stray
        // pointer they are whatever is there.
        let [key, meta] = unsafe { header.read_volatile() };
        if key == p as usize ^ FREED_KEY {
            return Err(Misuse::DoubleFree);
        }
        if key != p as usize ^ BLOCK_KEY {
            return Err(Misuse::NotAllocated);
        }
        if meta != layout.size() | (layout.align().trailing_zeros() as usize) << 56 {
            return Err(Misuse::WrongLayout);
        }
        Ok(header)
    }

    /// Frees a page-level block, checking its header first.
    ///
    /// # Safety
    /// `p` is inside the region ([`Home::Page`]).
    pub(crate) unsafe fn free_block(&self, p: *mut u8, layout: Layout) -> Result<(), Misuse> {
        // SAFETY: forwarded.
        let header = unsafe { self.check_block(p, layout) }?;
        let (outer, offset) = Self::outer(layout).ok_or(Misuse::WrongLayout)?;
        // SAFETY: the header is this block's (its key matched).
        unsafe { header.cast::<usize>().write(p as usize ^ FREED_KEY) };
        self.blocks.fetch_sub(1, Ordering::Relaxed);
        self.block_bytes.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: `p - offset` is what `alloc_block` got for `outer`.
        unsafe { self.backing.dealloc(p.sub(offset), outer) };
        Ok(())
    }

    /// Resizes a page-level block to `new_size` (still a page-level size),
    /// in place when the backing can: `Ok(null)` if there is no room (the
    /// block is unchanged).
    ///
    /// # Safety
    /// `p` is inside the region; `new_size` with `layout.align()` is a
    /// valid layout.
    pub(crate) unsafe fn realloc_block(&self, p: *mut u8, layout: Layout, new_size: usize) -> Result<*mut u8, Misuse> {
        // SAFETY: forwarded.
        unsafe { self.check_block(p, layout) }?;
        let (outer, offset) = Self::outer(layout).ok_or(Misuse::WrongLayout)?;
        let Some(new_outer) = new_size.checked_add(offset) else { return Ok(ptr::null_mut()) };
        // SAFETY: `p - offset` came from `alloc(outer)`; the new size keeps
        // the alignment valid (the caller's promise plus `offset`).
        let raw = unsafe { self.backing.realloc(p.sub(offset), outer, new_outer) };
        if raw.is_null() {
            return Ok(raw);
        }
        // SAFETY: as in `alloc_block`.
        let q = unsafe { raw.add(offset) };
        let meta = new_size | (layout.align().trailing_zeros() as usize) << 56;
        // SAFETY: the header lies in `raw`, 16-aligned.
        unsafe { q.cast::<[usize; 2]>().sub(1).write([q as usize ^ BLOCK_KEY, meta]) };
        self.block_bytes.fetch_add(new_size as u64, Ordering::Relaxed);
        self.block_bytes.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        Ok(q)
    }

    pub(crate) fn usage(&self) -> PageUsage {
        PageUsage {
            slabs: self.slabs.load(Ordering::Relaxed),
            blocks: self.blocks.load(Ordering::Relaxed),
            block_bytes: self.block_bytes.load(Ordering::Relaxed),
            allocs: self.allocs.load(Ordering::Relaxed),
            backing: self.backing.usage(),
        }
    }
}
