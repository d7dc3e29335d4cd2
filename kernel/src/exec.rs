//! The executors in the kernel: one per CPU, each driven by [`run`] on its
//! own CPU.
//!
//! The four platform hooks given to the `executor` crate (`Hooks`):
//! - `current`: this CPU's id unless it is in an interrupt handler
//!   (`percpu::current_id_in_task_context`, two GS loads), so wakes from
//!   interrupt handlers never touch the owner's run queue;
//! - `signal`: a wake IPI (`vectors::WAKE`) to the owner, after a wake was
//!   pushed on its wake stack (nothing for this CPU: an interrupt already
//!   ended its `hlt`, and the loop re-checks before halting again);
//! - `now`: the TSC;
//! - `remote_wake`: a wake of another CPU's task, from task context, as an
//!   IPI-queue message whose handler calls `Executor::wake_message` on the
//!   owner; in an interrupt handler (which must not wait on a full ring) it
//!   declines, and the wake takes the owner's wake stack and `signal`.
//!
//! Layering: `ipiq` (the transport) knows nothing of executors; this module
//! calls it and gives the executor the hooks above; `run_on` sits on both.
//!
//! Each turn drains this CPU's IPI queues (running wake messages and
//! adopting tasks spawned here from other CPUs, in task context), sends the
//! passive kicks it owes, wakes its expired timers (`time::timer`) and ticks
//! the executor. Idle: with interrupts off, raise this CPU's idle flag (the one
//! the IPI queues, remote frees and the stall detector read),
//! check the executor (run queues, wake stack), the IPI queues' pending mask
//! (and `block_on`'s own completion), and let the timers program the local
//! APIC timer for the earliest deadline or owed kick (or find one already
//! due); only if all are empty `sti; hlt` (atomic), so a wake, message or
//! timer that lands after the check still ends the halt.

use core::future::Future;
use core::sync::atomic::{AtomicU64, Ordering};
use core::task::{Context, Poll, Waker};

use alloc::boxed::Box;
use executor::{Executor, Hooks, RemoteSpawner, Spawn};
use x86_64::instructions::interrupts;

use crate::arch::cpu_array::CpuArray;
use crate::arch::cpu_id::CpuId;
use crate::arch::{cpu, percpu, vectors};
use crate::heap;
use crate::{ipiq, smp, time};

pub use executor::{Band, JoinError, JoinHandle, TaskInfo, yield_now};

/// Polls longer than this are logged once they return (the cooperative
/// watchdog; `stall` reports a poll that does not return). Above the
/// longest poll of an idle or interactive session in a debug kernel under
/// emulation (a shell command formatting a table: 10-20 ms).
pub const WATCHDOG_MS: u64 = 50;

/// What other CPUs read of a CPU's executor (the executor itself is in the
/// CPU's per-CPU block, reached only by that CPU).
struct Shared {
    /// Its spawner, recorded when its executor starts (`run_on` uses them).
    spawner: spin::Once<RemoteSpawner>,
    /// TSC cycles spent halted in its loop (for `cpus`: idle share); only
    /// its own CPU writes it.
    idle_cycles: AtomicU64,
}

static SHARED: CpuArray<Shared> = crate::cpu_array!(Shared { spawner: spin::Once::new(), idle_cycles: AtomicU64::new(0) });

/// Cycles `cpu` has spent halted, waiting for work, since boot.
pub fn idle_cycles(cpu: CpuId) -> u64 {
    SHARED.get(cpu).idle_cycles.load(Ordering::Relaxed)
}

/// The handle other CPUs use to make tasks for `cpu`'s executor, once it runs.
pub fn remote_spawner(cpu: CpuId) -> Option<RemoteSpawner> {
    SHARED.get(cpu).spawner.get().copied()
}

fn hook_current() -> Option<usize> {
    // No check that this CPU has an executor: the executor only compares
    // the answer with a task's owner, and the owner's CPU has one.
    percpu::current_id_in_task_context().map(CpuId::as_usize)
}

fn hook_signal(id: usize) {
    if id != smp::current().as_usize()
        && let Some(cpu) = CpuId::try_new(id)
    {
        smp::send_ipi(cpu, vectors::WAKE);
    }
}

