//! The socket calls on connected AF_UNIX pairs (`socketpair`,
//! `fs::unix_socket`: stream, datagram, sequenced-packet) and AF_INET sockets (`inet.rs` makes and joins
//! those): `shutdown`, `sendto`/`recvfrom` (`send`, `recv`),
//! `getsockopt`/`setsockopt`, `getsockname`/`getpeername`. `read`,
//! `write`, `poll` and the rest reach a socket through its open file like
//! any other. Answers and their order follow Linux's
//! (`tests/programs/unix_pair.c` prints them on both).

use alloc::sync::Arc;
use alloc::vec;

use linux::errno::{self, Errno};
use linux::flags::open::O_NONBLOCK;
use linux::flags::socket::*;

use super::{Args, SysResult};
use crate::fs::socket::Socket;
use crate::fs::unix_socket::{UnixKind, UnixSocket};
use crate::fs::{Kind, OpenFile};
use crate::process::Process;
use crate::{signal, user};

/// The most one `recv` moves per step (as `read`).
const CHUNK: usize = 64 * 1024;

/// The socket behind descriptor `fd` (ENOTSOCK for anything else), as
/// the data calls see it: a connected named AF_UNIX socket is its pair's
/// end (`Socket::connected`).
pub(super) fn socket_of(p: &Process, fd: i32) -> Result<(Arc<OpenFile>, Socket), Errno> {
    let (file, socket) = raw_socket_of(p, fd)?;
    Ok((file, socket.connected()))
}

/// The socket behind descriptor `fd` as it was made (for the calls that
/// name, bind, listen, accept or connect).
pub(super) fn raw_socket_of(p: &Process, fd: i32) -> Result<(Arc<OpenFile>, Socket), Errno> {
    let file = p.files.get(fd)?;
    let Kind::Socket(socket) = &file.node.kind else { return Err(errno::ENOTSOCK) };
    let socket = socket.clone();
    Ok((file, socket))
}

/// `socketpair(domain, type, protocol, sv)`: AF_UNIX pairs of every kind
/// (`SOCK_RAW` is a datagram pair, as on Linux).
pub(super) fn socketpair(p: &mut Process, a: Args) -> SysResult {
    let (domain, ty, protocol, sv) = (a.uint(0), a.uint(1), a.uint(2), a.get(3));
    let flags = ty & !SOCK_TYPE_MASK;
    if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(errno::EINVAL);
    }
    match domain {
        AF_UNIX => {}
        AF_INET | AF_INET6 => return Err(errno::EOPNOTSUPP),
        _ => return Err(errno::EAFNOSUPPORT),
    }
    let kind = match ty & SOCK_TYPE_MASK {
        SOCK_STREAM => UnixKind::Stream,
        SOCK_DGRAM | SOCK_RAW => UnixKind::Datagram,
        SOCK_SEQPACKET => UnixKind::SeqPacket,
        _ => return Err(errno::ESOCKTNOSUPPORT),
    };
    if protocol != 0 && protocol != AF_UNIX {
        return Err(errno::EPROTONOSUPPORT);
    }
    let (x, y) = OpenFile::socket_pair(kind, if flags & SOCK_NONBLOCK != 0 { O_NONBLOCK } else { 0 })?;
    super::file::install_pair(p, x, y, flags & SOCK_CLOEXEC != 0, sv)
}

/// `shutdown(fd, how)`.
pub(super) async fn shutdown(p: &mut Process, a: Args) -> SysResult {
    let (_, socket) = socket_of(p, a.int(0))?;
    let how = a.uint(1);
    if how > SHUT_RDWR {
        return Err(errno::EINVAL);
    }
    match socket {
        Socket::Unix(s) => s.shutdown(how != SHUT_WR, how != SHUT_RD),
        Socket::Inet(s) => s.shutdown(how != SHUT_WR, how != SHUT_RD).await?,
        Socket::Udp(s) => s.shutdown(how != SHUT_WR, how != SHUT_RD)?,
        Socket::UnixNamed(_) => return Err(errno::ENOTCONN),
        Socket::Address(_) => return Err(errno::ENOTSOCK),
    }
    Ok(0)
}

