//! The IPI-queue benchmark: the same two CPUs, TSC-timed, median of several
//! runs.
//!
//! 1. cache-line ping-pong round trip (the physical limit),
//!    and 1b, the floor of any design in which a message is a payload line
//!    plus a bit in a shared pending word (the sender sets it with a
//!    read-modify-write, the receiver takes it with a swap: the queues'
//!    pending mask): two lines each way instead of one, done by hand,
//! 2. ring message round trip with a polling receiver,
//! 3. raw LAPIC IPI round trip (the handlers only set a flag / reply),
//! 4. `run_on` round trip to a halted CPU,
//! 5. all-to-all throughput for 2..=N CPUs: the rings, and a baseline of one
//!    `spin::Mutex<VecDeque>` per CPU with an IPI on every send (three
//!    alternating passes each, medians),
//! 6. the fraction of sends in 5 that needed no IPI.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::future::poll_fn;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use core::task::Poll;

use kernel::arch::cpu::rdtsc;
use kernel::arch::entry::InterruptFrame;
use kernel::arch::idt;
use kernel::arch::lapic;
use kernel::arch::vectors::{self, Vector};
use kernel::ipiq::{self, Urgency};
use kernel::smp::{self, CpuId, MAX_CPUS};
use kernel::time;
use kernel::{exec, run_on};

use super::{BenchError, median, ns, pair};

const ROUNDS: usize = 5;
const ROUND_TRIPS: u64 = 2_000;

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

fn pong_cache_line() {
    // The other CPU: answer every odd value with the next even one.
    while !STOP.load(Ordering::Acquire) {
        let v = PINGPONG.0.load(Ordering::Acquire);
        if v % 2 == 1 {
            PINGPONG.0.store(v + 1, Ordering::Release);
        }
        core::hint::spin_loop();
    }
}

async fn cache_line_round_trip(other: CpuId) -> f64 {
    STOP.store(false, Ordering::Release);
    PINGPONG.0.store(0, Ordering::Release);
    let pong = run_on::spawn_on(other, async {
        exec::allow_long_polls();
        pong_cache_line()
    });
    let mut v = 0;
    let cycles = measure(|| {
        PINGPONG.0.store(v + 1, Ordering::Release);
        while PINGPONG.0.load(Ordering::Acquire) != v + 2 {
            core::hint::spin_loop();
        }
        v += 2;
    });
    STOP.store(true, Ordering::Release);
    let _ = pong.await;
    cycles
}

// ---- 1b. a payload line plus a pending word, by hand ----

/// Per direction: the pending word the sender sets with a read-modify-write
/// and the receiver takes with a swap, and the payload line between them.
static PENDING_TO: [Line; 2] = [Line(AtomicU64::new(0)), Line(AtomicU64::new(0))];
static PAYLOAD_TO: [Line; 2] = [Line(AtomicU64::new(0)), Line(AtomicU64::new(0))];

/// Sends `v` to side `to` with the least a masked queue must do.
fn masked_send(to: usize, v: u64) {
    PAYLOAD_TO[to].0.store(v, Ordering::Relaxed);
    PENDING_TO[to].0.fetch_or(1, Ordering::SeqCst);
}

/// Side `me`: on a pending bit (peeked, then taken), the payload.
fn masked_poll(me: usize) -> Option<u64> {
    let pending = &PENDING_TO[me].0;
    if pending.load(Ordering::SeqCst) == 0 || pending.swap(0, Ordering::SeqCst) == 0 {
        return None;
    }
    Some(PAYLOAD_TO[me].0.load(Ordering::Relaxed))
}

fn pong_masked() {
    while !STOP.load(Ordering::Acquire) {
        if let Some(v) = masked_poll(1) {
            masked_send(0, v + 1);
        }
        core::hint::spin_loop();
    }
}

