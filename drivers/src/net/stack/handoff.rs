//! A program's listener takes its connections without a message to the
//! stack: each connection made is handed over through a bounded queue the
//! stack shares with the listener's handle.
//!
//! The stack's task is the only producer: at the end of a turn's listener
//! service it makes each newly established connection a [`Opened`] and
//! pushes it, then publishes the listener's readiness with its read
//! generation moved (`Watch::arrived`), which wakes the waiters. Any CPU
//! may consume: `accept` pops one (a connection popped is the popper's,
//! exactly once, by the queue's own guarantee), and a handle reads the
//! listener as readable while the queue holds one, so a pop is seen at
//! once, without waiting for the stack's next turn to publish it. The
//! queue is crossbeam's `ArrayQueue` (lock-free, bounded, model-checked by
//! its authors); its capacity is the largest backlog, and the stack counts
//! what it holds against the listener's backlog, so a push never finds it
//! full but by a bug, which keeps the connection in the stack for the next
//! turn.
//!
//! When the listener goes (`Unlisten`), the stack empties the queue: each
//! connection nobody took is dropped, which closes it.

use crossbeam_queue::ArrayQueue;

use super::{MAX_BACKLOG, Opened};

/// The queue of connections made and not yet accepted.
pub(crate) struct Handoff(ArrayQueue<Opened>);

impl Handoff {
    pub(crate) fn new() -> Self {
        Self(ArrayQueue::new(MAX_BACKLOG))
    }

    /// The oldest connection waiting, now the caller's.
    pub(crate) fn take(&self) -> Option<Opened> {
        self.0.pop()
    }

    /// Connections waiting.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Hands `c` over (the stack only); gives it back if the queue is full.
    pub(super) fn offer(&self, c: Opened) -> Result<(), Opened> {
        self.0.push(c)
    }
}
