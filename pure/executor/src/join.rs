//! `JoinHandle<T>`: awaits a task's output; dropping it detaches the task;
//! `abort()` cancels it (the future is dropped on its owning executor).

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use crate::executor::Shared;
use crate::state::{Cancel, InterestDropped};
use crate::task::{Header, TaskRef};

/// Why a task produced no output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinError {
    /// `abort()` was called before the task completed.
    Cancelled,
    /// The task panicked (only with the `std` feature, on the host: in the
    /// kernel a panic stops every CPU and names the task).
    Panicked,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("task was cancelled"),
            JoinError::Panicked => f.write_str("task panicked"),
        }
    }
}

/// The output of a spawned task, as a future.
pub struct JoinHandle<T> {
    task: Option<TaskRef>,
    _output: PhantomData<T>,
}

// SAFETY: the handle only moves the output `T` across threads (when T: Send);
// the future itself never leaves its owner (abort only sends a message home).
unsafe impl<T: Send> Send for JoinHandle<T> {}

// The handle holds a pointer, never a `T` in place: moving it is always fine.
impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    pub(crate) fn new(task: TaskRef) -> Self {
        Self { task: Some(task), _output: PhantomData }
    }

    fn header(&self) -> &Header {
        self.task.as_ref().expect("JoinHandle used after completion").header()
    }

    /// The task's id.
    pub fn id(&self) -> u64 {
        self.header().ident.id()
    }

    /// Whether the task has completed (finished or been cancelled).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.header().state.is_complete())
    }

    /// Cancels the task: its future is dropped on its executor at its next
    /// turn, and the handle resolves to `Err(JoinError::Cancelled)`. No effect
    /// on a completed task.
    pub fn abort(&self) {
        let Some(task) = &self.task else { return };
        if task.header().state.cancel() == Cancel::Schedule {
            Shared::schedule(task.ptr());
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(task) = self.task.as_ref() else { panic!("JoinHandle polled after it returned the output") };
        let header = task.header();
        if !register(header, cx.waker()) {
            return Poll::Pending;
        }
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        // SAFETY: COMPLETE was observed (Acquire) and we hold JOIN_INTEREST,
        // so the output is ours; `out` has the type the vtable writes.
        unsafe { (header.vtable.take_output)(task.ptr(), (&raw mut out).cast()) };
        // Release our reference now; drop() must not touch the stage again.
        let task = self.task.take().expect("checked above");
        // The output is taken: whichever way the race went, nothing is
        // left in the stage to drop.
        let _ = task.header().state.drop_join_interest();
        drop(task);
        out
    }
}

/// Leaves `waker` in the task's join-waker slot for its completion; returns
/// `true` if the task completed meanwhile (then nothing will wake `waker`,
/// and the output is ready). The slot protocol is in `state.rs`: each step
/// that hands the slot over fails once COMPLETE is set, so a completion
/// racing this either sees JOIN_WAKER (and wakes the waker) or is seen here.
fn register(header: &Header, waker: &Waker) -> bool {
    let state = header.state.load();
    if state.is_complete() {
        return true;
    }
    if state.has_join_waker() {
        // SAFETY: with JOIN_WAKER set the slot is read-only for everyone.
        let same = header.join_waker.with(|w| unsafe { (*w).as_ref() }.is_some_and(|w| w.will_wake(waker)));
        if same {
            return false;
        }
        if header.state.unset_join_waker().is_err() {
            return true;
        }
    }
    // SAFETY: JOIN_WAKER is clear and only this handle sets it: the slot is ours.
    header.join_waker.with_mut(|w| unsafe { *w = Some(waker.clone()) });
    header.state.set_join_waker().is_err()
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            let header = task.header();
            if header.state.drop_join_interest() == InterestDropped::HandleDropsOutput {
                // SAFETY: the task completed before we gave up interest, so
                // its output is ours to drop (see state.rs).
                unsafe { (header.vtable.drop_stage)(task.ptr()) };
            }
        }
    }
}
