//! The queues of a whole machine: for each receiver, its signalling state
//! (the words the protocol in `mod.rs` names) beside the rings that lead
//! to it, indexed by sender.

use alloc::boxed::Box;

use super::Message;
use super::endpoint::Endpoint;
use super::idle::IdleFlags;
use super::ring::{Padded, StampedRing};
use crate::sync::{AtomicBool, AtomicUsize, Ordering};

/// One receiver's signalling state and the rings that lead to it.
pub(super) struct Receiver {
    /// Bit `i`: sender `i` may have messages in ring[i][me].
    pub(super) pending: Padded<AtomicUsize>,
    /// Set by the active send that owes the receiver an IPI; cleared by its drain.
    pub(super) latch: Padded<AtomicBool>,
    /// Bit `i`: sender `i` waits (halted) for room in ring[i][me].
    pub(super) room_wanted: Padded<AtomicUsize>,
    /// Indexed by sender.
    pub(super) rings: Box<[StampedRing<Message>]>,
}

/// The queues of a machine with `cpus` CPUs (at most `usize::BITS`).
pub struct IpiQueues {
    pub(super) cpus: usize,
    pub(super) capacity: usize,
    pub(super) receivers: Box<[Receiver]>,
    /// Each receiver's idle flag: passive sends to a raised one become
    /// active (the queues' own, or the platform's).
    idle: Idle,
    claimed: Box<[AtomicBool]>,
}

/// Where the idle flags live.
enum Idle {
    Own(IdleFlags),
    Shared(&'static IdleFlags),
}

impl IpiQueues {
    /// Queues for `cpus` CPUs, each ring holding `capacity` messages (a power
    /// of two; 256 is the kernel's default, tiny values are for tests).
    pub fn new(cpus: usize, capacity: usize) -> Self {
        Self::build(cpus, capacity, Idle::Own(IdleFlags::new(cpus)))
    }

    /// As [`new`](Self::new), with the platform's idle flags (at least one
    /// per CPU): the platform raises them itself before it halts, and
    /// anything else that wakes idle CPUs reads the same ones.
    pub fn with_idle_flags(cpus: usize, capacity: usize, idle: &'static IdleFlags) -> Self {
        assert!(idle.len() >= cpus, "{} idle flags for {cpus} CPUs", idle.len());
        Self::build(cpus, capacity, Idle::Shared(idle))
    }

    /// The receivers' idle flags.
    pub(super) fn idle(&self) -> &IdleFlags {
        match &self.idle {
            Idle::Own(flags) => flags,
            Idle::Shared(flags) => flags,
        }
    }

    fn build(cpus: usize, capacity: usize, idle: Idle) -> Self {
        assert!((1..=usize::BITS as usize).contains(&cpus), "1..={} CPUs", usize::BITS);
        assert!(capacity.is_power_of_two(), "capacity must be a power of two");
        let receivers = (0..cpus)
            .map(|_| Receiver {
                pending: Padded(AtomicUsize::new(0)),
                latch: Padded(AtomicBool::new(false)),
                room_wanted: Padded(AtomicUsize::new(0)),
                rings: (0..cpus).map(|_| StampedRing::new(capacity)).collect(),
            })
            .collect();
        let claimed = (0..cpus).map(|_| AtomicBool::new(false)).collect();
        Self { cpus, capacity, receivers, idle, claimed }
    }

    /// Number of CPUs.
    pub fn cpus(&self) -> usize {
        self.cpus
    }

    /// Ring capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The endpoint of CPU `cpu`: its sending side (ring[cpu][*]) and its
    /// receiving side (ring[*][cpu]). Each CPU's endpoint can be taken once.
    ///
    /// # Safety
    /// The endpoint must only be used by CPU `cpu`. Its calls may nest as
    /// plain calls do (a drain's handler may send; a send's wait may drain),
    /// but nothing may use it while the CPU is interrupted inside one of its
    /// calls: in the kernel, interrupts are off for each send and drain.
    pub unsafe fn endpoint(&self, cpu: usize) -> Option<Endpoint<'_>> {
        let taken = self.claimed.get(cpu)?.swap(true, Ordering::AcqRel);
        (!taken).then(|| Endpoint::new(self, cpu))
    }

    /// Messages queued from `from` to `to` now (approximate while either runs).
    pub fn len(&self, from: usize, to: usize) -> usize {
        self.receivers[to].rings[from].len()
    }

    /// Whether `cpu`'s IPI latch is set (for reports).
    pub fn latch_set(&self, cpu: usize) -> bool {
        self.receivers[cpu].latch.0.load(Ordering::SeqCst)
    }

    /// Whether `cpu` owes a drain: senders have pending work, or its latch
    /// is set. The idle loop checks it with interrupts off before halting.
    ///
    /// The latch counts: it is set by the send that raised the last IPI, and
    /// that IPI may already have been taken while the CPU was busy (the
    /// kernel's handler only acknowledges), after a drain that had already
    /// emptied the ring. Halting with the latch set would leave every later
    /// sender seeing "already signalled" and sending no IPI: a lost wakeup
    /// (loom finds it when interrupts can be taken between drain and halt).
    pub fn has_pending(&self, cpu: usize) -> bool {
        let receiver = &self.receivers[cpu];
        receiver.pending.0.load(Ordering::SeqCst) != 0 || receiver.latch.0.load(Ordering::SeqCst)
    }
}
