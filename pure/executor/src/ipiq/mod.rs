//! Cross-CPU message queues, after DragonFly's `lwkt_ipiq`: one single-
//! producer single-consumer ring per ordered (sender, receiver) pair, a
//! bitmask of senders with pending work per receiver, and an IPI latch per
//! receiver so a hardware IPI is sent only when the receiver may not know.
//!
//! # Protocol
//!
//! The layers: `ring.rs` is the stamped single-producer single-consumer
//! ring (`StampedRing`, its algorithm in its own doc); `queues.rs` holds every
//! receiver's signalling state (pending mask, latch, idle flag, room mask)
//! beside its rings; `endpoint.rs` is one CPU's handle, which sends and
//! drains by the protocol below.
//!
//! Sender `i` to receiver `j` (`Endpoint::try_send`):
//! 1. push the message into ring[i][j] (`StampedRing::push`: it is
//!    published by its slot's stamp, Release);
//! 2. `pending[j].fetch_or(1 << i)`;
//! 3. active send: `latch[j].swap(true)`; only a `false -> true` swap returns
//!    [`Signal::SendIpi`]: the caller raises the hardware IPI. Otherwise
//!    [`Signal::AlreadySignalled`]: an IPI is on its way or the receiver
//!    has not yet started draining, and it will see step 2.
//!    Passive send: skip step 3 ([`Signal::Passive`]) unless the ring is at
//!    least a quarter full, when it becomes active; a receiver that is idle
//!    must be kicked later (below).
//!
//! Receiver `j` (`Endpoint::drain`), from its IPI handler or its loop:
//! 1. if the latch is set, `latch[j].swap(false)`, *before* looking for
//!    work: a send after this point raises a new IPI (a swap, not a store:
//!    see `take`); a latch seen clear is left alone (passive senders never
//!    set it, and a send that sets it after that look raises an IPI);
//! 2. `bits = pending[j].swap(0)`; for each sender bit, drain that ring:
//!    pop messages while a slot's stamp says it holds the next position
//!    (`StampedRing::pop`; the receiver never reads `tail`), at most a
//!    ring's worth (what was there when the bit was taken; later messages
//!    set the bit again).
//!
//! Idle: with interrupts off the receiver first raises its `idle` flag
//! ([`Endpoint::set_idle`]), then halts only if `has_pending` is false: no
//! pending bit *and* the latch clear (a set latch means an IPI was raised
//! that may have been taken while the CPU was busy: a drain is owed). It
//! lowers the flag when it runs again.
//!
//! Passive sends and idle receivers: a passive send to a CPU that may be
//! halting must not wait for a drain that will never come (there is no
//! periodic tick). After step 2 a passive sender reads `idle[j]`; set, it
//! gets [`Signal::Kick`] and owes the receiver a [`Endpoint::kick`] (the
//! latch rule of step 3) soon: more passive sends can batch behind it. Both sides write one variable and then read the other
//! (the store-buffering pattern), so both touch `idle` with a
//! read-modify-write (`swap` to set it, `fetch_or(false)` to read it):
//! RMWs on one location are totally ordered and each reads the one before
//! it, so either the sender's read comes after the receiver's swap (it sees
//! the flag and will kick), or before it, and then the sender's step 2
//! happens-before the receiver's look at `pending` (it sees the bit and does
//! not halt). Plain SeqCst stores and loads would do in the memory model,
//! but loom models SeqCst as AcqRel and reports a lost wakeup for them.
//!
//! Polling receivers: an idle CPU may poll for work a while before it
//! halts (a reply that comes back soon then costs no halt and no wakeup).
//! It says so in the same flag, with a swap ([`Endpoint::set_polling`]);
//! an active sender reads the flag after step 2 with a read-modify-write,
//! and if the receiver polls it skips step 3 ([`Signal::Polled`]): no
//! latch, no IPI. The receiver leaves the state with another swap, to
//! running (it found work: its loop drains before it runs anything) or to
//! idle (the look before the halt follows). Either swap comes after the
//! sender's read in the flag's order, so the receiver's next look sees the
//! sender's pending bit (the argument of the paragraph above).
//!
//! No lost wakeup: a sender that saw the latch set (no IPI) did steps 1-2
//! before the receiver's step 1 in the latch's order (all SeqCst), so the
//! receiver's step 2 sees its bit and its message. A message is never
//! dropped: a full ring makes `try_send` fail, and `send` waits (the caller
//! drains its own inbox meanwhile, so two CPUs sending to each other cannot
//! deadlock) with hysteresis: once full, it waits until the ring is half
//! empty.
//!
//! Waiting for room without spinning: a sender may instead halt until the
//! receiver makes room ([`Endpoint::want_room`]). It sets its bit in the
//! receiver's `room_wanted` mask with a read-modify-write, then re-checks
//! the ring; the receiver, after a drain that took messages, takes the mask
//! with a `swap` ([`Drained::room_for`]) and signals those senders. Both
//! sides touch `room_wanted` with a read-modify-write after their own write
//! (the sender's bit, the receiver's `head` stores), so, as for `idle`:
//! either the receiver's swap comes later in the mask's order and sees the
//! bit, or the sender's `fetch_or` reads from the swap (AcqRel) and its
//! re-check sees the freed slots. A halted sender is never left waiting on
//! a ring that was drained.
//!
//! Re-entrancy: a drain's handler may send, and a send on a full ring
//! drains this CPU's inbox while it waits (without that, two CPUs whose
//! handlers send to each other's full rings would deadlock), so a drain can
//! be called inside a drain. The inner one must not run handlers: a sender
//! that keeps refilling the ring would make every handler's send wait and
//! drain again, one stack frame deeper each time (DragonFly's "excessive
//! ipiq recursion"; our first kernel test of it overflowed the stack). So
//! the inner drain only moves the messages off the rings into this
//! endpoint's `deferred` queue (freeing the senders' slots, so nobody
//! deadlocks), and the outer drain runs them as soon as the handler that
//! waited returns, before it takes the next message off a ring: FIFO per
//! sender holds. The outer drain reads each ring's `head` afresh for every
//! message, as the inner one moved it. The price: while a handler's send
//! waits, what arrives is buffered on the heap instead of backing senders
//! up (`QueueStats::deferred`, `deepest_deferred` count it).
//!
//! Producer rule: ring[i][*] has one producer, CPU `i`; the kernel sends with
//! interrupts off so an interrupt handler on the same CPU cannot interleave.
//! Consumer rule: ring[*][j] has one consumer, CPU `j`. [`Endpoint`] carries
//! both roles for one CPU and is `!Send`.

