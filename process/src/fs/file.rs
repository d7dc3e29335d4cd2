//! An open file: a node, an offset and the flags `open` gave, shared by
//! every descriptor `dup` or `fork` made from it.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use core::task::Waker;

use embedded_io_async::Write;
use linux::errno::{self, Errno};
use linux::flags::open::{O_ACCMODE, O_APPEND, O_NONBLOCK, O_RDONLY, O_WRONLY};

use super::node::{Device, Kind, Node};

/// What a waker left by [`OpenFile::poll`] is for: a change for reading,
/// for writing (a hang-up or an error wakes either), and whether even
/// while ready (`always`: an edge-triggered epoll interest, woken by each
/// arrival on its side).
#[derive(Clone, Copy, Debug)]
pub struct Wanted {
    pub read: bool,
    pub write: bool,
    pub always: bool,
}

impl Wanted {
    /// For `poll`'s or epoll's `events` (none of reading or writing asked:
    /// both, for a hang-up or an error).
    pub fn from_events(events: u32, always: bool) -> Self {
        // POLLIN, POLLPRI, POLLRDNORM, POLLRDBAND, POLLRDHUP.
        let read = events & (0x1 | 0x2 | 0x40 | 0x80 | 0x2000) != 0;
        // POLLOUT, POLLWRNORM, POLLWRBAND.
        let write = events & (0x4 | 0x100 | 0x200) != 0;
        let neither = !read && !write;
        Self { read: read || neither, write: write || neither, always }
    }
}

/// An open file description.
pub struct OpenFile {
    /// The node it reads and writes.
    pub node: Arc<Node>,
    offset: AtomicU64,
    /// Status flags (`O_APPEND`, `O_NONBLOCK`, the access mode).
    flags: AtomicU32,
    /// Counted open by its volume's service (`open`): closed there when it
    /// goes, which frees an inode whose last name went meanwhile.
    counted: bool,
    /// Where a directory listing stopped: the offset it left and the last
    /// name it gave (`getdents64` resumes after that name, so entries
    /// removed or added meanwhile move nothing else).
    pub dir_cursor: spin::Mutex<Option<(u64, alloc::string::String)>>,
}

impl OpenFile {
    /// Whether writes to it vanish without being read (`/dev/null` and
    /// `/dev/zero`: Linux does not even look at the bytes, so a bad
    /// pointer is no error there either); false if it is not open for
    /// writing, which `write` reports.
    pub fn discards_writes(&self) -> bool {
        self.writable() && matches!(self.node.kind, Kind::Device(Device::Null | Device::Zero))
    }

    /// Opens `node` with `flags`.
    pub fn new(node: Arc<Node>, flags: u32) -> Arc<Self> {
        match &node.kind {
            Kind::Pipe(pipe) => pipe.open_end(flags & O_ACCMODE == O_RDONLY),
            Kind::Tty(tty) => tty.opened(),
            _ => {}
        }
        Arc::new(Self { node, offset: AtomicU64::new(0), flags: AtomicU32::new(flags), counted: false, dir_cursor: spin::Mutex::new(None) })
    }

    /// Opens `node` with `flags` for a program's descriptor (`open`): a
    /// file on a volume is counted open there until the description goes.
    pub async fn opened(node: Arc<Node>, flags: u32) -> Result<Arc<Self>, Errno> {
        if let Kind::Device(Device::Ptmx) = &node.kind {
            // A new pseudo-terminal: this description is its master.
            let pty = crate::tty::Pty::new();
            super::add_pty_node(&pty).await?;
            return Ok(Self::new(Node::new(Kind::PtyMaster(pty), 0o620, 0), flags));
        }
        if let Kind::Disk(d) = &node.kind {
            d.vol.open(d.ino).await.map_err(|e| super::disk::errno_of(&d.vol, e))?;
            return Ok(Self::counted(node, flags));
        }
        Ok(Self::new(node, flags))
    }

    /// A description of a file on a volume whose service has counted it
    /// open already (`Mounted::open_create`): its end closes it there.
    pub fn counted(node: Arc<Node>, flags: u32) -> Arc<Self> {
        Arc::new(Self { node, offset: AtomicU64::new(0), flags: AtomicU32::new(flags), counted: true, dir_cursor: spin::Mutex::new(None) })
    }

