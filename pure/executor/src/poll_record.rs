//! The poll in progress, published for a reader that interrupts it: the
//! kernel's stall detector runs in a timer interrupt on the executor's own
//! CPU and must name the task whose poll has been running too long, while
//! that poll is still running (the cooperative watchdog only speaks once a
//! poll has returned, so a task that never yields was never named).
//!
//! Protocol (the owner writes, an interrupt handler on the owner's CPU
//! reads; no other thread ever touches it):
//! - before a poll: `polls` + 1, then `long`, then `current` (Release) =
//!   the task's header;
//! - after the poll returns: `current` = null (Release), before the
//!   executor finishes (and may free) the task;
//! - the reader loads `current` (Acquire); non-null means the poll has
//!   begun and the task is alive until the reader returns (the poll it
//!   interrupted cannot continue, let alone free the task, until then).
//!   The reader times a poll itself: the same `polls` at two looks is one
//!   poll (no start time is stored: a store per poll it does not need).
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
    /// Which poll of this executor it is (its count of polls once this one
    /// began): the same number at two looks means one poll ran all along.
    pub poll: u64,
    /// The task said, at some point of this poll, that it polls for long
    /// by design ([`Executor::set_long_polls`](crate::Executor::set_long_polls)).
    pub long_by_design: bool,
}

/// The executor's own record of its poll in progress, also its poll
/// counter: the writes it needs anyway (which task is current, how many
/// polls so far) are the ones published, so publishing costs a poll one
/// flag store and one flag load beyond them.
pub(crate) struct PollRecord {
    current: AtomicPtr<Header>,
    polls: AtomicU64,
    long: AtomicBool,
}

impl PollRecord {
    pub(crate) fn new() -> Self {
        Self { current: AtomicPtr::new(ptr::null_mut()), polls: AtomicU64::new(0), long: AtomicBool::new(false) }
    }

    /// A poll of `task` begins; `long`: the task allows long polls.
    pub(crate) fn begin(&self, task: NonNull<Header>, long: bool) {
        // Only the owner writes: a load and a store, not a read-modify-write.
        self.polls.store(self.polls.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        self.long.store(long, Ordering::Relaxed);
        self.current.store(task.as_ptr(), Ordering::Release);
    }

    /// The running poll is long by design (for the rest of it).
    pub(crate) fn mark_long(&self) {
        self.long.store(true, Ordering::Relaxed);
    }

    /// The poll has returned; returns whether it was long by design at
    /// any point.
    pub(crate) fn end(&self) -> bool {
        self.current.store(ptr::null_mut(), Ordering::Release);
        self.long.load(Ordering::Relaxed)
    }

    /// The task being polled (the owner asks).
    pub(crate) fn current(&self) -> Option<NonNull<Header>> {
        NonNull::new(self.current.load(Ordering::Relaxed))
    }

    /// Polls begun so far.
    pub(crate) fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    /// The poll in progress, if any. Only from the owner's CPU (in the
    /// interrupt that stopped the poll, or in the poll itself).
    pub(crate) fn read(&self) -> Option<PollInProgress> {
        let h = NonNull::new(self.current.load(Ordering::Acquire))?;
        // SAFETY: non-null only between `begin` and `end` of a poll on this
        // CPU, which the caller has interrupted (or is inside): the task is
        // alive, and its ident is fixed at spawn.
        let ident = unsafe { &h.as_ref().ident };
        Some(PollInProgress {
            task: ident.id(),
            name: ident.name(),
            poll: self.polls.load(Ordering::Relaxed),
            long_by_design: self.long.load(Ordering::Relaxed),
        })
    }
}
