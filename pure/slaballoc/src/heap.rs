//! The heap: per-CPU caches over the page level, and the paths between
//! them (see the crate doc for the design and the platform's rules).

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::cache::{CpuCache, Fail};
use crate::class::Class;
use crate::page::{Backing, Home, PageLevel};
use crate::remote::{Batch, Pushed};
use crate::report::{Misuse, Problem, Report};
use crate::slab::{self, Slab};
use crate::stats::{CpuStats, Stats};
use crate::{Context, MAX_CPUS, Platform};

/// Empty slabs a CPU keeps after [`Heap::reclaim`] trims (128 KiB).
pub const KEEP_EMPTY: u32 = 4;
/// Empty slabs a CPU may hold before `reclaim` trims (512 KiB): the
/// hysteresis that keeps a CPU that frees and refills a few slabs in turn
/// from going to the page level each time.
pub const TRIM_ABOVE: u32 = 16;

/// Remote frees an allocation walks home at most (see `walk_home`).
const WALK: usize = 1;

/// Per-CPU slab caches over a page level. A `static` in the kernel (its
/// `#[global_allocator]`); any number of instances on the host.
pub struct Heap<P, B> {
    cpus: [CpuCache; MAX_CPUS],
    pages: PageLevel<B>,
    platform: P,
    /// Every allocation from the page level, as before the caches existed
    /// (for the benchmark that compares the two in one boot).
    page_only: AtomicBool,
    misuse: AtomicU64,
}

// SAFETY: a CPU's cache (`Cell`s) is only touched by that CPU in task
// context (`Platform::context`, rule 1 of the crate doc), its remote list
// and counters are atomics, and the page level is `Sync`.
unsafe impl<P: Sync, B: Sync> Sync for Heap<P, B> {}

impl<P: Platform, B: Backing> Heap<P, B> {
    /// A heap over `backing`, unusable until [`Self::init`].
    pub const fn new(platform: P, backing: B) -> Self {
        Self {
            cpus: [const { CpuCache::new() }; MAX_CPUS],
            pages: PageLevel::new(backing),
            platform,
            page_only: AtomicBool::new(false),
            misuse: AtomicU64::new(0),
        }
    }

    /// The platform it was made with.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// The page level's allocator (to give it its region).
    pub fn backing(&self) -> &B {
        &self.pages.backing
    }

    /// Sets up the page level once the backing has its region; `false` if
    /// it has none or no room for the granule map.
    pub fn init(&self) -> bool {
        self.pages.init()
    }

    /// Sends every allocation to the page level (`true`), as the heap did
    /// before it had caches, or back to the caches. Blocks from either go
    /// home by address, so switching at any time is safe; for benchmarks.
    pub fn set_page_only(&self, on: bool) {
        self.page_only.store(on, Ordering::Relaxed);
    }

    /// Memory for `layout`, never null: out of memory is fatal.
    #[inline]
    pub fn allocate(&self, layout: Layout) -> *mut u8 {
        let cpu = match self.platform.context() {
            Context::Task(cpu) => cpu,
            Context::Interrupt { vector, .. } => self.fatal(Problem::AllocInInterrupt { vector }, layout),
        };
        if let Some(class) = Class::for_layout(layout.size(), layout.align())
            && !self.page_only.load(Ordering::Relaxed)
        {
            let cache = &self.cpus[cpu];
            if !cache.homing.get().is_null() || !cache.remote.is_empty() {
                // SAFETY: on `cpu`, in task context.
                return unsafe { self.allocate_walking(cpu, class, layout) };
            }
            // SAFETY: as above.
            return unsafe { self.allocate_class(cpu, class, layout) };
        }
        let mut p = self.pages.alloc_block(layout);
        if p.is_null() {
            // Our own remote frees, magazines and empty slabs are the one
            // reserve we may touch.
            // SAFETY: on `cpu`, in task context.
            unsafe {
                self.take_remote(cpu);
                self.cpus[cpu].drain_magazines();
                self.cpus[cpu].trim(&self.pages, 0);
            }
            p = self.pages.alloc_block(layout);
        }
        if p.is_null() {
            self.fatal(Problem::OutOfMemory, layout)
        }
        p
    }

    /// An allocation on a CPU with remote frees to take home: one block
    /// of them walked home first (`walk_home`). Out of line, so that the
    /// fast path around it keeps its registers.
    ///
    /// # Safety
    /// On `cpu`, in task context.
    #[cold]
    #[inline(never)]
    unsafe fn allocate_walking(&self, cpu: usize, class: Class, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        unsafe {
            self.walk_home(cpu, WALK);
            self.allocate_class(cpu, class, layout)
        }
    }

