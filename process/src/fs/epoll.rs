//! epoll sets: which open files a program watches, with what events and
//! what data to hand back (`syscall/epoll.rs` has the calls).
//!
//! No polling loop: `epoll_wait` asks each watched file for its readiness
//! with a waker of the interest's own ([`Signal`]), which the file keeps
//! where it will wake it when that changes (a pipe's lists, the terminal's
//! readers, as for `poll`); the wake marks the interest and wakes the
//! waiting thread, which then looks again. The mark is what makes
//! edge-triggered interests (`EPOLLET`) report only what changed: one is
//! reported once after it is added or changed, then again only after its
//! file woke it. (Linux also reports new data that arrives while a file
//! is still readable; here a file that was not drained before the wait
//! is not reported again until it wakes its interest.)
//!
//! An interest names the open file description weakly, as Linux's does:
//! it goes when the description closes, not when one descriptor does.
//! The set is behind a serializing token (`io::token::Guarded`), so
//! processes on several CPUs that share it (after `fork`) need no lock.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::task::Wake;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::task::Waker;

use io::AtomicWaker;
use io::token::Guarded;

use super::OpenFile;

/// Wakes the thread waiting on a set for one interest, and remembers that
/// it did (the module doc).
#[derive(Default)]
pub struct Signal {
    fired: AtomicBool,
    waiter: AtomicWaker,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        self.waiter.wake();
    }
}

/// One watched file.
pub struct Interest {
    /// The description (weak: the interest goes with it).
    pub file: Weak<OpenFile>,
    /// `EPOLLIN`, `EPOLLOUT`, ... and the flags (`EPOLLET`, `EPOLLONESHOT`).
    pub events: u32,
    /// What `epoll_wait` hands back with its events.
    pub data: u64,
    /// Its waker's state.
    pub signal: Arc<Signal>,
    /// Reported since it was added or changed (edge-triggered and one-shot
    /// interests use it).
    pub reported: bool,
}

impl Interest {
    /// A new interest in `file` for `events`, handing back `data`.
    pub fn new(file: &Arc<OpenFile>, events: u32, data: u64) -> Self {
        Self { file: Arc::downgrade(file), events, data, signal: Arc::new(Signal::default()), reported: false }
    }

    /// The waker to give the file: it marks this interest and wakes the
    /// thread `waiter` (registered now).
    pub fn waker_for(&self, waiter: &Waker) -> Waker {
        self.signal.waiter.register(waiter);
        Waker::from(Arc::clone(&self.signal))
    }

    /// Whether its file woke it since it was last asked (and forgets it).
    pub fn take_fired(&self) -> bool {
        self.signal.fired.swap(false, Ordering::AcqRel)
    }
}

/// Interests by (descriptor, description): Linux's key.
pub type Key = (i32, usize);

/// An epoll set (the module doc).
pub struct EpollSet {
    /// The interests.
    pub interests: Guarded<BTreeMap<Key, Interest>>,
    /// Where the next wait starts looking: past the last interest the last
    /// one reported, so that a wait for fewer events than are ready does
    /// not report the same ones every time (Linux puts a reported
    /// interest at the back of its ready list).
    start: AtomicUsize,
}

impl EpollSet {
    /// An empty set.
    pub fn new() -> Arc<Self> {
        Arc::new(Self { interests: Guarded::new("epoll", BTreeMap::new()), start: AtomicUsize::new(0) })
    }

    /// Where a wait starts looking among `len` interests.
    pub fn start(&self, len: usize) -> usize {
        if len == 0 { 0 } else { self.start.load(Ordering::Relaxed) % len }
    }

    /// The last interest a wait reported was at `at` (from the start).
    pub fn reported_up_to(&self, at: usize) {
        self.start.store(at + 1, Ordering::Relaxed);
    }

    /// The interests changed: the next wait looks from the first.
    pub fn changed(&self) {
        self.start.store(0, Ordering::Relaxed);
    }

    /// The key of descriptor `fd` open as `file`.
    pub fn key(fd: i32, file: &Arc<OpenFile>) -> Key {
        (fd, Arc::as_ptr(file) as usize)
    }

    /// The interests whose descriptions are still open, with their keys
    /// (the others are dropped).
    pub async fn live(&self) -> Vec<(Key, Arc<OpenFile>)> {
        self.interests
            .exclusive(|map| {
                map.retain(|_, i| i.file.strong_count() > 0);
                map.iter().filter_map(|(&k, i)| Some((k, i.file.upgrade()?))).collect()
            })
            .await
    }
}
