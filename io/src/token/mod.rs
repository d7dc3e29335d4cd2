//! Serializing tokens (DragonFly's LWKT tokens) for futures.
//!
//! A token serializes the code that holds it, on any CPU, and is held only
//! while that code runs: DragonFly releases a thread's tokens whenever it
//! blocks and takes them all back before it resumes. Here the unit that
//! runs without blocking is a synchronous closure inside one poll, so a
//! token is held for exactly one closure call:
//!
//! ```text
//! counters.exclusive(|c| c.hits += 1).await
//! token::exclusive2(&a, &b, |a, b| move_one(a, b)).await
//! ```
//!
//! An access future takes its whole set of tokens before it runs its
//! closure, all or nothing: it tries each; if one is busy it gives back the
//! ones it took, leaves a waker on the busy one, counts a collision and
//! returns `Pending`, so the task is not run further until a holder lets go
//! (no spinning; the waker wakes it to try again). It never holds a token
//! while it waits, so two tasks that take the same tokens in opposite
//! orders cannot deadlock. A reference to protected data exists only
//! inside the closure, which cannot `.await` (it is not async) and cannot
//! let the reference out (the closure's result cannot borrow from its
//! argument): the compiler refuses both, see [`Guarded`].
//!
//! Tokens are exclusive or shared. One set that asks for the same token
//! shared and exclusive is refused with a panic naming it (DragonFly panics
//! too); the same token twice in one mode is taken once. Interrupt handlers
//! never wait for a token: they may only *try* ([`Guarded::try_exclusive`],
//! [`Guarded::try_shared`]), and take no for an answer.
//!
//! # The token word and the waiter protocol
//!
//! One word holds everything: `EXCL` (held exclusive), `WAITERS` (someone
//! waits for it) and the count of shared holders. Every change is a
//! read-modify-write of that one word, so all of them are totally ordered
//! and no "store here, load there" reasoning is needed:
//! - taking exclusive: compare-and-swap from a word with no holder (0, or
//!   just `WAITERS`) to the same plus `EXCL`; shared: add one when `EXCL`
//!   is clear. Uncontended: one compare-and-swap.
//! - a waiter pushes its waker on `waiters` (a spin lock taken only on the
//!   contended path), then, in one compare-and-swap loop on the word,
//!   either finds the token free and takes it, or sets `WAITERS` while it
//!   is held;
//! - giving back exclusive is a swap to 0; giving back the last shared hold
//!   leaves `WAITERS` alone, which the giver then clears with a
//!   compare-and-swap (if a new holder came first, that holder wakes them).
//!   A giver that cleared `WAITERS` takes the whole list and wakes every
//!   waker in it.
//!
//! A waiter's waker is in the list before its `WAITERS` is set, and a giver
//! takes the list only after its swap saw `WAITERS`: the waker is there. A
//! giver that came first in the word's order left it free for the waiter's
//! loop to take. No wake is lost (loom: `io/tests/loom.rs`). Every waiter
//! retries on every release that frees the token, so none is passed over
//! for ever while the token keeps being released.
//!
//! Each token counts its collisions (a try that found it busy), and knows
//! its name; [`for_each`] walks the listed ones (`Token::list`, for
//! statics; pool tokens list themselves): the shell's `tokens` command.

mod access;

pub use access::{Access, Guarded, exclusive2, shared_exclusive};

use alloc::vec::Vec;
use core::task::Waker;

use crate::sync::{AtomicU64, AtomicUsize, Lock, Ordering, const_unless_loom};

const EXCL: usize = 1 << (usize::BITS - 1);
const WAITERS: usize = 1 << (usize::BITS - 2);
/// The shared holders' count.
const COUNT: usize = WAITERS - 1;

/// How a set holds a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Alone: no other holder, shared or exclusive.
    Exclusive,
    /// With other shared holders, no exclusive one.
    Shared,
}

/// A serializing token (see the module doc).
pub struct Token {
    name: &'static str,
    state: AtomicUsize,
    waiters: Lock<Vec<Waker>>,
    collisions: AtomicU64,
    /// In the list [`for_each`] walks.
    listed: core::sync::atomic::AtomicBool,
    next: core::sync::atomic::AtomicPtr<Token>,
}

/// Every token taken at least once, newest first (a push-only list: tokens
/// are `'static` and never leave it).
/// (`core`'s atomics even under loom: the list is not part of the model.)
static LISTED: core::sync::atomic::AtomicPtr<Token> = core::sync::atomic::AtomicPtr::new(core::ptr::null_mut());

impl Token {
    const_unless_loom! {
        /// A free token called `name` (shown by the shell's `tokens`).
        pub fn new(name: &'static str) -> Self {
            Self {
                name,
                state: AtomicUsize::new(0),
                waiters: Lock::new(Vec::new()),
                collisions: AtomicU64::new(0),
                listed: core::sync::atomic::AtomicBool::new(false),
                next: core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()),
            }
        }
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Tries that found it busy, since boot.
    pub fn collisions(&self) -> u64 {
        self.collisions.load(Ordering::Relaxed)
    }

