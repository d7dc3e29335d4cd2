//! AF_INET datagram sockets for programs, over the kernel's stack
//! (`drivers::net::UdpPort`), waiting as TCP sockets do (`inet_socket`):
//! on the readiness word the stack publishes, never a lock shared across
//! CPUs. The port, once bound, is read through a `spin::Once`; the peer a
//! `connect` names is one atomic word.
//!
//! Linux's rules kept: a socket binds a free port at its first send or
//! receive if `bind` did not; `connect` names the only peer it sends to by
//! default and hears from (datagrams from others are dropped), and
//! `AF_UNSPEC` forgets it; a send with no address and no peer is
//! EDESTADDRREQ, one larger than the send buffer EMSGSIZE; each receive
//! takes one datagram, cut to the length asked.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use core::task::Waker;

use drivers::net::ready::{self, Sides};
use drivers::net::{Ipv4Address, NetError, UdpPort};
use linux::errno::{self, Errno};

use super::Wanted;
use super::inet_socket::{changed, errno_of};

/// Reading has been shut down.
const READ_SHUT: u8 = 1;
/// Writing has been shut down.
const WRITE_SHUT: u8 = 2;
/// `peer`'s bit for "connected".
const CONNECTED: u64 = 1 << 63;

/// A program's AF_INET datagram socket.
pub struct UdpSocket {
    port: spin::Once<UdpPort>,
    /// `CONNECTED | address << 16 | port`, or 0.
    peer: AtomicU64,
    shut: AtomicU8,
    pub reuse_address: AtomicBool,
    pub broadcast: AtomicBool,
}

fn pack((addr, port): (Ipv4Address, u16)) -> u64 {
    CONNECTED | u64::from(addr.to_bits()) << 16 | u64::from(port)
}

impl UdpSocket {
    /// A fresh, unbound socket.
    pub fn new() -> Self {
        Self {
            port: spin::Once::new(),
            peer: AtomicU64::new(0),
            shut: AtomicU8::new(0),
            reuse_address: AtomicBool::new(false),
            broadcast: AtomicBool::new(false),
        }
    }

    /// `bind` to `port` (0: a free one): EINVAL if bound already,
    /// EADDRINUSE if another socket has it.
    pub async fn bind(&self, port: u16) -> Result<(), Errno> {
        if self.port.get().is_some() {
            return Err(errno::EINVAL);
        }
        let bound = UdpPort::bind(port).await.map_err(errno_of)?;
        let mut ours = false;
        self.port.call_once(|| {
            ours = true;
            bound
        });
        if ours { Ok(()) } else { Err(errno::EINVAL) }
    }

    /// The port, bound to a free one first if `bind` did not.
    async fn bound(&self) -> Result<&UdpPort, Errno> {
        if self.port.get().is_none() {
            let bound = UdpPort::bind(0).await.map_err(errno_of)?;
            self.port.call_once(|| bound);
        }
        Ok(self.port.get().expect("bound just now"))
    }

    /// `connect`: the default peer (`None`: forget it).
    pub async fn connect(&self, peer: Option<(Ipv4Address, u16)>) -> Result<(), Errno> {
        match peer {
            Some(p) => {
                self.bound().await?;
                self.peer.store(pack(p), Ordering::Release);
            }
            None => self.peer.store(0, Ordering::Release),
        }
        Ok(())
    }

    /// The peer `connect` named.
    pub fn peer(&self) -> Option<(Ipv4Address, u16)> {
        let p = self.peer.load(Ordering::Acquire);
        (p & CONNECTED != 0).then(|| (Ipv4Address::from_bits((p >> 16) as u32), p as u16))
    }

    /// This end's address: any address and the port (0 before one is
    /// bound).
    pub fn local(&self) -> (Ipv4Address, u16) {
        (Ipv4Address::UNSPECIFIED, self.port.get().map_or(0, UdpPort::port))
    }

