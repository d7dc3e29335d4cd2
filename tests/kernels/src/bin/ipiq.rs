//! Cross-CPU futures over the IPI queues: spawn_on from every CPU to every
//! other, run_on, remote wakes, broadcast and a barrier, an all-to-all flood
//! of 1,000,000 checked messages, and streaming without IPIs.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::vec::Vec;
use core::future::poll_fn;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use core::task::{Poll, Waker};

use io::Barrier;
use kernel::exec::{self, yield_now};
use kernel::ipiq::{self, Urgency};
use kernel::run_on;
use kernel::smp::{self, CpuId, MAX_CPUS};
use kernel::{println, testing, time};

kernel::test_kernel![
    every_cpu_spawns_on_every_other_and_joins,
    run_on_returns_values,
    remote_wake_resumes_the_right_task_on_the_right_cpu,
    broadcast_and_barrier,
    all_to_all_flood_loses_and_duplicates_nothing,
    streaming_sends_mostly_avoid_the_ipi,
    passive_send_to_an_idle_cpu_arrives,
    dropping_run_on_cancels_the_remote_future,
];

fn cpu(n: usize) -> CpuId {
    CpuId::try_new(n).expect("below MAX_CPUS")
}

fn every_cpu_spawns_on_every_other_and_joins() {
    let n = smp::online();
    let per_cpu = exec::block_on(run_on::broadcast(move || async move {
        let me = smp::current().as_usize();
        let mut landed = 0u32;
        for j in (0..n).filter(|&j| j != me) {
            let ran_on = run_on::spawn_on(cpu(j), async { smp::current() }).await.expect("joined");
            assert_eq!(ran_on, cpu(j), "a task spawned on cpu {j} ran on {ran_on}");
            landed += 1;
        }
        landed
    }));
    assert_eq!(per_cpu.len(), n);
    assert!(per_cpu.iter().all(|&k| k as usize == n - 1));
    println!("spawn_on: {} cross-CPU tasks joined", n * (n - 1));
}

fn run_on_returns_values() {
    for j in 0..smp::online() {
        let v = exec::block_on(run_on::run_on(cpu(j), || async {
            yield_now().await;
            smp::current().as_u32() * 10 + 7
        }));
        assert_eq!(v, j as u32 * 10 + 7);
    }
}

static PARKED: spin::Mutex<Option<Waker>> = spin::Mutex::new(None);
static RELEASED: AtomicBool = AtomicBool::new(false);

fn remote_wake_resumes_the_right_task_on_the_right_cpu() {
    let n = smp::online();
    if testing::skip_unless_cpus(2) {
        return;
    }
    // The task lives on cpu1; another CPU wakes it (the last one, or the
    // boot CPU when there are only two).
    let (home, waker_cpu) = (cpu(1), if n > 2 { cpu(n - 1) } else { cpu(0) });
    let waiter = run_on::spawn_on(home, async {
        let before = smp::current();
        poll_fn(|cx| {
            *PARKED.lock() = Some(cx.waker().clone());
            if RELEASED.load(Ordering::Acquire) { Poll::Ready(()) } else { Poll::Pending }
        })
        .await;
        (before, smp::current())
    });
    // Wait until the task has parked, then wake it from another CPU.
    let deadline = time::deadline_after_ms(2000);
    while PARKED.lock().is_none() {
        assert!(!time::passed(deadline), "the task never parked");
        exec::block_on(async { yield_now().await });
    }
    let messages = exec::block_on(run_on::run_on(waker_cpu, || async {
        RELEASED.store(true, Ordering::Release);
        let before = ipiq::stats().sent;
        PARKED.lock().take().expect("parked").wake();
        ipiq::stats().sent - before
    }));
    assert_eq!(messages, 1, "the wake travelled as one IPI-queue message");
    let (before, after) = exec::block_on(waiter).expect("joined");
    assert_eq!((before, after), (home, home), "resumed on its own CPU");
    println!("remote wake: woken from {waker_cpu}, resumed on {after}");
}

