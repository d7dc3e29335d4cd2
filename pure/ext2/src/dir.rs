//! Directories: lookup, listing, and adding and removing entries, block
//! by block through the directory's map.
//!
//! A directory with a hashed index (`dir_index`) reads as a plain one: the
//! index hides in records a linear reader sees as free room. Changing such
//! a directory clears its index flag (Linux's ext2 does the same), since
//! this implementation does not keep the index up to date.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use io::block::BlockDevice;

use crate::dirent::{self, NAME_MAX, file_type};
use crate::inode::{FLAG_INDEX, Ino, Inode};
use crate::names::Place;
use crate::order::Class;
use crate::superblock::INCOMPAT_FILETYPE;
use crate::volume::Volume;
use crate::{Error, Result};

/// One entry of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// Its name.
    pub name: Vec<u8>,
    /// Its inode.
    pub ino: Ino,
    /// Its file type as stored (0 without `filetype`).
    pub file_type: u8,
}

/// Where an entry was found.
pub(crate) struct Found {
    pub ino: Ino,
    pub block: u32,
    pub offset: usize,
}

/// Checks a name for a new entry.
pub(crate) fn check_name(name: &[u8]) -> Result<()> {
    if name.len() > NAME_MAX {
        return Err(Error::NameTooLong);
    }
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0) {
        return Err(Error::Invalid);
    }
    Ok(())
}

impl<D: BlockDevice> Volume<D> {
    /// A directory's inode, or NotDir.
    pub(crate) async fn dir_inode(&mut self, dir: Ino) -> Result<Inode> {
        let inode = self.inode(dir).await?;
        if !inode.is_dir() {
            return Err(Error::NotDir);
        }
        let bs = u64::from(self.sb.block_size);
        if inode.size() % bs != 0 {
            return Err(crate::corrupt!("directory {dir}'s size {} is not a whole number of blocks", inode.size()));
        }
        Ok(inode)
    }

    /// The disk block of directory block `i` (a hole is corruption).
    async fn dir_block(&mut self, dir: Ino, inode: &Inode, i: u64) -> Result<u32> {
        self.map(dir, inode, i).await?.ok_or_else(|| crate::corrupt!("directory {dir} has a hole at block {i}"))
    }