    /// A connected pair of AF_UNIX sockets of `kind`, opened for reading
    /// and writing with `extra_flags` (`O_NONBLOCK`); ENFILE as for a pipe.
    pub fn socket_pair(kind: super::unix_socket::UnixKind, extra_flags: u32) -> Result<(Arc<Self>, Arc<Self>), Errno> {
        let (a, b) = super::unix_socket::UnixSocket::pair(kind)?;
        let open = |s| Self::socket(super::socket::Socket::Unix(s), extra_flags);
        Ok((open(a), open(b)))
    }

    /// An AF_UNIX socket that carries messages: a `read` or `write` of it
    /// is one message, whole, never split into chunks.
    pub fn is_message_socket(&self) -> bool {
        matches!(&self.node.kind, Kind::Socket(super::socket::Socket::Unix(s)) if s.is_packets())
    }

    /// An AF_UNIX socket whose EPIPE sends no SIGPIPE (a message kind's,
    /// as Linux's).
    pub fn pipe_without_signal(&self) -> bool {
        matches!(&self.node.kind, Kind::Socket(super::socket::Socket::Unix(s)) if !s.pipe_signals())
    }

    /// A socket, opened for reading and writing with `extra_flags`
    /// (`O_NONBLOCK`).
    pub fn socket(socket: super::socket::Socket, extra_flags: u32) -> Arc<Self> {
        Self::new(Node::new(Kind::Socket(socket), 0o777, 0), linux::flags::open::O_RDWR | extra_flags)
    }

    /// A new, empty epoll set, open for reading and writing.
    pub fn epoll() -> Arc<Self> {
        Self::new(Node::new(Kind::Epoll(super::epoll::EpollSet::new()), 0o600, 0), linux::flags::open::O_RDWR)
    }

    /// A new pipe's two ends: (read, write); ENFILE when the budget for
    /// programs' data has no room for another (`budget`).
    pub fn pipe(extra_flags: u32) -> Result<(Arc<Self>, Arc<Self>), Errno> {
        let node = Node::new(Kind::Pipe(super::pipe::Pipe::new()?), 0o600, 0);
        Ok((Self::new(Arc::clone(&node), O_RDONLY | extra_flags), Self::new(node, O_WRONLY | extra_flags)))
    }

    /// Whether calls on it answer EAGAIN instead of waiting (`O_NONBLOCK`).
    pub fn nonblock(&self) -> bool {
        self.flags() & O_NONBLOCK != 0
    }

    /// The status flags.
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    /// Sets the flags `fcntl(F_SETFL)` may change.
    pub fn set_status_flags(&self, flags: u32) {
        let keep = self.flags() & !(O_APPEND | O_NONBLOCK);
        self.flags.store(keep | (flags & (O_APPEND | O_NONBLOCK)), Ordering::Relaxed);
    }

    fn readable(&self) -> bool {
        self.flags() & O_ACCMODE != O_WRONLY
    }

    fn writable(&self) -> bool {
        self.flags() & O_ACCMODE != O_RDONLY
    }

    /// The offset.
    pub fn offset(&self) -> u64 {
        self.offset.load(Ordering::Relaxed)
    }

    /// Sets the offset.
    pub fn set_offset(&self, at: u64) {
        self.offset.store(at, Ordering::Relaxed);
    }

    /// Readiness for `poll`: (readable, writable, hung up, error); leaves
    /// `waker` where it will be woken when that changes for what is
    /// `wanted` (with `wanted.always`, at the next change even while
    /// ready: an edge-triggered epoll interest).
    pub async fn poll(&self, waker: Waker, wanted: Wanted) -> (bool, bool, bool, bool) {
        let (r, w) = (self.readable(), self.writable());
        match &self.node.kind {
            Kind::Pipe(pipe) => {
                let (readable, writable, hup) = pipe.poll(r, waker, wanted.always, true).await;
                // A write end whose readers are gone reports an error.
                (readable, writable, hup && r, hup && !r)
            }
            Kind::Device(Device::Console) => {
                let (readable, ..) = crate::tty::Tty::Console.poll(waker, (wanted.read, wanted.write, wanted.always)).await;
                (readable && r, w, false, false)
            }
            Kind::Tty(tty) => {
                let (readable, writable, hup, error) = tty.poll(waker, (wanted.read, wanted.write, wanted.always)).await;
                (readable && r, writable && w, hup, error)
            }
            Kind::PtyMaster(pty) => pty.master_poll(waker, (wanted.read, wanted.write, wanted.always)).await,
            Kind::Socket(socket) => socket.poll(waker, wanted).await,
            // Not watched through another set or `poll` (not done yet).
            Kind::Epoll(_) => (false, false, false, false),
            _ => (r, w, false, false),
        }
    }

