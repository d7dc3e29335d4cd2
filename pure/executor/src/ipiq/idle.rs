//! Each CPU's idle flag: raised by the CPU before the idle check that
//! precedes a halt, lowered once it runs again, read by other CPUs that
//! must decide whether to wake it (`mod.rs`, "Passive sends and idle
//! receivers"; both sides use read-modify-writes, for the reason given
//! there).
//!
//! The queues keep their own flags ([`IpiQueues::new`](super::IpiQueues::new)),
//! or share a platform's ([`IpiQueues::with_idle_flags`](super::IpiQueues::with_idle_flags)):
//! the kernel keeps one flag per CPU for everything that wakes an idle CPU
//! (the IPI queues, remote frees, the stall detector), made at boot, before
//! the queues exist.

use alloc::boxed::Box;

use super::ring::Padded;
use crate::sync::{AtomicBool, Ordering};

/// One idle flag per CPU, each on its own cache line.
pub struct IdleFlags(Box<[Padded<AtomicBool>]>);

impl IdleFlags {
    /// Flags for `cpus` CPUs, all lowered.
    pub fn new(cpus: usize) -> Self {
        Self((0..cpus).map(|_| Padded(AtomicBool::new(false))).collect())
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
        self.0[cpu].0.swap(idle, Ordering::AcqRel);
    }

    /// Whether `cpu` may be about to halt or halted: a read-modify-write
    /// (see the module doc).
    pub fn is_idle(&self, cpu: usize) -> bool {
        self.0[cpu].0.fetch_or(false, Ordering::AcqRel)
    }
}
