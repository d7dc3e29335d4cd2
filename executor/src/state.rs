//! A task's shared state word: flags plus a reference count.
//!
//! ```text
//! bit 0  COMPLETE       the future finished or was cancelled; its output (or
//!                       the cancellation) is in the stage. Once set, never unset.
//! bit 1  CANCELLED      abort() was called. Once set, never unset.
//! bit 2  JOIN_INTEREST  a JoinHandle exists. Cleared once, when it is dropped.
//! bit 3  JOIN_WAKER     the join-waker slot holds the handle's waker and
//!                       belongs to the task (see below).
//! bit 4  IN_INBOX       a wake message is on its way to the owner; further
//!                       remote wakes coalesce into it.
//! bits 5..  references: the executor's (until completion), the JoinHandle's,
//!                       each Waker's, and one per wake message in flight.
//! ```
//!
//! Who drops the output: the task sets COMPLETE with `fetch_or` and the handle
//! clears JOIN_INTEREST with `fetch_and`; whichever of the two read-modify-
//! writes comes second sees the other's bit and drops the output. Exactly one
//! of them does.
//!
//! Who may touch the join-waker slot: while JOIN_WAKER is clear, only the
//! JoinHandle (it writes its waker, then sets the bit with `set_join_waker`,
//! which fails once COMPLETE is set). While JOIN_WAKER is set the slot is
//! read-only: the task reads it once, at completion (`complete` returns the
//! bits it saw), and the handle reads it to compare wakers; to write it again
//! the handle must first win `unset_join_waker`, which also fails once
//! COMPLETE is set. After COMPLETE nobody writes it; the waker in it is
//! dropped with the task block.

use crate::sync::{AtomicUsize, Ordering};

pub(crate) const COMPLETE: usize = 1 << 0;
pub(crate) const CANCELLED: usize = 1 << 1;
pub(crate) const JOIN_INTEREST: usize = 1 << 2;
pub(crate) const JOIN_WAKER: usize = 1 << 3;
pub(crate) const IN_INBOX: usize = 1 << 4;
const REF_ONE: usize = 1 << 5;

pub(crate) struct State(AtomicUsize);

/// What the caller must do after dropping a reference.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Released {
    /// Other references remain.
    Alive,
    /// That was the last reference: free the task.
    Last,
}

impl State {
    /// A new task: JOIN_INTEREST, and two references (executor + handle).
    pub(crate) fn new() -> Self {
        Self(AtomicUsize::new(JOIN_INTEREST | (2 * REF_ONE)))
    }

    pub(crate) fn load(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.load() & COMPLETE != 0
    }

    pub(crate) fn ref_inc(&self) {
        // Relaxed: a new reference is made from an existing one, which keeps
        // the task alive (the Arc argument).
        let prev = self.0.fetch_add(REF_ONE, Ordering::Relaxed);
        assert!(prev < usize::MAX / 2, "task reference count overflow");
    }

    pub(crate) fn ref_dec(&self) -> Released {
        let prev = self.0.fetch_sub(REF_ONE, Ordering::AcqRel);
        debug_assert!(prev >= REF_ONE, "task reference count underflow");
        if prev / REF_ONE == 1 { Released::Last } else { Released::Alive }
    }

    /// Marks the task complete; returns the flags as they were (the caller
    /// looks at JOIN_INTEREST and JOIN_WAKER).
    pub(crate) fn complete(&self) -> usize {
        let prev = self.0.fetch_or(COMPLETE, Ordering::AcqRel);
        debug_assert_eq!(prev & COMPLETE, 0, "completed twice");
        prev
    }

    /// Drops join interest; returns whether the task had completed (then the
    /// caller owns the output).
    pub(crate) fn drop_join_interest(&self) -> bool {
        let prev = self.0.fetch_and(!JOIN_INTEREST, Ordering::AcqRel);
        prev & COMPLETE != 0
    }

    /// Requests cancellation; returns `false` if it was already requested or
    /// the task is complete (nothing to do).
    pub(crate) fn cancel(&self) -> bool {
        let prev = self.0.fetch_or(CANCELLED, Ordering::AcqRel);
        prev & (CANCELLED | COMPLETE) == 0
    }

    /// Marks a wake message in flight; returns `false` if one already was
    /// (this wake coalesces into it).
    pub(crate) fn set_in_inbox(&self) -> bool {
        self.0.fetch_or(IN_INBOX, Ordering::AcqRel) & IN_INBOX == 0
    }

    /// The owner took the wake message: the next remote wake sends a new one.
    pub(crate) fn clear_in_inbox(&self) {
        self.0.fetch_and(!IN_INBOX, Ordering::AcqRel);
    }

    /// Hands the join-waker slot (just written by the handle) to the task.
    /// `Err(())` if the task completed first: the handle keeps the slot and
    /// reads the output instead.
    pub(crate) fn set_join_waker(&self) -> Result<(), ()> {
        self.update(|s| (s & COMPLETE == 0).then_some(s | JOIN_WAKER))
    }

    /// Takes the join-waker slot back for the handle, to write a new waker.
    /// `Err(())` if the task completed first (it may be reading the slot).
    pub(crate) fn unset_join_waker(&self) -> Result<(), ()> {
        self.update(|s| (s & COMPLETE == 0).then_some(s & !JOIN_WAKER))
    }

    /// A compare-and-swap loop: Release publishes the handle's slot write to
    /// the task; Acquire (also on failure) makes the output visible.
    fn update(&self, f: impl Fn(usize) -> Option<usize>) -> Result<(), ()> {
        self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, f).map(|_| ()).map_err(|_| ())
    }
}
