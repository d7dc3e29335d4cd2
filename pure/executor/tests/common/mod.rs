//! Host platform for executor tests: an executor per thread, signals counted.
#![allow(dead_code, reason = "each test binary uses a subset")]

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use executor::{Executor, Hooks};

thread_local! {
    static CURRENT: Cell<Option<usize>> = const { Cell::new(None) };
}

pub static SIGNALS: [AtomicUsize; 64] = [const { AtomicUsize::new(0) }; 64];

fn current() -> Option<usize> {
    CURRENT.with(Cell::get)
}

fn signal(id: usize) {
    SIGNALS[id].fetch_add(1, Ordering::SeqCst);
}

fn now() -> u64 {
    use std::time::Instant;
    thread_local!(static T0: Instant = Instant::now());
    T0.with(|t| t.elapsed().as_nanos() as u64)
}

pub static HOOKS: Hooks = Hooks { current, signal, now, remote_wake: |_, _| false };

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

/// A new executor owned by this thread (its task context is this thread).
pub fn executor() -> Executor {
    let id = NEXT_ID.fetch_add(1, Ordering::SeqCst) % 64;
    CURRENT.with(|c| c.set(Some(id)));
    Executor::new(id, &HOOKS)
}

/// Counts drops of a value.
pub struct DropCount<'a>(pub &'a AtomicUsize);

impl Drop for DropCount<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls a future once with a no-op waker.
pub fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    std::pin::Pin::new(f).poll(&mut cx)
}
