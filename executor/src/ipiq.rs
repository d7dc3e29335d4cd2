//! Cross-CPU message queues, after DragonFly's `lwkt_ipiq`: one single-
//! producer single-consumer ring per ordered (sender, receiver) pair, a
//! bitmask of senders with pending work per receiver, and an IPI latch per
//! receiver so a hardware IPI is sent only when the receiver may not know.
//!
//! # Protocol
//!
//! Sender `i` to receiver `j` (`Endpoint::try_send`):
//! 1. write the message into ring[i][j] and publish it (`tail`, Release);
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
//!    take slots from `head` on while each one's stamp says it holds that
//!    position (see `Slot`; the receiver never reads `tail`), at most a
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

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use core::cell::{Cell, RefCell};
use core::marker::PhantomData;
use core::mem::MaybeUninit;

use crate::sync::{AtomicBool, AtomicUsize, Ordering, UnsafeCell};

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
}

/// How urgent a send is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Urgency {
    /// Signal the receiver (IPI if its latch is clear).
    Active,
    /// No IPI; falls back to active once the ring is a quarter full.
    Passive,
}

/// What a waiting sender's callback is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wait {
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

/// Keeps a value on its own cache line(s).
#[repr(align(64))]
struct Padded<T>(T);

/// One message place in a ring, stamped with the position it holds.
///
/// The producer writes `msg`, then stores `seq = position + 1` (Release);
/// the consumer at position `head` takes the slot only if it reads
/// `seq == head + 1` (Acquire). So the consumer finds messages by looking
/// at the slot itself and never reads the producer's `tail`: a message
/// costs the receiver the slot's cache line and not the tail's as well.
/// A stamp from an earlier lap (`head + 1 - capacity`, ...) never matches.
#[repr(align(32))]
struct Slot {
    seq: AtomicUsize,
    msg: UnsafeCell<MaybeUninit<Message>>,
}

struct Ring {
    /// Next position to read (consumer only writes it). The producer reads
    /// it to know which slots are free.
    head: Padded<AtomicUsize>,
    /// Next position to write (producer only writes it). The consumer does
    /// not read it (the stamps tell it); `len` and reports do.
    tail: Padded<AtomicUsize>,
    slots: Box<[Slot]>,
}

struct Inbox {
    /// Bit `i`: sender `i` may have messages in ring[i][me].
    pending: Padded<AtomicUsize>,
    latch: Padded<AtomicBool>,
    /// The receiver may be about to halt: passive sends become active.
    idle: Padded<AtomicBool>,
    /// Bit `i`: sender `i` waits (halted) for room in ring[i][me].
    room_wanted: Padded<AtomicUsize>,
    /// Indexed by sender.
    rings: Box<[Ring]>,
}

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

/// The queues of a machine with `cpus` CPUs (at most `usize::BITS`).
pub struct IpiQueues {
    cpus: usize,
    capacity: usize,
    inboxes: Box<[Inbox]>,
    claimed: Box<[AtomicBool]>,
}

// SAFETY: the rings' slots are accessed by one producer and one consumer
// under the protocol above (enforced by `Endpoint`'s contract); everything
// else is atomic.
unsafe impl Sync for IpiQueues {}
// SAFETY: as above.
unsafe impl Send for IpiQueues {}

impl IpiQueues {
    /// Queues for `cpus` CPUs, each ring holding `capacity` messages (a power
    /// of two; 256 is the kernel's default, tiny values are for tests).
    pub fn new(cpus: usize, capacity: usize) -> Self {
        assert!((1..=usize::BITS as usize).contains(&cpus), "1..={} CPUs", usize::BITS);
        assert!(capacity.is_power_of_two(), "capacity must be a power of two");
        let ring = || Ring {
            head: Padded(AtomicUsize::new(0)),
            tail: Padded(AtomicUsize::new(0)),
            slots: (0..capacity).map(|_| Slot { seq: AtomicUsize::new(0), msg: UnsafeCell::new(MaybeUninit::uninit()) }).collect(),
        };
        let inboxes = (0..cpus)
            .map(|_| Inbox {
                pending: Padded(AtomicUsize::new(0)),
                latch: Padded(AtomicBool::new(false)),
                idle: Padded(AtomicBool::new(false)),
                room_wanted: Padded(AtomicUsize::new(0)),
                rings: (0..cpus).map(|_| ring()).collect(),
            })
            .collect();
        let claimed = (0..cpus).map(|_| AtomicBool::new(false)).collect();
        Self { cpus, capacity, inboxes, claimed }
    }

