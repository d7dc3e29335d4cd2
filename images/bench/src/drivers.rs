//! The driver benchmark, TSC-timed.
//!
//! 1. Interrupt-to-task latency on a running CPU: `int` to a vector whose
//!    handler has a device handler's shape (note the time, signal a
//!    WaitCell) wakes a driver task (interrupt band) on this CPU; the
//!    interrupted task yields; cycles from the handler's entry to the driver
//!    task's first poll.
//! 2. Beside it, a bare handler entry and return on the same CPU, same way:
//!    `int` to a vector whose handler does nothing, timed around the
//!    instruction. (1)/(2) is the target's ratio.
//!
//! 1'. The same wake into a halted CPU: this CPU sends a fixed IPI to the
//! next one, whose handler signals a driver task there; split into the
//! signal, the EOI, and handler end -> poll.
//!
//! 3. Timer wake lateness: sleeps of 0.1-2 ms; how long after its deadline
//!    each task runs again (median, p99, max).
//! 4. and 5. The pair of 1 and 2 as a device interrupt arrives, through the
//!    local APIC: a self-IPI to a signal-and-EOI handler, timed from the send
//!    to the woken task's first poll, beside a self-IPI to an EOI-only
//!    handler, timed from the send to its return.
//! 6. With QEMU's edu device attached (`-device edu`): its MSI aimed at a
//!    CPU, timed from the write that makes the device raise it to the first
//!    poll of the driver task awaiting it there: on the running CPU (beside
//!    4, the self-IPI) and on a halted one (beside 1', the fixed IPI).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::time::Duration;

use io::WaitCell;
use kernel::arch::cpu::{self, rdtsc};
use kernel::arch::entry::InterruptFrame;
use kernel::arch::idt;
use kernel::arch::lapic;
use kernel::arch::vectors::{self, Vector};
use kernel::exec;
use kernel::run_on;
use kernel::smp::{self, CpuId};
use kernel::time::{self, Instant};

use super::{BenchError, pair, percentile};

const LATENCY_VECTOR: Vector = vectors::test(5);
const BARE_VECTOR: Vector = vectors::test(6);
const HOT_VECTOR: Vector = vectors::test(7);
const SELF_DEVICE_VECTOR: Vector = vectors::test(8);
const SELF_BARE_VECTOR: Vector = vectors::test(9);
const ROUNDS: usize = 1000;
const WARMUP: usize = 50;

static CELL: WaitCell = WaitCell::new();
static HOT_CELL: WaitCell = WaitCell::new();
static T_ENTRY: AtomicU64 = AtomicU64::new(0);
static T_POLL: AtomicU64 = AtomicU64::new(0);
static DONE: AtomicBool = AtomicBool::new(false);
/// Cycles spent in the handler's signal and EOI, and the handler's end.
static T_SIGNAL: AtomicU64 = AtomicU64::new(0);
static T_EOI: AtomicU64 = AtomicU64::new(0);
static T_END: AtomicU64 = AtomicU64::new(0);

fn on_latency_irq(_: Vector, _: &mut InterruptFrame) {
    let entry = rdtsc();
    CELL.signal();
    let signalled = rdtsc();
    lapic::eoi();
    let end = rdtsc();
    T_ENTRY.store(entry, Ordering::Relaxed);
    T_SIGNAL.store(signalled - entry, Ordering::Relaxed);
    T_EOI.store(end - signalled, Ordering::Relaxed);
    T_END.store(end, Ordering::Relaxed);
}

fn on_bare(_: Vector, _: &mut InterruptFrame) {}

/// The device-handler shape for a software interrupt (no EOI: `int` does
/// not go through the local APIC).
fn on_hot(_: Vector, _: &mut InterruptFrame) {
    T_ENTRY.store(rdtsc(), Ordering::Relaxed);
    HOT_CELL.signal();
}

/// A device interrupt's shape through the local APIC: signal, EOI.
fn on_self_device(_: Vector, _: &mut InterruptFrame) {
    HOT_CELL.signal();
    lapic::eoi();
}

