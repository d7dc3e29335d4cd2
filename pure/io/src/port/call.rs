//! One call's meeting point: where the server's reply waits for the caller,
//! and where either side learns the other has gone.
//!
//! Protocol (one word, `state`, and the reply beside it):
//! - `WAITING`: the call is out. The caller may register its waker.
//! - the server's `reply`: writes the reply, then CAS `WAITING -> REPLIED`
//!   (AcqRel), then wakes the caller. If the CAS finds `ABORTED` (the caller
//!   dropped its future), the reply is taken back and dropped here: the one
//!   reply still comes, and is discarded.
//! - the server drops the message without replying: CAS `WAITING ->
//!   UNANSWERED`, wake (the caller gets `PortError::NoReply`, or
//!   `PortError::Closed` when the whole port went).
//! - the caller drops its future (an abort, advisory as `lwkt_abortmsg`:
//!   the server may be running the request already): swap to `ABORTED`; if
//!   the old state was `REPLIED`, the reply is the caller's to drop.
//!
//! Whoever moves the state out of `WAITING` owns the outcome; the reply
//! slot is written only before that CAS, and read only by the side that saw
//! `REPLIED`. Shared through an `Arc`, so the slot lives until both sides
//! are done: nothing leaks whoever goes first (loom: `pure/io/tests/loom.rs`).

use alloc::sync::Arc;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::PortError;
use crate::AtomicWaker;
use crate::sync::{AtomicU8, Ordering, UnsafeCell};

const WAITING: u8 = 0;
const REPLIED: u8 = 1;
const UNANSWERED: u8 = 2;
const CLOSED: u8 = 3;
const ABORTED: u8 = 4;

/// The caller's and the server's shared view of one call.
pub(crate) struct CallSlot<Rep> {
    state: AtomicU8,
    reply: UnsafeCell<Option<Rep>>,
    waker: AtomicWaker,
}

// SAFETY: `reply` is written by the server before it publishes `REPLIED`
// and read by the one side that then owns it (the module doc); `Rep` moves
// between CPUs, so it must be `Send`.
unsafe impl<Rep: Send> Sync for CallSlot<Rep> {}
// SAFETY: as above.
unsafe impl<Rep: Send> Send for CallSlot<Rep> {}

impl<Rep> CallSlot<Rep> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self { state: AtomicU8::new(WAITING), reply: UnsafeCell::new(None), waker: AtomicWaker::new() })
    }

    /// The server's answer: `Err` gives it back if the caller had gone.
    pub(crate) fn reply(&self, rep: Rep) -> Result<(), Rep> {
        // SAFETY: still `WAITING` (only this side leaves it that way, and
        // the caller never touches `reply` before seeing `REPLIED`).
        self.reply.with_mut(|r| unsafe { *r = Some(rep) });
        match self.state.compare_exchange(WAITING, REPLIED, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                self.waker.wake();
                Ok(())
            }
            Err(_) => {
                // Aborted: the reply is ours again.
                // SAFETY: the caller is gone and never reads it.
                let rep = self.reply.with_mut(|r| unsafe { (*r).take() });
                Err(rep.expect("the reply was just written"))
            }
        }
    }

    /// The server will not answer: the message was dropped (`closed`: with
    /// the whole port).
    pub(crate) fn unanswered(&self, closed: bool) {
        let to = if closed { CLOSED } else { UNANSWERED };
        if self.state.compare_exchange(WAITING, to, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            self.waker.wake();
        }
    }

    /// The caller's poll.
    fn poll_reply(&self, cx: &mut Context<'_>) -> Poll<Result<Rep, PortError>> {
        if let Some(done) = self.outcome() {
            return Poll::Ready(done);
        }
        self.waker.register(cx.waker());
        self.outcome().map_or(Poll::Pending, Poll::Ready)
    }

    fn outcome(&self) -> Option<Result<Rep, PortError>> {
        match self.state.load(Ordering::Acquire) {
            REPLIED => {
                // SAFETY: `REPLIED` was published after the write; only the
                // caller (this side) reads it, once (its `Reply` then lets go
                // of the slot).
                let rep = self.reply.with_mut(|r| unsafe { (*r).take() });
                Some(Ok(rep.expect("a replied call holds its reply")))
            }
            UNANSWERED => Some(Err(PortError::NoReply)),
            CLOSED => Some(Err(PortError::Closed)),
            _ => None,
        }
    }

    /// The caller gives up (drops its future before the outcome).
    fn abort(&self) {
        if self.state.swap(ABORTED, Ordering::AcqRel) == REPLIED {
            // SAFETY: the reply was published and nobody took it: ours.
            drop(self.reply.with_mut(|r| unsafe { (*r).take() }));
        }
    }
}

/// The future of [`PortRef::call`](super::PortRef::call) once its message
/// is out: the reply, or why none will come. Dropping it aborts the call.
#[must_use = "futures do nothing unless awaited"]
pub struct Reply<Rep> {
    slot: Option<Arc<CallSlot<Rep>>>,
}

impl<Rep> Reply<Rep> {
    pub(crate) fn new(slot: Arc<CallSlot<Rep>>) -> Self {
        Self { slot: Some(slot) }
    }
}

impl<Rep> Future for Reply<Rep> {
    type Output = Result<Rep, PortError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let slot = self.slot.as_ref().expect("reply polled after it completed");
        let out = slot.poll_reply(cx);
        if out.is_ready() {
            self.slot = None;
        }
        out
    }
}

impl<Rep> Drop for Reply<Rep> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.abort();
        }
    }
}
