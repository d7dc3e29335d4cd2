//! AF_UNIX sockets made in connected pairs (`socketpair`): stream,
//! datagram and sequenced-packet. Each direction is a pipe's buffer
//! (`pipe`; a packet pipe for the two message kinds): an end reads what
//! its peer writes into one and writes into the other, so two processes
//! on two CPUs share the buffers through the pipe's token, never a lock,
//! and a reader or writer that must wait is woken by the other side.
//!
//! Linux's rules kept (`tests/programs/unix_pair.c` and `unix_dgram.c`
//! print them on both). Stream: a read with no data waits while the peer
//! may still write and returns 0 once it shut its writing down or closed;
//! a write whose peer no longer reads fails with EPIPE (the caller sends
//! SIGPIPE unless `MSG_NOSIGNAL`); after `shutdown(SHUT_RD)` reads return
//! 0 and the peer's writes fail; `O_NONBLOCK` (or `MSG_DONTWAIT`) turns
//! each wait into EAGAIN. Poll: readable with data or at end, writable
//! with room (or a peer gone: the write then fails at once), hung up once
//! neither direction is left.
//!
//! Messages (datagram and sequenced-packet): a write is one message, whole
//! (EMSGSIZE past a direction's capacity), an empty one included; a read
//! takes one message and drops what did not fit (`recv` with `MSG_TRUNC`
//! returns its length, `recvmsg` sets `MSG_TRUNC`); writable while at
//! most a quarter of the direction is in use. A sequenced-packet pair ends
//! as a stream does, except that a peer that closed with messages unread
//! makes the next write fail with ECONNRESET (and poll say POLLERR until
//! then), and that its EPIPE sends no SIGPIPE. A datagram pair has no end:
//! once the peer is gone, reads wait (or EAGAIN), the first write fails
//! with ECONNREFUSED and later ones with ENOTCONN, and poll says writable,
//! never hung up.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU8, Ordering};
use core::task::Waker;

use linux::errno::{self, Errno};

use super::Wanted;
use super::pipe::Pipe;

/// Reading has been shut down (`shutdown(SHUT_RD)`, or closed).
const READ_SHUT: u8 = 1;
/// Writing has been shut down.
const WRITE_SHUT: u8 = 2;
/// The error of a write to a peer that is gone was told once (a datagram
/// pair's ECONNREFUSED, a sequenced-packet pair's ECONNRESET).
const GONE_TOLD: u8 = 4;

/// Which kind of pair (`SOCK_STREAM`, `SOCK_DGRAM`, `SOCK_SEQPACKET`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnixKind {
    /// Bytes.
    Stream,
    /// Messages, no end.
    Datagram,
    /// Messages, ending as a stream does.
    SeqPacket,
}

/// One end of a connected pair (the module doc).
pub struct UnixSocket {
    kind: UnixKind,
    /// What the peer writes and this end reads.
    rx: Arc<Pipe>,
    /// What this end writes and the peer reads.
    tx: Arc<Pipe>,
    shut: AtomicU8,
}

impl UnixSocket {
    /// A connected pair of `kind`; ENFILE when the budget for programs'
    /// data has no room for their buffers.
    pub fn pair(kind: UnixKind) -> Result<(Arc<Self>, Arc<Self>), Errno> {
        let pipe = || match kind {
            UnixKind::Stream => Pipe::new(),
            UnixKind::Datagram => Pipe::new_packets(false),
            UnixKind::SeqPacket => Pipe::new_packets(true),
        };
        let (ab, ba) = (pipe()?, pipe()?);
        let a = Arc::new(Self { kind, rx: Arc::clone(&ba), tx: Arc::clone(&ab), shut: AtomicU8::new(0) });
        let b = Arc::new(Self { kind, rx: ab, tx: ba, shut: AtomicU8::new(0) });
        for end in [&a, &b] {
            end.rx.open_end(true);
            end.tx.open_end(false);
        }
        Ok((a, b))
    }

    /// Its kind.
    pub fn kind(&self) -> UnixKind {
        self.kind
    }

    /// Whether it carries messages (a write is one, a read takes one).
    pub fn is_packets(&self) -> bool {
        self.kind != UnixKind::Stream
    }

    fn is_shut(&self, what: u8) -> bool {
        self.shut.load(Ordering::Acquire) & what != 0
    }

