//! Files on a mounted ext2 volume as the tree of nodes sees them: a node
//! of kind [`Kind::Disk`] names an inode of a volume ([`DiskRef`]); what
//! it holds is asked of the volume's service (`fs::volume`) each time, so
//! every CPU sees what the owner has (nothing is cached on the way).
//!
//! Errors: the volume's own become the errno Linux gives; damage and disk
//! errors are logged with the disk's name before they reach the program
//! as EIO.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use linux::errno::{self, Errno};
use linux::structs::{Stat, Timespec};

use super::cpu_pages;
use super::node::{Kind, Node};
use super::volume::Mounted;

/// Bytes moved per request to the volume.
const CHUNK: usize = 64 * 1024;

/// Reads smaller than this use and keep this CPU's page copies.
const COPY_BELOW: usize = 16 * 1024;
/// Largest file `execve` and `mmap` take whole into memory.
const WHOLE_MAX: u64 = 64 << 20;

/// An inode of a mounted volume.
pub struct DiskRef {
    /// The volume.
    pub vol: Arc<Mounted>,
    /// The inode.
    pub ino: u32,
    /// Its type and permissions when it was looked up (the type never
    /// changes; `stat` asks again for the rest).
    pub mode: u16,
}

/// The errno for a volume's error (the module doc).
pub fn errno_of(vol: &Mounted, e: ext2::Error) -> Errno {
    if matches!(e, ext2::Error::Corrupt(_) | ext2::Error::Io(_)) {
        log::error!("ext2 on {}: {e}", vol.name());
    }
    Errno(e.errno())
}

/// A node for inode `ino` of `vol`, of which `st` is the `stat`.
pub fn node(vol: &Arc<Mounted>, ino: u32, st: &ext2::Stat) -> Arc<Node> {
    Node::new(Kind::Disk(DiskRef { vol: Arc::clone(vol), ino, mode: st.mode }), u32::from(st.mode & 0o7777), u64::from(st.mtime))
}

/// The node of `vol`'s root directory.
pub async fn root(vol: &Arc<Mounted>) -> Result<Arc<Node>, Errno> {
    let st = vol.stat(ext2::ROOT).await.map_err(|e| errno_of(vol, e))?;
    Ok(node(vol, ext2::ROOT, &st))
}

impl DiskRef {
    fn err(&self, e: ext2::Error) -> Errno {
        errno_of(&self.vol, e)
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & ext2::inode::S_IFMT == ext2::inode::S_IFDIR
    }

