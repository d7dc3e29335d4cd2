//! `cargo bench -p executor`: Odonata's executor beside tokio's current-thread
//! runtime (`LocalSet`) and async-executor's `LocalExecutor`, same futures,
//! same process, best of several rounds. Prints ns per operation and ratios.
//!
//! 1. spawn + run + complete of 1,000,000 trivial tasks (handles detached),
//!    and the same with futures carrying 128 bytes of state (no target: it
//!    shows the cost once the blocks leave the allocator's small sizes);
//! 2. wake + poll ping-pong between two tasks (ns per wake+poll);
//! 3. bytes a task block adds around its future.
//!
//! Each executor's run of each workload happens in a child process of its
//! own (this binary, `--child NAME`), so the allocator state one leaves
//! behind cannot help or hurt the next.

#![cfg_attr(loom, allow(unused))]

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use executor::{Executor, Hooks};

const SPAWNS: u64 = 1_000_000;
const ROUND_TRIPS: u64 = 1_000_000;
const ROUNDS: usize = 5;

static HOOKS: Hooks = Hooks {
    current: || Some(0),
    signal: |_| {},
    // What the kernel uses: the TSC.
    // SAFETY: RDTSC has no preconditions.
    now: || unsafe { core::arch::x86_64::_rdtsc() },
    remote_wake: |_, _| false,
};

fn best_of(mut f: impl FnMut() -> f64) -> f64 {
    (0..ROUNDS).map(|_| f()).fold(f64::INFINITY, f64::min)
}

// ---- 1. spawn + run + complete ----

async fn trivial(counter: Rc<Cell<u64>>) {
    counter.set(counter.get() + 1)
}

/// A task whose future carries 128 bytes of state: the block no longer fits
/// the allocator's small-size fast path for any of the three executors.
async fn carrying(counter: Rc<Cell<u64>>, load: [u64; 16]) {
    std::future::ready(()).await;
    counter.set(counter.get() + std::hint::black_box(load)[15] + 1)
}

/// The future a spawn workload spawns: trivial, or carrying 128 bytes.
trait Make: Copy {
    fn make(self, counter: &Rc<Cell<u64>>) -> impl Future<Output = ()> + 'static;
}

#[derive(Clone, Copy)]
struct Trivial;
impl Make for Trivial {
    fn make(self, counter: &Rc<Cell<u64>>) -> impl Future<Output = ()> + 'static {
        trivial(Rc::clone(counter))
    }
}

#[derive(Clone, Copy)]
struct Carrying;
impl Make for Carrying {
    fn make(self, counter: &Rc<Cell<u64>>) -> impl Future<Output = ()> + 'static {
        carrying(Rc::clone(counter), [0; 16])
    }
}

fn per_spawn(start: Instant, done: &Cell<u64>) -> f64 {
    let ns = start.elapsed().as_nanos() as f64 / SPAWNS as f64;
    assert_eq!(done.get(), SPAWNS);
    ns
}

fn spawn_odonata(m: impl Make) -> f64 {
    let ex = Executor::new(0, &HOOKS);
    let done = Rc::new(Cell::new(0));
    let start = Instant::now();
    for _ in 0..SPAWNS {
        drop(ex.spawn(m.make(&done)));
    }
    ex.run_until_idle();
    per_spawn(start, &done)
}

fn spawn_tokio(m: impl Make) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let local = tokio::task::LocalSet::new();
    let done = Rc::new(Cell::new(0));
    let start = Instant::now();
    for _ in 0..SPAWNS {
        drop(local.spawn_local(m.make(&done)));
    }
    rt.block_on(local);
    per_spawn(start, &done)
}

fn spawn_async_executor(m: impl Make) -> f64 {
    let ex = async_executor::LocalExecutor::new();
    let done = Rc::new(Cell::new(0));
    let start = Instant::now();
    for _ in 0..SPAWNS {
        ex.spawn(m.make(&done)).detach();
    }
    while ex.try_tick() {}
    per_spawn(start, &done)
}

// ---- 2. wake + poll ping-pong ----

/// Shared by the two players: whose turn it is and the other side's waker.
#[derive(Default)]
struct Table {
    turn: Cell<u8>,
    wakers: RefCell<[Option<Waker>; 2]>,
    rallies: Cell<u64>,
}

/// Player `me` waits for its turn, hands the turn over and wakes the other.
struct Player {
    me: u8,
    table: Rc<Table>,
}

