//! TLB shootdowns: the hook `memory::address_space` calls to have other CPUs
//! invalidate entries, over the IPI queues (installed by `boot`).
//!
//! One task per CPU asked, spawned there with `spawn_on` (one IPI-queue
//! message there, its completion's wake one message back), all sent before
//! any is awaited. A CPU runs the flush at its next poll boundary: a CPU
//! inside a long poll delays the answer, and the unmapped frames stay
//! unfreed until it comes (protocol: `memory::address_space`'s module doc).

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::arch::cpu_id::CpuId;
use crate::memory::address_space::{Flush, ShootdownFuture};

/// Invalidates `flush` on every CPU in `cpus` (bit n = CPU n; never the
/// caller's own) and completes once all have.
pub fn shootdown(cpus: u64, flush: Flush) -> ShootdownFuture {
    let handles: Vec<_> = (0..64usize)
        .filter(|n| cpus & (1 << n) != 0)
        .filter_map(CpuId::try_new)
        .map(|cpu| crate::run_on::spawn_on_named(cpu, "tlb shootdown", async move { flush.here() }))
        .collect();
    Box::pin(async move {
        for handle in handles {
            if handle.await.is_err() {
                panic!("a TLB shootdown task was cancelled: the frames it guards cannot be freed safely");
            }
        }
    })
}