    /// Number of CPUs.
    pub fn cpus(&self) -> usize {
        self.cpus
    }

    /// Ring capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The endpoint of CPU `cpu`: its sending side (ring[cpu][*]) and its
    /// receiving side (ring[*][cpu]). Each CPU's endpoint can be taken once.
    ///
    /// # Safety
    /// The endpoint must only be used by CPU `cpu`. Its calls may nest as
    /// plain calls do (a drain's handler may send; a send's wait may drain),
    /// but nothing may use it while the CPU is interrupted inside one of its
    /// calls: in the kernel, interrupts are off for each send and drain.
    pub unsafe fn endpoint(&self, cpu: usize) -> Option<Endpoint<'_>> {
        let taken = self.claimed.get(cpu)?.swap(true, Ordering::AcqRel);
        (!taken).then(|| Endpoint {
            queues: self,
            me: cpu,
            stats: Cell::new(QueueStats::default()),
            heads: (0..self.cpus).map(|_| Cell::new(0)).collect(),
            draining: Cell::new(false),
            deferred: RefCell::new(VecDeque::new()),
            _cpu: PhantomData,
        })
    }

    /// Messages queued from `from` to `to` now (approximate while either runs).
    pub fn len(&self, from: usize, to: usize) -> usize {
        let ring = &self.inboxes[to].rings[from];
        ring.tail.0.load(Ordering::Acquire).wrapping_sub(ring.head.0.load(Ordering::Acquire))
    }

    /// Whether `cpu`'s IPI latch is set (for reports).
    pub fn latch_set(&self, cpu: usize) -> bool {
        self.inboxes[cpu].latch.0.load(Ordering::SeqCst)
    }

    /// Whether `cpu` owes a drain: senders have pending work, or its latch
    /// is set. The idle loop checks it with interrupts off before halting.
    ///
    /// The latch counts: it is set by the send that raised the last IPI, and
    /// that IPI may already have been taken while the CPU was busy (the
    /// kernel's handler only acknowledges), after a drain that had already
    /// emptied the ring. Halting with the latch set would leave every later
    /// sender seeing "already signalled" and sending no IPI: a lost wakeup
    /// (loom finds it when interrupts can be taken between drain and halt).
    pub fn has_pending(&self, cpu: usize) -> bool {
        let inbox = &self.inboxes[cpu];
        inbox.pending.0.load(Ordering::SeqCst) != 0 || inbox.latch.0.load(Ordering::SeqCst)
    }
}

/// One CPU's handle on the queues (`!Send`: it stays on its CPU).
///
/// Its counters and drain state are written on every send and drain, so it
/// keeps cache lines of its own (128 bytes, as crossbeam pads for x86_64):
/// two CPUs' endpoints allocated side by side would otherwise share a line
/// both write; in the host benchmark (`benches/ipiq.rs`) that made a ring
/// round trip 690-755 ns instead of 510-520.
#[repr(align(128))]
pub struct Endpoint<'q> {
    queues: &'q IpiQueues,
    me: usize,
    stats: Cell<QueueStats>,
    /// Per receiver: the ring's `head` as this sender last read it.
    heads: Box<[Cell<usize>]>,
    /// A drain is running handlers (see "Re-entrancy" in the module doc).
    draining: Cell<bool>,
    /// Messages a nested drain took off the rings, for the running drain.
    deferred: RefCell<VecDeque<(usize, Message)>>,
    _cpu: PhantomData<*mut ()>,
}

