//! A bounded single-producer single-consumer ring whose slots are stamped
//! with the position they hold (the stamp scheme of Dmitry Vyukov's bounded
//! queue, which crossbeam's `ArrayQueue` also uses, cut down to one producer
//! and one consumer).
//!
//! # Algorithm
//!
//! Positions count up forever (wrapping); position `p` lives in slot
//! `p & (capacity - 1)`. Each slot carries a stamp:
//!
//! - the producer at position `tail` writes the value, then stores the stamp
//!   `tail + 1` (Release), then advances `tail`;
//! - the consumer at position `head` takes the slot only if it reads the
//!   stamp `head + 1` (Acquire), copies the value out, then stores
//!   `head + 1` into `head` (Release), which frees the slot.
//!
//! So the consumer finds values by looking at the slot itself and never
//! reads `tail`: a value costs it the slot's cache line and not the tail's
//! as well. A stamp from an earlier lap (`head + 1 - capacity`, ...) never
//! matches. The producer knows a slot is free from `head` (Acquire, pairing
//! with the consumer's Release), which it re-reads only when the depth it
//! last computed would reach a threshold the caller chooses
//! ([`StampedRing::push`]): below it, a stale (smaller) `head` only
//! overstates the depth, so neither the full check nor any decision the
//! caller takes at the threshold can be crossed on a stale value.
//!
//! `len` reads both ends and is approximate while either side runs.
//!
//! # Rules
//! 1. One producer at a time calls `push` (with its own cached head), and
//!    one consumer at a time calls `pop`; the two may run concurrently.
//! 2. Values are `Copy`: a ring dropped with values in it drops nothing.

use alloc::boxed::Box;
use core::cell::Cell;
use core::mem::MaybeUninit;

use crate::sync::{AtomicUsize, Ordering, UnsafeCell};

/// Keeps a value on its own cache line(s).
#[repr(align(64))]
pub(crate) struct Padded<T>(pub(crate) T);

/// One place in a ring, stamped with the position it holds.
#[repr(align(32))]
struct Slot<T> {
    seq: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// The ring: see the module doc.
pub(crate) struct StampedRing<T> {
    /// Next position to read; only the consumer writes it.
    head: Padded<AtomicUsize>,
    /// Next position to write; only the producer writes it. The consumer
    /// does not read it (the stamps tell it); `len` does.
    tail: Padded<AtomicUsize>,
    slots: Box<[Slot<T>]>,
}

// SAFETY: a slot's value is written only by the producer while the slot is
// free and read only by the consumer once its stamp says it is full
// (rule 1 of the module doc, which `push` and `pop` make their callers
// promise); the stamps and ends are atomics. `T: Send` because values
// cross from the producer's thread to the consumer's.
unsafe impl<T: Send> Sync for StampedRing<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for StampedRing<T> {}

impl<T: Copy> StampedRing<T> {
    /// A ring of `capacity` slots (a power of two).
    pub(crate) fn new(capacity: usize) -> Self {
        assert!(capacity.is_power_of_two(), "capacity must be a power of two");
        let slots = (0..capacity).map(|_| Slot { seq: AtomicUsize::new(0), value: UnsafeCell::new(MaybeUninit::uninit()) }).collect();
        Self { head: Padded(AtomicUsize::new(0)), tail: Padded(AtomicUsize::new(0)), slots }
    }

    /// Slots in the ring.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Values in the ring now (approximate while either side runs).
    pub(crate) fn len(&self) -> usize {
        self.tail.0.load(Ordering::Acquire).wrapping_sub(self.head.0.load(Ordering::Acquire))
    }

    /// Appends `value`, returning the depth the ring had before it (an
    /// exact figure when it is at least `refresh_at`, an upper bound below).
    /// `Err(value)`: the ring is full.
    ///
    /// `cached_head` is the producer's copy of `head`: it is re-read (and
    /// the copy updated) only when the depth it gives would reach
    /// `refresh_at` with this value (see the module doc).
    ///
    /// # Safety
    /// The caller is the ring's only producer (rule 1), and `cached_head`
    /// was only ever updated by this ring's `push`.
    pub(crate) unsafe fn push(&self, cached_head: &Cell<usize>, refresh_at: usize, value: T) -> Result<usize, T> {
        let tail = self.tail.0.load(Ordering::Relaxed);
        let mut head = cached_head.get();
        if tail.wrapping_sub(head) + 1 >= refresh_at {
            head = self.head.0.load(Ordering::Acquire);
            cached_head.set(head);
        }
        let depth = tail.wrapping_sub(head);
        if depth == self.capacity() {
            return Err(value);
        }
        let slot = &self.slots[tail & (self.capacity() - 1)];
        // SAFETY: we are the only producer, and slot `tail` is free: the
        // consumer moved `head` past its previous lap (Acquire above, or on
        // an earlier push whose copy we use: `head` only grows).
        slot.value.with_mut(|v| unsafe { (*v).write(value) });
        // Publish: the stamp is what the consumer reads.
        slot.seq.store(tail.wrapping_add(1), Ordering::Release);
        self.tail.0.store(tail.wrapping_add(1), Ordering::Release);
        Ok(depth)
    }

