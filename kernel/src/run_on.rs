//! Cross-CPU work as futures: [`spawn_on`], [`run_on`] and [`broadcast`],
//! over the IPI queues (`ipiq`).
//!
//! Data flow of `spawn_on(cpu, fut)`: the task is allocated here
//! (`RemoteSpawner::prepare`: one allocation, its `JoinHandle` stays here),
//! its `Adopt` token goes into ring[here][cpu] as a message, and only a
//! 0 -> 1 latch swap raises the hardware IPI. The target's loop drains its
//! rings in task context and adopts the task into its run queue; futures
//! are never polled in interrupt context. The task's output reaches the
//! caller through the `JoinHandle`, whose wake travels back to the caller's
//! CPU as a message too (`exec`'s remote-wake hook).
//!
//! `run_on(cpu, f)` sends only the closure: the future `f()` makes is made,
//! polled and dropped on `cpu` (`RemoteSpawner::prepare_with`), so it need
//! not be `Send`. Dropping a `run_on` or `broadcast` future aborts the task
//! on the other CPU (its future is dropped there), as dropping any future
//! cancels its work.

use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use executor::{Adopt, JoinError, JoinHandle, Spawn};

use crate::arch::cpu_id::CpuId;
use crate::{exec, ipiq, smp};

fn adopt(_from: CpuId, token: usize) {
    // SAFETY: `spawn_on` sent `Adopt::into_raw` for a task made for this
    // CPU's executor; each message is delivered once.
    exec::this().adopt(unsafe { Adopt::from_raw(token) });
}

fn spawner(cpu: CpuId) -> executor::RemoteSpawner {
    exec::remote_spawner(cpu).unwrap_or_else(|| panic!("{cpu} runs no executor"))
}

/// Spawns `future` on `cpu`; the task lives there from now on.
pub fn spawn_on<F>(cpu: CpuId, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_on_named(cpu, "spawn_on", future)
}

/// [`spawn_on`] with a task name (what `ps` shows).
pub fn spawn_on_named<F>(cpu: CpuId, name: &'static str, future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if cpu == smp::current() {
        return exec::spawn_named(name, future);
    }
    let (handle, token) = spawner(cpu).prepare(Spawn { name: Some(name), ..Spawn::default() }, future);
    ipiq::send(cpu, adopt, token.into_raw(), ipiq::Urgency::Active);
    handle
}

/// Spawns on `cpu` a task named `name` whose future `make()` builds there,
/// at its first poll: one task, and the future need not be `Send` (only
/// what `make` captures travels).
pub fn spawn_made_on<M, Fut>(cpu: CpuId, name: &'static str, make: M) -> JoinHandle<Fut::Output>
where
    M: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    if cpu == smp::current() {
        return exec::spawn_named(name, async move { make().await });
    }
    let (handle, token) = spawner(cpu).prepare_with(Spawn { name: Some(name), ..Spawn::default() }, make);
    ipiq::send(cpu, adopt, token.into_raw(), ipiq::Urgency::Active);
    handle
}

/// Runs `f()` as a task on `cpu` and returns its output (DragonFly's
/// `lwkt_domsg`, as a future). The future `f` makes need not be `Send`: it is
/// made and polled on `cpu`. Dropping the returned future cancels the work
/// on `cpu` too (its future is dropped there), as dropping any future does.
pub async fn run_on<F, Fut>(cpu: CpuId, f: F) -> Fut::Output
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    let remote = AbortOnDrop(spawn_made_on(cpu, "run_on", f));
    match remote.await {
        Ok(out) => out,
        Err(_) => panic!("run_on task on {cpu} was cancelled"),
    }
}

/// Runs `f()` on every CPU and returns the outputs, indexed by CPU.
/// Dropping the returned future cancels the work on every CPU.
pub async fn broadcast<F, Fut>(f: F) -> Vec<Fut::Output>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    let handles: Vec<_> = (0..smp::online())
        .map(|n| {
            let f = f.clone();
            let cpu = CpuId::try_new(n).expect("online CPUs are below MAX_CPUS");
            AbortOnDrop(spawn_made_on(cpu, "broadcast", f))
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        match h.await {
            Ok(v) => out.push(v),
            Err(_) => panic!("broadcast task cancelled"),
        }
    }
    out
}

/// A join handle that aborts its task when dropped before the task ends:
/// how cancelling a `run_on` reaches the task on the other CPU.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if !self.0.is_finished() {
            self.0.abort();
        }
    }
}
