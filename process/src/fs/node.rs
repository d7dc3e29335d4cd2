//! The in-memory file system's nodes: directories, regular files, symbolic
//! links and device nodes.
//!
//! A directory's entries and a file's bytes are each behind a serializing
//! token of their own (`io::token::Guarded`), never a lock: any CPU may
//! reach them, and the code here only *tries* the token, inside a system
//! call's synchronous part. A try that finds the token busy (another CPU
//! is inside its closure now) answers [`BUSY`] before changing anything;
//! the call then waits a grace period (`io::retire::grace_period`: that
//! hold has ended by then) and runs again from the start
//! (`syscall::handle`). An operation on two nodes (`rename`, `rmdir`)
//! tries the second inside the first's closure, so it happens whole or not
//! at all.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use io::token::Guarded;
use linux::errno::{self, Errno};
use linux::flags::mode::{S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG};
use linux::structs::{Stat, Timespec};

/// What an operation answers when a node's token was busy: it changed
/// nothing, and runs again after a grace period. Linux's ERESTARTSYS,
/// which no program sees either.
pub const BUSY: Errno = Errno(512);

/// What the synchronous methods answer for a node on a disk, whose
/// contents only `fs`'s async functions reach (a caller that gets it has
/// a bug; a program sees EIO).
pub const ON_DISK: Errno = errno::EIO;

/// The device a device node stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// `/dev/null`: reads end at once, writes vanish.
    Null,
    /// `/dev/zero`: reads give zeros.
    Zero,
    /// `/dev/urandom` and `/dev/random`: the virtio entropy device.
    Random,
    /// `/dev/console`: the serial console.
    Console,
    /// `/dev/tty`: the opener's controlling terminal.
    ControllingTty,
    /// `/dev/ptmx`: each open makes a new pseudo-terminal.
    Ptmx,
    /// `/dev/vda`, `/dev/vdb`, ...: a virtio-blk disk (by index), which
    /// `mount` takes.
    Disk(u8),
}

impl Device {
    /// Its (major, minor) numbers, as Linux gives them.
    pub fn numbers(self) -> (u32, u32) {
        match self {
            Device::Null => (1, 3),
            Device::Zero => (1, 5),
            Device::Random => (1, 9),
            Device::Console => (5, 1),
            Device::ControllingTty => (5, 0),
            Device::Ptmx => (5, 2),
            Device::Disk(i) => (254, u32::from(i) * 16),
        }
    }
}

/// What a node is.
pub enum Kind {
    /// A directory: names to nodes.
    Dir(Guarded<BTreeMap<String, Arc<Node>>>),
    /// A regular file's bytes, shared with what maps or runs them: a write
    /// while they are shared copies them first (`Arc::make_mut`), so
    /// `execve` and private mappings take the bytes without a copy.
    File(Guarded<Arc<super::FileBytes>>),
    /// A symbolic link's target.
    Symlink(String),
    /// A device node.
    Device(Device),
    /// One end of a pipe (which, the open file's access mode says).
    Pipe(Arc<super::pipe::Pipe>),
    /// A socket (an end of an AF_UNIX pair, an AF_INET socket).
    Socket(super::socket::Socket),
    /// An epoll set.
    Epoll(Arc<super::epoll::EpollSet>),
    /// A terminal: a pty's terminal end (`/dev/pts/N`), or what
    /// `/dev/tty` opened.
    Tty(crate::tty::Tty),
    /// A pty's master (what an open of `/dev/ptmx` gives).
    PtyMaster(Arc<crate::tty::Pty>),
    /// `/proc`: a directory made afresh each time it is looked into.
    Proc,
    /// A file, directory or link on a mounted volume (`fs::disk`): its
    /// contents are reached only through `fs`'s async functions.
    Disk(super::disk::DiskRef),
}

impl Kind {
    /// An empty directory's.
    pub fn dir() -> Self {
        Kind::Dir(Guarded::new("directory", BTreeMap::new()))
    }

    /// A regular file's, holding `bytes`.
    pub fn file(bytes: Vec<u8>) -> Self {
        Kind::File(Guarded::new("file", Arc::new(super::FileBytes::from(bytes))))
    }
}

/// One file, directory, link or device.
pub struct Node {
    ino: u64,
    /// Permission bits (the type comes from `kind`).
    perm: AtomicU32,
    uid: AtomicU32,
    gid: AtomicU32,
    mtime: AtomicU64,
    /// What it is.
    pub kind: Kind,
}

static NEXT_INO: AtomicU64 = AtomicU64::new(1);

impl Node {
    /// A new node.
    pub fn new(kind: Kind, perm: u32, mtime: u64) -> Arc<Self> {
        Arc::new(Self {
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            perm: AtomicU32::new(perm & 0o7777),
            uid: AtomicU32::new(0),
            gid: AtomicU32::new(0),
            mtime: AtomicU64::new(mtime),
            kind,
        })
    }

    /// An empty directory.
    pub fn dir(perm: u32) -> Arc<Self> {
        Self::new(Kind::dir(), perm, 0)
    }

