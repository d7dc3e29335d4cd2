//! Message ports (DragonFly's LWKT ports) for futures: a port belongs to
//! one task on one CPU, which receives messages and answers each; any task
//! on any CPU sends to it.
//!
//! ```text
//! let (port, handle) = Port::<Req, Rep>::new(&HOOKS, 64);   // on the owner CPU
//! spawn(async move { port.serve(|req| answer(req)).await });
//! let rep = handle.call(req).await?;                         // any task, any CPU
//! handle.send(req).await?;                                   // no reply wanted
//! handle.try_send(req)?;                                      // no reply, no wait (or it comes back)
//! handle.send_with_reply(req, &replies).await?;              // reply to another port
//! ```
//!
//! # Protocol
//!
//! - **Room.** A port holds at most `capacity` messages that its server has
//!   not taken yet. A sender first reserves one (`reserved`, a CAS loop);
//!   a full port makes it wait on a waker (a spin lock guards that list,
//!   taken only when the port is full), never fail or spin; `try_send`
//!   instead gives the message back. The server
//!   gives the room back as it takes each message.
//! - **Put.** The message is boxed with what its answer needs (a
//!   call slot, a reply port, or nothing). From the owner's CPU it goes
//!   straight into the port's queue, no queue hop (DragonFly's `domsg` runs
//!   it inline when it can; here the server task still runs it); from
//!   another CPU it travels as one IPI-queue message (`PortHooks::post`)
//!   whose handler, on the owner, queues it. Either way the server's waker
//!   is woken. The queue is only ever touched on the owner's CPU, so its
//!   lock is never contended and no lock is shared between CPUs on this
//!   path.
//! - **Reply.** The server answers into the call's slot and wakes the
//!   caller (a task on another CPU is woken through the IPI queues). An
//!   abort (the caller's future dropped) is advisory: the server may be at
//!   work already; exactly one reply still comes, and is dropped.
//! - **Going away.** A message dropped without an answer resolves its
//!   caller with `NoReply`. A port dropped by its server resolves every
//!   queued and later message with `Closed` (late puts find the port
//!   closed and drop theirs), and wakes every sender waiting for room. The
//!   server's `recv` returns `None` once every handle is gone and the queue
//!   is empty.

mod call;

pub use call::Reply;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;
use core::future::poll_fn;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use call::CallSlot;

use crate::AtomicWaker;
use crate::sync::{AtomicBool, AtomicPtr, AtomicUsize, Lock, Ordering};

/// Why a port operation has no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortError {
    /// The port's server has gone (dropped its port).
    Closed,
    /// The server dropped the message without answering it.
    NoReply,
}

impl core::fmt::Display for PortError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            PortError::Closed => "the port is closed (its server has gone)",
            PortError::NoReply => "the server dropped the message without answering",
        })
    }
}

/// What a port needs from the kernel.
#[derive(Debug)]
pub struct PortHooks {
    /// The CPU this task runs on (ports are used from task context only).
    pub current: fn() -> usize,
    /// Runs [`deliver`]`(word)` on `cpu`, in task context, soon: an
    /// IPI-queue message. May wait for ring room; never fails.
    pub post: fn(cpu: usize, word: usize),
}

/// How a message's answer goes back.
enum Answer<Rep> {
    Call(Arc<CallSlot<Rep>>),
    To(PortRef<Rep, ()>),
    Discard,
}

/// A message in flight, boxed: what [`deliver`] receives as a word.
#[repr(C)]
struct Envelope<Req, Rep> {
    /// First, so a type-erased word can find it.
    deliver: unsafe fn(*mut ()),
    port: Arc<Shared<Req, Rep>>,
    req: Req,
    answer: Answer<Rep>,
}

/// Takes a message posted from another CPU into its port (the handler of
/// the IPI-queue message `PortHooks::post` sends).
///
/// # Safety
///
/// `word` must be a word `PortHooks::post` was given by a port, delivered
/// once, on the port's owner CPU, in task context.
pub unsafe fn deliver(word: usize) {
    let p = word as *mut ();
    // SAFETY: `p` is a boxed `Envelope` whose first field (`repr(C)`) is its
    // typed `deliver`; the caller passes each word once.
    unsafe {
        let f = *p.cast::<unsafe fn(*mut ())>();
        f(p);
    }
}

