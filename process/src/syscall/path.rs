//! Calls that name files by path: open, stat, directories, links,
//! renames, permissions and times, the working directory. Each is an
//! `async fn`: a path that stays in memory resolves without waiting, one
//! that reaches a mounted volume awaits its service (`fs::ops`).

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use core::sync::atomic::Ordering;
use linux::errno::{self, Errno};

use linux::flags::open::{O_ACCMODE, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOCTTY, O_NOFOLLOW, O_TRUNC};
use linux::flags::{AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW};

use super::{Args, SysResult};
use crate::fs::ops::{self, New};
use crate::fs::{self, Device, Kind, Node, OpenFile};
use crate::process::Process;
use crate::tty::Tty;
use crate::user;

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

/// Where a `*at` call's relative paths start.
fn base_of(p: &Process, dirfd: i32, path: &str) -> Result<String, Errno> {
    if path.starts_with('/') { Ok(String::from("/")) } else { dir_path(p, dirfd) }
}

async fn resolve_at(p: &Process, dirfd: i32, path: &str, follow: bool) -> Result<Arc<Node>, Errno> {
    let base = base_of(p, dirfd, path)?;
    fs::lookup(&base, path, follow).await
}

/// The directory and last name of a path a `*at` call names.
async fn parent_at(p: &mut Process, dirfd: i32, path: u64) -> Result<(Arc<Node>, String), Errno> {
    let path = user::read_path(&mut p.memory, path)?;
    let base = base_of(p, dirfd, &path)?;
    let (dir, name) = fs::lookup_parent(&base, &path).await?;
    Ok((dir, name.ok_or(errno::EBUSY)?))
}

pub(super) async fn open_at(p: &mut Process, dirfd: i32, path: u64, flags: u32, mode: u32) -> SysResult {
    let path = user::read_path(&mut p.memory, path)?;
    let base = base_of(p, dirfd, &path)?;
    if flags & O_CREAT != 0
        && let Some(fd) = create_on_disk(p, &base, &path, flags, mode).await?
    {
        return Ok(fd);
    }
    let (node, created) = match fs::lookup(&base, &path, flags & O_NOFOLLOW == 0).await {
        Ok(node) => {
            if flags & (O_CREAT | O_EXCL) == (O_CREAT | O_EXCL) {
                return Err(errno::EEXIST);
            }
            (node, false)
        }
        Err(e) if e == errno::ENOENT && flags & O_CREAT != 0 => {
            let (dir, name) = fs::lookup_parent(&base, &path).await?;
            let name = name.ok_or(errno::EISDIR)?;
            (ops::make(&dir, &name, New::File, mode & 0o7777 & !0o022).await?, true)
        }
        Err(e) => return Err(e),
    };
    if fs::link_target(&node).await?.is_some() {
        return Err(errno::ELOOP);
    }
    if flags & O_DIRECTORY != 0 && !node.is_dir() {
        return Err(errno::ENOTDIR);
    }
    if node.is_dir() && flags & O_ACCMODE != 0 {
        return Err(errno::EISDIR);
    }
    if matches!(&node.kind, Kind::Socket(crate::fs::socket::Socket::Address(_))) {
        // A named socket is reached with connect, never opened.
        return Err(errno::ENXIO);
    }
    let regular = matches!(&node.kind, Kind::File(_)) || matches!(&node.kind, Kind::Disk(d) if d.is_file());
    if flags & O_TRUNC != 0 && flags & O_ACCMODE != 0 && !created && regular {
        ops::truncate(&node, 0).await?;
    }
    let node = terminal_node(p, node, flags)?;
    let file = OpenFile::opened(node, flags & !(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC)).await?;
    Ok(p.files.insert(file, flags & O_CLOEXEC != 0)? as u64)
}

/// What an open of a terminal opens: `/dev/tty` is the caller's
/// controlling terminal (ENXIO without one); a pty's terminal end still
/// locked is EIO; a session leader without a controlling terminal takes
/// the terminal it opens, unless `O_NOCTTY`, as on Linux.
fn terminal_node(p: &mut Process, node: Arc<Node>, flags: u32) -> Result<Arc<Node>, Errno> {
    let tty = match &node.kind {
        Kind::Device(Device::ControllingTty) => {
            return match &p.ctty {
                None => Err(errno::ENXIO),
                Some(Tty::Console) => Ok(Node::new(Kind::Device(Device::Console), 0o666, 0)),
                Some(t) => Ok(Node::new(Kind::Tty(t.clone()), 0o620, 0)),
            };
        }
        Kind::Device(Device::Console) => Tty::Console,
        Kind::Tty(t) => t.clone(),
        _ => return Ok(node),
    };
    if let Tty::Pty(pty) = &tty
        && (pty.locked() || pty.hung_up())
    {
        return Err(errno::EIO);
    }
    let (pid, sid, pgid) = (p.pid(), p.info.sid.load(Ordering::Relaxed), p.info.pgid.load(Ordering::Relaxed));
    if flags & O_NOCTTY == 0 && sid == pid && p.ctty.is_none() && tty.terminal().control(sid, pgid) {
        p.ctty = Some(tty);
    }
    Ok(node)
}