    /// Its inode number.
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// Type and permission bits.
    pub fn mode(&self) -> u32 {
        let kind = match self.kind {
            Kind::Dir(_) | Kind::Proc => S_IFDIR,
            Kind::File(_) => S_IFREG,
            Kind::Symlink(_) => S_IFLNK,
            Kind::Device(Device::Disk(_)) => 0o060000,
            Kind::Device(_) | Kind::Tty(_) | Kind::PtyMaster(_) => S_IFCHR,
            Kind::Pipe(_) => S_IFIFO,
            Kind::Socket(_) => linux::flags::mode::S_IFSOCK,
            // An anonymous inode: no type bits, as Linux shows it.
            Kind::Epoll(_) => 0,
            Kind::Disk(ref d) => u32::from(d.mode & 0o170000),
        };
        kind | self.perm.load(Ordering::Relaxed)
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        match &self.kind {
            Kind::Dir(_) | Kind::Proc => true,
            Kind::Disk(d) => d.is_dir(),
            _ => false,
        }
    }

    /// Its size in bytes ([`BUSY`]: the module doc).
    pub fn size(&self) -> Result<u64, Errno> {
        Ok(match &self.kind {
            Kind::File(data) => data.try_shared(|d| d.len() as u64).ok_or(BUSY)?,
            Kind::Symlink(t) => t.len() as u64,
            Kind::Dir(_) | Kind::Proc => 0,
            Kind::Device(_) | Kind::Pipe(_) | Kind::Socket(_) | Kind::Epoll(_) | Kind::Tty(_) | Kind::PtyMaster(_) => 0,
            Kind::Disk(_) => return Err(ON_DISK),
        })
    }

    /// A regular file's bytes now (shared: a write copies them first); the
    /// [`BUSY`] of the module doc. ENODEV for anything else.
    pub fn bytes(&self) -> Result<Arc<super::FileBytes>, Errno> {
        let Kind::File(data) = &self.kind else { return Err(errno::ENODEV) };
        data.try_shared(Arc::clone).ok_or(BUSY)
    }

    /// Runs `f` on a regular file's bytes, made its own first (copied if
    /// a program or a mapping shares them); the [`BUSY`] of the module
    /// doc. EINVAL for anything else.
    pub fn edit_bytes<R>(&self, f: impl FnOnce(&mut super::FileBytes) -> Result<R, Errno>) -> Result<R, Errno> {
        let Kind::File(data) = &self.kind else { return Err(errno::EINVAL) };
        data.try_exclusive(|d| f(Arc::make_mut(d))).ok_or(BUSY)?
    }

    /// Replaces a regular file's bytes with `bytes` (those shared with a
    /// program or a mapping stay as they were for it); the [`BUSY`] of the
    /// module doc. EINVAL for anything else.
    pub fn set_bytes(&self, bytes: Vec<u8>) -> Result<(), Errno> {
        let Kind::File(data) = &self.kind else { return Err(errno::EINVAL) };
        let bytes = Arc::new(super::FileBytes::from(bytes));
        data.try_exclusive(|d| *d = bytes).ok_or(BUSY)
    }

    /// What `stat` reports ([`BUSY`]: the module doc).
    pub fn stat(&self) -> Result<Stat, Errno> {
        let size = self.size()?;
        let numbers = match &self.kind {
            Kind::Device(d) => Some(d.numbers()),
            Kind::Tty(t) => Some(t.numbers()),
            Kind::PtyMaster(_) => Some(Device::Ptmx.numbers()),
            _ => None,
        };
        let rdev = numbers.map_or(0, |(major, minor)| u64::from((major << 8) | minor));
        let t = Timespec { sec: self.mtime.load(Ordering::Relaxed) as i64, nsec: 0 };
        Ok(Stat {
            dev: 1,
            ino: self.ino,
            nlink: if self.is_dir() { 2 } else { 1 },
            mode: self.mode(),
            uid: self.uid.load(Ordering::Relaxed),
            gid: self.gid.load(Ordering::Relaxed),
            rdev,
            size: size as i64,
            blksize: 4096,
            blocks: size.div_ceil(512) as i64,
            atime: t,
            mtime: t,
            ctime: t,
        })
    }

    /// The directory's entry `name` ([`BUSY`]: the module doc).
    pub fn child(&self, name: &str) -> Result<Arc<Node>, Errno> {
        match &self.kind {
            Kind::Dir(entries) => entries.try_shared(|e| e.get(name).cloned()).ok_or(BUSY)?.ok_or(errno::ENOENT),
            Kind::Proc => super::procfs::child(name),
            Kind::Disk(_) => Err(ON_DISK),
            _ => Err(errno::ENOTDIR),
        }
    }

