//! Each CPU's idle flag: raised by the CPU before the idle check that
//! precedes a halt, lowered once it runs again, read by other CPUs that
//! must decide whether to wake it (`mod.rs`, "Passive sends and idle
//! receivers"; both sides use read-modify-writes, for the reason given
//! there). Before it halts, an idle CPU may first poll for work a while:
//! the flag then says so ([`IdleFlags::set_polling`]), and an active send
//! needs no IPI (`mod.rs`, "Polling receivers").
//!
//! The queues keep their own flags ([`IpiQueues::new`](super::IpiQueues::new)),
//! or share a platform's ([`IpiQueues::with_idle_flags`](super::IpiQueues::with_idle_flags)):
//! the kernel keeps one flag per CPU for everything that wakes an idle CPU
//! (the IPI queues, remote frees, the stall detector), made at boot, before
//! the queues exist.

use alloc::boxed::Box;

use super::ring::Padded;
use crate::sync::{AtomicU8, Ordering};

/// Running: it drains its queues only when an interrupt or its loop's next
/// turn comes (it may be in a program for milliseconds).
const RUNNING: u8 = 0;
/// About to halt or halted.
const IDLE: u8 = 1;
/// In its loop, looking for work again and again before it halts.
const POLLING: u8 = 2;

/// One idle flag per CPU, each on its own cache line.
pub struct IdleFlags(Box<[Padded<AtomicU8>]>);

impl IdleFlags {
    /// Flags for `cpus` CPUs, all lowered.
    pub fn new(cpus: usize) -> Self {
        Self((0..cpus).map(|_| Padded(AtomicU8::new(RUNNING))).collect())
    }

    /// How many CPUs have a flag.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Raises or lowers `cpu`'s flag (only `cpu` itself does): a swap, so
    /// that it is ordered against another CPU's read (see the module doc).
    pub fn set(&self, cpu: usize, idle: bool) {
        self.0[cpu].0.swap(if idle { IDLE } else { RUNNING }, Ordering::AcqRel);
    }

    /// Says that `cpu` (only `cpu` itself does) polls for work: it looks at
    /// its queues again and again until it finds work, or raises its flag
    /// ([`set`](Self::set)) and makes its last look before it halts.
    pub fn set_polling(&self, cpu: usize) {
        self.0[cpu].0.swap(POLLING, Ordering::AcqRel);
    }

    /// Whether `cpu` may be about to halt or halted: a read-modify-write
    /// (see the module doc).
    pub fn is_idle(&self, cpu: usize) -> bool {
        self.0[cpu].0.fetch_or(0, Ordering::AcqRel) == IDLE
    }

    /// Whether `cpu` polls for work: what was sent to it before this look
    /// is seen without an IPI, by a poll or by the look before its halt.
    /// A read-modify-write (see the module doc).
    pub fn is_polling(&self, cpu: usize) -> bool {
        self.0[cpu].0.fetch_or(0, Ordering::AcqRel) == POLLING
    }
}
