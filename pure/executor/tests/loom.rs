//! loom models of the executor's cross-thread protocols. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p executor --release --test loom`
//! (CI does). Under plain `cargo test` this file is empty.
#![cfg(loom)]

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use executor::{Executor, Hooks, JoinError, JoinHandle};

#[path = "support/loom_wait_flag.rs"]
mod wait_flag;
use loom::sync::Arc;
use loom::sync::Mutex;
use loom::sync::atomic::{AtomicUsize, Ordering};
use wait_flag::WaitFlag;

loom::thread_local! {
    static CURRENT: Cell<Option<usize>> = Cell::new(None);
}

fn current() -> Option<usize> {
    CURRENT.with(Cell::get)
}

static HOOKS: Hooks = Hooks { current, signal: |_| {}, now: || 0, remote_wake: |_, _| false };

fn owner_executor() -> Executor {
    CURRENT.with(|c| c.set(Some(0)));
    Executor::new(0, &HOOKS)
}

/// Runs the owner until `h` finished (loom explores the interleavings).
fn run_until_finished<T>(ex: &Executor, h: &JoinHandle<T>) {
    while !h.is_finished() {
        ex.tick();
        loom::thread::yield_now();
    }
}

fn poll_now<T>(h: &mut JoinHandle<T>) -> Poll<Result<T, JoinError>> {
    let mut cx = Context::from_waker(Waker::noop());
    Pin::new(h).poll(&mut cx)
}

/// Spawns a `WaitFlag` task and polls it once: it is then waiting, its
/// waker in the returned slot, for the returned flag.
fn spawn_waiting(ex: &Executor) -> (JoinHandle<usize>, Arc<Mutex<Option<Waker>>>, Arc<AtomicUsize>) {
    let slot = Arc::new(Mutex::new(None));
    let flag = Arc::new(AtomicUsize::new(0));
    let h = ex.spawn(WaitFlag { slot: slot.clone(), flag: flag.clone() });
    ex.tick();
    (h, slot, flag)
}

/// A wake from another thread racing the owner's polls is never lost.
#[test]
fn remote_wake_is_not_lost() {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    loom::model(|| {
        RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ex = owner_executor();
        let (mut h, slot, flag) = spawn_waiting(&ex);
        let t = loom::thread::spawn(move || {
            flag.store(3, Ordering::SeqCst);
            if let Some(w) = slot.lock().unwrap().take() {
                w.wake();
            }
        });
        run_until_finished(&ex, &h);
        t.join().unwrap();
        assert_eq!(poll_now(&mut h), Poll::Ready(Ok(3)));
    });
    println!("remote_wake_is_not_lost: {} interleavings", RUNS.load(std::sync::atomic::Ordering::Relaxed));
}

/// Completion on the owner races the handle's drop on another thread: the
/// output is dropped exactly once.
#[test]
fn output_dropped_once_when_handle_races_completion() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        struct Out(Arc<AtomicUsize>);
        impl Drop for Out {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let ex = owner_executor();
        let d = drops.clone();
        let h = ex.spawn(async move { Out(d) });
        let t = loom::thread::spawn(move || drop(h));
        ex.run_until_idle();
        t.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

/// An abort from another thread races completion: the handle sees either
/// the output or Cancelled, and the future is dropped exactly once.
#[test]
fn abort_races_completion() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        struct Guard(Arc<AtomicUsize>);
        impl Drop for Guard {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let ex = owner_executor();
        let g = Guard(drops.clone());
        let slot = Arc::new(Mutex::new(None));
        let flag = Arc::new(AtomicUsize::new(0));
        let wait = WaitFlag { slot: slot.clone(), flag: flag.clone() };
        let h = ex.spawn(async move {
            let _g = g;
            wait.await
        });
        ex.tick();
        let h = Arc::new(Mutex::new(h));
        let h2 = h.clone();
        let t = loom::thread::spawn(move || h2.lock().unwrap().abort());
        flag.store(1, Ordering::SeqCst);
        if let Some(w) = slot.lock().unwrap().take() {
            w.wake();
        }
        t.join().unwrap();
        let mut h = Arc::try_unwrap(h).ok().unwrap().into_inner().unwrap();
        run_until_finished(&ex, &h);
        match poll_now(&mut h) {
            Poll::Ready(Ok(1)) | Poll::Ready(Err(JoinError::Cancelled)) => {}
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

/// A waker that gives a thread blocked on it a permit.
struct Woken(loom::sync::Notify);

impl std::task::Wake for Woken {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.notify();
    }
}

/// A JoinHandle awaited on another thread races the task's completion (and
/// re-registers with a second waker first): the joiner is always woken and
/// gets the output. Exercises the JOIN_WAKER slot protocol (state.rs).
#[test]
fn join_waker_races_completion() {
    loom::model(|| {
        let ex = owner_executor();
        let (mut h, slot, flag) = spawn_waiting(&ex);
        let t = loom::thread::spawn(move || {
            // A first registration with a waker that is then abandoned: the
            // second poll must take the slot back (unset_join_waker) or see
            // the completion.
            let first = poll_now(&mut h);
            if first.is_ready() {
                return first;
            }
            // Then wait properly: poll with a waker that notifies `woken`,
            // and poll again only once it has.
            let woken = std::sync::Arc::new(Woken(loom::sync::Notify::new()));
            let waker = Waker::from(woken.clone());
            loop {
                if let Poll::Ready(r) = Pin::new(&mut h).poll(&mut Context::from_waker(&waker)) {
                    return Poll::Ready(r);
                }
                // Blocks until woken (a lost wakeup deadlocks, which loom reports).
                woken.0.wait();
            }
        });
        flag.store(5, Ordering::SeqCst);
        if let Some(w) = slot.lock().unwrap().take() {
            w.wake();
        }
        ex.run_until_idle();
        assert_eq!(t.join().unwrap(), Poll::Ready(Ok(5)));
    });
}
