//! The in-memory file system's nodes: directories, regular files, symbolic
//! links and device nodes, each behind its own lock (never held across an
//! await).

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use linux::errno::{self, Errno};
use linux::flags::mode::{S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG};
use linux::structs::{Stat, Timespec};
use spin::Mutex;

/// The device a device node stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// `/dev/null`: reads end at once, writes vanish.
    Null,
    /// `/dev/zero`: reads give zeros.
    Zero,
    /// `/dev/urandom` and `/dev/random`: the virtio entropy device.
    Random,
    /// `/dev/console` and `/dev/tty`: the serial console.
    Console,
}

impl Device {
    /// Its (major, minor) numbers, as Linux gives them.
    pub fn numbers(self) -> (u32, u32) {
        match self {
            Device::Null => (1, 3),
            Device::Zero => (1, 5),
            Device::Random => (1, 9),
            Device::Console => (5, 1),
        }
    }
}

/// What a node is.
pub enum Kind {
    /// A directory: names to nodes.
    Dir(Mutex<BTreeMap<String, Arc<Node>>>),
    /// A regular file's bytes, shared with what maps or runs them: a write
    /// while they are shared copies them first (`Arc::make_mut`), so
    /// `execve` and private mappings take the bytes without a copy.
    File(Mutex<Arc<super::FileBytes>>),
    /// A symbolic link's target.
    Symlink(String),
    /// A device node.
    Device(Device),
    /// One end of a pipe (which, the open file's access mode says).
    Pipe(Arc<super::pipe::Pipe>),
    /// `/proc`: a directory made afresh each time it is looked into.
    Proc,
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
        Self::new(Kind::Dir(Mutex::new(BTreeMap::new())), perm, 0)
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
            Kind::Device(_) => S_IFCHR,
            Kind::Pipe(_) => S_IFIFO,
        };
        kind | self.perm.load(Ordering::Relaxed)
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir(_) | Kind::Proc)
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        match &self.kind {
            Kind::File(data) => data.lock().len() as u64,
            Kind::Symlink(t) => t.len() as u64,
            Kind::Dir(_) | Kind::Proc => 0,
            Kind::Device(_) | Kind::Pipe(_) => 0,
        }
    }

    /// What `stat` reports.
    pub fn stat(&self) -> Stat {
        let size = self.size();
        let rdev = match self.kind {
            Kind::Device(d) => {
                let (major, minor) = d.numbers();
                u64::from((major << 8) | minor)
            }
            _ => 0,
        };
        let t = Timespec { sec: self.mtime.load(Ordering::Relaxed) as i64, nsec: 0 };
        Stat {
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
        }
    }

    /// The directory's entry `name`.
    pub fn child(&self, name: &str) -> Result<Arc<Node>, Errno> {
        match &self.kind {
            Kind::Dir(entries) => entries.lock().get(name).cloned().ok_or(errno::ENOENT),
            Kind::Proc => super::procfs::child(name),
            _ => Err(errno::ENOTDIR),
        }
    }

    /// Adds `node` as `name`; EEXIST if the name is taken.
    pub fn insert(&self, name: &str, node: Arc<Node>) -> Result<(), Errno> {
        let Kind::Dir(entries) = &self.kind else { return Err(errno::ENOTDIR) };
        let mut entries = entries.lock();
        if entries.contains_key(name) {
            return Err(errno::EEXIST);
        }
        entries.insert(String::from(name), node);
        Ok(())
    }

    /// Removes entry `name`; a directory only if `dir` (and then only an
    /// empty one), anything else only if not `dir`.
    pub fn remove(&self, name: &str, dir: bool) -> Result<Arc<Node>, Errno> {
        let Kind::Dir(entries) = &self.kind else { return Err(errno::ENOTDIR) };
        let mut entries = entries.lock();
        let node = entries.get(name).ok_or(errno::ENOENT)?;
        match (&node.kind, dir) {
            (Kind::Dir(children), true) if !children.lock().is_empty() => return Err(errno::ENOTEMPTY),
            (Kind::Dir(_), true) => {}
            (Kind::Dir(_), false) => return Err(errno::EISDIR),
            (_, true) => return Err(errno::ENOTDIR),
            _ => {}
        }
        Ok(entries.remove(name).expect("present"))
    }

    /// The directory's entries, in name order, as (name, inode, type bits).
    pub fn entries(&self) -> Result<Vec<(String, u64, u32)>, Errno> {
        if let Kind::Proc = self.kind {
            return super::procfs::snapshot().entries();
        }
        let Kind::Dir(entries) = &self.kind else { return Err(errno::ENOTDIR) };
        Ok(entries.lock().iter().map(|(n, node)| (n.clone(), node.ino, node.mode())).collect())
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
    /// file, a directory an empty directory).
    pub fn rename(self: &Arc<Self>, name: &str, to_dir: &Arc<Node>, to_name: &str) -> Result<(), Errno> {
        let node = self.child(name)?;
        if let Ok(existing) = to_dir.child(to_name) {
            if Arc::ptr_eq(&existing, &node) {
                return Ok(());
            }
            match (node.is_dir(), existing.is_dir()) {
                (true, false) => return Err(errno::ENOTDIR),
                (false, true) => return Err(errno::EISDIR),
                _ => {}
            }
            to_dir.remove(to_name, existing.is_dir())?;
        }
        self.remove(name, node.is_dir())?;
        to_dir.insert(to_name, node)
    }

    /// Marks it modified now.
    pub fn touch(&self, now: u64) {
        self.mtime.store(now, Ordering::Relaxed);
    }
}