    /// Whether someone holds it now (a snapshot).
    pub fn is_held(&self) -> bool {
        self.state.load(Ordering::Relaxed) & (EXCL | COUNT) != 0
    }

    /// One try, no waiting: `true` if it is now held in `mode`.
    #[inline]
    pub(crate) fn try_take(&self, mode: Mode) -> bool {
        // The common case first: free, nobody waiting.
        if mode == Mode::Exclusive && self.state.compare_exchange(0, EXCL, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return true;
        }
        let taken = self.take_or_mark_cold(mode, false);
        if !taken {
            self.collisions.fetch_add(1, Ordering::Relaxed);
        }
        taken
    }

    /// One compare-and-swap loop: takes the token if it is free for `mode`;
    /// otherwise, if `mark`, sets `WAITERS`. Returns whether it took it.
    #[cold]
    fn take_or_mark_cold(&self, mode: Mode, mark: bool) -> bool {
        self.take_or_mark(mode, mark)
    }

    /// One compare-and-swap loop: takes the token if it is free for `mode`;
    /// otherwise, if `mark`, sets `WAITERS`. Returns whether it took it.
    fn take_or_mark(&self, mode: Mode, mark: bool) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            let free = match mode {
                Mode::Exclusive => s & (EXCL | COUNT) == 0,
                Mode::Shared => s & EXCL == 0,
            };
            let new = match (free, mode) {
                (true, Mode::Exclusive) => s | EXCL,
                (true, Mode::Shared) => {
                    assert!(s & COUNT < COUNT, "token '{}': too many shared holders", self.name);
                    s + 1
                }
                (false, _) if mark && s & WAITERS == 0 => s | WAITERS,
                (false, _) => return false,
            };
            match self.state.compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return free,
                Err(now) => s = now,
            }
        }
    }

    /// Gives back a hold in `mode`; wakes the waiters if it is now free.
    #[inline]
    pub(crate) fn give(&self, mode: Mode) {
        let wake = match mode {
            Mode::Exclusive => self.state.swap(0, Ordering::AcqRel) & WAITERS != 0,
            Mode::Shared => {
                let before = self.state.fetch_sub(1, Ordering::AcqRel);
                // The last holder clears `WAITERS`, unless someone took the
                // token first (then that holder wakes them when it gives).
                before & (EXCL | COUNT) == 1
                    && before & WAITERS != 0
                    && self.state.compare_exchange(WAITERS, 0, Ordering::AcqRel, Ordering::Relaxed).is_ok()
            }
        };
        if wake {
            self.wake_all();
        }
    }

    #[cold]
    fn wake_all(&self) {
        let woken = self.waiters.with(core::mem::take);
        woken.into_iter().for_each(Waker::wake);
    }

    /// Leaves `waker` to be woken when the token is next freed, or takes it
    /// if it is free now: `true` if it took it (the waker stays in the
    /// list; its wake is then spurious, which is harmless).
    pub(crate) fn wait_or_take(&self, mode: Mode, waker: &Waker) -> bool {
        self.waiters.with(|w| w.push(waker.clone()));
        self.take_or_mark(mode, true)
    }

    /// Puts this token in the list [`for_each`] walks (once; later calls do
    /// nothing). Only `'static` tokens can be listed.
    pub fn list(&'static self) {
        if self.listed.load(Ordering::Relaxed) || self.listed.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = core::ptr::from_ref(self).cast_mut();
        let mut head = LISTED.load(Ordering::Acquire);
        loop {
            self.next.store(head, Ordering::Relaxed);
            match LISTED.compare_exchange_weak(head, me, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }
}

/// Calls `f` with every listed token ([`Token::list`]; pool tokens list
/// themselves when first picked), newest first.
pub fn for_each(mut f: impl FnMut(&'static Token)) {
    let mut p = LISTED.load(Ordering::Acquire);
    while !p.is_null() {
        // SAFETY: only `&'static Token`s are pushed (`list` takes
        // `&'static self`), and none ever leaves the list.
        let t: &'static Token = unsafe { &*p };
        f(t);
        p = t.next.load(Ordering::Acquire);
    }
}

/// Pool tokens: a fixed table of tokens an object picks by its address,
/// for objects too many or too small to carry a token each (DragonFly's
/// `lwkt_token_pool_lookup`). Two objects may share one; a set that takes
/// both takes it once.
#[cfg(not(loom))]
pub mod pool {
    use super::Token;

    /// Tokens in the table.
    pub const SIZE: usize = 64;

    #[repr(align(64))]
    struct Padded(Token);

    static POOL: [Padded; SIZE] = [const { Padded(Token::new("pool")) }; SIZE];

    /// The pool token for the object at `addr`.
    pub fn for_address(addr: usize) -> &'static Token {
        // Fibonacci hashing of the address without its low (alignment) bits.
        let h = ((addr >> 4) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SIZE.trailing_zeros());
        let token = &POOL[h as usize].0;
        token.list();
        token
    }
}