/// A bare device-interrupt handler: EOI only.
fn on_self_bare(_: Vector, _: &mut InterruptFrame) {
    lapic::eoi();
}

/// The same pair through the local APIC, from the same starting point: a
/// self-IPI (delivered as a device interrupt is, acknowledged with an EOI).
/// Returns sorted samples of (send -> first poll of the woken task) and
/// (send -> return from a bare handler).
async fn self_ipi_pair(me: CpuId) -> (Vec<u64>, Vec<u64>) {
    let driver = exec::spawn_driver("bench-driver", async {
        loop {
            HOT_CELL.wait().await;
            T_POLL.store(rdtsc(), Ordering::Relaxed);
        }
    });
    exec::yield_now().await;
    let (mut woken, mut bare) = (Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS));
    for round in 0..ROUNDS + WARMUP {
        let t = rdtsc();
        smp::send_ipi(me, SELF_DEVICE_VECTOR);
        exec::yield_now().await;
        let polled = T_POLL.load(Ordering::Relaxed).saturating_sub(t);
        let t = rdtsc();
        smp::send_ipi(me, SELF_BARE_VECTOR);
        let returned = rdtsc() - t;
        if round >= WARMUP {
            woken.push(polled);
            bare.push(returned);
        }
    }
    driver.abort();
    woken.sort_unstable();
    bare.sort_unstable();
    (woken, bare)
}

fn ns(cycles: u64) -> u64 {
    time::cycles_to_duration(cycles).as_nanos() as u64
}

async fn interrupt_to_task_running() -> Vec<u64> {
    let driver = exec::spawn_driver("bench-driver", async {
        loop {
            HOT_CELL.wait().await;
            T_POLL.store(rdtsc(), Ordering::Relaxed);
        }
    });
    // Let the driver task register its waker.
    exec::yield_now().await;
    let mut samples = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS + WARMUP {
        cpu::software_interrupt::<{ HOT_VECTOR.as_u8() }>();
        // The driver task (interrupt band) runs before this one resumes.
        exec::yield_now().await;
        if round >= WARMUP {
            samples.push(T_POLL.load(Ordering::Relaxed).saturating_sub(T_ENTRY.load(Ordering::Relaxed)));
        }
    }
    driver.abort();
    samples.sort_unstable();
    samples
}

/// Sorted samples of: entry -> poll, the signal, the EOI, handler end -> poll.
struct Latency {
    total: Vec<u64>,
    signal: Vec<u64>,
    eoi: Vec<u64>,
    after: Vec<u64>,
}

async fn interrupt_to_halted_task(target: CpuId) -> Latency {
    let task = run_on::spawn_on(target, async {
        // A driver task's loop: wait, then run.
        loop {
            CELL.wait().await;
            T_POLL.store(rdtsc(), Ordering::Relaxed);
            DONE.store(true, Ordering::Release);
        }
    });
    let mut l = Latency { total: Vec::new(), signal: Vec::new(), eoi: Vec::new(), after: Vec::new() };
    for round in 0..ROUNDS + WARMUP {
        // Let the target reach its halt.
        time::sleep(Duration::from_micros(200)).await;
        DONE.store(false, Ordering::Release);
        smp::send_ipi(target, LATENCY_VECTOR);
        while !DONE.load(Ordering::Acquire) {
            core::hint::spin_loop();
        }
        if round >= WARMUP {
            let poll = T_POLL.load(Ordering::Relaxed);
            l.total.push(poll.saturating_sub(T_ENTRY.load(Ordering::Relaxed)));
            l.signal.push(T_SIGNAL.load(Ordering::Relaxed));
            l.eoi.push(T_EOI.load(Ordering::Relaxed));
            l.after.push(poll.saturating_sub(T_END.load(Ordering::Relaxed)));
        }
    }
    task.abort();
    for v in [&mut l.total, &mut l.signal, &mut l.eoi, &mut l.after] {
        v.sort_unstable();
    }
    l
}