    /// A block of `class` from this CPU's cache, never null.
    ///
    /// # Safety
    /// On `cpu`, in task context.
    #[inline(always)]
    unsafe fn allocate_class(&self, cpu: usize, class: Class, layout: Layout) -> *mut u8 {
        let cache = &self.cpus[cpu];
        let mut drained = false;
        loop {
            // SAFETY: `cache` is this CPU's, in task context.
            match unsafe { cache.alloc(class, &self.pages, cpu) } {
                Ok(p) => return p,
                Err(Fail::Corrupted(slab)) => self.misuse(Misuse::FreeListCorrupted, slab.cast(), layout, Some(class.size())),
                Err(Fail::WrittenAfterFree(p)) => self.misuse(Misuse::WrittenAfterFree, p, layout, Some(class.size())),
                Err(Fail::OutOfMemory) if !drained => {
                    // Blocks on their way home, and blocks in this CPU's
                    // magazines, may keep slabs from being empty, hence
                    // reusable: take them back.
                    drained = true;
                    // SAFETY: on `cpu`, in task context.
                    unsafe {
                        self.take_remote(cpu);
                        cache.drain_magazines();
                    }
                }
                Err(Fail::OutOfMemory) => self.fatal(Problem::OutOfMemory, layout),
            }
        }
    }

    /// Frees `p`; a misuse is reported and refused.
    ///
    /// # Safety
    /// `p` is not used after this call by the caller (if it is a block the
    /// heap gave out, the caller gives it up). Unlike `GlobalAlloc`, a
    /// wrong `p` or `layout` is caught, not undefined.
    #[inline]
    pub unsafe fn free(&self, p: *mut u8, layout: Layout) {
        match self.pages.home(p) {
            Home::Slab => {
                let slab = Slab::containing(p);
                // SAFETY: the granule map says `slab` is a formatted slab
                // (it is marked only once its header is written); its fixed
                // fields may be read while it holds a block.
                let s = unsafe { &*slab };
                debug_assert!(s.is_formatted());
                let class = s.class();
                let index = match s.index_of(p) {
                    Ok(index) => index,
                    Err(m) => return self.misuse(m, p, layout, Some(class.size())),
                };
                if Class::for_layout(layout.size(), layout.align()) != Some(class) {
                    return self.misuse(Misuse::WrongLayout, p, layout, Some(class.size()));
                }
                let context = self.platform.context();
                if let Context::Task(cpu) = context
                    && cpu == s.owner()
                {
                    // SAFETY: on the owner, in task context; the caller
                    // gives `p` up.
                    if let Err(m) = unsafe { self.cpus[cpu].free(slab, class, p, index) } {
                        self.misuse(m, p, layout, Some(class.size()));
                    }
                    return;
                }
                // Never handed out (or past the last block): refused here,
                // as the owner would.
                if !s.carved(index) {
                    return self.misuse(Misuse::NotAllocated, p, layout, Some(class.size()));
                }
                let (cpu, in_handler) = match context {
                    Context::Task(cpu) => (cpu, false),
                    Context::Interrupt { cpu, .. } => (cpu, true),
                };
                // SAFETY: `p` starts a block of a formatted slab, owned by
                // `s.owner()`, and the caller gives it up.
                unsafe { self.free_remote(cpu, s.owner(), p, in_handler, layout, class) }
            }
            // SAFETY: `p` is inside the region.
            Home::Page => match unsafe { self.pages.free_block(p, layout) } {
                Ok(()) => {}
                Err(m) => self.misuse(m, p, layout, None),
            },
            Home::Outside => self.misuse(Misuse::NotFromHeap, p, layout, None),
        }
    }

    /// Sends `p` home to `owner`, from `cpu`: through the outbox from task
    /// context, straight onto the owner's list from a handler. Refused if
    /// it is free already (at home, in a magazine or on a free list, or on
    /// its way there: it carries a free or a transit mark).
    ///
    /// # Safety
    /// `p` starts a carved block of `class` in a slab owned by `owner`,
    /// and is given up by the caller.
    #[inline]
    unsafe fn free_remote(&self, cpu: usize, owner: usize, p: *mut u8, in_handler: bool, layout: Layout, class: Class) {
        // SAFETY: as promised.
        if let Err(m) = unsafe { slab::mark_in_transit(p) } {
            return self.misuse(m, p, layout, Some(class.size()));
        }
        if in_handler {
            // SAFETY: forwarded.
            return unsafe { self.free_in_handler(cpu, owner, p) };
        }
        self.cpus[cpu].counters.remote_frees.add(1);
        // SAFETY: on `cpu`, in task context; `p` is given up, marked.
        if unsafe { self.cpus[cpu].outbox.add(owner, p) } {
            // SAFETY: as above.
            unsafe { self.send(cpu, owner) };
        }
    }

