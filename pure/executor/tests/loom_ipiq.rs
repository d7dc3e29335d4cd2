//! loom models of the IPI queues: ring + pending mask + latch. The receiver
//! sleeps on a condition variable until its simulated IPI is raised, as a
//! halted CPU would: a lost wakeup leaves every thread blocked, which loom
//! reports as a deadlock.
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p executor --release --test loom_ipiq`
#![cfg(loom)]

use executor::ipiq::{Drained, IpiQueues, Message, Signal, Urgency};
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

impl Machine {
    /// What the kernel does after every drain: raise the IPI of each sender
    /// the drain made room for.
    fn grant_room(&self, drained: Drained) {
        let mut waiting = drained.room_for;
        while waiting != 0 {
            let s = waiting.trailing_zeros() as usize;
            waiting &= waiting - 1;
            self.raise(s);
        }
    }
}

/// How a sender waits on a full ring.
#[derive(Clone, Copy, PartialEq)]
enum OnFull {
    /// Drains its own inbox and yields.
    Spin,
    /// Drains its own inbox, then halts until the receiver makes room
    /// (`want_room`), as the kernel does after spinning briefly.
    Halt,
}

/// Sends `count` messages from `me` to `to`, draining its own inbox while a
/// ring is full, and raising the simulated IPI when told to.
fn sender(m: Arc<Machine>, me: usize, to: usize, count: usize, urgency: Urgency) {
    sender_waiting(m, me, to, count, urgency, OnFull::Spin);
}

fn sender_waiting(m: Arc<Machine>, me: usize, to: usize, count: usize, urgency: Urgency, on_full: OnFull) {
    // SAFETY: this thread is CPU `me`'s only user.
    let ep = unsafe { m.queues.endpoint(me).unwrap() };
    let mut owe_kick = false;
    for seq in 0..count {
        let msg = Message { func: me, data: seq };
        let signal = ep.send(to, msg, urgency, |ep, wait| {
            if wait.raise_ipi {
                m.raise(wait.to);
            }
            m.grant_room(ep.drain(|_, _| {}));
            if on_full == OnFull::Halt {
                // The kernel's halt_for_room: registered and still full, and
                // nothing owed to this CPU itself, it halts (no time bound
                // here: only the receiver's notice can end it).
                if ep.want_room(wait.to) && !m.queues.has_pending(me) {
                    m.halt(me);
                }
                ep.room_wait_over(wait.to);
            } else {
                loom::thread::yield_now();
            }
        });
        match signal {
            Signal::SendIpi => m.raise(to),
            Signal::Kick => owe_kick = true,
            Signal::Passive | Signal::AlreadySignalled | Signal::Polled => {}
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
    receiver_polling(m, me, senders, expected, false);
}

/// [`receiver`], whose idle path first polls once when `polls` (the
/// kernel's loop polls for a while before it halts).
fn receiver_polling(m: &Machine, me: usize, senders: usize, expected: usize, polls: bool) {
    // SAFETY: this thread is CPU `me`'s only user.
    let ep = unsafe { m.queues.endpoint(me).unwrap() };
    let mut next = vec![0usize; senders];
    let mut got = 0;
    loop {
        let drained = ep.drain(|from, msg| {
            assert_eq!(msg.func, from);
            assert_eq!(msg.data, next[from], "FIFO per sender, nothing lost or repeated");
            next[from] += 1;
            got += 1;
        });
        m.grant_room(drained);
        if got == expected {
            break;
        }
        // Running tasks with interrupts on: an IPI may be taken right here.
        m.take_interrupt(me);
        if polls {
            ep.set_polling();
            if m.queues.has_pending(me) {
                // Found work: running again, and the loop drains first.
                ep.set_idle(false);
                continue;
            }
        }
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

/// Active sends to a receiver that polls before it halts raise no IPI while
/// it polls: its polls, or the look before its halt, must see them. It
/// deadlocks if the sender reads the flag before its pending bit is set,
/// or with a plain load instead of the read-modify-write (found with three
/// preemptions, so this model asks for three whatever the environment says).
#[test]
fn active_sends_to_a_polling_receiver_are_not_lost() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let m = machine(2, 16);
        let s = {
            let m = m.clone();
            loom::thread::spawn(move || sender(m, 0, 1, 2, Urgency::Active))
        };
        receiver_polling(&m, 1, 1, 2, true);
        s.join().unwrap();
    });
}

/// A sender on a full ring halts instead of spinning, and only the
/// receiver's notice (`Drained::room_for`) can wake it: a lost notice leaves
/// it halted for good, which loom reports as a deadlock. It does when the
/// receiver ignores `room_for`, or when `want_room` re-checks the ring before
/// registering.
#[test]
fn a_sender_halted_for_room_is_woken_by_the_drain() {
    loom::model(|| {
        let m = machine(2, 2);
        let s = {
            let m = m.clone();
            loom::thread::spawn(move || sender_waiting(m, 0, 1, 3, Urgency::Active, OnFull::Halt))
        };
        receiver(&m, 1, 1, 3);
        s.join().unwrap();
    });
}

// ---- the executor's remote-wake hook wired to the rings ----
//
// As `kernel/src/exec.rs` wires them: a wake of another CPU's task is a
// message through the rings (`Hooks::remote_wake`), and the owner's loop
// drains it into `Executor::wake_message`. CPU 0 owns a task waiting for a
// flag; CPU 1 sets the flag and wakes it. CPU 0 halts only when its
// executor has nothing to run and its rings owe it nothing, so a lost
// wake is a deadlock.

use std::cell::RefCell;
use std::task::Waker;

use executor::ipiq::Endpoint;
use executor::{Executor, Hooks};
use loom::sync::atomic::{AtomicUsize, Ordering};

#[path = "support/loom_wait_flag.rs"]
mod wait_flag;
use wait_flag::WaitFlag;

/// What a thread (a CPU) is, for the hooks, which are plain `fn`s.
struct Wiring {
    cpu: usize,
    machine: Arc<Machine>,
    endpoint: *const Endpoint<'static>,
}

loom::thread_local! {
    static WIRING: RefCell<Option<Wiring>> = RefCell::new(None);
}

fn wire(cpu: usize, machine: &Arc<Machine>, endpoint: &Endpoint<'_>) {
    let endpoint = std::ptr::from_ref(endpoint).cast::<Endpoint<'static>>();
    WIRING.with(|w| *w.borrow_mut() = Some(Wiring { cpu, machine: machine.clone(), endpoint }));
}

fn unwire() {
    WIRING.with(|w| w.borrow_mut().take());
}

fn hook_current() -> Option<usize> {
    WIRING.with(|w| w.borrow().as_ref().map(|w| w.cpu))
}

fn hook_remote_wake(owner: usize, task: usize) -> bool {
    WIRING.with(|w| {
        let w = w.borrow();
        let w = w.as_ref().expect("a wired CPU");
        // SAFETY: the endpoint outlives the wiring (`unwire` runs first) and
        // only this thread uses it.
        let ep = unsafe { &*w.endpoint };
        let signal = ep.send(owner, Message { func: 0, data: task }, Urgency::Active, |ep, full| {
            if full.raise_ipi {
                w.machine.raise(full.to);
            }
            // CPU 1 owns no tasks: nothing sent to it needs running.
            w.machine.grant_room(ep.drain(|_, _| {}));
            loom::thread::yield_now();
        });
        if signal == Signal::SendIpi {
            w.machine.raise(owner);
        }
    });
    true
}

static WIRED_HOOKS: Hooks = Hooks {
    current: hook_current,
    signal: |_| panic!("a task-context wake took the wake stack"),
    now: || 0,
    remote_wake: hook_remote_wake,
};

#[test]
fn a_remote_wake_through_the_rings_is_not_lost() {
    loom::model(|| {
        let m = machine(2, 2);
        // SAFETY: this thread is CPU 0's only user.
        let ep = unsafe { m.queues.endpoint(0).unwrap() };
        wire(0, &m, &ep);
        let ex = Executor::new(0, &WIRED_HOOKS);
        let slot = Arc::new(Mutex::new(None));
        let flag = Arc::new(AtomicUsize::new(0));
        let h = ex.spawn(WaitFlag { slot: slot.clone(), flag: flag.clone() });
        ex.tick();
        let waker_cpu = {
            let m = m.clone();
            loom::thread::spawn(move || {
                // SAFETY: this thread is CPU 1's only user.
                let ep = unsafe { m.queues.endpoint(1).unwrap() };
                wire(1, &m, &ep);
                flag.store(7, Ordering::SeqCst);
                let waker: Option<Waker> = slot.lock().unwrap().take();
                if let Some(w) = waker {
                    w.wake();
                }
                unwire();
            })
        };
        while !h.is_finished() {
            let drained = ep.drain(|_, msg| {
                // SAFETY: `hook_remote_wake` sent this word for a task of
                // this executor; each message is delivered once.
                unsafe { ex.wake_message(msg.data) };
            });
            m.grant_room(drained);
            ex.tick();
            if h.is_finished() {
                break;
            }
            m.take_interrupt(0);
            ep.set_idle(true);
            if !ex.has_work() && !m.queues.has_pending(0) {
                m.halt(0);
            }
            ep.set_idle(false);
        }
        waker_cpu.join().unwrap();
        unwire();
        drop(ex);
    });
}
