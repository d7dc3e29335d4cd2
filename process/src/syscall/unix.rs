//! The calls on named AF_UNIX sockets (`fs::unix_named`) that differ from
//! a pair's: `socket`, `bind`, `listen`, `accept`, `connect` and the names,
//! and a datagram socket's `sendto`/`recvfrom`, each reading or writing a
//! `struct sockaddr_un` (the family, then a path of at most 107 bytes and
//! its NUL). `inet.rs`, `socket.rs` and `msg.rs` send them here; once a
//! stream or sequenced-packet socket is connected, the data calls go to
//! the pair's end.
//!
//! A name whose first byte is NUL is in the abstract namespace, as on
//! Linux: no node in the file system, its bytes exactly as long as the
//! address says (kept here as a string starting with `\0`), gone when its
//! socket is. The table of abstract names holds the sockets weakly, behind
//! a serializing token (bind and connect only: the control path). A bind
//! with the family alone picks a free abstract name (autobind).

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use core::sync::atomic::AtomicU32;
use core::sync::atomic::Ordering::Relaxed;

use io::token::Guarded;

use linux::errno::{self, Errno};
use linux::flags::open::O_NONBLOCK;
use linux::flags::socket::*;

use super::{Args, SysResult};
use crate::fs::socket::Socket;
use crate::fs::unix_named::UnixEndpoint;
use crate::fs::unix_socket::UnixKind;
use crate::fs::{self, Kind, OpenFile, ops};
use crate::process::Process;
use crate::user;

/// `struct sockaddr_un`'s size: the family and 108 bytes of path.
const SOCKADDR_UN_SIZE: u64 = 110;

/// `socket(AF_UNIX, type, protocol)` with `flags` (SOCK_NONBLOCK,
/// SOCK_CLOEXEC).
pub(super) fn socket(p: &mut Process, ty: u32, protocol: u32, flags: u32) -> SysResult {
    let kind = match ty {
        SOCK_STREAM => UnixKind::Stream,
        SOCK_SEQPACKET => UnixKind::SeqPacket,
        SOCK_DGRAM | SOCK_RAW => UnixKind::Datagram,
        _ => return Err(errno::ESOCKTNOSUPPORT),
    };
    if protocol != 0 && protocol != AF_UNIX {
        return Err(errno::EPROTONOSUPPORT);
    }
    let nonblock = if flags & SOCK_NONBLOCK != 0 { O_NONBLOCK } else { 0 };
    let file = OpenFile::socket(Socket::UnixNamed(Arc::new(UnixEndpoint::new(kind)?)), nonblock);
    Ok(p.files.insert(file, flags & SOCK_CLOEXEC != 0)? as u64)
}

/// The abstract namespace: names (with their leading NUL) to sockets.
fn abstract_names() -> &'static Guarded<BTreeMap<String, Weak<UnixEndpoint>>> {
    static NAMES: spin::Once<Guarded<BTreeMap<String, Weak<UnixEndpoint>>>> = spin::Once::new();
    NAMES.call_once(|| Guarded::new("abstract AF_UNIX names", BTreeMap::new()))
}

/// Reads a `struct sockaddr_un` of `len` bytes at `at`: its path (up to a
/// NUL or the end), or an abstract name (a leading NUL, then exactly the
/// rest). EINVAL for a length that holds no path or more than the struct,
/// for another family, or for an abstract name that is not UTF-8.
fn read_path(p: &mut Process, at: u64, len: u64) -> Result<String, Errno> {
    if !(3..=SOCKADDR_UN_SIZE).contains(&len) {
        return Err(errno::EINVAL);
    }
    let mut b = [0u8; SOCKADDR_UN_SIZE as usize];
    user::read(&mut p.memory, at, &mut b[..len as usize])?;
    if u32::from(u16::from_le_bytes([b[0], b[1]])) != AF_UNIX {
        return Err(errno::EINVAL);
    }
    let path = &b[2..len as usize];
    if path[0] == 0 {
        return String::from_utf8(path.to_vec()).map_err(|_| errno::EINVAL);
    }
    let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
    String::from_utf8(path[..end].to_vec()).map_err(|_| errno::EINVAL)
}