/// `open(O_CREAT)` of a name in a directory on a volume, in one message
/// to its service (`Mounted::open_create`): the descriptor, or `None` when
/// the directory is in memory or the name is there but is not a regular
/// file (the general path in `open_at` follows links and refuses
/// directories as Linux does).
async fn create_on_disk(p: &mut Process, base: &str, path: &str, flags: u32, mode: u32) -> Result<Option<u64>, Errno> {
    let (dir, name) = fs::lookup_parent(base, path).await?;
    let (Kind::Disk(d), Some(name)) = (&dir.kind, name) else { return Ok(None) };
    let truncate = flags & O_TRUNC != 0 && flags & O_ACCMODE != 0;
    let permissions = (mode & 0o7777 & !0o022) as u16;
    let opened = d.vol.open_create(d.ino, name.as_bytes(), permissions, flags & O_EXCL != 0, truncate).await;
    let Some((ino, st)) = opened.map_err(|e| fs::disk::errno_of(&d.vol, e))? else { return Ok(None) };
    // Counted open from here: dropping the description closes it.
    let file = OpenFile::counted(fs::disk::node(&d.vol, ino, &st), flags & !(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC));
    if flags & O_DIRECTORY != 0 {
        return Err(errno::ENOTDIR);
    }
    Ok(Some(p.files.insert(file, flags & O_CLOEXEC != 0)? as u64))
}

pub(super) async fn stat_at(p: &mut Process, dirfd: i32, path: u64, buf: u64, flags: u32) -> SysResult {
    let path = user::read_path(&mut p.memory, path)?;
    let node = if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
        if dirfd == AT_FDCWD { fs::lookup("/", &p.cwd, true).await? } else { Arc::clone(&p.files.get(dirfd)?.node) }
    } else {
        resolve_at(p, dirfd, &path, flags & AT_SYMLINK_NOFOLLOW == 0).await?
    };
    let st = ops::stat(&node).await?;
    user::write(&mut p.memory, buf, &st.encode())?;
    Ok(0)
}

pub(super) async fn fstat(p: &mut Process, a: Args) -> SysResult {
    let file = p.files.get(a.int(0))?;
    let st = ops::stat(&file.node).await?;
    user::write(&mut p.memory, a.get(1), &st.encode())?;
    Ok(0)
}

/// `getdents64(fd, buf, len)`: "." and "..", then the entries in name
/// order. The offset counts entries handed out; a listing that goes on
/// from where the last call left it resumes after the last name it gave
/// (`OpenFile::dir_cursor`), so an entry removed or added meanwhile
/// shifts nothing: every entry there throughout is given exactly once, as
/// POSIX asks (`rm -r` removes as it reads). After an `lseek` elsewhere the
/// offset is taken as a count of entries.
pub(super) async fn getdents64(p: &mut Process, a: Args) -> SysResult {
    let file = p.files.get(a.int(0))?;
    let (buf, len) = (a.get(1), a.get(2) as usize);
    let mut entries = ops::entries(&file.node).await?;
    entries.sort_unstable_by(|x, y| x.0.cmp(&y.0));
    let mut out = Vec::new();
    let offset = file.offset();
    let cursor = file.dir_cursor.lock().clone();
    // Where in `entries` to go on from.
    let first = match cursor {
        Some((at, last)) if at == offset && offset >= 2 => entries.partition_point(|e| e.0 <= last),
        _ => (offset as usize).saturating_sub(2),
    };
    let mut index = offset as usize;
    let mut next = first;
    let mut last_name = None;
    loop {
        let (name, ino, mode) = match index {
            0 => (String::from("."), file.node.ino(), file.node.mode()),
            1 => (String::from(".."), file.node.ino(), file.node.mode()),
            _ if next < entries.len() => entries[next].clone(),
            _ => break,
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
            0o060000 => 6,
            _ => 0,
        };
        let start = out.len();
        out.resize(start + reclen, 0);
        out[start..start + 8].copy_from_slice(&ino.to_le_bytes());
        out[start + 8..start + 16].copy_from_slice(&((index + 1) as u64).to_le_bytes());
        out[start + 16..start + 18].copy_from_slice(&(reclen as u16).to_le_bytes());
        out[start + 18] = d_type;
        out[start + 19..start + 19 + name.len()].copy_from_slice(name.as_bytes());
        if index >= 2 {
            next += 1;
            last_name = Some(name);
        }
        index += 1;
    }
    if out.is_empty() && (index < 2 || next < entries.len()) {
        return Err(errno::EINVAL);
    }
    user::write(&mut p.memory, buf, &out)?;
    file.set_offset(index as u64);
    if let Some(name) = last_name {
        *file.dir_cursor.lock() = Some((index as u64, name));
    }
    Ok(out.len() as u64)
}