async fn masked_round_trip(other: CpuId) -> f64 {
    STOP.store(false, Ordering::Release);
    let pong = run_on::spawn_on(other, async {
        exec::allow_long_polls();
        pong_masked()
    });
    let mut v = 0;
    let cycles = measure(|| {
        masked_send(1, v);
        loop {
            if let Some(got) = masked_poll(0) {
                assert_eq!(got, v + 1, "1b: the reply is not the one awaited");
                break;
            }
            core::hint::spin_loop();
        }
        v += 2;
    });
    STOP.store(true, Ordering::Release);
    let _ = pong.await;
    cycles
}

// ---- 2. ring round trip, polling receiver ----

static PONGS: Line = Line(AtomicU64::new(0));

fn on_ping(from: CpuId, data: usize) {
    ipiq::send(from, on_pong, data, Urgency::Passive);
}

fn on_pong(_: CpuId, _: usize) {
    PONGS.0.fetch_add(1, Ordering::Release);
}

fn poll_rings() {
    while !STOP.load(Ordering::Acquire) {
        ipiq::drain();
        core::hint::spin_loop();
    }
}

async fn ring_round_trip(other: CpuId) -> f64 {
    STOP.store(false, Ordering::Release);
    let poller = run_on::spawn_on(other, async {
        exec::allow_long_polls();
        poll_rings()
    });
    let cycles = measure(|| {
        let want = PONGS.0.load(Ordering::Acquire) + 1;
        ipiq::send(other, on_ping, 0, Urgency::Passive);
        while PONGS.0.load(Ordering::Acquire) < want {
            ipiq::drain();
            core::hint::spin_loop();
        }
    });
    STOP.store(true, Ordering::Release);
    let _ = poller.await;
    cycles
}

// ---- 3. raw IPI round trip ----

const PING_VECTOR: Vector = vectors::test(2);
const PONG_VECTOR: Vector = vectors::test(3);
static RAW_PONGS: AtomicU64 = AtomicU64::new(0);
/// Who the raw ping answers.
static PINGER: AtomicU32 = AtomicU32::new(0);

fn on_raw_ping(_: Vector, _: &mut InterruptFrame) {
    if let Some(to) = CpuId::try_new(PINGER.load(Ordering::Relaxed) as usize) {
        smp::send_ipi(to, PONG_VECTOR);
    }
    lapic::eoi();
}

fn on_raw_pong(_: Vector, _: &mut InterruptFrame) {
    RAW_PONGS.fetch_add(1, Ordering::Release);
    lapic::eoi();
}

fn raw_ipi_round_trip(me: CpuId, other: CpuId) -> f64 {
    PINGER.store(me.as_u32(), Ordering::Relaxed);
    idt::set_handler(PING_VECTOR, on_raw_ping);
    idt::set_handler(PONG_VECTOR, on_raw_pong);
    measure(|| {
        let want = RAW_PONGS.load(Ordering::Acquire) + 1;
        smp::send_ipi(other, PING_VECTOR);
        while RAW_PONGS.load(Ordering::Acquire) < want {
            core::hint::spin_loop();
        }
    })
}

// ---- 4. run_on to a halted CPU ----

async fn run_on_round_trip(other: CpuId) -> f64 {
    let mut runs = Vec::with_capacity(ROUNDS);
    for _ in 0..100 {
        run_on::run_on(other, || async { 1u8 }).await;
    }
    for _ in 0..ROUNDS {
        let t = rdtsc();
        for _ in 0..ROUND_TRIPS {
            run_on::run_on(other, || async { 1u8 }).await;
        }
        runs.push((rdtsc() - t) as f64 / ROUND_TRIPS as f64);
    }
    median(runs)
}

// ---- 5. all-to-all throughput ----

const MESSAGES_PER_CPU: u64 = 20_000;
/// Rings-then-baseline passes per CPU count.
const PAIRS: usize = 3;
/// Messages each CPU received, one cache line each: receivers count every
/// message, and counters sharing a line would bounce it between them.
static GOT: [Line; MAX_CPUS] = [const { Line(AtomicU64::new(0)) }; MAX_CPUS];
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