/// `sendto(fd, buf, len, flags, addr, addrlen)` (`send`): a pair is
/// connected, so an address is EISCONN (a TCP socket ignores it); EPIPE
/// sends SIGPIPE unless `MSG_NOSIGNAL`.
pub(super) async fn sendto(p: &mut Process, a: Args) -> SysResult {
    let (file, socket) = socket_of(p, a.int(0))?;
    if let Socket::Udp(s) = &socket {
        return super::udp::sendto(p, &file, s, a).await;
    }
    let (buf, len, flags, addr) = (a.get(1), (a.get(2) as usize).min(super::file::MAX_RW), a.uint(3), a.get(4));
    if let Socket::UnixNamed(e) = &socket
        && e.is_datagram()
    {
        if len > crate::fs::pipe::CAPACITY {
            return Err(errno::EMSGSIZE);
        }
        let mut message = vec![0u8; len];
        user::read(&mut p.memory, buf, &mut message)?;
        return super::unix::send_datagram(p, &file, e, &message, addr, a.get(5), flags).await;
    }
    if flags & MSG_OOB != 0 {
        return Err(errno::EOPNOTSUPP);
    }
    if let Socket::Unix(s) = &socket
        && addr != 0
        && a.get(5) != 0
    {
        unix_address(p, s.kind(), a.get(5))?;
    }
    let sent = match &socket {
        Socket::Unix(s) if s.is_packets() => send_message(p, &file, s, buf, len, flags).await,
        _ => send_stream(p, &file, &socket, buf, len, flags).await,
    };
    let signals = !matches!(&socket, Socket::Unix(s) if !s.pipe_signals());
    if sent == Err(errno::EPIPE) && flags & MSG_NOSIGNAL == 0 && signals {
        signal::send(&p.info, signal::sig::SIGPIPE);
    }
    sent
}

/// What an address given to a send on a connected pair means: a stream's
/// is EISCONN, a sequenced-packet pair ignores it, a datagram pair's must
/// be a well-formed `sockaddr_un` (EINVAL) and would name another socket,
/// which needs named AF_UNIX sockets (not here yet: refused, logged).
pub(super) fn unix_address(p: &Process, kind: UnixKind, addrlen: u64) -> Result<(), Errno> {
    match kind {
        UnixKind::Stream => Err(errno::EISCONN),
        UnixKind::SeqPacket => Ok(()),
        // The family and at least one byte of path, at most the whole struct.
        UnixKind::Datagram if !(3..=110).contains(&addrlen) => Err(errno::EINVAL),
        UnixKind::Datagram => {
            log::warn!("{} (pid {}): a datagram to a named AF_UNIX socket: not implemented, ECONNREFUSED", p.name(), p.pid());
            Err(errno::ECONNREFUSED)
        }
    }
}

/// Sends the program's `len` bytes at `buf` as one message on a datagram
/// or sequenced-packet pair.
pub(super) async fn send_message(p: &mut Process, file: &OpenFile, s: &UnixSocket, buf: u64, len: usize, flags: u32) -> SysResult {
    if len > s.capacity() {
        return Err(errno::EMSGSIZE);
    }
    let mut message = vec![0u8; len];
    user::read(&mut p.memory, buf, &mut message)?;
    s.write(&message, file.nonblock() || flags & MSG_DONTWAIT != 0).await.map(|n| n as u64)
}

/// Sends `len` bytes at the program's `buf` on a stream socket (all of
/// them unless non-blocking): how many went.
pub(super) async fn send_stream(p: &mut Process, file: &OpenFile, socket: &Socket, buf: u64, len: usize, flags: u32) -> SysResult {
    let nonblock = file.nonblock() || flags & MSG_DONTWAIT != 0;
    let mut done = 0;
    let mut chunk = vec![0u8; len.min(CHUNK)];
    loop {
        if done == len {
            return Ok(done as u64);
        }
        let n = (len - done).min(CHUNK);
        if let Err(e) = user::read(&mut p.memory, buf + done as u64, &mut chunk[..n]) {
            return if done == 0 { Err(e) } else { Ok(done as u64) };
        }
        match socket.write(&chunk[..n], nonblock).await {
            Ok(w) => done += w,
            Err(e) if done == 0 => return Err(e),
            Err(_) => return Ok(done as u64),
        }
    }
}