/// Wakes of another CPU's task travel as IPI-queue messages from task
/// context; an interrupt handler must not wait on a full ring or run message
/// handlers, so from there the wake takes the owner's lock-free wake stack.
fn hook_remote_wake(owner: usize, task: usize) -> bool {
    if percpu::this().in_interrupt() {
        return false;
    }
    let Some(cpu) = CpuId::try_new(owner) else { return false };
    ipiq::send(cpu, on_wake_message, task, ipiq::Urgency::Active);
    true
}

fn on_wake_message(_from: CpuId, task: usize) {
    // SAFETY: `hook_remote_wake` sent this word for a task of this CPU's
    // executor, with the message's reference; each message runs once.
    unsafe { this().wake_message(task) };
}

static HOOKS: Hooks = Hooks { current: hook_current, signal: hook_signal, now: cpu::rdtsc, remote_wake: hook_remote_wake };

fn watchdog(task: &TaskInfo, cycles: u64) {
    let ended = if crate::stall::poll_returned(task.id) { " (the stall reported earlier is over)" } else { "" };
    log::warn!(
        "watchdog: task {} '{}' on {} ran {} ms without yielding{ended}",
        task.id,
        task.name.unwrap_or("?"),
        smp::current(),
        time::cycles_to_duration(cycles).as_millis()
    );
}

/// This CPU's executor, created on first use.
pub fn this() -> &'static Executor {
    let block = percpu::this();
    if let Some(ex) = block.executor() {
        return ex;
    }
    let id = block.id();
    let ex: &'static Executor = Box::leak(Box::new(Executor::new(id.as_usize(), &HOOKS)));
    ex.set_watchdog(time::tsc_khz().max(1) * WATCHDOG_MS, watchdog);
    SHARED.get(id).spawner.call_once(|| ex.remote_spawner());
    block.set_executor(ex);
    log::info!("{id}: executor started");
    ex
}

/// This CPU's executor if it has started (never creates one: for interrupt
/// handlers).
pub fn existing() -> Option<&'static Executor> {
    percpu::this().executor()
}

/// Whether this CPU is idle in its loop, about to halt or halted (as an
/// interrupt handler sees it: the interrupt ended the halt, the flag is
/// cleared after the handler).
pub fn is_halted() -> bool {
    percpu::this().is_idle()
}

/// Lets the task being polled on this CPU poll for long by design (a
/// benchmark partner that spins on the clock): the watchdog and the stall
/// detector leave it alone from now on. For part of a task, use
/// [`long_polls_allowed`].
pub fn allow_long_polls() {
    if let Some(ex) = existing() {
        ex.set_long_polls(true);
    }
}

/// `future`, whose polls may be long by design (a benchmark run from the
/// shell): the watchdog and the stall detector leave the task alone from
/// its first poll until it completes. The exemption is set and restored
/// once, not around every poll, so a benchmark's figures do not pay for it.
pub async fn long_polls_allowed<F: Future>(future: F) -> F::Output {
    /// Restores the task's setting when the future completes (or is dropped).
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(ex) = existing() {
                // Outside a poll (the future dropped by its owner) this does
                // nothing, and the task keeps its exemption.
                ex.set_long_polls(self.0);
            }
        }
    }
    let _restore = Restore(this().set_long_polls(true));
    future.await
}

/// The task being polled on this CPU, as (id, name), for the panic report.
pub fn current_task() -> Option<(u64, Option<&'static str>)> {
    existing()?.current_task()
}

/// Spawns `future` on this CPU.
pub fn spawn<F: Future + 'static>(future: F) -> JoinHandle<F::Output> {
    this().spawn(future)
}

/// Spawns a named task on this CPU.
pub fn spawn_named<F: Future + 'static>(name: &'static str, future: F) -> JoinHandle<F::Output> {
    this().spawn_with(Spawn { name: Some(name), band: Band::Normal }, future)
}

/// Spawns a driver task on this CPU in the interrupt band: it is polled
/// before ordinary tasks (LWKT's interrupt-thread priority).
pub fn spawn_driver<F: Future + 'static>(name: &'static str, future: F) -> JoinHandle<F::Output> {
    this().spawn_with(Spawn { name: Some(name), band: Band::Interrupt }, future)
}

