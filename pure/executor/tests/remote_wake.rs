//! The kernel's main cross-CPU wake path, on host threads: the executor's
//! `remote_wake` hook sends each wake of another thread's task through the
//! IPI-queue rings, and the owner's loop takes it from its rings with
//! `Executor::wake_message`, as `kernel/src/exec.rs` wires them. Threads
//! stand for CPUs; a thread halts (parks) only after it found nothing in its
//! executor and nothing pending in its rings, and a simulated IPI unparks
//! it, so a lost wake leaves a thread parked: a bound on each park fails
//! the test instead of hanging it.

use std::cell::RefCell;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use executor::ipiq::{Endpoint, IpiQueues, Message, QueueStats, Signal, Urgency};
use executor::{Executor, Hooks};

/// Longer than any honest wait on a loaded 2-core machine.
const PARK_BOUND: Duration = Duration::from_secs(10);

struct Machine {
    queues: IpiQueues,
    threads: Mutex<Vec<Option<Thread>>>,
    /// Wakes that took the wake stack and `Hooks::signal` instead of a
    /// message (the interrupt-context path; none are expected here).
    signals: AtomicU64,
}

impl Machine {
    /// The simulated IPI: unpark the thread (an unpark before its park is
    /// kept, as a pending interrupt ends the next `hlt`).
    fn raise(&self, cpu: usize) {
        if let Some(t) = &self.threads.lock().unwrap()[cpu] {
            t.unpark();
        }
    }
}

/// What this thread (a CPU) is: its id, its machine, its endpoint and its
/// executor. The hooks are plain `fn`s, so they find these here.
struct Cpu {
    id: usize,
    machine: Arc<Machine>,
    endpoint: *const Endpoint<'static>,
    executor: *const Executor,
}

thread_local! {
    static CPU: RefCell<Option<Cpu>> = const { RefCell::new(None) };
}

fn with_cpu<R>(f: impl FnOnce(&Cpu) -> R) -> R {
    CPU.with(|c| f(c.borrow().as_ref().expect("a CPU thread")))
}

fn hook_current() -> Option<usize> {
    CPU.with(|c| c.borrow().as_ref().map(|c| c.id))
}

fn hook_signal(owner: usize) {
    with_cpu(|c| {
        c.machine.signals.fetch_add(1, Ordering::Relaxed);
        c.machine.raise(owner);
    });
}

/// The kernel's `hook_remote_wake`: the wake as a message to its owner.
fn hook_remote_wake(owner: usize, task: usize) -> bool {
    with_cpu(|c| {
        // SAFETY: the endpoint lives on this thread's stack for as long as
        // the thread runs tasks, and only this thread uses it.
        let ep = unsafe { &*c.endpoint };
        let signal = ep.send(owner, Message { func: 0, data: task }, Urgency::Active, |ep, full| {
            if full.raise_ipi {
                c.machine.raise(full.to);
            }
            drain(ep, c);
            thread::yield_now();
        });
        if signal == Signal::SendIpi {
            c.machine.raise(owner);
        }
    });
    true
}

static HOOKS: Hooks = Hooks { current: hook_current, signal: hook_signal, now: || 0, remote_wake: hook_remote_wake };

/// Drains this CPU's rings: each message is a wake for its executor.
fn drain(ep: &Endpoint<'_>, c: &Cpu) {
    let drained = ep.drain(|_, msg| {
        // SAFETY: the executor lives on this thread's stack while it runs;
        // `msg.data` is the word `remote_wake` was given for a task of this
        // executor, and each message is delivered once.
        unsafe { (*c.executor).wake_message(msg.data) };
    });
    let mut waiting = drained.room_for;
    while waiting != 0 {
        let s = waiting.trailing_zeros() as usize;
        waiting &= waiting - 1;
        c.machine.raise(s);
    }
}

/// Whose turn it is, and each CPU's parked waker.
struct Token {
    turn: AtomicUsize,
    wakers: Vec<Mutex<Option<Waker>>>,
}

