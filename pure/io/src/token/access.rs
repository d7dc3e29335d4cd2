//! Data behind tokens, and the futures that reach it (the rules are in the
//! module doc of `token`).

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use super::{Mode, Token};
use crate::sync::{UnsafeCell, const_unless_loom};

/// How a [`Guarded`] finds its token: chosen by its constructor and fixed
/// in its type, so an access never branches on it and a pooled value
/// carries no token of its own. Sealed: [`OwnToken`], [`StaticToken`],
/// [`PoolToken`].
pub trait Guard: sealed::Sealed {
    /// What the value keeps to find its token.
    #[doc(hidden)]
    type Storage: Send + Sync;
    /// Whether every access takes the token exclusive (pool tokens: two
    /// objects may share one, and one set must not take it both ways).
    #[doc(hidden)]
    const EXCLUSIVE_ONLY: bool;
    /// The token, for the value at `addr` that keeps `storage`.
    #[doc(hidden)]
    fn token(storage: &Self::Storage, addr: usize) -> &Token;
}

mod sealed {
    pub trait Sealed {}
}

/// A token of the value's own ([`Guarded::new`]).
pub struct OwnToken;
/// A `'static` token the value may share with others ([`Guarded::with_token`]).
pub struct StaticToken;
/// A pool token picked by the value's address ([`Guarded::pooled`]).
#[cfg(not(loom))]
pub struct PoolToken;

impl sealed::Sealed for OwnToken {}
impl Guard for OwnToken {
    type Storage = Token;
    const EXCLUSIVE_ONLY: bool = false;
    #[inline]
    fn token(storage: &Token, _: usize) -> &Token {
        storage
    }
}

impl sealed::Sealed for StaticToken {}
impl Guard for StaticToken {
    type Storage = &'static Token;
    const EXCLUSIVE_ONLY: bool = false;
    #[inline]
    fn token<'a>(storage: &'a &'static Token, _: usize) -> &'a Token {
        storage
    }
}

#[cfg(not(loom))]
impl sealed::Sealed for PoolToken {}
#[cfg(not(loom))]
impl Guard for PoolToken {
    type Storage = ();
    const EXCLUSIVE_ONLY: bool = true;
    #[inline]
    fn token(_: &(), addr: usize) -> &Token {
        super::pool::for_address(addr)
    }
}

/// A value reachable only inside a closure that runs with its token held.
///
/// The closure is synchronous and its result cannot borrow from the value,
/// so a reference to it can neither live across an `.await` nor escape:
///
/// ```compile_fail
/// # async fn f(g: &io::token::Guarded<u32>) {
/// // The reference cannot leave the closure.
/// let v: &mut u32 = g.exclusive(|v| v).await;
/// # }
/// ```
///
/// ```compile_fail
/// # async fn f(g: &io::token::Guarded<u32>) {
/// // Nor be carried into a future that outlives the closure.
/// g.exclusive(|v| async move { *v += 1 }).await.await;
/// # }
/// ```
///
/// ```compile_fail
/// # async fn later() {}
/// # async fn f(g: &io::token::Guarded<u32>) {
/// // And the closure cannot wait: it is not async.
/// g.exclusive(|v| { later().await; *v += 1 }).await;
/// # }
/// ```
///
/// What compiles is a closure that does its work and returns a value:
///
/// ```
/// # async fn f(g: &io::token::Guarded<u32>) -> u32 {
/// g.exclusive(|v| { *v += 1; *v }).await
/// # }
/// ```
pub struct Guarded<T, G: Guard = OwnToken> {
    guard: G::Storage,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only with its token held: exclusively
// (`&mut T`, from one context at a time: needs `T: Send`) or shared (`&T`
// from several CPUs at once: needs `T: Sync`).
unsafe impl<T: Send + Sync, G: Guard> Sync for Guarded<T, G> {}
// SAFETY: moving the whole value moves `T` (and the guard's storage, which
// is `Send`).
unsafe impl<T: Send, G: Guard> Send for Guarded<T, G> {}

impl<T> Guarded<T, OwnToken> {
    const_unless_loom! {
        /// `value` behind a token of its own called `name`.
        pub fn new(name: &'static str, value: T) -> Self {
            Self { guard: Token::new(name), value: UnsafeCell::new(value) }
        }
    }
}

#[cfg(not(loom))]
impl<T> Guarded<T, StaticToken> {
    /// `value` behind `token`, which it may share with other data (one
    /// token serializing several objects).
    pub const fn with_token(token: &'static Token, value: T) -> Self {
        Self { guard: token, value: UnsafeCell::new(value) }
    }
}

#[cfg(not(loom))]
impl<T> Guarded<T, PoolToken> {
    /// `value` behind the pool token its address picks (`pool`), with no
    /// token of its own. Pool tokens are only ever taken exclusive (two
    /// objects may share one, and a set must not ask for one token in both
    /// modes), so `shared` access to pooled data takes it exclusive.
    pub const fn pooled(value: T) -> Self {
        Self { guard: (), value: UnsafeCell::new(value) }
    }
}

impl<T, G: Guard> Guarded<T, G> {
    /// The token that guards the value.
    #[inline]
    pub fn token(&self) -> &Token {
        G::token(&self.guard, core::ptr::from_ref(self) as usize)
    }