pub(super) async fn readlink_at(p: &mut Process, dirfd: i32, path: u64, buf: u64, len: u64) -> SysResult {
    let path = user::read_path(&mut p.memory, path)?;
    if len == 0 || len > i32::MAX as u64 {
        return Err(errno::EINVAL);
    }
    let target = if path == "/proc/self/exe" {
        p.exe.clone()
    } else {
        let node = resolve_at(p, dirfd, &path, false).await?;
        fs::link_target(&node).await?.ok_or(errno::EINVAL)?
    };
    let n = target.len().min(len as usize);
    user::write(&mut p.memory, buf, &target.as_bytes()[..n])?;
    Ok(n as u64)
}

pub(super) async fn mkdir_at(p: &mut Process, dirfd: i32, path: u64, mode: u32) -> SysResult {
    let path = user::read_path(&mut p.memory, path)?;
    let base = base_of(p, dirfd, &path)?;
    let (dir, name) = fs::lookup_parent(&base, &path).await?;
    let name = name.ok_or(errno::EEXIST)?;
    ops::make(&dir, &name, New::Dir, mode & 0o7777 & !0o022).await?;
    Ok(0)
}

pub(super) async fn unlink_at(p: &mut Process, dirfd: i32, path: u64, flags: u32) -> SysResult {
    let path = user::read_path(&mut p.memory, path)?;
    if flags & !AT_REMOVEDIR != 0 {
        return Err(errno::EINVAL);
    }
    let base = base_of(p, dirfd, &path)?;
    let (dir, name) = fs::lookup_parent(&base, &path).await?;
    let name = name.ok_or(if flags & AT_REMOVEDIR != 0 { errno::EBUSY } else { errno::EISDIR })?;
    ops::remove(&dir, &name, flags & AT_REMOVEDIR != 0).await?;
    Ok(0)
}