fn cpu(n: usize) -> CpuId {
    CpuId::try_new(n).expect("below MAX_CPUS")
}

/// Per CPU: its all-to-all task, waiting for the last of its messages.
static ARRIVED: [io::AtomicWaker; MAX_CPUS] = [const { io::AtomicWaker::new() }; MAX_CPUS];

fn on_flood(_: CpuId, _: usize) {
    let me = smp::current().as_usize();
    if GOT[me].0.fetch_add(1, Ordering::Relaxed) + 1 >= MESSAGES_PER_CPU {
        ARRIVED[me].wake();
    }
}

/// Per-CPU queues of the baseline: a locked deque and an IPI per send.
/// Each on its own cache line, like the rings' indexes and the counters.
static BASELINE: [BaselineQueue; MAX_CPUS] = [const { BaselineQueue(spin::Mutex::new(VecDeque::new())) }; MAX_CPUS];

#[repr(align(64))]
struct BaselineQueue(spin::Mutex<VecDeque<usize>>);
const BASELINE_VECTOR: Vector = vectors::test(4);

/// The baseline's consumer side, as a driver would have it: the handler
/// acknowledges and wakes the task, which drains.
fn on_baseline_ipi(_: Vector, _: &mut InterruptFrame) {
    lapic::eoi();
    ARRIVED[smp::current().as_usize()].wake();
}

fn drain_baseline() {
    let me = smp::current().as_usize();
    let mut n = 0;
    while let Some(_msg) = BASELINE[me].0.lock().pop_front() {
        n += 1;
    }
    GOT[me].0.fetch_add(n, Ordering::Relaxed);
}

/// One all-to-all pass.
struct Pass {
    /// Messages per second, all CPUs together.
    rate: f64,
    /// Ring sends, and the IPIs they raised.
    sent: u64,
    ipis: u64,
    /// Ring sends that found their ring full, and the halts that waiting
    /// for room took (each ended by the receiver's notice or the bound).
    full_waits: u64,
    halts: u64,
}

/// Each of the first `k` CPUs sends MESSAGES_PER_CPU round-robin to the
/// others (through the rings, or through the baseline's queues).
async fn all_to_all(k: usize, rings: bool) -> Pass {
    ACTIVE.store(k, Ordering::Release);
    for g in &GOT {
        g.0.store(0, Ordering::Release);
    }
    let counters = || async { (ipiq::stats(), ipiq::halts_for_room()) };
    let before: Vec<_> = run_on::broadcast(counters).await;
    let start = rdtsc();
    let handles: Vec<_> = (0..k)
        .map(|i| {
            run_on::spawn_on(cpu(i), async move {
                // Floods on full rings by design.
                exec::allow_long_polls();
                let k = ACTIVE.load(Ordering::Acquire);
                let me = smp::current().as_usize();
                let expected = MESSAGES_PER_CPU; // each CPU receives as many as it sends
                for m in 0..MESSAGES_PER_CPU {
                    let to = (me + 1 + (m as usize % (k - 1))) % k;
                    if rings {
                        ipiq::send(cpu(to), on_flood, m as usize, Urgency::Active);
                    } else {
                        BASELINE[to].0.lock().push_back(m as usize);
                        smp::send_ipi(cpu(to), BASELINE_VECTOR);
                    }
                    if m % 64 == 63 {
                        if rings {
                            ipiq::drain();
                        } else {
                            drain_baseline();
                        }
                    }
                }
                // Wait for the rest without spinning (a spinning vCPU takes
                // host time from those still sending): register, drain, check.
                poll_fn(|cx| {
                    ARRIVED[me].register(cx.waker());
                    if rings {
                        ipiq::drain();
                    } else {
                        drain_baseline();
                    }
                    if GOT[me].0.load(Ordering::Relaxed) >= expected { Poll::Ready(()) } else { Poll::Pending }
                })
                .await;
            })
        })
        .collect();
    for h in handles {
        let _ = h.await;
    }
    let cycles = (rdtsc() - start) as f64;
    let after: Vec<_> = run_on::broadcast(counters).await;
    let msgs = (k as u64 * MESSAGES_PER_CPU) as f64;
    let mut pass = Pass { rate: msgs / (ns(cycles) / 1e9), sent: 0, ipis: 0, full_waits: 0, halts: 0 };
    for ((a, halts_after), (b, halts_before)) in after.iter().zip(&before).take(k) {
        pass.sent += a.sent - b.sent;
        pass.ipis += a.ipis_sent - b.ipis_sent;
        pass.full_waits += a.full_waits - b.full_waits;
        pass.halts += halts_after - halts_before;
    }
    pass
}

