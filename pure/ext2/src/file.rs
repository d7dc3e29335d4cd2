//! File contents: reading through the block map (holes read as zeros),
//! writing (blocks allocated as the file grows), and changing the size.

use io::block::BlockDevice;

use crate::inode::{Ino, Inode, S_IFREG};
use crate::order::{Class, Phase};
use crate::volume::Volume;
use crate::{Error, Result};

/// Bytes read ahead of a sequential reader (and at most in one request).
const READAHEAD_BYTES: u64 = 256 * 1024;

impl<D: BlockDevice> Volume<D> {
    /// Reads from byte `offset` of `ino` into `buf`; returns the bytes read
    /// (fewer at the end of the file).
    pub async fn read(&mut self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let inode = self.inode(ino).await?;
        if inode.is_dir() {
            return Err(Error::IsDir);
        }
        self.read_inode_data(ino, &inode, offset, buf).await
    }

    pub(crate) async fn read_inode_data(&mut self, ino: Ino, inode: &Inode, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let size = inode.size();
        if offset >= size {
            return Ok(0);
        }
        let len = (buf.len() as u64).min(size - offset) as usize;
        let bs = u64::from(self.sb.block_size);
        // Readahead: the blocks this read spans, and more past them when
        // it continues where the last read of this file ended.
        let sequential = self.last_read == Some((ino, offset));
        let span_end = (offset + len as u64).div_ceil(bs);
        let ahead = READAHEAD_BYTES / bs;
        let ahead_end = if sequential { span_end + ahead } else { span_end }.min(size.div_ceil(bs));
        let mut done = 0;
        while done < len {
            let pos = offset + done as u64;
            let within = (pos % bs) as usize;
            let n = (bs as usize - within).min(len - done);
            match self.map(ino, inode, pos / bs).await? {
                Some(b) => {
                    if !self.cached(b) {
                        self.read_ahead(ino, inode, pos / bs, b, ahead_end).await?;
                    }
                    let data = self.block(b).await?;
                    buf[done..done + n].copy_from_slice(&data[within..within + n]);
                }
                None => buf[done..done + n].fill(0),
            }
            done += n;
        }
        self.last_read = Some((ino, offset + len as u64));
        Ok(len)
    }

    /// Reads logical block `n` of `inode` (on disk block `b`) together with
    /// the following blocks up to `end` that lie right after it on the disk
    /// and are not cached: one request for the run.
    async fn read_ahead(&mut self, ino: Ino, inode: &Inode, n: u64, b: u32, end: u64) -> Result<()> {
        let most = READAHEAD_BYTES / u64::from(self.sb.block_size);
        let mut count = 1u32;
        while u64::from(count) < most && n + u64::from(count) < end {
            match self.map(ino, inode, n + u64::from(count)).await? {
                Some(next) if next == b + count && !self.cached(next) => count += 1,
                _ => break,
            }
        }
        self.load_run(b, count).await
    }