    /// Whether it is a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.mode & ext2::inode::S_IFMT == ext2::inode::S_IFLNK
    }

    /// Whether it is a regular file.
    pub fn is_file(&self) -> bool {
        self.mode & ext2::inode::S_IFMT == ext2::inode::S_IFREG
    }

    /// Whether both name one inode of one volume.
    pub fn same(&self, other: &DiskRef) -> bool {
        Arc::ptr_eq(&self.vol, &other.vol) && self.ino == other.ino
    }

    /// The directory's entry `name`.
    pub async fn child(&self, name: &str) -> Result<Arc<Node>, Errno> {
        if !self.is_dir() {
            return Err(errno::ENOTDIR);
        }
        let (ino, st) = self.vol.lookup(self.ino, name.as_bytes()).await.map_err(|e| self.err(e))?;
        Ok(node(&self.vol, ino, &st))
    }

    /// The directory's entry `name` for a path walk going on through it
    /// (`Mounted::lookup_on_the_way`: a node whose type is sure, not its
    /// other attributes; `stat` asks the volume anyway).
    pub async fn child_on_the_way(&self, name: &str) -> Result<Arc<Node>, Errno> {
        if !self.is_dir() {
            return Err(errno::ENOTDIR);
        }
        let (ino, st) = self.vol.lookup_on_the_way(self.ino, name.as_bytes()).await.map_err(|e| self.err(e))?;
        Ok(node(&self.vol, ino, &st))
    }

    /// What `stat` reports.
    pub async fn stat(&self) -> Result<Stat, Errno> {
        let st = self.vol.stat(self.ino).await.map_err(|e| self.err(e))?;
        let t = |s: u32| Timespec { sec: i64::from(s), nsec: 0 };
        Ok(Stat {
            dev: self.vol.device_number(),
            ino: u64::from(self.ino),
            nlink: u64::from(st.links),
            mode: u32::from(st.mode),
            uid: st.uid,
            gid: st.gid,
            rdev: 0,
            size: st.size as i64,
            blksize: 4096,
            blocks: st.sectors as i64,
            atime: t(st.atime),
            mtime: t(st.mtime),
            ctime: t(st.ctime),
        })
    }

    /// Its size in bytes.
    pub async fn size(&self) -> Result<u64, Errno> {
        Ok(self.vol.stat(self.ino).await.map_err(|e| self.err(e))?.size)
    }

    /// The directory's entries but `.` and `..`, as (name, inode, type
    /// bits).
    pub async fn entries(&self) -> Result<Vec<(String, u64, u32)>, Errno> {
        let list = self.vol.list(self.ino).await.map_err(|e| self.err(e))?;
        Ok(list
            .into_iter()
            .filter(|e| e.name != b"." && e.name != b"..")
            .map(|e| {
                let kind = match e.file_type {
                    ext2::dirent::file_type::DIR => 0o040000,
                    ext2::dirent::file_type::LNK => 0o120000,
                    ext2::dirent::file_type::CHR => 0o020000,
                    ext2::dirent::file_type::BLK => 0o060000,
                    ext2::dirent::file_type::FIFO => 0o010000,
                    ext2::dirent::file_type::SOCK => 0o140000,
                    _ => 0o100000,
                };
                (String::from_utf8_lossy(&e.name).into_owned(), u64::from(e.ino), kind)
            })
            .collect())
    }

    /// A symbolic link's target.
    pub async fn readlink(&self) -> Result<String, Errno> {
        let t = self.vol.readlink(self.ino).await.map_err(|e| self.err(e))?;
        String::from_utf8(t).map_err(|_| errno::EINVAL)
    }

    /// Reads from byte `offset` into `buf`; the bytes read.
    ///
    /// A small read (under [`COPY_BELOW`]) is where a message to the
    /// volume's service costs most: pages this CPU holds a current copy of
    /// are copied here, and the rest are asked of the service, page-aligned,
    /// and kept (`cpu_pages`). A larger read goes to the service whole
    /// (one message per 64 KiB), without keeping copies: a stream read
    /// once would only push other pages out and pay for a second copy.
    pub async fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if buf.len() >= COPY_BELOW {
            return self.read_through(offset, buf).await;
        }
        let (volume, ino) = (self.vol.id(), self.ino);
        let mut done = 0;
        while done < buf.len() {
            let pos = offset + done as u64;
            let generation = self.vol.generation(ino);
            if let Some(n) = cpu_pages::read(volume, ino, generation, pos, &mut buf[done..]) {
                if n == 0 {
                    break;
                }
                done += n;
                continue;
            }
            let start = pos - pos % cpu_pages::PAGE;
            let want = ((pos - start) as usize + buf.len() - done).next_multiple_of(cpu_pages::PAGE as usize).min(CHUNK);
            let (got, size, generation) = self.vol.read_pages(ino, start, want).await.map_err(|e| self.err(e))?;
            cpu_pages::keep(volume, ino, start, &got, size, generation);
            let from = ((pos - start) as usize).min(got.len());
            let n = (got.len() - from).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&got[from..from + n]);
            done += n;
            if n == 0 || start + got.len() as u64 >= size {
                break;
            }
        }
        Ok(done)
    }

    /// A read of `len` bytes from `offset` answered whole from this CPU's
    /// current page copy (`cpu_pages`), `put` given the bytes: the count
    /// and what `put` returned, or `None` (the general path reads it).
    pub fn read_cached<R>(&self, offset: u64, len: usize, put: impl FnOnce(&[u8]) -> R) -> Option<(usize, R)> {
        if len >= COPY_BELOW {
            return None;
        }
        cpu_pages::read_with(self.vol.id(), self.ino, self.vol.generation(self.ino), offset, len, true, put)
    }

    /// Up to `len` bytes (at most a chunk) from byte `offset`, as the
    /// volume's service answered them (for a caller that copies them on
    /// itself: no buffer of its own to zero and fill first); `None` for a
    /// read small enough for this CPU's page copies ([`Self::read_at`]).
    pub async fn read_chunk(&self, offset: u64, len: usize) -> Option<Result<Vec<u8>, Errno>> {
        if len < COPY_BELOW {
            return None;
        }
        Some(self.vol.read(self.ino, offset, len.min(CHUNK)).await.map_err(|e| self.err(e)))
    }

    /// Reads from byte `offset` into `buf` through the volume's service
    /// alone; the bytes read.
    async fn read_through(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let mut done = 0;
        while done < buf.len() {
            let want = (buf.len() - done).min(CHUNK);
            let got = self.vol.read(self.ino, offset + done as u64, want).await.map_err(|e| self.err(e))?;
            buf[done..done + got.len()].copy_from_slice(&got);
            done += got.len();
            if got.len() < want {
                break;
            }
        }
        Ok(done)
    }

    /// Writes `buf` at byte `offset`; the bytes written.
    pub async fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        let mut done = 0;
        while done < buf.len() {
            let part = &buf[done..(done + CHUNK).min(buf.len())];
            match self.vol.write(self.ino, offset + done as u64, part.to_vec()).await {
                Ok(n) => done += n,
                Err(e) if done > 0 => {
                    log::debug!("ext2 on {}: a write stopped after {done} bytes: {e}", self.vol.name());
                    break;
                }
                Err(e) => return Err(self.err(e)),
            }
        }
        Ok(done)
    }

    /// Writes `buf` at the end (the service's end: appends never overlap);
    /// the bytes written and the new end.
    pub async fn append(&self, buf: &[u8]) -> Result<(usize, u64), Errno> {
        let mut done = 0;
        let mut end = 0;
        while done < buf.len() {
            let part = &buf[done..(done + CHUNK).min(buf.len())];
            let (n, e) = self.vol.append(self.ino, part.to_vec()).await.map_err(|e| self.err(e))?;
            done += n;
            end = e;
            if n < part.len() {
                break;
            }
        }
        Ok((done, end))
    }

    /// The whole file in memory (what `execve` and `mmap` take).
    pub async fn whole(&self) -> Result<Arc<super::FileBytes>, Errno> {
        if !self.is_file() {
            return Err(errno::EACCES);
        }
        let size = self.size().await?;
        // The bytes live in the kernel heap, whose exhaustion stops the
        // machine: within the budget for programs' data and a quarter of
        // what the heap has free (as a file in memory grows).
        let (used, limit) = crate::budget::usage();
        let headroom = kernel::heap::stats().free / 4;
        if size > WHOLE_MAX || size > headroom || size as usize > limit.saturating_sub(used) {
            return Err(errno::ENOMEM);
        }
        let mut bytes = alloc::vec![0u8; size as usize];
        let n = self.read_at(0, &mut bytes).await?;
        bytes.truncate(n);
        Ok(Arc::new(super::FileBytes::from(bytes)))
    }
}