    /// The position the consumer reads next (for bounding a drain).
    pub(crate) fn head(&self) -> usize {
        self.head.0.load(Ordering::Relaxed)
    }

    /// Takes the oldest value, if the producer has published one.
    ///
    /// # Safety
    /// The caller is the ring's only consumer (rule 1).
    pub(crate) unsafe fn pop(&self) -> Option<T> {
        let head = self.head.0.load(Ordering::Relaxed);
        let slot = &self.slots[head & (self.capacity() - 1)];
        if slot.seq.load(Ordering::Acquire) != head.wrapping_add(1) {
            return None;
        }
        // SAFETY: we are the only consumer, and the stamp (Acquire) says the
        // producer wrote this position's value.
        let value = slot.value.with(|v| unsafe { (*v).assume_init_read() });
        // Free the slot.
        self.head.0.store(head.wrapping_add(1), Ordering::Release);
        Some(value)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    use std::sync::Arc;

    #[test]
    fn fifo_until_full_then_refuses_without_losing_the_value() {
        let ring = StampedRing::<u32>::new(4);
        let head = Cell::new(0);
        for n in 0..4 {
            // SAFETY: this thread is the only producer and consumer.
            assert_eq!(unsafe { ring.push(&head, 1, n) }, Ok(n as usize));
        }
        // SAFETY: as above.
        assert_eq!(unsafe { ring.push(&head, 1, 9) }, Err(9));
        assert_eq!(ring.len(), 4);
        // SAFETY: as above.
        let got: Vec<_> = std::iter::from_fn(|| unsafe { ring.pop() }).collect();
        assert_eq!(got, [0, 1, 2, 3]);
        // SAFETY: as above.
        assert_eq!(unsafe { ring.pop() }, None);
        // SAFETY: as above.
        assert_eq!(unsafe { ring.push(&head, 1, 9) }, Ok(0), "room again after the pops");
    }

    /// Slots that still hold an earlier lap's values (stamps a capacity
    /// behind) are not taken again.
    #[test]
    fn stamps_from_an_earlier_lap_never_match() {
        let ring = StampedRing::<u32>::new(4);
        let head = Cell::new(0);
        for lap in 0..5u32 {
            // SAFETY: this thread is the only producer and consumer.
            unsafe {
                assert!(ring.push(&head, 1, lap).is_ok());
                assert_eq!(ring.pop(), Some(lap), "lap {lap}");
                assert_eq!(ring.pop(), None, "lap {lap}: the next slot holds an old stamp");
            }
        }
    }

    /// The producer reads `head` only from `refresh_at` on: a stale copy
    /// overstates the depth below it, never turns a drained ring full.
    #[test]
    fn a_stale_cached_head_is_refreshed_before_it_could_matter() {
        let ring = StampedRing::<u32>::new(8);
        let head = Cell::new(0);
        for round in 0..3 {
            for n in 0..8 {
                // SAFETY: this thread is the only producer and consumer.
                assert!(unsafe { ring.push(&head, 2, n) }.is_ok(), "round {round}: slot {n} free");
            }
            // SAFETY: as above.
            assert_eq!(unsafe { ring.push(&head, 2, 8) }, Err(8));
            // SAFETY: as above.
            while unsafe { ring.pop() }.is_some() {}
            // The copy is stale (8 behind); the refresh at depth 2 finds
            // the ring empty.
            // SAFETY: as above.
            assert_eq!(unsafe { ring.push(&head, 2, 0) }, Ok(0), "round {round}");
            // SAFETY: as above.
            assert_eq!(unsafe { ring.pop() }, Some(0));
        }
    }

    /// A producer thread and a consumer thread: every value arrives once,
    /// in order, through a ring much smaller than the stream.
    #[test]
    fn spsc_threads_deliver_every_value_once_in_order() {
        const N: u64 = 200_000;
        let ring = Arc::new(StampedRing::<u64>::new(16));
        let producer = {
            let ring = Arc::clone(&ring);
            std::thread::spawn(move || {
                let head = Cell::new(0);
                for n in 0..N {
                    let mut v = n;
                    // SAFETY: this thread is the only producer.
                    while let Err(back) = unsafe { ring.push(&head, 4, v) } {
                        v = back;
                        std::hint::spin_loop();
                    }
                }
            })
        };
        let mut next = 0;
        while next < N {
            // SAFETY: this thread is the only consumer.
            match unsafe { ring.pop() } {
                Some(v) => {
                    assert_eq!(v, next, "in order, once");
                    next += 1;
                }
                None => std::hint::spin_loop(),
            }
        }
        producer.join().unwrap();
        assert_eq!(ring.len(), 0);
    }
}
