//! Per-CPU caches of free frames in front of the global allocator, as
//! Linux's per-CPU page lists and DragonFly's per-CPU page caches: a page
//! fault, a copy-on-write copy or a page-table page takes a frame from its
//! own CPU's cache and a freed frame goes back to the cache of the CPU that
//! frees it, with no lock and no cache line shared with another CPU. The
//! global allocator's lock is taken once per [`BATCH`] frames, when a cache
//! runs empty (a refill) or full (a spill).
//!
//! A cache is reached only by its own CPU, with interrupts off (an
//! interrupt handler that allocated would otherwise find it half-changed),
//! so it needs no atomics; its length is mirrored in an atomic for
//! [`cached`], which other CPUs read for the statistics. Before boot
//! installed the CPU hooks (`address_space::set_cpu_hooks`) every call goes
//! to the global allocator.
//!
//! What it costs: up to [`CAPACITY`] free frames may sit in each CPU's
//! cache where another CPU cannot take them: when memory runs out, an
//! allocation can fail with that many frames (256 KiB) free on each other
//! CPU.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

use x86_64::instructions::interrupts;

/// Frames a cache holds at most.
pub const CAPACITY: usize = 64;
/// Frames a refill takes from, or a spill gives back to, the global
/// allocator at once.
pub const BATCH: usize = 32;
/// CPUs with a cache (the address spaces' CPU sets are 64 bits wide too).
const CPUS: usize = 64;

struct Cache {
    frames: [u64; CAPACITY],
    len: usize,
}

#[repr(align(64))]
struct Slot {
    cache: UnsafeCell<Cache>,
    /// `cache.len`, for other CPUs' statistics.
    len: AtomicUsize,
}

// SAFETY: a slot's cache is only touched by its own CPU, with interrupts
// off (`with`), so two accesses never overlap; `len` is atomic.
unsafe impl Sync for Slot {}

static SLOTS: [Slot; CPUS] =
    [const { Slot { cache: UnsafeCell::new(Cache { frames: [0; CAPACITY], len: 0 }), len: AtomicUsize::new(0) } }; CPUS];

/// Runs `f` on this CPU's cache with interrupts off; `None` before the
/// CPU hooks exist.
fn with<R>(f: impl FnOnce(&mut Cache) -> R) -> Option<R> {
    interrupts::without_interrupts(|| {
        let cpu = super::super::address_space::current_cpu()?;
        let slot = SLOTS.get(cpu)?;
        // SAFETY: only this CPU reaches its slot's cache, and interrupts
        // are off, so no other access to it is in progress (the `Sync`
        // argument); the reference ends with this closure.
        let cache = unsafe { &mut *slot.cache.get() };
        let r = f(cache);
        slot.len.store(cache.len, Ordering::Relaxed);
        Some(r)
    })
}

/// A frame from this CPU's cache, refilled by `refill` (which writes up
/// to its slice's length of frames from the global allocator and says how
/// many) when empty. `None`: no cache here yet, or the global allocator
/// had none either.
pub(super) fn take(refill: impl FnOnce(&mut [u64]) -> usize) -> Option<Option<u64>> {
    with(|c| {
        if c.len == 0 {
            c.len = refill(&mut c.frames[..BATCH]);
        }
        if c.len == 0 {
            return None;
        }
        c.len -= 1;
        Some(c.frames[c.len])
    })
}

/// Puts `frame` in this CPU's cache, first giving [`BATCH`] frames to
/// `spill` (the global allocator) if it is full. `false`: no cache here
/// yet (the caller frees it globally).
pub(super) fn give(frame: u64, spill: impl FnOnce(&[u64])) -> bool {
    with(|c| {
        if c.len == CAPACITY {
            spill(&c.frames[CAPACITY - BATCH..]);
            c.len -= BATCH;
        }
        c.frames[c.len] = frame;
        c.len += 1;
    })
    .is_some()
}

/// Free frames sitting in every CPU's cache now (a snapshot).
pub(super) fn cached() -> u64 {
    SLOTS.iter().map(|s| s.len.load(Ordering::Relaxed) as u64).sum()
}
