//! The namespace: making, linking, unlinking and renaming files and
//! directories, symbolic links, attributes, as POSIX says each behaves.
//!
//! Each operation checks everything it can before it writes anything;
//! where it must write several structures, it writes in the order that
//! leaves the least for `e2fsck` after a crash in between (a new name
//! before the old one goes; an inode's blocks freed before the inode).

use alloc::vec::Vec;

use io::block::BlockDevice;

use crate::dir::check_name;
use crate::inode::{FAST_SYMLINK_MAX, Ino, Inode, ROOT, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use crate::order::{Class, Phase};
use crate::volume::Volume;
use crate::{Error, Result};

/// Linux's ext2 link limit.
const LINK_MAX: u16 = 32000;
/// An extended-attribute block's magic.
const XATTR_MAGIC: u32 = 0xEA02_0000;

/// What `stat` shows of an inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Its number.
    pub ino: Ino,
    /// Type and permissions.
    pub mode: u16,
    /// Links.
    pub links: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Bytes.
    pub size: u64,
    /// 512-byte sectors allocated.
    pub sectors: u64,
    /// Last access, change and modification (seconds).
    pub atime: u32,
    /// Last change of the inode.
    pub ctime: u32,
    /// Last change of the contents.
    pub mtime: u32,
}

/// What an unlink left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unlinked {
    /// The inode the name named.
    pub ino: Ino,
    /// Its last name went: [`Volume::release`] frees it once nothing holds
    /// it open.
    pub last: bool,
}

/// Attributes to change (`chmod`, `chown`, `utimensat`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SetAttr {
    /// New permission bits.
    pub permissions: Option<u16>,
    /// New owner.
    pub uid: Option<u32>,
    /// New group.
    pub gid: Option<u32>,
    /// New access time.
    pub atime: Option<u32>,
    /// New modification time.
    pub mtime: Option<u32>,
}

impl<D: BlockDevice> Volume<D> {
    /// The root directory.
    pub fn root(&self) -> Ino {
        ROOT
    }

    /// What `stat` shows of `ino`.
    pub async fn stat(&mut self, ino: Ino) -> Result<Stat> {
        let i = self.inode(ino).await?;
        let (atime, ctime, mtime) = i.times();
        Ok(Stat {
            ino,
            mode: i.mode(),
            links: i.links(),
            uid: i.uid(),
            gid: i.gid(),
            size: i.size(),
            sectors: i.sectors(),
            atime,
            ctime,
            mtime,
        })
    }

    fn writable(&self) -> Result<()> {
        if self.read_only { Err(Error::ReadOnly) } else { Ok(()) }
    }

    /// A new inode of `mode` in directory `dir` under `name`.
    async fn make(&mut self, dir: Ino, name: &[u8], mode: u16, uid: u32, gid: u32) -> Result<(Ino, Inode)> {
        self.writable()?;
        check_name(name)?;
        self.begin(Phase::Grow).await?;
        if self.find(dir, name).await?.is_some() {
            return Err(Error::Exists);
        }
        let is_dir = mode & S_IFMT == S_IFDIR;
        let ino = self.alloc_inode(dir, is_dir).await?;
        let inode = Inode::new(self.sb.inode_size() as usize, mode, uid, gid, self.now());
        Ok((ino, inode))
    }

    /// Creates regular file `name` in `dir` (empty) with `permissions`.
    pub async fn create(&mut self, dir: Ino, name: &[u8], permissions: u16, uid: u32, gid: u32) -> Result<Ino> {
        let mode = S_IFREG | (permissions & 0o7777);
        let (ino, inode) = self.make(dir, name, mode, uid, gid).await?;
        self.put_inode(ino, &inode).await?;
        self.add_entry(dir, name, ino, mode).await?;
        Ok(ino)
    }