    /// Reads up to `buf.len()` bytes (one message, for the message kinds):
    /// waits for some while the peer may write (unless `nonblock`); 0 at
    /// the end.
    pub async fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        self.recv(buf, nonblock).await.map(|(n, _)| n)
    }

    /// [`Self::read`], with the length of the message read (for the
    /// message kinds: more than was copied when it did not fit).
    pub async fn recv(&self, buf: &mut [u8], nonblock: bool) -> Result<(usize, usize), Errno> {
        self.recv_or_peek(buf, nonblock, false).await
    }

    /// [`Self::recv`]; with `peek` what is read stays to be read again
    /// (`MSG_PEEK`).
    pub async fn recv_or_peek(&self, buf: &mut [u8], nonblock: bool, peek: bool) -> Result<(usize, usize), Errno> {
        if self.is_shut(READ_SHUT) {
            return Ok((0, 0));
        }
        if self.is_packets() {
            return self.rx.read_message_from(buf, nonblock, peek).await.map(|(n, len, _)| (n, len));
        }
        self.rx.read_or_peek(buf, nonblock, peek).await.map(|n| (n, n))
    }

    /// [`Self::read`] if it need not wait: `None` otherwise.
    pub fn read_now(&self, buf: &mut [u8]) -> Option<Result<usize, Errno>> {
        if self.is_shut(READ_SHUT) {
            return Some(Ok(0));
        }
        if self.is_packets() {
            return self.rx.read_message_now(buf).map(|r| r.map(|(n, _)| n));
        }
        self.rx.read_now(buf)
    }

    /// Writes all of `buf` (waiting for room unless `nonblock`), as one
    /// message for the message kinds; EPIPE when this end shut its writing
    /// down or the peer reads no more (the message kinds: see the module
    /// doc).
    pub async fn write(&self, buf: &[u8], nonblock: bool) -> Result<usize, Errno> {
        if self.is_shut(WRITE_SHUT) {
            return Err(errno::EPIPE);
        }
        if !self.is_packets() {
            return self.tx.write(buf, nonblock).await;
        }
        if buf.len() > self.tx.capacity() {
            return Err(errno::EMSGSIZE);
        }
        if !self.tx.has_readers() {
            return Err(self.gone());
        }
        self.tx.write_message(buf, nonblock).await.map_err(|e| if e == errno::EPIPE { self.gone() } else { e })
    }

    /// The error of a write of the message kinds to a peer that is gone.
    fn gone(&self) -> Errno {
        let told = self.shut.fetch_or(GONE_TOLD, Ordering::AcqRel) & GONE_TOLD != 0;
        match self.kind {
            UnixKind::Datagram if told => errno::ENOTCONN,
            UnixKind::Datagram => errno::ECONNREFUSED,
            _ if !told && self.tx.lost_unread() => errno::ECONNRESET,
            _ => errno::EPIPE,
        }
    }

    /// Whether an EPIPE from a write sends SIGPIPE (a stream's does; the
    /// message kinds' do not, as on Linux).
    pub fn pipe_signals(&self) -> bool {
        self.kind == UnixKind::Stream
    }

    /// Bytes waiting to be read (`FIONREAD`): a datagram pair's next
    /// message, every byte for the others.
    pub async fn buffered(&self) -> usize {
        match self.kind {
            UnixKind::Datagram => self.rx.next_message().await,
            _ => self.rx.buffered().await,
        }
    }

    /// The bytes each direction holds at most (`SO_SNDBUF`, `SO_RCVBUF`).
    pub fn capacity(&self) -> usize {
        self.tx.capacity()
    }

    /// Shuts reading (`read`), writing (`write`) or both down; each only
    /// once (a second time changes nothing).
    pub fn shutdown(&self, read: bool, write: bool) {
        let what = if read { READ_SHUT } else { 0 } | if write { WRITE_SHUT } else { 0 };
        let before = self.shut.fetch_or(what, Ordering::AcqRel);
        let newly = what & !before;
        if newly & READ_SHUT != 0 {
            self.rx.close_end(true);
        }
        if newly & WRITE_SHUT != 0 {
            self.tx.close_end(false);
        }
    }

    /// Readiness for `poll`: (readable, writable, hung up, error); leaves
    /// `waker` where each side `wanted` that is not ready (or is, with
    /// `wanted.always`) will wake it.
    pub async fn poll(&self, waker: Waker, wanted: Wanted) -> (bool, bool, bool, bool) {
        let always = wanted.always;
        let read_shut = self.is_shut(READ_SHUT);
        let write_shut = self.is_shut(WRITE_SHUT);
        let (readable, in_done) = if read_shut {
            (true, true)
        } else {
            let (readable, _, no_writer) = self.rx.poll(true, waker.clone(), always, wanted.read).await;
            (readable, no_writer)
        };
        let (writable, out_done) = if write_shut {
            (false, true)
        } else {
            let (_, writable, no_reader) = self.tx.poll(false, waker, always, wanted.write).await;
            (writable, no_reader)
        };
        match self.kind {
            UnixKind::Datagram => (readable, writable, read_shut && write_shut, false),
            UnixKind::Stream => (readable, writable, in_done && out_done, false),
            UnixKind::SeqPacket => {
                let error = out_done && !self.is_shut(GONE_TOLD) && self.tx.lost_unread();
                (readable, writable, in_done && out_done, error)
            }
        }
    }
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        self.shutdown(true, true);
    }
}