pub(super) async fn access_at(p: &mut Process, dirfd: i32, path: u64) -> SysResult {
    let path = user::read_path(&mut p.memory, path)?;
    resolve_at(p, dirfd, &path, true).await?;
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

pub(super) async fn chdir(p: &mut Process, a: Args) -> SysResult {
    let path = user::read_path(&mut p.memory, a.get(0))?;
    let node = fs::lookup(&p.cwd, &path, true).await?;
    if !node.is_dir() {
        return Err(errno::ENOTDIR);
    }
    p.cwd = fs::normalize(&p.cwd, &path);
    Ok(0)
}

pub(super) async fn rename_at(p: &mut Process, olddir: i32, old: u64, newdir: i32, new: u64, flags: u32) -> SysResult {
    const RENAME_NOREPLACE: u32 = 1;
    if flags & !RENAME_NOREPLACE != 0 {
        return Err(errno::EINVAL);
    }
    let (from_dir, from) = parent_at(p, olddir, old).await?;
    let (to_dir, to) = parent_at(p, newdir, new).await?;
    ops::rename(&from_dir, &from, &to_dir, &to, flags & RENAME_NOREPLACE != 0).await?;
    Ok(0)
}

pub(super) async fn symlink_at(p: &mut Process, target: u64, newdir: i32, path: u64) -> SysResult {
    let target = user::read_path(&mut p.memory, target)?;
    let (dir, name) = parent_at(p, newdir, path).await?;
    ops::make(&dir, &name, New::Symlink(target), 0o777).await?;
    Ok(0)
}

pub(super) async fn link_at(p: &mut Process, olddir: i32, old: u64, newdir: i32, new: u64, flags: u32) -> SysResult {
    let old = user::read_path(&mut p.memory, old)?;
    let node = resolve_at(p, olddir, &old, flags & linux::flags::AT_SYMLINK_FOLLOW != 0).await?;
    if node.is_dir() {
        return Err(errno::EPERM);
    }
    let (dir, name) = parent_at(p, newdir, new).await?;
    ops::make(&dir, &name, New::Link(node), 0).await?;
    Ok(0)
}

pub(super) async fn chmod_at(p: &mut Process, dirfd: i32, path: u64, mode: u32) -> SysResult {
    let path = user::read_path(&mut p.memory, path)?;
    let node = resolve_at(p, dirfd, &path, true).await?;
    ops::set_perm(&node, mode).await?;
    Ok(0)
}

pub(super) async fn fchmod(p: &mut Process, fd: i32, mode: u32) -> SysResult {
    let file = p.files.get(fd)?;
    ops::set_perm(&file.node, mode).await?;
    Ok(0)
}

/// `utimensat(dirfd, path, times, flags)`: a null `times` means now for
/// both; `UTIME_NOW` and `UTIME_OMIT` per time. (Files in memory keep the
/// modification time only.)
pub(super) async fn utimens_at(p: &mut Process, dirfd: i32, path: u64, times: u64, flags: u32) -> SysResult {
    const UTIME_NOW: i64 = (1 << 30) - 1;
    const UTIME_OMIT: i64 = (1 << 30) - 2;
    let node = if path == 0 {
        Arc::clone(&p.files.get(dirfd)?.node)
    } else {
        let path = user::read_path(&mut p.memory, path)?;
        resolve_at(p, dirfd, &path, flags & AT_SYMLINK_NOFOLLOW == 0).await?
    };
    let now = crate::clock::now_seconds();
    let (atime, mtime) = if times == 0 {
        (Some(now), Some(now))
    } else {
        let mut t = [0u8; 32];
        user::read(&mut p.memory, times, &mut t)?;
        let one = |at: usize| -> Result<Option<u64>, Errno> {
            let sec = i64::from_le_bytes(t[at..at + 8].try_into().expect("8 bytes"));
            let nsec = i64::from_le_bytes(t[at + 8..at + 16].try_into().expect("8 bytes"));
            match nsec {
                UTIME_OMIT => Ok(None),
                UTIME_NOW => Ok(Some(now)),
                0..=999_999_999 if sec >= 0 => Ok(Some(sec as u64)),
                _ => Err(errno::EINVAL),
            }
        };
        (one(0)?, one(16)?)
    };
    ops::set_times(&node, atime, mtime).await?;
    Ok(0)
}

pub(super) async fn truncate(p: &mut Process, path: u64, len: u64) -> SysResult {
    let path = user::read_path(&mut p.memory, path)?;
    let node = fs::lookup(&p.cwd, &path, true).await?;
    if node.is_dir() {
        return Err(errno::EISDIR);
    }
    ops::truncate(&node, len).await?;
    Ok(0)
}

pub(super) async fn ftruncate(p: &mut Process, fd: i32, len: u64) -> SysResult {
    let file = p.files.get(fd)?;
    if file.flags() & O_ACCMODE == linux::flags::open::O_RDONLY {
        return Err(errno::EINVAL);
    }
    ops::truncate(&file.node, len).await?;
    Ok(0)
}

/// `fchownat`: every process runs as root here, which may give a file to
/// anyone.
pub(super) async fn chown_at(p: &mut Process, dirfd: i32, path: u64, uid: u32, gid: u32, flags: u32) -> SysResult {
    let path = user::read_path(&mut p.memory, path)?;
    let node = resolve_at(p, dirfd, &path, flags & AT_SYMLINK_NOFOLLOW == 0).await?;
    ops::set_owner(&node, uid, gid).await?;
    Ok(0)
}

pub(super) async fn fchown(p: &mut Process, fd: i32, uid: u32, gid: u32) -> SysResult {
    let file = p.files.get(fd)?;
    ops::set_owner(&file.node, uid, gid).await?;
    Ok(0)
}

/// `fallocate(fd, mode, offset, len)`: mode 0 only (room for the range,
/// the size raised to its end); the others are EOPNOTSUPP, as on a file
/// system that has none of them.
pub(super) async fn fallocate(p: &mut Process, fd: i32, mode: u32, offset: u64, len: u64) -> SysResult {
    let file = p.files.get(fd)?;
    if (offset as i64) < 0 || (len as i64) <= 0 {
        return Err(errno::EINVAL);
    }
    if file.flags() & O_ACCMODE == linux::flags::open::O_RDONLY {
        return Err(errno::EBADF);
    }
    if mode != 0 {
        return Err(errno::EOPNOTSUPP);
    }
    ops::allocate(&file.node, offset, len).await?;
    Ok(0)
}