/// `recvfrom(fd, buf, len, flags, addr, addrlen)` (`recv`): waits for
/// some bytes (unless non-blocking), or for `len` with `MSG_WAITALL`; a
/// stream's bytes come with no address (a length of 0, as Linux's TCP and
/// socket pairs give).
pub(super) async fn recvfrom(p: &mut Process, a: Args) -> SysResult {
    let (file, socket) = socket_of(p, a.int(0))?;
    if let Socket::Udp(s) = &socket {
        return super::udp::recvfrom(p, &file, s, a).await;
    }
    let (buf, len, flags, addr, addrlen) = (a.get(1), (a.get(2) as usize).min(super::file::MAX_RW), a.uint(3), a.get(4), a.get(5));
    let peek = flags & MSG_PEEK != 0;
    if flags & MSG_OOB != 0 {
        return Err(errno::EOPNOTSUPP);
    }
    let nonblock = file.nonblock() || flags & MSG_DONTWAIT != 0;
    if let Socket::UnixNamed(e) = &socket
        && e.is_datagram()
    {
        let mut message = vec![0u8; len.min(crate::fs::pipe::CAPACITY)];
        let (n, whole, from) = e.recv_datagram(&mut message, nonblock, peek).await?;
        user::write(&mut p.memory, buf, &message[..n])?;
        if addr != 0 && addrlen != 0 {
            super::unix::write_sender(p, addr, addrlen, from.as_deref())?;
        }
        return Ok(if flags & MSG_TRUNC != 0 { whole as u64 } else { n as u64 });
    }
    let done = match &socket {
        Socket::Unix(s) if s.is_packets() => {
            // One message; MSG_TRUNC: its whole length, however much fitted.
            let mut message = vec![0u8; len.min(crate::fs::pipe::CAPACITY)];
            let (n, whole) = s.recv_or_peek(&mut message, nonblock, peek).await?;
            user::write(&mut p.memory, buf, &message[..n])?;
            if flags & MSG_TRUNC != 0 { whole as u64 } else { n as u64 }
        }
        _ if peek => {
            let data = peek_stream(&socket, len, nonblock).await?;
            user::write(&mut p.memory, buf, &data)?;
            data.len() as u64
        }
        _ => recv_stream(p, &socket, buf, len, nonblock, flags & MSG_WAITALL != 0).await?,
    };
    if addr != 0 && addrlen != 0 {
        user::write(&mut p.memory, addrlen, &0u32.to_le_bytes())?;
    }
    Ok(done)
}

/// A stream's next bytes (up to `len`), left to be read again: one look,
/// as Linux's (`MSG_WAITALL` is not waited for).
pub(super) async fn peek_stream(socket: &Socket, len: usize, nonblock: bool) -> Result<alloc::vec::Vec<u8>, Errno> {
    match socket {
        Socket::Inet(s) => s.read_or_peek(len.min(CHUNK), nonblock, true).await,
        Socket::Unix(s) => {
            let mut chunk = vec![0u8; len.min(CHUNK)];
            let (n, _) = s.recv_or_peek(&mut chunk, nonblock, true).await?;
            chunk.truncate(n);
            Ok(chunk)
        }
        _ => Err(errno::EOPNOTSUPP),
    }
}