/// `deliver` for one message type.
///
/// # Safety
///
/// `p` is `Box::into_raw` of an `Envelope<Req, Rep>`, taken once, on the
/// owner CPU.
unsafe fn deliver_typed<Req, Rep>(p: *mut ()) {
    // SAFETY: per the contract.
    let env = unsafe { Box::from_raw(p.cast::<Envelope<Req, Rep>>()) };
    let port = Arc::clone(&env.port);
    port.enqueue(env);
}

/// The state every end of one port shares.
struct Shared<Req, Rep> {
    hooks: &'static PortHooks,
    owner: usize,
    capacity: usize,
    /// Messages sent and not yet taken by the server (room is
    /// `capacity - reserved`).
    reserved: AtomicUsize,
    /// Senders waiting for room (taken only when the port is full).
    room: Lock<Vec<Waker>>,
    /// The server's queue: touched only on the owner's CPU.
    queue: Lock<VecDeque<Box<Envelope<Req, Rep>>>>,
    server: AtomicWaker,
    closed: AtomicBool,
    /// Live `PortRef`s.
    handles: AtomicUsize,
    /// While a [`Port::serve`] loop waits in `recv`: where its handler is,
    /// for callers on the owner's CPU to run in place (see `call`); null
    /// otherwise. Touched only on the owner's CPU, in task context; taken
    /// out while a caller runs it, so a handler that calls its own port
    /// queues that call instead.
    inline: AtomicPtr<Handler<Req, Rep>>,
}

/// A serving loop's handler (a fat pointer, kept in the loop's frame).
type Handler<Req, Rep> = core::ptr::NonNull<dyn FnMut(Req) -> Rep>;

impl<Req, Rep> Shared<Req, Rep> {
    /// On the owner's CPU: queue `env`, or answer it `Closed`.
    fn enqueue(&self, env: Box<Envelope<Req, Rep>>) {
        if self.closed.load(Ordering::Acquire) {
            self.give_room();
            settle(env.answer, true);
            return;
        }
        self.queue.with(|q| q.push_back(env));
        self.server.wake();
    }

    fn give_room(&self) {
        self.reserved.fetch_sub(1, Ordering::AcqRel);
        let woken = self.room.with(core::mem::take);
        woken.into_iter().for_each(Waker::wake);
    }

    /// Reserves room for one message, waiting while the port is full.
    async fn reserve(&self) -> Result<(), PortError> {
        poll_fn(|cx| self.poll_reserve(cx)).await
    }

    /// One try to reserve room; when the port is full, leaves `cx`'s waker
    /// to be woken when room comes.
    fn poll_reserve(&self, cx: &mut Context<'_>) -> Poll<Result<(), PortError>> {
        for attempt in 0..2 {
            if self.closed.load(Ordering::Acquire) {
                return Poll::Ready(Err(PortError::Closed));
            }
            let mut n = self.reserved.load(Ordering::Acquire);
            while n < self.capacity {
                match self.reserved.compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return Poll::Ready(Ok(())),
                    Err(now) => n = now,
                }
            }
            if attempt == 0 {
                // Full: leave a waker, then look once more (a give that
                // came before the waker was in the list is seen now).
                self.room.with(|w| w.push(cx.waker().clone()));
            }
        }
        Poll::Pending
    }
}

/// Resolves a message that will get no answer.
fn settle<Rep>(answer: Answer<Rep>, closed: bool) {
    if let Answer::Call(slot) = answer {
        slot.unanswered(closed);
    }
}

/// A port's server end: owned by one task on the CPU that made it.
pub struct Port<Req, Rep> {
    shared: Arc<Shared<Req, Rep>>,
    /// `!Send`: the port stays with its task, on its CPU.
    _owner: PhantomData<*mut ()>,
}

/// A handle to send to a port from any task on any CPU.
pub struct PortRef<Req, Rep> {
    shared: Arc<Shared<Req, Rep>>,
}

// SAFETY: a handle only reserves room (atomics), boxes messages and posts
// them to the owner CPU; the queue it shares is touched only there. What
// crosses CPUs is `Req` (to the server) and `Rep` (back): both `Send`.
unsafe impl<Req: Send, Rep: Send> Send for PortRef<Req, Rep> {}
// SAFETY: as above; every method takes `&self` and is safe from any CPU.
unsafe impl<Req: Send, Rep: Send> Sync for PortRef<Req, Rep> {}

