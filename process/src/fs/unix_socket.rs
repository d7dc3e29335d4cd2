//! AF_UNIX stream sockets made in connected pairs (`socketpair`). Each
//! direction is a pipe's buffer (`pipe`): an end reads what its peer
//! writes into one and writes into the other, so two processes on two
//! CPUs share the buffers through the pipe's token, never a lock, and a
//! reader or writer that must wait is woken by the other side.
//!
//! Linux's rules kept: a read with no data waits while the peer may still
//! write and returns 0 once it shut its writing down or closed; a write
//! whose peer no longer reads fails with EPIPE (the caller sends SIGPIPE
//! unless `MSG_NOSIGNAL`); after `shutdown(SHUT_RD)` reads return 0 and
//! the peer's writes fail; `O_NONBLOCK` (or `MSG_DONTWAIT`) turns each
//! wait into EAGAIN. Poll: readable with data or at end, writable with
//! room (or a peer gone: the write then fails at once), hung up once
//! neither direction is left.

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

/// One end of a connected pair (the module doc).
pub struct UnixStream {
    /// What the peer writes and this end reads.
    rx: Arc<Pipe>,
    /// What this end writes and the peer reads.
    tx: Arc<Pipe>,
    shut: AtomicU8,
}

impl UnixStream {
    /// A connected pair; ENFILE when the budget for programs' data has no
    /// room for their buffers.
    pub fn pair() -> Result<(Arc<Self>, Arc<Self>), Errno> {
        let (ab, ba) = (Pipe::new()?, Pipe::new()?);
        let a = Arc::new(Self { rx: Arc::clone(&ba), tx: Arc::clone(&ab), shut: AtomicU8::new(0) });
        let b = Arc::new(Self { rx: ab, tx: ba, shut: AtomicU8::new(0) });
        for end in [&a, &b] {
            end.rx.open_end(true);
            end.tx.open_end(false);
        }
        Ok((a, b))
    }

    fn is_shut(&self, what: u8) -> bool {
        self.shut.load(Ordering::Acquire) & what != 0
    }

    /// Reads up to `buf.len()` bytes: waits for some while the peer may
    /// write (unless `nonblock`); 0 at the end.
    pub async fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        if self.is_shut(READ_SHUT) {
            return Ok(0);
        }
        self.rx.read(buf, nonblock).await
    }

    /// [`Self::read`] if it need not wait: `None` otherwise.
    pub fn read_now(&self, buf: &mut [u8]) -> Option<Result<usize, Errno>> {
        if self.is_shut(READ_SHUT) {
            return Some(Ok(0));
        }
        self.rx.read_now(buf)
    }

    /// Writes all of `buf` (waiting for room unless `nonblock`); EPIPE
    /// when this end shut its writing down or the peer reads no more.
    pub async fn write(&self, buf: &[u8], nonblock: bool) -> Result<usize, Errno> {
        if self.is_shut(WRITE_SHUT) {
            return Err(errno::EPIPE);
        }
        self.tx.write(buf, nonblock).await
    }

    /// Bytes waiting to be read (`FIONREAD`).
    pub async fn buffered(&self) -> usize {
        self.rx.buffered().await
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

    /// Readiness for `poll`: (readable, writable, hung up); leaves `waker`
    /// where each side `wanted` that is not ready (or is, with
    /// `wanted.always`) will wake it.
    pub async fn poll(&self, waker: Waker, wanted: Wanted) -> (bool, bool, bool) {
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
        (readable, writable, in_done && out_done)
    }
}

impl Drop for UnixStream {
    fn drop(&mut self) {
        self.shutdown(true, true);
    }
}
