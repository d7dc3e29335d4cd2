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

const COMPLETE: usize = 1 << 0;
const CANCELLED: usize = 1 << 1;
const JOIN_INTEREST: usize = 1 << 2;
const JOIN_WAKER: usize = 1 << 3;
const IN_INBOX: usize = 1 << 4;
const REF_ONE: usize = 1 << 5;

pub(crate) struct State(AtomicUsize);

/// The state word as one read saw it. Callers ask it questions; only this
/// file knows the bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Snapshot(usize);

impl Snapshot {
    /// The future finished or was cancelled (never unset once seen).
    pub(crate) fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }

    /// `abort()` was called (never unset once seen).
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }

    /// The join-waker slot holds the handle's waker and is read-only.
    pub(crate) fn has_join_waker(self) -> bool {
        self.0 & JOIN_WAKER != 0
    }
}

/// What the caller must do after dropping a reference.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Released {
    /// Other references remain.
    Alive,
    /// That was the last reference: free the task.
    Last,
}

/// What the task must do with its output once COMPLETE is set
/// ([`State::complete`]).
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Completed {
    /// No JoinHandle wants it: the task drops it.
    DropOutput,
    /// The handle left its waker in the slot: wake it (the slot is
    /// read-only from now on).
    WakeJoiner,
    /// The handle exists but has no waker in the slot: it will see
    /// COMPLETE at its next poll.
    LeaveForHandle,
}

/// Who drops the output after the JoinHandle gives up its interest
/// ([`State::drop_join_interest`]).
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InterestDropped {
    /// The task had completed: the output is the handle's to drop.
    HandleDropsOutput,
    /// The task will see no interest when it completes and drop it itself.
    TaskDropsOutput,
}

/// Whether a cancellation needs the task scheduled ([`State::cancel`]).
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Cancel {
    /// Newly requested on a running task: schedule it so its owner drops
    /// the future.
    Schedule,
    /// Already requested, or the task is complete: nothing to do.
    Nothing,
}

/// Whether a remote wake must send a message ([`State::set_in_inbox`]).
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WakeMessage {
    /// No wake message was in flight: send one (with a new reference).
    Send,
    /// One is on its way: this wake coalesces into it.
    Coalesced,
}

/// The task completed before the handle could hand over the join-waker
/// slot: the handle reads the output instead.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AlreadyComplete;

impl State {
    /// A new task: JOIN_INTEREST, and two references (executor + handle).
    pub(crate) fn new() -> Self {
        Self(AtomicUsize::new(JOIN_INTEREST | (2 * REF_ONE)))
    }

    /// The word now (Acquire: a COMPLETE seen here makes the output visible).
    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.0.load(Ordering::Acquire))
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.load().is_complete()
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

    /// Marks the task complete and says what becomes of the output.
    pub(crate) fn complete(&self) -> Completed {
        let prev = self.0.fetch_or(COMPLETE, Ordering::AcqRel);
        debug_assert_eq!(prev & COMPLETE, 0, "completed twice");
        if prev & JOIN_INTEREST == 0 {
            Completed::DropOutput
        } else if prev & JOIN_WAKER != 0 {
            Completed::WakeJoiner
        } else {
            Completed::LeaveForHandle
        }
    }

    /// Drops join interest (the handle is dropped, or took the output).
    pub(crate) fn drop_join_interest(&self) -> InterestDropped {
        let prev = self.0.fetch_and(!JOIN_INTEREST, Ordering::AcqRel);
        if prev & COMPLETE != 0 { InterestDropped::HandleDropsOutput } else { InterestDropped::TaskDropsOutput }
    }

    /// Requests cancellation.
    pub(crate) fn cancel(&self) -> Cancel {
        let prev = self.0.fetch_or(CANCELLED, Ordering::AcqRel);
        if prev & (CANCELLED | COMPLETE) == 0 { Cancel::Schedule } else { Cancel::Nothing }
    }

    /// Marks a wake message in flight, unless one already is.
    pub(crate) fn set_in_inbox(&self) -> WakeMessage {
        if self.0.fetch_or(IN_INBOX, Ordering::AcqRel) & IN_INBOX == 0 { WakeMessage::Send } else { WakeMessage::Coalesced }
    }

    /// The owner took the wake message: the next remote wake sends a new one.
    pub(crate) fn clear_in_inbox(&self) {
        self.0.fetch_and(!IN_INBOX, Ordering::AcqRel);
    }

    /// Hands the join-waker slot (just written by the handle) to the task.
    /// `Err` if the task completed first: the handle keeps the slot and
    /// reads the output instead.
    pub(crate) fn set_join_waker(&self) -> Result<(), AlreadyComplete> {
        self.update(|s| (s & COMPLETE == 0).then_some(s | JOIN_WAKER))
    }

    /// Takes the join-waker slot back for the handle, to write a new waker.
    /// `Err` if the task completed first (it may be reading the slot).
    pub(crate) fn unset_join_waker(&self) -> Result<(), AlreadyComplete> {
        self.update(|s| (s & COMPLETE == 0).then_some(s & !JOIN_WAKER))
    }

    /// A compare-and-swap loop: Release publishes the handle's slot write to
    /// the task; Acquire (also on failure) makes the output visible.
    fn update(&self, f: impl Fn(usize) -> Option<usize>) -> Result<(), AlreadyComplete> {
        self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, f).map(|_| ()).map_err(|_| AlreadyComplete)
    }
}
