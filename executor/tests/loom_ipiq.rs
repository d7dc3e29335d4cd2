//! loom models of the IPI queues: ring + pending mask + latch. The receiver
//! sleeps on a condition variable until its simulated IPI is raised, as a
//! halted CPU would: a lost wakeup leaves every thread blocked, which loom
//! reports as a deadlock.
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p executor --release --test loom_ipiq`
#![cfg(loom)]

use executor::ipiq::{IpiQueues, Message, Signal, Urgency};
use loom::sync::{Arc, Condvar, Mutex};

/// A CPU's interrupt line: raised by senders, taken by the halted CPU.
struct Line {
    raised: Mutex<bool>,
    cv: Condvar,
}

struct Machine {
    queues: IpiQueues,
    ipi: Vec<Line>,
}

impl Machine {
    fn raise(&self, cpu: usize) {
        *self.ipi[cpu].raised.lock().unwrap() = true;
        self.ipi[cpu].cv.notify_one();
    }

    /// An interrupt taken while the CPU runs (not halted): consumes a raised
    /// line, if any, and does nothing else (the kernel's handler only EOIs).
    fn take_interrupt(&self, cpu: usize) {
        *self.ipi[cpu].raised.lock().unwrap() = false;
    }

    /// `hlt`: sleeps until the line is raised, then takes it.
    fn halt(&self, cpu: usize) {
        let mut raised = self.ipi[cpu].raised.lock().unwrap();
        while !*raised {
            raised = self.ipi[cpu].cv.wait(raised).unwrap();
        }
        *raised = false;
    }
}

fn machine(cpus: usize, capacity: usize) -> Arc<Machine> {
    let ipi = (0..cpus).map(|_| Line { raised: Mutex::new(false), cv: Condvar::new() }).collect();
    Arc::new(Machine { queues: IpiQueues::new(cpus, capacity), ipi })
}

/// Sends `count` messages from `me` to `to`, draining its own inbox while a
/// ring is full, and raising the simulated IPI when told to.
fn sender(m: Arc<Machine>, me: usize, to: usize, count: usize, urgency: Urgency) {
    // SAFETY: this thread is CPU `me`'s only user.
    let ep = unsafe { m.queues.endpoint(me).unwrap() };
    let mut owe_kick = false;
    for seq in 0..count {
        let msg = Message { func: me, data: seq };
        let signal = ep.send(to, msg, urgency, |ep, wait| {
            if wait.raise_ipi {
                m.raise(wait.to);
            }
            ep.drain(|_, _| {});
            loom::thread::yield_now();
        });
        match signal {
            Signal::SendIpi => m.raise(to),
            Signal::Kick => owe_kick = true,
            Signal::Passive | Signal::AlreadySignalled => {}
        }
    }
    // The kernel kicks within 1 ms; here, after the last send.
    if owe_kick && ep.kick(to) {
        m.raise(to);
    }
}

/// CPU `me` runs the kernel's loop: drain; maybe take an interrupt while
/// busy; halt only if the idle check (`has_pending`, with interrupts off)
/// finds nothing owed. Checks FIFO per sender; stops once `expected` arrived.
fn receiver(m: &Machine, me: usize, senders: usize, expected: usize) {
    // SAFETY: this thread is CPU `me`'s only user.
    let ep = unsafe { m.queues.endpoint(me).unwrap() };
    let mut next = vec![0usize; senders];
    let mut got = 0;
    loop {
        ep.drain(|from, msg| {
            assert_eq!(msg.func, from);
            assert_eq!(msg.data, next[from], "FIFO per sender, nothing lost or repeated");
            next[from] += 1;
            got += 1;
        });
        if got == expected {
            break;
        }
        // Running tasks with interrupts on: an IPI may be taken right here.
        m.take_interrupt(me);
        // The idle check, as the kernel's loop does it: flag up, then look.
        ep.set_idle(true);
        if !m.queues.has_pending(me) {
            m.halt(me);
        }
        ep.set_idle(false);
    }
}

#[test]
fn one_sender_full_ring_no_lost_message_or_wakeup() {
    loom::model(|| {
        let m = machine(2, 2);
        let s = {
            let m = m.clone();
            loom::thread::spawn(move || sender(m, 0, 1, 3, Urgency::Active))
        };
        receiver(&m, 1, 1, 3);
        s.join().unwrap();
    });
}

#[test]
fn two_senders_share_the_pending_mask_and_latch() {
    loom::model(|| {
        let m = machine(3, 2);
        let threads: Vec<_> = (0..2)
            .map(|i| {
                let m = m.clone();
                loom::thread::spawn(move || sender(m, i, 2, 1, Urgency::Active))
            })
            .collect();
        receiver(&m, 2, 2, 2);
        for t in threads {
            t.join().unwrap();
        }
    });
}

#[test]
fn passive_sends_are_delivered() {
    loom::model(|| {
        let m = machine(2, 4);
        let s = {
            let m = m.clone();
            loom::thread::spawn(move || sender(m, 0, 1, 2, Urgency::Passive))
        };
        receiver(&m, 1, 1, 2);
        s.join().unwrap();
    });
}

/// Passive sends to a receiver that is about to halt: nothing periodic will
/// drain them, so the receiver's idle flag must turn them active. Without
/// the flag this model deadlocks (the receiver halts with a message queued).
#[test]
fn passive_sends_reach_a_halting_receiver() {
    loom::model(|| {
        // Capacity 16: two messages stay below a quarter full (passive).
        let m = machine(2, 16);
        let s = {
            let m = m.clone();
            loom::thread::spawn(move || sender(m, 0, 1, 2, Urgency::Passive))
        };
        receiver(&m, 1, 1, 2);
        s.join().unwrap();
    });
}
