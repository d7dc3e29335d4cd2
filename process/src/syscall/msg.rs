//! `sendmsg` and `recvmsg`: `sendto` and `recvfrom` with the bytes in
//! pieces (`struct msghdr`'s iovecs) and the address inside the header.
//! On a datagram or sequenced-packet pair the pieces are one message
//! (gathered; scattered from one read, `MSG_TRUNC` in `msg_flags` when it
//! did not fit). No control messages yet (descriptor passing,
//! credentials): a send carrying any is EOPNOTSUPP (logged), a receive
//! reports none.

use linux::errno::{self, Errno};
use linux::flags::socket::*;

use super::socket::{recv_stream, send_stream, socket_of};
use super::{Args, SysResult};
use crate::fs::socket::Socket;
use crate::process::Process;
use crate::{signal, user};

/// The largest datagram (IPv4's).
const MAX_DATAGRAM: usize = 65_507;

/// `struct msghdr` (x86-64: 56 bytes).
struct MsgHdr {
    name: u64,
    namelen: u32,
    iov: u64,
    iovlen: u64,
    control: u64,
    controllen: u64,
}

/// Where `msg_namelen`, `msg_controllen` and `msg_flags` are in the header.
const NAMELEN_AT: u64 = 8;
const CONTROLLEN_AT: u64 = 40;
const FLAGS_AT: u64 = 48;

fn read_header(p: &mut Process, at: u64) -> Result<MsgHdr, Errno> {
    let mut b = [0u8; 56];
    user::read(&mut p.memory, at, &mut b)?;
    let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    Ok(MsgHdr {
        name: u64_at(0),
        namelen: u32::from_le_bytes(b[8..12].try_into().expect("4 bytes")),
        iov: u64_at(16),
        iovlen: u64_at(24),
        control: u64_at(32),
        controllen: u64_at(40),
    })
}