    /// The token and the mode a `mode` access takes.
    #[inline]
    fn entry(&self, mode: Mode) -> (&Token, Mode) {
        (self.token(), if G::EXCLUSIVE_ONLY { Mode::Exclusive } else { mode })
    }

    /// Runs `f` on the value with the token held exclusive, once the token
    /// is free; the future's output is `f`'s.
    pub fn exclusive<R, F: FnOnce(&mut T) -> R>(&self, f: F) -> Access<'_, 1, impl FnOnce() -> R> {
        // The closure holds `&Guarded` (Sync), not `&UnsafeCell`, so the
        // access future is `Send` when the data is.
        let this = self;
        Access::new([self.entry(Mode::Exclusive)], move || {
            this.value.with_mut(|v| {
                // SAFETY: `Access` runs this only with the exclusive hold
                // taken, so no other reference to the value exists.
                f(unsafe { &mut *v })
            })
        })
    }

    /// Runs `f` on the value with the token held shared (other shared
    /// holders may read at the same time), once no exclusive holder is.
    pub fn shared<R, F: FnOnce(&T) -> R>(&self, f: F) -> Access<'_, 1, impl FnOnce() -> R> {
        let this = self;
        Access::new([self.entry(Mode::Shared)], move || {
            this.value.with(|v| {
                // SAFETY: `Access` runs this only with a shared (or, pooled,
                // exclusive) hold taken: nobody writes the value.
                f(unsafe { &*v })
            })
        })
    }

    /// Runs `f` exclusive if the token is free now, else returns `None`
    /// without waiting (what an interrupt handler may do).
    #[inline]
    pub fn try_exclusive<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let (token, mode) = self.entry(Mode::Exclusive);
        let held = Held::try_take(token, mode)?;
        // SAFETY: the exclusive hold is taken: no other reference exists.
        let out = self.value.with_mut(|v| f(unsafe { &mut *v }));
        drop(held);
        Some(out)
    }

    /// Runs `f` shared if that is possible now, else returns `None`.
    pub fn try_shared<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        let (token, mode) = self.entry(Mode::Shared);
        let held = Held::try_take(token, mode)?;
        // SAFETY: a shared (or, pooled, exclusive) hold is taken: nobody
        // writes.
        let out = self.value.with(|v| f(unsafe { &*v }));
        drop(held);
        Some(out)
    }

    /// The value, through a unique borrow (no token needed).
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` is the only reference.
        self.value.with_mut(|v| unsafe { &mut *v })
    }
}

/// Runs `f` on `a` and `b` with both tokens held exclusive, taken all or
/// nothing (so the order in which tasks name them cannot deadlock them).
/// `a` and `b` must be different values.
pub fn exclusive2<'a, A, B, GA: Guard, GB: Guard, R>(
    a: &'a Guarded<A, GA>,
    b: &'a Guarded<B, GB>,
    f: impl FnOnce(&mut A, &mut B) -> R,
) -> Access<'a, 2, impl FnOnce() -> R> {
    let same = core::ptr::from_ref(a).cast::<()>() == core::ptr::from_ref(b).cast::<()>();
    assert!(!same, "token::exclusive2: the same value twice (two `&mut` to one value)");
    Access::new([a.entry(Mode::Exclusive), b.entry(Mode::Exclusive)], move || {
        a.value.with_mut(|pa| {
            b.value.with_mut(|pb| {
                // SAFETY: `Access` runs this only with both holds taken
                // exclusive, and the values are distinct (checked above):
                // these are the only references to them.
                let (ra, rb) = unsafe { (&mut *pa, &mut *pb) };
                f(ra, rb)
            })
        })
    })
}

/// Runs `f` reading `a` (token shared) and writing `b` (token exclusive),
/// all or nothing. If `a` and `b` share a token, the set asks for it in
/// both modes and is refused with a panic, as DragonFly refuses it.
pub fn shared_exclusive<'a, A, B, GA: Guard, GB: Guard, R>(
    a: &'a Guarded<A, GA>,
    b: &'a Guarded<B, GB>,
    f: impl FnOnce(&A, &mut B) -> R,
) -> Access<'a, 2, impl FnOnce() -> R> {
    Access::new([a.entry(Mode::Shared), b.entry(Mode::Exclusive)], move || {
        a.value.with(|pa| {
            b.value.with_mut(|pb| {
                // SAFETY: `Access` runs this only with `a` held shared
                // (nobody writes it) and `b` exclusive (no other reference);
                // `a` and `b` are distinct, or they would share a token in
                // both modes, which `Access::new` refuses.
                let (ra, rb) = unsafe { (&*pa, &mut *pb) };
                f(ra, rb)
            })
        })
    })
}

/// The future of an access: takes its `N` tokens all or nothing, then runs
/// its body once (see the module doc of `token`).
#[must_use = "futures do nothing unless awaited"]
pub struct Access<'a, const N: usize, F> {
    set: [(&'a Token, Mode); N],
    body: Option<F>,
    /// The token this access marked `WANTED` while it waits for it
    /// exclusive (unmarked if the access is dropped before it gets in).
    wants: Option<&'a Token>,
}

// The body is moved out, never pinned: no structural pinning.
impl<const N: usize, F> Unpin for Access<'_, N, F> {}

impl<'a, const N: usize, F> Access<'a, N, F> {
    #[inline]
    fn new(set: [(&'a Token, Mode); N], body: F) -> Self {
        for (i, (t, mode)) in set.iter().enumerate() {
            for (u, other) in &set[..i] {
                if core::ptr::eq(*t, *u) && mode != other {
                    panic!("token '{}': one set asks for it shared and exclusive (refused, as in DragonFly)", t.name());
                }
            }
        }
        Self { set, body: Some(body), wants: None }
    }
}

impl<const N: usize, R, F: FnOnce() -> R> Future for Access<'_, N, F> {
    type Output = R;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let this = self.get_mut();
        let busy = match take_all(&this.set, cx.waker()) {
            Ok(held) => {
                // Taking a token exclusive cleared its `WANTED`.
                this.wants = None;
                let body = this.body.take().expect("token access polled after it completed");
                let out = body();
                drop(held);
                return Poll::Ready(out);
            }
            Err(busy) => busy,
        };
        this.waits_on(busy);
        Poll::Pending
    }
}

impl<'a, const N: usize, F> Access<'a, N, F> {
    /// Entry `busy` of the set was busy (the waker is with the hook):
    /// marks it `WANTED` if this access wants it exclusive, and unmarks
    /// the token it marked before, if that was another.
    #[cold]
    fn waits_on(&mut self, busy: usize) {
        let (token, mode) = self.set[busy];
        let now = (mode == Mode::Exclusive).then(|| {
            token.want();
            token
        });
        if let Some(before) = core::mem::replace(&mut self.wants, now)
            && now.is_none_or(|t| !core::ptr::eq(t, before))
        {
            before.unwant();
        }
    }
}

impl<const N: usize, F> Drop for Access<'_, N, F> {
    #[inline]
    fn drop(&mut self) {
        if let Some(token) = self.wants {
            token.unwant();
        }
    }
}

/// Whether entry `i` of `set` names a token an earlier entry names (taken
/// once, given back once).
fn repeated<const N: usize>(set: &[(&Token, Mode); N], i: usize) -> bool {
    set[..i].iter().any(|(u, _)| core::ptr::eq(*u, set[i].0))
}

/// Takes every token of `set`, or none: on the first busy one, gives back
/// the ones taken, leaves `waker` to the hook and returns its index.
/// Inline, so an uncontended access costs its atomics and no call; the
/// contended part is not.
#[inline]
fn take_all<'s, 'a, const N: usize>(set: &'s [(&'a Token, Mode); N], waker: &Waker) -> Result<HeldSet<'s, 'a, N>, usize> {
    for i in 0..N {
        if repeated(set, i) || set[i].0.try_take(set[i].1) {
            continue;
        }
        wait_on(set, i, waker);
        return Err(i);
    }
    Ok(HeldSet { set })
}

/// Entry `i` of `set` was busy: gives back the ones before it and leaves
/// `waker` to be woken once the holds that made it busy have ended.
#[cold]
#[inline(never)]
fn wait_on<const N: usize>(set: &[(&Token, Mode); N], i: usize, waker: &Waker) {
    give_back(set, i);
    set[i].0.wait(set[i].1, waker);
}

/// Gives back entries `..upto` of `set`, last first.
#[inline]
fn give_back<const N: usize>(set: &[(&Token, Mode); N], upto: usize) {
    for j in (0..upto).rev() {
        if !repeated(set, j) {
            set[j].0.give(set[j].1);
        }
    }
}

/// A whole set held; given back when dropped (also if the body panics).
struct HeldSet<'s, 'a, const N: usize> {
    set: &'s [(&'a Token, Mode); N],
}

impl<const N: usize> Drop for HeldSet<'_, '_, N> {
    #[inline]
    fn drop(&mut self) {
        give_back(self.set, N);
    }
}

/// One token held by a `try_` access; given back when dropped.
struct Held<'a> {
    token: &'a Token,
    mode: Mode,
}

impl<'a> Held<'a> {
    #[inline]
    fn try_take(token: &'a Token, mode: Mode) -> Option<Self> {
        // `then`, not `then_some`: a `Held` built for a failed try would
        // give back, on drop, a hold it never had.
        token.try_take(mode).then(|| Self { token, mode })
    }
}

impl Drop for Held<'_> {
    #[inline]
    fn drop(&mut self) {
        self.token.give(self.mode);
    }
}
