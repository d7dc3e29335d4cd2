//! Making tasks for another CPU's executor: a [`RemoteSpawner`] makes the
//! task (and its `JoinHandle`) where it is called, the [`Adopt`] token
//! travels to the owner (the kernel sends it through the IPI queues), and
//! the owner adopts it into its run queue. [`RemoteSpawner::prepare_with`]
//! sends only a closure and makes the future on the owner, at the task's
//! first poll (`MadeOnOwner`), so that future need not be `Send`.

use core::future::Future;
use core::ptr::NonNull;
use core::task::{Context, Poll};

use crate::executor::{Shared, Spawn};
use crate::join::JoinHandle;
use crate::sync::Ordering;
use crate::task::{self, Header, Place, TaskRef};

/// A `Send` handle for creating tasks that will live on one executor, from
/// any CPU: [`RemoteSpawner::prepare`] makes the task and its `JoinHandle`
/// where it is called; the [`Adopt`] token must then travel to the owner
/// (the kernel sends it through the IPI queues), which calls
/// [`Executor::adopt`](crate::Executor::adopt). The future is `Send` because it is made here and
/// polled there.
#[derive(Clone, Copy)]
pub struct RemoteSpawner {
    shared: &'static Shared,
}

impl RemoteSpawner {
    pub(crate) fn new(shared: &'static Shared) -> Self {
        Self { shared }
    }
}

/// A task made by [`RemoteSpawner::prepare`], not yet handed to its owner.
/// It must reach [`Executor::adopt`](crate::Executor::adopt) on that owner; if it is dropped instead,
/// the task (and its future) is leaked, never run.
#[must_use = "an Adopt token must be delivered to its executor"]
pub struct Adopt(NonNull<Header>);

impl Adopt {
    /// The task, for [`crate::Executor::adopt`].
    pub(crate) fn task(self) -> NonNull<Header> {
        self.0
    }
}

// SAFETY: the token only carries the pointer to a task whose future is Send
// (`prepare` requires it); nothing reaches the task through it but `adopt`.
unsafe impl Send for Adopt {}

impl Adopt {
    /// The token as one word (for a queue message).
    pub fn into_raw(self) -> usize {
        self.0.as_ptr() as usize
    }

    /// Rebuilds a token from [`Adopt::into_raw`].
    ///
    /// # Safety
    /// `raw` came from `into_raw` and is used once.
    pub unsafe fn from_raw(raw: usize) -> Self {
        // SAFETY: per the contract, a task pointer (never null).
        Self(unsafe { NonNull::new_unchecked(raw as *mut Header) })
    }

    /// The id of the executor that must adopt it.
    pub fn owner(&self) -> usize {
        // SAFETY: the token's task is alive (it holds the executor's reference).
        unsafe { self.0.as_ref() }.home.id
    }
}

impl RemoteSpawner {
    /// The id of the executor the tasks will live on.
    pub fn id(&self) -> usize {
        self.shared.id
    }

    /// Makes a task for this spawner's executor. Deliver the token to it.
    pub fn prepare<F>(&self, options: Spawn, future: F) -> (JoinHandle<F::Output>, Adopt)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed) as u64;
        let h = task::allocate(future, self.shared, id, options.name, options.band, Place::Unadopted);
        // SAFETY: `allocate` made two references: the handle takes one, the
        // executor's travels with the token.
        (JoinHandle::new(unsafe { TaskRef::from_raw(h) }), Adopt(h))
    }

    /// Like [`prepare`](Self::prepare), for a future made on the owner:
    /// `make` travels with the token and is called at the task's first poll,
    /// on the owner, where the future it returns is polled and dropped. That
    /// future need not be `Send` (DragonFly's `lwkt_domsg` with an async
    /// body, in one task).
    pub fn prepare_with<M, Fut>(&self, options: Spawn, make: M) -> (JoinHandle<Fut::Output>, Adopt)
    where
        M: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        self.prepare(options, MadeOnOwner::Make(Some(make)))
    }
}

/// A future made on its owner: `make` travels to the owner's executor
/// (it is `Send`), runs at the task's first poll there, and the future it
/// returns lives and dies there.
enum MadeOnOwner<M, Fut> {
    Make(Option<M>),
    Running(Fut),
}

// SAFETY: a `MadeOnOwner` crosses CPUs only inside a task made by
// `RemoteSpawner::prepare_with`, and only before its first poll, while it
// holds just `M` (which is `Send`). `Fut` is made by the first poll, on the
// owner, and the executor polls and drops a task's future only on its owner
// (rule 5 in lib.rs): at completion, at cancellation, or when the executor
// is dropped; the task block never moves. So `Fut` never leaves the owner.
unsafe impl<M: Send, Fut> Send for MadeOnOwner<M, Fut> {}

impl<M: FnOnce() -> Fut, Fut: Future> Future for MadeOnOwner<M, Fut> {
    type Output = Fut::Output;

    fn poll(self: core::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Fut::Output> {
        // SAFETY: nothing is moved out of a pinned `Running`; `Make` holds no
        // pinned data, and is replaced in place.
        let this = unsafe { self.get_unchecked_mut() };
        if let MadeOnOwner::Make(make) = this {
            let make = make.take().expect("made once");
            *this = MadeOnOwner::Running(make());
        }
        let MadeOnOwner::Running(fut) = this else { unreachable!("made above") };
        // SAFETY: `fut` is pinned with `self` (structural pinning of `Running`).
        unsafe { core::pin::Pin::new_unchecked(fut) }.poll(cx)
    }
}