/// `sendmsg(fd, msg, flags)`.
pub(super) async fn sendmsg(p: &mut Process, a: Args) -> SysResult {
    let (file, socket) = socket_of(p, a.int(0))?;
    let (m, flags) = (read_header(p, a.get(1))?, a.uint(2));
    if m.control != 0 && m.controllen != 0 {
        log::warn!("{} (pid {}): sendmsg with control messages is not implemented yet", p.name(), p.pid());
        return Err(errno::EOPNOTSUPP);
    }
    if flags & MSG_OOB != 0 {
        return Err(errno::EOPNOTSUPP);
    }
    let list = super::file::iovecs(p, m.iov, m.iovlen)?;
    let named = m.name != 0 && m.namelen != 0;
    let sent = match &socket {
        Socket::Udp(s) => {
            let total: u64 = list.iter().map(|v| v.len).sum();
            if total > MAX_DATAGRAM as u64 {
                return Err(errno::EMSGSIZE);
            }
            let data = super::file::gather(p, &list)?;
            let to = if named { Some(super::inet::read_address(p, m.name, u64::from(m.namelen))?) } else { None };
            let to = to.map(|(addr, port)| (super::inet::destination(addr), port));
            let nonblock = file.nonblock() || flags & MSG_DONTWAIT != 0;
            s.send(&data, to, nonblock).await.map(|n| n as u64)
        }
        Socket::UnixNamed(e) if e.is_datagram() => {
            if list.iter().map(|v| v.len).sum::<u64>() > crate::fs::pipe::CAPACITY as u64 {
                return Err(errno::EMSGSIZE);
            }
            let message = super::file::gather(p, &list)?;
            let (name, namelen) = if named { (m.name, u64::from(m.namelen)) } else { (0, 0) };
            super::unix::send_datagram(p, &file, e, &message, name, namelen, flags).await
        }
        Socket::Unix(s) if s.is_packets() => {
            if named {
                super::socket::unix_address(p, s.kind(), u64::from(m.namelen))?;
            }
            if list.iter().map(|v| v.len).sum::<u64>() > s.capacity() as u64 {
                return Err(errno::EMSGSIZE);
            }
            let message = super::file::gather(p, &list)?;
            s.write(&message, file.nonblock() || flags & MSG_DONTWAIT != 0).await.map(|n| n as u64)
        }
        Socket::Unix(_) if named => return Err(errno::EISCONN),
        _ => {
            let mut total = 0;
            let mut failed = None;
            for v in list {
                match send_stream(p, &file, &socket, v.base, v.len as usize, flags).await {
                    Ok(n) => {
                        total += n;
                        if n < v.len {
                            break;
                        }
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            match failed {
                Some(e) if total == 0 => Err(e),
                _ => Ok(total),
            }
        }
    };
    let signals = !matches!(&socket, Socket::Unix(s) if !s.pipe_signals());
    if sent == Err(errno::EPIPE) && flags & MSG_NOSIGNAL == 0 && signals {
        signal::send(&p.info, signal::sig::SIGPIPE);
    }
    sent
}

/// `recvmsg(fd, msg, flags)`.
pub(super) async fn recvmsg(p: &mut Process, a: Args) -> SysResult {
    let (file, socket) = socket_of(p, a.int(0))?;
    let (at, flags) = (a.get(1), a.uint(2));
    let m = read_header(p, at)?;
    if flags & MSG_OOB != 0 {
        return Err(errno::EOPNOTSUPP);
    }
    let peek = flags & MSG_PEEK != 0;
    let list = super::file::iovecs(p, m.iov, m.iovlen)?;
    let nonblock = file.nonblock() || flags & MSG_DONTWAIT != 0;
    let named = m.name != 0;
    let mut msg_flags = 0;
    let got = match &socket {
        Socket::Udp(s) => {
            let room: u64 = list.iter().map(|v| v.len).sum();
            let (data, from) = s.recv_or_peek((room as usize).min(MAX_DATAGRAM), nonblock, peek).await?;
            super::file::scatter(p, &list, &data)?;
            if named {
                super::inet::write_address(p, m.name, at + NAMELEN_AT, from)?;
            }
            data.len() as u64
        }
        Socket::UnixNamed(e) if e.is_datagram() => {
            let room: u64 = list.iter().map(|v| v.len).sum();
            let mut message = alloc::vec![0u8; (room as usize).min(crate::fs::pipe::CAPACITY)];
            let (n, whole, from) = e.recv_datagram(&mut message, nonblock, peek).await?;
            super::file::scatter(p, &list, &message[..n])?;
            if n < whole {
                msg_flags |= MSG_TRUNC;
            }
            if named {
                super::unix::write_sender(p, m.name, at + NAMELEN_AT, from.as_deref())?;
            }
            n as u64
        }
        Socket::Unix(s) if s.is_packets() => {
            let room: u64 = list.iter().map(|v| v.len).sum();
            let mut message = alloc::vec![0u8; (room as usize).min(crate::fs::pipe::CAPACITY)];
            let (n, whole) = s.recv_or_peek(&mut message, nonblock, peek).await?;
            super::file::scatter(p, &list, &message[..n])?;
            if n < whole {
                msg_flags |= MSG_TRUNC;
            }
            // A pair's peer is unnamed: no address (as Linux's).
            if named {
                user::write(&mut p.memory, at + NAMELEN_AT, &0u32.to_le_bytes())?;
            }
            n as u64
        }
        _ if peek => {
            let room: u64 = list.iter().map(|v| v.len).sum();
            let data = super::socket::peek_stream(&socket, room as usize, nonblock).await?;
            super::file::scatter(p, &list, &data)?;
            // A stream's bytes come with no address (as Linux's).
            if named {
                user::write(&mut p.memory, at + NAMELEN_AT, &0u32.to_le_bytes())?;
            }
            data.len() as u64
        }
        _ => {
            let mut total = 0;
            for v in list {
                // Past the first bytes, only what is there.
                let n = match recv_stream(p, &socket, v.base, v.len as usize, nonblock || total > 0, flags & MSG_WAITALL != 0).await {
                    Ok(n) => n,
                    Err(e) if total == 0 => return Err(e),
                    Err(_) => break,
                };
                total += n;
                if n < v.len {
                    break;
                }
            }
            // A stream's bytes come with no address (as Linux's).
            if named {
                user::write(&mut p.memory, at + NAMELEN_AT, &0u32.to_le_bytes())?;
            }
            total
        }
    };
    user::write(&mut p.memory, at + CONTROLLEN_AT, &0u64.to_le_bytes())?;
    user::write(&mut p.memory, at + FLAGS_AT, &msg_flags.to_le_bytes())?;
    Ok(got)
}
