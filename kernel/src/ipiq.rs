//! Cross-CPU work as futures over the IPI queues (DragonFly's `lwkt_ipiq`).
//!
//! One [`IpiQueues`] for the machine, made by the first send (ring
//! capacity 256 unless a kernel image sets another before that): each message carries a handler
//! (`fn(from, data)`) and one word. CPU `i`'s endpoint is used only by CPU
//! `i`, with interrupts off for each send and drain.
//!
//! Data flow of `spawn_on(cpu, fut)`: the task is allocated here (one
//! allocation, its `JoinHandle` stays here), its `Adopt` token goes into
//! ring[here][cpu], and only a 0 -> 1 latch swap raises the hardware IPI
//! (vector 0xf1). The IPI handler only acknowledges: it ends the target's
//! `hlt`, and the target's loop (`exec`) drains its rings in task context,
//! adopting the task into its run queue. Futures are never polled in
//! interrupt context. The reply (the task's output) reaches the caller
//! through the `JoinHandle`, whose wake travels back to the caller's CPU.
//!
//! A full ring is never dropped: the sender drains its own rings while it
//! waits (so two CPUs flooding each other cannot deadlock) and reports a
//! receiver that has not drained for a second. After spinning briefly it
//! halts: `Endpoint::want_room` registers it with the receiver and
//! re-checks the ring (the protocol is in `executor::ipiq`, loom-checked),
//! and it halts with its timer armed as a bound; each drain that took
//! messages raises the IPI of the senders it made room for
//! (`Drained::room_for`). A halted sender still wakes for its own inbox's
//! IPIs and drains before halting again, so two senders halted on each
//! other's full rings cannot deadlock.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::future::{Future, poll_fn};
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use core::task::{Poll, Waker};

use executor::ipiq::{Endpoint, IpiQueues, Message, QueueStats, Signal, Urgency};
use executor::{Adopt, JoinHandle, RemoteSpawner, Spawn};
use x86_64::instructions::interrupts;

use crate::arch::idt::{self, Vector};
use crate::arch::lapic;
use crate::smp::{self, CpuId, MAX_CPUS};
use crate::{exec, time};

pub use executor::ipiq::Urgency as SendUrgency;

/// The vector that tells a CPU its rings have work.
pub const IPIQ_VECTOR: u8 = 0xf1;

/// Default ring capacity.
pub const DEFAULT_CAPACITY: usize = 256;

static CAPACITY: AtomicUsize = AtomicUsize::new(DEFAULT_CAPACITY);
static QUEUES: spin::Once<IpiQueues> = spin::Once::new();
static ENDPOINTS: [AtomicPtr<Endpoint<'static>>; MAX_CPUS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CPUS];
static SPAWNERS: [spin::Once<RemoteSpawner>; MAX_CPUS] = [const { spin::Once::new() }; MAX_CPUS];

/// A message handler: runs on the receiving CPU, in task context (its loop),
/// with interrupts off. It must be short; it may send.
pub type Handler = fn(from: CpuId, data: usize);

/// Sets the ring capacity (a power of two). Only before the queues are first
/// used (tests use tiny rings).
pub fn set_capacity(capacity: usize) {
    assert!(QUEUES.get().is_none(), "the IPI queues are already in use");
    CAPACITY.store(capacity, Ordering::Relaxed);
}

static RAISED: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];
static TAKEN: [AtomicUsize; MAX_CPUS] = [const { AtomicUsize::new(0) }; MAX_CPUS];

fn on_ipiq_vector(_: Vector, _: &mut crate::arch::entry::InterruptFrame) {
    TAKEN[smp::current().as_usize()].fetch_add(1, Ordering::Relaxed);
    // Only acknowledge: the interrupted `hlt` returns and the loop drains.
    lapic::eoi();
}

/// Installs the vector handler (boot CPU, after bring-up). The queues
/// themselves are made by the first send, for the CPUs online then, so a
/// kernel image can still choose the capacity.
pub fn init() {
    idt::set_handler(Vector::try_new(IPIQ_VECTOR).expect("not an exception"), on_ipiq_vector);
}

/// Records CPU `cpu`'s spawner (called when its executor starts).
pub(crate) fn register_spawner(cpu: CpuId, spawner: RemoteSpawner) {
    SPAWNERS[cpu.as_usize()].call_once(|| spawner);
}