    /// Writes `data` at byte `offset` of regular file `ino`, growing it as
    /// needed; returns the bytes written (all, or an error: a write that
    /// runs out of space keeps what it wrote and reports ENOSPC only if it
    /// wrote nothing).
    pub async fn write(&mut self, ino: Ino, offset: u64, data: &[u8]) -> Result<usize> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        self.begin(Phase::Grow).await?;
        let mut inode = self.inode(ino).await?;
        if inode.kind() != S_IFREG {
            return Err(if inode.is_dir() { Error::IsDir } else { Error::Invalid });
        }
        let written = self.write_inode_data(ino, &mut inode, offset, data).await;
        let now = self.now();
        inode.set_times(None, Some(now), Some(now));
        self.put_inode(ino, &inode).await?;
        match written {
            Ok(n) => Ok(n),
            Err(Error::NoSpace) if inode.size() > offset => Ok((inode.size() - offset).min(data.len() as u64) as usize),
            Err(e) => Err(e),
        }
    }

    /// Writes into `inode`'s blocks and raises its size; the caller stores
    /// the inode (also after an error: what was allocated is in it).
    pub(crate) async fn write_inode_data(&mut self, ino: Ino, inode: &mut Inode, offset: u64, data: &[u8]) -> Result<usize> {
        let bs = u64::from(self.sb.block_size);
        let end = offset.checked_add(data.len() as u64).ok_or(Error::TooBig)?;
        if end.div_ceil(bs) > self.max_blocks() {
            return Err(Error::TooBig);
        }
        if end > u64::from(u32::MAX) && !self.sb.has_ro_compat(crate::superblock::RO_COMPAT_LARGE_FILE) {
            self.sb.set_ro_compat(crate::superblock::RO_COMPAT_LARGE_FILE);
            self.meta_dirty = true;
        }
        let mut done = 0;
        let mut goal = self.inode_goal(ino);
        while done < data.len() {
            let pos = offset + done as u64;
            let within = (pos % bs) as usize;
            let n = (bs as usize - within).min(data.len() - done);
            let (b, _fresh) = self.map_alloc(ino, inode, pos / bs, goal, Class::Data).await?;
            goal = b + 1;
            self.block_mut(b, Class::Data).await?[within..within + n].copy_from_slice(&data[done..done + n]);
            done += n;
            if pos + n as u64 > inode.size() {
                inode.set_size(pos + n as u64);
            }
        }
        Ok(done)
    }

    /// `fallocate` mode 0: every block of bytes `offset..offset + len` of
    /// regular file `ino` allocated (zeroed where it was a hole), and the
    /// size raised to the end if it was below. ENOSPC leaves what was
    /// allocated (as Linux's ext2 does) and the size as it was.
    pub async fn allocate(&mut self, ino: Ino, offset: u64, len: u64) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        let end = offset.checked_add(len).ok_or(Error::TooBig)?;
        let bs = u64::from(self.sb.block_size);
        if len == 0 {
            return Err(Error::Invalid);
        }
        if end.div_ceil(bs) > self.max_blocks() {
            return Err(Error::TooBig);
        }
        self.begin(Phase::Grow).await?;
        let mut inode = self.inode(ino).await?;
        if inode.kind() != S_IFREG {
            return Err(if inode.is_dir() { Error::IsDir } else { Error::Invalid });
        }
        let mut goal = self.inode_goal(ino);
        let mut result = Ok(());
        for n in offset / bs..end.div_ceil(bs) {
            match self.map_alloc(ino, &mut inode, n, goal, Class::Data).await {
                Ok((b, _)) => goal = b + 1,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if result.is_ok() && end > inode.size() {
            if end > u64::from(u32::MAX) && !self.sb.has_ro_compat(crate::superblock::RO_COMPAT_LARGE_FILE) {
                self.sb.set_ro_compat(crate::superblock::RO_COMPAT_LARGE_FILE);
                self.meta_dirty = true;
            }
            inode.set_size(end);
        }
        let now = self.now();
        inode.set_times(None, Some(now), None);
        self.put_inode(ino, &inode).await?;
        result
    }

    /// Where a new block of `ino` should go: its group's first block.
    pub(crate) fn inode_goal(&self, ino: Ino) -> u32 {
        let g = (ino.max(1) - 1) / self.sb.inodes_per_group();
        self.sb.group_start(g)
    }

    /// Sets regular file `ino`'s size: blocks past it are freed; the tail
    /// of the last block kept is zeroed (so a later extension reads zeros);
    /// growing leaves a hole.
    pub async fn truncate(&mut self, ino: Ino, size: u64) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        let mut inode = self.inode(ino).await?;
        if inode.kind() != S_IFREG {
            return Err(if inode.is_dir() { Error::IsDir } else { Error::Invalid });
        }
        let bs = u64::from(self.sb.block_size);
        if size.div_ceil(bs) > self.max_blocks() {
            return Err(Error::TooBig);
        }
        self.begin(if size < inode.size() { Phase::Shrink } else { Phase::Grow }).await?;
        if size < inode.size() {
            self.free_from(ino, &mut inode, size.div_ceil(bs)).await?;
            if !size.is_multiple_of(bs)
                && let Some(b) = self.map(ino, &inode, size / bs).await?
            {
                self.block_mut(b, Class::Data).await?[(size % bs) as usize..].fill(0);
            }
        }
        if size > u64::from(u32::MAX) && !self.sb.has_ro_compat(crate::superblock::RO_COMPAT_LARGE_FILE) {
            self.sb.set_ro_compat(crate::superblock::RO_COMPAT_LARGE_FILE);
            self.meta_dirty = true;
        }
        inode.set_size(size);
        let now = self.now();
        inode.set_times(None, Some(now), Some(now));
        self.put_inode(ino, &inode).await
    }
}