    /// A handler's free of `p`, marked in transit: straight onto its
    /// owner's list.
    ///
    /// # Safety
    /// `p` is a slab block owned by `owner`, given up by the caller.
    #[cold]
    #[inline(never)]
    unsafe fn free_in_handler(&self, cpu: usize, owner: usize, p: *mut u8) {
        self.cpus[cpu].counters.irq_frees.fetch_add(1, Ordering::Relaxed);
        // SAFETY: slab blocks are at least 16 bytes and 16-aligned; the
        // caller gives `p` up. Its second word stays its transit mark.
        if unsafe { self.cpus[owner].remote.push(p, slab::transit_mark(p)) } == Pushed::First {
            self.platform.notify(owner);
        }
    }

    /// Sends `cpu`'s chain for `owner`.
    ///
    /// # Safety
    /// On `cpu`, in task context.
    #[cold]
    #[inline(never)]
    unsafe fn send(&self, cpu: usize, owner: usize) {
        // SAFETY: forwarded; the list is `owner`'s.
        if unsafe { self.cpus[cpu].outbox.send(owner, &self.cpus[owner].remote) } == Some(Pushed::First) {
            self.platform.notify(owner);
        }
    }

    /// Takes all of this CPU's remote frees home.
    ///
    /// # Safety
    /// On `cpu`, in task context.
    #[cold]
    #[inline(never)]
    unsafe fn take_remote(&self, cpu: usize) {
        let cache = &self.cpus[cpu];
        while !cache.homing.get().is_null() || !cache.remote.is_empty() {
            // SAFETY: forwarded.
            unsafe { self.walk_home(cpu, usize::MAX) };
        }
    }

    /// Walks up to `budget` remote frees home (into magazines or slabs),
    /// taking the remote list first if none are left from the last take.
    /// An allocation walks one ([`WALK`]): each step waits for the block's
    /// line to come from the CPU that freed it, and one step per
    /// allocation lets that wait overlap the allocating code's own work,
    /// where walking a whole batch at once stalled on every block in turn.
    ///
    /// # Safety
    /// On `cpu`, in task context.
    #[inline(never)]
    unsafe fn walk_home(&self, cpu: usize, budget: usize) {
        let cache = &self.cpus[cpu];
        let mut rest = cache.homing.get();
        if rest.is_null() {
            rest = cache.remote.take().into_raw();
        }
        // SAFETY: ours, from the list's take (or left by the last walk).
        let mut blocks = unsafe { Batch::resume(rest) };
        let mut walked = 0;
        while walked < budget {
            let Some((block, word)) = blocks.next() else { break };
            walked += 1;
            let slab = Slab::containing(block);
            // SAFETY: the freer checked that `block` starts a carved block
            // of a formatted slab we own, and marked it in transit.
            let class = unsafe { (*slab).class() };
            if word != slab::transit_mark(block) {
                // Written over on its way (a write after free), or on the
                // list twice: it stays live in its slab, never handed out.
                // Whatever it links to is not to be trusted: the rest of
                // the take is dropped, counted as in transit for good.
                self.misuse(Misuse::WrittenAfterFree, block, None, Some(class.size()));
                blocks = Batch::default();
                break;
            }
            // SAFETY: as above; we are its owner, in task context.
            unsafe { cache.take_back(slab, class, block) };
        }
        let rest = blocks.into_raw();
        cache.homing.set(rest);
        if rest.is_null() {
            cache.remote.taken(cache.homed.get() + walked);
            cache.homed.set(0);
        } else {
            cache.homed.set(cache.homed.get() + walked);
        }
    }

    /// What the running CPU's loop calls between tasks: sends its outbox,
    /// takes remote frees home, and gives empty slabs past the hysteresis
    /// back.
    pub fn reclaim(&self) {
        let Context::Task(cpu) = self.platform.context() else { return };
        let cache = &self.cpus[cpu];
        let mut pending = cache.outbox.pending();
        if pending != 0 {
            while pending != 0 {
                let owner = pending.trailing_zeros() as usize;
                pending &= pending - 1;
                // SAFETY: on `cpu`, in task context.
                unsafe { self.send(cpu, owner) };
            }
        }
        if !cache.homing.get().is_null() || !cache.remote.is_empty() {
            // SAFETY: on `cpu`, in task context.
            unsafe { self.take_remote(cpu) };
        }
        if cache.empty_count() > TRIM_ABOVE {
            // SAFETY: as above.
            unsafe { cache.trim(&self.pages, KEEP_EMPTY) };
        }
    }

