//! The physical frame allocator.
//!
//! Frames come from the `Usable` regions of the bootloader's memory map,
//! handed out in address order by a cursor; freed frames go on a free list
//! threaded through the frames themselves (reached through the physical-memory
//! mapping) and are reused first. Frames below 1 MiB are never handed out:
//! real-mode code (the AP trampoline) and legacy structures live there.
//!
//! In front of it, one cache of free frames per CPU ([`cache`]): single
//! frames come and go there, without the global lock, which is taken once
//! per batch. Contiguous runs come from the global allocator alone.

mod cache;

use bootloader_api::info::{MemoryRegionKind, MemoryRegions};
use spin::Mutex;
use x86_64::PhysAddr;
use x86_64::structures::paging::PhysFrame;

use super::paging::phys_to_virt;

const FRAME: u64 = 4096;
const LOW_MEMORY_END: u64 = 0x10_0000;

/// The physical page the application-processor trampoline is copied to
/// (its code is assembled for this address: `arch::trampoline`).
pub const TRAMPOLINE_PAGE: u64 = 0x8000;
const MAX_REGIONS: usize = 128;

#[derive(Clone, Copy)]
struct Range {
    start: u64,
    end: u64,
}

struct Frames {
    regions: [Range; MAX_REGIONS],
    count: usize,
    /// Index of the region the cursor is in, and the next never-used frame.
    region: usize,
    cursor: u64,
    /// Head of the list of freed frames (0 = empty).
    free_head: u64,
    total: u64,
    in_use: u64,
}

static FRAMES: Mutex<Option<Frames>> = Mutex::new(None);

/// Counts of 4 KiB frames.
#[derive(Clone, Copy, Debug)]
pub struct FrameStats {
    /// Usable frames in the memory map (at or above 1 MiB).
    pub total: u64,
    /// Frames handed out and not returned.
    pub in_use: u64,
}

impl FrameStats {
    /// Usable memory in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.total * FRAME
    }
}

pub(super) fn init(regions: &MemoryRegions) {
    let mut frames =
        Frames { regions: [Range { start: 0, end: 0 }; MAX_REGIONS], count: 0, region: 0, cursor: 0, free_head: 0, total: 0, in_use: 0 };
    let mut dropped = 0u64;
    for r in regions.iter().filter(|r| r.kind == MemoryRegionKind::Usable) {
        let start = r.start.max(LOW_MEMORY_END).next_multiple_of(FRAME);
        let end = r.end & !(FRAME - 1);
        if start >= end {
            continue;
        }
        if frames.count == MAX_REGIONS {
            dropped += (end - start) / FRAME;
            continue;
        }
        frames.regions[frames.count] = Range { start, end };
        frames.count += 1;
        frames.total += (end - start) / FRAME;
    }
    if dropped > 0 {
        log::warn!("memory map has more than {MAX_REGIONS} usable regions: {dropped} frames unused");
    }
    frames.cursor = frames.regions[0].start;
    super::pressure::record(frames.total, frames.in_use);
    *FRAMES.lock() = Some(frames);
    let trampoline_usable =
        regions.iter().any(|r| r.kind == MemoryRegionKind::Usable && r.start <= TRAMPOLINE_PAGE && TRAMPOLINE_PAGE + FRAME <= r.end);
    TRAMPOLINE_USABLE.store(trampoline_usable, core::sync::atomic::Ordering::Relaxed);
}