/// Writes `path` (or, `None`, an unnamed socket's bare family) as a
/// `struct sockaddr_un` at `at`, cut to the room `*len_at` says, and its
/// full length to `*len_at` (the family, the path and its NUL).
pub(super) fn write_path(p: &mut Process, at: u64, len_at: u64, path: Option<&str>) -> Result<(), Errno> {
    let mut room = [0u8; 4];
    user::read(&mut p.memory, len_at, &mut room)?;
    let room = i32::from_le_bytes(room);
    if room < 0 {
        return Err(errno::EINVAL);
    }
    let mut b = alloc::vec::Vec::with_capacity(SOCKADDR_UN_SIZE as usize);
    b.extend_from_slice(&(AF_UNIX as u16).to_le_bytes());
    if let Some(path) = path {
        b.extend_from_slice(path.as_bytes());
        // An abstract name is as long as it is, with no NUL after.
        if !path.starts_with('\0') {
            b.push(0);
        }
    }
    user::write(&mut p.memory, at, &b[..(room as usize).min(b.len())])?;
    user::write(&mut p.memory, len_at, &(b.len() as u32).to_le_bytes())
}

/// A received datagram's sender as `recvfrom` and `recvmsg` give it: its
/// path, or for an unnamed sender no address at all (a length of 0).
pub(super) fn write_sender(p: &mut Process, at: u64, len_at: u64, from: Option<&str>) -> Result<(), Errno> {
    match from {
        Some(path) => write_path(p, at, len_at, Some(path)),
        None => user::write(&mut p.memory, len_at, &0u32.to_le_bytes()),
    }
}

/// `bind(fd, addr, len)`: the socket's node is made at the path; an
/// abstract name is taken in the table; the family alone picks a free
/// abstract name (Linux's autobind: a NUL and five hex digits; nothing to
/// do for a socket already named).
pub(super) async fn bind(p: &mut Process, e: &Arc<UnixEndpoint>, addr: u64, len: u64) -> SysResult {
    if len == 2 {
        let mut family = [0u8; 2];
        user::read(&mut p.memory, addr, &mut family)?;
        if u32::from(u16::from_le_bytes(family)) != AF_UNIX {
            return Err(errno::EINVAL);
        }
        if e.name().is_some() {
            return Ok(0);
        }
        static NEXT: AtomicU32 = AtomicU32::new(0);
        for _ in 0..AUTOBIND_NAMES {
            let name = format!("\0{:05x}", NEXT.fetch_add(1, Relaxed) % AUTOBIND_NAMES);
            match bind_abstract(e, name).await {
                Err(errno::EADDRINUSE) => continue,
                r => return r.map(|()| 0),
            }
        }
        return Err(errno::ENOSPC);
    }
    let path = read_path(p, addr, len)?;
    if path.starts_with('\0') {
        bind_abstract(e, path).await?;
        return Ok(0);
    }
    if e.name().is_some() {
        // Linux makes the node first: a taken path says so before the
        // socket's own name does.
        let taken = fs::lookup(&p.cwd, &path, false).await.is_ok();
        return Err(if taken { errno::EADDRINUSE } else { errno::EINVAL });
    }
    let (dir, name) = fs::lookup_parent(&p.cwd, &path).await?;
    let name = name.ok_or(errno::EADDRINUSE)?;
    let weak = Arc::downgrade(e);
    e.bind(path, || async move { ops::make(&dir, &name, ops::New::Socket(weak), 0o777).await.map(|_| ()) }).await?;
    Ok(0)
}

/// Names an autobind may pick (five hex digits).
const AUTOBIND_NAMES: u32 = 0x10_0000;

