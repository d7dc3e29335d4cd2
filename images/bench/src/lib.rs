//! Odonata's in-kernel benchmarks. Each is an `async fn` that measures with
//! the TSC on the machine it runs on and returns its table as Markdown text;
//! the bench kernels (`tests/kernels/src/bin/bench*.rs`) print it after
//! boot, and the shell's `bench` command prints all of them. Not tests:
//! nothing here asserts a number (BENCHMARKS.md holds what was measured).
//!
//! - [`ipi_queues`]: cache-line, ring, raw-IPI and `run_on` round trips;
//!   all-to-all throughput against a mutex+IPI baseline; IPIs avoided.
//! - [`executor`]: spawn+run+complete and wake+poll on one CPU, and the
//!   bytes of overhead per task.
//! - [`drivers`]: interrupt entry to the woken task's first poll beside a
//!   bare handler; timer wake lateness; an MSI to its task.
//! - [`disk`]: 4 KiB random reads on virtio-blk, per-CPU queues against
//!   one queue behind a lock ([`LockedQueue`]).
//! - [`tokens`]: serializing tokens against `spin::Mutex`, uncontended and
//!   with every CPU on one counter.
//! - [`ports`]: a port call against `run_on` to the other CPU, and against
//!   a direct call on this one.
//! - [`heap`]: spawn+complete throughput with 1, 2 and every CPU spawning
//!   at once, on the per-CPU heap and on talc behind its lock.
//!
//! They run on the calling CPU and the next one, and need two CPUs.
#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

extern crate alloc;

mod disk;
mod drivers;
mod executor;
mod heap;
mod ipiq;
mod locked_queue;
mod ports;
mod tokens;

use alloc::string::String;
use alloc::vec::Vec;

use kernel::exec;
use kernel::smp::{self, CpuId};
use kernel::time;

pub use locked_queue::LockedQueue;

// Every benchmark spins on the clock by design: the watchdog and the stall
// detector leave the calling task alone while it runs one.

/// The IPI-queue benchmark (`ipiq.rs`).
pub async fn ipi_queues() -> Result<String, BenchError> {
    exec::long_polls_allowed(ipiq::ipi_queues()).await
}

/// The executor benchmark (`executor.rs`).
pub async fn executor() -> String {
    exec::long_polls_allowed(executor::executor()).await
}

/// The driver benchmark (`drivers.rs`).
pub async fn drivers() -> Result<String, BenchError> {
    exec::long_polls_allowed(drivers::drivers()).await
}

/// The token benchmark (`tokens.rs`).
pub async fn tokens() -> String {
    exec::long_polls_allowed(tokens::tokens()).await
}

/// The port benchmark (`ports.rs`).
pub async fn ports() -> Result<String, BenchError> {
    exec::long_polls_allowed(ports::ports()).await
}

/// The heap benchmark (`heap.rs`).
pub async fn heap() -> String {
    exec::long_polls_allowed(heap::heap_bench()).await
}

/// The disk benchmark (`disk.rs`) on `disk`, beside `baseline` if given.
pub async fn disk(disk: &'static ::drivers::virtio::blk::Disk, baseline: Option<&'static LockedQueue>) -> String {
    exec::long_polls_allowed(disk::disk(disk, baseline)).await
}

/// Why a benchmark could not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchError {
    /// It needs a second CPU.
    NeedsTwoCpus,
}

impl core::fmt::Display for BenchError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BenchError::NeedsTwoCpus => f.write_str("this benchmark needs at least 2 CPUs (--smp 2 or more)"),
        }
    }
}

/// The CPU this runs on and the one after it (the pair every two-CPU
/// measurement uses).
fn pair() -> Result<(CpuId, CpuId), BenchError> {
    let n = smp::online();
    if n < 2 {
        return Err(BenchError::NeedsTwoCpus);
    }
    let me = smp::current();
    let other = CpuId::try_new((me.as_usize() + 1) % n).ok_or(BenchError::NeedsTwoCpus)?;
    Ok((me, other))
}

fn ns(cycles: f64) -> f64 {
    cycles * 1_000_000.0 / time::tsc_khz().max(1) as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The `p`th percentile of sorted `v` (0 for an empty one).
fn percentile(sorted: &[u64], p: usize) -> u64 {
    match sorted.len() {
        0 => 0,
        n => sorted[(n * p / 100).min(n - 1)],
    }
}
