//! The calls that make and join AF_INET sockets (`fs::inet_socket`,
//! `fs::udp_socket`): `socket`, `bind`, `listen`, `accept`/`accept4`,
//! `connect`, and their addresses (`struct sockaddr_in`) and options.
//! Answers and their order follow Linux's.

use alloc::sync::Arc;

use drivers::net::Ipv4Address;
use linux::errno::{self, Errno};
use linux::flags::open::O_NONBLOCK;
use linux::flags::socket::*;

use super::{Args, SysResult};
use crate::fs::inet_socket::{InetSocket, KEEP_ALIVE};
use crate::fs::socket::Socket;
use crate::fs::udp_socket::UdpSocket;
use crate::fs::{Kind, OpenFile};
use crate::process::Process;
use crate::user;

/// The AF_INET socket behind `fd`: ENOTSOCK for another file; `other`
/// for a socket of another family.
fn inet_of(p: &Process, fd: i32, other: Errno) -> Result<(Arc<OpenFile>, Arc<InetSocket>), Errno> {
    let file = p.files.get(fd)?;
    let Kind::Socket(socket) = &file.node.kind else { return Err(errno::ENOTSOCK) };
    let Socket::Inet(s) = socket else { return Err(other) };
    let s = Arc::clone(s);
    Ok((file, s))
}

/// `socket(domain, type, protocol)`.
pub(super) fn socket(p: &mut Process, a: Args) -> SysResult {
    let (domain, ty, protocol) = (a.uint(0), a.uint(1), a.uint(2));
    let flags = ty & !SOCK_TYPE_MASK;
    if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(errno::EINVAL);
    }
    match domain {
        AF_INET => {}
        // The stack speaks IPv4 only: programs fall back to AF_INET.
        AF_INET6 => return Err(errno::EAFNOSUPPORT),
        AF_UNIX => return super::unix::socket(p, ty & SOCK_TYPE_MASK, protocol, flags),
        _ => return Err(errno::EAFNOSUPPORT),
    }
    let socket = match (ty & SOCK_TYPE_MASK, protocol) {
        (SOCK_STREAM, 0 | IPPROTO_TCP) => Socket::Inet(Arc::new(InetSocket::new())),
        (SOCK_DGRAM, 0 | IPPROTO_UDP) => Socket::Udp(Arc::new(UdpSocket::new())),
        (SOCK_STREAM | SOCK_DGRAM, _) => return Err(errno::EPROTONOSUPPORT),
        _ => return Err(errno::ESOCKTNOSUPPORT),
    };
    let nonblock = if flags & SOCK_NONBLOCK != 0 { O_NONBLOCK } else { 0 };
    let file = OpenFile::socket(socket, nonblock);
    Ok(p.files.insert(file, flags & SOCK_CLOEXEC != 0)? as u64)
}

/// Reads a `struct sockaddr_in` of `len` bytes at `at`: (address, port).
pub(super) fn read_address(p: &mut Process, at: u64, len: u64) -> Result<(Ipv4Address, u16), Errno> {
    if len < 2 {
        return Err(errno::EINVAL);
    }
    let mut b = [0u8; SOCKADDR_IN_SIZE as usize];
    let n = (len as usize).min(b.len());
    user::read(&mut p.memory, at, &mut b[..n])?;
    if u32::from(u16::from_le_bytes([b[0], b[1]])) != AF_INET {
        return Err(errno::EAFNOSUPPORT);
    }
    if len < u64::from(SOCKADDR_IN_SIZE) {
        return Err(errno::EINVAL);
    }
    Ok((Ipv4Address::new(b[4], b[5], b[6], b[7]), u16::from_be_bytes([b[2], b[3]])))
}

/// Writes `(addr, port)` as a `struct sockaddr_in` at `at`, cut to the
/// room `*len_at` says, and the full length to `*len_at`.
pub(super) fn write_address(p: &mut Process, at: u64, len_at: u64, (addr, port): (Ipv4Address, u16)) -> Result<(), Errno> {
    let mut room = [0u8; 4];
    user::read(&mut p.memory, len_at, &mut room)?;
    let room = i32::from_le_bytes(room);
    if room < 0 {
        return Err(errno::EINVAL);
    }
    let mut b = [0u8; SOCKADDR_IN_SIZE as usize];
    b[..2].copy_from_slice(&(AF_INET as u16).to_le_bytes());
    b[2..4].copy_from_slice(&port.to_be_bytes());
    b[4..8].copy_from_slice(&addr.octets());
    user::write(&mut p.memory, at, &b[..(room as usize).min(b.len())])?;
    user::write(&mut p.memory, len_at, &SOCKADDR_IN_SIZE.to_le_bytes())
}