mod endpoint;
mod idle;
mod queues;
mod ring;

pub use endpoint::Endpoint;
pub use idle::IdleFlags;
pub use queues::IpiQueues;

/// A message: a function (or task) pointer and a word of data. What they
/// mean is up to the sender and receiver; the queue only moves them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    /// Usually a function or task pointer.
    pub func: usize,
    /// One word of argument.
    pub data: usize,
}

/// What the sender must do after a send.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// The latch went 0 -> 1: raise the hardware IPI.
    SendIpi,
    /// The receiver is already signalled (or draining): nothing to do.
    AlreadySignalled,
    /// Passive send: the receiver picks it up at its next drain.
    Passive,
    /// Passive send to a receiver that may be halting (its idle flag was
    /// up): nothing will drain it unless it is woken. The caller owes the
    /// receiver a [`Endpoint::kick`] soon (the kernel: within 1 ms), which
    /// lets later passive sends batch behind one IPI.
    Kick,
    /// Active send to a receiver that polls for work (its flag said so):
    /// it sees the message without an IPI.
    Polled,
}

/// How urgent a send is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Urgency {
    /// Signal the receiver (IPI if its latch is clear).
    Active,
    /// No IPI; falls back to active once the ring is a quarter full.
    Passive,
}

/// What a sender waiting on a full ring is told, at each call of its wait
/// callback ([`Endpoint::send`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingFull {
    /// The receiver whose ring is full.
    pub to: usize,
    /// Raise the hardware IPI to `to` now (its latch went 0 -> 1).
    pub raise_ipi: bool,
    /// First call for this full ring (start the clock for a report).
    pub first: bool,
}

/// What one [`Endpoint::drain`] did.
#[must_use = "senders in `room_for` wait to be signalled"]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Messages taken off the rings: run by this drain or, for a drain
    /// called inside a handler, set aside for the drain running it.
    pub taken: usize,
    /// Bit `i`: sender `i` waits for room in its ring to this CPU, which
    /// this drain made: signal it (the kernel raises its IPI).
    pub room_for: usize,
}

/// The ring was full; the message was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full(pub Message);

/// Per-CPU counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Messages sent by this CPU.
    pub sent: u64,
    /// Messages this CPU received.
    pub received: u64,
    /// Hardware IPIs this CPU had to raise.
    pub ipis_sent: u64,
    /// Active sends that needed no IPI (latch already set).
    pub ipis_avoided: u64,
    /// Passive sends.
    pub passive: u64,
    /// Sends that found the ring full and had to wait.
    pub full_waits: u64,
    /// Deepest ring (messages queued) this CPU saw when sending: exact
    /// from a quarter of the ring up, an upper bound below it (the sender
    /// reads the receiver's `head` only from there, see `try_send`).
    pub deepest: u64,
    /// Messages a nested drain set aside for the running one (a handler's
    /// send waited on a full ring).
    pub deferred: u64,
    /// Most messages set aside at once.
    pub deepest_deferred: u64,
}
