//! Files by descriptor: reads and writes, seeks, duplicates, flags,
//! terminals, pipes, `sendfile` (calls that name a path: `path.rs`).

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use linux::errno::{self, Errno};
use linux::flags::open::{O_APPEND, O_CLOEXEC};
use linux::flags::seek;
use linux::structs::Iovec;

use super::{Args, SysResult};
use crate::fs::{Kind, OpenFile};
use crate::process::Process;
use crate::user;

/// Largest single read or write (Linux's `MAX_RW_COUNT`, rounded).
pub(super) const MAX_RW: usize = 0x7fff_f000;
/// Bytes moved per step of a large read or write.
const CHUNK: usize = 64 * 1024;
/// Chunks a long transfer moves before it lets the CPU's other tasks run
/// (kernel code is not preempted: one `read` of a gigabyte must not keep
/// a shell waiting).
const YIELD_EVERY: usize = 16;

/// Between two chunks of a transfer: every [`YIELD_EVERY`] chunks, a
/// yield if another task of this CPU is runnable.
async fn between_chunks(chunks: &mut usize) {
    *chunks += 1;
    if (*chunks).is_multiple_of(YIELD_EVERY) && kernel::exec::this().has_work() {
        kernel::exec::yield_now().await;
    }
}

/// Pieces a vectored call may have (`IOV_MAX`).
const IOV_MAX: usize = 1024;

/// `read` or `write` of a file that never waits (a file in memory,
/// `/dev/null`, `/dev/zero`), or of a pipe that need not wait now,
/// answered without a future (`quick`); `None` for one that may wait (a
/// pipe that is empty or full, the terminal), which `slow` answers.
pub(super) fn rw_now(p: &mut Process, a: Args, write: bool) -> Option<SysResult> {
    let file = match p.files.get(a.int(0)) {
        Ok(f) => f,
        Err(e) => return Some(Err(e)),
    };
    // A pipe with data to read or room to write is answered here too; one
    // that would wait answers BUSY below, and the slow way waits.
    let pipe = matches!(file.node.kind, Kind::Pipe(_));
    if !file.never_waits() && !pipe {
        return None;
    }
    let (buf, len) = (a.get(1), (a.get(2) as usize).min(MAX_RW));
    // A file's or pipe's token is tried once per chunk: a busy one on a
    // later chunk could only end the call short. Large ones go the slow
    // way, which waits for it; so do pipe writes over PIPE_BUF, which may
    // be written in parts.
    if (len > CHUNK && (pipe || matches!(file.node.kind, Kind::File(_)))) || (pipe && write && len > crate::fs::pipe::PIPE_BUF) {
        return None;
    }
    // A long one (a gigabyte from /dev/zero) goes the slow way too, which
    // lets the CPU's other tasks run between its chunks.
    if len > YIELD_EVERY * CHUNK {
        return None;
    }
    if write && file.discards_writes() {
        return Some(Ok(len as u64));
    }
    let mut tiny = [0u8; TINY];
    let mut big = Vec::new();
    let mut done = 0;
    while done < len {
        let n = (len - done).min(CHUNK);
        let chunk = if n <= TINY {
            &mut tiny[..n]
        } else {
            big.resize(n, 0);
            &mut big[..n]
        };
        let at = buf + done as u64;
        let moved = if write {
            user::read(&mut p.memory, at, chunk).and_then(|()| file.write_now(chunk))
        } else {
            file.read_now(chunk).and_then(|got| user::write(&mut p.memory, at, &chunk[..got]).map(|()| got))
        };
        match moved {
            Ok(got) => done += got,
            // Nothing moved yet: the slow way waits for the token.
            Err(e) if e == crate::fs::BUSY => return None,
            Err(e) if done == 0 => return Some(Err(e)),
            Err(_) => break,
        }
        // A short read ends the call (end of file).
        if moved.is_ok_and(|got| got < n) {
            break;
        }
    }
    Some(Ok(done as u64))
}

pub(super) async fn read(p: &mut Process, a: Args) -> SysResult {
    let file = p.files.get(a.int(0))?;
    read_into(p, &file, a.get(1), a.get(2) as usize).await
}

/// Reads and writes up to this many bytes go through a buffer on the
/// stack (no allocation for the common small call).
const SMALL: usize = 256;
/// The tiniest calls' buffer (a pipe's byte, a prompt): fewer bytes to
/// zero first.
const TINY: usize = 32;