/// The machine's address, once it has one.
fn own_address() -> Option<Ipv4Address> {
    drivers::net::status().and_then(|s| s.address).map(|(a, _, _)| a)
}

/// `bind(fd, addr, len)`: any address or the machine's own; a port (0:
/// a free one).
pub(super) async fn bind(p: &mut Process, a: Args) -> SysResult {
    let (_, socket) = super::socket::raw_socket_of(p, a.int(0))?;
    match &socket {
        Socket::UnixNamed(e) => return super::unix::bind(p, e, a.get(1), a.get(2)).await,
        Socket::Unix(_) | Socket::Address(_) => return Err(errno::EINVAL),
        Socket::Inet(_) | Socket::Udp(_) => {}
    }
    let (addr, port) = read_address(p, a.get(1), a.get(2))?;
    let own = own_address();
    if !addr.is_unspecified() && !addr.is_loopback() && Some(addr) != own {
        return Err(errno::EADDRNOTAVAIL);
    }
    match socket {
        Socket::Inet(s) => s.bind(port).await?,
        Socket::Udp(s) => s.bind(port).await?,
        Socket::Unix(_) | Socket::UnixNamed(_) | Socket::Address(_) => unreachable!("answered above"),
    }
    Ok(0)
}

/// Where a connect or send to `addr` goes: 0.0.0.0 is this machine
/// (127.0.0.1), as on Linux; this machine's own addresses and 127.0.0.0/8
/// reach its own sockets through the stack's loopback.
pub(super) fn destination(addr: Ipv4Address) -> Ipv4Address {
    if addr.is_unspecified() { Ipv4Address::new(127, 0, 0, 1) } else { addr }
}

/// `listen(fd, backlog)`.
pub(super) async fn listen(p: &mut Process, a: Args) -> SysResult {
    if let (_, Socket::UnixNamed(e)) = super::socket::raw_socket_of(p, a.int(0))? {
        e.listen(a.int(1))?;
        return Ok(0);
    }
    let (_, s) = inet_of(p, a.int(0), errno::EOPNOTSUPP)?;
    let backlog = a.int(1).max(1) as usize;
    s.listen(backlog).await?;
    Ok(0)
}

/// `accept4(fd, addr, len, flags)` (`accept`: no flags).
pub(super) async fn accept4(p: &mut Process, a: Args, flags: u32) -> SysResult {
    if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(errno::EINVAL);
    }
    if let (file, Socket::UnixNamed(e)) = super::socket::raw_socket_of(p, a.int(0))? {
        return super::unix::accept(p, &file, &e, a, flags).await;
    }
    let (file, s) = inet_of(p, a.int(0), errno::EOPNOTSUPP)?;
    let conn = s.accept(file.nonblock()).await?;
    let peer = conn.peer();
    let accepted = InetSocket::accepted(conn);
    accepted.inherit(&s).await;
    let nonblock = if flags & SOCK_NONBLOCK != 0 { O_NONBLOCK } else { 0 };
    let fd = p.files.insert(OpenFile::socket(Socket::Inet(Arc::new(accepted)), nonblock), flags & SOCK_CLOEXEC != 0)?;
    if a.get(1) != 0
        && let Err(e) = write_address(p, a.get(1), a.get(2), peer)
    {
        let _ = p.files.close(fd);
        return Err(e);
    }
    Ok(fd as u64)
}

/// `connect(fd, addr, len)`: waits for the handshake unless the socket is
/// non-blocking (EINPROGRESS; then `poll` for writable and `SO_ERROR`).
pub(super) async fn connect(p: &mut Process, a: Args) -> SysResult {
    let (file, socket) = super::socket::raw_socket_of(p, a.int(0))?;
    if let Socket::UnixNamed(e) = &socket {
        return super::unix::connect(p, &file, e, a.get(1), a.get(2)).await;
    }
    if let Socket::Udp(s) = &socket {
        // A datagram socket's peer: AF_UNSPEC forgets it.
        let mut family = [0u8; 2];
        if a.get(2) >= 2 {
            user::read(&mut p.memory, a.get(1), &mut family)?;
            if u32::from(u16::from_le_bytes(family)) == AF_UNSPEC {
                s.connect(None).await?;
                return Ok(0);
            }
        }
        let (to, port) = read_address(p, a.get(1), a.get(2))?;
        s.connect(Some((destination(to), port))).await?;
        return Ok(0);
    }
    let Socket::Inet(s) = socket else { return Err(errno::EINVAL) };
    let (addr, port) = read_address(p, a.get(1), a.get(2))?;
    if s.is_listening() {
        return Err(errno::EISCONN);
    }
    s.connect(destination(addr), port, file.nonblock()).await?;
    Ok(0)
}