/// This CPU's endpoint, made on first use. `create` makes the queues if
/// nobody has yet (senders do; drains never do).
fn endpoint(create: bool) -> Option<&'static Endpoint<'static>> {
    let queues = if create {
        QUEUES.call_once(|| IpiQueues::new(smp::online(), CAPACITY.load(Ordering::Relaxed)))
    } else {
        QUEUES.get()?
    };
    let me = smp::current().as_usize();
    let p = ENDPOINTS[me].load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: each CPU only dereferences its own (leaked) endpoint.
        return Some(unsafe { &*p });
    }
    // SAFETY: this CPU is the only user of its endpoint, and every use below
    // runs with interrupts off, so an interrupt handler never interleaves.
    let ep = unsafe { queues.endpoint(me) }?;
    let ep: &'static Endpoint<'static> = Box::leak(Box::new(ep));
    ENDPOINTS[me].store(core::ptr::from_ref(ep).cast_mut(), Ordering::Release);
    Some(ep)
}

fn raise(to: usize) {
    RAISED[to].fetch_add(1, Ordering::Relaxed);
    if let Some(cpu) = CpuId::try_new(to) {
        smp::send_ipi(cpu, Vector::try_new(IPIQ_VECTOR).expect("not an exception"));
    }
}

fn run_handler(from: usize, msg: Message) {
    // SAFETY: every message's `func` is a `Handler` written by `send`.
    let handler = unsafe { core::mem::transmute::<usize, Handler>(msg.func) };
    handler(CpuId::try_new(from).expect("sender id below MAX_CPUS"), msg.data);
}

/// Sends `handler(here, data)` to run on `to`. Waits (draining this CPU's
/// own rings) while the ring is full; never drops the message.
pub fn send(to: CpuId, handler: Handler, data: usize, urgency: Urgency) {
    let ep = endpoint(true).expect("a CPU beyond the queues' CPU count");
    let msg = Message { func: handler as usize, data };
    let me = smp::current();
    interrupts::without_interrupts(|| {
        let mut since = 0u64;
        let mut spin_until = 0u64;
        let mut reported = false;
        let signal = ep.send(to.as_usize(), msg, urgency, |ep, wait| {
            if wait.raise_ipi {
                raise(wait.to);
            }
            if wait.first {
                since = crate::arch::cpu::rdtsc();
                spin_until = time::deadline_after_us(SPIN_BEFORE_HALT_US);
            } else if !reported && time::cycles_to_duration(crate::arch::cpu::rdtsc() - since).as_secs() >= 1 {
                reported = true;
                let q = QUEUES.get().expect("sending");
                log::warn!(
                    "{me}: ring to cpu{} full for 1 s: cpu{} is not draining (ring {} of {}, pending {}, latch {}, raised {}, taken {})",
                    wait.to,
                    wait.to,
                    q.len(me.as_usize(), wait.to),
                    q.capacity(),
                    q.has_pending(wait.to),
                    q.latch_set(wait.to),
                    RAISED[wait.to].load(Ordering::Relaxed),
                    TAKEN[wait.to].load(Ordering::Relaxed)
                );
            }
            drain_here(ep);
            report_deferred(ep, wait.to);
            if !wait.first && time::passed(spin_until) {
                halt_for_room(ep, wait.to);
            } else {
                core::hint::spin_loop();
            }
        });
        match signal {
            Signal::SendIpi => raise(to.as_usize()),
            Signal::Kick => owe_kick(me, to),
            Signal::Passive | Signal::AlreadySignalled => {}
        }
    });
}

/// Per CPU: the largest number of set-aside messages reported so far.
static DEFERRED_REPORTED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Set-aside messages below this are not reported.
const DEFERRED_REPORT_FROM: u64 = 1024;

/// Reports, at each doubling from [`DEFERRED_REPORT_FROM`], how many
/// messages this CPU has set aside at once because a handler's send waits
/// on a full ring (`executor::ipiq`, "Re-entrancy"): that buffer replaces
/// backpressure while the wait lasts, so its growth is said, not silent.
fn report_deferred(ep: &Endpoint<'_>, to: usize) {
    let deepest = ep.stats().deepest_deferred;
    let slot = &DEFERRED_REPORTED[ep.cpu()];
    let reported = slot.load(Ordering::Relaxed);
    if deepest >= DEFERRED_REPORT_FROM && deepest >= 2 * reported.max(DEFERRED_REPORT_FROM / 2) {
        slot.store(deepest, Ordering::Relaxed);
        log::warn!("cpu{}: {deepest} messages set aside at once while a handler's send waits on a full ring to cpu{to}", ep.cpu());
    }
}

