//! The calls on AF_INET datagram sockets (`fs::udp_socket`) that differ
//! from a stream's: `sendto` and `recvfrom` move one datagram each, with
//! its address; their options. `socket.rs` sends them here.

use alloc::sync::Arc;

use linux::errno::{self, Errno};
use linux::flags::socket::*;

use super::{Args, SysResult};
use crate::fs::OpenFile;
use crate::fs::udp_socket::UdpSocket;
use crate::process::Process;
use crate::{signal, user};

/// The largest datagram (IPv4's).
const MAX_DATAGRAM: usize = 65_507;

/// `sendto(fd, buf, len, flags, addr, addrlen)`: one datagram to the
/// address (or the peer `connect` named).
pub(super) async fn sendto(p: &mut Process, file: &OpenFile, s: &Arc<UdpSocket>, a: Args) -> SysResult {
    let (buf, len, flags, addr, addrlen) = (a.get(1), a.get(2) as usize, a.uint(3), a.get(4), a.get(5));
    if flags & MSG_OOB != 0 {
        return Err(errno::EOPNOTSUPP);
    }
    let to = if addr != 0 && addrlen != 0 { Some(super::inet::read_address(p, addr, addrlen)?) } else { None };
    let to = to.map(|(at, port)| (super::inet::destination(at), port));
    if len > MAX_DATAGRAM {
        return Err(errno::EMSGSIZE);
    }
    let mut data = alloc::vec![0u8; len];
    user::read(&mut p.memory, buf, &mut data)?;
    let nonblock = file.nonblock() || flags & MSG_DONTWAIT != 0;
    let sent = s.send(&data, to, nonblock).await.map(|n| n as u64);
    if sent == Err(errno::EPIPE) && flags & MSG_NOSIGNAL == 0 {
        signal::send(&p.info, signal::sig::SIGPIPE);
    }
    sent
}

/// `recvfrom(fd, buf, len, flags, addr, addrlen)`: the next datagram, cut
/// to `len`, and who sent it.
pub(super) async fn recvfrom(p: &mut Process, file: &OpenFile, s: &Arc<UdpSocket>, a: Args) -> SysResult {
    let (buf, len, flags, addr, addrlen) = (a.get(1), a.get(2) as usize, a.uint(3), a.get(4), a.get(5));
    if flags & MSG_OOB != 0 {
        return Err(errno::EOPNOTSUPP);
    }
    let nonblock = file.nonblock() || flags & MSG_DONTWAIT != 0;
    let (data, from) = s.recv_or_peek(len.min(MAX_DATAGRAM), nonblock, flags & MSG_PEEK != 0).await?;
    user::write(&mut p.memory, buf, &data)?;
    if addr != 0 && addrlen != 0 {
        super::inet::write_address(p, addr, addrlen, from)?;
    }
    Ok(data.len() as u64)
}

/// `getsockopt` of a datagram socket, as an int.
pub(super) fn option(s: &UdpSocket, level: u32, name: u32) -> Result<i32, Errno> {
    use core::sync::atomic::Ordering::Relaxed;
    Ok(match (level, name) {
        (SOL_SOCKET, SO_TYPE) => SOCK_DGRAM as i32,
        (SOL_SOCKET, SO_DOMAIN) => AF_INET as i32,
        (SOL_SOCKET, SO_PROTOCOL) => IPPROTO_UDP as i32,
        (SOL_SOCKET, SO_ERROR | SO_ACCEPTCONN) => 0,
        (SOL_SOCKET, SO_REUSEADDR) => i32::from(s.reuse_address.load(Relaxed)),
        (SOL_SOCKET, SO_BROADCAST) => i32::from(s.broadcast.load(Relaxed)),
        // The stack's buffers per socket (fixed).
        (SOL_SOCKET, SO_SNDBUF | SO_RCVBUF) => 32 * 1024,
        _ => return Err(errno::ENOPROTOOPT),
    })
}

/// `setsockopt` of a datagram socket (`value`: the int given).
pub(super) fn set_option(s: &UdpSocket, level: u32, name: u32, value: i32) -> Result<(), Errno> {
    use core::sync::atomic::Ordering::Relaxed;
    match (level, name) {
        (SOL_SOCKET, SO_REUSEADDR) => s.reuse_address.store(value != 0, Relaxed),
        (SOL_SOCKET, SO_BROADCAST) => s.broadcast.store(value != 0, Relaxed),
        // Taken; the stack's buffers keep their size (getsockopt says it).
        (SOL_SOCKET, SO_SNDBUF | SO_RCVBUF) => {}
        _ => return Err(errno::ENOPROTOOPT),
    }
    Ok(())
}
