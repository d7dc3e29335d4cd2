//! One CPU's pending timers, earliest deadline first.
//!
//! Deadlines are plain `u64` ticks (the kernel uses TSC cycles). Each timer
//! is keyed by (deadline, sequence number), so equal deadlines fire in the
//! order they were armed and a key names exactly one timer. Insert, cancel
//! and expiry are O(log n) (a B-tree); the earliest deadline is what the
//! kernel programs into the CPU's one-shot timer.
//!
//! A `TimerQueue` is plain data: the kernel keeps one per CPU behind that
//! CPU's lock and touches it from task context only; the timer interrupt
//! itself only ends the CPU's halt.

use alloc::collections::BTreeMap;
use core::task::Waker;

/// Names one armed timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerKey {
    deadline: u64,
    seq: u64,
}

impl TimerKey {
    /// When the timer fires.
    pub fn deadline(self) -> u64 {
        self.deadline
    }
}

/// Pending timers and the wakers to call when they expire.
#[derive(Default)]
pub struct TimerQueue {
    timers: BTreeMap<TimerKey, Waker>,
    next_seq: u64,
    fired: u64,
}

impl TimerQueue {
    /// An empty queue.
    pub const fn new() -> Self {
        Self { timers: BTreeMap::new(), next_seq: 0, fired: 0 }
    }

    /// Arms a timer that wakes `waker` at `deadline`.
    pub fn insert(&mut self, deadline: u64, waker: Waker) -> TimerKey {
        let key = TimerKey { deadline, seq: self.next_seq };
        self.next_seq += 1;
        self.timers.insert(key, waker);
        key
    }

    /// Replaces the waker of an armed timer (a future polled again with a
    /// different waker). `false` if the timer already fired or was cancelled.
    pub fn update(&mut self, key: TimerKey, waker: &Waker) -> bool {
        match self.timers.get_mut(&key) {
            Some(w) => {
                if !w.will_wake(waker) {
                    w.clone_from(waker);
                }
                true
            }
            None => false,
        }
    }

    /// Disarms a timer; `false` if it already fired or was cancelled.
    pub fn cancel(&mut self, key: TimerKey) -> bool {
        self.timers.remove(&key).is_some()
    }

    /// Whether `key` is still armed.
    pub fn contains(&self, key: TimerKey) -> bool {
        self.timers.contains_key(&key)
    }

    /// The earliest armed deadline.
    pub fn next_deadline(&self) -> Option<u64> {
        self.timers.first_key_value().map(|(k, _)| k.deadline)
    }

    /// Removes the earliest timer if its deadline is `<= now` and returns its
    /// waker (so the caller can wake it outside whatever lock guards the
    /// queue).
    pub fn pop_expired(&mut self, now: u64) -> Option<Waker> {
        let entry = self.timers.first_entry()?;
        if entry.key().deadline > now {
            return None;
        }
        self.fired += 1;
        Some(entry.remove())
    }

    /// Removes every timer whose deadline is `<= now` and hands its waker to
    /// `fire`, earliest first. Returns how many fired.
    pub fn expire(&mut self, now: u64, mut fire: impl FnMut(Waker)) -> usize {
        let mut n = 0;
        while let Some(w) = self.pop_expired(now) {
            fire(w);
            n += 1;
        }
        n
    }

    /// Timers armed.
    pub fn len(&self) -> usize {
        self.timers.len()
    }

    /// Whether no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.timers.is_empty()
    }

    /// Timers that have fired since the queue was made.
    pub fn fired(&self) -> u64 {
        self.fired
    }
}
