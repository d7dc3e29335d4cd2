//! Calls that name files by path: open, stat, directories, links,
//! renames, permissions and times, the working directory.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use linux::errno::{self, Errno};
use linux::flags::open::{O_ACCMODE, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_TRUNC};
use linux::flags::{AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW};

use super::{Args, SysResult};
use crate::fs::{self, Kind, Node, OpenFile};
use crate::process::Process;
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
    let (node, created) = match fs::lookup(&base, &path, flags & O_NOFOLLOW == 0) {
        Ok(node) => {
            if flags & (O_CREAT | O_EXCL) == (O_CREAT | O_EXCL) {
                return Err(errno::EEXIST);
            }
            (node, false)
        }
        Err(e) if e == errno::ENOENT && flags & O_CREAT != 0 => {
            let (dir, name) = fs::lookup_parent(&base, &path)?;
            let name = name.ok_or(errno::EISDIR)?;
            let node = Node::new(Kind::file(Vec::new()), mode & 0o7777 & !0o022, crate::clock::boot_epoch_seconds());
            dir.insert(&name, Arc::clone(&node))?;
            (node, true)
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
    // (Nothing after this may answer BUSY: the call would run again and
    // find what it created.)
    if let (true, false, Kind::File(_)) = (flags & O_TRUNC != 0 && flags & O_ACCMODE != 0, created, &node.kind) {
        truncate_node(&node, 0)?;
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
    user::write(&mut p.memory, buf, &node.stat()?.encode())?;
    Ok(0)
}

pub(super) fn fstat(p: &mut Process, a: Args) -> SysResult {
    let file = p.files.get(a.int(0))?;
    user::write(&mut p.memory, a.get(1), &file.node.stat()?.encode())?;
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
    dir.insert(&name, Node::new(Kind::dir(), mode & 0o7777 & !0o022, crate::clock::boot_epoch_seconds()))?;
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
    from_dir.rename(&from, &to_dir, &to, flags & RENAME_NOREPLACE != 0)?;
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
    let len = usize::try_from(len).map_err(|_| errno::EFBIG)?;
    if len == 0 {
        // Nothing to keep: new bytes, not a copy of the shared ones.
        node.set_bytes(Vec::new())?;
        return Ok(0);
    }
    node.edit_bytes(|data| data.resize(len).map(|()| 0))
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
