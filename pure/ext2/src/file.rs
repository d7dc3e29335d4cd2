//! File contents: reading through the block map (holes read as zeros),
//! writing (blocks allocated as the file grows), and changing the size.

use alloc::vec::Vec;

use io::block::BlockDevice;

use crate::inode::{Ino, Inode, S_IFREG};
use crate::order::{Class, Phase};
use crate::stream::STREAM_FROM;
use crate::volume::Volume;
use crate::{Error, Result};

/// Bytes read ahead of a sequential reader (and at most in one request).
pub(crate) const READAHEAD_BYTES: u64 = 256 * 1024;

/// Where a read's bytes go: a caller's slice, or a vector it grows.
pub(crate) trait Sink {
    /// The next bytes.
    fn put(&mut self, bytes: &[u8]);
    /// The next `n` bytes are zeros (a hole).
    fn zeros(&mut self, n: usize);
}

/// A slice filled from its start.
struct Fill<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Sink for Fill<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }
    fn zeros(&mut self, n: usize) {
        self.buf[self.at..self.at + n].fill(0);
        self.at += n;
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn zeros(&mut self, n: usize) {
        self.resize(self.len() + n, 0);
    }
}

impl<D: BlockDevice> Volume<D> {
    /// Reads from byte `offset` of `ino` into `buf`; returns the bytes read
    /// (fewer at the end of the file).
    pub async fn read(&mut self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let inode = self.inode(ino).await?;
        if inode.is_dir() {
            return Err(Error::IsDir);
        }
        let len = buf.len();
        self.read_inode_data(ino, &inode, offset, len, &mut Fill { buf, at: 0 }).await
    }

    /// Up to `len` bytes from byte `offset` of `ino` (fewer at the end of
    /// the file), in a vector of their own: no zeroed buffer first.
    pub async fn read_vec(&mut self, ino: Ino, offset: u64, len: usize) -> Result<Vec<u8>> {
        let inode = self.inode(ino).await?;
        if inode.is_dir() {
            return Err(Error::IsDir);
        }
        let size = inode.size();
        let mut out = Vec::with_capacity((len as u64).min(size.saturating_sub(offset)) as usize);
        self.read_inode_data(ino, &inode, offset, len, &mut out).await?;
        Ok(out)
    }

    /// Reads up to `len` bytes from byte `offset` of `inode` into `out`;
    /// the bytes read. The block map of the span (and of a readahead) is
    /// read an indirect block at a time, not once per block.
    pub(crate) async fn read_inode_data(&mut self, ino: Ino, inode: &Inode, offset: u64, len: usize, out: &mut impl Sink) -> Result<usize> {
        let size = inode.size();
        if offset >= size || len == 0 {
            return Ok(0);
        }
        let len = (len as u64).min(size - offset) as usize;
        let bs = u64::from(self.sb.block_size);
        // Readahead: the blocks this read spans, and more past them when
        // it continues where the last read of this file ended.
        let sequential = self.last_read == Some((ino, offset));
        let first = offset / bs;
        let span_end = (offset + len as u64).div_ceil(bs);
        let ahead = READAHEAD_BYTES / bs;
        let ahead_end = if sequential { span_end + ahead } else { span_end }.min(size.div_ceil(bs));
        // A long sequential read streams past the cache (`stream`).
        let stream = sequential && offset >= STREAM_FROM;
        let map = self.map_run(ino, inode, first, (span_end - first) as usize).await?;
        let block_size = bs as usize;
        let mut done = 0;
        while done < len {
            let pos = offset + done as u64;
            let within = (pos % bs) as usize;
            let n = (block_size - within).min(len - done);
            let at = pos / bs;
            let b = map[(at - first) as usize];
            if b == 0 {
                out.zeros(n);
            } else if let Some(data) = self.cache.get(b) {
                out.put(&data[within..within + n]);
                self.cache.hits += 1;
            } else if let Some(data) = self.stream_block(ino, inode, b).await? {
                out.put(&data[within..within + n]);
            } else {
                let run = self.map_run(ino, inode, at, (ahead_end - at).min(ahead) as usize).await?;
                let count = self.uncached_run(&run);
                if stream {
                    self.read_window(ino, inode, at, b, count).await?;
                    let data = self.stream_block(ino, inode, b).await?.ok_or_else(|| crate::corrupt!("block {b} read, then not there"))?;
                    out.put(&data[within..within + n]);
                } else {
                    self.load_run(b, count).await?;
                    let data = self.block(b).await?;
                    out.put(&data[within..within + n]);
                }
            }
            done += n;
        }
        self.last_read = Some((ino, offset + len as u64));
        Ok(len)
    }

    /// How many of `map`'s blocks (a run of a file's disk blocks, 0 for a
    /// hole; the first not cached) lie one after another on the disk from
    /// the first and are not cached: what one request reads.
    pub(crate) fn uncached_run(&mut self, map: &[u32]) -> u32 {
        let b = map[0];
        let mut count = 1u32;
        while let Some(&next) = map.get(count as usize)
            && next == b.wrapping_add(count)
            && !self.cached(next)
        {
            count += 1;
        }
        count
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
        // New blocks go right after the block before them (files stay
        // together, and the bitmap is not searched from its start).
        let mut goal = match offset / bs {
            0 => self.inode_goal(ino),
            n => self.map(ino, inode, n - 1).await?.map_or_else(|| self.inode_goal(ino), |b| b + 1),
        };
        while done < data.len() {
            let pos = offset + done as u64;
            let within = (pos % bs) as usize;
            // Whole new blocks past the end: a run at a time.
            let whole = (data.len() - done) / bs as usize * bs as usize;
            if within == 0 && whole > 0 && pos >= inode.size() {
                let (count, last) = self.grow_run(ino, inode, pos / bs, &data[done..done + whole], goal).await?;
                if count > 0 {
                    goal = last + 1;
                    done += count as usize * bs as usize;
                    let end = offset + done as u64;
                    if end > inode.size() {
                        inode.set_size(end);
                    }
                    continue;
                }
            }
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