fn bare_handler() -> Vec<u64> {
    let mut samples: Vec<u64> = (0..ROUNDS + WARMUP)
        .map(|_| {
            let t = rdtsc();
            cpu::software_interrupt::<{ BARE_VECTOR.as_u8() }>();
            rdtsc() - t
        })
        .skip(WARMUP)
        .collect();
    samples.sort_unstable();
    samples
}

/// Cycles per call of `op`, over 10,000 calls: what the machine (under TCG,
/// the emulator) charges for the primitives the wake path is made of.
fn cost(op: impl Fn()) -> u64 {
    let t = rdtsc();
    for _ in 0..10_000 {
        op();
    }
    (rdtsc() - t) / 10_000
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Sorted samples of: the write that makes edu raise its MSI (on `me`) ->
/// the first poll of a driver task awaiting it on `target`, where the MSI
/// is aimed.
async fn msi_to_task(me: CpuId, target: CpuId) -> Result<Vec<u64>, drivers::edu::EduError> {
    use alloc::sync::Arc;
    let edu = Arc::new(drivers::edu::Edu::open(target)?);
    let waiter = Arc::clone(&edu);
    let task = run_on::spawn_on(target, async move {
        loop {
            waiter.irq().wait().await;
            T_POLL.store(rdtsc(), Ordering::Relaxed);
            DONE.store(true, Ordering::Release);
        }
    });
    let mut samples = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS + WARMUP {
        if target != me {
            // Let the target reach its halt.
            time::sleep(Duration::from_micros(200)).await;
        }
        DONE.store(false, Ordering::Release);
        let t = rdtsc();
        edu.trigger(0x40);
        while !DONE.load(Ordering::Acquire) {
            if target == me {
                exec::yield_now().await;
            } else {
                core::hint::spin_loop();
            }
        }
        if round >= WARMUP {
            samples.push(T_POLL.load(Ordering::Relaxed).saturating_sub(t));
        }
    }
    task.abort();
    // The task's future (and its handle on the device) is dropped on its
    // CPU: wait for that, so the device can be opened again.
    let _ = task.await;
    drop(edu);
    samples.sort_unstable();
    Ok(samples)
}

async fn timer_lateness() -> Vec<u64> {
    let mut late = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS {
        let after = Duration::from_micros(100 + (i as u64 * 7919) % 1900);
        let deadline = Instant::now() + after;
        time::sleep_until(deadline).await;
        late.push(Instant::now().tsc().saturating_sub(deadline.tsc()));
    }
    late.sort_unstable();
    late
}

/// Runs the driver benchmark; returns its table.
pub(crate) async fn drivers() -> Result<String, BenchError> {
    let (me, other) = pair()?;
    idt::set_handler(LATENCY_VECTOR, on_latency_irq);
    idt::set_handler(BARE_VECTOR, on_bare);
    idt::set_handler(HOT_VECTOR, on_hot);
    idt::set_handler(SELF_DEVICE_VECTOR, on_self_device);
    idt::set_handler(SELF_BARE_VECTOR, on_self_bare);
    let hot = interrupt_to_task_running().await;
    let (self_woken, self_bare) = self_ipi_pair(me).await;
    let lat = interrupt_to_halted_task(other).await;
    let bare = bare_handler();
    let late = timer_lateness().await;
    let msi_running = msi_to_task(me, me).await;
    let msi_halted = msi_to_task(me, other).await;
    let yield_cycles = {
        let t = rdtsc();
        for _ in 0..10_000 {
            exec::yield_now().await;
        }
        (rdtsc() - t) / 10_000
    };
    let rmw = cost(|| {
        COUNTER.fetch_add(1, Ordering::AcqRel);
    });
    let load = cost(|| {
        core::hint::black_box(COUNTER.load(Ordering::Acquire));
    });
    let tsc = cost(|| {
        core::hint::black_box(rdtsc());
    });

    let (h50, l50, b50) = (percentile(&hot, 50), percentile(&lat.total, 50), percentile(&bare, 50));
    let mut t = String::new();
    let _ = writeln!(
        t,
        "driver benchmark: TSC {} kHz, timer {}, {ROUNDS} samples each ({me}; halted: {other})",
        time::tsc_khz(),
        time::timer::mode_name()
    );
    t += "| measurement | median cycles | median ns | p99 ns | ratio | target |\n|---|---|---|---|---|---|\n";
    let _ = writeln!(
        t,
        "| 1. interrupt entry -> first poll of the woken task (running CPU) | {h50} | {} | {} | (1)/(2) = {:.2} | <= 3 |",
        ns(h50),
        ns(percentile(&hot, 99)),
        h50 as f64 / b50.max(1) as f64
    );
    let _ = writeln!(t, "| 2. bare handler entry + return (`int`) | {b50} | {} | {} | | |", ns(b50), ns(percentile(&bare, 99)));
    let _ = writeln!(
        t,
        "| 1'. interrupt entry -> first poll of the woken task (halted CPU, fixed IPI) | {l50} | {} | {} | (1')/(2) = {:.2} | |",
        ns(l50),
        ns(percentile(&lat.total, 99)),
        l50 as f64 / b50.max(1) as f64
    );
    let (s50, sb50) = (percentile(&self_woken, 50), percentile(&self_bare, 50));
    let _ = writeln!(
        t,
        "| 4. self-IPI sent -> first poll of the woken task (signal + EOI handler) | {s50} | {} | {} | (4)/(5) = {:.2} | |",
        ns(s50),
        ns(percentile(&self_woken, 99)),
        s50 as f64 / sb50.max(1) as f64
    );
    let _ =
        writeln!(t, "| 5. self-IPI sent -> bare handler (EOI) returned | {sb50} | {} | {} | | |", ns(sb50), ns(percentile(&self_bare, 99)));
    match (&msi_running, &msi_halted) {
        (Ok(running), Ok(halted)) => {
            let (r50, h50m) = (percentile(running, 50), percentile(halted, 50));
            let _ = writeln!(
                t,
                "| 6. edu MSI raised -> first poll of the woken task (running CPU {me}) | {r50} | {} | {} | (6)/(4) = {:.2} | |",
                ns(r50),
                ns(percentile(running, 99)),
                r50 as f64 / s50.max(1) as f64
            );
            let _ = writeln!(
                t,
                "| 6'. edu MSI raised -> first poll of the woken task (halted CPU {other}; 1' starts later, at handler entry) | {h50m} | {} | {} | | |",
                ns(h50m),
                ns(percentile(halted, 99))
            );
        }
        (Err(e), _) | (_, Err(e)) => {
            let _ = writeln!(t, "| 6. edu MSI -> first poll: not measured ({e}; boot with `-- -device edu`) | | | | | |");
        }
    }
    for (name, v) in [
        ("1'a. of which: WaitCell::signal (wake onto the executor's wake stack)", &lat.signal),
        ("1'b. of which: local APIC EOI", &lat.eoi),
        ("1'c. of which: handler end -> iretq -> out of hlt -> executor loop -> poll", &lat.after),
    ] {
        let m = percentile(v, 50);
        let _ = writeln!(t, "| {name} | {m} | {} | {} | | |", ns(m), ns(percentile(v, 99)));
    }
    let _ = writeln!(t, "| context: yield_now (wake self + requeue + poll) | {yield_cycles} | {} | | | |", ns(yield_cycles));
    let _ = writeln!(t, "| context: one atomic read-modify-write (lock xadd) | {rmw} | {} | | | |", ns(rmw));
    let _ = writeln!(t, "| context: one atomic load | {load} | {} | | | |", ns(load));
    let _ = writeln!(t, "| context: one rdtsc | {tsc} | {} | | | |", ns(tsc));
    let _ = writeln!(
        t,
        "| 3. timer wake lateness (sleeps of 0.1-2 ms) | {} | {} | {} | max {} us | |",
        percentile(&late, 50),
        ns(percentile(&late, 50)),
        ns(percentile(&late, 99)),
        ns(late.last().copied().unwrap_or(0)) / 1000
    );
    Ok(t)
}