impl Future for Player {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let t = &self.table;
        if t.rallies.get() >= ROUND_TRIPS * 2 {
            // Wake the other so it can finish too.
            if let Some(w) = t.wakers.borrow_mut()[usize::from(1 - self.me)].take() {
                w.wake();
            }
            return Poll::Ready(());
        }
        if t.turn.get() == self.me {
            t.turn.set(1 - self.me);
            t.rallies.set(t.rallies.get() + 1);
            if let Some(w) = t.wakers.borrow_mut()[usize::from(1 - self.me)].take() {
                w.wake();
            }
        }
        let mut wakers = t.wakers.borrow_mut();
        match &mut wakers[usize::from(self.me)] {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

fn players() -> (Player, Player, Rc<Table>) {
    let table = Rc::new(Table::default());
    (Player { me: 0, table: Rc::clone(&table) }, Player { me: 1, table: Rc::clone(&table) }, table)
}

/// ns per wake + poll (each rally is one wake and one poll).
fn per_rally(start: Instant, table: &Table) -> f64 {
    assert!(table.rallies.get() >= ROUND_TRIPS * 2);
    start.elapsed().as_nanos() as f64 / table.rallies.get() as f64
}

fn pingpong_odonata() -> f64 {
    let ex = Executor::new(0, &HOOKS);
    let (a, b, table) = players();
    let start = Instant::now();
    drop(ex.spawn(a));
    drop(ex.spawn(b));
    ex.run_until_idle();
    per_rally(start, &table)
}

fn pingpong_tokio() -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let local = tokio::task::LocalSet::new();
    let (a, b, table) = players();
    let start = Instant::now();
    drop(local.spawn_local(a));
    drop(local.spawn_local(b));
    rt.block_on(local);
    per_rally(start, &table)
}

fn pingpong_async_executor() -> f64 {
    let ex = async_executor::LocalExecutor::new();
    let (a, b, table) = players();
    let start = Instant::now();
    ex.spawn(a).detach();
    ex.spawn(b).detach();
    while ex.try_tick() {}
    per_rally(start, &table)
}

/// The workloads, by the name a child process is asked to run.
type Workload = (&'static str, fn() -> f64);

const WORKLOADS: [Workload; 9] = [
    ("spawn-odonata", || spawn_odonata(Trivial)),
    ("spawn-tokio", || spawn_tokio(Trivial)),
    ("spawn-async-executor", || spawn_async_executor(Trivial)),
    ("spawn128-odonata", || spawn_odonata(Carrying)),
    ("spawn128-tokio", || spawn_tokio(Carrying)),
    ("spawn128-async-executor", || spawn_async_executor(Carrying)),
    ("pingpong-odonata", pingpong_odonata),
    ("pingpong-tokio", pingpong_tokio),
    ("pingpong-async-executor", pingpong_async_executor),
];

/// Runs one workload in a fresh process of this binary and returns its best
/// round. A process each: the allocator's free lists and trimmed pages
/// decide much of a spawn's cost, and one executor's leftovers must not
/// speed up or slow down the next one measured.
fn in_child(name: &str) -> f64 {
    let exe = std::env::current_exe().expect("the bench binary's path");
    let out = std::process::Command::new(exe).args(["--bench", "--child", name]).output().expect("run a bench child");
    assert!(out.status.success(), "bench child {name} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).ok().and_then(|s| s.trim().parse().ok()).expect("a number from the bench child")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --benches` runs bench targets with --bench absent: keep it quick.
    if !args.iter().any(|a| a == "--bench") {
        println!("executor bench: run with `cargo bench -p executor`");
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let name = args.get(i + 1).expect("--child NAME");
        let (_, run) = WORKLOADS.iter().find(|(n, _)| n == name).expect("a known workload");
        println!("{}", best_of(*run));
        return;
    }
    println!("best of {ROUNDS} rounds, each executor in its own process; {SPAWNS} spawns; {ROUND_TRIPS} ping-pong round trips\n");

    let [ours, tokio, ae] = ["spawn-odonata", "spawn-tokio", "spawn-async-executor"].map(in_child);
    println!("spawn + run + complete (ns per task)");
    println!("  odonata         {ours:8.1}");
    println!("  tokio LocalSet  {tokio:8.1}   odonata/tokio          = {:.2}  (target <= 0.50)", ours / tokio);
    println!("  async-executor  {ae:8.1}   odonata/async-executor = {:.2}  (target <= 0.80)", ours / ae);

    let [ours, tokio, ae] = ["spawn128-odonata", "spawn128-tokio", "spawn128-async-executor"].map(in_child);
    println!("\nspawn + run + complete, future carrying 128 bytes (ns per task)");
    println!("  odonata         {ours:8.1}");
    println!("  tokio LocalSet  {tokio:8.1}   odonata/tokio          = {:.2}", ours / tokio);
    println!("  async-executor  {ae:8.1}   odonata/async-executor = {:.2}", ours / ae);

    let [ours, tokio, ae] = ["pingpong-odonata", "pingpong-tokio", "pingpong-async-executor"].map(in_child);
    println!("\nwake + poll ping-pong (ns per wake+poll)");
    println!("  odonata         {ours:8.1}   (target <= 50)");
    println!("  tokio LocalSet  {tokio:8.1}   odonata/tokio          = {:.2}", ours / tokio);
    println!("  async-executor  {ae:8.1}   odonata/async-executor = {:.2}", ours / ae);

    println!(
        "\ntask block overhead: {} bytes around the future and output (target <= 64)",
        executor::overhead_bytes::<std::future::Ready<()>>()
    );
}