    /// Whether the running CPU's loop has heap work before it may halt
    /// (its idle check): remote frees waiting for it, or its own frees for
    /// other CPUs still in its outbox. A loop that halted with a full
    /// outbox would hold those blocks away from their owners until
    /// something else woke it.
    pub fn has_pending(&self) -> bool {
        let Context::Task(cpu) = self.platform.context() else { return false };
        let cache = &self.cpus[cpu];
        !cache.remote.is_empty() || !cache.homing.get().is_null() || cache.outbox.pending() != 0
    }

    /// One CPU's figures.
    pub fn cpu_stats(&self, cpu: usize) -> CpuStats {
        let cache = &self.cpus[cpu];
        let c = &cache.counters;
        let (allocs, live_bytes) = cache.allocs_and_live();
        CpuStats {
            allocs,
            frees: cache.frees(),
            live_bytes,
            slabs: c.slabs.get(),
            empty_slabs: c.empty_slabs.get(),
            in_transit: cache.remote.in_transit() as u64,
            magazine_bytes: cache.magazine_bytes(),
            outbox: cache.outbox.blocks(),
            remote_frees: c.remote_frees.get() + c.irq_frees.load(Ordering::Relaxed),
        }
    }

    /// Every figure.
    pub fn stats(&self) -> Stats {
        Stats {
            cpus: core::array::from_fn(|cpu| self.cpu_stats(cpu)),
            pages: self.pages.usage(),
            misuse: self.misuse.load(Ordering::Relaxed),
        }
    }

    fn report(&self, problem: Problem, ptr: *mut u8, layout: Option<Layout>, class_size: Option<usize>) -> Report {
        let cpu = match self.platform.context() {
            Context::Task(cpu) | Context::Interrupt { cpu, .. } => cpu,
        };
        let (size, align) = layout.map_or((0, 0), |l| (l.size(), l.align()));
        Report { problem, ptr: ptr as usize, size, align, class_size, cpu, task: self.platform.task() }
    }

    /// Reports a misuse (with the free's layout, when a free found it).
    #[cold]
    #[inline(never)]
    fn misuse(&self, m: Misuse, ptr: *mut u8, layout: impl Into<Option<Layout>>, class_size: Option<usize>) {
        self.misuse.fetch_add(1, Ordering::Relaxed);
        self.platform.report(&self.report(Problem::Misuse(m), ptr, layout.into(), class_size));
    }

    #[cold]
    #[inline(never)]
    fn fatal(&self, problem: Problem, layout: Layout) -> ! {
        let report = self.report(problem, ptr::null_mut(), Some(layout), None);
        self.platform.fatal(&report, &self.stats())
    }
}

// SAFETY: `allocate` returns memory valid for the layout (a slab block of a
// class at least as large and aligned, or a page-level block), never
// handed out twice while live; `free` accepts exactly those.
unsafe impl<P: Platform, B: Backing> GlobalAlloc for Heap<P, B> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.allocate(layout)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: GlobalAlloc's caller gives the block up.
        unsafe { self.free(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = Class::for_layout(layout.size(), layout.align());
        let new = Class::for_layout(new_size, layout.align());
        let home = self.pages.home(ptr);
        if old.is_some() && old == new && home == Home::Slab {
            return ptr; // the block already has room
        }
        if old.is_none() && new.is_none() && home == Home::Page {
            // A large block stays large: let the page level grow it in place.
            // SAFETY: GlobalAlloc's realloc rules make the new layout valid.
            match unsafe { self.pages.realloc_block(ptr, layout, new_size) } {
                Ok(q) if !q.is_null() => return q,
                Ok(_) => {}
                Err(m) => {
                    self.misuse(m, ptr, layout, None);
                    return ptr::null_mut();
                }
            }
        }
        // SAFETY: GlobalAlloc's rules for realloc make this layout valid.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = self.allocate(new_layout);
        // SAFETY: both blocks are valid for the smaller size; distinct.
        unsafe { ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        // SAFETY: the caller gives the old block up.
        unsafe { self.free(ptr, layout) };
        new
    }
}