    /// Whether its reads and writes never wait (a file in memory,
    /// `/dev/null`, `/dev/zero`): the system calls answer them at once,
    /// without a future ([`Self::read_now`], [`Self::write_now`]).
    pub fn never_waits(&self) -> bool {
        matches!(self.node.kind, Kind::File(_) | Kind::Dir(_) | Kind::Proc | Kind::Symlink(_) | Kind::Device(Device::Null | Device::Zero))
    }

    /// Reads at the offset, advancing it.
    pub async fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        match &self.node.kind {
            Kind::Disk(d) if self.readable() => {
                if d.is_dir() {
                    return Err(errno::EISDIR);
                }
                let n = d.read_at(self.offset(), buf).await?;
                self.offset.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
            Kind::Device(Device::Random) if self.readable() => random(buf).await,
            Kind::Device(Device::Console) if self.readable() => crate::tty::Tty::Console.read(buf, self.nonblock()).await,
            Kind::Tty(tty) if self.readable() => tty.read(buf, self.nonblock()).await,
            Kind::PtyMaster(pty) if self.readable() => pty.master_read(buf, self.nonblock()).await,
            Kind::Pipe(pipe) if self.readable() => pipe.read(buf, self.nonblock()).await,
            Kind::Socket(socket) => socket.read(buf, self.nonblock()).await,
            _ => super::until_free(|| self.read_now(buf)).await,
        }
    }

    /// A read of `len` bytes of a file on a volume answered whole from this
    /// CPU's page copies, `put` given the bytes (straight to the program's
    /// memory: one copy): the count, or `None` when the general path must
    /// read it (not a file on a volume, not all held, not current).
    pub fn read_cached(&self, len: usize, put: impl FnOnce(&[u8]) -> Result<(), Errno>) -> Option<Result<usize, Errno>> {
        let Kind::Disk(d) = &self.node.kind else { return None };
        if !self.readable() || !d.is_file() {
            return None;
        }
        let (n, put) = d.read_cached(self.offset(), len, put)?;
        if put.is_ok() {
            self.offset.fetch_add(n as u64, Ordering::Relaxed);
        }
        Some(put.map(|()| n))
    }

    /// A large read of a file on a volume or an AF_INET socket: the next
    /// bytes (at most `len`, and at most a chunk; a file's at the offset,
    /// advancing it) in the buffer the volume's service or the network
    /// stack answered with, for the caller to copy on once; `None` when
    /// this is not such a read.
    pub async fn read_chunk(&self, len: usize) -> Option<Result<Vec<u8>, Errno>> {
        if let Kind::Socket(super::socket::Socket::Inet(s)) = &self.node.kind {
            return Some(s.read(len, self.nonblock()).await);
        }
        let Kind::Disk(d) = &self.node.kind else { return None };
        if !self.readable() || !d.is_file() {
            return None;
        }
        let got = d.read_chunk(self.offset(), len).await?;
        if let Ok(bytes) = &got {
            self.offset.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        Some(got)
    }

    /// [`Self::read`] of what never waits ([`Self::never_waits`]); EAGAIN
    /// for anything else, and `BUSY` when a file's token is (the module doc
    /// of `node`).
    pub fn read_now(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        if !self.readable() {
            return Err(errno::EBADF);
        }
        match &self.node.kind {
            Kind::File(data) => {
                let n = data
                    .try_shared(|data| {
                        let at = self.offset().min(data.len() as u64) as usize;
                        let n = buf.len().min(data.len() - at);
                        buf[..n].copy_from_slice(&data[at..at + n]);
                        self.offset.store((at + n) as u64, Ordering::Relaxed);
                        n
                    })
                    .ok_or(super::BUSY)?;
                Ok(n)
            }
            Kind::Dir(_) | Kind::Proc => Err(errno::EISDIR),
            Kind::Symlink(_) => Err(errno::EINVAL),
            // Data there (or no writer left): now; else the waiting path.
            Kind::Pipe(pipe) => pipe.read_now(buf).unwrap_or(Err(super::BUSY)),
            Kind::Socket(socket) => socket.read_now(buf).unwrap_or(Err(super::BUSY)),
            Kind::Epoll(_) => Err(errno::EINVAL),
            Kind::Device(Device::Null) => Ok(0),
            Kind::Device(Device::Zero) => {
                buf.fill(0);
                Ok(buf.len())
            }
            _ => Err(errno::EAGAIN),
        }
    }

    /// Writes at the offset (the end, with `O_APPEND`), advancing it.
    pub async fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        match &self.node.kind {
            Kind::Disk(d) if self.writable() => {
                if d.is_dir() {
                    return Err(errno::EISDIR);
                }
                let (n, end) = if self.flags() & O_APPEND != 0 {
                    d.append(buf).await?
                } else {
                    let at = self.offset();
                    let n = d.write_at(at, buf).await?;
                    (n, at + n as u64)
                };
                self.offset.store(end, Ordering::Relaxed);
                Ok(n)
            }
            Kind::Device(Device::Random) if self.writable() => Ok(buf.len()),
            Kind::Device(Device::Console) if self.writable() => console_write(buf).await,
            Kind::Tty(tty) if self.writable() => tty.write(buf, self.nonblock()).await,
            Kind::PtyMaster(pty) if self.writable() => pty.master_write(buf, self.nonblock()).await,
            Kind::Pipe(pipe) if self.writable() => pipe.write(buf, self.nonblock()).await,
            Kind::Socket(socket) => socket.write(buf, self.nonblock()).await,
            _ => super::until_free(|| self.write_now(buf)).await,
        }
    }