/// How long a passive message to an idle CPU may wait for its kick: long
/// enough for a stream of passive sends to batch behind one IPI, short
/// enough to be a bounded delay (the role DragonFly's clock tick plays).
pub const PASSIVE_KICK_US: u64 = 1_000;

/// Per CPU: receivers it owes a kick (bit per CPU) and when the kick is due
/// (TSC). Only the owning CPU touches its slots, with interrupts off.
static OWED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static KICK_AT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

fn owe_kick(me: CpuId, to: CpuId) {
    let i = me.as_usize();
    if OWED[i].fetch_or(1 << to.as_usize(), Ordering::Relaxed) == 0 {
        KICK_AT[i].store(time::deadline_after_us(PASSIVE_KICK_US), Ordering::Relaxed);
    }
}

/// Sends the kicks this CPU owes whose time has come (each turn of its
/// loop): a receiver whose ring from here is still not drained gets its
/// latch set, and an IPI on a 0 -> 1 swap.
pub fn kick_due() {
    let i = smp::current().as_usize();
    if OWED[i].load(Ordering::Relaxed) == 0 || !time::passed(KICK_AT[i].load(Ordering::Relaxed)) {
        return;
    }
    let Some(ep) = endpoint(false) else { return };
    interrupts::without_interrupts(|| {
        let mut owed = OWED[i].swap(0, Ordering::Relaxed);
        while owed != 0 {
            let to = owed.trailing_zeros() as usize;
            owed &= owed - 1;
            if ep.kick(to) {
                raise(to);
            }
        }
    });
}

/// When this CPU's next owed kick is due (TSC), for the idle path's timer.
pub fn next_kick() -> Option<u64> {
    let i = smp::current().as_usize();
    (OWED[i].load(Ordering::Relaxed) != 0).then(|| KICK_AT[i].load(Ordering::Relaxed))
}

/// Runs every message waiting for this CPU. Returns how many.
pub fn drain() -> usize {
    // Nothing owed (no pending bit, latch clear): two loads, and interrupts
    // are not touched. Polling loops and every turn of a CPU's loop call
    // this; under TCG the `sti` that ends an interrupts-off section also
    // ends the translated block, so the peek keeps a poll that finds nothing
    // cheap. A send that lands just after the peek raised the latch or is
    // seen by the next drain, as for `Endpoint::drain`'s own early return.
    if !has_pending() {
        return 0;
    }
    match endpoint(false) {
        Some(ep) => interrupts::without_interrupts(|| drain_here(ep)),
        None => 0,
    }
}

/// How long a sender spins on a full ring (draining its own) before it
/// halts until the receiver makes room. Spinning is right while the
/// receiver runs; when it does not (its CPU is busy elsewhere, or a
/// hypervisor has descheduled its vCPU), halting gives the physical CPU back.
const SPIN_BEFORE_HALT_US: u64 = 20;
/// The longest such halt by default: a bound, so that even a receiver
/// whose notice went astray costs a sender no more than this (the loom
/// model of `want_room` says it does not go astray).
pub const DEFAULT_HALT_FOR_ROOM_US: u64 = 500;
static HALT_FOR_ROOM_US: AtomicU64 = AtomicU64::new(DEFAULT_HALT_FOR_ROOM_US);

/// Sets the bound on one halt for room (tests raise it to show that the
/// receiver's notice, not the bound, ends the halt).
pub fn set_halt_for_room_bound_us(us: u64) {
    HALT_FOR_ROOM_US.store(us, Ordering::Relaxed);
}

/// Drains with interrupts off, then wakes the senders halted for room in
/// their rings to this CPU (the drain freed their slots).
fn drain_here(ep: &Endpoint<'_>) -> usize {
    let drained = ep.drain(run_handler);
    let mut waiting = drained.room_for;
    while waiting != 0 {
        let s = waiting.trailing_zeros() as usize;
        waiting &= waiting - 1;
        raise(s);
    }
    drained.taken
}

