//! Sockets for programs' system calls (the `process` crate): every call is
//! answered at once by the stack (`WouldBlock` where a kernel socket's
//! call would wait), and each socket's readiness is published
//! ([`super::ready`]), so the caller waits where it chooses (a blocking
//! call, `poll`, `epoll`) by [`Listening::watch`] or [`Connection::watch`].
//! A call that waits on the stack's answer waits one turn of its loop at
//! most: a signal that cuts a system call short never leaves a request
//! kept there.
//!
//! ```text
//! let r = Reservation::new(8000).await?;                 // bind
//! let l = r.listen(16).await?;                           // listen
//! let seen = l.readiness().generation;
//! match l.try_accept().await? {                          // accept
//!     Some(conn) => ...,
//!     None => l.watch(seen, waker).await,                // then wait
//! }
//! ```

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::task::Waker;

use smoltcp::wire::Ipv4Address;

use super::NetError;
use super::ready::{READABLE, Readiness, Ready, Sides};
use super::socket::{call, post, unexpected};
use super::stack::{self, Answer, Handoff, Opened, Request, TcpOption, Watched};

/// Sends a watch without waiting for an answer (it has none worth one).
async fn watch(what: Watched, seen: u32, sides: Sides, waker: Waker) {
    if let Ok(port) = stack::port() {
        let _ = port.send(Request::Watch(what, seen, sides, waker)).await;
    } else {
        waker.wake();
    }
}

/// A TCP port held for this socket (`bind`), until it listens, connects
/// or goes.
pub struct Reservation {
    port: u16,
}