    /// Calls `f` on each live entry until it returns Some.
    async fn scan<T>(&mut self, dir: Ino, inode: &Inode, mut f: impl FnMut(u32, &dirent::Entry<'_>) -> Option<T>) -> Result<Option<T>> {
        let blocks = inode.size() / u64::from(self.sb.block_size);
        for i in 0..blocks {
            let b = self.dir_block(dir, inode, i).await?;
            let what = || alloc::format!("directory {dir}, block {i} (disk block {b})");
            let data = self.block(b).await?;
            for e in dirent::entries(data, &what)? {
                if let Some(t) = f(b, &e) {
                    return Ok(Some(t));
                }
            }
        }
        Ok(None)
    }

    /// `name` in `dir`: from the directory's index in memory (`names`),
    /// built by a full scan the first time.
    pub(crate) async fn find(&mut self, dir: Ino, name: &[u8]) -> Result<Option<Found>> {
        let found = |p: Place| Found { ino: p.ino, block: p.block, offset: p.offset };
        if let Some(known) = self.names.find(dir, name) {
            return Ok(known.map(found));
        }
        let inode = self.dir_inode(dir).await?;
        let mut all = BTreeMap::new();
        let scanned = self
            .scan(dir, &inode, |b, e| {
                all.insert(e.name.to_vec(), Place { ino: e.ino, block: b, offset: e.offset });
                None::<()>
            })
            .await;
        if scanned.is_ok() {
            let place = all.get(name).copied();
            self.names.put(dir, all);
            return Ok(place.map(found));
        }
        // A damaged block: what lies before it is still found.
        self.scan(dir, &inode, |b, e| (e.name == name).then_some(Found { ino: e.ino, block: b, offset: e.offset })).await
    }

    /// The inode `name` names in directory `dir`.
    pub async fn lookup(&mut self, dir: Ino, name: &[u8]) -> Result<Ino> {
        if name.len() > NAME_MAX {
            return Err(Error::NameTooLong);
        }
        let found = self.find(dir, name).await?.ok_or(Error::NotFound)?;
        if found.ino > self.sb.inodes_count() {
            return Err(crate::corrupt!(
                "directory {dir}'s entry {:?} names inode {}, out of range",
                String::from_utf8_lossy(name),
                found.ino
            ));
        }
        Ok(found.ino)
    }

    /// Every entry of directory `dir`, `.` and `..` included, in disk order.
    pub async fn list(&mut self, dir: Ino) -> Result<Vec<DirEntry>> {
        let inode = self.dir_inode(dir).await?;
        let mut out = Vec::new();
        self.scan(dir, &inode, |_, e| {
            out.push(DirEntry { name: e.name.to_vec(), ino: e.ino, file_type: e.file_type });
            None::<()>
        })
        .await?;
        Ok(out)
    }

    /// Whether directory `dir` holds only `.` and `..`.
    pub(crate) async fn is_empty(&mut self, dir: Ino) -> Result<bool> {
        let inode = self.dir_inode(dir).await?;
        let other = self.scan(dir, &inode, |_, e| (e.name != b"." && e.name != b"..").then_some(())).await?;
        Ok(other.is_none())
    }

    /// The type byte for an entry of an inode with `mode`.
    pub(crate) fn type_byte(&self, mode: u16) -> u8 {
        if self.sb.has_incompat(INCOMPAT_FILETYPE) { file_type::of_mode(mode) } else { 0 }
    }

    /// Adds `name` -> `ino` to directory `dir` (growing it by a block if no
    /// block has room). The name must not exist.
    pub(crate) async fn add_entry(&mut self, dir: Ino, name: &[u8], ino: Ino, mode: u16) -> Result<()> {
        let mut inode = self.dir_inode(dir).await?;
        let t = self.type_byte(mode);
        let bs = u64::from(self.sb.block_size);
        let blocks = inode.size() / bs;
        let mut placed = false;
        // From the block the last entry went into (`names`), round to it.
        let first = self.names.room(dir).min(blocks);
        for i in (first..blocks).chain(0..first) {
            let b = self.dir_block(dir, &inode, i).await?;
            let what = || alloc::format!("directory {dir}, block {i} (disk block {b})");
            // Look for room on a read first: a full block is not dirtied.
            if let Some(at) = dirent::room(self.block(b).await?, name.len(), &what)? {
                let offset = dirent::insert_at(self.block_mut(b, Class::Dir).await?, at, ino, name, t, &what)?;
                self.names.added(dir, name, Place { ino, block: b, offset }, i);
                placed = true;
                break;
            }
        }
        if !placed {
            let goal = self.inode_goal(dir);
            let (b, _) = self.map_alloc(dir, &mut inode, blocks, goal, Class::Dir).await?;
            let data = self.block_mut(b, Class::Dir).await?;
            dirent::init_empty(data);
            let offset = dirent::insert(data, ino, name, t, &|| String::new())?.unwrap_or(0);
            self.names.added(dir, name, Place { ino, block: b, offset }, blocks);
            inode.set_size((blocks + 1) * bs);
        }
        self.touch_dir(&mut inode);
        self.put_inode(dir, &inode).await
    }

    /// Removes the entry `name` found at `at` from directory `dir`.
    pub(crate) async fn remove_entry(&mut self, dir: Ino, name: &[u8], at: &Found) -> Result<()> {
        let mut inode = self.dir_inode(dir).await?;
        let what = || alloc::format!("directory {dir}, disk block {}", at.block);
        dirent::remove(self.block_mut(at.block, Class::Dir).await?, at.offset, &what)?;
        self.names.removed(dir, name);
        self.touch_dir(&mut inode);
        self.put_inode(dir, &inode).await
    }

    /// Points the entry `name` found at `at` at another inode.
    pub(crate) async fn retarget_entry(&mut self, dir: Ino, name: &[u8], at: &Found, ino: Ino, mode: u16) -> Result<()> {
        let t = self.type_byte(mode);
        dirent::retarget(self.block_mut(at.block, Class::Dir).await?, at.offset, ino, t);
        self.names.retargeted(dir, name, ino);
        let mut inode = self.dir_inode(dir).await?;
        self.touch_dir(&mut inode);
        self.put_inode(dir, &inode).await
    }

    /// A changed directory: new times, and its hashed index dropped.
    pub(crate) fn touch_dir(&self, inode: &mut Inode) {
        let now = self.now();
        inode.set_times(None, Some(now), Some(now));
        if inode.flags() & FLAG_INDEX != 0 {
            inode.set_flags(inode.flags() & !FLAG_INDEX);
        }
    }
}
