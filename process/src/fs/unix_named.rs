//! Named AF_UNIX sockets: `socket(AF_UNIX, ..)`, `bind` to a path, and for
//! stream and sequenced-packet sockets `listen`, `connect` to a path,
//! `accept`. Once connected, such an endpoint is one end of a pair
//! (`unix_socket`): the data path is the pair's, through its pipes'
//! tokens, never a lock. A datagram socket has an inbox of its own (a
//! packet pipe whose messages carry their sender's name): `sendto` a path
//! puts a message in the inbox of the socket bound there, `connect` only
//! names a default destination (a small lock, the socket's own).
//!
//! `bind` makes a socket node in a directory in memory: its entry holds
//! the endpoint weakly, so a closed listener's path stays (as Linux's, until
//! `unlink`) and a connect to it is refused. A connect makes a pair, keeps
//! one end, and queues the other in the listener for `accept` (at most the
//! backlog: a blocking connect waits for room, a non-blocking one is
//! EAGAIN). The listener's queue is behind a serializing token like a
//! pipe's buffer, since the connecting and the accepting process may run
//! on different CPUs. An endpoint's states only move forward (fresh, bound,
//! then listening or connected), each set once (`spin::Once`); a small lock
//! orders the moves themselves (control path only).
//!
//! Not here yet: the abstract namespace (a path starting with a NUL),
//! binding on a mounted volume.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::task::Waker;

use io::token::Guarded;
use linux::errno::{self, Errno};

use super::Wanted;
use super::pipe::{Pipe, Received, Sender, my_waker, wait_for_wake};
use super::unix_socket::{UnixKind, UnixSocket};

/// Connections a listener queues at most, whatever the backlog asks
/// (Linux's `somaxconn`).
pub const MAX_BACKLOG: usize = 4096;

/// A connection waiting for `accept`: the listener's end, the connecting
/// socket's name.
struct Pending {
    end: Arc<UnixSocket>,
    peer: Option<String>,
}

struct Queue {
    pending: VecDeque<Pending>,
    /// Tasks waiting for a connection (accept, poll).
    acceptors: Vec<Waker>,
    /// Tasks waiting for room (blocking connects).
    connectors: Vec<Waker>,
    /// The listening socket is gone: connects are refused.
    closed: bool,
}

/// A listening endpoint's queue.
pub struct Listener {
    backlog: usize,
    queue: Guarded<Queue>,
}

impl Listener {
    fn wake(list: &mut Vec<Waker>) {
        for w in list.drain(..) {
            w.wake();
        }
    }

    /// Its socket closed: queued connections end (their clients read the
    /// end), waiting connects are refused.
    fn close(q: &mut Queue) {
        q.closed = true;
        q.pending.clear();
        Self::wake(&mut q.acceptors);
        Self::wake(&mut q.connectors);
    }
}

/// An AF_UNIX socket made by `socket` (the module doc).
pub struct UnixEndpoint {
    kind: UnixKind,
    moving: spin::Mutex<()>,
    name: spin::Once<Sender>,
    listening: spin::Once<Arc<Listener>>,
    connected: spin::Once<(Arc<UnixSocket>, Option<String>)>,
    /// A datagram socket's inbox.
    inbox: Option<Arc<Pipe>>,
    /// A datagram socket's default destination (`connect`): its path and
    /// the socket bound there when connected.
    destination: spin::Mutex<Option<(Sender, Weak<UnixEndpoint>)>>,
}

impl UnixEndpoint {
    /// A fresh socket of `kind`; ENFILE when a datagram socket's inbox
    /// finds no room in the budget for programs' data.
    pub fn new(kind: UnixKind) -> Result<Self, Errno> {
        let inbox = match kind {
            UnixKind::Datagram => {
                let inbox = Pipe::new_packets(false)?;
                inbox.open_end(true);
                Some(inbox)
            }
            _ => None,
        };
        Ok(Self::with_inbox(kind, inbox))
    }

    fn with_inbox(kind: UnixKind, inbox: Option<Arc<Pipe>>) -> Self {
        Self {
            kind,
            moving: spin::Mutex::new(()),
            name: spin::Once::new(),
            listening: spin::Once::new(),
            connected: spin::Once::new(),
            inbox,
            destination: spin::Mutex::new(None),
        }
    }

    /// Its kind.
    pub fn kind(&self) -> UnixKind {
        self.kind
    }

    /// Its name, once bound (or accepted from a bound listener).
    pub fn name(&self) -> Option<&str> {
        self.name.get().map(|n| &**n)
    }

    /// Its end of the pair, once connected (or accepted).
    pub fn connected(&self) -> Option<&Arc<UnixSocket>> {
        self.connected.get().map(|(end, _)| end)
    }

