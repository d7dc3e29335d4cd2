//! Reading without a lock on the host: `retire::Snapshot` and `SlotTable`,
//! with threads standing for CPUs and `support/polls.rs` for the grace
//! period (a retired value is dropped once every poll that was in progress
//! when it was retired has returned).

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use io::retire::Snapshot;
use io::{Keyed, SlotTable};

#[path = "support/polls.rs"]
mod polls;

struct Unpark(thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `f` to completion as one CPU's executor would, every poll through
/// `polls::poll`.
fn block_on<F: Future>(f: F) -> F::Output {
    polls::install();
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = polls::poll(f.as_mut(), &mut cx) {
            return v;
        }
        thread::park();
    }
}

/// A value that records its drop.
struct Tracked {
    key: u32,
    dropped: Arc<AtomicBool>,
}

impl Keyed for Tracked {
    fn key(&self) -> u32 {
        self.key
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        assert!(!self.dropped.swap(true, Ordering::SeqCst), "dropped twice");
    }
}

fn tracked(key: u32) -> (Arc<Tracked>, Arc<AtomicBool>) {
    let dropped = Arc::new(AtomicBool::new(false));
    (Arc::new(Tracked { key, dropped: Arc::clone(&dropped) }), dropped)
}

/// A poll on another thread is in progress while the value is replaced:
/// the old value lives until that poll returns, then is dropped.
#[test]
fn a_replaced_snapshot_lives_until_every_poll_in_progress_ends() {
    let (first, first_dropped) = tracked(1);
    let snapshot = Arc::new(Snapshot::new(first));
    let (second, second_dropped) = tracked(2);
    let inside = Arc::new(Barrier::new(2));
    let leave = Arc::new(Barrier::new(2));
    let reader = {
        let (inside, leave) = (Arc::clone(&inside), Arc::clone(&leave));
        thread::spawn(move || {
            // One poll that waits inside itself: a CPU busy in a task.
            block_on(poll_fn(|_| {
                inside.wait();
                leave.wait();
                Poll::Ready(())
            }));
        })
    };
    inside.wait();
    block_on(async { snapshot.set(second) });
    assert!(!first_dropped.load(Ordering::SeqCst), "dropped while another CPU was inside a poll");
    assert_eq!(snapshot.get().key, 2, "readers see the new value at once");
    leave.wait();
    reader.join().unwrap();
    assert!(first_dropped.load(Ordering::SeqCst), "dropped once that poll returned");
    drop(snapshot);
    assert!(second_dropped.load(Ordering::SeqCst), "the snapshot's own value ends with it");
}

/// An insert, given how to make the value for a key.
type Insert<'a> = &'a dyn Fn(&mut dyn FnMut(u32) -> Arc<Tracked>) -> Option<u32>;

#[test]
fn keys_count_up_skip_taken_slots_and_wrap() {
    let mut drops = Vec::new();
    let mut add = |table: Insert| {
        table(&mut |key| {
            let (v, d) = tracked(key);
            drops.push(d);
            v
        })
    };
    let table: SlotTable<Tracked, 4> = SlotTable::new(100, 3);
    let insert = |make: &mut dyn FnMut(u32) -> Arc<Tracked>| table.insert(make).map(|v| v.key);
    let first: Vec<_> = (0..4).map(|_| add(&insert)).collect();
    assert_eq!(first, [Some(1), Some(2), Some(3), Some(4)]);
    assert_eq!(table.len(), 4);
    assert_eq!(add(&insert), None, "four slots, four values: full (keys 5 to 8 tried)");
    block_on(async { assert!(table.remove(2)) });
    // Key 9's slot (1) is taken, key 10's (2) is free.
    assert_eq!(add(&insert), Some(10));
    assert!(table.get(2).is_none(), "a removed key is gone");
    assert!(table.get(6).is_none(), "key 6 shares slot 2 with 10 but is not 10");
    assert_eq!(table.get(10).map(|v| v.key), Some(10));
    let mut seen: Vec<u32> = table.values().iter().map(|v| v.key).collect();
    seen.sort_unstable();
    assert_eq!(seen, [1, 3, 4, 10]);
    let mut count = 0;
    table.for_each(|_| count += 1);
    assert_eq!(count, 4);
    block_on(async {
        for k in [1, 3, 4, 10] {
            assert!(table.remove(k));
        }
        assert!(!table.remove(10), "removed twice");
    });
    assert!(table.is_empty());
    assert_eq!(table.handed_out(), 10);

    // Keys 1 to 4, then 5 wraps to 3, 6 to 4, 7 to 3 ...
    let small: SlotTable<Tracked, 16> = SlotTable::new(5, 3);
    let insert = |make: &mut dyn FnMut(u32) -> Arc<Tracked>| small.insert(make).map(|v| v.key);
    let keys: Vec<_> = (0..4).map(|_| add(&insert)).collect();
    assert_eq!(keys, [Some(1), Some(2), Some(3), Some(4)]);
    assert_eq!(add(&insert), None, "every key of the wrapped range is live");
    block_on(async { assert!(small.remove(3)) });
    assert_eq!(add(&insert), Some(3), "a free key after the wrap is handed out again");
    drop(table);
    drop(small);
    assert_eq!(drops.len(), 10);
    assert!(drops.iter().all(|d| d.load(Ordering::SeqCst)), "every value is dropped once");
}

/// Four threads insert, read and remove their own values while a fifth
/// reads every key: every read finds the key's own value or nothing, and
/// every value is dropped exactly once.
#[test]
fn readers_and_writers_on_many_threads_agree() {
    const ROUNDS: usize = 2000;
    let table: Arc<SlotTable<Tracked, 64>> = Arc::new(SlotTable::new(1 << 20, 100));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (table, stop) = (Arc::clone(&table), Arc::clone(&stop));
        thread::spawn(move || {
            let mut found = 0u64;
            while !stop.load(Ordering::Relaxed) {
                block_on(async {
                    for key in 1..1000 {
                        if let Some(v) = table.get(key) {
                            assert_eq!(v.key, key);
                            assert!(!v.dropped.load(Ordering::SeqCst), "a live value was dropped");
                            found += 1;
                        }
                    }
                });
            }
            found
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let table = Arc::clone(&table);
            thread::spawn(move || {
                let mut all = Vec::new();
                for _ in 0..ROUNDS {
                    let flags: Vec<_> = (0..4)
                        .map(|_| {
                            let (v, flag) = {
                                let mut flag = None;
                                let v = table
                                    .insert(|key| {
                                        let (v, d) = tracked(key);
                                        flag = Some(d);
                                        v
                                    })
                                    .expect("never full: 16 live values in 64 slots");
                                (v, flag.unwrap())
                            };
                            assert_eq!(table.get(v.key).map(|w| w.key), Some(v.key));
                            block_on(async { assert!(table.remove(v.key)) });
                            flag
                        })
                        .collect();
                    all.extend(flags);
                }
                all
            })
        })
        .collect();
    let flags: Vec<_> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    println!("reader found {} live values", reader.join().unwrap());
    assert!(table.is_empty());
    assert_eq!(flags.len(), 4 * 4 * ROUNDS);
    assert!(flags.iter().all(|d| d.load(Ordering::SeqCst)), "every removed value is dropped once every poll ended");
}

#[test]
fn a_value_without_its_key_is_refused() {
    let table: SlotTable<Tracked, 4> = SlotTable::new(10, 3);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| table.insert(|_| tracked(9).0)));
    assert!(result.is_err(), "a value made with another key must panic");
}
