//! A socket behind an open file: one end of an AF_UNIX pair (stream,
//! datagram or sequenced-packet)
//! (`unix_socket`), an AF_INET stream socket (`inet_socket`) or datagram
//! socket (`udp_socket`). `read`,
//! `write`, `poll` and `FIONREAD` reach either through here; the socket
//! calls (`syscall/socket.rs`) look at which it is.

use alloc::sync::{Arc, Weak};
use core::task::Waker;

use linux::errno::{self, Errno};

use super::Wanted;
use super::inet_socket::InetSocket;
use super::udp_socket::UdpSocket;
use super::unix_named::UnixEndpoint;
use super::unix_socket::UnixSocket;

/// Which socket.
#[derive(Clone)]
pub enum Socket {
    Unix(Arc<UnixSocket>),
    /// A socket made by `socket(AF_UNIX, ..)`: once connected, its pair's
    /// end does the work ([`Socket::connected`]).
    UnixNamed(Arc<UnixEndpoint>),
    /// A directory's entry for a bound AF_UNIX socket (never opened: ENXIO).
    Address(Weak<UnixEndpoint>),
    Inet(Arc<InetSocket>),
    Udp(Arc<UdpSocket>),
}

impl Socket {
    /// The socket that does the work: a connected named AF_UNIX socket's
    /// pair end, or this one.
    pub fn connected(&self) -> Socket {
        match self {
            Socket::UnixNamed(e) => e.connected().map_or_else(|| self.clone(), |end| Socket::Unix(Arc::clone(end))),
            other => other.clone(),
        }
    }

    /// Reads up to `buf.len()` bytes (waiting unless `nonblock`).
    pub async fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        match self {
            Socket::Unix(s) => s.read(buf, nonblock).await,
            Socket::UnixNamed(e) => match e.connected() {
                Some(s) => s.read(buf, nonblock).await,
                None if e.is_datagram() => e.recv_datagram(buf, nonblock, false).await.map(|(n, _, _)| n),
                None => Err(unconnected_read(e)),
            },
            Socket::Address(_) => Err(errno::ENXIO),
            Socket::Inet(s) => {
                let data = s.read(buf.len(), nonblock).await?;
                buf[..data.len()].copy_from_slice(&data);
                Ok(data.len())
            }
            Socket::Udp(s) => {
                let (data, _) = s.recv(buf.len(), nonblock).await?;
                buf[..data.len()].copy_from_slice(&data);
                Ok(data.len())
            }
        }
    }

    /// [`Self::read`] if it can be answered without a future: `None`
    /// otherwise (an AF_INET socket's read is a message to the stack).
    pub fn read_now(&self, buf: &mut [u8]) -> Option<Result<usize, Errno>> {
        match self {
            Socket::Unix(s) => s.read_now(buf),
            Socket::UnixNamed(e) => e.connected().and_then(|s| s.read_now(buf)),
            Socket::Inet(_) | Socket::Udp(_) | Socket::Address(_) => None,
        }
    }

    /// Writes `buf` (all of it, waiting for room, unless `nonblock`).
    pub async fn write(&self, buf: &[u8], nonblock: bool) -> Result<usize, Errno> {
        match self {
            Socket::Unix(s) => s.write(buf, nonblock).await,
            Socket::UnixNamed(e) => match e.connected() {
                Some(s) => s.write(buf, nonblock).await,
                None if e.is_datagram() => e.send_datagram(buf, None, nonblock).await,
                None => Err(errno::ENOTCONN),
            },
            Socket::Address(_) => Err(errno::ENXIO),
            Socket::Inet(s) => s.write(buf, nonblock).await,
            Socket::Udp(s) => s.send(buf, None, nonblock).await,
        }
    }

    /// Bytes waiting to be read (`FIONREAD`).
    pub async fn buffered(&self) -> usize {
        match self {
            Socket::Unix(s) => s.buffered().await,
            Socket::UnixNamed(e) => match e.connected() {
                Some(s) => s.buffered().await,
                None => e.next_datagram().await,
            },
            Socket::Address(_) => 0,
            Socket::Inet(s) => s.buffered(),
            Socket::Udp(s) => s.buffered(),
        }
    }

    /// Readiness for `poll`: (readable, writable, hung up, error); see
    /// each kind's.
    pub async fn poll(&self, waker: Waker, wanted: Wanted) -> (bool, bool, bool, bool) {
        match self {
            Socket::Unix(s) => s.poll(waker, wanted).await,
            Socket::UnixNamed(e) => match e.connected() {
                Some(s) => s.poll(waker, wanted).await,
                None => e.poll_unconnected(waker, wanted).await,
            },
            Socket::Address(_) => (false, false, false, false),
            Socket::Inet(s) => s.poll(waker, wanted).await,
            Socket::Udp(s) => s.poll(waker, wanted).await,
        }
    }
}

/// A read of a named AF_UNIX socket that is not connected (a listener
/// too): a stream's is EINVAL, a sequenced-packet socket's ENOTCONN, as
/// Linux answers (`tests/programs/unix_named.c`).
fn unconnected_read(e: &UnixEndpoint) -> Errno {
    if e.kind() == super::unix_socket::UnixKind::Stream { errno::EINVAL } else { errno::ENOTCONN }
}
