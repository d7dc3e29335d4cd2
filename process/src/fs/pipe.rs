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
//!
//! A packet pipe ([`Pipe::new_packets`], the direction of an AF_UNIX
//! datagram or sequenced-packet pair) keeps messages instead: the bytes of
//! each are in the same buffer and their lengths in a queue beside it; a
//! message goes in whole or not at all and a read takes one message,
//! dropping what did not fit (`unix_socket`'s module doc has the rest).

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::poll_fn;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::task::{Poll, Waker};

use io::token::Guarded;
use linux::errno::{self, Errno};

/// A pipe's capacity (Linux's default).
pub const CAPACITY: usize = 64 * 1024;
/// Writes up to this size are never interleaved with others.
pub const PIPE_BUF: usize = 4096;
/// Messages a packet pipe holds at most, however small (an empty one
/// takes no bytes).
const MAX_MESSAGES: usize = 512;

/// A message's sender: a named AF_UNIX socket's path.
pub type Sender = Arc<str>;

/// A message read: bytes copied, the message's length, its sender.
pub type Received = (usize, usize, Option<Sender>);

/// What a pipe carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A stream of bytes.
    Bytes,
    /// Messages; with `end_of_file`, a read finds the end once no writer
    /// is left and nothing is queued (else it waits on: a datagram pair's
    /// reader has no end).
    Packets {
        /// Reads see an end once the writers are gone.
        end_of_file: bool,
    },
}

struct State {
    buf: VecDeque<u8>,
    /// A packet pipe's messages, in order: each one's length (its bytes
    /// are `buf`'s) and its sender's name, if one was given (a named
    /// datagram socket's).
    lengths: VecDeque<(usize, Option<Sender>)>,
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
    mode: Mode,
    /// The last reader went away with bytes (or messages) unread.
    lost_unread: AtomicBool,
}

/// Returns `Pending` once (the waker was left where the other side will
/// wake it), then `Ready`.
pub(super) async fn wait_for_wake() {
    let mut first = true;
    poll_fn(|_| if core::mem::replace(&mut first, false) { Poll::Pending } else { Poll::Ready(()) }).await;
}

/// The running task's waker.
pub(super) async fn my_waker() -> Waker {
    poll_fn(|cx| Poll::Ready(cx.waker().clone())).await
}

impl Pipe {
    /// A new, empty pipe with no ends open yet: [`CAPACITY`] bytes, or
    /// [`PIPE_BUF`] when the budget for programs' data is short (as Linux
    /// makes new pipes one page past `pipe-user-pages-soft`); ENFILE when
    /// not even that is left.
    pub fn new() -> Result<Arc<Self>, Errno> {
        Self::with_mode(Mode::Bytes)
    }

    /// A new packet pipe ([`Mode::Packets`]), sized as [`Pipe::new`]'s.
    pub fn new_packets(end_of_file: bool) -> Result<Arc<Self>, Errno> {
        Self::with_mode(Mode::Packets { end_of_file })
    }

    fn with_mode(mode: Mode) -> Result<Arc<Self>, Errno> {
        let capacity = [CAPACITY, PIPE_BUF].into_iter().find(|&c| crate::budget::try_charge(c)).ok_or(errno::ENFILE)?;
        let state = State { buf: VecDeque::new(), lengths: VecDeque::new(), readers_waiting: Vec::new(), writers_waiting: Vec::new() };
        Ok(Arc::new(Self {
            state: Guarded::new("pipe", state),
            capacity,
            readers: AtomicUsize::new(0),
            writers: AtomicUsize::new(0),
            mode,
            lost_unread: AtomicBool::new(false),
        }))
    }

