//! The owner's wake stack (the "inbox" of the lifecycle diagram): where wakes
//! from interrupt handlers (and from other CPUs, when the platform's message
//! path declines) arrive. A lock-free intrusive stack (Treiber): producers push a task with a
//! compare-and-swap on `head`; the owner takes the whole stack with one
//! `swap(null)` and reverses it to restore arrival order. No allocation: the
//! link is the task's `inbox_next`, and a task is in the inbox at most once
//! (the IN_INBOX bit of its state), each time holding one reference.

use core::ptr::{self, NonNull};

use crate::sync::{AtomicPtr, Ordering};
use crate::task::Header;

pub(crate) struct WakeStack {
    head: AtomicPtr<Header>,
}

impl WakeStack {
    pub(crate) fn new() -> Self {
        Self { head: AtomicPtr::new(ptr::null_mut()) }
    }

    /// Pushes `h`; returns whether the inbox was empty (the owner may need a
    /// signal; a non-empty inbox has been signalled already).
    ///
    /// # Safety
    /// `h` is alive, holds a reference for the inbox, and is not in it.
    pub(crate) unsafe fn push(&self, h: NonNull<Header>) -> bool {
        // SAFETY: `h` is alive per the contract.
        let link = unsafe { &h.as_ref().inbox_next };
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            link.store(head, Ordering::Relaxed);
            // Release: the link store (and everything before the wake) is
            // visible to the owner that takes the stack with Acquire.
            match self.head.compare_exchange_weak(head, h.as_ptr(), Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return head.is_null(),
                Err(actual) => head = actual,
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.load(Ordering::Relaxed).is_null()
    }

    /// Takes everything, oldest first, into `f`. Owner only.
    pub(crate) fn drain(&self, mut f: impl FnMut(NonNull<Header>)) {
        let mut p = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        // Reverse the stack into arrival order.
        let mut ordered: *mut Header = ptr::null_mut();
        while let Some(h) = NonNull::new(p) {
            // SAFETY: tasks in the inbox hold a reference, so they are alive.
            let link = unsafe { &h.as_ref().inbox_next };
            p = link.load(Ordering::Relaxed);
            link.store(ordered, Ordering::Relaxed);
            ordered = h.as_ptr();
        }
        while let Some(h) = NonNull::new(ordered) {
            // SAFETY: as above; read the link before `f` may free the task.
            ordered = unsafe { h.as_ref() }.inbox_next.load(Ordering::Relaxed);
            f(h);
        }
    }
}
