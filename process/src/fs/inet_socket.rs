//! AF_INET stream sockets for programs, over the kernel's stack
//! (`drivers::net`, its calls for programs). Every call on the stack is
//! answered at once; a call that must wait (a blocking read, accept,
//! connect, or a write into a full buffer) waits here, on the socket's
//! published readiness: it reads the readiness word, tries, and if told
//! "would block" leaves its waker with the stack for the generation it
//! read (`drivers::net::ready`), so a change in between is never missed.
//! A signal cuts such a wait short with nothing kept anywhere.
//!
//! A socket goes Fresh -> Bound (a port held) -> Listening, or Fresh or
//! Bound -> Connected (being made, made, or failed). Those steps take a
//! short lock (the control path); reads and writes take none: the
//! connection, once set, is read through a `spin::Once`.
//!
//! Linux's answers kept: read with no connection ENOTCONN, write EPIPE
//! (SIGPIPE from the caller); a failed connect's error once, from
//! `connect` or `SO_ERROR`; a reset ECONNRESET once, then the end;
//! `SHUT_RD` makes reads return 0, `SHUT_WR` sends a FIN and makes writes
//! EPIPE. Poll: a fresh socket is writable and hung up (as Linux's).

use alloc::vec::Vec;
use core::future::poll_fn;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use core::task::{Poll, Waker};

use drivers::net::ready::{self, Readiness, Sides};
use drivers::net::{Connection, Ipv4Address, Listening, NetError, Reservation, TcpOption};
use linux::errno::{self, Errno};

use super::Wanted;

/// Reading has been shut down.
const READ_SHUT: u8 = 1;
/// Writing has been shut down.
const WRITE_SHUT: u8 = 2;
/// Connections a listening socket keeps waiting for `accept` (the stack's
/// most), whatever `listen` asked (`InetSocket::listen`).
const BACKLOG: usize = 64;
/// The most one try moves (the stack's buffer per direction).
const CHUNK: usize = 16 * 1024;

/// Where a socket is in its life (the module doc).
enum Setup {
    Fresh,
    Bound(Reservation),
    /// Listening or connected: the rest is in `listener` or `conn`.
    Settled,
}

/// Options a program set, kept for the connection to come.
#[derive(Default)]
pub struct Options {
    pub reuse_address: AtomicBool,
    pub keep_alive: AtomicBool,
    pub no_delay: AtomicBool,
    /// `SO_LINGER`: bit 31 on, the seconds below.
    pub linger: AtomicU32,
}

/// A program's AF_INET stream socket.
pub struct InetSocket {
    setup: spin::Mutex<Setup>,
    listener: spin::Once<Listening>,
    conn: spin::Once<Connection>,
    shut: AtomicU8,
    /// The connection's error was given to the program already.
    error_told: AtomicBool,
    /// A `connect` has returned the connection made.
    connect_told: AtomicBool,
    /// The port `bind` named (getsockname before listen or connect).
    bound_port: AtomicU32,
    pub options: Options,
}

/// The errno for a stack's error on a call that is not a write.
pub fn errno_of(e: NetError) -> Errno {
    match e {
        NetError::NoNetwork | NetError::NoRoute => errno::ENETUNREACH,
        NetError::Refused => errno::ECONNREFUSED,
        NetError::Reset => errno::ECONNRESET,
        NetError::TimedOut => errno::ETIMEDOUT,
        NetError::Closed => errno::ENOTCONN,
        NetError::InUse => errno::EADDRINUSE,
        NetError::Limit => errno::ENOBUFS,
        NetError::TooLarge => errno::EMSGSIZE,
        NetError::WouldBlock => errno::EAGAIN,
    }
}

/// Waits until a generation of `sides` moves past `seen`'s, having left
/// the task's waker with the stack (`watch`).
pub(super) async fn changed<F: Future<Output = ()>>(
    seen: u32,
    sides: Sides,
    readiness: impl Fn() -> Readiness,
    watch: impl FnOnce(Waker) -> F,
) {
    let waker = poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
    watch(waker).await;
    poll_fn(|_| if readiness().moved_since(seen, sides) { Poll::Ready(()) } else { Poll::Pending }).await;
}

