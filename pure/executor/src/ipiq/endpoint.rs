//! One CPU's handle on the queues: its sending side (ring[me][*]) and its
//! receiving side (ring[*][me]), with the protocol of `mod.rs` in its
//! `try_send`, `send`, `kick`, `want_room` and `drain`.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use core::cell::{Cell, RefCell};
use core::marker::PhantomData;

use super::queues::IpiQueues;
use super::{Drained, Full, Message, QueueStats, RingFull, Signal, Urgency};
use crate::sync::Ordering;

/// One CPU's handle on the queues (`!Send`: it stays on its CPU).
///
/// Its counters and drain state are written on every send and drain, so it
/// keeps cache lines of its own (128 bytes, as crossbeam pads for x86_64):
/// two CPUs' endpoints allocated side by side would otherwise share a line
/// both write (the cost is measured in BENCHMARKS.md, IPI queues (host)).
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

impl<'q> Endpoint<'q> {
    pub(super) fn new(queues: &'q IpiQueues, me: usize) -> Self {
        Self {
            queues,
            me,
            stats: Cell::new(QueueStats::default()),
            heads: (0..queues.cpus).map(|_| Cell::new(0)).collect(),
            draining: Cell::new(false),
            deferred: RefCell::new(VecDeque::new()),
            _cpu: PhantomData,
        }
    }

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
        let raise = !self.queues.receivers[to].latch.0.swap(true, Ordering::SeqCst);
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
        self.queues.idle().set(self.me, idle);
    }

    /// Says that this CPU polls for work (`has_pending` again and again)
    /// until it finds some or raises its idle flag: active sends to it
    /// need no IPI meanwhile ("Polling receivers" in the module doc).
    pub fn set_polling(&self) {
        self.queues.idle().set_polling(self.me);
    }

    fn count(&self, f: impl FnOnce(&mut QueueStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    /// Sends `msg` to CPU `to` if its ring has room.
    pub fn try_send(&self, to: usize, msg: Message, urgency: Urgency) -> Result<Signal, Full> {
        let q = self.queues;
        let receiver = &q.receivers[to];
        // The receiver's `head` is re-read only from a quarter full (the
        // passive-to-active threshold below): it saves a cache line moving
        // from the receiver on most sends, and a stale one cannot cross
        // either rule (`ring.rs`).
        // SAFETY: CPU `me` is ring[me][to]'s only producer (the contract of
        // `IpiQueues::endpoint`), and `heads[to]` is its cached head.
        let depth = match unsafe { receiver.rings[self.me].push(&self.heads[to], q.capacity / 4, msg) } {
            Ok(depth) => depth,
            Err(msg) => return Err(Full(msg)),
        };
        receiver.pending.0.fetch_or(1 << self.me, Ordering::SeqCst);

        let depth = depth as u64 + 1;
        let active = urgency == Urgency::Active || depth as usize * 4 >= q.capacity;
        let signal = if !active {
            // Read `idle` with a read-modify-write: see the module doc.
            if q.idle().is_idle(to) { Signal::Kick } else { Signal::Passive }
        } else if q.idle().is_polling(to) {
            // It sees the pending bit without an IPI ("Polling receivers").
            Signal::Polled
        } else if receiver.latch.0.swap(true, Ordering::SeqCst) {
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
                Signal::Polled => s.ipis_avoided += 1,
            }
        });
        Ok(signal)
    }

    /// Sends `msg`, waiting while the ring is full. While waiting it calls
    /// `wait(self, RingFull)`, which must let this CPU drain its own inbox (two
    /// CPUs flooding each other would otherwise deadlock), raise the IPI when
    /// `Wait::raise_ipi` says so, and may report a receiver that does not
    /// drain. Once the ring was full, sending resumes only when it is at most
    /// half full (hysteresis).
    pub fn send(&self, to: usize, msg: Message, urgency: Urgency, mut wait: impl FnMut(&Self, RingFull)) -> Signal {
        let mut msg = msg;
        loop {
            match self.try_send(to, msg, urgency) {
                Ok(signal) => return signal,
                Err(Full(m)) => {
                    msg = m;
                    self.count(|s| s.full_waits += 1);
                    // A full ring may be a passive one: make sure the receiver
                    // is signalled, by the same 0 -> 1 latch rule.
                    let raise_ipi = !self.queues.receivers[to].latch.0.swap(true, Ordering::SeqCst);
                    if raise_ipi {
                        self.count(|s| s.ipis_sent += 1);
                    }
                    wait(self, RingFull { to, raise_ipi, first: true });
                    while self.queues.len(self.me, to) > self.queues.capacity / 2 {
                        wait(self, RingFull { to, raise_ipi: false, first: false });
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
        let mask = &self.queues.receivers[to].room_wanted.0;
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
        self.queues.receivers[to].room_wanted.0.fetch_and(!(1 << self.me), Ordering::Relaxed);
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
                // Setting aside is rare (a send that waited for a full ring
                // ran a nested drain): give its buffer back once it empties,
                // rather than hold it for the machine's life.
                let mut d = self.deferred.borrow_mut();
                if d.is_empty() {
                    *d = VecDeque::new();
                }
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
        let receiver = &q.receivers[self.me];
        // Nothing owed (no pending bit, latch clear): two loads, no
        // read-modify-write on lines the senders write. A send racing with
        // these loads finds the latch clear and raises an IPI, or is seen by
        // the next drain.
        let pending = receiver.pending.0.load(Ordering::SeqCst);
        let latched = receiver.latch.0.load(Ordering::SeqCst);
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
            let _ = receiver.latch.0.swap(false, Ordering::SeqCst);
        }
        let mut bits = receiver.pending.0.swap(0, Ordering::SeqCst);
        let mut taken = 0;
        while bits != 0 {
            let from = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let ring = &receiver.rings[from];
            // At most a ring's worth per sender: that covers every message
            // that was in the ring when `pending` was taken above (a ring
            // never holds more), and each one published since set the bit
            // again for the next drain. Without the bound a sender that
            // keeps up with us would hold this drain (and the CPU's tasks
            // behind it) for as long as it kept sending.
            let start = ring.head();
            // `head` is read afresh for each message: a handler may send,
            // and a send that finds its ring full drains this CPU's rings
            // while it waits (a drain inside this one), which moves `head`,
            // possibly by many (hence the distance from `start`).
            while ring.head().wrapping_sub(start) < q.capacity {
                // SAFETY: CPU `me` is ring[*][me]'s only consumer (the
                // contract of `IpiQueues::endpoint`). `pop` frees the slot
                // before the handler runs (it may send).
                let Some(msg) = (unsafe { ring.pop() }) else { break };
                f(from, msg);
                taken += 1;
            }
        }
        self.count(|s| s.received += taken as u64);
        // After the `head` stores, a read-modify-write (see the module doc);
        // a drain that freed nothing owes no sender anything.
        let room_for = if taken > 0 { receiver.room_wanted.0.swap(0, Ordering::AcqRel) } else { 0 };
        Drained { taken, room_for }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::IdleFlags;
    use super::*;
    use alloc::boxed::Box;

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

    /// Queues made with the platform's idle flags read and raise those: a
    /// flag the platform raised turns a passive send into a kick, and the
    /// receiver's own `set_idle` shows in them.
    #[test]
    fn shared_idle_flags_are_the_ones_sends_read() {
        let flags: &'static IdleFlags = Box::leak(Box::new(IdleFlags::new(4)));
        let q = IpiQueues::with_idle_flags(2, 8, flags);
        // SAFETY: as above.
        let (a, b) = unsafe { (q.endpoint(0).unwrap(), q.endpoint(1).unwrap()) };
        assert_eq!(a.try_send(1, msg(1), Urgency::Passive), Ok(Signal::Passive));
        drain(&b);
        flags.set(1, true);
        assert_eq!(a.try_send(1, msg(2), Urgency::Passive), Ok(Signal::Kick), "the platform raised cpu1's flag");
        drain(&b);
        flags.set(1, false);
        b.set_idle(true);
        assert!(flags.is_idle(1), "the endpoint raises the shared flag");
        b.set_idle(false);
        assert!(!flags.is_idle(1));
    }

    /// The sender reads the receiver's `head` only near a quarter full: a
    /// stale one must never make a drained ring look full, nor turn a
    /// passive send active (the ring's own test covers the first half).
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
            // SAFETY: the test thread stands for this endpoint's CPU, the
            // ring's only consumer.
            let _ = unsafe { self.queues.receivers[self.me].rings[0].pop() };
        }
    }
}
