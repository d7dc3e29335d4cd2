//! Files: descriptors, reads and writes, paths, directories, terminals.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use linux::errno::{self, Errno};
use linux::flags::open::{O_ACCMODE, O_APPEND, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_TRUNC};
use linux::flags::{AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW, ioctl, seek};
use linux::structs::{Iovec, Winsize};

use super::{Args, SysResult};
use crate::fs::{self, Device, Kind, Node, OpenFile};
use crate::process::Process;
use crate::user;

/// Largest single read or write (Linux's `MAX_RW_COUNT`, rounded).
const MAX_RW: usize = 0x7fff_f000;
/// Bytes moved per step of a large read or write.
const CHUNK: usize = 64 * 1024;
/// Pieces a vectored call may have (`IOV_MAX`).
const IOV_MAX: usize = 1024;

pub(super) async fn read(p: &mut Process, a: Args) -> SysResult {
    let file = p.files.get(a.int(0))?;
    read_into(p, &file, a.get(1), a.get(2) as usize).await
}

async fn read_into(p: &mut Process, file: &OpenFile, buf: u64, len: usize) -> SysResult {
    let len = len.min(MAX_RW);
    if len <= SMALL {
        let mut small = [0u8; SMALL];
        let n = file.read(&mut small[..len]).await?;
        user::write(&mut p.memory, buf, &small[..n])?;
        return Ok(n as u64);
    }
    let mut done = 0;
    while done < len {
        let mut chunk = vec![0u8; (len - done).min(CHUNK)];
        let n = file.read(&mut chunk).await;
        let n = match n {
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        user::write(&mut p.memory, buf + done as u64, &chunk[..n])?;
        done += n;
        // Short reads end the call (a line from the console, end of file).
        if n < chunk.len() {
            break;
        }
    }
    Ok(done as u64)
}

pub(super) async fn write(p: &mut Process, a: Args) -> SysResult {
    let file = p.files.get(a.int(0))?;
    write_from(p, &file, a.get(1), a.get(2) as usize).await
}

/// Writes up to this many bytes go through a buffer on the stack (no
/// allocation for the common small write).
const SMALL: usize = 256;

async fn write_from(p: &mut Process, file: &OpenFile, buf: u64, len: usize) -> SysResult {
    let len = len.min(MAX_RW);
    if len <= SMALL {
        let mut small = [0u8; SMALL];
        user::read(&mut p.memory, buf, &mut small[..len])?;
        return file.write(&small[..len]).await.map(|n| n as u64);
    }
    let mut done = 0;
    while done < len {
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

fn iovecs(p: &mut Process, at: u64, count: u64) -> Result<Vec<Iovec>, Errno> {
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
    let file = p.files.get(a.int(0))?;
    let list = iovecs(p, a.get(1), a.get(2))?;
    let mut total = 0;
    for v in list {
        let n = match read_into(p, &file, v.base, v.len as usize).await {
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

pub(super) async fn writev(p: &mut Process, a: Args) -> SysResult {
    let file = p.files.get(a.int(0))?;
    let list = iovecs(p, a.get(1), a.get(2))?;
    let mut total = 0;
    for v in list {
        let n = match write_from(p, &file, v.base, v.len as usize).await {
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
    if !matches!(file.node.kind, Kind::File(_)) {
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

pub(super) fn lseek(p: &mut Process, a: Args) -> SysResult {
    let file = p.files.get(a.int(0))?;
    let (offset, whence) = (a.get(1) as i64, a.uint(2));
    match file.node.kind {
        Kind::File(_) | Kind::Dir(_) | Kind::Proc => {}
        Kind::Device(_) => return Ok(0),
        Kind::Symlink(_) | Kind::Pipe(_) => return Err(errno::ESPIPE),
    }
    let base = match whence {
        seek::SEEK_SET => 0,
        seek::SEEK_CUR => file.offset() as i64,
        seek::SEEK_END => file.node.size() as i64,
        _ => return Err(errno::EINVAL),
    };
    let at = base.checked_add(offset).filter(|&v| v >= 0).ok_or(errno::EINVAL)?;
    file.set_offset(at as u64);
    Ok(at as u64)
}

/// The directory a `*at` call starts from, as a path.
fn dir_path(p: &Process, dirfd: i32) -> Result<String, Errno> {
    if dirfd == AT_FDCWD {
        return Ok(p.cwd.clone());
    }
    // Directories opened by descriptor keep no path here: only absolute
    // paths and AT_FDCWD are resolved against them.
    let file = p.files.get(dirfd)?;
    if !file.node.is_dir() {
        return Err(errno::ENOTDIR);
    }
    Err(errno::ENOSYS)
}

fn resolve_at(p: &mut Process, dirfd: i32, path: &str, follow: bool) -> Result<Arc<Node>, Errno> {
    if path.starts_with('/') {
        return fs::lookup("/", path, follow);
    }
    let base = dir_path(p, dirfd)?;
    fs::lookup(&base, path, follow)
}

pub(super) fn open_at(p: &mut Process, dirfd: i32, path: u64, flags: u32, mode: u32) -> SysResult {
    let path = user::read_path(&mut p.memory, path)?;
    let base = if path.starts_with('/') { String::from("/") } else { dir_path(p, dirfd)? };
    let node = match fs::lookup(&base, &path, flags & O_NOFOLLOW == 0) {
        Ok(node) => {
            if flags & (O_CREAT | O_EXCL) == (O_CREAT | O_EXCL) {
                return Err(errno::EEXIST);
            }
            node
        }
        Err(e) if e == errno::ENOENT && flags & O_CREAT != 0 => {
            let (dir, name) = fs::lookup_parent(&base, &path)?;
            let name = name.ok_or(errno::EISDIR)?;
            let node = Node::new(Kind::File(spin::Mutex::new(Vec::new())), mode & 0o7777 & !0o022, crate::clock::boot_epoch_seconds());
            dir.insert(&name, Arc::clone(&node))?;
            node
        }
        Err(e) => return Err(e),
    };
    if let Kind::Symlink(_) = node.kind {
        return Err(errno::ELOOP);
    }
    if flags & O_DIRECTORY != 0 && !node.is_dir() {
        return Err(errno::ENOTDIR);
    }
    if node.is_dir() && flags & O_ACCMODE != 0 {
        return Err(errno::EISDIR);
    }
    if let (true, Kind::File(data)) = (flags & O_TRUNC != 0 && flags & O_ACCMODE != 0, &node.kind) {
        data.lock().clear();
    }
    let file = OpenFile::new(node, flags & !(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC));
    Ok(p.files.insert(file, flags & O_CLOEXEC != 0)? as u64)
}

pub(super) fn stat_at(p: &mut Process, dirfd: i32, path: u64, buf: u64, flags: u32) -> SysResult {
    let path = user::read_path(&mut p.memory, path)?;
    let node = if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
        if dirfd == AT_FDCWD { fs::lookup("/", &p.cwd, true)? } else { Arc::clone(&p.files.get(dirfd)?.node) }
    } else {
        resolve_at(p, dirfd, &path, flags & AT_SYMLINK_NOFOLLOW == 0)?
    };
    user::write(&mut p.memory, buf, &node.stat().encode())?;
    Ok(0)
}

pub(super) fn fstat(p: &mut Process, a: Args) -> SysResult {
    let file = p.files.get(a.int(0))?;
    user::write(&mut p.memory, a.get(1), &file.node.stat().encode())?;
    Ok(0)
}

pub(super) fn getdents64(p: &mut Process, a: Args) -> SysResult {
    let file = p.files.get(a.int(0))?;
    let (buf, len) = (a.get(1), a.get(2) as usize);
    let entries = file.node.entries()?;
    // The offset counts entries handed out: "." and ".." first.
    let mut out = Vec::new();
    let mut index = file.offset() as usize;
    let all = 2 + entries.len();
    while index < all {
        let (name, ino, mode) = match index {
            0 => (String::from("."), file.node.ino(), file.node.mode()),
            1 => (String::from(".."), file.node.ino(), file.node.mode()),
            i => entries[i - 2].clone(),
        };
        let reclen = (19 + name.len() + 1).next_multiple_of(8);
        if out.len() + reclen > len {
            break;
        }
        let d_type: u8 = match mode & linux::flags::mode::S_IFMT {
            linux::flags::mode::S_IFDIR => 4,
            linux::flags::mode::S_IFREG => 8,
            linux::flags::mode::S_IFLNK => 10,
            linux::flags::mode::S_IFCHR => 2,
            _ => 0,
        };
        let start = out.len();
        out.resize(start + reclen, 0);
        out[start..start + 8].copy_from_slice(&ino.to_le_bytes());
        out[start + 8..start + 16].copy_from_slice(&((index + 1) as u64).to_le_bytes());
        out[start + 16..start + 18].copy_from_slice(&(reclen as u16).to_le_bytes());
        out[start + 18] = d_type;
        out[start + 19..start + 19 + name.len()].copy_from_slice(name.as_bytes());
        index += 1;
    }
    if out.is_empty() && index < all {
        return Err(errno::EINVAL);
    }
    user::write(&mut p.memory, buf, &out)?;
    file.set_offset(index as u64);
    Ok(out.len() as u64)
}

pub(super) fn readlink_at(p: &mut Process, dirfd: i32, path: u64, buf: u64, len: u64) -> SysResult {
    let path = user::read_path(&mut p.memory, path)?;
    if len == 0 || len > i32::MAX as u64 {
        return Err(errno::EINVAL);
    }
    let target = if path == "/proc/self/exe" {
        p.exe.clone()
    } else {
        let node = resolve_at(p, dirfd, &path, false)?;
        match &node.kind {
            Kind::Symlink(t) => t.clone(),
            _ => return Err(errno::EINVAL),
        }
    };
    let n = target.len().min(len as usize);
    user::write(&mut p.memory, buf, &target.as_bytes()[..n])?;
    Ok(n as u64)
}

pub(super) fn mkdir_at(p: &mut Process, dirfd: i32, path: u64, mode: u32) -> SysResult {
    let path = user::read_path(&mut p.memory, path)?;
    let base = if path.starts_with('/') { String::from("/") } else { dir_path(p, dirfd)? };
    let (dir, name) = fs::lookup_parent(&base, &path)?;
    let name = name.ok_or(errno::EEXIST)?;
    dir.insert(
        &name,
        Node::new(Kind::Dir(spin::Mutex::new(Default::default())), mode & 0o7777 & !0o022, crate::clock::boot_epoch_seconds()),
    )?;
    Ok(0)
}

pub(super) fn unlink_at(p: &mut Process, dirfd: i32, path: u64, flags: u32) -> SysResult {
    let path = user::read_path(&mut p.memory, path)?;
    if flags & !AT_REMOVEDIR != 0 {
        return Err(errno::EINVAL);
    }
    let base = if path.starts_with('/') { String::from("/") } else { dir_path(p, dirfd)? };
    let (dir, name) = fs::lookup_parent(&base, &path)?;
    let name = name.ok_or(if flags & AT_REMOVEDIR != 0 { errno::EBUSY } else { errno::EISDIR })?;
    dir.remove(&name, flags & AT_REMOVEDIR != 0)?;
    Ok(0)
}

pub(super) fn access_at(p: &mut Process, dirfd: i32, path: u64) -> SysResult {
    let path = user::read_path(&mut p.memory, path)?;
    resolve_at(p, dirfd, &path, true)?;
    Ok(0)
}

pub(super) fn getcwd(p: &mut Process, a: Args) -> SysResult {
    let (buf, size) = (a.get(0), a.get(1) as usize);
    let mut bytes = p.cwd.clone().into_bytes();
    bytes.push(0);
    if bytes.len() > size {
        return Err(errno::ERANGE);
    }
    user::write(&mut p.memory, buf, &bytes)?;
    Ok(bytes.len() as u64)
}

pub(super) fn chdir(p: &mut Process, a: Args) -> SysResult {
    let path = user::read_path(&mut p.memory, a.get(0))?;
    let node = fs::lookup(&p.cwd, &path, true)?;
    if !node.is_dir() {
        return Err(errno::ENOTDIR);
    }
    p.cwd = fs::normalize(&p.cwd, &path);
    Ok(0)
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

pub(super) async fn ioctl(p: &mut Process, a: Args) -> SysResult {
    const FIONREAD: u64 = 0x541b;
    let file = p.files.get(a.int(0))?;
    let Kind::Device(Device::Console) = file.node.kind else {
        if let (FIONREAD, Kind::Pipe(pipe)) = (a.get(1), &file.node.kind) {
            let n = pipe.buffered().await as i32;
            user::write_i32(&mut p.memory, a.get(2), n)?;
            return Ok(0);
        }
        return Err(errno::ENOTTY);
    };
    match a.get(1) {
        ioctl::TIOCGWINSZ => {
            let (rows, cols) = crate::tty::winsize();
            user::write(&mut p.memory, a.get(2), &Winsize { rows, cols }.encode())?;
            Ok(0)
        }
        ioctl::TIOCGPGRP => {
            let group = crate::tty::foreground(p.info.pgid.load(core::sync::atomic::Ordering::Relaxed));
            user::write_i32(&mut p.memory, a.get(2), group as i32)?;
            Ok(0)
        }
        ioctl::TIOCSPGRP => {
            let mut b = [0u8; 4];
            user::read(&mut p.memory, a.get(2), &mut b)?;
            let group = i32::from_le_bytes(b);
            if group <= 0 {
                return Err(errno::EINVAL);
            }
            crate::tty::set_foreground(group as u32);
            Ok(0)
        }
        ioctl::TCGETS => {
            let t = crate::tty::termios().await;
            user::write(&mut p.memory, a.get(2), &t)?;
            Ok(0)
        }
        ioctl::TCSETS | ioctl::TCSETSW | ioctl::TCSETSF => {
            let mut t = [0u8; crate::tty::TERMIOS_SIZE];
            user::read(&mut p.memory, a.get(2), &mut t)?;
            crate::tty::set_termios(t, a.get(1) == ioctl::TCSETSF).await;
            Ok(0)
        }
        ioctl::TIOCSWINSZ => {
            let mut b = [0u8; 8];
            user::read(&mut p.memory, a.get(2), &mut b)?;
            crate::tty::set_winsize(u16::from_le_bytes([b[0], b[1]]), u16::from_le_bytes([b[2], b[3]]));
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
    let (read, write) = OpenFile::pipe(flags & O_NONBLOCK);
    let cloexec = flags & O_CLOEXEC != 0;
    let r = p.files.insert(read, cloexec)?;
    let w = match p.files.insert(write, cloexec) {
        Ok(w) => w,
        Err(e) => {
            let _ = p.files.close(r);
            return Err(e);
        }
    };
    let mut bytes = [0u8; 8];
    bytes[..4].copy_from_slice(&r.to_le_bytes());
    bytes[4..].copy_from_slice(&w.to_le_bytes());
    if let Err(e) = user::write(&mut p.memory, fds, &bytes) {
        let _ = p.files.close(r);
        let _ = p.files.close(w);
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
    while done < count {
        let want = (count - done).min(chunk.len());
        let n = match source.read(&mut chunk[..want]).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        match out.write(&chunk[..n]).await {
            Ok(w) => done += w,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
        if n < want {
            break;
        }
    }
    if offset_at != 0 {
        user::write_u64(&mut p.memory, offset_at, source.offset())?;
    }
    Ok(done as u64)
}

/// The directory and last name of a path a `*at` call names.
fn parent_at(p: &mut Process, dirfd: i32, path: u64) -> Result<(Arc<Node>, String), Errno> {
    let path = user::read_path(&mut p.memory, path)?;
    let base = if path.starts_with('/') { String::from("/") } else { dir_path(p, dirfd)? };
    let (dir, name) = fs::lookup_parent(&base, &path)?;
    Ok((dir, name.ok_or(errno::EBUSY)?))
}

pub(super) fn rename_at(p: &mut Process, olddir: i32, old: u64, newdir: i32, new: u64, flags: u32) -> SysResult {
    const RENAME_NOREPLACE: u32 = 1;
    if flags & !RENAME_NOREPLACE != 0 {
        return Err(errno::EINVAL);
    }
    let (from_dir, from) = parent_at(p, olddir, old)?;
    let (to_dir, to) = parent_at(p, newdir, new)?;
    if flags & RENAME_NOREPLACE != 0 && to_dir.child(&to).is_ok() {
        return Err(errno::EEXIST);
    }
    from_dir.rename(&from, &to_dir, &to)?;
    Ok(0)
}

pub(super) fn symlink_at(p: &mut Process, target: u64, newdir: i32, path: u64) -> SysResult {
    let target = user::read_path(&mut p.memory, target)?;
    let (dir, name) = parent_at(p, newdir, path)?;
    dir.insert(&name, Node::new(Kind::Symlink(target), 0o777, crate::clock::boot_epoch_seconds()))?;
    Ok(0)
}

pub(super) fn link_at(p: &mut Process, olddir: i32, old: u64, newdir: i32, new: u64, flags: u32) -> SysResult {
    let old = user::read_path(&mut p.memory, old)?;
    let node = resolve_at(p, olddir, &old, flags & linux::flags::AT_SYMLINK_FOLLOW != 0)?;
    if node.is_dir() {
        return Err(errno::EPERM);
    }
    let (dir, name) = parent_at(p, newdir, new)?;
    dir.insert(&name, node)?;
    Ok(0)
}

pub(super) fn chmod_at(p: &mut Process, dirfd: i32, path: u64, mode: u32) -> SysResult {
    let path = user::read_path(&mut p.memory, path)?;
    resolve_at(p, dirfd, &path, true)?.set_perm(mode);
    Ok(0)
}

pub(super) fn fchmod(p: &mut Process, fd: i32, mode: u32) -> SysResult {
    p.files.get(fd)?.node.set_perm(mode);
    Ok(0)
}

/// `utimensat(dirfd, path, times, flags)`: sets the modification time (the
/// one time this file system keeps); a null `times` means now.
pub(super) fn utimens_at(p: &mut Process, dirfd: i32, path: u64, times: u64, flags: u32) -> SysResult {
    const UTIME_NOW: i64 = (1 << 30) - 1;
    const UTIME_OMIT: i64 = (1 << 30) - 2;
    let node = if path == 0 {
        Arc::clone(&p.files.get(dirfd)?.node)
    } else {
        let path = user::read_path(&mut p.memory, path)?;
        resolve_at(p, dirfd, &path, flags & AT_SYMLINK_NOFOLLOW == 0)?
    };
    let now = crate::clock::now_seconds();
    let mtime = if times == 0 {
        now
    } else {
        let mut t = [0u8; 32];
        user::read(&mut p.memory, times, &mut t)?;
        let sec = i64::from_le_bytes(t[16..24].try_into().expect("8 bytes"));
        let nsec = i64::from_le_bytes(t[24..32].try_into().expect("8 bytes"));
        match nsec {
            UTIME_OMIT => return Ok(0),
            UTIME_NOW => now,
            0..=999_999_999 if sec >= 0 => sec as u64,
            _ => return Err(errno::EINVAL),
        }
    };
    node.touch(mtime);
    Ok(0)
}

pub(super) fn truncate_node(node: &Node, len: u64) -> SysResult {
    let Kind::File(data) = &node.kind else { return Err(errno::EINVAL) };
    let len = usize::try_from(len).map_err(|_| errno::EFBIG)?;
    let mut data = data.lock();
    if len > data.len() {
        let more = len - data.len();
        data.try_reserve(more).map_err(|_| errno::ENOSPC)?;
    }
    data.resize(len, 0);
    Ok(0)
}

pub(super) fn truncate(p: &mut Process, path: u64, len: u64) -> SysResult {
    let path = user::read_path(&mut p.memory, path)?;
    let node = fs::lookup(&p.cwd, &path, true)?;
    truncate_node(&node, len)
}

pub(super) fn ftruncate(p: &mut Process, fd: i32, len: u64) -> SysResult {
    let file = p.files.get(fd)?;
    if file.flags() & O_ACCMODE == linux::flags::open::O_RDONLY {
        return Err(errno::EINVAL);
    }
    truncate_node(&file.node, len)
}

/// `fchownat`: every process runs as root here, which may give a file to
/// anyone.
pub(super) fn chown_at(p: &mut Process, dirfd: i32, path: u64, uid: u32, gid: u32, flags: u32) -> SysResult {
    let path = user::read_path(&mut p.memory, path)?;
    resolve_at(p, dirfd, &path, flags & AT_SYMLINK_NOFOLLOW == 0)?.set_owner(uid, gid);
    Ok(0)
}
