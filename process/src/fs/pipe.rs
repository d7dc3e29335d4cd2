//! Pipes. The two ends may be held by processes on different CPUs, so the
//! buffer is reached through a serializing token (`io::Guarded`), never a
//! lock: an access takes the token for one closure call, and a reader or
//! writer that must wait leaves its waker in the buffer's lists and is
//! woken by the other side.
//!
//! Linux's rules kept: a read with no data waits while a writer exists and
//! returns 0 (end of file) once none does; a write with no reader fails
//! with EPIPE (the caller sends SIGPIPE); writes of at most [`PIPE_BUF`]
//! bytes are atomic; `O_NONBLOCK` turns each wait into EAGAIN.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::poll_fn;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Poll, Waker};

use io::token::Guarded;
use linux::errno::{self, Errno};

/// A pipe's capacity (Linux's default).
pub const CAPACITY: usize = 64 * 1024;
/// Writes up to this size are never interleaved with others.
pub const PIPE_BUF: usize = 4096;

struct State {
    buf: VecDeque<u8>,
    readers_waiting: Vec<Waker>,
    writers_waiting: Vec<Waker>,
}

impl State {
    /// Leaves `waker` in `list` unless one that wakes the same is there
    /// (a thread that polls again and again before anything changes).
    fn keep(list: &mut Vec<Waker>, waker: Waker) {
        if !list.iter().any(|w| w.will_wake(&waker)) {
            list.push(waker);
        }
    }

    fn wake(list: &mut Vec<Waker>) {
        for w in list.drain(..) {
            w.wake();
        }
    }
}

/// A pipe's buffer and its ends' counts.
pub struct Pipe {
    state: Guarded<State>,
    /// Bytes it may hold, reserved from `budget` while it lives.
    capacity: usize,
    readers: AtomicUsize,
    writers: AtomicUsize,
}

/// Returns `Pending` once (the waker was left where the other side will
/// wake it), then `Ready`.
async fn wait_for_wake() {
    let mut first = true;
    poll_fn(|_| if core::mem::replace(&mut first, false) { Poll::Pending } else { Poll::Ready(()) }).await;
}

async fn my_waker() -> Waker {
    poll_fn(|cx| Poll::Ready(cx.waker().clone())).await
}

impl Pipe {
    /// A new, empty pipe with no ends open yet: [`CAPACITY`] bytes, or
    /// [`PIPE_BUF`] when the budget for programs' data is short (as Linux
    /// makes new pipes one page past `pipe-user-pages-soft`); ENFILE when
    /// not even that is left.
    pub fn new() -> Result<Arc<Self>, Errno> {
        let capacity = [CAPACITY, PIPE_BUF].into_iter().find(|&c| crate::budget::try_charge(c)).ok_or(errno::ENFILE)?;
        Ok(Arc::new(Self {
            state: Guarded::new("pipe", State { buf: VecDeque::new(), readers_waiting: Vec::new(), writers_waiting: Vec::new() }),
            capacity,
            readers: AtomicUsize::new(0),
            writers: AtomicUsize::new(0),
        }))
    }

    /// Bytes it may hold (`F_GETPIPE_SZ`).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// An end opens (`reader`: the read end).
    pub fn open_end(&self, reader: bool) {
        let count = if reader { &self.readers } else { &self.writers };
        count.fetch_add(1, Ordering::AcqRel);
    }

    /// An end closes: the last of its kind wakes the other side (at once
    /// if the token is free, as it nearly always is; else from a task of
    /// its own: a close cannot wait for the token).
    pub fn close_end(self: &Arc<Self>, reader: bool) {
        let count = if reader { &self.readers } else { &self.writers };
        if count.fetch_sub(1, Ordering::AcqRel) == 1 {
            let woken = self.state.try_exclusive(|s| {
                State::wake(&mut s.readers_waiting);
                State::wake(&mut s.writers_waiting);
            });
            if woken.is_some() {
                return;
            }
            let pipe = Arc::clone(self);
            drop(kernel::exec::spawn_named("pipe-close", async move {
                pipe.state
                    .exclusive(|s| {
                        State::wake(&mut s.readers_waiting);
                        State::wake(&mut s.writers_waiting);
                    })
                    .await;
            }));
        }
    }

    /// Bytes buffered now (`FIONREAD`, `poll`).
    pub async fn buffered(&self) -> usize {
        self.state.shared(|s| s.buf.len()).await
    }

    /// Whether a write end is open.
    pub fn has_writers(&self) -> bool {
        self.writers.load(Ordering::Acquire) > 0
    }

    /// Whether a read end is open.
    pub fn has_readers(&self) -> bool {
        self.readers.load(Ordering::Acquire) > 0
    }