fn broadcast_and_barrier() {
    static BARRIER: spin::Once<Barrier> = spin::Once::new();
    static ARRIVED: AtomicUsize = AtomicUsize::new(0);
    let n = smp::online();
    BARRIER.call_once(|| Barrier::new(n));
    let seen = exec::block_on(run_on::broadcast(|| async {
        ARRIVED.fetch_add(1, Ordering::SeqCst);
        let leader = BARRIER.get().unwrap().wait().await;
        // Nobody passes before everyone arrived.
        (ARRIVED.load(Ordering::SeqCst), leader, smp::current())
    }));
    assert_eq!(seen.len(), n);
    for (i, (arrived, _, on)) in seen.iter().enumerate() {
        assert_eq!(*arrived, n, "cpu {i} passed the barrier early");
        assert_eq!(*on, cpu(i), "broadcast result {i} came from its CPU");
    }
    assert_eq!(seen.iter().filter(|s| s.1).count(), 1, "one leader");
}

// ---- flood ----

const FLOOD: u64 = 1_000_000;
static NEXT: [[AtomicU64; MAX_CPUS]; MAX_CPUS] = [const { [const { AtomicU64::new(0) }; MAX_CPUS] }; MAX_CPUS];
static RECEIVED: AtomicU64 = AtomicU64::new(0);
static BAD: AtomicU64 = AtomicU64::new(0);

