//! Message ports across every CPU: a server on each CPU answers calls from
//! every other CPU, each exactly once; calls aborted at random points leak
//! nothing (the heap returns to where it was) and get no second answer.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::vec::Vec;
use core::future::{Future, poll_fn};
use core::pin::pin;
use core::sync::atomic::{AtomicU64, Ordering};
use core::task::Poll;

use kernel::port::{self, PortRef};
use kernel::smp::{self, CpuId, MAX_CPUS};
use kernel::{exec, println, run_on, testing, time};

kernel::test_kernel![calls_from_every_cpu_to_every_other_are_answered_once, aborted_calls_leak_nothing_and_get_one_answer];

type Handle = PortRef<(usize, u64), u64>;

static SERVED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Answers that found their caller gone (aborted) and were dropped.
static DISCARDED: AtomicU64 = AtomicU64::new(0);

fn cpu(n: usize) -> CpuId {
    CpuId::try_new(n).expect("online")
}

fn answer(from: usize, k: u64) -> u64 {
    k.wrapping_mul(3) ^ from as u64
}

/// Starts a server on every CPU; returns a handle to each and the joins of
/// the server tasks (they end once every handle is gone).
fn start_servers() -> (Vec<Handle>, Vec<exec::JoinHandle<()>>) {
    let mut handles = Vec::new();
    let mut servers = Vec::new();
    for c in 0..smp::online() {
        let (h, s) = exec::block_on(run_on::run_on(cpu(c), move || async move {
            let (mut p, h) = port::new::<(usize, u64), u64>(64);
            let server = exec::spawn_named("port-server", async move {
                while let Some(m) = p.recv().await {
                    let (&(from, k), me) = (m.request(), smp::current().as_usize());
                    SERVED[me].fetch_add(1, Ordering::Relaxed);
                    let (_, answerer) = m.take();
                    if !answerer.reply(answer(from, k)) {
                        DISCARDED.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            (h, server)
        }));
        handles.push(h);
        servers.push(s);
    }
    (handles, servers)
}

/// `TASKS` tasks on every CPU, each making `per_task` calls to the other
/// CPUs' servers in turn; `abort(k)` gives how many polls call `k` gets
/// before it is dropped (`None`: to completion). Returns (answered, aborted).
fn call_everywhere(handles: &[Handle], per_task: u64, abort: fn(u64) -> Option<u32>) -> (u64, u64) {
    const TASKS: usize = 8;
    let n = smp::online();
    let handles = handles.to_vec();
    exec::block_on(async move {
        let mut tasks = Vec::new();
        for c in 0..n {
            for t in 0..TASKS {
                let targets = handles.clone();
                tasks.push(run_on::spawn_on(cpu(c), async move {
                    let me = smp::current().as_usize();
                    let (mut answered, mut aborted) = (0u64, 0u64);
                    for k in 0..per_task {
                        let to = (me + 1 + (k as usize + t) % (n - 1)) % n;
                        let call = targets[to].call((me, k));
                        match abort(k + t as u64 * per_task) {
                            None => {
                                assert_eq!(call.await, Ok(answer(me, k)), "the answer to call {k} from cpu{me} to cpu{to}");
                                answered += 1;
                            }
                            Some(polls) => match poll_at_most(call, polls).await {
                                Some(reply) => {
                                    assert_eq!(reply, Ok(answer(me, k)));
                                    answered += 1;
                                }
                                None => aborted += 1,
                            },
                        }
                    }
                    (answered, aborted)
                }));
            }
        }
        let mut total = (0, 0);
        for t in tasks {
            let (a, b) = t.await.expect("a caller finished");
            total = (total.0 + a, total.1 + b);
        }
        total
    })
}

/// Polls `f` at most `polls` times (yielding between), then drops it.
async fn poll_at_most<F: Future>(f: F, polls: u32) -> Option<F::Output> {
    let mut f = pin!(f);
    for _ in 0..polls.max(1) {
        if let Poll::Ready(v) = poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx))).await {
            return Some(v);
        }
        exec::yield_now().await;
    }
    None
}

fn served() -> u64 {
    SERVED.iter().map(|s| s.load(Ordering::Relaxed)).sum()
}

fn stop(handles: Vec<Handle>, servers: Vec<exec::JoinHandle<()>>) {
    drop(handles);
    exec::block_on(async move {
        for s in servers {
            s.await.expect("a server ended");
        }
    });
}

fn calls_from_every_cpu_to_every_other_are_answered_once() {
    if testing::skip_unless_cpus(2) {
        return;
    }
    const PER_CPU: u64 = 100_000;
    let n = smp::online() as u64;
    let start = time::Instant::now();
    let before = served();
    let (handles, servers) = start_servers();
    let (answered, aborted) = call_everywhere(&handles, PER_CPU / 8, |_| None);
    stop(handles, servers);
    assert_eq!((answered, aborted), (PER_CPU * n, 0));
    assert_eq!(served() - before, PER_CPU * n, "every call served exactly once");
    println!("ports: {n} CPUs x {PER_CPU} calls to the other CPUs' servers, each answered once, in {} ms", start.elapsed().as_millis());
}

/// Call `k` is aborted after 1-3 polls when a hash of `k` says so (about
/// half of them), else awaited.
fn random_abort(k: u64) -> Option<u32> {
    let h = k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 59;
    (h & 1 == 0).then_some(1 + (h >> 1) as u32 % 3)
}

fn aborted_calls_leak_nothing_and_get_one_answer() {
    if testing::skip_unless_cpus(2) {
        return;
    }
    // A first round warms whatever grows once (rings set aside, queues).
    let (handles, servers) = start_servers();
    call_everywhere(&handles, 500, random_abort);
    stop(handles, servers);
    let heap_before = testing::settled_heap_used();
    let (served_before, discarded_before) = (served(), DISCARDED.load(Ordering::Relaxed));
    let (handles, servers) = start_servers();
    let (answered, aborted) = call_everywhere(&handles, 2_000, random_abort);
    stop(handles, servers);
    let heap_after = testing::settled_heap_used();
    let served = served() - served_before;
    let discarded = DISCARDED.load(Ordering::Relaxed) - discarded_before;
    println!(
        "aborts: {answered} answered, {aborted} aborted; the servers answered {served}, {discarded} of them to a caller that had gone; heap {heap_before} -> {heap_after} bytes"
    );
    assert!(aborted > 0, "some calls were aborted");
    // Each served message had one answer: taken by its caller, or dropped
    // (by the server, the caller gone; or by the caller, gone after the
    // answer came). An abort before the message left (the port full) is
    // never served.
    assert!(served >= answered + discarded, "an answered call was served once, its answer not dropped too");
    assert!(served <= answered + aborted, "no call served twice");
    assert!(discarded <= aborted, "only aborted calls lose their answer");
    assert_eq!(heap_after, heap_before, "nothing leaked");
}