    /// Readiness for `poll`: (readable, writable, hung up); leaves `waker`
    /// in the lists of the sides that are not ready, or of the side asked
    /// about in any case with `always` (an edge-triggered epoll interest
    /// wants to hear of the next write or read even while it is ready);
    /// in none without `keep` (a socket's side nobody waits on).
    pub async fn poll(&self, reader: bool, waker: Waker, always: bool, keep: bool) -> (bool, bool, bool) {
        let (readers, writers) = (&self.readers, &self.writers);
        self.state
            .exclusive(|s| {
                let no_writers = writers.load(Ordering::Acquire) == 0;
                let no_readers = readers.load(Ordering::Acquire) == 0;
                if reader {
                    let readable = !s.buf.is_empty() || no_writers;
                    if keep && (!readable || always) {
                        State::keep(&mut s.readers_waiting, waker);
                    }
                    (readable, false, no_writers)
                } else {
                    let writable = s.buf.len() < self.capacity || no_readers;
                    if keep && (!writable || always) {
                        State::keep(&mut s.writers_waiting, waker);
                    }
                    (false, writable, no_readers)
                }
            })
            .await
    }

    /// Runs `step` on the buffer with the task's waker (which `step`
    /// clones only to leave it in a list): at once if the token is free,
    /// as it nearly always is, else once it has been taken.
    async fn access<R>(&self, mut step: impl FnMut(&mut State, &Waker) -> R) -> R {
        let tried = poll_fn(|cx| Poll::Ready(self.state.try_exclusive(|s| step(s, cx.waker())))).await;
        match tried {
            Some(r) => r,
            None => {
                let waker = my_waker().await;
                self.state.exclusive(|s| step(s, &waker)).await
            }
        }
    }

    /// [`Pipe::read`] without waiting, if it would not wait: `None` when the
    /// buffer is empty while a writer exists, or the token is busy (the
    /// caller then takes the waiting path).
    pub fn read_now(&self, buf: &mut [u8]) -> Option<Result<usize, Errno>> {
        let writers = &self.writers;
        self.state
            .try_exclusive(|s| {
                if !s.buf.is_empty() {
                    let n = buf.len().min(s.buf.len());
                    for (dst, src) in buf.iter_mut().zip(s.buf.drain(..n)) {
                        *dst = src;
                    }
                    State::wake(&mut s.writers_waiting);
                    return Some(Ok(n));
                }
                (writers.load(Ordering::Acquire) == 0).then_some(Ok(0))
            })
            .flatten()
    }

    /// [`Pipe::write`] of all of `buf` at once, if it fits now: `None` when
    /// it does not, when no reader is left (the waiting path answers EPIPE
    /// and sends SIGPIPE), or when the token is busy.
    pub fn write_now(&self, buf: &[u8]) -> Option<Result<usize, Errno>> {
        let readers = &self.readers;
        self.state
            .try_exclusive(|s| {
                if readers.load(Ordering::Acquire) == 0 || self.capacity - s.buf.len() < buf.len() {
                    return None;
                }
                s.buf.extend(buf);
                State::wake(&mut s.readers_waiting);
                Some(Ok(buf.len()))
            })
            .flatten()
    }

    /// Reads up to `buf.len()` bytes: waits for some while a writer
    /// exists; 0 at end of file.
    pub async fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        let writers = &self.writers;
        loop {
            let got = self
                .access(|s, waker| {
                    if !s.buf.is_empty() {
                        let n = buf.len().min(s.buf.len());
                        for (dst, src) in buf.iter_mut().zip(s.buf.drain(..n)) {
                            *dst = src;
                        }
                        State::wake(&mut s.writers_waiting);
                        return Some(Ok(n));
                    }
                    if writers.load(Ordering::Acquire) == 0 {
                        return Some(Ok(0));
                    }
                    if nonblock {
                        return Some(Err(errno::EAGAIN));
                    }
                    s.readers_waiting.push(waker.clone());
                    None
                })
                .await;
            match got {
                Some(r) => return r,
                None => wait_for_wake().await,
            }
        }
    }

    /// Writes all of `buf` (waiting for room), or fails with EPIPE when no
    /// reader is left; returns the bytes written (fewer only if the reader
    /// went away part-way, or with `nonblock`).
    pub async fn write(&self, buf: &[u8], nonblock: bool) -> Result<usize, Errno> {
        let readers = &self.readers;
        let mut done = 0;
        while done < buf.len() {
            let rest = &buf[done..];
            let step = self
                .access(|s, waker| {
                    if readers.load(Ordering::Acquire) == 0 {
                        return Some(Err(errno::EPIPE));
                    }
                    let room = self.capacity - s.buf.len();
                    // A small write goes in whole or waits.
                    let atomic = buf.len() <= PIPE_BUF;
                    if room == 0 || (atomic && room < rest.len()) {
                        if nonblock {
                            return Some(Err(errno::EAGAIN));
                        }
                        s.writers_waiting.push(waker.clone());
                        return None;
                    }
                    let n = room.min(rest.len());
                    s.buf.extend(&rest[..n]);
                    State::wake(&mut s.readers_waiting);
                    Some(Ok(n))
                })
                .await;
            match step {
                Some(Ok(n)) => done += n,
                Some(Err(e)) if done == 0 => return Err(e),
                Some(Err(_)) => return Ok(done),
                None => wait_for_wake().await,
            }
        }
        Ok(done)
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        crate::budget::uncharge(self.capacity);
    }
}
