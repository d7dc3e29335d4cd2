//! `cargo bench -p executor`: Odonata's executor beside tokio's current-thread
//! runtime (`LocalSet`) and async-executor's `LocalExecutor`, same futures,
//! same process, best of several rounds. Prints ns per operation and ratios.
//!
//! 1. spawn + run + complete of 1,000,000 trivial tasks (handles detached);
//! 2. wake + poll ping-pong between two tasks (ns per wake+poll);
//! 3. bytes a task block adds around its future.

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

fn spawn_odonata() -> f64 {
    let ex = Executor::new(0, &HOOKS);
    let done = Rc::new(Cell::new(0));
    let start = Instant::now();
    for _ in 0..SPAWNS {
        drop(ex.spawn(trivial(Rc::clone(&done))));
    }
    ex.run_until_idle();
    let ns = start.elapsed().as_nanos() as f64 / SPAWNS as f64;
    assert_eq!(done.get(), SPAWNS);
    ns
}

fn spawn_tokio() -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let local = tokio::task::LocalSet::new();
    let done = Rc::new(Cell::new(0));
    let start = Instant::now();
    for _ in 0..SPAWNS {
        drop(local.spawn_local(trivial(Rc::clone(&done))));
    }
    rt.block_on(local);
    let ns = start.elapsed().as_nanos() as f64 / SPAWNS as f64;
    assert_eq!(done.get(), SPAWNS);
    ns
}

fn spawn_async_executor() -> f64 {
    let ex = async_executor::LocalExecutor::new();
    let done = Rc::new(Cell::new(0));
    let start = Instant::now();
    for _ in 0..SPAWNS {
        ex.spawn(trivial(Rc::clone(&done))).detach();
    }
    while ex.try_tick() {}
    let ns = start.elapsed().as_nanos() as f64 / SPAWNS as f64;
    assert_eq!(done.get(), SPAWNS);
    ns
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

fn main() {
    // `cargo test --benches` runs bench targets with --bench absent: keep it quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!("executor bench: run with `cargo bench -p executor`");
        return;
    }
    println!("best of {ROUNDS} rounds; {SPAWNS} spawns; {ROUND_TRIPS} ping-pong round trips\n");

    let ours = best_of(spawn_odonata);
    let tokio = best_of(spawn_tokio);
    let ae = best_of(spawn_async_executor);
    println!("spawn + run + complete (ns per task)");
    println!("  odonata         {ours:8.1}");
    println!("  tokio LocalSet  {tokio:8.1}   odonata/tokio          = {:.2}  (target <= 0.50)", ours / tokio);
    println!("  async-executor  {ae:8.1}   odonata/async-executor = {:.2}  (target <= 0.80)", ours / ae);

    let ours = best_of(pingpong_odonata);
    let tokio = best_of(pingpong_tokio);
    let ae = best_of(pingpong_async_executor);
    println!("\nwake + poll ping-pong (ns per wake+poll)");
    println!("  odonata         {ours:8.1}   (target <= 50)");
    println!("  tokio LocalSet  {tokio:8.1}   odonata/tokio          = {:.2}", ours / tokio);
    println!("  async-executor  {ae:8.1}   odonata/async-executor = {:.2}", ours / ae);

    println!(
        "\ntask block overhead: {} bytes around the future and output (target <= 64)",
        executor::overhead_bytes::<std::future::Ready<()>>()
    );
}
