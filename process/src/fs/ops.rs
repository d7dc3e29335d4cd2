//! What the system calls do to a node, wherever it lives: the in-memory
//! tree answers at once (a busy token is waited out, `until_free`), a
//! volume's node asks its service (`fs::disk`). One function per
//! operation, so each system call is written once for both.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use linux::errno::{self, Errno};
use linux::structs::Stat;

use super::disk::{self, DiskRef};
use super::node::{Kind, Node};
use super::until_free;

/// What `stat` reports of `node`.
pub async fn stat(node: &Node) -> Result<Stat, Errno> {
    match &node.kind {
        Kind::Disk(d) => d.stat().await,
        _ => until_free(|| node.stat()).await,
    }
}

/// Its size in bytes.
pub async fn size(node: &Node) -> Result<u64, Errno> {
    match &node.kind {
        Kind::Disk(d) => d.size().await,
        _ => until_free(|| node.size()).await,
    }
}

/// A directory's entries but `.` and `..`: (name, inode, type bits).
pub async fn entries(node: &Node) -> Result<Vec<(String, u64, u32)>, Errno> {
    match &node.kind {
        Kind::Disk(d) if d.is_dir() => d.entries().await,
        Kind::Disk(_) => Err(errno::ENOTDIR),
        _ => until_free(|| node.entries()).await,
    }
}

/// A regular file's bytes whole (what `execve` and `mmap` take).
pub async fn file_bytes(node: &Node) -> Result<Arc<super::FileBytes>, Errno> {
    match &node.kind {
        Kind::Disk(d) => d.whole().await,
        _ => until_free(|| node.bytes()).await,
    }
}

fn disk_err(d: &DiskRef) -> impl Fn(ext2::Error) -> Errno + '_ {
    move |e| disk::errno_of(&d.vol, e)
}

/// Sets the permission bits.
pub async fn set_perm(node: &Node, perm: u32) -> Result<(), Errno> {
    match &node.kind {
        Kind::Disk(d) => {
            let attr = ext2::SetAttr { permissions: Some((perm & 0o7777) as u16), ..Default::default() };
            d.vol.set_attr(d.ino, attr).await.map_err(disk_err(d))
        }
        _ => {
            node.set_perm(perm);
            Ok(())
        }
    }
}

/// Sets owner and group (`u32::MAX`: leave as is).
pub async fn set_owner(node: &Node, uid: u32, gid: u32) -> Result<(), Errno> {
    match &node.kind {
        Kind::Disk(d) => {
            let attr = ext2::SetAttr { uid: (uid != u32::MAX).then_some(uid), gid: (gid != u32::MAX).then_some(gid), ..Default::default() };
            d.vol.set_attr(d.ino, attr).await.map_err(disk_err(d))
        }
        _ => {
            node.set_owner(uid, gid);
            Ok(())
        }
    }
}

/// Sets the access and modification times given.
pub async fn set_times(node: &Node, atime: Option<u64>, mtime: Option<u64>) -> Result<(), Errno> {
    match &node.kind {
        Kind::Disk(d) => {
            let attr = ext2::SetAttr { atime: atime.map(|t| t as u32), mtime: mtime.map(|t| t as u32), ..Default::default() };
            d.vol.set_attr(d.ino, attr).await.map_err(disk_err(d))
        }
        _ => {
            if let Some(t) = mtime {
                node.touch(t);
            }
            Ok(())
        }
    }
}

/// Sets a regular file's size.
pub async fn truncate(node: &Node, len: u64) -> Result<(), Errno> {
    match &node.kind {
        Kind::Disk(d) if d.is_dir() => Err(errno::EISDIR),
        Kind::Disk(d) => d.vol.truncate(d.ino, len).await.map_err(disk_err(d)),
        _ => {
            let len = usize::try_from(len).map_err(|_| errno::EFBIG)?;
            if len == 0 {
                // Nothing to keep: new bytes, not a copy of the shared ones.
                return until_free(|| node.set_bytes(Vec::new())).await;
            }
            until_free(|| node.edit_bytes(|data| data.resize(len))).await
        }
    }
}

/// `fallocate` mode 0 on a regular file: the bytes `offset..offset + len`
/// given room (a file in memory: grown with zeros to the end).
pub async fn allocate(node: &Node, offset: u64, len: u64) -> Result<(), Errno> {
    let end = offset.checked_add(len).ok_or(errno::EFBIG)?;
    match &node.kind {
        Kind::Disk(d) if d.is_file() => d.vol.allocate(d.ino, offset, len).await.map_err(disk_err(d)),
        Kind::File(_) => {
            let end = usize::try_from(end).map_err(|_| errno::EFBIG)?;
            until_free(|| node.edit_bytes(|data| if end > data.len() { data.resize(end) } else { Ok(()) })).await
        }
        Kind::Pipe(_) | Kind::Socket(_) => Err(errno::ESPIPE),
        Kind::Dir(_) | Kind::Proc => Err(errno::EISDIR),
        Kind::Disk(d) if d.is_dir() => Err(errno::EISDIR),
        _ => Err(errno::ENODEV),
    }
}

