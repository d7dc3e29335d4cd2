//! Networking: smoltcp over virtio-net in one task on one CPU, and sockets
//! any task on any CPU can use.
//!
//! The stack belongs to one CPU (DragonFly's netisr model): its task owns
//! the device, the interface and every smoltcp socket, and nothing there is
//! locked. A socket ([`TcpListener`], [`TcpStream`], [`UdpSocket`],
//! [`ping`]) is a handle that talks to that task through a message port
//! (`kernel::port`): a call from another CPU travels as an IPI-queue
//! message, its reply wakes the caller the same way. A call that cannot be
//! answered yet (an accept with no connection, a read with no data, a write
//! into a full send buffer) is kept by the stack with its answer and
//! answered when it can be: the caller waits, it never spins, and nothing
//! is lost. Errors (refused, reset, timed out, closed, limits) come back as
//! [`NetError`].
//!
//! Programs' sockets (the `process` crate) use other handles
//! ([`Reservation`], [`Listening`], [`Connection`], [`UdpPort`]) whose
//! calls are all answered at once, and wait on each socket's published
//! readiness ([`ready`]) instead, where a signal can cut the wait short.
//!
//! ```text
//! let listener = TcpListener::bind(80).await?;           // any CPU
//! let (mut stream, peer) = listener.accept().await?;
//! let n = stream.read(&mut buf).await?;                   // embedded_io_async::Read
//! stream.write_all(&buf[..n]).await?;                     // embedded_io_async::Write
//! ```

mod program;
pub mod ready;
mod socket;
mod stack;

use core::fmt;

pub use program::{Connection, Listening, Reservation, UdpPort};
pub use smoltcp::wire::Ipv4Address;
pub use socket::{TcpListener, TcpStream, UdpSocket, format_mac, ping};
pub use stack::{Status, TcpOption, start, status};

/// What a socket operation can fail with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetError {
    /// No network device (`cargo run -- --net`), or the stack is not up.
    NoNetwork,
    /// The peer refused the connection.
    Refused,
    /// The peer reset the connection.
    Reset,
    /// No answer in time.
    TimedOut,
    /// The socket is closed (by this side, or both).
    Closed,
    /// The port is in use.
    InUse,
    /// Too many sockets open: the limit was reached.
    Limit,
    /// No address yet (DHCP has not answered) or no route.
    NoRoute,
    /// A datagram too large for the socket's buffer.
    TooLarge,
    /// A call that does not wait could not be answered now.
    WouldBlock,
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetError::NoNetwork => "no network (cargo run -- --net)",
            NetError::Refused => "connection refused",
            NetError::Reset => "connection reset by peer",
            NetError::TimedOut => "timed out",
            NetError::Closed => "socket closed",
            NetError::InUse => "port in use",
            NetError::Limit => "too many sockets open",
            NetError::NoRoute => "no address or route yet",
            NetError::TooLarge => "datagram too large",
            NetError::WouldBlock => "would block",
        })
    }
}

impl core::error::Error for NetError {}

impl embedded_io_async::Error for NetError {
    fn kind(&self) -> embedded_io_async::ErrorKind {
        use embedded_io_async::ErrorKind;
        match self {
            NetError::Refused => ErrorKind::ConnectionRefused,
            NetError::Reset => ErrorKind::ConnectionReset,
            NetError::TimedOut => ErrorKind::TimedOut,
            NetError::Closed => ErrorKind::NotConnected,
            NetError::InUse => ErrorKind::AddrInUse,
            NetError::Limit => ErrorKind::OutOfMemory,
            NetError::NoNetwork | NetError::NoRoute => ErrorKind::NotConnected,
            NetError::TooLarge => ErrorKind::InvalidInput,
            NetError::WouldBlock => ErrorKind::Other,
        }
    }
}