static TRAMPOLINE_USABLE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Whether [`TRAMPOLINE_PAGE`] is usable RAM (it is below 1 MiB, so the
/// allocator never hands it out; nothing else uses it).
pub fn trampoline_page_usable() -> bool {
    TRAMPOLINE_USABLE.load(core::sync::atomic::Ordering::Relaxed)
}

/// Times a CPU's cache took the global lock (a refill or a spill), since
/// boot.
static GLOBAL_TAKES: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Takes an unused frame, or `None` when memory is exhausted.
pub fn allocate() -> Option<PhysFrame> {
    let refill = |into: &mut [u64]| {
        GLOBAL_TAKES.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        let mut guard = FRAMES.lock();
        let Some(f) = guard.as_mut() else { return 0 };
        into.iter_mut().map_while(|slot| f.take().map(|addr| *slot = addr)).count()
    };
    let addr = match cache::take(refill) {
        Some(from_cache) => from_cache?,
        None => FRAMES.lock().as_mut()?.take()?,
    };
    super::pressure::check();
    Some(PhysFrame::containing_address(PhysAddr::new(addr)))
}

/// Times a CPU's frame cache went to the global allocator (a refill of,
/// or a spill from, [`cache::BATCH`] frames) since boot.
pub fn global_takes() -> u64 {
    GLOBAL_TAKES.load(core::sync::atomic::Ordering::Relaxed)
}

impl Frames {
    /// One frame from the free list or the cursor, counted in use.
    fn take(&mut self) -> Option<u64> {
        let f = self;
        let addr = if f.free_head != 0 {
            let head = f.free_head;
            // SAFETY: `head` is a free frame we own; its first word holds the next
            // free frame, written by `deallocate` through the physical mapping.
            f.free_head = unsafe { phys_to_virt(PhysAddr::new(head)).as_ptr::<u64>().read() };
            head
        } else {
            while f.region < f.count && f.cursor >= f.regions[f.region].end {
                f.region += 1;
                if f.region < f.count {
                    f.cursor = f.regions[f.region].start;
                }
            }
            if f.region == f.count {
                return None;
            }
            let addr = f.cursor;
            f.cursor += FRAME;
            addr
        };
        f.in_use += 1;
        super::pressure::record(f.total, f.in_use);
        Some(addr)
    }

    /// Puts `addr` on the free list.
    ///
    /// # Safety
    /// `addr` is a frame this allocator handed out, unused now.
    unsafe fn put(&mut self, addr: u64) {
        // SAFETY: by the contract the frame is ours and unused, and the
        // physical mapping covers all RAM, so its first word may hold the
        // list link.
        unsafe { phys_to_virt(PhysAddr::new(addr)).as_mut_ptr::<u64>().write(self.free_head) };
        self.free_head = addr;
        self.in_use -= 1;
        super::pressure::record(self.total, self.in_use);
    }
}

/// Allocates `count` physically contiguous frames, all below `limit` (a
/// device's DMA reach), and returns the first. Runs are cut from the part of
/// the memory map never handed out yet: a region too short for the run is
/// skipped, its rest given to the free list as single frames, so nothing is
/// lost. Freed runs come back as single frames ([`deallocate`] each), which
/// serve later one-frame runs; a driver that makes many larger runs keeps
/// and reuses them (the block driver does).
pub fn allocate_contiguous(count: u64, limit: u64) -> Option<PhysFrame> {
    let mut guard = FRAMES.lock();
    let f = guard.as_mut()?;
    let bytes = count.checked_mul(FRAME)?;
    // One frame: the free list first, if its head is within reach.
    if count == 1 && f.free_head != 0 && f.free_head + FRAME <= limit {
        let head = f.free_head;
        // SAFETY: frames on the free list are ours and unused; their first
        // word holds the link (see `deallocate`).
        f.free_head = unsafe { phys_to_virt(PhysAddr::new(head)).as_ptr::<u64>().read() };
        f.in_use += 1;
        super::pressure::record(f.total, f.in_use);
        return Some(PhysFrame::containing_address(PhysAddr::new(head)));
    }
    loop {
        if f.region == f.count {
            return None;
        }
        let end = f.regions[f.region].end;
        if f.cursor + bytes <= end && f.cursor + bytes <= limit {
            let addr = f.cursor;
            f.cursor += bytes;
            f.in_use += count;
            super::pressure::record(f.total, f.in_use);
            return Some(PhysFrame::containing_address(PhysAddr::new(addr)));
        }
        if f.cursor >= limit {
            return None;
        }
        // Too short: its rest becomes single free frames.
        while f.cursor < end {
            let frame = f.cursor;
            // SAFETY: the frame is in a usable region and was never handed
            // out (the cursor only moves forward), so it may hold the link.
            unsafe { phys_to_virt(PhysAddr::new(frame)).as_mut_ptr::<u64>().write(f.free_head) };
            f.free_head = frame;
            f.cursor += FRAME;
        }
        f.region += 1;
        if f.region < f.count {
            f.cursor = f.regions[f.region].start;
        }
    }
}

/// Returns a frame to the allocator.
///
/// # Safety
/// 1. `frame` came from [`allocate`] and has not been freed since.
/// 2. Nothing maps or uses it any more.
pub unsafe fn deallocate(frame: PhysFrame) {
    let addr = frame.start_address().as_u64();
    let spill = |frames: &[u64]| {
        GLOBAL_TAKES.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        let mut guard = FRAMES.lock();
        let f = guard.as_mut().expect("frame allocator used before init");
        for &addr in frames {
            // SAFETY: frames in a cache were handed out by this allocator
            // and freed by their users (this function's contract).
            unsafe { f.put(addr) };
        }
    };
    if !cache::give(addr, spill) {
        let mut guard = FRAMES.lock();
        // SAFETY: the caller's contract.
        unsafe { guard.as_mut().expect("frame allocator used before init").put(addr) };
    }
}

/// One past the highest address the allocator may hand out.
pub fn end() -> u64 {
    let guard = FRAMES.lock();
    let f = guard.as_ref().expect("frame allocator used before init");
    f.regions[..f.count].iter().map(|r| r.end).max().unwrap_or(0)
}

/// Frame counts (those in CPUs' caches are free).
pub fn stats() -> FrameStats {
    let guard = FRAMES.lock();
    let f = guard.as_ref().expect("frame allocator used before init");
    FrameStats { total: f.total, in_use: f.in_use.saturating_sub(cache::cached()) }
}