impl Endpoint<'_> {
    /// This endpoint's CPU.
    pub fn cpu(&self) -> usize {
        self.me
    }

    /// Counters so far.
    pub fn stats(&self) -> QueueStats {
        self.stats.get()
    }

    /// Makes sure CPU `to` drains what this CPU sent it (after
    /// [`Signal::Kick`]): if ring[me][to] still holds messages, sets `to`'s
    /// latch; `true` means the latch went 0 -> 1 and the caller must raise
    /// the hardware IPI.
    pub fn kick(&self, to: usize) -> bool {
        if self.queues.len(self.me, to) == 0 {
            return false;
        }
        let raise = !self.queues.inboxes[to].latch.0.swap(true, Ordering::SeqCst);
        self.count(|s| {
            if raise {
                s.ipis_sent += 1;
            } else {
                s.ipis_avoided += 1;
            }
        });
        raise
    }

    /// Raises (before the idle check that precedes a halt) or lowers (once
    /// running again) this CPU's idle flag: while it is up, passive sends to
    /// this CPU are active (see the module doc).
    pub fn set_idle(&self, idle: bool) {
        // A read-modify-write (see the module doc), not a store.
        self.queues.inboxes[self.me].idle.0.swap(idle, Ordering::AcqRel);
    }

    fn count(&self, f: impl FnOnce(&mut QueueStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    /// Sends `msg` to CPU `to` if its ring has room.
    pub fn try_send(&self, to: usize, msg: Message, urgency: Urgency) -> Result<Signal, Full> {
        let q = self.queues;
        let inbox = &q.inboxes[to];
        let ring = &inbox.rings[self.me];
        let tail = ring.tail.0.load(Ordering::Relaxed);
        // The receiver's `head` is read only when the depth it last gave
        // would reach a quarter of the ring with this message: below that,
        // a stale (smaller) head only overstates the depth, and neither the
        // full check nor the passive-to-active rule can be crossed. It
        // saves a cache line moving from the receiver on most sends.
        let cached = &self.heads[to];
        let mut head = cached.get();
        if (tail.wrapping_sub(head) + 1) * 4 >= q.capacity {
            head = ring.head.0.load(Ordering::Acquire);
            cached.set(head);
        }
        let depth = tail.wrapping_sub(head);
        if depth == q.capacity {
            return Err(Full(msg));
        }
        let slot = &ring.slots[tail & (q.capacity - 1)];
        // SAFETY: we are the ring's only producer, and slot `tail` is free:
        // the consumer has moved `head` past it (Acquire above).
        slot.msg.with_mut(|m| unsafe { (*m).write(msg) });
        // Publish: the stamp is what the consumer reads.
        slot.seq.store(tail.wrapping_add(1), Ordering::Release);
        ring.tail.0.store(tail.wrapping_add(1), Ordering::Release);
        inbox.pending.0.fetch_or(1 << self.me, Ordering::SeqCst);

        let depth = depth as u64 + 1;
        let active = urgency == Urgency::Active || depth as usize * 4 >= q.capacity;
        let signal = if !active {
            // Read `idle` with a read-modify-write: see the module doc.
            if inbox.idle.0.fetch_or(false, Ordering::AcqRel) { Signal::Kick } else { Signal::Passive }
        } else if inbox.latch.0.swap(true, Ordering::SeqCst) {
            Signal::AlreadySignalled
        } else {
            Signal::SendIpi
        };
        self.count(|s| {
            s.sent += 1;
            s.deepest = s.deepest.max(depth);
            match signal {
                Signal::SendIpi => s.ipis_sent += 1,
                Signal::AlreadySignalled => s.ipis_avoided += 1,
                Signal::Passive | Signal::Kick => s.passive += 1,
            }
        });
        Ok(signal)
    }

    /// Sends `msg`, waiting while the ring is full. While waiting it calls
    /// `wait(self, Wait)`, which must let this CPU drain its own inbox (two
    /// CPUs flooding each other would otherwise deadlock), raise the IPI when
    /// `Wait::raise_ipi` says so, and may report a receiver that does not
    /// drain. Once the ring was full, sending resumes only when it is at most
    /// half full (hysteresis).
    pub fn send(&self, to: usize, msg: Message, urgency: Urgency, mut wait: impl FnMut(&Self, Wait)) -> Signal {
        let mut msg = msg;
        loop {
            match self.try_send(to, msg, urgency) {
                Ok(signal) => return signal,
                Err(Full(m)) => {
                    msg = m;
                    self.count(|s| s.full_waits += 1);
                    // A full ring may be a passive one: make sure the receiver
                    // is signalled, by the same 0 -> 1 latch rule.
                    let raise_ipi = !self.queues.inboxes[to].latch.0.swap(true, Ordering::SeqCst);
                    if raise_ipi {
                        self.count(|s| s.ipis_sent += 1);
                    }
                    wait(self, Wait { to, raise_ipi, first: true });
                    while self.queues.len(self.me, to) > self.queues.capacity / 2 {
                        wait(self, Wait { to, raise_ipi: false, first: false });
                    }
                }
            }
        }
    }

    /// Before a sender halts waiting for room in ring[me][to] (instead of
    /// spinning in `send`'s wait): registers it with the receiver, then
    /// re-checks. `true`: the ring is still more than half full, and the
    /// receiver's next drain that takes messages will name this CPU in
    /// [`Drained::room_for`]: halt. `false`: there is room already (the
    /// registration is withdrawn): do not halt. After a halt, or to give
    /// up waiting, call [`Endpoint::room_wait_over`].
    pub fn want_room(&self, to: usize) -> bool {
        let mask = &self.queues.inboxes[to].room_wanted.0;
        let bit = 1 << self.me;
        // A read-modify-write, then the re-check: see the module doc.
        mask.fetch_or(bit, Ordering::AcqRel);
        if self.queues.len(self.me, to) > self.queues.capacity / 2 {
            return true;
        }
        mask.fetch_and(!bit, Ordering::Relaxed);
        false
    }

    /// Withdraws this CPU's wait for room in ring[me][to] (a drain may have
    /// taken it already).
    pub fn room_wait_over(&self, to: usize) {
        self.queues.inboxes[to].room_wanted.0.fetch_and(!(1 << self.me), Ordering::Relaxed);
    }

    /// Drains every ring with pending work for this CPU, oldest first per
    /// sender, calling `f(sender, message)`. Returns how many it took off the
    /// rings and which waiting senders it made room for.
    ///
    /// Called while another drain of this endpoint is running a handler (the
    /// handler sent, and the send waits on a full ring), it takes the
    /// messages off the rings without running them: the running drain runs
    /// them, in order, as soon as that handler returns. Handlers never nest,
    /// however long senders keep the rings full.
    pub fn drain(&self, mut f: impl FnMut(usize, Message)) -> Drained {
        if self.draining.get() {
            return self.take(|from, msg| self.defer(from, msg));
        }
        self.draining.set(true);
        // Reset even if a handler unwinds (host tests with `std`).
        struct Done<'a>(&'a Cell<bool>);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        let _done = Done(&self.draining);
        self.take(|from, msg| {
            f(from, msg);
            // What a nested drain set aside came off the rings after this
            // message and before anything still in them: run it now, so each
            // sender's messages still run in order.
            loop {
                let next = self.deferred.borrow_mut().pop_front();
                let Some((from, msg)) = next else { break };
                f(from, msg);
            }
        })
    }

    fn defer(&self, from: usize, msg: Message) {
        let mut deferred = self.deferred.borrow_mut();
        deferred.push_back((from, msg));
        let depth = deferred.len() as u64;
        self.count(|s| {
            s.deferred += 1;
            s.deepest_deferred = s.deepest_deferred.max(depth);
        });
    }

    /// Takes every message owed to this CPU off the rings, oldest first per
    /// sender, handing each to `f`.
    fn take(&self, mut f: impl FnMut(usize, Message)) -> Drained {
        let q = self.queues;
        let inbox = &q.inboxes[self.me];
        // Nothing owed (no pending bit, latch clear): two loads, no
        // read-modify-write on lines the senders write. A send racing with
        // these loads finds the latch clear and raises an IPI, or is seen by
        // the next drain.
        let pending = inbox.pending.0.load(Ordering::SeqCst);
        let latched = inbox.latch.0.load(Ordering::SeqCst);
        if pending == 0 && !latched {
            return Drained::default();
        }
        // Clear the latch first: any send from here on raises a new IPI. A
        // swap, not a store: the two latch read-modify-writes are then
        // totally ordered with a reads-from edge, so either the sender sees
        // `false` (and raises an IPI) or we synchronise with its swap and the
        // `pending` swap below sees its bit. With a plain store, loom finds
        // an execution where both miss (a lost wakeup).
        //
        // A latch seen clear is left alone (no read-modify-write on it:
        // passive senders, the common streaming case, never set it). A
        // sender whose swap sets it after our load raises an IPI, and a
        // sender that then finds it set relies on that IPI's drain, which
        // sees the latch set and clears it here.
        if latched {
            let _ = inbox.latch.0.swap(false, Ordering::SeqCst);
        }
        let mut bits = inbox.pending.0.swap(0, Ordering::SeqCst);
        let mut taken = 0;
        while bits != 0 {
            let from = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let ring = &inbox.rings[from];
            // At most a ring's worth per sender: that covers every message
            // that was in the ring when `pending` was taken above (a ring
            // never holds more), and each one published since set the bit
            // again for the next drain. Without the bound a sender that
            // keeps up with us would hold this drain (and the CPU's tasks
            // behind it) for as long as it kept sending.
            let start = ring.head.0.load(Ordering::Relaxed);
            let mut head = start;
            while head.wrapping_sub(start) < q.capacity {
                let slot = &ring.slots[head & (q.capacity - 1)];
                if slot.seq.load(Ordering::Acquire) != head.wrapping_add(1) {
                    break;
                }
                // SAFETY: we are the ring's only consumer, and the stamp
                // (Acquire) says the producer wrote this position's message.
                let msg = slot.msg.with(|m| unsafe { (*m).assume_init_read() });
                // Free the slot before running the handler (it may send).
                ring.head.0.store(head.wrapping_add(1), Ordering::Release);
                f(from, msg);
                taken += 1;
                // Read afresh: a handler may send, and a send that finds its
                // ring full drains this inbox while it waits (a drain inside
                // this one), which moves `head`, possibly by many (hence the
                // distance from `start`, not an end position).
                head = ring.head.0.load(Ordering::Relaxed);
            }
        }
        self.count(|s| s.received += taken as u64);
        // After the `head` stores, a read-modify-write (see the module doc);
        // a drain that freed nothing owes no sender anything.
        let room_for = if taken > 0 { inbox.room_wanted.0.swap(0, Ordering::AcqRel) } else { 0 };
        Drained { taken, room_for }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn msg(n: usize) -> Message {
        Message { func: 0xf, data: n }
    }

    fn drain(ep: &Endpoint<'_>) -> alloc::vec::Vec<(usize, Message)> {
        let mut v = alloc::vec::Vec::new();
        let _ = ep.drain(|from, m| v.push((from, m)));
        v
    }

    #[test]
    fn first_active_send_raises_the_ipi_then_latch_holds() {
        let q = IpiQueues::new(2, 8);
        // SAFETY: one endpoint per CPU, used by this test thread only.
        let (a, b) = unsafe { (q.endpoint(0).unwrap(), q.endpoint(1).unwrap()) };
        assert_eq!(a.try_send(1, msg(1), Urgency::Active), Ok(Signal::SendIpi));
        assert_eq!(a.try_send(1, msg(2), Urgency::Active), Ok(Signal::AlreadySignalled));
        assert!(q.has_pending(1));
        assert_eq!(drain(&b), [(0, msg(1)), (0, msg(2))]);
        assert!(!q.has_pending(1));
        // The drain cleared the latch: the next send signals again.
        assert_eq!(a.try_send(1, msg(3), Urgency::Active), Ok(Signal::SendIpi));
        let s = a.stats();
        assert_eq!((s.sent, s.ipis_sent, s.ipis_avoided, s.deepest), (3, 2, 1, 2));
        assert_eq!(b.stats().received, 2);
    }

    #[test]
    fn passive_sends_turn_active_at_a_quarter_full() {
        let q = IpiQueues::new(2, 8);
        // SAFETY: as above.
        let a = unsafe { q.endpoint(0).unwrap() };
        assert_eq!(a.try_send(1, msg(1), Urgency::Passive), Ok(Signal::Passive));
        // Depth 2 of 8 is a quarter: active from here.
        assert_eq!(a.try_send(1, msg(2), Urgency::Passive), Ok(Signal::SendIpi));
        assert_eq!(a.try_send(1, msg(3), Urgency::Passive), Ok(Signal::AlreadySignalled));
    }

    /// The sender reads the receiver's `head` only near a quarter full: a
    /// stale one must never make a drained ring look full, nor turn a
    /// passive send active.
    #[test]
    fn a_stale_head_never_changes_what_a_send_does() {
        let q = IpiQueues::new(2, 8);
        // SAFETY: as above.
        let (a, b) = unsafe { (q.endpoint(0).unwrap(), q.endpoint(1).unwrap()) };
        for round in 0..3 {
            for n in 0..8 {
                assert!(a.try_send(1, msg(n), Urgency::Active).is_ok(), "round {round}: slot {n} free");
            }
            assert_eq!(a.try_send(1, msg(8), Urgency::Active), Err(Full(msg(8))));
            assert_eq!(drain(&b).len(), 8);
            assert_eq!(a.try_send(1, msg(0), Urgency::Passive), Ok(Signal::Passive), "round {round}: drained ring, passive");
            assert_eq!(drain(&b).len(), 1);
        }
        assert_eq!(a.stats().deepest, 8);
    }

    /// The receiver finds messages by their slots' stamps: slots that still
    /// hold an earlier lap's messages (stamps a capacity behind) are not
    /// taken again.
    #[test]
    fn slots_from_an_earlier_lap_are_not_taken_again() {
        let q = IpiQueues::new(2, 4);
        // SAFETY: as above.
        let (a, b) = unsafe { (q.endpoint(0).unwrap(), q.endpoint(1).unwrap()) };
        for n in 0..4 {
            let _ = a.try_send(1, msg(n), Urgency::Active).unwrap();
        }
        assert_eq!(drain(&b).len(), 4);
        for lap in 1..4 {
            // One message: slot 0 of the new lap; slots 1-3 hold old stamps.
            let _ = a.try_send(1, msg(10 * lap), Urgency::Active).unwrap();
            assert_eq!(drain(&b), [(0, msg(10 * lap))], "lap {lap}");
            for n in 1..4 {
                let _ = a.try_send(1, msg(10 * lap + n), Urgency::Active).unwrap();
            }
            assert_eq!(drain(&b).iter().map(|(_, m)| m.data).collect::<alloc::vec::Vec<_>>(), [1, 2, 3].map(|n| 10 * lap + n));
        }
        assert_eq!(b.stats().received, 16);
    }

    /// A drain takes at most a ring's worth from a sender: one that keeps
    /// sending while we drain (here, from our own handler) cannot hold the
    /// drain; what it sent later is flagged for the next one.
    #[test]
    fn a_sender_that_keeps_up_cannot_hold_a_drain() {
        let q = IpiQueues::new(2, 8);
        // SAFETY: as above.
        let (a, b) = unsafe { (q.endpoint(0).unwrap(), q.endpoint(1).unwrap()) };
        let _ = a.try_send(1, msg(0), Urgency::Active).unwrap();
        let mut seen = alloc::vec::Vec::new();
        let d = b.drain(|_, m| {
            seen.push(m.data);
            if m.data < 1000 {
                let _ = a.try_send(1, msg(m.data + 1), Urgency::Active).unwrap();
            }
        });
        assert_eq!(d.taken, 8, "one ring's worth");
        assert!(q.has_pending(1), "the rest is flagged for the next drain");
        assert_eq!(drain(&b).first(), Some(&(0, msg(8))));
        assert_eq!(seen, (0..8).collect::<alloc::vec::Vec<_>>());
    }

    #[test]
    fn full_ring_refuses_without_losing_the_message() {
        let q = IpiQueues::new(2, 4);
        // SAFETY: as above.
        let (a, b) = unsafe { (q.endpoint(0).unwrap(), q.endpoint(1).unwrap()) };
        for n in 0..4 {
            let _ = a.try_send(1, msg(n), Urgency::Active).unwrap();
        }
        assert_eq!(a.try_send(1, msg(4), Urgency::Active), Err(Full(msg(4))));
        assert_eq!(drain(&b).len(), 4);
        assert!(a.try_send(1, msg(4), Urgency::Active).is_ok());
        assert_eq!(drain(&b), [(0, msg(4))]);
    }

    #[test]
    fn full_ring_waits_with_hysteresis_and_raises_the_ipi() {
        let q = IpiQueues::new(2, 4);
        // SAFETY: as above.
        let (a, b) = unsafe { (q.endpoint(0).unwrap(), q.endpoint(1).unwrap()) };
        for n in 0..4 {
            let _ = a.try_send(1, msg(n), Urgency::Passive).unwrap();
        }
        let _ = drain(&b); // clears the latch; refill
        for n in 0..4 {
            let _ = a.try_send(1, msg(n), Urgency::Passive).unwrap();
        }
        let mut calls = alloc::vec::Vec::new();
        let signal = a.send(1, msg(9), Urgency::Active, |_, w| {
            calls.push(w);
            // The "receiver" takes one message per wait: resuming needs the
            // ring at half (2 of 4), so two takes.
            b.drain_one_for_test();
        });
        assert_eq!(signal, Signal::AlreadySignalled);
        assert_eq!(calls.len(), 2);
        assert!(calls[0].first && calls[0].to == 1);
        assert!(!calls[1].first && !calls[1].raise_ipi);
        assert_eq!(a.stats().full_waits, 1);
    }

    #[test]
    fn a_drain_names_the_senders_waiting_for_room() {
        let q = IpiQueues::new(3, 4);
        // SAFETY: as above.
        let (a, b, c) = unsafe { (q.endpoint(0).unwrap(), q.endpoint(1).unwrap(), q.endpoint(2).unwrap()) };
        for n in 0..4 {
            let _ = a.try_send(1, msg(n), Urgency::Active).unwrap();
        }
        let _ = c.try_send(1, msg(9), Urgency::Active).unwrap();
        assert!(a.want_room(1), "full: cpu0 may halt");
        assert!(!c.want_room(1), "one of four: cpu2 has room, no wait registered");
        let d = b.drain(|_, _| {});
        assert_eq!(d, Drained { taken: 5, room_for: 1 << 0 });
        a.room_wait_over(1);
        // Nothing registered now: the next drain names nobody.
        let _ = a.try_send(1, msg(5), Urgency::Active).unwrap();
        assert_eq!(b.drain(|_, _| {}), Drained { taken: 1, room_for: 0 });
    }

    /// A handler may send, and a send that finds its ring full drains this
    /// CPU's inbox while it waits: a drain can run inside a drain. Each
    /// message must still run exactly once, in order, and never inside the
    /// handler.
    #[test]
    fn a_drain_inside_a_drain_takes_each_message_once() {
        let q = IpiQueues::new(2, 8);
        // SAFETY: as above.
        let (a, b) = unsafe { (q.endpoint(0).unwrap(), q.endpoint(1).unwrap()) };
        for n in 0..4 {
            let _ = a.try_send(1, msg(n), Urgency::Active).unwrap();
        }
        let seen = core::cell::RefCell::new(alloc::vec::Vec::new());
        let outer = b.drain(|_, m| {
            seen.borrow_mut().push(m.data);
            if m.data == 0 {
                // More arrive, then the handler's send waits and drains:
                // the inner drain sets them aside instead of running them.
                for n in 4..6 {
                    let _ = a.try_send(1, msg(n), Urgency::Active).unwrap();
                }
                let inner = b.drain(|_, _| panic!("a nested drain ran a handler"));
                assert_eq!(inner.taken, 5);
                assert_eq!(*seen.borrow(), [0], "nothing ran inside the handler");
            }
        });
        assert_eq!(outer.taken, 1);
        assert_eq!(*seen.borrow(), [0, 1, 2, 3, 4, 5], "the outer drain ran the rest, in order");
        let s = b.stats();
        assert_eq!((s.received, s.deferred, s.deepest_deferred), (6, 5, 5));
    }

    #[test]
    fn endpoints_are_taken_once() {
        let q = IpiQueues::new(3, 4);
        // SAFETY: as above.
        unsafe {
            assert!(q.endpoint(2).is_some());
            assert!(q.endpoint(2).is_none());
            assert!(q.endpoint(3).is_none());
        }
    }

    impl Endpoint<'_> {
        /// Takes one message from sender 0 (tests of the waiting sender).
        fn drain_one_for_test(&self) {
            let ring = &self.queues.inboxes[self.me].rings[0];
            let head = ring.head.0.load(Ordering::Relaxed);
            if head != ring.tail.0.load(Ordering::Acquire) {
                ring.head.0.store(head + 1, Ordering::Release);
            }
        }
    }
}