    /// Creates directory `name` in `dir`.
    pub async fn mkdir(&mut self, dir: Ino, name: &[u8], permissions: u16, uid: u32, gid: u32) -> Result<Ino> {
        let mut parent = self.dir_inode(dir).await?;
        if parent.links() >= LINK_MAX {
            return Err(Error::TooManyLinks);
        }
        let mode = S_IFDIR | (permissions & 0o7777);
        let (ino, mut inode) = self.make(dir, name, mode, uid, gid).await?;
        let goal = self.inode_goal(ino);
        let (b, _) = self.map_alloc(ino, &mut inode, 0, goal, Class::Dir).await?;
        let with_type = self.sb.has_incompat(crate::superblock::INCOMPAT_FILETYPE);
        crate::dirent::init_dir(self.block_mut(b, Class::Dir).await?, ino, dir, with_type);
        inode.set_size(u64::from(self.sb.block_size));
        inode.set_links(2);
        self.put_inode(ino, &inode).await?;
        self.add_entry(dir, name, ino, mode).await?;
        parent = self.inode(dir).await?;
        parent.set_links(parent.links() + 1);
        self.put_inode(dir, &parent).await?;
        Ok(ino)
    }

    /// Creates symbolic link `name` in `dir` pointing at `target`.
    pub async fn symlink(&mut self, dir: Ino, name: &[u8], target: &[u8], uid: u32, gid: u32) -> Result<Ino> {
        if target.is_empty() {
            return Err(Error::NotFound);
        }
        if target.len() >= self.sb.block_size as usize {
            return Err(Error::NameTooLong);
        }
        let mode = S_IFLNK | 0o777;
        let (ino, mut inode) = self.make(dir, name, mode, uid, gid).await?;
        if target.len() < FAST_SYMLINK_MAX {
            inode.set_pointer_bytes(target);
            inode.set_size(target.len() as u64);
        } else {
            // A slow link's target is file data (written as a file's is).
            let goal = self.inode_goal(ino);
            let (b, _) = self.map_alloc(ino, &mut inode, 0, goal, Class::Data).await?;
            self.block_mut(b, Class::Data).await?[..target.len()].copy_from_slice(target);
            inode.set_size(target.len() as u64);
        }
        self.put_inode(ino, &inode).await?;
        self.add_entry(dir, name, ino, mode).await?;
        Ok(ino)
    }

    /// The target of symbolic link `ino`.
    pub async fn readlink(&mut self, ino: Ino) -> Result<Vec<u8>> {
        let inode = self.inode(ino).await?;
        if inode.kind() != S_IFLNK {
            return Err(Error::Invalid);
        }
        let len = inode.size() as usize;
        if inode.is_fast_symlink(self.sb.block_size) {
            if len >= FAST_SYMLINK_MAX {
                return Err(crate::corrupt!("symbolic link {ino} claims {len} bytes in its inode"));
            }
            return Ok(inode.pointer_bytes()[..len].to_vec());
        }
        if len >= self.sb.block_size as usize {
            return Err(crate::corrupt!("symbolic link {ino} is {len} bytes long"));
        }
        let mut out = Vec::with_capacity(len);
        self.read_inode_data(ino, &inode, 0, len, &mut out).await?;
        Ok(out)
    }

    /// Adds name `name` in `dir` for existing inode `ino` (not a directory).
    pub async fn link(&mut self, dir: Ino, name: &[u8], ino: Ino) -> Result<()> {
        self.writable()?;
        check_name(name)?;
        let mut inode = self.inode(ino).await?;
        if inode.is_dir() {
            return Err(Error::NotPermitted);
        }
        if inode.links() >= LINK_MAX {
            return Err(Error::TooManyLinks);
        }
        if self.find(dir, name).await?.is_some() {
            return Err(Error::Exists);
        }
        self.begin(Phase::Grow).await?;
        self.add_entry(dir, name, ino, inode.mode()).await?;
        inode.set_links(inode.links() + 1);
        let now = self.now();
        inode.set_times(None, Some(now), None);
        self.put_inode(ino, &inode).await
    }

