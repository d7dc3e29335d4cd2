//! The disk benchmark: 4 KiB random reads, IOPS and latency (p50, p99) at
//! queue depth 1 and 32 per CPU, with
//! (a) one CPU on its own queue,
//! (b) every CPU on its own queue (`drivers::virtio::blk`), and
//! (c) every CPU sharing one queue behind a spin lock, its interrupt on
//!     cpu0 (`locked_queue.rs`, the single-queue design), on a second disk,
//! each CPU's requests made by `depth` tasks on that CPU. Beside it, the
//! drivers benchmark's self-IPI to a woken task, the yardstick for a
//! request's round trip on a device that costs nothing (QEMU's `null-co`).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use drivers::virtio::blk::Disk;
use io::block::BlockDevice;
use kernel::arch::cpu::rdtsc;
use kernel::smp::{self, CpuId};
use kernel::{exec, run_on, time};

use super::locked_queue::LockedQueue;
use super::percentile;

/// Reads each task makes.
const PER_TASK: usize = 400;
const BLOCK: usize = 4096;

/// What a run reads from.
#[derive(Clone, Copy)]
enum Target {
    Disk(&'static Disk),
    Locked(&'static LockedQueue),
}

impl Target {
    fn blocks(self) -> u64 {
        match self {
            Target::Disk(d) => (&d).capacity() * u64::from((&d).block_size()) / BLOCK as u64,
            Target::Locked(q) => q.sectors() * 512 / BLOCK as u64,
        }
    }

    async fn read(self, block: u64, buf: &mut [u8]) {
        let r = match self {
            Target::Disk(d) => (&d).read(block * (BLOCK as u64 / u64::from((&d).block_size())), buf).await,
            Target::Locked(q) => q.read(block * (BLOCK as u64 / 512), buf).await,
        };
        r.expect("benchmark read");
    }
}

struct Run {
    iops: f64,
    p50: u64,
    p99: u64,
}

/// `depth` tasks on each of `cpus`, each making PER_TASK random reads.
async fn run(target: Target, cpus: usize, depth: usize) -> Run {
    let blocks = target.blocks().max(1);
    let start = rdtsc();
    let handles: Vec<_> = (0..cpus)
        .map(|c| {
            let cpu = CpuId::try_new(c).expect("below MAX_CPUS");
            exec::spawn(run_on::run_on(cpu, move || async move {
                let tasks: Vec<_> = (0..depth)
                    .map(|t| {
                        exec::spawn(async move {
                            let mut seed = (c * 7919 + t * 104_729 + 1) as u64;
                            let mut buf = alloc::vec![0u8; BLOCK];
                            let mut lat = Vec::with_capacity(PER_TASK);
                            for _ in 0..PER_TASK {
                                seed ^= seed << 13;
                                seed ^= seed >> 7;
                                seed ^= seed << 17;
                                let t0 = rdtsc();
                                target.read(seed % blocks, &mut buf).await;
                                lat.push(rdtsc() - t0);
                            }
                            lat
                        })
                    })
                    .collect();
                let mut all = Vec::new();
                for t in tasks {
                    all.extend(t.await.expect("joined"));
                }
                all
            }))
        })
        .collect();
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.await.expect("joined"));
    }
    let secs = time::cycles_to_duration(rdtsc() - start).as_secs_f64();
    lat.sort_unstable();
    Run { iops: lat.len() as f64 / secs.max(1e-9), p50: percentile(&lat, 50), p99: percentile(&lat, 99) }
}

fn us(cycles: u64) -> f64 {
    time::cycles_to_duration(cycles).as_secs_f64() * 1e6
}

/// Runs the benchmark on `disk` (and the locked baseline, if given);
/// returns its table.
pub(crate) async fn disk(disk: &'static Disk, baseline: Option<&'static LockedQueue>) -> String {
    let n = smp::online();
    let mut t = String::new();
    let _ = writeln!(
        t,
        "disk benchmark: {} ({} queues), {n} CPUs, 4 KiB random reads, {PER_TASK} per task",
        disk.name(),
        disk.queues().count()
    );
    t += "| setup | depth per CPU | IOPS | p50 us | p99 us | ratio |\n|---|---|---|---|---|---|\n";
    for depth in [1, 32] {
        let a = run(Target::Disk(disk), 1, depth).await;
        let b = run(Target::Disk(disk), n, depth).await;
        let _ = writeln!(t, "| (a) one CPU, its own queue | {depth} | {:.0} | {:.1} | {:.1} | |", a.iops, us(a.p50), us(a.p99));
        let _ = writeln!(
            t,
            "| (b) {n} CPUs, each its own queue | {depth} | {:.0} | {:.1} | {:.1} | (b)/(a) = {:.2} |",
            b.iops,
            us(b.p50),
            us(b.p99),
            b.iops / a.iops.max(1.0)
        );
        match baseline {
            Some(q) => {
                let c = run(Target::Locked(q), n, depth).await;
                let _ = writeln!(
                    t,
                    "| (c) {n} CPUs, one queue behind a spin lock, interrupt on cpu0 | {depth} | {:.0} | {:.1} | {:.1} | (b)/(c) = {:.2} |",
                    c.iops,
                    us(c.p50),
                    us(c.p99),
                    b.iops / c.iops.max(1.0)
                );
            }
            None => {
                let _ = writeln!(
                    t,
                    "| (c) not measured: it needs a second virtio-blk disk for the locked baseline (the bench_disk kernel) | {depth} | | | | |"
                );
            }
        }
    }
    t += "targets: (b) at 2 CPUs >= 1.8x (a); (b) >= 1.5x (c); at depth 1 on null-co, a read's p50 within 2x of the self-IPI -> woken task of the drivers benchmark (row 4)\n";
    t
}
