//! Serializing tokens on the host: threads stand for CPUs, a small
//! `block_on` (thread park) for each CPU's executor.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use io::token::{self, Guarded, Token};

#[path = "support/polls.rs"]
mod polls;

struct Unpark(thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `f` to completion on this thread, parking while it is pending;
/// returns its output and how many polls it took. Polls through
/// `polls::poll`, which gives tokens their hook.
fn block_on<F: Future>(f: F) -> (F::Output, u32) {
    polls::install();
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    let mut polls = 0;
    loop {
        polls += 1;
        if let Poll::Ready(v) = polls::poll(f.as_mut(), &mut cx) {
            return (v, polls);
        }
        // A lost wake parks for good: bound it, and fail loudly.
        let start = Instant::now();
        thread::park_timeout(Duration::from_secs(10));
        assert!(start.elapsed() < Duration::from_secs(10), "a pending token access was never woken");
    }
}

#[test]
fn exclusive_and_shared_access_reach_the_value() {
    let g = Guarded::new("value", 41u32);
    let (v, polls) = block_on(g.exclusive(|v| {
        *v += 1;
        *v
    }));
    assert_eq!((v, polls), (42, 1), "a free token is taken on the first poll");
    assert_eq!(block_on(g.shared(|v| *v)).0, 42);
    assert!(!g.token().is_held(), "given back after the closure");
}

#[test]
fn shared_holders_coexist_and_exclude_a_writer() {
    let g = Guarded::new("rw", 7u32);
    let (inner, _) = block_on(g.shared(|v| (g.try_shared(|w| *w + *v), g.try_exclusive(|w| *w))));
    assert_eq!(inner, (Some(14), None), "a second reader gets in, a writer does not");
    let (inner, _) = block_on(g.exclusive(|_| (g.try_shared(|w| *w), g.try_exclusive(|w| *w))));
    assert_eq!(inner, (None, None), "nobody gets in beside a writer");
}

#[test]
#[should_panic(expected = "asks for it shared and exclusive")]
fn shared_then_exclusive_on_one_token_is_refused() {
    static T: Token = Token::new("both-modes");
    let a = Guarded::with_token(&T, 1u32);
    let b = Guarded::with_token(&T, 2u32);
    drop(token::shared_exclusive(&a, &b, |_, _| ()));
}

#[test]
#[should_panic(expected = "the same value twice")]
fn one_value_twice_in_a_set_is_refused() {
    let a = Guarded::new("twice", 1u32);
    drop(token::exclusive2(&a, &a, |_, _| ()));
}

#[test]
fn two_values_on_one_token_take_it_once() {
    static T: Token = Token::new("shared-by-two");
    let a = Guarded::with_token(&T, 1u32);
    let b = Guarded::with_token(&T, 2u32);
    let (sum, _) = block_on(token::exclusive2(&a, &b, |a, b| {
        *a += 10;
        *a + *b
    }));
    assert_eq!(sum, 13);
    assert!(!T.is_held(), "taken once, given back once");
}

#[test]
fn a_busy_token_makes_the_access_wait_then_wakes_it() {
    let g = Arc::new(Guarded::new("busy", 0u32));
    let entered = Arc::new(Barrier::new(2));
    let holder = {
        let (g, entered) = (Arc::clone(&g), Arc::clone(&entered));
        thread::spawn(move || {
            block_on(g.exclusive(|v| {
                entered.wait();
                thread::sleep(Duration::from_millis(50));
                *v += 1;
            }));
        })
    };
    entered.wait();
    let before = g.token().collisions();
    let (v, polls) = block_on(g.exclusive(|v| *v));
    holder.join().unwrap();
    assert_eq!(v, 1, "ran after the holder, not beside it");
    assert!(polls >= 2, "it waited ({polls} polls)");
    assert!(g.token().collisions() > before, "the collision was counted");
}

#[test]
fn a_dropped_waiting_access_holds_nothing() {
    let g = Guarded::new("dropped", 0u32);
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let outcome = block_on(g.exclusive(|_| {
        let mut waiting = pin!(g.exclusive(|v| *v += 1));
        let first = waiting.as_mut().poll(&mut cx).is_pending();
        (first, g.token().is_held())
    }))
    .0;
    assert_eq!(outcome, (true, true), "pending while the outer access holds it");
    assert!(!g.token().is_held(), "the dropped access took nothing with it");
    assert_eq!(block_on(g.exclusive(|v| *v)).0, 0, "and its body never ran");
}

/// A writer waiting behind a reader keeps new readers out (DragonFly's
/// exclusive request), gets in once the reader is done, and then lets
/// readers in again.
#[test]
fn a_waiting_writer_keeps_new_readers_out_until_it_got_in() {
    let g = Arc::new(Guarded::new("writer-first", 0u32));
    let (reading, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let reader = {
        let (g, reading, release) = (Arc::clone(&g), Arc::clone(&reading), Arc::clone(&release));
        thread::spawn(move || {
            block_on(g.shared(|_| {
                reading.wait();
                release.wait();
            }));
        })
    };
    reading.wait();
    assert_eq!(g.try_shared(|v| *v), Some(0), "readers share while nobody wants to write");
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut writer = pin!(g.exclusive(|v| *v += 1));
    assert!(polls::poll(writer.as_mut(), &mut Context::from_waker(&waker)).is_pending(), "the reader holds it");
    assert_eq!(g.try_shared(|v| *v), None, "a new reader waits behind the waiting writer");
    release.wait();
    reader.join().unwrap();
    assert!(polls::poll(writer.as_mut(), &mut Context::from_waker(&waker)).is_ready(), "the writer gets in");
    assert_eq!(g.try_shared(|v| *v), Some(1), "readers get in after it");
}

/// A waiting writer that is dropped takes its wish with it: readers are
/// not kept out by a writer that is gone.
#[test]
fn a_dropped_waiting_writer_lets_readers_in() {
    let g = Guarded::new("writer-gone", 5u32);
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let (inner, _) = block_on(g.shared(|v| {
        let mut writer = pin!(g.exclusive(|w| *w += 1));
        let pending = writer.as_mut().poll(&mut Context::from_waker(&waker)).is_pending();
        let kept_out = g.try_shared(|w| *w).is_none();
        (pending, kept_out, *v)
    }));
    assert_eq!(inner, (true, true, 5), "while it waited, new readers were kept out");
    assert_eq!(g.try_shared(|v| *v), Some(5), "once dropped, readers get in; its body never ran");
}

/// Threads take the same two tokens in opposite orders, many times: with
/// locks this deadlocks; here every increment lands.
#[test]
fn opposite_orders_never_deadlock_and_counts_are_exact() {
    const THREADS: u64 = 4;
    const ROUNDS: u64 = 20_000;
    let a = Arc::new(Guarded::new("a", 0u64));
    let b = Arc::new(Guarded::new("b", 0u64));
    let workers: Vec<_> = (0..THREADS)
        .map(|i| {
            let (a, b) = (Arc::clone(&a), Arc::clone(&b));
            thread::spawn(move || {
                for _ in 0..ROUNDS {
                    if i % 2 == 0 {
                        block_on(token::exclusive2(&*a, &*b, |a, b| {
                            *a += 1;
                            *b += 1;
                        }));
                    } else {
                        block_on(token::exclusive2(&*b, &*a, |b, a| {
                            *b += 1;
                            *a += 1;
                        }));
                    }
                }
            })
        })
        .collect();
    workers.into_iter().for_each(|w| w.join().unwrap());
    assert_eq!(block_on(a.shared(|v| *v)).0, THREADS * ROUNDS);
    assert_eq!(block_on(b.shared(|v| *v)).0, THREADS * ROUNDS);
    println!("{} increments each; collisions: a {}, b {}", THREADS * ROUNDS, a.token().collisions(), b.token().collisions());
}

/// A set of two is not shut out by threads that keep taking each token
/// alone: it gets in while they go on.
#[test]
fn a_set_of_two_is_not_starved_by_single_holders() {
    let a = Arc::new(Guarded::new("a1", 0u64));
    let b = Arc::new(Guarded::new("b1", 0u64));
    let stop = Arc::new(AtomicBool::new(false));
    let hammers: Vec<_> = [Arc::clone(&a), Arc::clone(&b)]
        .into_iter()
        .map(|g| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    block_on(g.exclusive(|v| *v += 1));
                }
            })
        })
        .collect();
    let start = Instant::now();
    let got = AtomicU64::new(0);
    for _ in 0..1000 {
        block_on(token::exclusive2(&*a, &*b, |_, _| got.fetch_add(1, Ordering::Relaxed)));
    }
    stop.store(true, Ordering::Relaxed);
    hammers.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(got.load(Ordering::Relaxed), 1000);
    println!("1000 sets of two taken in {:?} beside two threads hammering each token", start.elapsed());
}

#[test]
fn listed_tokens_are_found_with_their_collisions() {
    static LISTED: Token = Token::new("listed-for-the-test");
    LISTED.list();
    LISTED.list();
    let mut seen = 0;
    token::for_each(|t| seen += usize::from(t.name() == "listed-for-the-test"));
    assert_eq!(seen, 1, "listed once however often asked");
}

#[test]
fn pooled_values_pick_tokens_by_address() {
    let values: Vec<Guarded<u32, token::PoolToken>> = (0..256).map(Guarded::pooled).collect();
    assert_eq!(size_of::<Guarded<u32, token::PoolToken>>(), size_of::<u32>(), "a pooled value carries no token");
    let mut tokens: Vec<*const Token> = values.iter().map(|g| std::ptr::from_ref(g.token())).collect();
    tokens.sort();
    tokens.dedup();
    assert!(tokens.len() > 16, "256 values spread over the pool ({} tokens)", tokens.len());
    assert!(tokens.len() <= token::pool::SIZE);
    // Shared access to pooled data takes the token exclusive: two pooled
    // values that share a token can be read and written in one set.
    let (a, b) = (&values[0], &values[1]);
    assert_eq!(block_on(token::shared_exclusive(a, b, |a, b| *a + *b)).0, 1);
}