/// Binds `e` to the abstract `name` (with its leading NUL): EADDRINUSE if
/// a live socket has it.
async fn bind_abstract(e: &Arc<UnixEndpoint>, name: String) -> Result<(), Errno> {
    let weak = Arc::downgrade(e);
    let key = name.clone();
    e.bind(name, || async move {
        abstract_names()
            .exclusive(|names| {
                if names.get(&key).is_some_and(|s| s.strong_count() > 0) {
                    return Err(errno::EADDRINUSE);
                }
                // Names whose sockets are gone go as new ones come.
                names.retain(|_, s| s.strong_count() > 0);
                names.insert(key, weak);
                Ok(())
            })
            .await
    })
    .await
}

/// `connect(fd, addr, len)`: to the socket bound at the path (ENOENT if
/// nothing is there, ECONNREFUSED if it is not a socket that listens).
pub(super) async fn connect(p: &mut Process, file: &OpenFile, e: &Arc<UnixEndpoint>, addr: u64, len: u64) -> SysResult {
    if e.is_datagram() && len >= 2 {
        let mut family = [0u8; 2];
        user::read(&mut p.memory, addr, &mut family)?;
        if u32::from(u16::from_le_bytes(family)) == AF_UNSPEC {
            e.forget_destination();
            return Ok(0);
        }
    }
    let path = read_path(p, addr, len)?;
    let target = bound_at(p, &path).await?;
    if e.is_datagram() {
        e.set_destination(target, path)?;
    } else {
        e.connect(target, path, file.nonblock()).await?;
    }
    Ok(0)
}

/// The socket bound at `path`, if one still is (ENOENT if nothing is
/// there; `None` for a node that is not a socket, or whose socket closed).
async fn bound_at(p: &Process, path: &str) -> Result<Option<Arc<UnixEndpoint>>, Errno> {
    if path.starts_with('\0') {
        return Ok(abstract_names().shared(|names| names.get(path).and_then(Weak::upgrade)).await);
    }
    let node = fs::lookup(&p.cwd, path, true).await?;
    Ok(match &node.kind {
        Kind::Socket(Socket::Address(target)) => target.upgrade(),
        _ => None,
    })
}

/// `sendto`/`sendmsg` of `message` on a datagram socket, to the path at
/// `addr` (`len` bytes) or, with none, to its default destination.
pub(super) async fn send_datagram(
    p: &mut Process,
    file: &OpenFile,
    e: &UnixEndpoint,
    message: &[u8],
    addr: u64,
    len: u64,
    flags: u32,
) -> SysResult {
    let target = if addr != 0 && len != 0 {
        let path = read_path(p, addr, len)?;
        Some(bound_at(p, &path).await?)
    } else {
        None
    };
    let nonblock = file.nonblock() || flags & MSG_DONTWAIT != 0;
    e.send_datagram(message, target, nonblock).await.map(|n| n as u64)
}

/// `accept4(fd, addr, len, flags)` on a listening endpoint.
pub(super) async fn accept(p: &mut Process, file: &OpenFile, e: &Arc<UnixEndpoint>, a: Args, flags: u32) -> SysResult {
    let accepted = Arc::new(e.accept(file.nonblock()).await?);
    let peer = accepted.peer().flatten().map(String::from);
    let nonblock = if flags & SOCK_NONBLOCK != 0 { O_NONBLOCK } else { 0 };
    let fd = p.files.insert(OpenFile::socket(Socket::UnixNamed(accepted), nonblock), flags & SOCK_CLOEXEC != 0)?;
    if a.get(1) != 0
        && let Err(err) = write_path(p, a.get(1), a.get(2), peer.as_deref())
    {
        let _ = p.files.close(fd);
        return Err(err);
    }
    Ok(fd as u64)
}

/// `getsockname` (`peer`: `getpeername`, ENOTCONN unless connected).
pub(super) fn name(p: &mut Process, e: &UnixEndpoint, peer: bool, addr: u64, len_at: u64) -> SysResult {
    if peer && e.is_datagram() {
        let path = e.destination().ok_or(errno::ENOTCONN)?;
        write_path(p, addr, len_at, Some(&path))?;
        return Ok(0);
    }
    let path = if peer { e.peer().ok_or(errno::ENOTCONN)? } else { e.name() };
    write_path(p, addr, len_at, path)?;
    Ok(0)
}
