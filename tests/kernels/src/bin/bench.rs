//! The IPI-queue benchmark: one boot, the same two CPUs, TSC-timed, median
//! of several runs. Not a test: it prints a table (README, "Benchmarks").
//!
//! 1. cache-line ping-pong round trip (the physical limit),
//! 2. ring message round trip with a polling receiver,
//! 3. raw LAPIC IPI round trip (the handlers only set a flag / reply),
//! 4. `run_on` round trip to a halted CPU,
//! 5. all-to-all throughput for 2..=N CPUs: the rings, and a baseline of one
//!    `spin::Mutex<VecDeque>` per CPU with an IPI on every send,
//! 6. the fraction of sends in 5 that needed no IPI.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use kernel::arch::cpu::rdtsc;
use kernel::arch::entry::InterruptFrame;
use kernel::arch::idt::{self, Vector};
use kernel::arch::lapic;
use kernel::exec::{self, yield_now};
use kernel::ipiq::{self, SendUrgency};
use kernel::smp::{self, CpuId, MAX_CPUS};
use kernel::{println, time};

kernel::test_kernel![ipi_queue_benchmark];

const ROUNDS: usize = 5;
const ROUND_TRIPS: u64 = 2_000;

fn cpu(n: usize) -> CpuId {
    CpuId::try_new(n).unwrap()
}

