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
//! ones it took, counts a collision, leaves its waker to be woken once the
//! busy holds have ended (below) and returns `Pending`, so the task is not
//! run again until then (no spinning; the wake makes it try again). It
//! never holds a token while it waits, so two tasks that take the same
//! tokens in opposite orders cannot deadlock. A reference to protected data exists only
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
//! # The token word, and how a waiter learns that the token was given back
//!
//! One word holds the state: `EXCL` (held exclusive), `WANTED` (an
//! exclusive access waits) and the count of shared holders. Taking
//! exclusive is one compare-and-swap from 0 (from `WANTED`, on the cold
//! path, which clears it); taking shared, a compare-and-swap that adds one
//! while `EXCL` and `WANTED` are clear. Giving back exclusive is a plain
//! store of 0, giving back shared a subtraction: a holder never looks for
//! waiters, so an uncontended access costs what a spin lock costs (one
//! locked instruction and a store).
//!
//! `WANTED` is DragonFly's `TOK_EXCLREQ`: a waiting exclusive access sets
//! it so that readers which keep overlapping cannot keep it out for ever.
//! It is a hint, not a hold: the exclusive give's store clears it (another
//! waiting writer sets it again on its next try), and an access that set
//! it clears it if it is dropped before it got in. (A waiting access that
//! is leaked, not dropped, would leave it set: readers would then wait
//! for a writer that never comes.)
//!
//! Waiters are told differently. A token is held only inside one closure
//! call, which runs within one poll (or one interrupt handler, which only
//! tries): a CPU that is between two polls holds no token at all. A waiter
//! that finds its token busy hands its waker to the platform's one hook,
//! [`TokenHooks::wake_after_every_cpu`]: "wake this once every other CPU has
//! been between two polls". Whichever CPU held the token has then let go of
//! that hold, so the waiter's next try finds the token free, or taken by a
//! newer holder (it waits again). The kernel implements the hook with one
//! IPI-queue message to every other CPU, handled in task context between
//! polls, the last answer waking the waiter; a host executor with a poll
//! counter (`pure/io/tests/support`). The cost of a wait falls on the waiter
//! and on the other CPUs' message loops, never on a holder.
//!
//! Why no wake is lost: the waiter's failed try read the holder's take; it
//! sent its messages after that read, and a CPU handles a message only
//! after it arrived, so the hold the waiter saw began before the message
//! was handled and, the CPU being between polls then, ended before it too.
//! The giver's store comes before the handler in that CPU's order, the
//! handler's answer before the waiter's wake: the waiter's retry sees the
//! store (or a later change). A message handled early (a CPU that drains
//! its queue while it sends from inside a closure) wakes the waiter early,
//! which costs a retry and another wait, never a lost wake. Every waiter
//! retries after every such round, so none waits for ever while the token
//! keeps being given back. Loom checks the protocol with the host hook
//! (`pure/io/tests/loom.rs`).
//!
//! Each token counts its collisions (a try that found it busy), and knows
//! its name; [`for_each`] walks the listed ones (`Token::list`, for
//! statics; pool tokens list themselves): the shell's `tokens` command.

mod access;
mod hooks;

#[cfg(not(loom))]
pub use access::PoolToken;
pub use access::{Access, Guard, Guarded, OwnToken, StaticToken, exclusive2, shared_exclusive};
pub(crate) use hooks::wait as wait_for_every_cpu;
pub use hooks::{TokenHooks, set_hooks};

use alloc::vec::Vec;
use core::task::Waker;

use crate::sync::{AtomicU64, AtomicUsize, Lock, Ordering, const_unless_loom};

const EXCL: usize = 1 << (usize::BITS - 1);
/// An exclusive access waits: no new shared hold (DragonFly's
/// `TOK_EXCLREQ`), so readers that keep overlapping cannot shut a writer
/// out.
const WANTED: usize = 1 << (usize::BITS - 2);
/// The shared holders' count.
const COUNT: usize = WANTED - 1;

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
    /// Shared accesses kept out by `WANTED` alone (no hold to wait for):
    /// woken when the wanting writer gets in or goes away.
    kept_out: Lock<Vec<Waker>>,
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
                kept_out: Lock::new(Vec::new()),
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

    /// One try, no waiting: `true` if it is now held in `mode`; a busy
    /// token counts a collision.
    #[inline]
    pub(crate) fn try_take(&self, mode: Mode) -> bool {
        // The common case first: free.
        if mode == Mode::Exclusive && self.state.compare_exchange(0, EXCL, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return true;
        }
        self.try_take_cold(mode)
    }

    /// The rest of [`Token::try_take`]: shared, or exclusive and busy.
    #[cold]
    fn try_take_cold(&self, mode: Mode) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            let new = match mode {
                // Taking it exclusive ends the wish (`WANTED`) too.
                Mode::Exclusive if s & (EXCL | COUNT) == 0 => EXCL,
                Mode::Shared if s & (EXCL | WANTED) == 0 => {
                    assert!(s < COUNT, "token '{}': too many shared holders", self.name);
                    s + 1
                }
                _ => {
                    self.collisions.fetch_add(1, Ordering::Relaxed);
                    return false;
                }
            };
            match self.state.compare_exchange_weak(s, new, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    if s & WANTED != 0 && mode == Mode::Exclusive {
                        // The writer is in: readers it kept out now wait
                        // for its hold like any other.
                        self.wake_kept_out();
                    }
                    return true;
                }
                Err(now) => s = now,
            }
        }
    }

    /// An exclusive access is waiting for this token: keep new shared
    /// holders out until it gets in (or [`Token::unwant`]).
    pub(crate) fn want(&self) {
        self.state.fetch_or(WANTED, Ordering::Relaxed);
    }

    /// The waiting exclusive access went away without the token.
    pub(crate) fn unwant(&self) {
        if self.state.fetch_and(!WANTED, Ordering::AcqRel) & WANTED != 0 {
            self.wake_kept_out();
        }
    }

    #[cold]
    fn wake_kept_out(&self) {
        let woken = self.kept_out.with(core::mem::take);
        woken.into_iter().for_each(Waker::wake);
    }

    /// Leaves `waker` to be woken when a `mode` access that found this
    /// token busy should try again: after the holds it may have seen have
    /// ended (the platform's hook), or, for a shared access kept out by a
    /// waiting writer alone, once that writer got in or went away.
    pub(crate) fn wait(&self, mode: Mode, waker: &Waker) {
        let kept_out = |s: usize| mode == Mode::Shared && s & (WANTED | EXCL) == WANTED;
        if kept_out(self.state.load(Ordering::Relaxed)) {
            self.kept_out.with(|w| w.push(waker.clone()));
            // A writer clears `WANTED` before it takes the list: if it did
            // so before this push, this load sees it (the lock orders them).
            if !kept_out(self.state.load(Ordering::Acquire)) {
                waker.wake_by_ref();
            }
            return;
        }
        hooks::wait(waker);
    }

    /// Gives back a hold in `mode` (nobody to wake: see the module doc).
    #[inline]
    pub(crate) fn give(&self, mode: Mode) {
        match mode {
            // Under loom a swap: loom 0.7 lets a plain store slip between
            // the read and the write of another thread's read-modify-write
            // (tokio-rs/loom#254, #389), which no hardware does. A swap
            // whose result is ignored allows the same orders as the store.
            #[cfg(not(loom))]
            Mode::Exclusive => self.state.store(0, Ordering::Release),
            #[cfg(loom)]
            Mode::Exclusive => {
                self.state.swap(0, Ordering::Release);
            }
            Mode::Shared => {
                self.state.fetch_sub(1, Ordering::Release);
            }
        }
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
