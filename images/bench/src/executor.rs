//! The executor in the kernel: the same workloads as `cargo bench -p
//! executor` (host), here on this CPU's executor, timed with the TSC.
//!
//! 1. spawn + run + complete of 100,000 trivial tasks (handles detached);
//! 2. wake + poll ping-pong between two tasks;
//! 3. bytes a task block adds around its future.

use alloc::rc::Rc;
use alloc::string::String;
use core::cell::{Cell, RefCell};
use core::fmt::Write;
use core::future::poll_fn;
use core::task::{Poll, Waker};

use kernel::arch::cpu::rdtsc;
use kernel::exec;
use kernel::time;

const SPAWNS: u64 = 100_000;
const ROUND_TRIPS: u64 = 100_000;

fn ns(cycles: f64) -> f64 {
    super::ns(cycles)
}

async fn spawn_run_complete() -> f64 {
    let done = Rc::new(Cell::new(0u64));
    let start = rdtsc();
    for _ in 0..SPAWNS {
        let done = Rc::clone(&done);
        drop(exec::spawn(async move { done.set(done.get() + 1) }));
    }
    while done.get() < SPAWNS {
        exec::yield_now().await;
    }
    (rdtsc() - start) as f64 / SPAWNS as f64
}

/// Two tasks hand a turn back and forth; each hand-over is one wake and one
/// poll.
async fn ping_pong() -> f64 {
    struct Court {
        turn: Cell<u8>,
        wakers: RefCell<[Option<Waker>; 2]>,
        rounds: Cell<u64>,
    }
    let court = Rc::new(Court { turn: Cell::new(0), wakers: RefCell::new([None, None]), rounds: Cell::new(0) });
    let player = |me: u8| {
        let court = Rc::clone(&court);
        exec::spawn(async move {
            loop {
                poll_fn(|cx| {
                    if court.turn.get() == me || court.rounds.get() >= ROUND_TRIPS {
                        Poll::Ready(())
                    } else {
                        court.wakers.borrow_mut()[usize::from(me)] = Some(cx.waker().clone());
                        Poll::Pending
                    }
                })
                .await;
                if court.rounds.get() >= ROUND_TRIPS {
                    if let Some(w) = court.wakers.borrow_mut()[usize::from(1 - me)].take() {
                        w.wake();
                    }
                    return;
                }
                court.rounds.set(court.rounds.get() + 1);
                court.turn.set(1 - me);
                if let Some(w) = court.wakers.borrow_mut()[usize::from(1 - me)].take() {
                    w.wake();
                }
            }
        })
    };
    let start = rdtsc();
    let (a, b) = (player(0), player(1));
    let _ = a.await;
    let _ = b.await;
    (rdtsc() - start) as f64 / ROUND_TRIPS as f64
}

/// Runs the executor benchmark on this CPU; returns its table.
pub(crate) async fn executor() -> String {
    let spawn = spawn_run_complete().await;
    let wake = ping_pong().await;
    let overhead = executor::overhead_bytes::<core::future::Ready<()>>();
    let mut t = String::new();
    let _ = writeln!(t, "executor benchmark: TSC {} kHz, this CPU's executor", time::tsc_khz());
    t += "| workload | cycles | ns | target (host benchmark) |\n|---|---|---|---|\n";
    let _ = writeln!(
        t,
        "| spawn + run + complete ({SPAWNS} trivial tasks) | {spawn:.0} | {:.0} | <= 0.5x tokio, <= 0.8x async-executor |",
        ns(spawn)
    );
    let _ = writeln!(t, "| wake + poll ping-pong ({ROUND_TRIPS} hand-overs) | {wake:.0} | {:.0} | <= 50 ns |", ns(wake));
    let _ = writeln!(t, "| bytes of overhead per task | {overhead} | | <= 64 |");
    t
}