    /// Its peer's name: `None` unless connected (ENOTCONN), `Some(None)`
    /// for an unnamed peer.
    pub fn peer(&self) -> Option<Option<&str>> {
        self.connected.get().map(|(_, peer)| peer.as_deref())
    }

    /// Whether it listens.
    pub fn is_listening(&self) -> bool {
        self.listening.get().is_some()
    }

    /// `bind`: takes `path` as its name; `make` puts the socket node in
    /// its directory (EADDRINUSE if the name is taken). EINVAL if it has a
    /// name already.
    pub async fn bind<F: Future<Output = Result<(), Errno>>>(&self, path: String, make: impl FnOnce() -> F) -> Result<(), Errno> {
        if self.name.get().is_some() || self.connected.get().is_some() {
            return Err(errno::EINVAL);
        }
        make().await.map_err(|e| if e == errno::EEXIST { errno::EADDRINUSE } else { e })?;
        let _moving = self.moving.lock();
        if self.name.get().is_some() {
            return Err(errno::EINVAL);
        }
        self.name.call_once(|| Sender::from(path));
        Ok(())
    }

    /// `listen(backlog)`: EINVAL once connected, EOPNOTSUPP for a datagram
    /// socket; a second call keeps the first backlog.
    pub fn listen(&self, backlog: i32) -> Result<(), Errno> {
        if self.is_datagram() {
            return Err(errno::EOPNOTSUPP);
        }
        let _moving = self.moving.lock();
        if self.connected.get().is_some() {
            return Err(errno::EINVAL);
        }
        // Linux queues one more than the backlog.
        let backlog = usize::try_from(backlog).unwrap_or(0).min(MAX_BACKLOG) + 1;
        self.listening.call_once(|| {
            Arc::new(Listener {
                backlog,
                queue: Guarded::new(
                    "unix listener",
                    Queue { pending: VecDeque::new(), acceptors: Vec::new(), connectors: Vec::new(), closed: false },
                ),
            })
        });
        Ok(())
    }

    /// Whether it is a datagram socket (its own inbox, no connection).
    pub fn is_datagram(&self) -> bool {
        self.inbox.is_some()
    }

    /// A datagram socket's `connect`: `target` (the socket bound at
    /// `path`, if any still is) becomes its default destination;
    /// ECONNREFUSED if none is, EPROTOTYPE if it is not a datagram socket.
    pub fn set_destination(&self, target: Option<Arc<UnixEndpoint>>, path: String) -> Result<(), Errno> {
        let target = target.ok_or(errno::ECONNREFUSED)?;
        if !target.is_datagram() {
            return Err(errno::EPROTOTYPE);
        }
        *self.destination.lock() = Some((Sender::from(path), Arc::downgrade(&target)));
        Ok(())
    }

    /// A datagram socket's `connect(AF_UNSPEC)`: no default destination.
    pub fn forget_destination(&self) {
        *self.destination.lock() = None;
    }

    /// A datagram socket's default destination's path (`getpeername`).
    pub fn destination(&self) -> Option<Sender> {
        self.destination.lock().as_ref().map(|(path, _)| Arc::clone(path))
    }

    /// Sends one datagram to `target` (the socket bound where `sendto`
    /// said, if any still is: else ECONNREFUSED), or, `None`, to the
    /// default destination (ENOTCONN without one). It carries this
    /// socket's name; EAGAIN when the inbox is full and `nonblock`.
    pub async fn send_datagram(&self, message: &[u8], target: Option<Option<Arc<UnixEndpoint>>>, nonblock: bool) -> Result<usize, Errno> {
        let target = match target {
            Some(t) => t,
            None => {
                let weak = self.destination.lock().as_ref().map(|(_, w)| Weak::clone(w)).ok_or(errno::ENOTCONN)?;
                weak.upgrade()
            }
        };
        let target = target.ok_or(errno::ECONNREFUSED)?;
        let inbox = target.inbox.as_ref().ok_or(errno::EPROTOTYPE)?;
        let from = self.name.get().cloned();
        inbox.write_message_from(message, nonblock, from).await.map_err(|e| if e == errno::EPIPE { errno::ECONNREFUSED } else { e })
    }

    /// A datagram socket's next message: (bytes copied, its length, its
    /// sender's name); waits for one unless `nonblock` (EAGAIN); with
    /// `peek` it stays in the inbox.
    pub async fn recv_datagram(&self, buf: &mut [u8], nonblock: bool, peek: bool) -> Result<Received, Errno> {
        self.inbox.as_ref().ok_or(errno::ENOTCONN)?.read_message_from(buf, nonblock, peek).await
    }

