//! A signal that an interrupt handler raises and a task awaits.
//!
//! Protocol (two atomics): `pending` says "a signal arrived since the task
//! last consumed one"; the [`AtomicWaker`] holds the task's waker.
//! - [`WaitCell::signal`] (any CPU, any context, including interrupt
//!   handlers): set `pending` (a swap), then wake the registered waker.
//! - [`WaitCell::poll_wait`] (the one waiting task): consume `pending`; if it
//!   was clear, register the waker, then consume `pending` again.
//!
//! The re-check after registering is what makes a lost wakeup impossible: a
//! signal that lands before the registration left `pending` set and is seen
//! by the second check; one that lands after it finds the waker. Signals
//! coalesce: several signals before the task runs are consumed as one, so the
//! task must drain everything the signal stands for (a whole ring, every
//! ready byte of a device) each time it wakes.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::AtomicWaker;
use crate::sync::{AtomicBool, Ordering, const_unless_loom};

/// A signal an interrupt handler raises and one task awaits.
pub struct WaitCell {
    pending: AtomicBool,
    waker: AtomicWaker,
}

impl Default for WaitCell {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitCell {
    const_unless_loom! {
        /// A cell with no signal pending (`const`, for statics).
        pub fn new() -> Self {
            Self { pending: AtomicBool::new(false), waker: AtomicWaker::new() }
        }
    }

    /// Raises the signal and wakes the waiting task, if any. Safe from any
    /// CPU and from interrupt handlers; never blocks, never allocates.
    pub fn signal(&self) {
        self.pending.swap(true, Ordering::AcqRel);
        self.waker.wake();
    }

    /// Whether a signal is pending (not consumed).
    pub fn is_signalled(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Consumes a pending signal without waiting; `true` if there was one.
    pub fn take(&self) -> bool {
        // A CAS, not a swap: the same effect here, and the form loom models
        // correctly against a concurrent store (tokio-rs/loom#254).
        self.pending.compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// `Ready` once a signal has arrived (consuming it); otherwise registers
    /// `cx`'s waker to be woken by the next [`signal`](Self::signal).
    pub fn poll_wait(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.take() {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        if self.take() { Poll::Ready(()) } else { Poll::Pending }
    }

    /// Waits for the next signal (or consumes a pending one at once).
    pub fn wait(&self) -> Wait<'_> {
        Wait { cell: self }
    }
}

/// The future [`WaitCell::wait`] returns.
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<'a> {
    cell: &'a WaitCell,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.cell.poll_wait(cx)
    }
}
