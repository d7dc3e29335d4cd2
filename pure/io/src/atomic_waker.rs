//! A waker slot that one side registers into and any side wakes, without
//! locks: the heart of [`WaitCell`](crate::WaitCell), and there for any
//! driver that needs one waker slot. (A `JoinHandle` does not use it: the
//! executor hands its waker slot over through the task's state word.)
//!
//! States (one atomic): `WAITING` (idle), `REGISTERING` (the registrant is
//! writing the slot), `WAKING` (a waker is taking it). The registrant only
//! writes the slot while it holds `REGISTERING`; a waker only takes it after
//! moving `WAITING` -> `WAKING`. A wake that lands while a registration is
//! in flight sets `WAKING` on top of `REGISTERING`; the registrant sees it
//! when it tries to return to `WAITING`, and wakes the new waker itself, so
//! no wake is lost (this is why the waker side uses `fetch_or`).

use core::task::Waker;

use crate::sync::{AtomicUsize, Ordering, UnsafeCell, const_unless_loom};

const WAITING: usize = 0;
const REGISTERING: usize = 0b01;
const WAKING: usize = 0b10;

/// A lock-free waker slot (see the module doc for the protocol).
pub struct AtomicWaker {
    state: AtomicUsize,
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: `waker` is only accessed by the side that owns the state transition
// described in the module doc (REGISTERING for the registrant, WAITING ->
// WAKING for the waker), so accesses never overlap; `Waker` is Send + Sync.
unsafe impl Sync for AtomicWaker {}

impl Default for AtomicWaker {
    fn default() -> Self {
        Self::new()
    }
}

impl AtomicWaker {
    const_unless_loom! {
        /// An empty slot (`const`, for statics an interrupt handler reaches).
        pub fn new() -> Self {
            Self { state: AtomicUsize::new(WAITING), waker: UnsafeCell::new(None) }
        }
    }

    /// Stores `waker` to be woken by the next [`wake`](Self::wake). Only one
    /// party is expected to register (the join handle, the waiting task); a
    /// registration that finds the slot busy wakes its own waker at once, so
    /// its task polls again instead of sleeping through a wake.
    pub fn register(&self, waker: &Waker) {
        match self.state.compare_exchange(WAITING, REGISTERING, Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => {
                // SAFETY: we hold REGISTERING: nobody else touches the slot.
                self.waker.with_mut(|slot| unsafe {
                    match &mut *slot {
                        Some(old) if old.will_wake(waker) => {}
                        other => *other = Some(waker.clone()),
                    }
                });
                if let Err(actual) = self.state.compare_exchange(REGISTERING, WAITING, Ordering::AcqRel, Ordering::Acquire) {
                    // A wake arrived meanwhile (actual == REGISTERING | WAKING).
                    debug_assert_eq!(actual, REGISTERING | WAKING);
                    // SAFETY: the waker side saw REGISTERING and left the slot to us.
                    let w = self.waker.with_mut(|slot| unsafe { (*slot).take() });
                    self.state.swap(WAITING, Ordering::AcqRel);
                    if let Some(w) = w {
                        w.wake();
                    }
                }
            }
            // A wake is running right now: it may have missed this waker.
            Err(_) => waker.wake_by_ref(),
        }
    }

    /// Wakes the registered waker, if any.
    pub fn wake(&self) {
        if let Some(w) = self.take() {
            w.wake();
        }
    }

    fn take(&self) -> Option<Waker> {
        match self.state.fetch_or(WAKING, Ordering::AcqRel) {
            WAITING => {
                // SAFETY: we moved WAITING -> WAKING: the slot is ours.
                let w = self.waker.with_mut(|slot| unsafe { (*slot).take() });
                self.state.fetch_and(!WAKING, Ordering::Release);
                w
            }
            // Registering (it will see WAKING) or another wake in progress.
            _ => None,
        }
    }
}
