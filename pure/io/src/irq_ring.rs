//! A fixed-capacity single-producer single-consumer ring that an interrupt
//! handler fills and a task drains.
//!
//! Protocol: `tail` (next slot to write) is written only by the producer,
//! `head` (next slot to read) only by the consumer; both count up forever
//! and index with `% N`. The producer writes the slot, then publishes it with
//! a release store of `tail`; the consumer acquires `tail`, reads the slot,
//! then releases it with a store of `head`. After each push the ring's
//! [`WaitCell`] is signalled, so a consumer awaiting [`IrqRing::recv`] is
//! woken (register-then-recheck, see `wait_cell.rs`).
//!
//! "Single producer" is checked, not assumed: each side claims a flag with
//! a compare-exchange for the duration of its operation, and a second producer (or
//! consumer) running at the same moment is refused ([`Pushed::Busy`], or
//! `None`) instead of racing. A full ring refuses the element and counts an
//! overflow; it never blocks the interrupt handler and never panics.

use core::future::Future;
use core::mem::MaybeUninit;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::WaitCell;
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Ordering, UnsafeCell};

/// What [`IrqRing::push`] did with an element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Pushed {
    /// Stored, and the consumer signalled.
    Stored,
    /// The ring was full: dropped and counted in [`IrqRing::overflows`].
    Full,
    /// Another producer was pushing at the same moment: dropped and counted.
    Busy,
}

/// A ring of `N` elements (a power of two) from one interrupt handler to one
/// task.
pub struct IrqRing<T, const N: usize> {
    slots: [UnsafeCell<MaybeUninit<T>>; N],
    head: AtomicUsize,
    tail: AtomicUsize,
    producing: AtomicBool,
    consuming: AtomicBool,
    overflows: AtomicU64,
    cell: WaitCell,
}

// SAFETY: a slot is written only by the producer holding `producing`, before
// the release store of `tail` that publishes it, and read only by the
// consumer holding `consuming`, after the acquire load of `tail` and before
// the release store of `head` that returns it; `T: Send` may cross CPUs.
unsafe impl<T: Send, const N: usize> Sync for IrqRing<T, N> {}

impl<T: Copy, const N: usize> Default for IrqRing<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy, const N: usize> IrqRing<T, N> {
    const CHECK: () = assert!(N.is_power_of_two(), "IrqRing capacity must be a power of two");

    /// An empty ring (`const`, for statics an interrupt handler reaches).
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        let () = Self::CHECK;
        Self {
            slots: [const { UnsafeCell::new(MaybeUninit::uninit()) }; N],
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            producing: AtomicBool::new(false),
            consuming: AtomicBool::new(false),
            overflows: AtomicU64::new(0),
            cell: WaitCell::new(),
        }
    }

    /// An empty ring.
    #[cfg(loom)]
    pub fn new() -> Self {
        let () = Self::CHECK;
        Self {
            slots: core::array::from_fn(|_| UnsafeCell::new(MaybeUninit::uninit())),
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            producing: AtomicBool::new(false),
            consuming: AtomicBool::new(false),
            overflows: AtomicU64::new(0),
            cell: WaitCell::new(),
        }
    }

    /// The capacity.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Appends `value` and signals the consumer (the producer side: one
    /// interrupt handler). Never blocks: a full ring drops and counts.
    pub fn push(&self, value: T) -> Pushed {
        if self.producing.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.overflows.fetch_add(1, Ordering::Relaxed);
            return Pushed::Busy;
        }
        let tail = self.tail.load(Ordering::Relaxed);
        let head = self.head.load(Ordering::Acquire);
        let result = if tail.wrapping_sub(head) >= N {
            self.overflows.fetch_add(1, Ordering::Relaxed);
            Pushed::Full
        } else {
            // SAFETY: we hold `producing`, and the slot at `tail` is free:
            // the consumer released it (acquire load of `head` above) and
            // will not read it before our release store of `tail`.
            self.slots[tail % N].with_mut(|slot| unsafe { (*slot).write(value) });
            self.tail.store(tail.wrapping_add(1), Ordering::Release);
            Pushed::Stored
        };
        self.producing.store(false, Ordering::Release);
        if result == Pushed::Stored {
            self.cell.signal();
        }
        result
    }

    /// Takes the oldest element (the consumer side: one task).
    pub fn pop(&self) -> Option<T> {
        if self.consuming.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            return None;
        }
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        let value = (head != tail).then(|| {
            // SAFETY: we hold `consuming`; the producer initialised this slot
            // before its release store of `tail`, which we acquired, and
            // will not reuse it before our release store of `head`.
            let v = self.slots[head % N].with(|slot| unsafe { (*slot).assume_init_read() });
            self.head.store(head.wrapping_add(1), Ordering::Release);
            v
        });
        self.consuming.store(false, Ordering::Release);
        value
    }

    /// Elements waiting (a snapshot).
    pub fn len(&self) -> usize {
        let tail = self.tail.load(Ordering::Acquire);
        tail.wrapping_sub(self.head.load(Ordering::Acquire)).min(N)
    }

    /// Whether nothing is waiting (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Free slots (a snapshot; the producer uses it to leave data in the
    /// device rather than overflow: flow control).
    pub fn free(&self) -> usize {
        N - self.len()
    }

    /// Elements dropped because the ring was full (or pushed concurrently).
    pub fn overflows(&self) -> u64 {
        self.overflows.load(Ordering::Relaxed)
    }

    /// `Ready` with the oldest element, or registers `cx` to be woken by the
    /// next push.
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<T> {
        loop {
            if let Some(v) = self.pop() {
                return Poll::Ready(v);
            }
            if self.cell.poll_wait(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }

    /// Waits for the next element.
    pub fn recv(&self) -> Recv<'_, T, N> {
        Recv { ring: self }
    }
}

/// The future [`IrqRing::recv`] returns.
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, T, const N: usize> {
    ring: &'a IrqRing<T, N>,
}

impl<T: Copy, const N: usize> Future for Recv<'_, T, N> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.ring.poll_recv(cx)
    }
}

impl<T: Copy, const N: usize> futures_core::Stream for &IrqRing<T, N> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.poll_recv(cx).map(Some)
    }
}
