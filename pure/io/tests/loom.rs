//! loom models of the wait cell and the interrupt ring. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p io --release --test loom`
//! (CI does). Under plain `cargo test` this file is empty.
#![cfg(loom)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

use io::{IrqRing, Pushed, WaitCell};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};

/// A waker that records that it was woken (loom-visible).
fn flag_waker() -> (Arc<AtomicBool>, std::task::Waker) {
    struct Flag(Arc<AtomicBool>);
    impl std::task::Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let woken = Arc::new(AtomicBool::new(false));
    (Arc::clone(&woken), std::task::Waker::from(std::sync::Arc::new(Flag(woken))))
}

/// The signal races the waiter's registration: either the waiter sees it at
/// once, or its waker is called. Never both missing (a lost wakeup).
#[test]
fn wait_cell_no_lost_wakeup() {
    loom::model(|| {
        let cell = Arc::new(WaitCell::new());
        let signaller = {
            let cell = Arc::clone(&cell);
            loom::thread::spawn(move || cell.signal())
        };
        let (woken, waker) = flag_waker();
        let mut cx = Context::from_waker(&waker);
        let mut wait = pin!(cell.wait());
        let first = wait.as_mut().poll(&mut cx);
        signaller.join().unwrap();
        if first.is_pending() {
            assert!(woken.load(Ordering::SeqCst), "signal after registration must wake");
            assert_eq!(wait.as_mut().poll(&mut cx), Poll::Ready(()));
        }
    });
}

/// Two signals from two threads (an interrupt on two CPUs) and a waiter:
/// at least one wake or ready, and the cell ends up consumed or pending, never
/// signalled-but-asleep.
#[test]
fn wait_cell_two_signallers() {
    loom::model(|| {
        let cell = Arc::new(WaitCell::new());
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let cell = Arc::clone(&cell);
                loom::thread::spawn(move || cell.signal())
            })
            .collect();
        let (woken, waker) = flag_waker();
        let mut cx = Context::from_waker(&waker);
        let first = cell.poll_wait(&mut cx);
        for t in threads {
            t.join().unwrap();
        }
        if first.is_pending() {
            assert!(woken.load(Ordering::SeqCst));
        }
    });
}

/// Producer pushes 3 into a ring of 2 while the consumer receives: FIFO, no
/// element lost unless counted as an overflow, and a consumer that went to
/// sleep on an empty ring is woken by the next push.
#[test]
fn ring_fifo_overflow_counted_no_lost_wakeup() {
    loom::model(|| {
        let ring: Arc<IrqRing<u8, 2>> = Arc::new(IrqRing::new());
        let producer = {
            let ring = Arc::clone(&ring);
            loom::thread::spawn(move || (1..=3u8).filter(|&v| ring.push(v) == Pushed::Stored).count())
        };
        let (woken, waker) = flag_waker();
        let mut cx = Context::from_waker(&waker);
        let mut got = Vec::new();
        let mut slept = false;
        for _ in 0..2 {
            match ring.poll_recv(&mut cx) {
                Poll::Ready(v) => got.push(v),
                Poll::Pending => {
                    slept = true;
                    break;
                }
            }
        }
        let stored = producer.join().unwrap();
        if slept && stored > got.len() {
            assert!(woken.load(Ordering::SeqCst), "a push after the consumer slept must wake it");
        }
        while let Some(v) = ring.pop() {
            got.push(v);
        }
        assert_eq!(got.len(), stored);
        assert!(got.windows(2).all(|w| w[0] < w[1]), "FIFO: {got:?}");
        assert_eq!(ring.overflows() as usize, 3 - stored);
    });
}

/// A reader racing two writes of a stall record sees none, the first or
/// the second, each whole: never the task of one with the name or start
/// time of another.
#[test]
fn a_stall_record_is_never_read_torn() {
    use io::{Stall, StallRecord};
    loom::model(|| {
        let record = Arc::new(StallRecord::new());
        let a = Stall { task: 1, name: Some("a"), since: 10 };
        let b = Stall { task: 2, name: Some("bb"), since: 20 };
        let writer = {
            let record = Arc::clone(&record);
            loom::thread::spawn(move || {
                record.set(Some(a));
                record.set(Some(b));
            })
        };
        let seen = record.get();
        assert!(seen.is_none() || seen == Some(a) || seen == Some(b), "torn: {seen:?}");
        writer.join().unwrap();
        assert_eq!(record.get(), Some(b));
    });
}