/// `getsockname`/`getpeername` of an AF_INET socket.
pub(super) fn name(p: &mut Process, socket: &Socket, peer: bool, addr: u64, len_at: u64) -> SysResult {
    let end = match (socket, peer) {
        (Socket::Inet(s), true) => s.connection().map(|c| c.peer()).ok_or(errno::ENOTCONN)?,
        (Socket::Inet(s), false) => s.local(),
        (Socket::Udp(s), true) => s.peer().ok_or(errno::ENOTCONN)?,
        (Socket::Udp(s), false) => s.local(),
        (Socket::Unix(_) | Socket::UnixNamed(_) | Socket::Address(_), _) => return Err(errno::EINVAL),
    };
    write_address(p, addr, len_at, end)?;
    Ok(0)
}

/// `getsockopt` of an AF_INET stream socket: the value as an int
/// (`SO_LINGER`: [`linger`]).
pub(super) fn option(s: &InetSocket, level: u32, name: u32) -> Result<i32, Errno> {
    use core::sync::atomic::Ordering::Relaxed;
    let o = &s.options;
    Ok(match (level, name) {
        (SOL_SOCKET, SO_TYPE) => SOCK_STREAM as i32,
        (SOL_SOCKET, SO_DOMAIN) => AF_INET as i32,
        (SOL_SOCKET, SO_PROTOCOL) => IPPROTO_TCP as i32,
        (SOL_SOCKET, SO_ERROR) => s.take_error(),
        (SOL_SOCKET, SO_ACCEPTCONN) => i32::from(s.is_listening()),
        (SOL_SOCKET, SO_REUSEADDR) => i32::from(o.reuse_address.load(Relaxed)),
        (SOL_SOCKET, SO_KEEPALIVE) => i32::from(o.keep_alive.load(Relaxed)),
        // The stack's buffers per direction (fixed).
        (SOL_SOCKET, SO_SNDBUF | SO_RCVBUF) => 16 * 1024,
        (IPPROTO_TCP, TCP_NODELAY) => i32::from(o.no_delay.load(Relaxed)),
        (IPPROTO_TCP, TCP_MAXSEG) => 536,
        _ => return Err(errno::ENOPROTOOPT),
    })
}

/// `SO_LINGER`'s `struct linger { int on; int seconds; }`.
pub(super) fn linger(s: &InetSocket) -> [u8; 8] {
    let l = s.options.linger.load(core::sync::atomic::Ordering::Relaxed);
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&i32::from(l >> 31 != 0).to_le_bytes());
    b[4..].copy_from_slice(&((l & 0x7fff_ffff) as i32).to_le_bytes());
    b
}

/// `setsockopt` of an AF_INET stream socket, the value read already
/// (`value`: its first int; `linger`: both of `SO_LINGER`'s).
pub(super) async fn set_option(s: &InetSocket, level: u32, name: u32, value: i32, second: i32) -> Result<(), Errno> {
    use core::sync::atomic::Ordering::Relaxed;
    use drivers::net::TcpOption;
    let o = &s.options;
    match (level, name) {
        (SOL_SOCKET, SO_REUSEADDR) => o.reuse_address.store(value != 0, Relaxed),
        (SOL_SOCKET, SO_KEEPALIVE) => {
            o.keep_alive.store(value != 0, Relaxed);
            if let Some(c) = s.connection() {
                c.set(TcpOption::KeepAlive((value != 0).then_some(KEEP_ALIVE))).await;
            }
        }
        // Taken; the stack's buffers keep their size (getsockopt says it).
        (SOL_SOCKET, SO_SNDBUF | SO_RCVBUF) => {}
        (SOL_SOCKET, SO_LINGER) => o.linger.store(u32::from(value != 0) << 31 | (second.max(0) as u32 & 0x7fff_ffff), Relaxed),
        (IPPROTO_TCP, TCP_NODELAY) => {
            o.no_delay.store(value != 0, Relaxed);
            if let Some(c) = s.connection() {
                c.set(TcpOption::NoDelay(value != 0)).await;
            }
        }
        _ => return Err(errno::ENOPROTOOPT),
    }
    Ok(())
}
