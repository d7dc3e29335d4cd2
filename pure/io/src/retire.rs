//! Values readers reach without a lock, and their deferred end (the
//! quiescent-state reclamation Linux calls RCU, on the grace period tokens
//! already use).
//!
//! A reader loads a pointer to an `Arc`'s value and raises its count, all
//! inside one poll: it never holds the bare pointer across an `.await` (the
//! reads here are synchronous and hand back an owned `Arc`). A writer that
//! unlinks a value does not drop the link's reference at once: it hands it
//! to [`after_every_cpu`], which drops it once every other CPU has been
//! between two polls ([`TokenHooks::wake_after_every_cpu`], the hook
//! tokens wait with). A reader that loaded the old pointer did so inside a
//! poll that has then ended, with its count raised, so the value outlives
//! every such reader; a reader that loads after the unlink sees the new
//! pointer. The writer's own CPU needs no wait: while the writer runs, no
//! other poll is in progress there. Interrupt handlers may read too: one
//! runs to its end before the CPU it interrupted reaches its next point
//! between polls.
//!
//! - [`after_every_cpu`]: drop a value once no reader can still be on it.
//! - [`grace_period`]: wait until every other CPU has been between two
//!   polls (a code path that only *tries* a token waits with it before it
//!   tries again: the hold it met has ended by then).
//! - [`Snapshot`]: one value, read as an `Arc`, replaced whole.
//!
//! Loom checks both with the host's hook (`pure/io/tests/loom.rs`).
//!
//! [`TokenHooks::wake_after_every_cpu`]: crate::token::TokenHooks

use alloc::sync::Arc;
use alloc::task::Wake;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use crate::sync::{AtomicPtr, Lock, Ordering};

/// Drops `value` once every CPU other than the caller's has been between
/// two polls since this call (at once on one CPU). Call it from task
/// context, with `value` already unlinked from wherever readers find it.
pub fn after_every_cpu<T: Send + 'static>(value: T) {
    let waker = Waker::from(Arc::new(DropOnWake(Lock::new(Some(value)))));
    crate::token::wait_for_every_cpu(&waker);
}

/// Waits until every CPU other than the caller's has been between two
/// polls (ends at once on one CPU). It may end early, on a stray wake of
/// its task: callers try again after it and wait again if they must.
pub fn grace_period() -> GracePeriod {
    GracePeriod { asked: false }
}

/// The future of [`grace_period`].
#[must_use = "a future does nothing unless awaited"]
pub struct GracePeriod {
    asked: bool,
}

impl Future for GracePeriod {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.asked {
            return Poll::Ready(());
        }
        self.asked = true;
        crate::token::wait_for_every_cpu(cx.waker());
        Poll::Pending
    }
}

/// A waker whose first wake drops the value it carries.
struct DropOnWake<T>(Lock<Option<T>>);

impl<T: Send> Wake for DropOnWake<T> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Taken out under the lock, dropped after it.
        let value = self.0.with(Option::take);
        drop(value);
    }
}

/// One value that readers take an `Arc` of without a lock and a writer
/// replaces whole (the old one ends after a grace period: the module doc).
pub struct Snapshot<T> {
    /// From `Arc::into_raw`: the snapshot's own reference.
    current: AtomicPtr<T>,
    _owns: PhantomData<Arc<T>>,
}

// SAFETY: the snapshot hands out `Arc<T>` clones to any thread and drops
// its references on any thread, which is what `Arc<T>: Send + Sync` needs.
unsafe impl<T: Send + Sync> Send for Snapshot<T> {}
// SAFETY: as above: shared access only clones or swaps `Arc<T>`s.
unsafe impl<T: Send + Sync> Sync for Snapshot<T> {}

impl<T: Send + Sync + 'static> Snapshot<T> {
    /// A snapshot holding `value`.
    pub fn new(value: Arc<T>) -> Self {
        Self { current: AtomicPtr::new(Arc::into_raw(value).cast_mut()), _owns: PhantomData }
    }

    /// The value now. Call it inside a poll (or an interrupt handler), as
    /// every read here (the module doc).
    pub fn get(&self) -> Arc<T> {
        let p = self.current.load(Ordering::Acquire);
        // SAFETY: `p` came from `Arc::into_raw`, and the reference it
        // stands for is dropped only a grace period after a `set` unlinked
        // it; this read is inside a poll that began before that grace
        // period could end, so the count is still at least one.
        unsafe {
            Arc::increment_strong_count(p);
            Arc::from_raw(p)
        }
    }

    /// Replaces the value; the old one is dropped once no reader can still
    /// be on it.
    pub fn set(&self, value: Arc<T>) {
        let old = self.current.swap(Arc::into_raw(value).cast_mut(), Ordering::AcqRel);
        // SAFETY: `old` came from `Arc::into_raw` and was the snapshot's
        // own reference, which the swap took out of it.
        after_every_cpu(unsafe { Arc::from_raw(old) });
    }
}

impl<T> Drop for Snapshot<T> {
    fn drop(&mut self) {
        let p = self.current.load(Ordering::Relaxed);
        // SAFETY: the snapshot's own reference (from `Arc::into_raw`).
        // `&mut self`: no reader of this snapshot is left, and any `Arc`
        // a reader took holds a count of its own.
        drop(unsafe { Arc::from_raw(p) });
    }
}