/// `cpus` threads pass a token round `rounds` times; each pass wakes the
/// next CPU's task from another thread. Returns each CPU's executor and
/// queue counters.
fn pass_the_token(cpus: usize, capacity: usize, rounds: usize) -> Vec<(executor::Stats, QueueStats)> {
    let machine =
        Arc::new(Machine { queues: IpiQueues::new(cpus, capacity), threads: Mutex::new(vec![None; cpus]), signals: AtomicU64::new(0) });
    let token = Arc::new(Token { turn: AtomicUsize::new(0), wakers: (0..cpus).map(|_| Mutex::new(None)).collect() });
    let finished = Arc::new(AtomicUsize::new(0));
    let ready = Arc::new(std::sync::Barrier::new(cpus));
    let threads: Vec<_> = (0..cpus)
        .map(|me| {
            let (machine, token, finished, ready) = (Arc::clone(&machine), Arc::clone(&token), Arc::clone(&finished), Arc::clone(&ready));
            thread::spawn(move || {
                machine.threads.lock().unwrap()[me] = Some(thread::current());
                // SAFETY: this thread is CPU `me`'s only user (the IPI
                // handler of a real CPU does not touch the endpoint).
                let ep = unsafe { machine.queues.endpoint(me) }.expect("one endpoint per CPU");
                // SAFETY: the hooks reach the endpoint through `CPU`, which is
                // cleared before the thread ends; the endpoint stays on this
                // stack and the queues it borrows in `machine` until then.
                let ep: &Endpoint<'static> = unsafe { std::mem::transmute::<&Endpoint<'_>, &Endpoint<'static>>(&ep) };
                let ex = Executor::new(me, &HOOKS);
                CPU.with(|c| {
                    *c.borrow_mut() = Some(Cpu { id: me, machine: Arc::clone(&machine), endpoint: ep, executor: &ex });
                });
                ready.wait();
                let t = Arc::clone(&token);
                let task = ex.spawn(async move {
                    for _ in 0..rounds {
                        poll_fn(|cx| {
                            // Register, then look: the passer sets `turn`
                            // before it takes the waker.
                            *t.wakers[me].lock().unwrap() = Some(cx.waker().clone());
                            if t.turn.load(Ordering::Acquire) == me { Poll::Ready(()) } else { Poll::Pending }
                        })
                        .await;
                        let next = (me + 1) % t.wakers.len();
                        t.turn.store(next, Ordering::Release);
                        if let Some(w) = t.wakers[next].lock().unwrap().take() {
                            w.wake();
                        }
                    }
                });
                let mut counted = false;
                loop {
                    with_cpu(|c| drain(ep, c));
                    ex.tick();
                    if !counted && task.is_finished() {
                        counted = true;
                        if finished.fetch_add(1, Ordering::AcqRel) + 1 == cpus {
                            (0..cpus).for_each(|c| machine.raise(c));
                        }
                    }
                    if finished.load(Ordering::Acquire) == cpus && !machine.queues.has_pending(me) {
                        break;
                    }
                    if ex.has_work() || machine.queues.has_pending(me) {
                        continue;
                    }
                    let parked = Instant::now();
                    thread::park_timeout(PARK_BOUND);
                    if parked.elapsed() >= PARK_BOUND && finished.load(Ordering::Acquire) < cpus {
                        panic!("cpu{me} parked for {PARK_BOUND:?} with its task unfinished: a lost wake");
                    }
                }
                let out = (ex.stats(), ep.stats());
                CPU.with(|c| c.borrow_mut().take());
                out
            })
        })
        .collect();
    let out: Vec<_> = threads.into_iter().map(|t| t.join().expect("a CPU thread panicked")).collect();
    assert_eq!(machine.signals.load(Ordering::Relaxed), 0, "every wake came from task context: none took the wake stack");
    out
}

fn check(cpus: usize, capacity: usize, rounds: usize) {
    let start = Instant::now();
    let stats = pass_the_token(cpus, capacity, rounds);
    let wakes: u64 = stats.iter().map(|(ex, _)| ex.remote_wakes).sum();
    let sent: u64 = stats.iter().map(|(_, q)| q.sent).sum();
    let received: u64 = stats.iter().map(|(_, q)| q.received).sum();
    println!("{cpus} CPUs, rings of {capacity}: {rounds} rounds, {wakes} remote wakes in {:?}", start.elapsed());
    assert_eq!(sent, received, "every wake message was taken");
    assert_eq!(wakes, received, "each message was one remote wake");
    // Every pass but the very first needs the next task woken from another
    // thread; a wake can coalesce or find the task still running, so not
    // every pass sends one, but most do.
    let passes = (cpus * rounds) as u64;
    assert!(wakes <= passes && wakes * 2 >= passes, "{wakes} remote wakes for {passes} passes");
}

#[test]
fn a_token_passed_between_two_cpus_is_woken_through_the_rings() {
    check(2, 256, 20_000);
}

#[test]
fn four_cpus_through_rings_of_two() {
    check(4, 2, 5_000);
}
