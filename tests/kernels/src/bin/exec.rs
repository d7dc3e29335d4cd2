//! The executor on every CPU: spawn, join, yield, 10,000 tasks per CPU with
//! no allocation per wake, and the cooperative watchdog.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use kernel::exec::{self, yield_now};
use kernel::heap;
use kernel::smp::{self, CpuId, MAX_CPUS};
use kernel::{println, run_on, time};

kernel::test_kernel![spawn_join_and_yield_on_the_boot_cpu, every_cpu_runs_10000_yielding_tasks, watchdog_names_a_task_that_does_not_yield,];

fn spawn_join_and_yield_on_the_boot_cpu() {
    let out = exec::block_on(async {
        let a = exec::spawn(async {
            yield_now().await;
            20
        });
        let b = exec::spawn(async { 22 });
        a.await.unwrap() + b.await.unwrap()
    });
    assert_eq!(out, 42);
    let aborted = exec::block_on(async {
        let h = exec::spawn(core::future::pending::<()>());
        h.abort();
        h.await
    });
    assert_eq!(aborted, Err(exec::JoinError::Cancelled));
}

const TASKS: u64 = 10_000;
const YIELDS: u64 = 3;
const NOT_DONE: u64 = u64::MAX;
static SUMS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(NOT_DONE) }; MAX_CPUS];

/// Spawns TASKS tasks on this CPU that yield YIELDS times and return
/// `2 i + cpu`, then joins them all and records the sum.
async fn ten_thousand() {
    let me = u64::from(smp::current().as_u32());
    let mut handles = Vec::with_capacity(TASKS as usize);
    for i in 0..TASKS {
        handles.push(exec::spawn(async move {
            for _ in 0..YIELDS {
                yield_now().await;
            }
            2 * i + me
        }));
    }
    let mut sum = 0;
    for h in handles {
        sum += h.await.expect("task completed");
    }
    SUMS[me as usize].store(sum, Ordering::Release);
}

fn every_cpu_runs_10000_yielding_tasks() {
    let n = smp::online();
    let wakes_before = exec::block_on(run_on::broadcast(|| async { exec::this().stats().local_wakes }));
    let allocations_before = heap::stats().allocations;
    // Start the work on every other CPU (each spawns its own collector task),
    // then run the boot CPU's share here.
    for i in 1..n {
        exec::block_on(run_on::run_on(CpuId::try_new(i).unwrap(), || async {
            drop(exec::spawn_named("ten_thousand", ten_thousand()));
        }));
    }
    exec::block_on(ten_thousand());
    let deadline = time::deadline_after_ms(120_000);
    while (0..n).any(|i| SUMS[i].load(Ordering::Acquire) == NOT_DONE) {
        assert!(!time::passed(deadline), "not every CPU finished in 120 s");
        core::hint::spin_loop();
    }
    let allocations = heap::stats().allocations - allocations_before;
    for (i, sum) in SUMS.iter().enumerate().take(n) {
        let want = TASKS * (TASKS - 1) + TASKS * i as u64;
        assert_eq!(sum.load(Ordering::Acquire), want, "cpu {i}: every join result correct");
    }
    let mut wakes = 0;
    let wakes_after = exec::block_on(run_on::broadcast(|| async { exec::this().stats().local_wakes }));
    for (i, (before, after)) in wakes_before.iter().zip(&wakes_after).enumerate() {
        assert!(after - before >= TASKS * YIELDS, "cpu {i}: {} local wakes", after - before);
        wakes += after - before;
    }
    // Per CPU: one block per task, the handle vector, the collector task (and
    // on the boot CPU the block_on task); per other CPU, the `run_on` that
    // started it (its task and the block_on task that awaited it): nothing
    // per wake.
    let per_cpu_bound = TASKS + 3;
    let start_bound = 2 * (n as u64 - 1);
    println!("{n} CPUs x {TASKS} tasks: {wakes} wakes, {allocations} allocations");
    assert!(allocations <= n as u64 * per_cpu_bound + start_bound, "{allocations} allocations for {n} x {TASKS} tasks and {wakes} wakes");
}

fn watchdog_names_a_task_that_does_not_yield() {
    exec::block_on(async {
        exec::spawn_named("hog", async { time::delay_us(2 * 1000 * kernel::exec::WATCHDOG_MS) }).await.unwrap();
    });
}
