//! Spawn+complete throughput with CPUs spawning at once, on the per-CPU
//! heap and on the heap as it was before it (every allocation from talc
//! behind its one lock: `heap::set_page_only`), in one boot.
//!
//! Each CPU taking part spawns tasks in batches of 32 and awaits them (a
//! task's allocation, its run, its completion, its free), for 1 CPU, 2
//! CPUs and every CPU, each heap in turn, in alternating rounds (each
//! workload at every CPU count back to back); the best round of each
//! counts.

use alloc::string::String;
use alloc::vec::Vec;
use core::alloc::Layout;
use core::fmt::Write;

use kernel::arch::cpu::rdtsc;
use kernel::heap;
use kernel::smp::{self, CpuId};
use kernel::{exec, run_on};

use super::ns;

const PER_CPU: usize = 32768;
const BATCH: usize = 32;
const ROUNDS: usize = 9;

/// Spawns+completes `PER_CPU` tasks here, in batches.
async fn spawn_here() {
    for b in 0..PER_CPU / BATCH {
        let handles: Vec<_> = (0..BATCH).map(|i| exec::spawn(async move { core::hint::black_box(b * BATCH + i) })).collect();
        for h in handles {
            let _ = h.await;
        }
    }
}

/// The control: arithmetic with no allocation, as long as a spawn round
/// takes on one CPU, to show how far the machine itself scales.
async fn compute_here() {
    let mut x = 1u64;
    for i in 0..PER_CPU as u64 * 200 {
        x = core::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
}

/// The second control: the clock reads an executor makes per poll (for its
/// watchdog), on their own. Under TCG each `rdtsc` takes one lock that
/// every virtual CPU shares, so this shows the emulator's ceiling on any
/// task-heavy workload.
async fn clock_here() {
    for _ in 0..PER_CPU * 2 {
        core::hint::black_box(rdtsc());
    }
}

/// The allocator without the executor: batches of 16 allocations of
/// mixed small sizes, freed in reverse, `PER_CPU * 4` pairs.
async fn pairs_here() {
    const SIZES: [usize; 8] = [16, 24, 32, 48, 64, 96, 128, 256];
    let mut batch = [core::ptr::null_mut::<u8>(); 16];
    for round in 0..PER_CPU * 4 / 16 {
        for (i, slot) in batch.iter_mut().enumerate() {
            let layout = Layout::from_size_align(SIZES[(round + i) % 8], 8).unwrap_or(Layout::new::<u64>());
            // SAFETY: a non-zero size; freed below with the same layout.
            *slot = unsafe { alloc::alloc::alloc(layout) };
        }
        for (i, &p) in batch.iter().enumerate().rev() {
            let layout = Layout::from_size_align(SIZES[(round + i) % 8], 8).unwrap_or(Layout::new::<u64>());
            // SAFETY: allocated above with this layout, freed once.
            unsafe { alloc::alloc::dealloc(core::hint::black_box(p), layout) };
        }
    }
}

/// Which workload a round runs.
#[derive(Clone, Copy)]
enum Work {
    Spawn,
    Pairs,
    Compute,
    Clock,
}

/// Tasks per second with CPUs `0..cpus` spawning at once (or, for the
/// others, the same count per second of their rounds; pairs count their
/// own).
async fn spawns_per_second(cpus: usize, page_only: bool, work: Work) -> f64 {
    heap::set_page_only(page_only);
    let start = rdtsc();
    let handles: Vec<_> = (0..cpus)
        .filter_map(CpuId::try_new)
        .map(|cpu| {
            run_on::spawn_on(
                cpu,
                exec::long_polls_allowed(async move {
                    match work {
                        Work::Spawn => spawn_here().await,
                        Work::Pairs => pairs_here().await,
                        Work::Compute => compute_here().await,
                        Work::Clock => clock_here().await,
                    }
                }),
            )
        })
        .collect();
    for h in handles {
        let _ = h.await;
    }
    let secs = ns((rdtsc() - start) as f64) / 1e9;
    heap::set_page_only(false);
    let per_cpu = if matches!(work, Work::Pairs) { PER_CPU * 4 } else { PER_CPU };
    (per_cpu * cpus) as f64 / secs.max(1e-12)
}

/// The heap benchmark's table.
pub(crate) async fn heap_bench() -> String {
    let n = smp::online();
    let mut counts = alloc::vec![1];
    if n >= 2 {
        counts.push(2);
    }
    if n > 2 {
        counts.push(n);
    }
    let mut best = alloc::vec![[0f64; 6]; counts.len()];
    let runs = [
        (true, Work::Spawn),
        (false, Work::Spawn),
        (true, Work::Pairs),
        (false, Work::Pairs),
        (false, Work::Compute),
        (false, Work::Clock),
    ];
    // Each workload at each CPU count back to back: how fast this machine's
    // (virtual) CPUs are moves for seconds at a time, so the runs a
    // scaling figure compares should be close together.
    for _ in 0..ROUNDS {
        for (col, (page_only, work)) in runs.into_iter().enumerate() {
            for (row, &cpus) in counts.iter().enumerate() {
                let r = spawns_per_second(cpus, page_only, work).await;
                best[row][col] = best[row][col].max(r);
            }
        }
    }
    let mut t = String::new();
    let _ = writeln!(
        t,
        "heap benchmark: {n} CPUs; spawn+complete, {PER_CPU} tasks per CPU in batches of {BATCH}, every CPU at once, best of {ROUNDS}"
    );
    t += "| CPUs at once | spawns/s: talc + lock | spawns/s: per-CPU slab | slab / talc | spawn scaling vs 1 CPU: talc, slab | alloc+free pairs/s: talc, slab (scaling) | controls' scaling: arithmetic, clock reads | target |\n|---|---|---|---|---|---|---|---|\n";
    for (row, &cpus) in counts.iter().enumerate() {
        let [talc, slab, talc_pairs, slab_pairs, control, clock] = best[row];
        let target = if cpus == 2 { "slab scaling >= 1.8" } else { "" };
        let _ = writeln!(
            t,
            "| {cpus} | {talc:.0} | {slab:.0} | {:.2} | {:.2}, {:.2} | {talc_pairs:.0}, {slab_pairs:.0} ({:.2}, {:.2}) | {:.2}, {:.2} | {target} |",
            slab / talc.max(1.0),
            talc / best[0][0].max(1.0),
            slab / best[0][1].max(1.0),
            talc_pairs / best[0][2].max(1.0),
            slab_pairs / best[0][3].max(1.0),
            control / best[0][4].max(1.0),
            clock / best[0][5].max(1.0)
        );
    }
    t
}
