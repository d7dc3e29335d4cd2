//! A task that never yields is reported while it spins: the CPU, the task,
//! how long, and where (a backtrace the runner symbolizes). The other CPU
//! keeps working meanwhile, and the stall is visible from it.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

use kernel::smp::CpuId;
use kernel::{exec, run_on, stall, testing, time};

kernel::test_kernel![a_task_stuck_in_a_loop_is_reported_while_it_spins];

static RELEASE: AtomicBool = AtomicBool::new(false);

/// The bug under test: a loop that waits for a flag without yielding. Not
/// inlined, so the backtrace has a frame of its own for it.
#[inline(never)]
fn spin_until_released() {
    while !RELEASE.load(Ordering::Relaxed) {
        core::hint::spin_loop();
    }
}

fn a_task_stuck_in_a_loop_is_reported_while_it_spins() {
    if testing::skip_unless_cpus(2) {
        return;
    }
    let cpu1 = CpuId::try_new(1).expect("two CPUs");
    exec::block_on(async move {
        let started = time::Instant::now();
        let stuck = run_on::spawn_on_named(cpu1, "stuck", async { spin_until_released() });
        // This CPU keeps working: its timers fire and its tasks run while
        // cpu1 spins. Look every 10 ms, for at most 10 s.
        let mut seen = None;
        for _ in 0..1000 {
            time::sleep(Duration::from_millis(10)).await;
            if let Some(s) = stall::stalled(cpu1) {
                seen = Some((s, started.elapsed()));
                break;
            }
        }
        let ((s, ran), after) = seen.expect("the stall on cpu1 was never published");
        kernel::println!(
            "stall seen from cpu0 after {} ms: task {} {:?}, running {} ms",
            after.as_millis(),
            s.task,
            s.name,
            ran.as_millis()
        );
        assert_eq!(s.name, Some("stuck"));
        assert!(after >= stall::STALL_AFTER, "never early: reported after {after:?}");
        assert!(after < Duration::from_secs(1), "reported within a second, not after {after:?}");
        RELEASE.store(true, Ordering::Relaxed);
        stuck.await.expect("the stuck task finishes once released");
        // The watchdog saw the poll return and ended the stall.
        assert!(stall::stalled(cpu1).is_none(), "the stall is over");
    });
}
