//! `cargo bench -p executor --bench ipiq`: the IPI-queue rings between two
//! host threads, beside the bare cache-line exchanges they are made of.
//!
//! The kernel's benchmark (`images/bench/src/ipiq.rs`) runs under QEMU's
//! TCG, where a cache-line transfer is traffic between two emulator threads
//! and a `pause` leaves the translated code; these are the same three round
//! trips on the host's own cores and coherence hardware, so the ratios say
//! what the queue's design costs where a line transfer is the unit:
//!
//! 1. cache-line ping-pong round trip (one line each way),
//!
//!    1b. a payload line plus a pending word set with `fetch_or` and taken
//!    with `swap` (the least any queue with a pending mask does: two lines),
//! 2. a message and its reply through `executor::ipiq` (`try_send` passive,
//!    polling `drain`; the reply is sent from inside the drain's handler,
//!    as the kernel does).
//!
//! Best of several rounds each; the threads are not pinned (the host has two
//! cores here, and the two threads take one each).

#![cfg_attr(loom, allow(unused))]

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use executor::ipiq::{IpiQueues, Message, Urgency};

const ROUND_TRIPS: u64 = 200_000;
const ROUNDS: usize = 7;

#[repr(align(128))]
struct Padded<T>(T);

/// Runs `ping` (one round trip per call, on this thread) against `pong`
/// (on another thread, polling until `stop`), best of ROUNDS; ns per round
/// trip.
fn round_trips(ping: &mut dyn FnMut(u64), pong: &(dyn Fn(&AtomicBool) + Sync)) -> f64 {
    // On a line of its own: the other thread reads it on every turn, and
    // this thread's stack (the rings' endpoint, its counters) is written
    // on every round trip.
    let stop = Padded(AtomicBool::new(false));
    let stop = &stop.0;
    std::thread::scope(|s| {
        s.spawn(|| pong(stop));
        let mut best = f64::INFINITY;
        let mut n = 0;
        for _ in 0..ROUNDS {
            let t = Instant::now();
            for _ in 0..ROUND_TRIPS {
                ping(n);
                n += 1;
            }
            best = best.min(t.elapsed().as_nanos() as f64 / ROUND_TRIPS as f64);
        }
        stop.store(true, Ordering::Release);
        best
    })
}

fn cache_line() -> f64 {
    let line = Padded(AtomicU64::new(0));
    round_trips(
        &mut |n| {
            line.0.store(2 * n + 1, Ordering::Release);
            while line.0.load(Ordering::Acquire) != 2 * n + 2 {
                std::hint::spin_loop();
            }
        },
        &|stop| {
            while !stop.load(Ordering::Acquire) {
                let v = line.0.load(Ordering::Acquire);
                if v % 2 == 1 {
                    line.0.store(v + 1, Ordering::Release);
                }
                std::hint::spin_loop();
            }
        },
    )
}

fn masked() -> f64 {
    let pending = [Padded(AtomicU64::new(0)), Padded(AtomicU64::new(0))];
    let payload = [Padded(AtomicU64::new(0)), Padded(AtomicU64::new(0))];
    let send = |to: usize, v: u64| {
        payload[to].0.store(v, Ordering::Relaxed);
        pending[to].0.fetch_or(1, Ordering::SeqCst);
    };
    let poll = |me: usize| {
        let p = &pending[me].0;
        (p.load(Ordering::SeqCst) != 0 && p.swap(0, Ordering::SeqCst) != 0).then(|| payload[me].0.load(Ordering::Relaxed))
    };
    round_trips(
        &mut |n| {
            send(1, n);
            loop {
                if let Some(v) = poll(0) {
                    assert_eq!(v, n + 1);
                    break;
                }
                std::hint::spin_loop();
            }
        },
        &|stop| {
            while !stop.load(Ordering::Acquire) {
                if let Some(v) = poll(1) {
                    send(0, v + 1);
                }
                std::hint::spin_loop();
            }
        },
    )
}

fn rings() -> f64 {
    let queues = IpiQueues::new(2, 256);
    let replies = Cell::new(0u64);
    // SAFETY: endpoint 0 is taken once and used by this (the measuring)
    // thread alone; endpoint 1 likewise by the other thread.
    let ping = unsafe { queues.endpoint(0) }.expect("endpoint 0");
    round_trips(
        &mut |n| {
            let want = n + 1;
            let _ = ping.try_send(1, Message { func: 0, data: n as usize }, Urgency::Passive).expect("ring has room");
            while replies.get() < want {
                if queues.has_pending(0) {
                    let _ = ping.drain(|_, m| {
                        assert_eq!(m.data as u64, n + 1);
                        replies.set(want);
                    });
                }
                std::hint::spin_loop();
            }
        },
        &|stop| {
            // SAFETY: see endpoint 0 above.
            let ep = unsafe { queues.endpoint(1) }.expect("endpoint 1");
            while !stop.load(Ordering::Acquire) {
                if queues.has_pending(1) {
                    let _ = ep.drain(|_, m| {
                        let _ = ep.try_send(0, Message { func: 0, data: m.data + 1 }, Urgency::Passive).expect("ring has room");
                    });
                }
                std::hint::spin_loop();
            }
        },
    )
}

fn main() {
    if cfg!(loom) {
        return;
    }
    let c = cache_line();
    let m = masked();
    let r = rings();
    println!("IPI-queue rings between two host threads (best of {ROUNDS} x {ROUND_TRIPS} round trips)");
    println!("| measurement | ns | ratio |\n|---|---|---|");
    println!("| 1. cache-line ping-pong round trip | {c:.1} | |");
    println!("| 1b. payload line + pending word round trip | {m:.1} | (1b)/(1) = {:.2} |", m / c);
    println!("| 2. ring round trip (executor::ipiq, polling) | {r:.1} | (2)/(1) = {:.2}, (2)/(1b) = {:.2} |", r / c, r / m);
}