async fn read_into(p: &mut Process, file: &OpenFile, buf: u64, len: usize) -> SysResult {
    let len = len.min(MAX_RW);
    if file.is_message_socket() && len > SMALL {
        // One message, however long the buffer (never more than a chunk).
        let mut message = vec![0u8; len.min(CHUNK)];
        let n = file.read(&mut message).await?;
        user::write(&mut p.memory, buf, &message[..n])?;
        return Ok(n as u64);
    }
    // A small read of a file on a volume that this CPU's page copies hold:
    // straight from the copy into the program's memory.
    if let Some(r) = file.read_cached(len, |bytes| user::write(&mut p.memory, buf, bytes)) {
        return r.map(|n| n as u64);
    }
    if len <= TINY {
        let mut tiny = [0u8; TINY];
        let n = file.read(&mut tiny[..len]).await?;
        user::write(&mut p.memory, buf, &tiny[..n])?;
        return Ok(n as u64);
    }
    if len <= SMALL {
        let mut small = [0u8; SMALL];
        let n = file.read(&mut small[..len]).await?;
        user::write(&mut p.memory, buf, &small[..n])?;
        return Ok(n as u64);
    }
    let mut done = 0;
    let mut chunks = 0;
    while done < len {
        if done > 0 {
            between_chunks(&mut chunks).await;
        }
        let want = (len - done).min(CHUNK);
        // A file on a volume, a TCP socket: the service's (the stack's)
        // answer goes straight on.
        let n = match file.read_chunk(want).await {
            Some(Ok(bytes)) => {
                user::write(&mut p.memory, buf + done as u64, &bytes)?;
                Ok(bytes.len())
            }
            Some(Err(e)) => Err(e),
            None => {
                let mut chunk = vec![0u8; want];
                let n = file.read(&mut chunk).await;
                if let Ok(n) = n {
                    user::write(&mut p.memory, buf + done as u64, &chunk[..n])?;
                }
                n
            }
        };
        let n = match n {
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        done += n;
        // Short reads end the call (a line from the console, end of file).
        if n < want {
            break;
        }
    }
    Ok(done as u64)
}

pub(super) async fn write(p: &mut Process, a: Args) -> SysResult {
    let file = p.files.get(a.int(0))?;
    write_from(p, &file, a.get(1), a.get(2) as usize).await
}

async fn write_from(p: &mut Process, file: &OpenFile, buf: u64, len: usize) -> SysResult {
    let len = len.min(MAX_RW);
    if file.discards_writes() {
        return Ok(len as u64);
    }
    // Small writes go through the stack; the tiniest (a pipe's byte, a
    // prompt) zero only a few words of it first.
    if len <= TINY {
        let mut tiny = [0u8; TINY];
        user::read(&mut p.memory, buf, &mut tiny[..len])?;
        return file.write(&tiny[..len]).await.map(|n| n as u64);
    }
    if len <= SMALL {
        let mut small = [0u8; SMALL];
        user::read(&mut p.memory, buf, &mut small[..len])?;
        return file.write(&small[..len]).await.map(|n| n as u64);
    }
    if file.is_message_socket() {
        // One message, whole (a socket's capacity is at most a chunk).
        if len > CHUNK {
            return Err(errno::EMSGSIZE);
        }
        let mut message = vec![0u8; len];
        user::read(&mut p.memory, buf, &mut message)?;
        return file.write(&message).await.map(|n| n as u64);
    }
    let mut done = 0;
    let mut chunks = 0;
    while done < len {
        if done > 0 {
            between_chunks(&mut chunks).await;
        }
        let mut chunk = vec![0u8; (len - done).min(CHUNK)];
        if let Err(e) = user::read(&mut p.memory, buf + done as u64, &mut chunk) {
            return if done == 0 { Err(e) } else { Ok(done as u64) };
        }
        match file.write(&chunk).await {
            Ok(n) => done += n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done as u64)
}

/// `readv`/`writev` of a socket that carries messages: all the pieces are
/// one message (gathered, or scattered from one read).
async fn vectored_message(p: &mut Process, file: &OpenFile, list: &[Iovec], write: bool) -> SysResult {
    let total = list.iter().map(|v| v.len).sum::<u64>();
    if write {
        if total > CHUNK as u64 {
            return Err(errno::EMSGSIZE);
        }
        let message = gather(p, list)?;
        return file.write(&message).await.map(|n| n as u64);
    }
    let mut message = vec![0u8; (total as usize).min(CHUNK)];
    let n = file.read(&mut message).await?;
    scatter(p, list, &message[..n])?;
    Ok(n as u64)
}

/// The bytes of the program's `list` of pieces, in one buffer.
pub(super) fn gather(p: &mut Process, list: &[Iovec]) -> Result<Vec<u8>, Errno> {
    let mut data = Vec::with_capacity(list.iter().map(|v| v.len as usize).sum());
    for v in list {
        let at = data.len();
        data.resize(at + v.len as usize, 0);
        user::read(&mut p.memory, v.base, &mut data[at..])?;
    }
    Ok(data)
}

/// Writes `data` across the program's `list` of pieces, in order.
pub(super) fn scatter(p: &mut Process, list: &[Iovec], data: &[u8]) -> Result<(), Errno> {
    let mut done = 0;
    for v in list {
        let n = (v.len as usize).min(data.len() - done);
        user::write(&mut p.memory, v.base, &data[done..done + n])?;
        done += n;
    }
    Ok(())
}

pub(super) fn iovecs(p: &mut Process, at: u64, count: u64) -> Result<Vec<Iovec>, Errno> {
    let count = usize::try_from(count).map_err(|_| errno::EINVAL)?;
    if count > IOV_MAX {
        return Err(errno::EINVAL);
    }
    let raw = user::read_vec(&mut p.memory, at, count * Iovec::SIZE, IOV_MAX * Iovec::SIZE)?;
    let list: Vec<Iovec> = raw.chunks_exact(16).map(|c| Iovec::decode(c.try_into().expect("16 bytes"))).collect();
    let total = list.iter().try_fold(0u64, |sum, v| sum.checked_add(v.len).filter(|&s| s <= isize::MAX as u64));
    total.ok_or(errno::EINVAL)?;
    Ok(list)
}

pub(super) async fn readv(p: &mut Process, a: Args) -> SysResult {
    vectored(p, a, false).await
}

pub(super) async fn writev(p: &mut Process, a: Args) -> SysResult {
    vectored(p, a, true).await
}

/// `readv`/`writev`: piece by piece, stopping at the first short one; an
/// error after some bytes moved ends the call with those bytes.
async fn vectored(p: &mut Process, a: Args, write: bool) -> SysResult {
    let file = p.files.get(a.int(0))?;
    let list = iovecs(p, a.get(1), a.get(2))?;
    if file.is_message_socket() {
        return vectored_message(p, &file, &list, write).await;
    }
    let mut total = 0;
    for v in list {
        let moved =
            if write { write_from(p, &file, v.base, v.len as usize).await } else { read_into(p, &file, v.base, v.len as usize).await };
        let n = match moved {
            Ok(n) => n,
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        };
        total += n;
        if n < v.len {
            break;
        }
    }
    Ok(total)
}

fn positioned(p: &mut Process, fd: i32, offset: u64) -> Result<Arc<OpenFile>, Errno> {
    let file = p.files.get(fd)?;
    let regular = matches!(&file.node.kind, Kind::File(_)) || matches!(&file.node.kind, Kind::Disk(d) if d.is_file());
    if !regular {
        return Err(errno::ESPIPE);
    }
    if offset > i64::MAX as u64 {
        return Err(errno::EINVAL);
    }
    Ok(file)
}

pub(super) async fn pread(p: &mut Process, a: Args) -> SysResult {
    let file = positioned(p, a.int(0), a.get(3))?;
    // A private description, so the shared offset is left alone.
    let private = OpenFile::new(Arc::clone(&file.node), file.flags());
    private.set_offset(a.get(3));
    read_into(p, &private, a.get(1), a.get(2) as usize).await
}

pub(super) async fn pwrite(p: &mut Process, a: Args) -> SysResult {
    let file = positioned(p, a.int(0), a.get(3))?;
    let private = OpenFile::new(Arc::clone(&file.node), file.flags() & !O_APPEND);
    private.set_offset(a.get(3));
    write_from(p, &private, a.get(1), a.get(2) as usize).await
}

pub(super) async fn lseek(p: &mut Process, a: Args) -> SysResult {
    let file = p.files.get(a.int(0))?;
    let (offset, whence) = (a.get(1) as i64, a.uint(2));
    match file.node.kind {
        Kind::File(_) | Kind::Dir(_) | Kind::Proc | Kind::Disk(_) => {}
        // An epoll set seeks nowhere without an error, as Linux's does.
        Kind::Device(_) | Kind::Epoll(_) => return Ok(0),
        Kind::Symlink(_) | Kind::Pipe(_) | Kind::Socket(_) | Kind::Tty(_) | Kind::PtyMaster(_) => return Err(errno::ESPIPE),
    }
    let base = match whence {
        seek::SEEK_SET => 0,
        seek::SEEK_CUR => file.offset() as i64,
        seek::SEEK_END => crate::fs::ops::size(&file.node).await? as i64,
        _ => return Err(errno::EINVAL),
    };
    let at = base.checked_add(offset).filter(|&v| v >= 0).ok_or(errno::EINVAL)?;
    file.set_offset(at as u64);
    Ok(at as u64)
}

pub(super) fn dup(p: &mut Process, a: Args) -> SysResult {
    let file = p.files.get(a.int(0))?;
    Ok(p.files.insert(file, false)? as u64)
}

pub(super) fn dup2(p: &mut Process, old: i32, new: i32, flags: u32) -> SysResult {
    if flags & !O_CLOEXEC != 0 {
        return Err(errno::EINVAL);
    }
    let file = p.files.get(old)?;
    let new_slot = usize::try_from(new).ok().filter(|&n| n < crate::fd::MAX_FDS).ok_or(errno::EBADF)?;
    if old == new {
        // dup2 answers the descriptor; dup3 refuses.
        return if flags == 0 && p.files.cloexec(old).is_ok() { Ok(new as u64) } else { Err(errno::EINVAL) };
    }
    p.files.put(new_slot, file, flags & O_CLOEXEC != 0);
    Ok(new as u64)
}

pub(super) fn fcntl(p: &mut Process, a: Args) -> SysResult {
    const F_DUPFD: u32 = 0;
    const F_GETFD: u32 = 1;
    const F_SETFD: u32 = 2;
    const F_GETFL: u32 = 3;
    const F_SETFL: u32 = 4;
    const F_DUPFD_CLOEXEC: u32 = 1030;
    let fd = a.int(0);
    let file = p.files.get(fd)?;
    match a.uint(1) {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let min = usize::try_from(a.get(2)).map_err(|_| errno::EINVAL)?;
            Ok(p.files.insert_from(min, file, a.uint(1) == F_DUPFD_CLOEXEC)? as u64)
        }
        F_GETFD => Ok(u64::from(p.files.cloexec(fd)?)),
        F_SETFD => p.files.set_cloexec(fd, a.get(2) & 1 != 0).map(|()| 0),
        F_GETFL => Ok(u64::from(file.flags())),
        F_SETFL => {
            file.set_status_flags(a.uint(2));
            Ok(0)
        }
        _ => Err(errno::EINVAL),
    }
}

pub(super) fn pipe(p: &mut Process, fds: u64, flags: u32) -> SysResult {
    use linux::flags::open::O_NONBLOCK;
    if flags & !(O_CLOEXEC | O_NONBLOCK) != 0 {
        return Err(errno::EINVAL);
    }
    let (read, write) = OpenFile::pipe(flags & O_NONBLOCK)?;
    install_pair(p, read, write, flags & O_CLOEXEC != 0, fds)
}

/// Gives `a` and `b` descriptors and writes the two numbers at `fds`
/// (`pipe`, `socketpair`); on an error neither stays open.
pub(super) fn install_pair(p: &mut Process, a: Arc<OpenFile>, b: Arc<OpenFile>, cloexec: bool, fds: u64) -> SysResult {
    let x = p.files.insert(a, cloexec)?;
    let y = match p.files.insert(b, cloexec) {
        Ok(y) => y,
        Err(e) => {
            let _ = p.files.close(x);
            return Err(e);
        }
    };
    let mut bytes = [0u8; 8];
    bytes[..4].copy_from_slice(&x.to_le_bytes());
    bytes[4..].copy_from_slice(&y.to_le_bytes());
    if let Err(e) = user::write(&mut p.memory, fds, &bytes) {
        let _ = p.files.close(x);
        let _ = p.files.close(y);
        return Err(e);
    }
    Ok(0)
}

/// `sendfile(out, in, offset, count)`: a read and a write in the kernel.
pub(super) async fn sendfile(p: &mut Process, a: Args) -> SysResult {
    let (out, input, offset_at, count) = (p.files.get(a.int(0))?, p.files.get(a.int(1))?, a.get(2), a.get(3) as usize);
    let source = if offset_at != 0 {
        let mut b = [0u8; 8];
        user::read(&mut p.memory, offset_at, &mut b)?;
        let private = OpenFile::new(Arc::clone(&input.node), input.flags());
        private.set_offset(u64::from_le_bytes(b));
        private
    } else {
        input
    };
    let count = count.min(MAX_RW);
    let mut done = 0;
    let mut chunk = vec![0u8; CHUNK.min(count.max(1))];
    let mut chunks = 0;
    while done < count {
        if done > 0 {
            between_chunks(&mut chunks).await;
        }
        let want = (count - done).min(chunk.len());
        let n = match source.read(&mut chunk[..want]).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        let wrote = out.write(&chunk[..n]).await;
        let w = *wrote.as_ref().unwrap_or(&0);
        if w < n {
            // What was read and not written stays for the next call (a
            // non-blocking socket took part of it).
            source.set_offset(source.offset() - (n - w) as u64);
        }
        match wrote {
            Ok(w) => done += w,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
        if n < want || w < n {
            break;
        }
    }
    if offset_at != 0 {
        user::write_u64(&mut p.memory, offset_at, source.offset())?;
    }
    Ok(done as u64)
}