/// How long a CPU with nothing to run polls for work before halting: work
/// that comes back soon (a reply to a `run_on`, the other end of a pipe on
/// another CPU) should not pay a halted CPU's wakeup, which under
/// emulation or in a VM is the host waking a sleeping thread. Linux's
/// guest `haltpoll` idle driver does the same for the same reason.
const IDLE_SPIN_US: u64 = 50;

/// One turn of this CPU's loop: run tasks, and halt if there is nothing to
/// do and the caller is not `done` (checked with interrupts off too: a
/// `done` that became true in this turn's polls must not be slept
/// through). With `spin_us`, first poll that long for work.
fn turn(ex: &Executor, spin_us: u64, done: impl Fn() -> bool) {
    heap::reclaim();
    ipiq::drain();
    ipiq::kick_due();
    time::timer::run_expired();
    if ex.has_work() {
        // Before the polls: a first poll that never returns is caught too.
        time::timer::arm_busy_check();
    }
    ex.tick();
    let block = percpu::this();
    if ex.has_work() || ipiq::has_pending() {
        return;
    }
    if spin_us > 0 {
        let deadline = time::deadline_after_us(spin_us);
        // While this CPU polls, IPI-queue senders send no IPI: the polls
        // see their messages (executor::ipiq, "Polling receivers").
        block.set_polling();
        while !time::passed(deadline) {
            if ex.has_work() || ipiq::has_pending() || done() {
                block.set_idle(false);
                return;
            }
            core::hint::spin_loop();
        }
    }
    interrupts::disable();
    // The idle flag first, then the look: a passive send, or a remote
    // free's first push, that lands after the look sees the flag, and its
    // sender kicks us (executor::ipiq, module doc). Our own owed kicks keep
    // the timer armed. One flag serves both (`percpu::idle_flags`).
    block.set_idle(true);
    if ex.has_work() || ipiq::has_pending() || heap::has_pending() || done() || !time::timer::prepare_idle(ipiq::next_kick()) {
        block.set_idle(false);
        interrupts::enable();
        return;
    }
    let halted = cpu::rdtsc();
    interrupts::enable_and_hlt();
    block.set_idle(false);
    // Only this CPU writes its slot.
    let slot = &SHARED.get(block.id()).idle_cycles;
    slot.store(slot.load(Ordering::Relaxed) + (cpu::rdtsc() - halted), Ordering::Relaxed);
}

/// For a task that runs a program inside its poll (a user thread), between
/// two runs of the program: what this CPU's loop does between polls, short
/// of polling (take IPI-queue messages, send owed kicks, wake expired
/// timers), since the program's poll may last long.
pub fn between_user_runs() {
    ipiq::drain();
    ipiq::kick_due();
    time::timer::run_expired();
}

/// Before a program runs in a task's poll: the local timer is made to fire
/// by the earliest deadline this CPU keeps (its timers, owed IPI-queue
/// kicks) or `deadline` (a TSC value: the task's time slice), as the loop
/// does before it halts, so that a task whose sleep ends while the program
/// runs is woken, and the slice ends on time. Runs expired timers first.
/// Returns `false` if `deadline` has passed (the caller decides again).
pub fn prepare_user_run(deadline: Option<u64>) -> bool {
    loop {
        if deadline.is_some_and(time::passed) {
            return false;
        }
        let extra = match (ipiq::next_kick(), deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if interrupts::without_interrupts(|| time::timer::prepare_user(extra)) {
            return true;
        }
        between_user_runs();
    }
}

/// Runs this CPU's executor forever (application processors after bring-up).
pub fn run() -> ! {
    let ex = this();
    loop {
        turn(ex, IDLE_SPIN_US, || false);
    }
}

/// Runs this CPU's executor until `future` completes, and returns its output.
pub fn block_on<F: Future + 'static>(future: F) -> F::Output {
    let ex = this();
    let mut handle = ex.spawn_with(Spawn { name: Some("block_on"), band: Band::Normal }, future);
    while !handle.is_finished() {
        turn(ex, IDLE_SPIN_US, || handle.is_finished());
    }
    let mut cx = Context::from_waker(Waker::noop());
    match core::pin::Pin::new(&mut handle).poll(&mut cx) {
        Poll::Ready(Ok(out)) => out,
        Poll::Ready(Err(e)) => panic!("block_on task ended without output: {e}"),
        Poll::Pending => unreachable!("the task is finished"),
    }
}
