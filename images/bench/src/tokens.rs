//! Serializing tokens against `spin::Mutex`, in one run:
//!
//! 1. uncontended: take, increment, give back, on one CPU: the token's
//!    `try_exclusive`, the token's future (`exclusive(..).await`, polled
//!    once), and a spin lock's lock + unlock;
//! 2. contended: every CPU increments one counter, under a token (tasks
//!    that find it busy wait on a waker) or under a spin lock (CPUs spin).
//!
//! Two controls beside (1): one word taken with a compare-and-swap and
//! given back with a plain store (a spin lock's minimum, and the token's:
//! its giver looks for no waiters), and given back with a swap (what a
//! giver that must see, in the same step, whether anyone waits pays; the
//! token's first design did).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicUsize, Ordering};

use io::token::Guarded;
use kernel::arch::cpu::rdtsc;
use kernel::smp;
use kernel::{exec, run_on};

use super::{median, ns};

const OPS: u64 = 100_000;
const ROUNDS: usize = 5;
const PER_CPU: u64 = 20_000;
const SETTLE: core::time::Duration = core::time::Duration::from_millis(200);

/// Each measured value alone in 128 bytes (a pair of cache lines, what the
/// host's adjacent-line prefetcher moves together): a neighbour that
/// another CPU writes would slow one contender and not the others.
#[repr(align(128))]
struct Alone<T>(T);

impl<T> core::ops::Deref for Alone<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

static TOKENED: Alone<Guarded<u64>> = Alone(Guarded::new("bench-counter", 0));
static LOCKED: Alone<spin::Mutex<u64>> = Alone(spin::Mutex::new(0));
static WORD: Alone<AtomicUsize> = Alone(AtomicUsize::new(0));

/// Takes `WORD` with a compare-and-swap and gives it back with a store
/// (`swap_back`: false) or a swap (true).
#[inline(always)]
fn word_round_trip(swap_back: bool) {
    if WORD.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_ok() {
        if swap_back {
            WORD.swap(0, Ordering::AcqRel);
        } else {
            WORD.store(0, Ordering::Release);
        }
    }
}

/// Cycles per call of `op` over one run of `OPS` calls.
fn one_run(mut op: impl FnMut()) -> f64 {
    let t = rdtsc();
    for _ in 0..OPS {
        op();
    }
    (rdtsc() - t) as f64 / OPS as f64
}

/// Median cycles per call of the token's `try_exclusive`, the spin lock and
/// the two controls (in that order), over `ROUNDS` rounds that run each in
/// turn (after one round to warm up): side by side, so that whatever slows
/// the machine for a while (under TCG it varies) slows all four alike.
fn uncontended() -> [f64; 4] {
    let mut samples: [Vec<f64>; 4] = Default::default();
    for round in 0..=ROUNDS {
        let runs = [
            one_run(|| {
                let _ = TOKENED.try_exclusive(|v| *v += 1);
            }),
            one_run(|| *LOCKED.lock() += 1),
            one_run(|| word_round_trip(false)),
            one_run(|| word_round_trip(true)),
        ];
        if round > 0 {
            samples.iter_mut().zip(runs).for_each(|(s, r)| s.push(r));
        }
    }
    samples.map(median)
}

/// Cycles per future access, uncontended (each completes on its first poll).
async fn per_future_op() -> f64 {
    let mut samples = Vec::new();
    for _ in 0..=ROUNDS {
        let t = rdtsc();
        for _ in 0..OPS {
            TOKENED.exclusive(|v| *v += 1).await;
        }
        samples.push((rdtsc() - t) as f64 / OPS as f64);
    }
    samples.remove(0);
    median(samples)
}

/// Every CPU adds `PER_CPU` to the counter under the token, or under the
/// lock; returns increments per second of the whole machine.
async fn contended(token: bool) -> f64 {
    let start = rdtsc();
    run_on::broadcast(move || async move {
        for k in 0..PER_CPU {
            if token {
                TOKENED.exclusive(|v| *v += 1).await;
            } else {
                *LOCKED.lock() += 1;
            }
            if k % 64 == 0 {
                exec::yield_now().await;
            }
        }
    })
    .await;
    let secs = ns((rdtsc() - start) as f64) / 1e9;
    (PER_CPU * smp::online() as u64) as f64 / secs.max(1e-12)
}

/// The token benchmark's table.
pub(crate) async fn tokens() -> String {
    // Let the previous benchmark's traffic drain first: in the first tens
    // of milliseconds after the executor benchmark the token's loop ran
    // up to 1.7x slower than later in the same boot (the spin lock's did
    // not; BENCHMARKS.md).
    kernel::time::sleep(SETTLE).await;
    let [try_token, mutex, cas_store, cas_swap] = uncontended();
    let future_token = per_future_op().await;
    let n = smp::online();
    let c_token = contended(true).await;
    let c_mutex = contended(false).await;
    let mut t = String::new();
    let _ = writeln!(t, "token benchmark: {n} CPUs, median of {ROUNDS} x {OPS} operations; contended: {PER_CPU} increments per CPU");
    t += "| measurement | cycles | ns | ratio | target |\n|---|---|---|---|---|\n";
    let _ = writeln!(t, "| 1. spin::Mutex lock + increment + unlock | {mutex:.0} | {:.1} | | |", ns(mutex));
    let _ = writeln!(
        t,
        "| 1a. token try_exclusive + increment + give | {try_token:.0} | {:.1} | (1a)/(1) = {:.2} | <= 2.0 |",
        ns(try_token),
        try_token / mutex.max(1.0)
    );
    let _ = writeln!(
        t,
        "| 1b. token exclusive(..).await, uncontended | {future_token:.0} | {:.1} | (1b)/(1) = {:.2} | |",
        ns(future_token),
        future_token / mutex.max(1.0)
    );
    let _ = writeln!(t, "| control: one word, compare-and-swap + store | {cas_store:.0} | {:.1} | | |", ns(cas_store));
    let _ = writeln!(
        t,
        "| control: one word, compare-and-swap + swap | {cas_swap:.0} | {:.1} | swap / store = {:.2} | |",
        ns(cas_swap),
        cas_swap / cas_store.max(1.0)
    );
    let _ = writeln!(
        t,
        "| 2. one counter, every CPU: token (waits on a waker) vs spin::Mutex (spins), increments/s | {c_token:.0} vs {c_mutex:.0} | | token/mutex = {:.2} | |",
        c_token / c_mutex.max(1.0)
    );
    let _ = writeln!(t, "collisions on the token so far: {}", TOKENED.token().collisions());
    t
}
