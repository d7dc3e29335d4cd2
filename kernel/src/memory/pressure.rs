//! Memory pressure: whether free frames have fallen under the low
//! watermark, read without a lock, and a wake for caches that hold frames
//! they could give back (a volume's block cache) when it happens while
//! they are idle.
//!
//! ```text
//! frame allocator      IN_USE mirrors its count (stored under its lock)
//! allocate()           after the lock: crossing under the watermark
//!                      (SHORT false -> true) wakes every watcher, once
//! a cache              checks `short()` before it takes a frame, and
//!                      waits in `Watch::until_short` while idle
//! ```
//!
//! Wakes happen after the allocator's lock is released: a wake may send
//! a message to another CPU, which must never wait on a CPU that spins on
//! the lock.

use core::future::poll_fn;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use core::task::Poll;

use io::AtomicWaker;

/// Usable frames, and frames handed out (the allocator's count).
static TOTAL: AtomicU64 = AtomicU64::new(0);
static IN_USE: AtomicU64 = AtomicU64::new(0);
/// Whether the last look found memory short (so a crossing wakes once).
static SHORT: AtomicBool = AtomicBool::new(false);

const MAX_WATCHERS: usize = 32;
static WATCHERS: [AtomicWaker; MAX_WATCHERS] = [const { AtomicWaker::new() }; MAX_WATCHERS];
/// Bit `i` set: watcher slot `i` is taken.
static TAKEN: AtomicUsize = AtomicUsize::new(0);

/// The allocator's counts changed (called under its lock).
pub(super) fn record(total: u64, in_use: u64) {
    TOTAL.store(total, Ordering::Relaxed);
    IN_USE.store(in_use, Ordering::Relaxed);
}

/// Free frames now (those in CPUs' caches counted as used: a few dozen).
pub fn free_frames() -> u64 {
    TOTAL.load(Ordering::Relaxed).saturating_sub(IN_USE.load(Ordering::Relaxed))
}

/// Whether memory is short: fewer than an eighth of the usable frames
/// are free.
pub fn short() -> bool {
    free_frames() < TOTAL.load(Ordering::Relaxed) / 8
}

/// After an allocation (outside the allocator's lock): wakes the watchers
/// when memory has just become short.
pub(super) fn check() {
    let now = short();
    if SHORT.load(Ordering::Relaxed) == now {
        return;
    }
    if SHORT.swap(now, Ordering::Relaxed) != now && now {
        for w in &WATCHERS {
            w.wake();
        }
    }
}

/// A cache's place among the watchers; given back when dropped.
pub struct Watch {
    slot: usize,
}

impl Watch {
    /// A place, or `None` when every one is taken (the cache then learns of
    /// pressure only when it takes a frame).
    pub fn new() -> Option<Self> {
        let mut taken = TAKEN.load(Ordering::Relaxed);
        loop {
            let slot = (!taken).trailing_zeros() as usize;
            if slot >= MAX_WATCHERS {
                return None;
            }
            match TAKEN.compare_exchange_weak(taken, taken | 1 << slot, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Some(Self { slot }),
                Err(now) => taken = now,
            }
        }
    }

    /// Resolves once memory is short (at once if it is now).
    pub async fn until_short(&self) {
        let waker = &WATCHERS[self.slot];
        poll_fn(|cx| {
            if short() {
                return Poll::Ready(());
            }
            waker.register(cx.waker());
            if short() { Poll::Ready(()) } else { Poll::Pending }
        })
        .await
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        TAKEN.fetch_and(!(1 << self.slot), Ordering::AcqRel);
    }
}
