//! Sending and draining: the kernel's half of `executor::ipiq`. One
//! [`IpiQueues`] for the machine, made by the first send (ring capacity 256
//! unless a kernel image sets another before that); CPU `i`'s endpoint is
//! used only by CPU `i`, with interrupts off for each send and drain.
//!
//! A full ring is never dropped: the sender drains its own rings while it
//! waits (so two CPUs flooding each other cannot deadlock) and reports a
//! receiver that has not drained for a second. After spinning briefly it
//! halts: `Endpoint::want_room` registers it with the receiver and
//! re-checks the ring (the protocol is in `executor::ipiq`, loom-checked),
//! and it halts with its timer armed as a bound; each drain that took
//! messages raises the IPI of the senders it made room for
//! (`Drained::room_for`). A halted sender still wakes for its own rings'
//! IPIs and drains before halting again, so two senders halted on each
//! other's full rings cannot deadlock.

use alloc::boxed::Box;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use executor::ipiq::{Endpoint, IpiQueues, Message, QueueStats, Signal, Urgency};
use x86_64::instructions::interrupts;

use super::{cpu_queue, kick};
use crate::arch::cpu;
use crate::arch::cpu_id::CpuId;
use crate::arch::entry::InterruptFrame;
use crate::arch::vectors::{self, Vector};
use crate::arch::{idt, lapic, percpu};
use crate::{smp, time};

/// Default ring capacity.
pub const DEFAULT_CAPACITY: usize = 256;

static CAPACITY: AtomicUsize = AtomicUsize::new(DEFAULT_CAPACITY);
static QUEUES: spin::Once<IpiQueues> = spin::Once::new();

/// A message handler: runs on the receiving CPU, in task context (its loop),
/// with interrupts off. It must be short; it may send.
pub type MessageHandler = fn(from: CpuId, data: usize);

/// Sets the ring capacity (a power of two). Only before the queues are first
/// used (tests use tiny rings).
pub fn set_capacity(capacity: usize) {
    assert!(QUEUES.get().is_none(), "the IPI queues are already in use");
    CAPACITY.store(capacity, Ordering::Relaxed);
}

fn on_ipiq_vector(_: Vector, _: &mut InterruptFrame) {
    cpu_queue::this().taken.fetch_add(1, Ordering::Relaxed);
    // Only acknowledge: the interrupted `hlt` returns and the loop drains.
    lapic::eoi();
}

/// Installs the vector handler (boot CPU, after bring-up). The queues
/// themselves are made by the first send, for the CPUs online then, so a
/// kernel image can still choose the capacity.
pub fn init() {
    idt::set_handler(vectors::IPIQ, on_ipiq_vector);
}

/// This CPU's endpoint, made on first use. `create` makes the queues if
/// nobody has yet (senders do; drains never do).
pub(super) fn endpoint(create: bool) -> Option<&'static Endpoint<'static>> {
    let queues = if create {
        QUEUES.call_once(|| IpiQueues::with_idle_flags(smp::online(), CAPACITY.load(Ordering::Relaxed), percpu::idle_flags()))
    } else {
        QUEUES.get()?
    };
    let mine = cpu_queue::this();
    if let Some(ep) = mine.endpoint() {
        return Some(ep);
    }
    // SAFETY: this CPU is the only user of its endpoint, and every use
    // runs with interrupts off, so an interrupt handler never interleaves.
    let ep = unsafe { queues.endpoint(smp::current().as_usize()) }?;
    let ep: &'static Endpoint<'static> = Box::leak(Box::new(ep));
    mine.endpoint.store(core::ptr::from_ref(ep).cast_mut(), Ordering::Release);
    Some(ep)
}

/// Raises CPU `to`'s IPI-queue interrupt.
pub(super) fn raise(to: usize) {
    cpu_queue::of(to).raised.fetch_add(1, Ordering::Relaxed);
    if let Some(cpu) = CpuId::try_new(to) {
        smp::send_ipi(cpu, vectors::IPIQ);
    }
}