/// data = seq (40 bits) | checksum (24 bits) of (from, to, seq).
fn encode(from: usize, to: usize, seq: u64) -> usize {
    let sum = (seq ^ ((from as u64) << 48) ^ ((to as u64) << 56)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
    ((sum << 40) | seq) as usize
}

fn on_flood(from: CpuId, data: usize) {
    let me = smp::current().as_usize();
    let seq = data as u64 & ((1 << 40) - 1);
    let next = &NEXT[from.as_usize()][me];
    if data != encode(from.as_usize(), me, seq) || next.load(Ordering::Relaxed) != seq {
        BAD.fetch_add(1, Ordering::Relaxed);
    }
    next.store(seq + 1, Ordering::Relaxed);
    RECEIVED.fetch_add(1, Ordering::Relaxed);
}

fn all_to_all_flood_loses_and_duplicates_nothing() {
    let n = smp::online();
    if testing::skip_unless_cpus(2) {
        return;
    }
    let per_cpu = FLOOD / n as u64;
    let before: Vec<_> = exec::block_on(run_on::broadcast(|| async { ipiq::stats() }));
    let start = time::uptime();
    exec::block_on(run_on::broadcast(move || async move {
        // Sends on full rings wait in the poll: long by design.
        exec::allow_long_polls();
        let me = smp::current().as_usize();
        let mut seq = [0u64; MAX_CPUS];
        for k in 0..per_cpu {
            let to = (me + 1 + (k as usize % (n - 1))) % n;
            ipiq::send(cpu(to), on_flood, encode(me, to, seq[to]), Urgency::Active);
            seq[to] += 1;
            if k % 256 == 255 {
                yield_now().await; // let this CPU drain its own rings too
            }
        }
    }));
    let total = per_cpu * n as u64;
    let deadline = time::deadline_after_ms(60_000);
    while RECEIVED.load(Ordering::Relaxed) < total {
        assert!(!time::passed(deadline), "flood: {} of {total} arrived", RECEIVED.load(Ordering::Relaxed));
        exec::block_on(async { yield_now().await });
    }
    time::delay_us(20_000);
    assert_eq!(RECEIVED.load(Ordering::Relaxed), total, "no duplicates");
    assert_eq!(BAD.load(Ordering::Relaxed), 0, "checksums and per-pair order");
    let after: Vec<_> = exec::block_on(run_on::broadcast(|| async { ipiq::stats() }));
    let (mut sent, mut ipis, mut avoided, mut full) = (0, 0, 0, 0);
    for (a, b) in after.iter().zip(&before) {
        sent += a.sent - b.sent;
        ipis += a.ipis_sent - b.ipis_sent;
        avoided += a.ipis_avoided - b.ipis_avoided;
        full += a.full_waits - b.full_waits;
    }
    let ms = (time::uptime() - start).as_millis();
    println!("flood: {total} messages on {n} CPUs in {ms} ms; {ipis} IPIs, {avoided} avoided, {full} full waits");
    assert!(sent >= total);
}

fn streaming_sends_mostly_avoid_the_ipi() {
    if testing::skip_unless_cpus(2) {
        return;
    }
    static STREAMED: AtomicU64 = AtomicU64::new(0);
    fn on_stream(_: CpuId, _: usize) {
        STREAMED.fetch_add(1, Ordering::Relaxed);
    }
    const STREAM: u64 = 100_000;
    let stats = exec::block_on(run_on::run_on(cpu(1), || async {
        exec::allow_long_polls(); // 100,000 sends in one poll, by design
        let before = ipiq::stats();
        for k in 0..STREAM {
            let urgency = if k + 1 == STREAM { Urgency::Active } else { Urgency::Passive };
            ipiq::send(cpu(0), on_stream, k as usize, urgency);
        }
        let after = ipiq::stats();
        (after.sent - before.sent, after.ipis_sent - before.ipis_sent, after.deepest)
    }));
    let deadline = time::deadline_after_ms(30_000);
    while STREAMED.load(Ordering::Relaxed) < STREAM {
        assert!(!time::passed(deadline), "stream incomplete");
        exec::block_on(async { yield_now().await });
    }
    let (sent, ipis, deepest) = stats;
    println!("streaming: {sent} sends, {ipis} IPIs ({:.2}% avoided), deepest ring {deepest}", 100.0 * (sent - ipis) as f64 / sent as f64);
    assert!(ipis * 10 < sent, "most streaming sends avoid the IPI");
}

/// A passive send to a halted CPU must not wait for a drain that never comes
/// (timers are tickless): the receiver's idle flag makes the sender owe it a
/// kick within `ipiq::PASSIVE_KICK_US`.
fn passive_send_to_an_idle_cpu_arrives() {
    let n = smp::online();
    if testing::skip_unless_cpus(2) {
        return;
    }
    static ARRIVED: AtomicU64 = AtomicU64::new(0);
    fn on_passive(_: CpuId, _: usize) {
        ARRIVED.fetch_add(1, Ordering::Release);
    }
    let mut worst = core::time::Duration::ZERO;
    for round in 1..=20u64 {
        let target = cpu(1 + (round as usize % (n - 1)));
        // Let every other CPU go idle (nothing runs there).
        exec::block_on(time::sleep(core::time::Duration::from_millis(5)));
        let sent = time::Instant::now();
        ipiq::send(target, on_passive, 0, Urgency::Passive);
        // The sender's loop owes the idle receiver a kick within
        // PASSIVE_KICK_US: wait the way tasks do, letting the loop run.
        exec::block_on(async move {
            while ARRIVED.load(Ordering::Acquire) < round {
                assert!(sent.elapsed().as_secs() < 1, "a passive message to idle {target} was not delivered within 1 s");
                time::sleep(core::time::Duration::from_micros(100)).await;
            }
        });
        worst = worst.max(sent.elapsed());
    }
    println!("passive to idle: 20 delivered, slowest after {} us", worst.as_micros());
}

/// Cancelling a `run_on` (dropping its future: here, a timeout) drops the
/// future on the other CPU too.
fn dropping_run_on_cancels_the_remote_future() {
    if testing::skip_unless_cpus(2) {
        return;
    }
    static STARTED: AtomicBool = AtomicBool::new(false);
    static DROPPED: AtomicBool = AtomicBool::new(false);
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            DROPPED.store(true, Ordering::Release);
        }
    }
    // Poll the `run_on` until its future has started on cpu1 (eventually:
    // at -smp 8 on a loaded host that can take a while), then drop it.
    let asked = time::Instant::now();
    let finished = exec::block_on(async move {
        let mut remote = core::pin::pin!(run_on::run_on(cpu(1), || async {
            let _guard = Guard;
            STARTED.store(true, Ordering::Release);
            time::sleep(core::time::Duration::from_secs(60)).await;
            1u32
        }));
        poll_fn(|cx| {
            if remote.as_mut().poll(cx).is_ready() {
                return Poll::Ready(true);
            }
            if STARTED.load(Ordering::Acquire) {
                return Poll::Ready(false);
            }
            assert!(asked.elapsed().as_secs() < 10, "the remote future did not start within 10 s");
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await
    });
    assert!(!finished, "the remote future cannot finish before its 60 s sleep");
    println!("run_on cancel: remote future started {} us after the call", asked.elapsed().as_micros());
    let since = time::Instant::now();
    exec::block_on(async move {
        while !DROPPED.load(Ordering::Acquire) {
            assert!(since.elapsed().as_secs() < 1, "the remote future was not dropped within 1 s of the cancel");
            time::sleep(core::time::Duration::from_micros(200)).await;
        }
    });
    println!("run_on cancel: remote future dropped {} us after the timeout", since.elapsed().as_micros());
}