    /// [`Self::write`] of what never waits ([`Self::never_waits`]); EAGAIN
    /// for anything else, and `BUSY` when a file's token is (the module doc
    /// of `node`).
    pub fn write_now(&self, buf: &[u8]) -> Result<usize, Errno> {
        if !self.writable() {
            return Err(errno::EBADF);
        }
        match &self.node.kind {
            Kind::File(_) => self.node.edit_bytes(|data| {
                let at = if self.flags() & O_APPEND != 0 { data.len() } else { self.offset() as usize };
                let end = at.checked_add(buf.len()).ok_or(errno::EFBIG)?;
                if end > data.len() {
                    data.resize(end)?;
                }
                data[at..end].copy_from_slice(buf);
                self.offset.store(end as u64, Ordering::Relaxed);
                Ok(buf.len())
            }),
            Kind::Dir(_) | Kind::Proc => Err(errno::EISDIR),
            Kind::Symlink(_) => Err(errno::EINVAL),
            // Room for all of it: now; else the waiting path.
            Kind::Pipe(pipe) => pipe.write_now(buf).unwrap_or(Err(super::BUSY)),
            Kind::Epoll(_) => Err(errno::EINVAL),
            Kind::Device(Device::Null | Device::Zero) => Ok(buf.len()),
            _ => Err(errno::EAGAIN),
        }
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        match &self.node.kind {
            Kind::Pipe(pipe) => pipe.close_end(self.flags() & O_ACCMODE == O_RDONLY),
            Kind::Disk(d) if self.counted => d.vol.close(d.ino),
            Kind::Tty(tty) => tty.closed(),
            Kind::PtyMaster(pty) => pty.master_closed(),
            _ => {}
        }
    }
}

/// Writes `buf` to the console (every byte: a full transmit queue makes the
/// writer wait).
pub async fn console_write(buf: &[u8]) -> Result<usize, Errno> {
    // The screen first: its text grid takes the bytes at once (drawing is
    // its own task's), where the serial port may make the writer wait.
    if kernel::console::framebuffer::is_enabled() {
        kernel::console::framebuffer::write_bytes(buf);
    }
    let mut w = drivers::serial::writer();
    w.write_all(buf).await.map_err(|_| errno::EIO)?;
    Ok(buf.len())
}

/// Bytes for `/dev/urandom` and `/dev/random` (the per-CPU generator).
async fn random(buf: &mut [u8]) -> Result<usize, Errno> {
    crate::random::fill(buf).await?;
    Ok(buf.len())
}

/// Bytes straight from the entropy device (the generator's seed).
async fn device_read(buf: &mut [u8]) -> Result<usize, Errno> {
    let Some(entropy) = drivers::virtio::rng::entropy() else { return Err(errno::EIO) };
    let want = buf.len().min(4096);
    let bytes = entropy.read(want).await.map_err(|_| errno::EIO)?;
    let n = bytes.len().min(want);
    buf[..n].copy_from_slice(&bytes[..n]);
    Ok(n)
}

/// Fills `buf` with random bytes (getrandom, AT_RANDOM).
pub async fn random_bytes(buf: &mut [u8]) -> Result<(), Errno> {
    crate::random::fill(buf).await
}

/// Fills `buf` from the entropy device itself.
pub async fn device_random(buf: &mut [u8]) -> Result<(), Errno> {
    let mut done = 0;
    while done < buf.len() {
        let n = device_read(&mut buf[done..]).await?;
        if n == 0 {
            return Err(errno::EIO);
        }
        done += n;
    }
    Ok(())
}
