//! The owner's task lists: intrusive doubly linked FIFOs through
//! `Local::{prev, next}`. Every live task is in exactly one of its owner's
//! lists (a run queue per band, or the idle list) except while it is being
//! polled, so one pair of links serves both scheduling and `ps`. Owner only,
//! so plain loads and stores: a local wake costs a few pointer writes and no
//! atomics.

use core::ptr::NonNull;

use crate::task::Header;

pub(crate) struct TaskList {
    head: Option<NonNull<Header>>,
    tail: Option<NonNull<Header>>,
    len: usize,
}

impl TaskList {
    pub(crate) const fn new() -> Self {
        Self { head: None, tail: None, len: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn head(&self) -> Option<NonNull<Header>> {
        self.head
    }

    /// # Safety
    /// Owner only; `h` is alive and in no list.
    pub(crate) unsafe fn push_back(&mut self, h: NonNull<Header>) {
        // SAFETY: owner-only access to `local`, per the contract.
        unsafe {
            h.as_ref().local.with_mut(|l| {
                (*l).prev = self.tail;
                (*l).next = None;
            })
        };
        match self.tail {
            // SAFETY: listed tasks are alive (the executor holds them).
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
        // SAFETY: `h` is listed here, so alive; owner-only links.
        unsafe { self.unlink(h) };
        Some(h)
    }

    /// # Safety
    /// Owner only; `h` is in this list.
    pub(crate) unsafe fn unlink(&mut self, h: NonNull<Header>) {
        // SAFETY: listed tasks and their neighbours are alive; owner-only links.
        unsafe {
            let (prev, next) = h.as_ref().local.with(|l| ((*l).prev, (*l).next));
            match prev {
                Some(p) => p.as_ref().local.with_mut(|l| (*l).next = next),
                None => self.head = next,
            }
            match next {
                Some(n) => n.as_ref().local.with_mut(|l| (*l).prev = prev),
                None => self.tail = prev,
            }
        }
        self.len -= 1;
    }
}