/// Receives up to `len` bytes of a stream socket into the program's
/// `buf`: waits for some unless `nonblock`, for all of them with `all`.
pub(super) async fn recv_stream(p: &mut Process, socket: &Socket, buf: u64, len: usize, nonblock: bool, all: bool) -> SysResult {
    let all = all && !nonblock;
    let mut done = 0;
    // A pair's bytes go through a buffer here; the stack answers with its own.
    let mut chunk = if matches!(socket, Socket::Inet(_)) { alloc::vec::Vec::new() } else { vec![0u8; len.min(CHUNK)] };
    while done < len {
        let n = (len - done).min(CHUNK);
        // Past the first bytes, wait only for all of them.
        let wait_not = nonblock || (done > 0 && !all);
        let got = match socket {
            // The stack's answer goes straight on.
            Socket::Inet(s) => s.read(n, wait_not).await.and_then(|data| {
                user::write(&mut p.memory, buf + done as u64, &data)?;
                Ok(data.len())
            }),
            Socket::Unix(_) | Socket::Udp(_) | Socket::UnixNamed(_) | Socket::Address(_) => {
                socket.read(&mut chunk[..n], wait_not).await.and_then(|got| {
                    user::write(&mut p.memory, buf + done as u64, &chunk[..got])?;
                    Ok(got)
                })
            }
        };
        let got = match got {
            Ok(got) => got,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        done += got;
        if got == 0 || (got < n && !all) {
            break;
        }
    }
    Ok(done as u64)
}

/// `getsockname` and `getpeername`: both ends of a pair are unnamed (the
/// family alone).
pub(super) fn name(p: &mut Process, a: Args, peer: bool) -> SysResult {
    let (_, socket) = raw_socket_of(p, a.int(0))?;
    let (addr, addrlen) = (a.get(1), a.get(2));
    if let Socket::UnixNamed(e) = &socket {
        return super::unix::name(p, e, peer, addr, addrlen);
    }
    if !matches!(socket, Socket::Unix(_)) {
        return super::inet::name(p, &socket, peer, addr, addrlen);
    }
    let mut room = [0u8; 4];
    user::read(&mut p.memory, addrlen, &mut room)?;
    let room = i32::from_le_bytes(room);
    if room < 0 {
        return Err(errno::EINVAL);
    }
    let family = (AF_UNIX as u16).to_le_bytes();
    user::write(&mut p.memory, addr, &family[..(room as usize).min(2)])?;
    user::write(&mut p.memory, addrlen, &2u32.to_le_bytes())?;
    Ok(0)
}

/// `getsockopt(fd, level, name, value, length)`: the socket level's
/// options a pair has, as ints.
pub(super) fn getsockopt(p: &mut Process, a: Args) -> SysResult {
    let (_, socket) = raw_socket_of(p, a.int(0))?;
    let (level, name, value, lenp) = (a.uint(1), a.uint(2), a.get(3), a.get(4));
    let mut len = [0u8; 4];
    user::read(&mut p.memory, lenp, &mut len)?;
    let len = i32::from_le_bytes(len);
    if len < 0 {
        return Err(errno::EINVAL);
    }
    // An AF_UNIX socket's: (kind, bytes a direction holds, listening).
    let (kind, capacity, listening) = match socket {
        Socket::Unix(s) => (s.kind(), s.capacity(), false),
        Socket::UnixNamed(e) => (e.kind(), e.connected().map_or(crate::fs::pipe::CAPACITY, |s| s.capacity()), e.is_listening()),
        Socket::Address(_) => return Err(errno::ENOTSOCK),
        Socket::Inet(s) => {
            if (level, name) == (SOL_SOCKET, SO_LINGER) {
                let b = super::inet::linger(&s);
                let n = (len as usize).min(b.len());
                user::write(&mut p.memory, value, &b[..n])?;
                user::write(&mut p.memory, lenp, &(n as u32).to_le_bytes())?;
                return Ok(0);
            }
            let v = super::inet::option(&s, level, name)?;
            return put_option(p, value, lenp, len, v);
        }
        Socket::Udp(s) => {
            let v = super::udp::option(&s, level, name)?;
            return put_option(p, value, lenp, len, v);
        }
    };
    if level != SOL_SOCKET {
        return Err(errno::EOPNOTSUPP);
    }
    let v: i32 = match name {
        SO_TYPE => socket_type(kind) as i32,
        SO_DOMAIN => AF_UNIX as i32,
        SO_ACCEPTCONN => i32::from(listening),
        SO_PROTOCOL | SO_ERROR | SO_REUSEADDR | SO_KEEPALIVE => 0,
        SO_SNDBUF | SO_RCVBUF => capacity as i32,
        _ => return Err(errno::ENOPROTOOPT),
    };
    put_option(p, value, lenp, len, v)
}

/// `SO_TYPE` of a pair of `kind`.
fn socket_type(kind: UnixKind) -> u32 {
    match kind {
        UnixKind::Stream => SOCK_STREAM,
        UnixKind::Datagram => SOCK_DGRAM,
        UnixKind::SeqPacket => SOCK_SEQPACKET,
    }
}

/// Writes an int option's value, cut to the `len` bytes the program has
/// room for, and that length.
fn put_option(p: &mut Process, value: u64, lenp: u64, len: i32, v: i32) -> SysResult {
    let n = (len as usize).min(4);
    user::write(&mut p.memory, value, &v.to_le_bytes()[..n])?;
    user::write(&mut p.memory, lenp, &(n as u32).to_le_bytes())?;
    Ok(0)
}

/// `setsockopt(fd, level, name, value, length)`: the socket level's int
/// options are taken (a pair's buffers keep their size); others are
/// ENOPROTOOPT.
pub(super) async fn setsockopt(p: &mut Process, a: Args) -> SysResult {
    let (_, socket) = socket_of(p, a.int(0))?;
    let (level, name, value, len) = (a.uint(1), a.uint(2), a.get(3), a.get(4));
    if let Socket::Inet(s) = socket {
        let want = if (level, name) == (SOL_SOCKET, SO_LINGER) { 8 } else { 4 };
        if len < want {
            return Err(errno::EINVAL);
        }
        let mut v = [0u8; 8];
        user::read(&mut p.memory, value, &mut v[..want as usize])?;
        let (first, second) = (i32::from_le_bytes([v[0], v[1], v[2], v[3]]), i32::from_le_bytes([v[4], v[5], v[6], v[7]]));
        super::inet::set_option(&s, level, name, first, second).await?;
        return Ok(0);
    }
    if let Socket::Udp(s) = socket {
        if len < 4 {
            return Err(errno::EINVAL);
        }
        let mut v = [0u8; 4];
        user::read(&mut p.memory, value, &mut v)?;
        super::udp::set_option(&s, level, name, i32::from_le_bytes(v))?;
        return Ok(0);
    }
    if level != SOL_SOCKET {
        return Err(errno::EOPNOTSUPP);
    }
    if !matches!(name, SO_REUSEADDR | SO_KEEPALIVE | SO_SNDBUF | SO_RCVBUF) {
        return Err(errno::ENOPROTOOPT);
    }
    if len < 4 {
        return Err(errno::EINVAL);
    }
    let mut v = [0u8; 4];
    user::read(&mut p.memory, value, &mut v)?;
    Ok(0)
}