fn ns(cycles: f64) -> f64 {
    cycles * 1_000_000.0 / time::tsc_khz().max(1) as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Cycles per call of `round_trip`: a warm-up, then the median of ROUNDS
/// runs of ROUND_TRIPS calls.
fn measure(mut round_trip: impl FnMut()) -> f64 {
    let mut run = |n: u64| {
        let t = rdtsc();
        for _ in 0..n {
            round_trip();
        }
        (rdtsc() - t) as f64 / n as f64
    };
    run(100);
    median((0..ROUNDS).map(|_| run(ROUND_TRIPS)).collect())
}

#[repr(align(64))]
struct Line(AtomicU64);

// ---- 1. cache-line ping-pong ----

static PINGPONG: Line = Line(AtomicU64::new(0));
static STOP: AtomicBool = AtomicBool::new(false);

fn pong_cache_line() -> u64 {
    // CPU 1: answer every odd value with the next even one.
    while !STOP.load(Ordering::Acquire) {
        let v = PINGPONG.0.load(Ordering::Acquire);
        if v % 2 == 1 {
            PINGPONG.0.store(v + 1, Ordering::Release);
        }
        core::hint::spin_loop();
    }
    0
}

fn cache_line_round_trip() -> f64 {
    STOP.store(false, Ordering::Release);
    PINGPONG.0.store(0, Ordering::Release);
    let other = ipiq::spawn_on(cpu(1), async { pong_cache_line() });
    let mut v = 0;
    let cycles = measure(|| {
        PINGPONG.0.store(v + 1, Ordering::Release);
        while PINGPONG.0.load(Ordering::Acquire) != v + 2 {
            core::hint::spin_loop();
        }
        v += 2;
    });
    STOP.store(true, Ordering::Release);
    let _ = exec::block_on(other);
    cycles
}

// ---- 2. ring round trip, polling receiver ----

static PONGS: AtomicU64 = AtomicU64::new(0);

fn on_ping(from: CpuId, data: usize) {
    ipiq::send(from, on_pong, data, SendUrgency::Passive);
}

fn on_pong(_: CpuId, _: usize) {
    PONGS.fetch_add(1, Ordering::Release);
}

fn poll_rings() -> u64 {
    while !STOP.load(Ordering::Acquire) {
        ipiq::drain();
        core::hint::spin_loop();
    }
    0
}

fn ring_round_trip() -> f64 {
    STOP.store(false, Ordering::Release);
    let other = ipiq::spawn_on(cpu(1), async { poll_rings() });
    let cycles = measure(|| {
        let want = PONGS.load(Ordering::Acquire) + 1;
        ipiq::send(cpu(1), on_ping, 0, SendUrgency::Passive);
        while PONGS.load(Ordering::Acquire) < want {
            ipiq::drain();
            core::hint::spin_loop();
        }
    });
    STOP.store(true, Ordering::Release);
    let _ = exec::block_on(other);
    cycles
}

// ---- 3. raw IPI round trip ----

const PING_VECTOR: u8 = 0xe2;
const PONG_VECTOR: u8 = 0xe3;
static RAW_PONGS: AtomicU64 = AtomicU64::new(0);

fn on_raw_ping(_: Vector, _: &mut InterruptFrame) {
    smp::send_ipi(CpuId::BOOT, Vector::try_new(PONG_VECTOR).unwrap());
    lapic::eoi();
}

fn on_raw_pong(_: Vector, _: &mut InterruptFrame) {
    RAW_PONGS.fetch_add(1, Ordering::Release);
    lapic::eoi();
}

fn raw_ipi_round_trip() -> f64 {
    idt::set_handler(Vector::try_new(PING_VECTOR).unwrap(), on_raw_ping);
    idt::set_handler(Vector::try_new(PONG_VECTOR).unwrap(), on_raw_pong);
    measure(|| {
        let want = RAW_PONGS.load(Ordering::Acquire) + 1;
        smp::send_ipi(cpu(1), Vector::try_new(PING_VECTOR).unwrap());
        while RAW_PONGS.load(Ordering::Acquire) < want {
            core::hint::spin_loop();
        }
    })
}

// ---- 4. run_on to a halted CPU ----

fn run_on_round_trip() -> f64 {
    measure(|| {
        exec::block_on(ipiq::run_on(cpu(1), || async { 1u8 }));
    })
}

// ---- 5. all-to-all throughput ----

const MESSAGES_PER_CPU: u64 = 20_000;
static GOT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

fn on_flood(_: CpuId, _: usize) {
    GOT[smp::current().as_usize()].fetch_add(1, Ordering::Relaxed);
}

/// Per-CPU queues of the baseline: a locked deque and an IPI per send.
static BASELINE: [spin::Mutex<VecDeque<usize>>; MAX_CPUS] = [const { spin::Mutex::new(VecDeque::new()) }; MAX_CPUS];
const BASELINE_VECTOR: u8 = 0xe4;

fn on_baseline_ipi(_: Vector, _: &mut InterruptFrame) {
    lapic::eoi();
}

fn drain_baseline() {
    let me = smp::current().as_usize();
    let mut n = 0;
    while let Some(_msg) = BASELINE[me].lock().pop_front() {
        n += 1;
    }
    GOT[me].fetch_add(n, Ordering::Relaxed);
}

/// Each of the first `k` CPUs sends MESSAGES_PER_CPU round-robin to the
/// others; returns messages per second and (sent, IPIs) for the rings.
fn all_to_all(k: usize, rings: bool) -> (f64, u64, u64) {
    ACTIVE.store(k, Ordering::Release);
    for g in &GOT {
        g.store(0, Ordering::Release);
    }
    let before: Vec<_> = exec::block_on(ipiq::broadcast(|| async { ipiq::stats() }));
    let start = rdtsc();
    let handles: Vec<_> = (0..k)
        .map(|i| {
            ipiq::spawn_on(cpu(i), async move {
                let k = ACTIVE.load(Ordering::Acquire);
                let me = smp::current().as_usize();
                let expected = MESSAGES_PER_CPU; // each CPU receives as many as it sends
                for m in 0..MESSAGES_PER_CPU {
                    let to = (me + 1 + (m as usize % (k - 1))) % k;
                    if rings {
                        ipiq::send(cpu(to), on_flood, m as usize, SendUrgency::Active);
                    } else {
                        BASELINE[to].lock().push_back(m as usize);
                        smp::send_ipi(cpu(to), Vector::try_new(BASELINE_VECTOR).unwrap());
                    }
                    if m % 64 == 63 {
                        if rings {
                            ipiq::drain();
                        } else {
                            drain_baseline();
                        }
                    }
                }
                while GOT[me].load(Ordering::Relaxed) < expected {
                    if rings {
                        ipiq::drain();
                    } else {
                        drain_baseline();
                    }
                    yield_now().await;
                }
            })
        })
        .collect();
    exec::block_on(async move {
        for h in handles {
            h.await.unwrap();
        }
    });
    let cycles = (rdtsc() - start) as f64;
    let after: Vec<_> = exec::block_on(ipiq::broadcast(|| async { ipiq::stats() }));
    let (mut sent, mut ipis) = (0, 0);
    for (a, b) in after.iter().zip(&before).take(k) {
        sent += a.sent - b.sent;
        ipis += a.ipis_sent - b.ipis_sent;
    }
    let msgs = (k as u64 * MESSAGES_PER_CPU) as f64;
    (msgs / (ns(cycles) / 1e9), sent, ipis)
}

fn ipi_queue_benchmark() {
    let n = smp::online();
    assert!(n >= 2, "the benchmark needs at least 2 CPUs (--smp 2 or more)");
    idt::set_handler(Vector::try_new(BASELINE_VECTOR).unwrap(), on_baseline_ipi);
    for q in &BASELINE[..n] {
        q.lock().reserve(4 * MESSAGES_PER_CPU as usize);
    }
    let c = cache_line_round_trip();
    let r = ring_round_trip();
    let i = raw_ipi_round_trip();
    let o = run_on_round_trip();
    println!("IPI-queue benchmark: TSC {} kHz, {n} CPUs, median of {ROUNDS} x {ROUND_TRIPS} round trips (cpu0 <-> cpu1)", time::tsc_khz());
    println!("| measurement | cycles | ns | ratio | target |");
    println!("|---|---|---|---|---|");
    println!("| 1. cache-line ping-pong round trip | {c:.0} | {:.0} | | |", ns(c));
    println!("| 2. ring round trip, polling receiver | {r:.0} | {:.0} | (2)/(1) = {:.2} | <= 2.0 |", ns(r), r / c);
    println!("| 3. raw LAPIC IPI round trip | {i:.0} | {:.0} | | |", ns(i));
    println!("| 4. run_on round trip to a halted CPU | {o:.0} | {:.0} | (4)/(3) = {:.2} | <= 1.3 |", ns(o), o / i);
    println!();
    println!("| CPUs | rings (msg/s) | mutex+IPI baseline (msg/s) | rings / baseline | sends without IPI (rings) |");
    println!("|---|---|---|---|---|");
    for k in 2..=n {
        let (ring_rate, sent, ipis) = all_to_all(k, true);
        let (base_rate, _, _) = all_to_all(k, false);
        println!(
            "| {k} | {ring_rate:.0} | {base_rate:.0} | {:.2} | {:.2}% |",
            ring_rate / base_rate,
            100.0 * (sent - ipis) as f64 / sent.max(1) as f64
        );
    }
    println!("targets: rings >= 5x the baseline at 4 CPUs; >= 99% of sends without an IPI while streaming");
}
