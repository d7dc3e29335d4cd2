//! The poll in progress, published for a reader that interrupts it: the
//! kernel's stall detector runs in a timer interrupt on the executor's own
//! CPU and must name the task whose poll has been running too long, while
//! that poll is still running (the cooperative watchdog only speaks once a
//! poll has returned, so a task that never yields was never named).
//!
//! Protocol (the owner writes, an interrupt handler on the owner's CPU
//! reads; no other thread ever touches it):
//! - before a poll: `started`, then `long`, then `task` (Release) = the
//!   task's header;
//! - after the poll returns: `task` = null (Release), before the executor
//!   finishes (and may free) the task;
//! - the reader loads `task` (Acquire); non-null means the poll has begun
//!   and the task is alive until the reader returns (the poll it
//!   interrupted cannot continue, let alone free the task, until then).
//!
//! Because reader and writer share one CPU, this is an interleaving of one
//! thread, not a race between two: there is no cross-thread structure for
//! loom to check; the unit test reads the record from inside a poll, where
//! an interrupt would.

use core::ptr::{self, NonNull};

use crate::sync::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use crate::task::Header;

/// A poll that is running now, as the stall detector sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollInProgress {
    /// The task's id.
    pub task: u64,
    /// Its name, if it was given one.
    pub name: Option<&'static str>,
    /// When the poll began (per [`Hooks::now`](crate::Hooks)).
    pub started: u64,
    /// The task said, at some point of this poll, that it polls for long
    /// by design ([`Executor::set_long_polls`](crate::Executor::set_long_polls)).
    pub long_by_design: bool,
}

pub(crate) struct PollRecord {
    task: AtomicPtr<Header>,
    started: AtomicU64,
    long: AtomicBool,
}

impl PollRecord {
    pub(crate) fn new() -> Self {
        Self { task: AtomicPtr::new(ptr::null_mut()), started: AtomicU64::new(0), long: AtomicBool::new(false) }
    }

    /// A poll of `task` begins at `started`.
    pub(crate) fn begin(&self, task: NonNull<Header>, started: u64, long: bool) {
        self.started.store(started, Ordering::Relaxed);
        self.long.store(long, Ordering::Relaxed);
        self.task.store(task.as_ptr(), Ordering::Release);
    }

    /// The running poll is long by design (for the rest of it).
    pub(crate) fn mark_long(&self) {
        self.long.store(true, Ordering::Relaxed);
    }

    /// Whether the poll that just ended was long by design at any point
    /// (the owner, after `end`).
    pub(crate) fn was_long(&self) -> bool {
        self.long.load(Ordering::Relaxed)
    }

    /// The poll has returned.
    pub(crate) fn end(&self) {
        self.task.store(ptr::null_mut(), Ordering::Release);
    }

    /// The poll in progress, if any. Only from the owner's CPU (in the
    /// interrupt that stopped the poll, or in the poll itself).
    pub(crate) fn read(&self) -> Option<PollInProgress> {
        let h = NonNull::new(self.task.load(Ordering::Acquire))?;
        // SAFETY: non-null only between `begin` and `end` of a poll on this
        // CPU, which the caller has interrupted (or is inside): the task is
        // alive, and its ident is fixed at spawn.
        let ident = unsafe { &h.as_ref().ident };
        Some(PollInProgress {
            task: ident.id(),
            name: ident.name(),
            started: self.started.load(Ordering::Relaxed),
            long_by_design: self.long.load(Ordering::Relaxed),
        })
    }
}