    /// Whether the last reader went away with something unread (a
    /// sequenced-packet peer's writes then fail with ECONNRESET once).
    pub fn lost_unread(&self) -> bool {
        self.lost_unread.load(Ordering::Acquire)
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
            let last_end = move |pipe: &Pipe, s: &mut State| {
                if reader && !(s.buf.is_empty() && s.lengths.is_empty()) {
                    pipe.lost_unread.store(true, Ordering::Release);
                }
                State::wake(&mut s.readers_waiting);
                State::wake(&mut s.writers_waiting);
            };
            if self.state.try_exclusive(|s| last_end(self, s)).is_some() {
                return;
            }
            let pipe = Arc::clone(self);
            drop(kernel::exec::spawn_named("pipe-close", async move {
                pipe.state.exclusive(|s| last_end(&pipe, s)).await;
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
                    let readable = match self.mode {
                        Mode::Bytes => !s.buf.is_empty() || no_writers,
                        Mode::Packets { end_of_file } => !s.lengths.is_empty() || (no_writers && end_of_file),
                    };
                    if keep && (!readable || always) {
                        State::keep(&mut s.readers_waiting, waker);
                    }
                    (readable, false, no_writers)
                } else {
                    let writable = match self.mode {
                        Mode::Bytes => s.buf.len() < self.capacity,
                        // As Linux's: while at most a quarter is in use.
                        Mode::Packets { .. } => s.buf.len() * 4 <= self.capacity && s.lengths.len() < MAX_MESSAGES,
                    } || no_readers;
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

    /// Runs `step` ([`Pipe::access`]) until it answers: `None` means it
    /// left the waker in a list, and the next try follows the wake.
    async fn until_answered<R>(&self, mut step: impl FnMut(&mut State, &Waker) -> Option<R>) -> R {
        loop {
            match self.access(&mut step).await {
                Some(r) => return r,
                None => wait_for_wake().await,
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
        self.read_or_peek(buf, nonblock, false).await
    }

    /// [`Pipe::read`], with `peek` leaving the bytes where they are (a
    /// socket's `MSG_PEEK`).
    pub async fn read_or_peek(&self, buf: &mut [u8], nonblock: bool, peek: bool) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        let writers = &self.writers;
        self.until_answered(|s, waker| {
            if !s.buf.is_empty() {
                let n = buf.len().min(s.buf.len());
                if peek {
                    for (dst, src) in buf.iter_mut().zip(s.buf.iter()) {
                        *dst = *src;
                    }
                    return Some(Ok(n));
                }
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
        .await
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

impl Pipe {
    /// The length of the next message of a packet pipe (0 if none).
    pub async fn next_message(&self) -> usize {
        self.state.shared(|s| s.lengths.front().map_or(0, |m| m.0)).await
    }

    /// Takes the next message of a packet pipe into `buf`, dropping what
    /// does not fit: (bytes copied, the message's length). Waits for one
    /// unless `nonblock` (EAGAIN); `(0, 0)` at the end (`end_of_file`
    /// and no writer left).
    pub async fn read_message(&self, buf: &mut [u8], nonblock: bool) -> Result<(usize, usize), Errno> {
        self.read_message_from(buf, nonblock, false).await.map(|(n, len, _)| (n, len))
    }

    /// [`Pipe::read_message`], with the message's sender; with `peek`
    /// the message stays (a socket's `MSG_PEEK`).
    pub async fn read_message_from(&self, buf: &mut [u8], nonblock: bool, peek: bool) -> Result<Received, Errno> {
        self.until_answered(|s, waker| {
            if let Some(r) = self.take_message(s, buf, peek) {
                return Some(r);
            }
            if nonblock {
                return Some(Err(errno::EAGAIN));
            }
            s.readers_waiting.push(waker.clone());
            None
        })
        .await
    }

    /// [`Pipe::read_message`] if it need not wait: `None` otherwise (or
    /// when the token is busy).
    pub fn read_message_now(&self, buf: &mut [u8]) -> Option<Result<(usize, usize), Errno>> {
        self.state.try_exclusive(|s| self.take_message(s, buf, false)).flatten().map(|r| r.map(|(n, len, _)| (n, len)))
    }

    fn take_message(&self, s: &mut State, buf: &mut [u8], peek: bool) -> Option<Result<Received, Errno>> {
        if peek && let Some((len, from)) = s.lengths.front() {
            let n = buf.len().min(*len);
            for (dst, src) in buf.iter_mut().zip(s.buf.iter()) {
                *dst = *src;
            }
            return Some(Ok((n, *len, from.clone())));
        }
        if let Some((len, from)) = s.lengths.pop_front() {
            let n = buf.len().min(len);
            for (dst, src) in buf.iter_mut().zip(s.buf.drain(..n)) {
                *dst = src;
            }
            s.buf.drain(..len - n);
            State::wake(&mut s.writers_waiting);
            return Some(Ok((n, len, from)));
        }
        let end = matches!(self.mode, Mode::Packets { end_of_file: true }) && self.writers.load(Ordering::Acquire) == 0;
        end.then_some(Ok((0, 0, None)))
    }

    /// Puts `message` in a packet pipe whole, waiting for room unless
    /// `nonblock` (EAGAIN); EMSGSIZE if it could never fit, EPIPE with no
    /// reader left.
    pub async fn write_message(&self, message: &[u8], nonblock: bool) -> Result<usize, Errno> {
        self.write_message_from(message, nonblock, None).await
    }

    /// [`Pipe::write_message`], the message sent by `from`.
    pub async fn write_message_from(&self, message: &[u8], nonblock: bool, from: Option<Sender>) -> Result<usize, Errno> {
        if message.len() > self.capacity {
            return Err(errno::EMSGSIZE);
        }
        self.until_answered(|s, waker| {
            if self.readers.load(Ordering::Acquire) == 0 {
                return Some(Err(errno::EPIPE));
            }
            if self.capacity - s.buf.len() < message.len() || s.lengths.len() >= MAX_MESSAGES {
                if nonblock {
                    return Some(Err(errno::EAGAIN));
                }
                s.writers_waiting.push(waker.clone());
                return None;
            }
            s.buf.extend(message);
            s.lengths.push_back((message.len(), from.clone()));
            State::wake(&mut s.readers_waiting);
            Some(Ok(message.len()))
        })
        .await
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        crate::budget::uncharge(self.capacity);
    }
}