/// A waker that gives the thread blocked on it a permit.
struct Notified(loom::sync::Notify);

impl std::task::Wake for Notified {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.notify();
    }
}

/// Polls `f` until it is ready, on a loom thread, blocking on its waker
/// between polls: a wake that never comes deadlocks, which loom reports.
fn loom_block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let woken = std::sync::Arc::new(Notified(loom::sync::Notify::new()));
    let waker = std::task::Waker::from(woken.clone());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(&waker)) {
            return v;
        }
        woken.0.wait();
    }
}

#[path = "support/polls.rs"]
mod polls;

/// `loom_block_on` for token models: every poll goes through
/// `polls::poll`, the host's token hook (kept out of the other models,
/// whose state it would only multiply).
fn token_block_on<F: Future>(f: F) -> F::Output {
    polls::install();
    let mut f = pin!(f);
    let woken = std::sync::Arc::new(Notified(loom::sync::Notify::new()));
    let waker = std::task::Waker::from(woken.clone());
    loop {
        if let Poll::Ready(v) = polls::poll(f.as_mut(), &mut Context::from_waker(&waker)) {
            return v;
        }
        woken.0.wait();
    }
}

/// Two threads take tokens A and B in opposite orders, all or nothing:
/// both finish (no deadlock, no lost wake) and both increments land.
#[test]
fn tokens_in_opposite_orders_never_deadlock_or_lose_a_wake() {
    use io::token::{self, Guarded};
    loom::model(|| {
        let a = Arc::new(Guarded::new("a", 0u32));
        let b = Arc::new(Guarded::new("b", 0u32));
        let other = {
            let (a, b) = (Arc::clone(&a), Arc::clone(&b));
            loom::thread::spawn(move || {
                token_block_on(token::exclusive2(&*b, &*a, |b, a| {
                    *b += 1;
                    *a += 1;
                }));
            })
        };
        token_block_on(token::exclusive2(&*a, &*b, |a, b| {
            *a += 1;
            *b += 1;
        }));
        other.join().unwrap();
        assert_eq!(token_block_on(token::exclusive2(&*a, &*b, |a, b| (*a, *b))), (2, 2));
    });
}

/// Shared holders and an exclusive waiter race on one token: the writer
/// that finds a reader in waits for its poll to end and marks the token
/// wanted; the reader's next access is kept out until the writer got in,
/// and is woken then; every access finishes and the write lands once.
/// Three preemptions, not CI's two: the writer getting in between the
/// kept-out reader's look at the word and its waker going on the list
/// (which the reader's second look covers) takes three.
#[test]
fn a_writer_waiting_behind_readers_is_woken() {
    use io::token::Guarded;
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(model.preemption_bound.map_or(3, |b| b.max(3)));
    model.check(|| {
        let g = Arc::new(Guarded::new("rw", 0u32));
        let reader = {
            let g = Arc::clone(&g);
            loom::thread::spawn(move || token_block_on(g.shared(|v| *v)) + token_block_on(g.shared(|v| *v)))
        };
        token_block_on(g.exclusive(|v| *v += 1));
        let seen = reader.join().unwrap();
        assert!(seen <= 2, "each read saw 0 or 1");
        assert_eq!(token_block_on(g.shared(|v| *v)), 1);
    });
}

/// Port hooks for the models: one CPU (the post path is host-tested in
/// `port.rs`); the threads race on the call itself.
static ONE_CPU: io::port::PortHooks = io::port::PortHooks { current: || 0, post: |_, _| unreachable!("one CPU") };

/// A caller aborts (drops its call future) while the server replies: the
/// reply is dropped exactly once, by whichever side is last, and the
/// request exactly once too.
#[test]
fn an_aborted_call_racing_its_reply_drops_the_reply_once() {
    use io::port::Port;
    struct Counted(Arc<loom::sync::atomic::AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    loom::model(|| {
        let drops = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
        let (mut port, handle) = Port::<Counted, Counted>::new(&ONE_CPU, 2);
        let request = Counted(Arc::clone(&drops));
        let caller = loom::thread::spawn(move || {
            let mut call = pin!(handle.call(request));
            let waker = std::task::Waker::noop();
            let first = call.as_mut().poll(&mut Context::from_waker(waker));
            // Sent; now give up (unless the answer is already here).
            drop(call);
            first.is_ready()
        });
        let m = loom_block_on(port.recv()).expect("the call arrives");
        let (req, answer) = m.take();
        drop(req);
        let _ = answer.reply(Counted(Arc::clone(&drops)));
        let _ = caller.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 2, "the request and the reply, each dropped once");
    });
}