impl<Req, Rep> Clone for PortRef<Req, Rep> {
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<Req, Rep> Drop for PortRef<Req, Rep> {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The server may be waiting for a message no one can send now.
            self.shared.server.wake();
        }
    }
}

impl<Req: Send + 'static, Rep: Send + 'static> Port<Req, Rep> {
    /// A port owned by this CPU, holding up to `capacity` (at least 1)
    /// messages its server has not taken; and its first handle.
    pub fn new(hooks: &'static PortHooks, capacity: usize) -> (Self, PortRef<Req, Rep>) {
        let shared = Arc::new(Shared {
            hooks,
            owner: (hooks.current)(),
            capacity: capacity.max(1),
            reserved: AtomicUsize::new(0),
            room: Lock::new(Vec::new()),
            queue: Lock::new(VecDeque::new()),
            server: AtomicWaker::new(),
            closed: AtomicBool::new(false),
            handles: AtomicUsize::new(1),
            inline: AtomicPtr::new(core::ptr::null_mut()),
        });
        (Self { shared: Arc::clone(&shared), _owner: PhantomData }, PortRef { shared })
    }

    /// The next message; `None` once every handle is gone and none is left.
    pub async fn recv(&mut self) -> Option<Message<Req, Rep>> {
        let shared = &*self.shared;
        poll_fn(|cx| {
            for attempt in 0..2 {
                if let Some(env) = shared.queue.with(VecDeque::pop_front) {
                    shared.give_room();
                    return Poll::Ready(Some(Message { env: Some(env) }));
                }
                if shared.handles.load(Ordering::Acquire) == 0 && shared.reserved.load(Ordering::Acquire) == 0 {
                    return Poll::Ready(None);
                }
                if attempt == 0 {
                    shared.server.register(cx.waker());
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Answers every message with `f`, until every handle is gone. While it
    /// waits with nothing queued, a caller on this CPU runs `f` itself, in
    /// place: no message, no task switch (DragonFly's `domsg` fast path).
    pub async fn serve<F: FnMut(Req) -> Rep>(mut self, mut f: F) {
        /// Takes the handler back from callers when the loop ends or its
        /// future is dropped (before `f`, which it points to, goes).
        struct Withdraw<'a, Req, Rep>(&'a Shared<Req, Rep>);
        impl<Req, Rep> Drop for Withdraw<'_, Req, Rep> {
            fn drop(&mut self) {
                self.0.inline.store(core::ptr::null_mut(), Ordering::Relaxed);
            }
        }
        let handler: &mut dyn FnMut(Req) -> Rep = &mut f;
        // SAFETY: only the lifetime is erased. The pointer is lent (through
        // `inline`) only while this loop is suspended in `recv`, on this
        // CPU, and withdrawn (below, and by `Withdraw` on drop) before the
        // loop runs `f` itself or `f` goes; `f` and `lent` live in this
        // future, which is pinned while suspended.
        let mut lent: Handler<Req, Rep> = unsafe { core::mem::transmute(core::ptr::NonNull::from(handler)) };
        let lent_at: *mut Handler<Req, Rep> = &mut lent;
        let shared = Arc::clone(&self.shared);
        let _withdraw = Withdraw(&shared);
        loop {
            shared.inline.store(lent_at, Ordering::Relaxed);
            let Some(m) = self.recv().await else { break };
            shared.inline.store(core::ptr::null_mut(), Ordering::Relaxed);
            let (req, answer) = m.take();
            // SAFETY: withdrawn just above; this is the only use of `f` now.
            answer.reply(unsafe { (*(*lent_at).as_ptr())(req) });
        }
    }

    /// Messages waiting for the server now.
    pub fn queued(&self) -> usize {
        self.shared.queue.with(|q| q.len())
    }
}

impl<Req, Rep> Drop for Port<Req, Rep> {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.closed.store(true, Ordering::Release);
        // Everything queued gets `Closed`; puts still travelling find the
        // port closed when they land (`enqueue`).
        let queued = shared.queue.with(core::mem::take);
        for env in queued {
            shared.reserved.fetch_sub(1, Ordering::AcqRel);
            settle(env.answer, true);
        }
        let woken = shared.room.with(core::mem::take);
        woken.into_iter().for_each(Waker::wake);
    }
}

impl<Req: Send + 'static, Rep: Send + 'static> PortRef<Req, Rep> {
    /// Sends `req` and waits for the server's answer (DragonFly's
    /// `lwkt_domsg`). Dropping the future aborts the call: advisory, the
    /// server may answer anyway; that answer is dropped.
    pub fn call(&self, req: Req) -> Call<'_, Req, Rep> {
        Call { port: self, state: CallState::Start(Some(req)) }
    }

    /// Sends `req`; its answer, if any, is dropped (waits only for room).
    pub async fn send(&self, req: Req) -> Result<(), PortError> {
        self.shared.reserve().await?;
        self.put(req, Answer::Discard);
        Ok(())
    }

    /// Sends `req` if the port has room now, its answer dropped (for a
    /// caller that cannot wait: a `Drop`); gives `req` back when the port
    /// is full or gone.
    pub fn try_send(&self, req: Req) -> Result<(), Req> {
        if self.shared.closed.load(Ordering::Acquire) || !self.try_reserve() {
            return Err(req);
        }
        self.put(req, Answer::Discard);
        Ok(())
    }

    /// Sends `req`; the server's answer goes to `replies` as a message of
    /// its own (DragonFly's reply port).
    pub async fn send_with_reply(&self, req: Req, replies: &PortRef<Rep, ()>) -> Result<(), PortError> {
        self.shared.reserve().await?;
        self.put(req, Answer::To(replies.clone()));
        Ok(())
    }

    /// The CPU that owns the port.
    pub fn owner(&self) -> usize {
        self.shared.owner
    }

    /// On the owner's CPU, with a `serve` loop idle and no message queued
    /// or on its way: runs its handler here. Otherwise gives `req` back.
    #[inline]
    fn call_in_place(&self, req: Req) -> Result<Rep, Req> {
        let shared = &*self.shared;
        // Nothing reserved: nothing queued or in flight to jump ahead of.
        if (shared.hooks.current)() != shared.owner || shared.reserved.load(Ordering::Acquire) != 0 {
            return Err(req);
        }
        // A load and a store, not a swap: only this CPU's task context ever
        // touches `inline` (ports are not for interrupt handlers), and no
        // other task runs until this call returns.
        let at = shared.inline.load(Ordering::Relaxed);
        if at.is_null() {
            return Err(req);
        }
        shared.inline.store(core::ptr::null_mut(), Ordering::Relaxed);
        // SAFETY: lent by a `serve` loop suspended in `recv` on this CPU
        // (we run on it, while it is suspended), so the handler is alive and
        // nobody else uses it; taken out of `inline` until it goes back.
        let rep = unsafe { (*(*at).as_ptr())(req) };
        shared.inline.store(at, Ordering::Relaxed);
        Ok(rep)
    }

    fn put(&self, req: Req, answer: Answer<Rep>) {
        let shared = &self.shared;
        let env = Box::new(Envelope { deliver: deliver_typed::<Req, Rep>, port: Arc::clone(shared), req, answer });
        if (shared.hooks.current)() == shared.owner {
            shared.enqueue(env);
        } else {
            (shared.hooks.post)(shared.owner, Box::into_raw(env) as usize);
        }
    }
}

/// The future of [`PortRef::call`]: small, so a call answered in place
/// costs little more than the handler.
#[must_use = "futures do nothing unless awaited"]
pub struct Call<'a, Req, Rep> {
    port: &'a PortRef<Req, Rep>,
    state: CallState<Req, Rep>,
}