fn run_handler(from: usize, msg: Message) {
    // SAFETY: every message's `func` is a `MessageHandler` written by `send`.
    let handler = unsafe { core::mem::transmute::<usize, MessageHandler>(msg.func) };
    handler(CpuId::try_new(from).expect("sender id below MAX_CPUS"), msg.data);
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

/// Sends `handler(here, data)` to run on `to`. Waits (draining this CPU's
/// own rings) while the ring is full; never drops the message.
pub fn send(to: CpuId, handler: MessageHandler, data: usize, urgency: Urgency) {
    let ep = endpoint(true).expect("a CPU beyond the queues' CPU count");
    let msg = Message { func: handler as usize, data };
    let me = smp::current();
    interrupts::without_interrupts(|| {
        let mut since = 0u64;
        let mut spin_until = 0u64;
        let mut reported = false;
        let signal = ep.send(to.as_usize(), msg, urgency, |ep, full| {
            if full.raise_ipi {
                raise(full.to);
            }
            if full.first {
                since = cpu::rdtsc();
                spin_until = time::deadline_after_us(SPIN_BEFORE_HALT_US);
            } else if !reported && time::cycles_to_duration(cpu::rdtsc() - since).as_secs() >= 1 {
                reported = true;
                report_stuck_receiver(me, full.to);
            }
            drain_here(ep);
            report_deferred(ep, full.to);
            if !full.first && time::passed(spin_until) {
                halt_for_room(ep, full.to);
            } else {
                core::hint::spin_loop();
            }
        });
        match signal {
            Signal::SendIpi => raise(to.as_usize()),
            Signal::Kick => kick::owe(me, to),
            Signal::Passive | Signal::AlreadySignalled | Signal::Polled => {}
        }
    });
}

fn report_stuck_receiver(me: CpuId, to: usize) {
    let q = QUEUES.get().expect("sending");
    let theirs = cpu_queue::of(to);
    log::warn!(
        "{me}: ring to cpu{to} full for 1 s: cpu{to} is not draining (ring {} of {}, pending {}, latch {}, raised {}, taken {})",
        q.len(me.as_usize(), to),
        q.capacity(),
        q.has_pending(to),
        q.latch_set(to),
        theirs.raised.load(Ordering::Relaxed),
        theirs.taken.load(Ordering::Relaxed)
    );
}

/// Set-aside messages below this are not reported.
const DEFERRED_REPORT_FROM: u64 = 1024;

/// Reports, at each doubling from [`DEFERRED_REPORT_FROM`], how many
/// messages this CPU has set aside at once because a handler's send waits
/// on a full ring (`executor::ipiq`, "Re-entrancy"): that buffer replaces
/// backpressure while the wait lasts, so its growth is said, not silent.
fn report_deferred(ep: &Endpoint<'_>, to: usize) {
    let deepest = ep.stats().deepest_deferred;
    let slot = &cpu_queue::of(ep.cpu()).deferred_reported;
    let reported = slot.load(Ordering::Relaxed);
    if deepest >= DEFERRED_REPORT_FROM && deepest >= 2 * reported.max(DEFERRED_REPORT_FROM / 2) {
        slot.store(deepest, Ordering::Relaxed);
        log::warn!("cpu{}: {deepest} messages set aside at once while a handler's send waits on a full ring to cpu{to}", ep.cpu());
    }
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
    if ep.want_room(to)
        && !q.has_pending(me)
        && time::timer::prepare_idle(Some(time::deadline_after_us(HALT_FOR_ROOM_US.load(Ordering::Relaxed))))
    {
        cpu_queue::of(me).halts_for_room.fetch_add(1, Ordering::Relaxed);
        interrupts::enable_and_hlt();
        interrupts::disable();
    }
    ep.room_wait_over(to);
}

/// How many times this CPU halted waiting for room in a full ring.
pub fn halts_for_room() -> u64 {
    cpu_queue::halts_for_room(smp::current())
}

/// Whether senders have work pending for this CPU (the idle check).
pub fn has_pending() -> bool {
    QUEUES.get().is_some_and(|q| q.has_pending(smp::current().as_usize()))
}

/// This CPU's queue counters.
pub fn stats() -> QueueStats {
    endpoint(false).map(Endpoint::stats).unwrap_or_default()
}