    /// Runs `f` on the directory's entries, exclusive; ENOTDIR for
    /// anything else, [`BUSY`] as the module doc says.
    fn edit<R>(&self, f: impl FnOnce(&mut BTreeMap<String, Arc<Node>>) -> Result<R, Errno>) -> Result<R, Errno> {
        let Kind::Dir(entries) = &self.kind else { return Err(errno::ENOTDIR) };
        entries.try_exclusive(f).ok_or(BUSY)?
    }

    /// Adds `node` as `name`; EEXIST if the name is taken.
    pub fn insert(&self, name: &str, node: Arc<Node>) -> Result<(), Errno> {
        self.edit(|entries| {
            if entries.contains_key(name) {
                return Err(errno::EEXIST);
            }
            entries.insert(String::from(name), node);
            Ok(())
        })
    }

    /// Removes entry `name`; a directory only if `dir` (and then only an
    /// empty one), anything else only if not `dir`.
    pub fn remove(&self, name: &str, dir: bool) -> Result<Arc<Node>, Errno> {
        self.edit(|entries| {
            let node = entries.get(name).ok_or(errno::ENOENT)?;
            check_replaceable(node, dir)?;
            Ok(entries.remove(name).expect("present"))
        })
    }

    /// The directory's entries, in name order, as (name, inode, type bits).
    pub fn entries(&self) -> Result<Vec<(String, u64, u32)>, Errno> {
        if let Kind::Proc = self.kind {
            return super::procfs::snapshot().entries();
        }
        let Kind::Dir(entries) = &self.kind else { return Err(errno::ENOTDIR) };
        entries.try_shared(|e| e.iter().map(|(n, node)| (n.clone(), node.ino, node.mode())).collect()).ok_or(BUSY)
    }

    /// Sets its owner and group (`u32::MAX`: leave as is).
    pub fn set_owner(&self, uid: u32, gid: u32) {
        if uid != u32::MAX {
            self.uid.store(uid, Ordering::Relaxed);
        }
        if gid != u32::MAX {
            self.gid.store(gid, Ordering::Relaxed);
        }
    }

    /// Sets its permission bits.
    pub fn set_perm(&self, perm: u32) {
        self.perm.store(perm & 0o7777, Ordering::Relaxed);
    }

    /// Moves entry `name` of this directory to `to_dir` as `to_name`,
    /// replacing what was there as `rename(2)` allows (a file replaces a
    /// file, a directory an empty directory), whole or not at all; with
    /// `no_replace`, EEXIST if `to_name` exists.
    pub fn rename(self: &Arc<Self>, name: &str, to_dir: &Arc<Node>, to_name: &str, no_replace: bool) -> Result<(), Errno> {
        let Kind::Dir(_) = &to_dir.kind else { return Err(errno::ENOTDIR) };
        if Arc::ptr_eq(self, to_dir) {
            return self.edit(|entries| {
                let node = Arc::clone(entries.get(name).ok_or(errno::ENOENT)?);
                if may_take_place(entries, to_name, &node, no_replace)? {
                    entries.remove(name);
                    entries.insert(String::from(to_name), node);
                }
                Ok(())
            });
        }
        self.edit(|from| {
            let node = Arc::clone(from.get(name).ok_or(errno::ENOENT)?);
            let moved = to_dir.edit(|to| {
                let take = may_take_place(to, to_name, &node, no_replace)?;
                if take {
                    to.insert(String::from(to_name), Arc::clone(&node));
                }
                Ok(take)
            })?;
            if moved {
                from.remove(name);
            }
            Ok(())
        })
    }

    /// Marks it modified now.
    pub fn touch(&self, now: u64) {
        self.mtime.store(now, Ordering::Relaxed);
    }
}

/// Whether `node` may become entry `to_name` of `entries` by a rename:
/// `false` if it is that entry already (nothing to do), an error if the
/// entry exists and may not be replaced (`no_replace`, or as
/// [`check_replaceable`] says).
fn may_take_place(entries: &BTreeMap<String, Arc<Node>>, to_name: &str, node: &Arc<Node>, no_replace: bool) -> Result<bool, Errno> {
    let Some(existing) = entries.get(to_name) else { return Ok(true) };
    if no_replace {
        return Err(errno::EEXIST);
    }
    if Arc::ptr_eq(existing, node) {
        return Ok(false);
    }
    check_replaceable(existing, node.is_dir())?;
    Ok(true)
}

/// Whether `node` may be removed, or replaced by a rename, as a directory
/// (`dir`: only an empty one) or as anything else; its entries are tried
/// inside the caller's closure ([`BUSY`]: the module doc).
fn check_replaceable(node: &Node, dir: bool) -> Result<(), Errno> {
    match (&node.kind, dir) {
        (Kind::Dir(children), true) => match children.try_shared(BTreeMap::is_empty) {
            None => Err(BUSY),
            Some(false) => Err(errno::ENOTEMPTY),
            Some(true) => Ok(()),
        },
        (Kind::Dir(_), false) => Err(errno::EISDIR),
        (Kind::Proc, _) => Err(errno::EBUSY),
        (_, true) => Err(errno::ENOTDIR),
        _ => Ok(()),
    }
}