    /// Removes name `name` (not a directory) from `dir`.
    pub async fn unlink(&mut self, dir: Ino, name: &[u8]) -> Result<Unlinked> {
        self.writable()?;
        let found = self.find(dir, name).await?.ok_or(Error::NotFound)?;
        let mut inode = self.inode(found.ino).await?;
        if inode.is_dir() {
            return Err(Error::IsDir);
        }
        self.begin(Phase::Shrink).await?;
        self.remove_entry(dir, name, &found).await?;
        let links = inode.links().saturating_sub(1);
        inode.set_links(links);
        let now = self.now();
        inode.set_times(None, Some(now), None);
        self.put_inode(found.ino, &inode).await?;
        Ok(Unlinked { ino: found.ino, last: links == 0 })
    }

    /// Removes empty directory `name` from `dir` and frees it.
    pub async fn rmdir(&mut self, dir: Ino, name: &[u8]) -> Result<()> {
        self.writable()?;
        if name == b"." {
            return Err(Error::Invalid);
        }
        if name == b".." {
            return Err(Error::NotEmpty);
        }
        let found = self.find(dir, name).await?.ok_or(Error::NotFound)?;
        let inode = self.inode(found.ino).await?;
        if !inode.is_dir() {
            return Err(Error::NotDir);
        }
        if !self.is_empty(found.ino).await? {
            return Err(Error::NotEmpty);
        }
        self.begin(Phase::Shrink).await?;
        self.remove_entry(dir, name, &found).await?;
        let mut parent = self.inode(dir).await?;
        parent.set_links(parent.links().saturating_sub(1));
        self.put_inode(dir, &parent).await?;
        let mut inode = self.inode(found.ino).await?;
        inode.set_links(0);
        self.put_inode(found.ino, &inode).await?;
        self.release(found.ino).await
    }

    /// Frees inode `ino` if no name is left for it (after the last
    /// [`Volume::unlink`], once nothing holds it open).
    pub async fn release(&mut self, ino: Ino) -> Result<()> {
        self.writable()?;
        let mut inode = self.inode(ino).await?;
        if inode.links() != 0 {
            return Ok(());
        }
        self.begin(Phase::Shrink).await?;
        if !inode.is_fast_symlink(self.sb.block_size) {
            self.free_from(ino, &mut inode, 0).await?;
        }
        let xattr = inode.xattr_block();
        if xattr != 0 {
            self.drop_xattr_block(ino, xattr).await?;
            inode.set_xattr_block(0);
            inode.set_sectors(inode.sectors().saturating_sub(u64::from(self.sb.block_size / 512)));
        }
        let now = self.now();
        inode.set_links(0);
        inode.set_dtime(now);
        let dir = inode.is_dir();
        if dir {
            self.names.forget(ino);
        }
        self.put_inode(ino, &inode).await?;
        self.free_inode(ino, dir).await
    }

    /// One reference less to a shared extended-attribute block.
    async fn drop_xattr_block(&mut self, ino: Ino, b: u32) -> Result<()> {
        let (magic, refs) = {
            let data = self.block(b).await?;
            (crate::bytes::u32_at(data, 0), crate::bytes::u32_at(data, 4))
        };
        if magic != XATTR_MAGIC || refs == 0 {
            return Err(crate::corrupt!("inode {ino}'s attribute block {b} has magic {magic:#x} and {refs} references"));
        }
        if refs == 1 {
            self.free_block(b).await
        } else {
            crate::bytes::put_u32(self.block_mut(b, Class::Bitmap).await?, 4, refs - 1);
            Ok(())
        }
    }

    /// Changes attributes of `ino`.
    pub async fn set_attr(&mut self, ino: Ino, attr: SetAttr) -> Result<()> {
        self.writable()?;
        // An inode's attributes alone: safe in either phase.
        self.begin(self.phase.unwrap_or(Phase::Grow)).await?;
        let mut inode = self.inode(ino).await?;
        if let Some(p) = attr.permissions {
            inode.set_permissions(p);
        }
        if attr.uid.is_some() || attr.gid.is_some() {
            inode.set_owner(attr.uid.unwrap_or(inode.uid()), attr.gid.unwrap_or(inode.gid()));
        }
        let now = self.now();
        inode.set_times(attr.atime, Some(now), attr.mtime);
        self.put_inode(ino, &inode).await
    }
}
