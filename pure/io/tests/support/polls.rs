//! The host's stand-in for the kernel's token hook: threads stand for
//! CPUs, each running futures with a small `block_on` that calls [`poll`].
//! Every poll in progress has a ticket; a token waiter's waker is kept with
//! the tickets in progress when it asked, and woken once all of them have
//! ended: then every poll that could have held the waiter's token has
//! returned, which is what `TokenHooks::wake_after_every_cpu` promises.
//! (The waiter's own poll is among them; it ends as soon as it returns
//! `Pending`.) One lock, `io::sync::Lock`, so loom models it too.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use io::sync::Lock;
use io::token::TokenHooks;

#[derive(Default)]
struct State {
    next: u64,
    in_progress: Vec<u64>,
    waiting: Vec<(Vec<u64>, Waker)>,
}

#[cfg(not(loom))]
static STATE: Lock<State> = Lock::new(State { next: 0, in_progress: Vec::new(), waiting: Vec::new() });

#[cfg(loom)]
loom::lazy_static! {
    static ref STATE: Lock<State> = Lock::new(State::default());
}

/// The hook for `io::token::set_hooks`.
pub static HOOKS: TokenHooks = TokenHooks { wake_after_every_cpu };

/// Installs [`HOOKS`] (every test calls it first; installing twice is
/// harmless).
pub fn install() {
    io::token::set_hooks(&HOOKS);
}

fn wake_after_every_cpu(waker: Waker) {
    let now = STATE.with(|s| {
        if s.in_progress.is_empty() {
            return Some(waker);
        }
        let pending = s.in_progress.clone();
        s.waiting.push((pending, waker));
        None
    });
    if let Some(w) = now {
        w.wake();
    }
}

/// Polls `f` once, as a CPU's executor would: the poll counts as in
/// progress until it returns.
pub fn poll<F: Future + ?Sized>(f: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<F::Output> {
    let ticket = STATE.with(|s| {
        let t = s.next;
        s.next += 1;
        s.in_progress.push(t);
        t
    });
    let out = f.poll(cx);
    let woken: Vec<Waker> = STATE.with(|s| {
        s.in_progress.retain(|&t| t != ticket);
        let mut woken = Vec::new();
        s.waiting.retain_mut(|(pending, waker)| {
            pending.retain(|&t| t != ticket);
            if pending.is_empty() {
                woken.push(waker.clone());
                false
            } else {
                true
            }
        });
        woken
    });
    woken.into_iter().for_each(Waker::wake);
    out
}
