//! One CPU's stall, published for every CPU: the stall detector on the
//! stalled CPU writes it (from its timer interrupt); `ps` on another CPU
//! reads it, because the stalled CPU cannot answer a message.
//!
//! Protocol: a sequence lock over atomics, one writer.
//! - The writer is the CPU the record belongs to, with interrupts off (its
//!   timer interrupt sets the record, its task context clears it when the
//!   poll returns), so writes never overlap. A write makes `seq` odd
//!   (Relaxed store, then a Release fence), stores the fields (Relaxed),
//!   then makes `seq` even again (Release).
//! - A reader loads `seq` (Acquire); odd means a write is under way (try
//!   again). It loads the fields (Relaxed), an Acquire fence, then `seq`
//!   again: unchanged means the fields all belong to that one write (the
//!   fence pairs them with the writer's fence); changed, try again.
//!
//! The fields are atomics, so a torn read is only ever discarded, never
//! undefined; the loom model checks a reader never accepts a mix of two
//! writes.

use crate::sync::{AtomicPtr, AtomicU64, AtomicUsize, Ordering, const_unless_loom, fence};

/// A stalled poll: which task, since when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stall {
    /// The task's id (never 0).
    pub task: u64,
    /// Its name, if it has one.
    pub name: Option<&'static str>,
    /// When its poll began (TSC).
    pub since: u64,
}

/// The published stall of one CPU (see the module doc).
pub struct StallRecord {
    seq: AtomicU64,
    /// 0: no stall.
    task: AtomicU64,
    since: AtomicU64,
    name: AtomicPtr<u8>,
    /// The name's length, plus one (0: no name).
    name_len: AtomicUsize,
}

impl Default for StallRecord {
    fn default() -> Self {
        Self::new()
    }
}

/// Attempts a reader makes before it gives up (a writer is never slower
/// than a handful of stores, so this bound is not reached in practice).
const READ_ATTEMPTS: usize = 1000;

impl StallRecord {
    const_unless_loom! {
        /// No stall (`const`, for per-CPU statics).
        pub fn new() -> Self {
            Self {
                seq: AtomicU64::new(0),
                task: AtomicU64::new(0),
                since: AtomicU64::new(0),
                name: AtomicPtr::new(core::ptr::null_mut()),
                name_len: AtomicUsize::new(0),
            }
        }
    }

    /// Publishes `stall` (or its end, `None`). Only the record's own CPU
    /// calls this, with interrupts off: writers must not overlap.
    pub fn set(&self, stall: Option<Stall>) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        let (task, since, name) = stall.map_or((0, 0, None), |s| (s.task, s.since, s.name));
        self.task.store(task, Ordering::Relaxed);
        self.since.store(since, Ordering::Relaxed);
        self.name.store(name.map_or(core::ptr::null_mut(), |n| n.as_ptr().cast_mut()), Ordering::Relaxed);
        self.name_len.store(name.map_or(0, |n| n.len() + 1), Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// The stall published now, if any; from any CPU.
    pub fn get(&self) -> Option<Stall> {
        for _ in 0..READ_ATTEMPTS {
            let before = self.seq.load(Ordering::Acquire);
            if !before.is_multiple_of(2) {
                crate::sync::spin_hint();
                continue;
            }
            let task = self.task.load(Ordering::Relaxed);
            let since = self.since.load(Ordering::Relaxed);
            let name = self.name.load(Ordering::Relaxed);
            let len = self.name_len.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) != before {
                crate::sync::spin_hint();
                continue;
            }
            if task == 0 {
                return None;
            }
            let name = (len > 0 && !name.is_null()).then(|| {
                // SAFETY: `name` and `len - 1` were stored by one `set`
                // (the unchanged, even `seq` says so) from a `&'static str`.
                unsafe { core::str::from_utf8_unchecked(core::slice::from_raw_parts(name, len - 1)) }
            });
            return Some(Stall { task, name, since });
        }
        None
    }
}