/// What a new name in a directory is to be.
pub enum New {
    /// An empty regular file.
    File,
    /// An empty directory.
    Dir,
    /// A symbolic link to this target.
    Symlink(String),
    /// Another name for this node (a hard link; not a directory).
    Link(Arc<Node>),
    /// A bound AF_UNIX socket's name (in memory only).
    Socket(alloc::sync::Weak<super::unix_named::UnixEndpoint>),
}

/// Makes `name` in directory `dir` as `what` says, with `perm`; the new
/// node. EEXIST if the name is taken.
pub async fn make(dir: &Node, name: &str, what: New, perm: u32) -> Result<Arc<Node>, Errno> {
    let perm16 = (perm & 0o7777) as u16;
    match &dir.kind {
        Kind::Disk(d) => {
            let vol = &d.vol;
            let (ino, st) = match &what {
                New::File => vol.create(d.ino, name.as_bytes(), perm16).await,
                New::Dir => vol.mkdir(d.ino, name.as_bytes(), perm16).await,
                New::Symlink(t) => vol.symlink(d.ino, name.as_bytes(), t.as_bytes()).await,
                New::Socket(_) => {
                    log::warn!("bind of an AF_UNIX socket on a mounted volume: not implemented, EOPNOTSUPP");
                    return Err(errno::EOPNOTSUPP);
                }
                New::Link(node) => match &node.kind {
                    Kind::Disk(src) if Arc::ptr_eq(&src.vol, vol) => match vol.link(d.ino, name.as_bytes(), src.ino).await {
                        Ok(()) => vol.stat(src.ino).await.map(|st| (src.ino, st)),
                        Err(e) => Err(e),
                    },
                    _ => return Err(errno::EXDEV),
                },
            }
            .map_err(disk_err(d))?;
            Ok(disk::node(vol, ino, &st))
        }
        _ => {
            let now = crate::clock::now_seconds();
            let node = match what {
                New::File => Node::new(Kind::file(Vec::new()), perm, now),
                New::Dir => Node::new(Kind::dir(), perm, now),
                New::Symlink(t) => Node::new(Kind::Symlink(t), 0o777, now),
                New::Socket(endpoint) => Node::new(Kind::Socket(super::socket::Socket::Address(endpoint)), perm, now),
                New::Link(node) => {
                    if matches!(node.kind, Kind::Disk(_)) {
                        return Err(errno::EXDEV);
                    }
                    node
                }
            };
            until_free(|| dir.insert(name, Arc::clone(&node))).await?;
            Ok(node)
        }
    }
}

/// Removes `name` from `dir`: a directory only if `rmdir` (and only an
/// empty one), anything else only if not.
pub async fn remove(dir: &Node, name: &str, rmdir: bool) -> Result<(), Errno> {
    match &dir.kind {
        Kind::Disk(d) => {
            let r = if rmdir { d.vol.rmdir(d.ino, name.as_bytes()).await } else { d.vol.unlink(d.ino, name.as_bytes()).await.map(drop) };
            r.map_err(disk_err(d))
        }
        _ => {
            let covered = until_free(|| dir.child(name)).await.ok().filter(|n| super::mount::covering(n).is_some());
            if covered.is_some() {
                return Err(errno::EBUSY);
            }
            until_free(|| dir.remove(name, rmdir)).await.map(drop)
        }
    }
}

/// Renames `from_dir/from` to `to_dir/to` (`no_replace`: EEXIST if `to`
/// exists). Both on one volume, or both in memory: else EXDEV.
pub async fn rename(from_dir: &Arc<Node>, from: &str, to_dir: &Arc<Node>, to: &str, no_replace: bool) -> Result<(), Errno> {
    match (&from_dir.kind, &to_dir.kind) {
        (Kind::Disk(a), Kind::Disk(b)) if Arc::ptr_eq(&a.vol, &b.vol) => {
            if no_replace && b.child(to).await.is_ok() {
                return Err(errno::EEXIST);
            }
            a.vol.rename(a.ino, from.as_bytes(), b.ino, to.as_bytes()).await.map_err(disk_err(a))
        }
        (Kind::Disk(_), _) | (_, Kind::Disk(_)) => Err(errno::EXDEV),
        _ => until_free(|| from_dir.rename(from, to_dir, to, no_replace)).await,
    }
}