    /// A datagram socket's next message's length (`FIONREAD`).
    pub async fn next_datagram(&self) -> usize {
        match &self.inbox {
            Some(inbox) => inbox.next_message().await,
            None => 0,
        }
    }

    /// `connect` to `target` (the endpoint a socket node names, if it still
    /// lives) at `path`: EISCONN, EINVAL when listening, ECONNREFUSED
    /// unless it listens, EPROTOTYPE for another kind, EAGAIN when its
    /// queue is full and `nonblock` (else waits for room).
    pub async fn connect(&self, target: Option<Arc<UnixEndpoint>>, path: String, nonblock: bool) -> Result<(), Errno> {
        if self.connected.get().is_some() {
            return Err(errno::EISCONN);
        }
        if self.is_listening() {
            return Err(errno::EINVAL);
        }
        let target = target.ok_or(errno::ECONNREFUSED)?;
        if target.kind != self.kind {
            return Err(errno::EPROTOTYPE);
        }
        let listener = Arc::clone(target.listening.get().ok_or(errno::ECONNREFUSED)?);
        let (mine, theirs) = UnixSocket::pair(self.kind)?;
        let mut theirs = Some(Pending { end: theirs, peer: self.name().map(String::from) });
        loop {
            let waker = my_waker().await;
            let step = listener
                .queue
                .exclusive(|q| {
                    if q.closed {
                        return Some(Err(errno::ECONNREFUSED));
                    }
                    if q.pending.len() >= listener.backlog {
                        if nonblock {
                            return Some(Err(errno::EAGAIN));
                        }
                        q.connectors.push(waker);
                        return None;
                    }
                    q.pending.push_back(theirs.take().expect("queued once"));
                    Listener::wake(&mut q.acceptors);
                    Some(Ok(()))
                })
                .await;
            match step {
                Some(r) => break r?,
                None => wait_for_wake().await,
            }
        }
        let _moving = self.moving.lock();
        self.connected.call_once(|| (mine, Some(path)));
        Ok(())
    }

    /// `accept`: the next queued connection, as a new endpoint named as
    /// this one, whose peer is the connecting socket's name. EINVAL unless
    /// listening; EAGAIN with none queued and `nonblock` (else waits).
    pub async fn accept(&self, nonblock: bool) -> Result<UnixEndpoint, Errno> {
        let listener = Arc::clone(self.listening.get().ok_or(errno::EINVAL)?);
        let got = loop {
            let waker = my_waker().await;
            let step = listener
                .queue
                .exclusive(|q| match q.pending.pop_front() {
                    Some(p) => {
                        Listener::wake(&mut q.connectors);
                        Some(Ok(p))
                    }
                    None if nonblock => Some(Err(errno::EAGAIN)),
                    None => {
                        q.acceptors.push(waker);
                        None
                    }
                })
                .await;
            match step {
                Some(r) => break r?,
                None => wait_for_wake().await,
            }
        };
        let accepted = UnixEndpoint::with_inbox(self.kind, None);
        if let Some(name) = self.name.get() {
            accepted.name.call_once(|| Arc::clone(name));
        }
        accepted.connected.call_once(|| (got.end, got.peer));
        Ok(accepted)
    }

    /// Readiness for `poll` of a socket that is not connected: a listener
    /// is readable with a connection queued (`waker` is left to hear of
    /// the next); any other is hung up (nothing to read or write), as
    /// Linux's.
    pub async fn poll_unconnected(&self, waker: Waker, wanted: Wanted) -> (bool, bool, bool, bool) {
        if let Some(inbox) = &self.inbox {
            // A datagram socket: readable with a message; always writable.
            let (readable, _, _) = inbox.poll(true, waker, wanted.always, wanted.read).await;
            return (readable, true, false, false);
        }
        let Some(listener) = self.listening.get() else { return (false, false, true, false) };
        let readable = listener
            .queue
            .exclusive(|q| {
                let ready = !q.pending.is_empty();
                if wanted.read && (!ready || wanted.always) && !q.acceptors.iter().any(|w| w.will_wake(&waker)) {
                    q.acceptors.push(waker);
                }
                ready
            })
            .await;
        (readable, false, false, false)
    }
}

impl Drop for UnixEndpoint {
    fn drop(&mut self) {
        if let Some(inbox) = &self.inbox {
            // Senders to its name are refused from now on.
            inbox.close_end(true);
        }
        let Some(listener) = self.listening.get() else { return };
        // At once if the token is free, as it nearly always is; else from a
        // task of its own (a close cannot wait for the token).
        if listener.queue.try_exclusive(Listener::close).is_some() {
            return;
        }
        let listener = Arc::clone(listener);
        drop(kernel::exec::spawn_named("unix-listener-close", async move {
            listener.queue.exclusive(Listener::close).await;
        }));
    }
}