impl InetSocket {
    /// A fresh socket.
    pub fn new() -> Self {
        Self {
            setup: spin::Mutex::new(Setup::Fresh),
            listener: spin::Once::new(),
            conn: spin::Once::new(),
            shut: AtomicU8::new(0),
            error_told: AtomicBool::new(false),
            connect_told: AtomicBool::new(false),
            bound_port: AtomicU32::new(0),
            options: Options::default(),
        }
    }

    /// A socket for a connection `accept` took.
    pub fn accepted(conn: Connection) -> Self {
        let s = Self::new();
        *s.setup.lock() = Setup::Settled;
        s.connect_told.store(true, Ordering::Relaxed);
        s.conn.call_once(|| conn);
        s
    }

    /// The connection, once there is one.
    pub fn connection(&self) -> Option<&Connection> {
        self.conn.get()
    }

    /// The listening socket, once it listens.
    pub fn listening(&self) -> Option<&Listening> {
        self.listener.get()
    }

    /// `bind` to `port` (0: a free one) on any address: EINVAL if bound
    /// already, EADDRINUSE if the port is taken.
    pub async fn bind(&self, port: u16) -> Result<(), Errno> {
        if !matches!(*self.setup.lock(), Setup::Fresh) {
            return Err(errno::EINVAL);
        }
        let r = Reservation::new(port).await.map_err(errno_of)?;
        let mut setup = self.setup.lock();
        if !matches!(*setup, Setup::Fresh) {
            return Err(errno::EINVAL);
        }
        self.bound_port.store(u32::from(r.port()), Ordering::Relaxed);
        *setup = Setup::Bound(r);
        Ok(())
    }

    /// `listen` (a fresh socket gets a free port first). The backlog asked
    /// for is not narrowed to: past a full queue the stack drops a new
    /// connection's SYN, as Linux does, and the client sends it again,
    /// but QEMU's user network (the forwards every test and benchmark
    /// use) sends it again only after 6 s, where a Linux client waits
    /// 1 s; so every program's queue is as long as the stack allows
    /// (`BACKLOG`), which no program can tell from the one it asked for.
    pub async fn listen(&self, _backlog: usize) -> Result<(), Errno> {
        let held = match core::mem::replace(&mut *self.setup.lock(), Setup::Settled) {
            Setup::Bound(r) => r,
            Setup::Fresh => Reservation::new(0).await.map_err(errno_of)?,
            Setup::Settled if self.listener.get().is_some() => return Ok(()),
            Setup::Settled => return Err(errno::EINVAL),
        };
        self.bound_port.store(u32::from(held.port()), Ordering::Relaxed);
        let l = held.listen(BACKLOG).await.map_err(errno_of)?;
        self.listener.call_once(|| l);
        Ok(())
    }

    /// Starts a connection to `addr:port`; with `nonblock` answers
    /// EINPROGRESS, else waits for the handshake.
    pub async fn connect(&self, addr: Ipv4Address, port: u16, nonblock: bool) -> Result<(), Errno> {
        if let Some(c) = self.conn.get() {
            return self.connect_again(c, nonblock).await;
        }
        let conn = match core::mem::replace(&mut *self.setup.lock(), Setup::Settled) {
            Setup::Bound(r) => r.connect(addr, port).await,
            Setup::Fresh => Connection::open(addr, port).await,
            Setup::Settled if self.listener.get().is_some() => return Err(errno::EISCONN),
            Setup::Settled => return Err(errno::EALREADY),
        }
        .map_err(errno_of)?;
        let conn = self.conn.call_once(|| conn);
        self.apply_options(conn).await;
        if nonblock {
            return Err(errno::EINPROGRESS);
        }
        self.connect_again(conn, false).await
    }

