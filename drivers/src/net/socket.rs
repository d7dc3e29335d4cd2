//! The sockets tasks use, on any CPU: handles whose operations are calls to
//! the stack's port (`stack.rs`). Dropping a handle closes its socket (a
//! message the handle's drop sends without waiting).

use alloc::string::String;
use core::time::Duration;

use embedded_io_async::{ErrorType, Read, Write};
use smoltcp::wire::Ipv4Address;

use super::NetError;
use super::stack::{self, Answer, Request};

pub(super) async fn call(req: Request) -> Result<Answer, NetError> {
    let port = stack::port()?;
    port.call(req).await.map_err(|_| NetError::NoNetwork)?
}

/// Sends `req` without waiting for its answer (from a `Drop`): into the
/// port if it has room, else by a task that waits for some.
pub(super) fn post(req: Request) {
    if let Ok(port) = stack::port() {
        let Err(req) = port.try_send(req) else { return };
        let port = port.clone();
        drop(kernel::exec::spawn_named("net-close", async move {
            let _ = port.call(req).await;
        }));
    }
}

pub(super) fn unexpected<T>() -> Result<T, NetError> {
    Err(NetError::Closed)
}

/// A TCP port being listened on.
pub struct TcpListener {
    id: usize,
    port: u16,
}

impl TcpListener {
    /// Listens on `port` (up to 64 connections may wait to be accepted).
    pub async fn bind(port: u16) -> Result<Self, NetError> {
        Self::bind_with_backlog(port, super::stack::MAX_BACKLOG).await
    }

    /// Listens on `port`, with up to `backlog` (1..=64) connections waiting
    /// to be accepted: past them, new connections are refused.
    pub async fn bind_with_backlog(port: u16, backlog: usize) -> Result<Self, NetError> {
        match call(Request::Listen(port, backlog, false)).await? {
            Answer::Listener(id, ..) => Ok(Self { id, port }),
            _ => unexpected(),
        }
    }

    /// The next connection, and who made it.
    pub async fn accept(&self) -> Result<(TcpStream, (Ipv4Address, u16)), NetError> {
        match call(Request::Accept(self.id)).await? {
            Answer::Conn(c) => {
                let (id, peer) = (c.id, c.peer);
                drop(c.keep());
                Ok((TcpStream { id, eof: false }, peer))
            }
            _ => unexpected(),
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        post(Request::Unlisten(self.id));
    }
}

/// A TCP connection: `embedded_io_async::Read` and `Write`. A read of 0
/// bytes means the peer closed its half; a full send buffer makes a write
/// wait.
pub struct TcpStream {
    id: usize,
    eof: bool,
}

impl TcpStream {
    /// Connects to `addr:port` (waits up to 10 s for the handshake).
    pub async fn connect(addr: Ipv4Address, port: u16) -> Result<Self, NetError> {
        match call(Request::Connect(addr, port)).await? {
            Answer::Conn(c) => {
                let id = c.id;
                drop(c.keep());
                Ok(Self { id, eof: false })
            }
            _ => unexpected(),
        }
    }

    /// Sends a FIN after what was written: the peer reads the end; this
    /// side may still read.
    pub async fn shutdown(&mut self) -> Result<(), NetError> {
        call(Request::Shutdown(self.id)).await.map(drop)
    }

    /// Closes the connection and waits until the stack has taken it.
    pub async fn close(self) -> Result<(), NetError> {
        let id = self.id;
        core::mem::forget(self);
        call(Request::Close(id)).await.map(drop)
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        post(Request::Close(self.id));
    }
}

impl ErrorType for TcpStream {
    type Error = NetError;
}

impl Read for TcpStream {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, NetError> {
        if self.eof || buf.is_empty() {
            return Ok(0);
        }
        match call(Request::Recv(self.id, buf.len())).await? {
            Answer::Data(data) => {
                buf[..data.len()].copy_from_slice(&data);
                self.eof = data.is_empty();
                Ok(data.len())
            }
            _ => unexpected(),
        }
    }
}

impl Write for TcpStream {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, NetError> {
        match call(Request::Send(self.id, buf.to_vec())).await? {
            Answer::Sent(n) => Ok(n),
            _ => unexpected(),
        }
    }

    /// A write returns once its bytes are in the send buffer; smoltcp
    /// sends them as the window allows. Nothing more to wait for here.
    async fn flush(&mut self) -> Result<(), NetError> {
        Ok(())
    }
}

/// A UDP socket bound to a port.
pub struct UdpSocket {
    id: usize,
}

impl UdpSocket {
    /// Binds `port`.
    pub async fn bind(port: u16) -> Result<Self, NetError> {
        match call(Request::UdpBind(port)).await? {
            Answer::Udp(id, _, _) => Ok(Self { id }),
            _ => unexpected(),
        }
    }

    /// Sends one datagram to `addr:port`.
    pub async fn send_to(&self, data: &[u8], addr: Ipv4Address, port: u16) -> Result<usize, NetError> {
        match call(Request::UdpSend(self.id, data.to_vec(), addr, port)).await? {
            Answer::Sent(n) => Ok(n),
            _ => unexpected(),
        }
    }

    /// The next datagram (cut to `buf`'s length) and its sender.
    pub async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, (Ipv4Address, u16)), NetError> {
        match call(Request::UdpRecv(self.id, buf.len())).await? {
            Answer::Datagram(data, addr, port) => {
                buf[..data.len()].copy_from_slice(&data);
                Ok((data.len(), (addr, port)))
            }
            _ => unexpected(),
        }
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        post(Request::UdpClose(self.id));
    }
}

/// Sends an ICMP echo request to `addr`; the round trip of its reply, or
/// `TimedOut` after 2 s.
pub async fn ping(addr: Ipv4Address, seq: u16) -> Result<Duration, NetError> {
    match call(Request::Ping(addr, seq)).await? {
        Answer::Pong(rtt) => Ok(rtt),
        _ => unexpected(),
    }
}

/// `52:54:00:12:34:56`.
pub fn format_mac(m: [u8; 6]) -> String {
    alloc::format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
}
