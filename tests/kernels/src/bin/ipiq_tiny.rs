//! Rings of 4 messages. Every CPU floods CPU 0: senders wait on full rings
//! (draining their own) and everything arrives: no deadlock, no loss. Then a
//! sender facing a receiver that does not drain for a while halts instead
//! of spinning, and resumes once the receiver drains. Then CPU 0 answers
//! every message from its handler: its replies find full rings, so their
//! sends drain CPU 0's inbox from inside the drain that runs the handler,
//! and every message must still arrive once, in order.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use kernel::exec::{self, yield_now};
use kernel::ipiq::{self, Urgency};
use kernel::run_on;
use kernel::smp::{self, CpuId, MAX_CPUS};
use kernel::{println, time};

kernel::test_kernel![
    all_to_one_flood_with_rings_of_4_finishes,
    a_sender_halts_for_room_while_its_receiver_is_busy,
    replies_sent_from_handlers_on_full_rings_arrive_once_in_order
];

static GOT: AtomicU64 = AtomicU64::new(0);

fn on_message(_: CpuId, _: usize) {
    GOT.fetch_add(1, Ordering::Relaxed);
}

fn all_to_one_flood_with_rings_of_4_finishes() {
    ipiq::set_capacity(4);
    let n = smp::online();
    const PER_CPU: u64 = 20_000;
    let full_waits = exec::block_on(run_on::broadcast(|| async {
        // Sends on rings of 4 wait in the poll: long by design.
        exec::allow_long_polls();
        if smp::current() != CpuId::BOOT {
            for k in 0..PER_CPU {
                ipiq::send(CpuId::BOOT, on_message, k as usize, Urgency::Active);
            }
        }
        ipiq::stats().full_waits
    }));
    let want = PER_CPU * (n as u64 - 1);
    let deadline = time::deadline_after_ms(60_000);
    while GOT.load(Ordering::Relaxed) < want {
        assert!(!time::passed(deadline), "{} of {want} arrived", GOT.load(Ordering::Relaxed));
        exec::block_on(async { yield_now().await });
    }
    let waits: u64 = full_waits.iter().sum();
    println!("all-to-one: {want} messages through rings of 4, {waits} full-ring waits");
    assert!(n < 2 || waits > 0, "the rings filled up");
}

static BUSY_STARTED: AtomicBool = AtomicBool::new(false);
static TO_BUSY: AtomicU64 = AtomicU64::new(0);

fn on_busy_message(_: CpuId, _: usize) {
    TO_BUSY.fetch_add(1, Ordering::Relaxed);
}

/// CPU 1 runs a task that does not yield for 30 ms (so its rings are not
/// drained) while this CPU sends it 200 messages through a ring of 4: the
/// send must halt (not spin for 30 ms), then finish once CPU 1 drains. The
/// bound on one halt is raised to 5 s, so only CPU 1's notice (an IPI after
/// its drain) can end the halts in time: the sends must finish within 2 s.
fn a_sender_halts_for_room_while_its_receiver_is_busy() {
    let busy_cpu = CpuId::try_new(1).expect("cpu1");
    const MESSAGES: u64 = 200;
    ipiq::set_halt_for_room_bound_us(5_000_000);
    let (halts, took) = exec::block_on(async move {
        let busy = run_on::spawn_on(busy_cpu, async {
            BUSY_STARTED.store(true, Ordering::Release);
            time::delay_us(30_000);
        });
        while !BUSY_STARTED.load(Ordering::Acquire) {
            yield_now().await;
        }
        let before = ipiq::halts_for_room();
        let start = time::Instant::now();
        for k in 0..MESSAGES {
            ipiq::send(busy_cpu, on_busy_message, k as usize, Urgency::Active);
        }
        let took = start.elapsed();
        let halts = ipiq::halts_for_room() - before;
        busy.await.expect("the busy task completes");
        (halts, took)
    });
    ipiq::set_halt_for_room_bound_us(ipiq::DEFAULT_HALT_FOR_ROOM_US);
    let deadline = time::deadline_after_ms(10_000);
    while TO_BUSY.load(Ordering::Relaxed) < MESSAGES {
        assert!(!time::passed(deadline), "{} of {MESSAGES} arrived", TO_BUSY.load(Ordering::Relaxed));
        exec::block_on(async { yield_now().await });
    }
    println!("busy receiver: {MESSAGES} messages arrived, the sender halted {halts} times for room, sends took {took:?}");
    assert!(halts > 0, "the sender spun instead of halting");
    assert!(took.as_secs() < 2, "halts were ended by their bound, not by the receiver's notice ({took:?})");
}

const ECHOES: usize = 5_000;
/// On CPU 0: the next ping expected from each CPU.
static NEXT_PING: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];
/// On each CPU: the next pong expected from CPU 0.
static NEXT_PONG: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];
/// Messages that arrived twice, early or out of order.
static OUT_OF_ORDER: AtomicU64 = AtomicU64::new(0);

fn expect_next(next: &AtomicUsize, k: usize) {
    if next.load(Ordering::Relaxed) != k {
        OUT_OF_ORDER.fetch_add(1, Ordering::Relaxed);
    }
    next.store(k + 1, Ordering::Relaxed);
}

/// CPU 0, in its drain: check the ping, answer it (a send that may find
/// its ring full and drain this inbox while it waits).
fn on_ping(from: CpuId, k: usize) {
    expect_next(&NEXT_PING[from.as_usize()], k);
    ipiq::send(from, on_pong, k, Urgency::Active);
}

fn on_pong(_: CpuId, k: usize) {
    expect_next(&NEXT_PONG[smp::current().as_usize()], k);
}

fn replies_sent_from_handlers_on_full_rings_arrive_once_in_order() {
    let n = smp::online();
    let waits = exec::block_on(run_on::broadcast(|| async {
        exec::allow_long_polls(); // sends on full rings wait in the poll
        let me = smp::current();
        let before = ipiq::stats().full_waits;
        if me == CpuId::BOOT {
            let want = ECHOES * (smp::online() - 1);
            let deadline = time::deadline_after_ms(60_000);
            while (1..smp::online()).map(|c| NEXT_PING[c].load(Ordering::Relaxed)).sum::<usize>() < want {
                assert!(!time::passed(deadline), "pings did not all arrive");
                yield_now().await;
            }
        } else {
            for k in 0..ECHOES {
                ipiq::send(CpuId::BOOT, on_ping, k, Urgency::Active);
            }
            let deadline = time::deadline_after_ms(60_000);
            while NEXT_PONG[me.as_usize()].load(Ordering::Relaxed) < ECHOES {
                assert!(!time::passed(deadline), "pongs did not all arrive");
                yield_now().await;
            }
        }
        let s = ipiq::stats();
        (s.full_waits - before, s.deferred, s.deepest_deferred)
    }));
    let (nested, deferred, deepest) = waits[0];
    println!(
        "echo: {} pings and as many pongs through rings of 4; cpu0's replies waited on a full ring {nested} times, setting {deferred} messages aside (at most {deepest} at once)",
        ECHOES * (n - 1)
    );
    assert_eq!(OUT_OF_ORDER.load(Ordering::Relaxed), 0, "messages repeated, lost or reordered");
    for c in 1..n {
        assert_eq!(NEXT_PING[c].load(Ordering::Relaxed), ECHOES, "pings from cpu{c}");
        assert_eq!(NEXT_PONG[c].load(Ordering::Relaxed), ECHOES, "pongs to cpu{c}");
    }
    assert!(nested > 0, "no reply found its ring full: the test did not drain inside a drain");
}