    /// Sends `data` as one datagram to `to` (else the peer): waits for
    /// room unless `nonblock`.
    pub async fn send(&self, data: &[u8], to: Option<(Ipv4Address, u16)>, nonblock: bool) -> Result<usize, Errno> {
        if self.shut.load(Ordering::Relaxed) & WRITE_SHUT != 0 {
            return Err(errno::EPIPE);
        }
        let to = to.or_else(|| self.peer()).ok_or(errno::EDESTADDRREQ)?;
        let port = self.bound().await?;
        loop {
            let r = port.readiness();
            match port.try_send(data.to_vec(), to).await {
                Ok(Some(n)) => return Ok(n),
                Ok(None) if nonblock => return Err(errno::EAGAIN),
                Ok(None) => changed(r.generation, Sides::WRITE, || port.readiness(), |w| port.watch(r.generation, Sides::WRITE, w)).await,
                Err(NetError::TooLarge) => return Err(errno::EMSGSIZE),
                Err(e) => return Err(errno_of(e)),
            }
        }
    }

    /// The next datagram (cut to `max` bytes) and its sender: waits for one
    /// unless `nonblock`. Connected, it hears from the peer only.
    pub async fn recv(&self, max: usize, nonblock: bool) -> Result<(Vec<u8>, (Ipv4Address, u16)), Errno> {
        self.recv_or_peek(max, nonblock, false).await
    }

    /// [`Self::recv`], the datagram left to be read again with `peek`
    /// (`MSG_PEEK`).
    pub async fn recv_or_peek(&self, max: usize, nonblock: bool, peek: bool) -> Result<(Vec<u8>, (Ipv4Address, u16)), Errno> {
        if self.shut.load(Ordering::Relaxed) & READ_SHUT != 0 {
            return Ok((Vec::new(), (Ipv4Address::UNSPECIFIED, 0)));
        }
        let port = self.bound().await?;
        loop {
            let r = port.readiness();
            match port.try_recv(max, peek).await.map_err(errno_of)? {
                Some((data, from)) if self.peer().is_none_or(|p| p == from) => return Ok((data, from)),
                // Not from the connected peer: dropped (taken, if peeked).
                Some(_) if peek => drop(port.try_recv(0, false).await),
                Some(_) => continue,
                None if nonblock => return Err(errno::EAGAIN),
                None => changed(r.generation, Sides::READ, || port.readiness(), |w| port.watch(r.generation, Sides::READ, w)).await,
            }
        }
    }

    /// `shutdown`: only a connected socket (ENOTCONN otherwise).
    pub fn shutdown(&self, read: bool, write: bool) -> Result<(), Errno> {
        if self.peer().is_none() {
            return Err(errno::ENOTCONN);
        }
        let what = if read { READ_SHUT } else { 0 } | if write { WRITE_SHUT } else { 0 };
        self.shut.fetch_or(what, Ordering::Relaxed);
        Ok(())
    }

    /// The next datagram's length (`FIONREAD`), 0 if none.
    pub fn buffered(&self) -> usize {
        self.port.get().map_or(0, |p| usize::from(p.readiness().queued))
    }

    /// Readiness for `poll` (readable, writable, hung up, error), the
    /// waker left with the stack for the sides `wanted` that are not ready
    /// (or are, with `wanted.always`).
    pub async fn poll(&self, waker: Waker, wanted: Wanted) -> (bool, bool, bool, bool) {
        let read_shut = self.shut.load(Ordering::Relaxed) & READ_SHUT != 0;
        let Some(port) = self.port.get() else { return (read_shut, true, false, false) };
        let r = port.readiness();
        let readable = r.has(ready::READABLE) || read_shut;
        let writable = r.has(ready::WRITABLE);
        let sides = Sides { read: wanted.read && (!readable || wanted.always), write: wanted.write && (!writable || wanted.always) };
        if sides.read || sides.write {
            port.watch(r.generation, sides, waker).await;
        }
        (readable, writable, false, false)
    }
}

impl Default for UdpSocket {
    fn default() -> Self {
        Self::new()
    }
}