    /// `connect` on a socket that has a connection: EALREADY while it is
    /// being made (or the wait, when blocking), its error once, EISCONN.
    async fn connect_again(&self, c: &Connection, nonblock: bool) -> Result<(), Errno> {
        loop {
            let r = c.readiness();
            if r.has(ready::CONNECTED) {
                // The first call to see it made succeeds; later ones are
                // told it is.
                return if self.connect_told.swap(true, Ordering::Relaxed) { Err(errno::EISCONN) } else { Ok(()) };
            }
            if let Some(e) = r.error {
                return if self.error_told.swap(true, Ordering::Relaxed) { Err(errno::ECONNABORTED) } else { Err(errno_of(e)) };
            }
            if nonblock {
                return Err(errno::EALREADY);
            }
            changed(r.generation, Sides::WRITE, || c.readiness(), |w| c.watch(r.generation, Sides::WRITE, w)).await;
        }
    }

    /// Takes the options of the listening socket it was accepted from (as
    /// Linux's accepted sockets do).
    pub async fn inherit(&self, from: &InetSocket) {
        let (o, f) = (&self.options, &from.options);
        o.reuse_address.store(f.reuse_address.load(Ordering::Relaxed), Ordering::Relaxed);
        o.keep_alive.store(f.keep_alive.load(Ordering::Relaxed), Ordering::Relaxed);
        o.no_delay.store(f.no_delay.load(Ordering::Relaxed), Ordering::Relaxed);
        o.linger.store(f.linger.load(Ordering::Relaxed), Ordering::Relaxed);
        if let Some(c) = self.conn.get() {
            self.apply_options(c).await;
        }
    }

    /// Applies the options set before there was a connection.
    async fn apply_options(&self, c: &Connection) {
        if self.options.no_delay.load(Ordering::Relaxed) {
            c.set(TcpOption::NoDelay(true)).await;
        }
        if self.options.keep_alive.load(Ordering::Relaxed) {
            c.set(TcpOption::KeepAlive(Some(KEEP_ALIVE))).await;
        }
    }

    /// A connection made to this listening socket (EINVAL if it does not
    /// listen); waits for one unless `nonblock`.
    pub async fn accept(&self, nonblock: bool) -> Result<Connection, Errno> {
        let l = self.listener.get().ok_or(errno::EINVAL)?;
        loop {
            let r = l.readiness();
            if let Some(c) = l.try_accept().map_err(errno_of)? {
                return Ok(c);
            }
            if nonblock {
                return Err(errno::EAGAIN);
            }
            changed(r.generation, Sides::READ, || l.readiness(), |w| l.watch(r.generation, w)).await;
        }
    }

    /// Reads up to `max` bytes, in the buffer the stack answered with:
    /// waits for some unless `nonblock`; none at the end.
    pub async fn read(&self, max: usize, nonblock: bool) -> Result<Vec<u8>, Errno> {
        self.read_or_peek(max, nonblock, false).await
    }

    /// [`Self::read`], the bytes left to be read again with `peek`
    /// (`MSG_PEEK`).
    pub async fn read_or_peek(&self, max: usize, nonblock: bool, peek: bool) -> Result<Vec<u8>, Errno> {
        if self.shut.load(Ordering::Relaxed) & READ_SHUT != 0 || max == 0 {
            return Ok(Vec::new());
        }
        let c = self.conn.get().ok_or(errno::ENOTCONN)?;
        loop {
            let r = c.readiness();
            if r.has(ready::CONNECTED) || r.error.is_some() {
                match c.try_read(max, peek).await {
                    Ok(Some(data)) => return Ok(data),
                    Ok(None) => {}
                    Err(e) => return self.told(e).map(|()| Vec::new()),
                }
            }
            if nonblock {
                return Err(errno::EAGAIN);
            }
            changed(r.generation, Sides::READ, || c.readiness(), |w| c.watch(r.generation, Sides::READ, w)).await;
        }
    }

    /// A connection's error once (as Linux: ECONNRESET, then the end).
    fn told(&self, e: NetError) -> Result<(), Errno> {
        if self.error_told.swap(true, Ordering::Relaxed) { Ok(()) } else { Err(errno_of(e)) }
    }