impl Reservation {
    /// Holds `port` (0: a free one); `InUse` if it is listened on or held.
    pub async fn new(port: u16) -> Result<Self, NetError> {
        match call(Request::Reserve(port)).await? {
            Answer::Port(port) => Ok(Self { port }),
            _ => unexpected(),
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Listens on the port, with up to `backlog` (1..=64) connections made
    /// and not yet accepted: past them, new ones are refused.
    pub async fn listen(self, backlog: usize) -> Result<Listening, NetError> {
        let port = self.port;
        core::mem::forget(self);
        match call(Request::Listen(port, backlog, true)).await? {
            Answer::Listener(id, ready, Some(handoff)) => Ok(Listening { id, port, ready, handoff }),
            _ => unexpected(),
        }
    }

    /// Starts a connection from the port to `addr:port`.
    pub async fn connect(self, addr: Ipv4Address, port: u16) -> Result<Connection, NetError> {
        let local = self.port;
        core::mem::forget(self);
        Connection::open_from(addr, port, Some(local)).await
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        post(Request::Unreserve(self.port));
    }
}

/// A listening TCP socket. Its connections are taken from the queue the
/// stack fills (`stack/handoff.rs`), without a message.
pub struct Listening {
    id: usize,
    port: u16,
    ready: Arc<Ready>,
    handoff: Arc<Handoff>,
}

impl Listening {
    /// A connection made to it, or `None` if there is none now; the
    /// listener's error once it is gone.
    pub fn try_accept(&self) -> Result<Option<Connection>, NetError> {
        match self.handoff.take() {
            Some(c) => Ok(Some(Connection::from(c))),
            None => self.ready.get().error.map_or(Ok(None), Err),
        }
    }

    /// Readable: a connection waits (read from the queue itself, so a
    /// connection just taken is not shown until the stack's next turn).
    pub fn readiness(&self) -> Readiness {
        let mut r = self.ready.get();
        let waiting = self.handoff.len();
        if r.error.is_none() {
            r.bits = if waiting > 0 { r.bits | READABLE } else { r.bits & !READABLE };
        }
        r.queued = waiting.min(usize::from(u16::MAX)) as u16;
        r
    }

    /// Wakes `waker` once its readiness' read generation is past `seen`'s
    /// (a connection came, or the listener went).
    pub async fn watch(&self, seen: u32, waker: Waker) {
        watch(Watched::Listener(self.id), seen, Sides::READ, waker).await;
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        post(Request::Unlisten(self.id));
    }
}

fn none_if_would_block<T>(e: NetError) -> Result<Option<T>, NetError> {
    if e == NetError::WouldBlock { Ok(None) } else { Err(e) }
}

/// A TCP connection (being made, made, or ended).
pub struct Connection {
    id: usize,
    ready: Arc<Ready>,
    local: (Ipv4Address, u16),
    peer: (Ipv4Address, u16),
}

impl From<Opened> for Connection {
    fn from(c: Opened) -> Self {
        let (id, local, peer) = (c.id, c.local, c.peer);
        Self { id, local, peer, ready: c.keep() }
    }
}

impl Connection {
    /// Starts a connection to `addr:port` from a free port: it is made
    /// when the socket is writable, or failed with an error
    /// ([`Readiness::error`]).
    pub async fn open(addr: Ipv4Address, port: u16) -> Result<Self, NetError> {
        Self::open_from(addr, port, None).await
    }

    async fn open_from(addr: Ipv4Address, port: u16, local: Option<u16>) -> Result<Self, NetError> {
        match call(Request::Open(addr, port, local)).await? {
            Answer::Conn(c) => Ok(Self::from(c)),
            _ => unexpected(),
        }
    }

    /// Up to `max` bytes received (empty at the end), or `None` if none
    /// are there now; with `peek`, left to be read again.
    pub async fn try_read(&self, max: usize, peek: bool) -> Result<Option<Vec<u8>>, NetError> {
        let r = call(Request::TryRecv(self.id, max, peek)).await.and_then(|a| match a {
            Answer::Data(d) => Ok(Some(d)),
            _ => unexpected(),
        });
        r.or_else(none_if_would_block)
    }

    /// How many of `data`'s first bytes went into the send buffer, or
    /// `None` if it has no room now; `Closed` once this side may not send.
    pub async fn try_write(&self, data: Vec<u8>) -> Result<Option<usize>, NetError> {
        let r = call(Request::TrySend(self.id, data)).await.and_then(|a| match a {
            Answer::Sent(n) => Ok(Some(n)),
            _ => unexpected(),
        });
        r.or_else(none_if_would_block)
    }

    /// Sends a FIN after what was written (`shutdown(SHUT_WR)`).
    pub async fn shutdown(&self) -> Result<(), NetError> {
        call(Request::Shutdown(self.id)).await.map(drop)
    }

    /// Sets an option. Sent without waiting for an answer: setting one
    /// cannot fail but by the connection being gone, which the next call
    /// finds, and the stack takes requests in the order they came, so the
    /// next call sees it set. (A server sets `SO_KEEPALIVE` on each
    /// connection it accepts; a round trip to the stack's CPU there is one
    /// more wait in its accept loop.)
    pub async fn set(&self, option: TcpOption) {
        if let Ok(port) = stack::port() {
            let _ = port.send(Request::Set(self.id, option)).await;
        }
    }

    /// What it is ready for.
    pub fn readiness(&self) -> Readiness {
        self.ready.get()
    }

    /// Wakes `waker` once a generation of `sides` is past `seen`'s.
    pub async fn watch(&self, seen: u32, sides: Sides, waker: Waker) {
        watch(Watched::Conn(self.id), seen, sides, waker).await;
    }

    /// This end's address and port.
    pub fn local(&self) -> (Ipv4Address, u16) {
        self.local
    }

    /// The peer's address and port.
    pub fn peer(&self) -> (Ipv4Address, u16) {
        self.peer
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        post(Request::Close(self.id));
    }
}

/// A bound UDP socket.
pub struct UdpPort {
    id: usize,
    port: u16,
    ready: Arc<Ready>,
}

impl UdpPort {
    /// Binds `port` (0: a free one); `InUse` if another socket has it.
    pub async fn bind(port: u16) -> Result<Self, NetError> {
        match call(Request::UdpBind(port)).await? {
            Answer::Udp(id, port, ready) => Ok(Self { id, port, ready }),
            _ => unexpected(),
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The next datagram (cut to `max` bytes) and its sender, or `None`
    /// if none is there now; with `peek`, left to be read again.
    pub async fn try_recv(&self, max: usize, peek: bool) -> Result<Option<(Vec<u8>, (Ipv4Address, u16))>, NetError> {
        let r = call(Request::TryUdpRecv(self.id, max, peek)).await.and_then(|a| match a {
            Answer::Datagram(d, addr, port) => Ok(Some((d, (addr, port)))),
            _ => unexpected(),
        });
        r.or_else(none_if_would_block)
    }

    /// Sends `data` as one datagram to `addr:port`, or `None` while the
    /// send buffer has no room; `TooLarge` past the buffer's size.
    pub async fn try_send(&self, data: Vec<u8>, (addr, port): (Ipv4Address, u16)) -> Result<Option<usize>, NetError> {
        let r = call(Request::TryUdpSend(self.id, data, addr, port)).await.and_then(|a| match a {
            Answer::Sent(n) => Ok(Some(n)),
            _ => unexpected(),
        });
        r.or_else(none_if_would_block)
    }

    /// What it is ready for.
    pub fn readiness(&self) -> Readiness {
        self.ready.get()
    }

    /// Wakes `waker` once a generation of `sides` is past `seen`'s.
    pub async fn watch(&self, seen: u32, sides: Sides, waker: Waker) {
        watch(Watched::Udp(self.id), seen, sides, waker).await;
    }
}

impl Drop for UdpPort {
    fn drop(&mut self) {
        post(Request::UdpClose(self.id));
    }
}
