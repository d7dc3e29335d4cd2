//! The owner's run queue: an intrusive FIFO through `Local::next`. Owner
//! only, so plain loads and stores (no atomics): a local wake costs a flag
//! check and two pointer writes.

use core::ptr::NonNull;

use crate::task::Header;

pub(crate) struct RunQueue {
    head: Option<NonNull<Header>>,
    tail: Option<NonNull<Header>>,
    len: usize,
}

impl RunQueue {
    pub(crate) const fn new() -> Self {
        Self { head: None, tail: None, len: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// # Safety
    /// Owner only; `h` is alive and not in any run queue.
    pub(crate) unsafe fn push_back(&mut self, h: NonNull<Header>) {
        // SAFETY: owner-only access to `local`, per the contract.
        unsafe { h.as_ref().local.with_mut(|l| (*l).next = None) };
        match self.tail {
            // SAFETY: the tail is alive while queued (the executor holds it).
            Some(t) => unsafe { t.as_ref().local.with_mut(|l| (*l).next = Some(h)) },
            None => self.head = Some(h),
        }
        self.tail = Some(h);
        self.len += 1;
    }

    /// # Safety
    /// Owner only.
    pub(crate) unsafe fn pop_front(&mut self) -> Option<NonNull<Header>> {
        let h = self.head?;
        // SAFETY: queued tasks are alive; owner-only access to `local`.
        self.head = unsafe { h.as_ref().local.with(|l| (*l).next) };
        if self.head.is_none() {
            self.tail = None;
        }
        self.len -= 1;
        Some(h)
    }
}