    /// Writes `buf`: all of it unless `nonblock` (then what fits, or
    /// EAGAIN); EPIPE once this side may not write.
    pub async fn write(&self, buf: &[u8], nonblock: bool) -> Result<usize, Errno> {
        if self.shut.load(Ordering::Relaxed) & WRITE_SHUT != 0 {
            return Err(errno::EPIPE);
        }
        let c = self.conn.get().ok_or(errno::EPIPE)?;
        let mut done = 0;
        while done < buf.len() {
            let r = c.readiness();
            if r.has(ready::CONNECTED) || r.error.is_some() {
                let n = (buf.len() - done).min(CHUNK);
                match c.try_write(buf[done..done + n].to_vec()).await {
                    Ok(Some(w)) => {
                        done += w;
                        continue;
                    }
                    Ok(None) => {}
                    Err(_) if done > 0 => break,
                    Err(NetError::Reset) if !self.error_told.swap(true, Ordering::Relaxed) => return Err(errno::ECONNRESET),
                    Err(_) => return Err(errno::EPIPE),
                }
            }
            if nonblock {
                break;
            }
            changed(r.generation, Sides::WRITE, || c.readiness(), |w| c.watch(r.generation, Sides::WRITE, w)).await;
        }
        if done == 0 && !buf.is_empty() { Err(errno::EAGAIN) } else { Ok(done) }
    }

    /// `shutdown`: reading (locally) and writing (a FIN).
    pub async fn shutdown(&self, read: bool, write: bool) -> Result<(), Errno> {
        if self.listener.get().is_some() {
            return Ok(());
        }
        let c = self.conn.get().ok_or(errno::ENOTCONN)?;
        if read {
            self.shut.fetch_or(READ_SHUT, Ordering::Relaxed);
        }
        if write && self.shut.fetch_or(WRITE_SHUT, Ordering::Relaxed) & WRITE_SHUT == 0 {
            c.shutdown().await.map_err(errno_of)?;
        }
        Ok(())
    }

    /// The pending error for `SO_ERROR` (read once), 0 if none.
    pub fn take_error(&self) -> i32 {
        match self.conn.get().and_then(|c| c.readiness().error) {
            Some(e) if !self.error_told.swap(true, Ordering::Relaxed) => errno_of(e).0,
            _ => 0,
        }
    }

    /// This end's address: the connection's, else any address and the
    /// port bound (0 if none).
    pub fn local(&self) -> (Ipv4Address, u16) {
        match self.conn.get() {
            Some(c) => c.local(),
            None => (Ipv4Address::UNSPECIFIED, self.bound_port.load(Ordering::Relaxed) as u16),
        }
    }

    /// Bytes waiting to be read (`FIONREAD`).
    pub fn buffered(&self) -> usize {
        self.conn.get().map_or(0, |c| usize::from(c.readiness().queued))
    }

    /// Readiness for `poll`: (readable, writable, hung up, error); leaves
    /// `waker` with the stack for the sides `wanted` that are not ready
    /// (with `wanted.always`, even for those that are: an edge-triggered
    /// interest).
    pub async fn poll(&self, waker: Waker, wanted: Wanted) -> (bool, bool, bool, bool) {
        let read_shut = self.shut.load(Ordering::Relaxed) & READ_SHUT != 0;
        if let Some(l) = self.listener.get() {
            let r = l.readiness();
            if !r.has(ready::READABLE) || wanted.always {
                l.watch(r.generation, waker).await;
            }
            return (r.has(ready::READABLE), false, false, false);
        }
        let Some(c) = self.conn.get() else { return (read_shut, true, true, false) };
        let r = c.readiness();
        let readable = r.has(ready::READABLE) || read_shut;
        let writable = r.has(ready::WRITABLE);
        let sides = Sides { read: wanted.read && (!readable || wanted.always), write: wanted.write && (!writable || wanted.always) };
        if sides.read || sides.write {
            c.watch(r.generation, sides, waker).await;
        }
        let error = r.has(ready::ERROR) && !self.error_told.load(Ordering::Relaxed);
        (readable, writable, r.has(ready::HUNG_UP), error)
    }

    /// Whether it listens.
    pub fn is_listening(&self) -> bool {
        self.listener.get().is_some()
    }
}

/// Idle time before keep-alive probes (Linux's default is two hours; a
/// program that asks for keep-alive here gets probes after this).
pub const KEEP_ALIVE: core::time::Duration = core::time::Duration::from_secs(7200);

impl Default for InetSocket {
    fn default() -> Self {
        Self::new()
    }
}