enum CallState<Req, Rep> {
    /// Not sent yet (waiting for room, or not polled).
    Start(Option<Req>),
    /// Sent: the answer's slot.
    Waiting(Reply<Rep>),
    Done,
}

// Nothing in it is pinned structurally (the request is moved out, the
// reply is `Unpin`).
impl<Req, Rep> Unpin for Call<'_, Req, Rep> {}

impl<Req: Send + 'static, Rep: Send + 'static> Future for Call<'_, Req, Rep> {
    type Output = Result<Rep, PortError>;

    /// Inline, so a call answered in place costs no call of its own; the
    /// rest is `poll_sent`.
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let CallState::Start(slot) = &mut this.state
            && let Some(req) = slot.take()
        {
            match this.port.call_in_place(req) {
                Ok(rep) => {
                    this.state = CallState::Done;
                    return Poll::Ready(Ok(rep));
                }
                Err(req) => *slot = Some(req),
            }
        }
        this.poll_sent(cx)
    }
}

impl<Req: Send + 'static, Rep: Send + 'static> Call<'_, Req, Rep> {
    /// Everything but the in-place answer: waits for room, sends, waits
    /// for the answer.
    #[inline(never)]
    fn poll_sent(&mut self, cx: &mut Context<'_>) -> Poll<Result<Rep, PortError>> {
        let this = self;
        loop {
            match &mut this.state {
                CallState::Start(req) => {
                    let req = req.take().expect("a call not yet sent holds its request");
                    let req = match this.port.call_in_place(req) {
                        Ok(rep) => {
                            this.state = CallState::Done;
                            return Poll::Ready(Ok(rep));
                        }
                        Err(req) => req,
                    };
                    match this.port.shared.poll_reserve(cx) {
                        Poll::Pending => {
                            this.state = CallState::Start(Some(req));
                            return Poll::Pending;
                        }
                        Poll::Ready(Err(e)) => {
                            this.state = CallState::Done;
                            return Poll::Ready(Err(e));
                        }
                        Poll::Ready(Ok(())) => {
                            let slot = CallSlot::new();
                            this.state = CallState::Waiting(Reply::new(Arc::clone(&slot)));
                            this.port.put(req, Answer::Call(slot));
                        }
                    }
                }
                CallState::Waiting(reply) => {
                    let out = Pin::new(reply).poll(cx);
                    if out.is_ready() {
                        this.state = CallState::Done;
                    }
                    return out;
                }
                CallState::Done => panic!("a port call polled after it completed"),
            }
        }
    }
}