/// Runs the IPI-queue benchmark; returns its tables.
pub(crate) async fn ipi_queues() -> Result<String, BenchError> {
    let (me, other) = pair()?;
    let n = smp::online();
    idt::set_handler(BASELINE_VECTOR, on_baseline_ipi);
    for q in &BASELINE[..n] {
        q.0.lock().reserve(4 * MESSAGES_PER_CPU as usize);
    }
    let c = cache_line_round_trip(other).await;
    let m = masked_round_trip(other).await;
    let r = ring_round_trip(other).await;
    let i = raw_ipi_round_trip(me, other);
    let o = run_on_round_trip(other).await;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "IPI-queue benchmark: TSC {} kHz, {n} CPUs, median of {ROUNDS} x {ROUND_TRIPS} round trips ({me} <-> {other})",
        time::tsc_khz()
    );
    t += "| measurement | cycles | ns | ratio | target |\n|---|---|---|---|---|\n";
    let _ = writeln!(t, "| 1. cache-line ping-pong round trip | {c:.0} | {:.0} | | |", ns(c));
    let _ = writeln!(t, "| 1b. payload line + pending word round trip, by hand | {m:.0} | {:.0} | (1b)/(1) = {:.2} | |", ns(m), m / c);
    let _ = writeln!(
        t,
        "| 2. ring round trip, polling receiver | {r:.0} | {:.0} | (2)/(1) = {:.2}, (2)/(1b) = {:.2} | (2)/(1) <= 2.0 |",
        ns(r),
        r / c,
        r / m
    );
    let _ = writeln!(t, "| 3. raw LAPIC IPI round trip | {i:.0} | {:.0} | | |", ns(i));
    let _ = writeln!(t, "| 4. run_on round trip to a halted CPU | {o:.0} | {:.0} | (4)/(3) = {:.2} | <= 1.3 |", ns(o), o / i);
    t += "\n| CPUs | rings (msg/s, median) | mutex+IPI baseline (msg/s, median) | rings / baseline: median (of the passes) | sends without IPI (rings, median) | ring-full waits / halts for room (rings, per pass) |\n";
    t += "|---|---|---|---|---|---|\n";
    for k in 2..=n {
        // Rings and baseline alternate, PAIRS times; the row is the median
        // of each column (with more vCPUs than host cores one pass swings
        // by 2x with the host's scheduling).
        let (mut rings, mut bases, mut ratios, mut avoided, mut waits) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..PAIRS {
            let ring = all_to_all(k, true).await;
            let base = all_to_all(k, false).await;
            rings.push(ring.rate);
            bases.push(base.rate);
            ratios.push(ring.rate / base.rate);
            avoided.push(100.0 * (ring.sent - ring.ipis) as f64 / ring.sent.max(1) as f64);
            waits.push(format!("{} / {}", ring.full_waits, ring.halts));
        }
        t += &format!(
            "| {k} | {:.0} | {:.0} | {:.2} (of {}) | {:.2}% | {} |\n",
            median(rings),
            median(bases),
            median(ratios.clone()),
            ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(", "),
            median(avoided),
            waits.join(", ")
        );
    }
    t += "targets: rings >= 5x the baseline at 4 CPUs; >= 99% of sends without an IPI while streaming\n";
    Ok(t)
}