/// Halts (interrupts on for the `hlt` only) until the receiver `to` makes
/// room in ring me -> to, an IPI arrives, or HALT_FOR_ROOM_US passes.
/// Called with interrupts off from `send`'s wait, after its own drain.
fn halt_for_room(ep: &Endpoint<'_>, to: usize) {
    let me = ep.cpu();
    let q = QUEUES.get().expect("sending");
    if ep.want_room(to) && !q.has_pending(me) && time::timer::prepare_idle(Some(time::deadline_after_us(HALT_FOR_ROOM_US.load(Ordering::Relaxed)))) {
        HALTS_FOR_ROOM[me].fetch_add(1, Ordering::Relaxed);
        interrupts::enable_and_hlt();
        interrupts::disable();
    }
    ep.room_wait_over(to);
}

static HALTS_FOR_ROOM: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// How many times this CPU halted waiting for room in a full ring.
pub fn halts_for_room() -> u64 {
    HALTS_FOR_ROOM[smp::current().as_usize()].load(Ordering::Relaxed)
}

/// Raises or lowers this CPU's idle flag (the loop raises it, with
/// interrupts off, just before its idle check, and lowers it once it runs
/// again): while it is up, a passive sender owes this CPU a kick within
/// [`PASSIVE_KICK_US`], since no periodic drain would pick its message up.
pub fn set_idle(idle: bool) {
    if let Some(ep) = endpoint(false) {
        ep.set_idle(idle);
    }
}

/// Whether senders have work pending for this CPU (the idle check).
pub fn has_pending() -> bool {
    QUEUES.get().is_some_and(|q| q.has_pending(smp::current().as_usize()))
}

/// This CPU's queue counters.
pub fn stats() -> QueueStats {
    endpoint(false).map(Endpoint::stats).unwrap_or_default()
}

fn adopt(_from: CpuId, token: usize) {
    // SAFETY: `spawn_on` sent `Adopt::into_raw` for a task made for this
    // CPU's executor; each message is delivered once.
    exec::this().adopt(unsafe { Adopt::from_raw(token) });
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
    let spawner = SPAWNERS.get(cpu.as_usize()).and_then(spin::Once::get).expect("that CPU runs no executor");
    let (handle, token) = spawner.prepare(Spawn { name: Some(name), ..Spawn::default() }, future);
    send(cpu, adopt, token.into_raw(), Urgency::Active);
    handle
}

/// Spawns on `cpu` a task whose future `make()` builds there, at its first
/// poll: one task, and the future need not be `Send`.
fn spawn_made_on<M, Fut>(cpu: CpuId, name: &'static str, make: M) -> JoinHandle<Fut::Output>
where
    M: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    if cpu == smp::current() {
        return exec::spawn_named(name, async move { make().await });
    }
    let spawner = SPAWNERS.get(cpu.as_usize()).and_then(spin::Once::get).expect("that CPU runs no executor");
    let (handle, token) = spawner.prepare_with(Spawn { name: Some(name), ..Spawn::default() }, make);
    send(cpu, adopt, token.into_raw(), Urgency::Active);
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

/// A join handle that aborts its task when dropped before the task ends:
/// how cancelling a `run_on` reaches the task on the other CPU.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, executor::JoinError>;

    fn poll(mut self: core::pin::Pin<&mut Self>, cx: &mut core::task::Context<'_>) -> Poll<Self::Output> {
        core::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if !self.0.is_finished() {
            self.0.abort();
        }
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

/// A barrier that `parties` tasks (on any CPUs) pass together.
pub struct Barrier {
    parties: usize,
    state: spin::Mutex<BarrierState>,
}

struct BarrierState {
    arrived: usize,
    generation: u64,
    waiters: Vec<Waker>,
}

impl Barrier {
    /// A barrier for `parties` tasks.
    pub fn new(parties: usize) -> Self {
        let state = BarrierState { arrived: 0, generation: 0, waiters: Vec::with_capacity(parties) };
        Self { parties, state: spin::Mutex::new(state) }
    }

    /// Waits until `parties` tasks have called `wait`; the last one releases
    /// all. Returns `true` in exactly one of them (the last to arrive).
    pub async fn wait(&self) -> bool {
        let generation = {
            let mut s = self.state.lock();
            s.arrived += 1;
            if s.arrived == self.parties {
                s.arrived = 0;
                s.generation += 1;
                for w in s.waiters.drain(..) {
                    w.wake();
                }
                return true;
            }
            s.generation
        };
        poll_fn(|cx| {
            let mut s = self.state.lock();
            // Checked under the lock the releaser holds: no lost wakeup.
            if s.generation != generation {
                return Poll::Ready(false);
            }
            s.waiters.push(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}