/// A message as the server receives it: the request, and the duty to
/// answer (dropping it unanswered tells a caller `NoReply`).
pub struct Message<Req, Rep> {
    env: Option<Box<Envelope<Req, Rep>>>,
}

/// The answer a taken message still owes.
pub struct Answerer<Rep> {
    answer: Option<Answer<Rep>>,
}

impl<Req: Send + 'static, Rep: Send + 'static> Message<Req, Rep> {
    /// The request.
    pub fn request(&self) -> &Req {
        &self.env.as_ref().expect("a message holds its envelope").req
    }

    /// Answers with `rep`.
    pub fn reply(self, rep: Rep) {
        self.take().1.reply(rep);
    }

    /// Splits the message into its request and the answer it owes.
    pub fn take(mut self) -> (Req, Answerer<Rep>) {
        let env = self.env.take().expect("a message holds its envelope");
        let Envelope { req, answer, .. } = *env;
        (req, Answerer { answer: Some(answer) })
    }
}

impl<Req, Rep> Drop for Message<Req, Rep> {
    fn drop(&mut self) {
        if let Some(env) = self.env.take() {
            settle(env.answer, false);
        }
    }
}

impl<Rep: Send + 'static> Answerer<Rep> {
    /// Sends `rep` to whoever waits for it (a caller, a reply port) or
    /// drops it (nobody asked). Returns `false` if it was dropped because
    /// the caller had gone (an aborted call).
    pub fn reply(self, rep: Rep) -> bool {
        self.try_reply(rep).is_ok()
    }

    /// [`Self::reply`], giving `rep` back if the caller had gone (an
    /// aborted call) or its reply port had no room: the server may then
    /// undo what the answer stood for.
    pub fn try_reply(mut self, rep: Rep) -> Result<(), Rep> {
        match self.answer.take() {
            Some(Answer::Call(slot)) => slot.reply(rep),
            Some(Answer::To(port)) => {
                // A reply port that is full or gone loses nothing but this
                // answer; it never makes the server wait.
                if port.shared.closed.load(Ordering::Acquire) || !port.try_reserve() {
                    return Err(rep);
                }
                port.put(rep, Answer::Discard);
                Ok(())
            }
            Some(Answer::Discard) | None => Ok(()),
        }
    }
}

impl<Rep> Drop for Answerer<Rep> {
    fn drop(&mut self) {
        if let Some(answer) = self.answer.take() {
            settle(answer, false);
        }
    }
}

impl<Req, Rep> PortRef<Req, Rep> {
    /// Reserves room without waiting: `false` if the port is full.
    fn try_reserve(&self) -> bool {
        let mut n = self.shared.reserved.load(Ordering::Acquire);
        while n < self.shared.capacity {
            match self.shared.reserved.compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(now) => n = now,
            }
        }
        false
    }
}