/// A caller waits while the server answers, or drops the message: the
/// caller is always woken, with the answer or `NoReply`.
#[test]
fn a_waiting_caller_is_woken_by_the_answer_or_its_absence() {
    use io::port::{Port, PortError};
    for answer in [true, false] {
        loom::model(move || {
            let (mut port, handle) = Port::<u32, u32>::new(&ONE_CPU, 2);
            let caller = loom::thread::spawn(move || loom_block_on(handle.call(5)));
            let m = loom_block_on(port.recv()).expect("the call arrives");
            if answer {
                m.reply(6);
            } else {
                drop(m);
            }
            let got = caller.join().unwrap();
            assert_eq!(got, if answer { Ok(6) } else { Err(PortError::NoReply) });
        });
    }
}

/// A value in a `SlotTable` that records its drop (loom-visible).
struct Keyed(u32, Arc<AtomicBool>);

impl io::Keyed for Keyed {
    fn key(&self) -> u32 {
        self.0
    }
}

impl Drop for Keyed {
    fn drop(&mut self) {
        assert!(!self.1.swap(true, Ordering::SeqCst), "dropped twice");
    }
}

/// A reader looks keys 1 and 3 up (one slot, two slots apart) while a
/// writer removes 1 and inserts 2 and 3: each read finds its key's own
/// value, live, or nothing; the removed value is dropped once, after the
/// polls that could have seen it.
#[test]
fn a_slot_table_read_races_a_remove_and_an_insert() {
    loom::model(|| {
        let table: Arc<io::SlotTable<Keyed, 2>> = Arc::new(io::SlotTable::new(100, 2));
        let first = Arc::new(AtomicBool::new(false));
        let one = Arc::clone(&first);
        let _ = table.insert(move |k| std::sync::Arc::new(Keyed(k, one)));
        let reader = {
            let table = Arc::clone(&table);
            loom::thread::spawn(move || {
                token_block_on(async {
                    for key in [1, 3] {
                        if let Some(v) = table.get(key) {
                            assert_eq!(v.0, key);
                            assert!(!v.1.load(Ordering::SeqCst), "a value found is live");
                        }
                    }
                });
            })
        };
        token_block_on(async {
            assert!(table.remove(1));
            for expected in [2, 3] {
                let v = table.insert(|k| std::sync::Arc::new(Keyed(k, Arc::new(AtomicBool::new(false)))));
                assert_eq!(v.map(|v| v.0), Some(expected));
            }
        });
        reader.join().unwrap();
        assert!(first.load(Ordering::SeqCst), "the removed value is dropped once the polls ended");
        assert_eq!(table.len(), 2);
    });
}

/// A reader takes a snapshot while a writer replaces it: the reader holds
/// the old value or the new one, live; the old one is dropped once.
#[test]
fn a_snapshot_read_races_its_replacement() {
    use io::retire::Snapshot;
    loom::model(|| {
        let old_dropped = Arc::new(AtomicBool::new(false));
        let snapshot = Arc::new(Snapshot::new(std::sync::Arc::new(Keyed(1, Arc::clone(&old_dropped)))));
        let reader = {
            let snapshot = Arc::clone(&snapshot);
            loom::thread::spawn(move || {
                token_block_on(async {
                    let v = snapshot.get();
                    assert!(v.0 == 1 || v.0 == 2);
                    assert!(!v.1.load(Ordering::SeqCst), "a value read is live");
                });
            })
        };
        token_block_on(async { snapshot.set(std::sync::Arc::new(Keyed(2, Arc::new(AtomicBool::new(false))))) });
        reader.join().unwrap();
        assert!(old_dropped.load(Ordering::SeqCst), "the old value is dropped once the polls ended");
        assert_eq!(token_block_on(async { snapshot.get().0 }), 2);
    });
}
