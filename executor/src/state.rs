//! A task's shared state word: flags plus a reference count.
//!
//! ```text
//! bit 0  COMPLETE       the future finished or was cancelled; its output (or
//!                       the cancellation) is in the stage. Once set, never unset.
//! bit 1  CANCELLED      abort() was called. Once set, never unset.
//! bit 2  JOIN_INTEREST  a JoinHandle exists. Cleared once, when it is dropped.
//! bits 3..  references: the executor's (until completion), the JoinHandle's,
//!                       each Waker's, and one per pending inbox message.
//! ```
//!
//! Who drops the output: the task sets COMPLETE with `fetch_or` and the handle
//! clears JOIN_INTEREST with `fetch_and`; whichever of the two read-modify-
//! writes comes second sees the other's bit and drops the output. Exactly one
//! of them does.

use crate::sync::{AtomicUsize, Ordering};

pub(crate) const COMPLETE: usize = 1 << 0;
pub(crate) const CANCELLED: usize = 1 << 1;
pub(crate) const JOIN_INTEREST: usize = 1 << 2;
const REF_ONE: usize = 1 << 3;

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

    /// Marks the task complete; returns whether a JoinHandle still wants the output.
    pub(crate) fn complete(&self) -> bool {
        let prev = self.0.fetch_or(COMPLETE, Ordering::AcqRel);
        debug_assert_eq!(prev & COMPLETE, 0, "completed twice");
        prev & JOIN_INTEREST != 0
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
}
