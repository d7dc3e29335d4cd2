//! Each CPU's side of the IPI queues in the kernel, as one cache-padded
//! per-CPU value: its endpoint, what it owes others (passive kicks) and
//! its counters. Only the owning CPU writes its value, except `raised`
//! (counted by whoever raises this CPU's IPI) and `taken` (its own
//! handler), which are counters for reports.

use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use executor::ipiq::Endpoint;

use crate::arch::cpu_array::CpuArray;
use crate::arch::cpu_id::CpuId;
use crate::smp;

/// One CPU's queue state (in a `CpuArray`, 128 bytes apart: the owner
/// writes its counters on every send and drain, and the neighbouring CPU's
/// value must not share those lines).
pub(super) struct CpuQueue {
    /// This CPU's endpoint, made on first use (null before).
    pub(super) endpoint: AtomicPtr<Endpoint<'static>>,
    /// IPIs raised to this CPU (by any CPU).
    pub(super) raised: AtomicUsize,
    /// IPI-queue interrupts this CPU took.
    pub(super) taken: AtomicUsize,
    /// The largest number of set-aside messages reported so far.
    pub(super) deferred_reported: AtomicU64,
    /// Receivers this CPU owes a kick (bit per CPU).
    pub(super) owed: AtomicU64,
    /// When the owed kicks are due (TSC).
    pub(super) kick_at: AtomicU64,
    /// Times this CPU halted waiting for room in a full ring.
    pub(super) halts_for_room: AtomicU64,
}

static CPUS: CpuArray<CpuQueue> = crate::cpu_array!(CpuQueue {
    endpoint: AtomicPtr::new(core::ptr::null_mut()),
    raised: AtomicUsize::new(0),
    taken: AtomicUsize::new(0),
    deferred_reported: AtomicU64::new(0),
    owed: AtomicU64::new(0),
    kick_at: AtomicU64::new(0),
    halts_for_room: AtomicU64::new(0),
});

/// CPU `cpu`'s queue state.
pub(super) fn of(cpu: usize) -> &'static CpuQueue {
    CPUS.get(CpuId::try_new(cpu).expect("a CPU below MAX_CPUS"))
}

/// The running CPU's queue state.
pub(super) fn this() -> &'static CpuQueue {
    of(smp::current().as_usize())
}

impl CpuQueue {
    /// The endpoint, if made.
    pub(super) fn endpoint(&self) -> Option<&'static Endpoint<'static>> {
        let p = self.endpoint.load(Ordering::Acquire);
        // SAFETY: non-null values are leaked endpoints (`transport::endpoint`),
        // and only the owning CPU calls this for its own value.
        (!p.is_null()).then(|| unsafe { &*p })
    }
}

/// How many times `cpu` halted waiting for room in a full ring.
pub(super) fn halts_for_room(cpu: CpuId) -> u64 {
    of(cpu.as_usize()).halts_for_room.load(Ordering::Relaxed)
}
