//! What a long sequential read brought from the disk ahead of its reader,
//! kept beside the block cache rather than in it (drop-behind), and the
//! run it will want next, for the mounter to read before it is asked.
//!
//! Why beside the cache: a file read from start to end once (a copy, a
//! checksum, a backup) would otherwise pass every block through the
//! cache: a buffer, an index entry and an eviction per block, and the
//! stream pushes out the metadata and small files everything else relies
//! on. So a read that continues a stream past its first [`STREAM_FROM`]
//! bytes reads ahead into this window and is answered from it. The price:
//! a large file read twice is read from the disk twice (its first bytes,
//! read before the stream began, are cached).
//!
//! Reading ahead of the reader: each time the stream enters a run, the
//! volume notes the run after it ([`Ahead`], taken by
//! [`Volume::take_ahead`]); the mounter reads it from the disk while the
//! reader goes through the current run, and hands the bytes back
//! ([`Volume::offer_ahead`]) before the read that needs them. The disk
//! then works while the program copies, as Linux's asynchronous readahead
//! has it.
//!
//! Why it stays right: the window holds disk blocks as the disk had them.
//! A read asks the cache first (a block changed since is cached, dirty),
//! and anything written to the disk drops the window and refuses an offer
//! read before the write (a block written back may then leave the cache,
//! and the disk no longer matches what was read).

use alloc::vec::Vec;

use io::block::BlockDevice;

use crate::Result;
use crate::inode::{Ino, Inode};
use crate::order::Class;
use crate::volume::Volume;

/// A sequential read continues into the window past this many bytes of
/// its file.
pub(crate) const STREAM_FROM: u64 = 1 << 20;

/// Disk blocks `first..first + count` as read: logical blocks
/// `logical...` of file `ino`.
struct Run {
    first: u32,
    count: u32,
    ino: Ino,
    logical: u64,
    data: Vec<u8>,
    /// Where block `first` starts in `data`.
    skip: usize,
}

impl Run {
    fn get(&self, b: u32, block_size: usize) -> Option<&[u8]> {
        let i = b.checked_sub(self.first).filter(|&i| i < self.count)? as usize;
        Some(&self.data[self.skip + i * block_size..self.skip + (i + 1) * block_size])
    }
}

/// The run a stream is in, and the one after it once read (the module
/// doc).
#[derive(Default)]
pub(crate) struct Window {
    now: Option<Run>,
    ahead: Option<Run>,
    /// A run's buffer kept for the next (zeroing a fresh one for each would
    /// cost as much as the copy out of it).
    spare: Vec<u8>,
    /// The next run, for the mounter to read.
    wanted: Option<Ahead>,
}

/// The run a stream will want next (the module doc): `bytes` bytes from
/// device block `lba`, for logical blocks `logical...` of file `ino`.
#[derive(Clone, Copy, Debug)]
pub struct Ahead {
    /// The file.
    pub ino: Ino,
    /// Its first block the run holds.
    pub logical: u64,
    /// Where the run starts on the device, in the device's blocks.
    pub lba: u64,
    /// Its length in bytes.
    pub bytes: usize,
    first: u32,
    count: u32,
    block_size: u32,
    /// The run starts with the indirect block that maps it (not cached
    /// when it was noted: the blocks after it are taken to be the file's
    /// next ones, as ext2 lays a file out; the window holds disk blocks,
    /// so a wrong guess costs a read, never a wrong byte).
    indirect: bool,
    /// The volume's disk writes when it was noted: an offer read before
    /// a later write is refused.
    writes: u64,
}

impl Ahead {
    /// Whether a read of `len` bytes from `offset` of `ino` reaches the
    /// blocks this run holds (the mounter then hands the run back first).
    pub fn wanted_by(&self, ino: Ino, offset: u64, len: usize) -> bool {
        let bs = u64::from(self.block_size);
        let (from, to) = (offset / bs, (offset + len as u64).div_ceil(bs));
        ino == self.ino && from < self.logical + u64::from(self.count) && to > self.logical
    }
}

impl Window {
    /// Block `b`'s bytes if the window holds it; entering the run read
    /// ahead makes it the current one (true: the next run is to be noted).
    fn get(&mut self, b: u32, block_size: usize) -> (Option<&[u8]>, bool) {
        let entered = self.now.as_ref().is_none_or(|r| r.get(b, block_size).is_none())
            && self.ahead.as_ref().is_some_and(|r| r.get(b, block_size).is_some());
        if entered {
            let old = core::mem::replace(&mut self.now, self.ahead.take());
            if let Some(old) = old {
                self.spare = old.data;
            }
        }
        (self.now.as_ref().and_then(|r| r.get(b, block_size)), entered)
    }

    /// Forgets what it holds and what it wanted (the disk changed).
    pub(crate) fn clear(&mut self) {
        for run in [self.now.take(), self.ahead.take()].into_iter().flatten() {
            self.spare = run.data;
        }
        self.wanted = None;
    }

    /// A buffer of at least `bytes` bytes.
    fn buffer(&mut self, bytes: usize) -> Vec<u8> {
        let mut data = core::mem::take(&mut self.spare);
        if data.len() < bytes {
            data.resize(bytes, 0);
        }
        data
    }
}

impl<D: BlockDevice> Volume<D> {
    /// Block `b` of a stream (file `ino`, whose `inode` it is), from the
    /// window if it holds it; entering the run read ahead notes the next.
    pub(crate) async fn stream_block(&mut self, ino: Ino, inode: &Inode, b: u32) -> Result<Option<&[u8]>> {
        let bs = self.sb.block_size as usize;
        if self.window.get(b, bs).1 {
            self.note_next(ino, inode).await?;
        }
        Ok(self.window.get(b, bs).0)
    }

    /// Reads blocks `first..first + count` (logical blocks `logical...` of
    /// `ino`) in one request into the window, past the cache, and notes the
    /// run after them.
    pub(crate) async fn read_window(&mut self, ino: Ino, inode: &Inode, logical: u64, first: u32, count: u32) -> Result<()> {
        if first.checked_add(count).is_none_or(|e| e > self.sb.blocks_count()) {
            return Err(crate::corrupt!("blocks {first}..+{count} run past the end ({} blocks)", self.sb.blocks_count()));
        }
        self.cache.misses += 1;
        let need = self.sb.block_size as usize * count as usize;
        let mut data = self.window.buffer(need);
        data.truncate(need);
        if let Err(e) = self.dev.read(u64::from(first) * self.sectors_per_block, &mut data).await {
            self.window.spare = data;
            return Err(e.into());
        }
        self.window.clear();
        self.window.now = Some(Run { first, count, ino, logical, data, skip: 0 });
        self.note_next(ino, inode).await
    }

    /// Notes the run after the current one, if its first block is on the
    /// disk and in neither the cache nor the window.
    async fn note_next(&mut self, ino: Ino, inode: &Inode) -> Result<()> {
        self.window.wanted = None;
        let Some(now) = self.window.now.as_ref().filter(|r| r.ino == ino) else { return Ok(()) };
        let start = now.logical + u64::from(now.count);
        let bs = u64::from(self.sb.block_size);
        let end = inode.size().div_ceil(bs);
        if start >= end || self.window.ahead.is_some() {
            return Ok(());
        }
        let most = (end - start).min(crate::file::READAHEAD_BYTES / bs);
        // Where the map of the next run is not cached, the run read ahead
        // starts with it: the reader should not wait for a block of map.
        let (b, count, indirect) = match self.leaf_parent(ino, inode, start).await? {
            Some(p) if !self.cached(p) => {
                if p.checked_add(most as u32 + 1).is_none_or(|e| e > self.sb.blocks_count()) {
                    return Ok(());
                }
                (p, most as u32, true)
            }
            _ => {
                let map = self.map_run(ino, inode, start, most as usize).await?;
                if map[0] == 0 || self.cached(map[0]) {
                    return Ok(());
                }
                (map[0], self.uncached_run(&map), false)
            }
        };
        let blocks = count as usize + usize::from(indirect);
        self.window.wanted = Some(Ahead {
            ino,
            logical: start,
            lba: u64::from(b) * self.sectors_per_block,
            bytes: blocks * bs as usize,
            first: b,
            count,
            block_size: self.sb.block_size,
            indirect,
            writes: self.disk_writes,
        });
        Ok(())
    }

    /// The run a stream will want next, for the mounter to read from the
    /// device (`ahead.lba`, `ahead.bytes`) into the buffer that comes with
    /// it, then hand back with [`Self::offer_ahead`] (the module doc).
    pub fn take_ahead(&mut self) -> Option<(Ahead, Vec<u8>)> {
        let ahead = self.window.wanted.take()?;
        let mut data = self.window.buffer(ahead.bytes);
        data.truncate(ahead.bytes);
        Some((ahead, data))
    }

    /// Takes `data`, the bytes of `ahead` as the device gave them, into the
    /// window, unless the disk was written since it was noted or the
    /// stream has moved elsewhere (then only the buffer is kept).
    pub fn offer_ahead(&mut self, ahead: Ahead, data: Vec<u8>) {
        let current = self.window.now.as_ref().is_some_and(|r| r.ino == ahead.ino && r.logical + u64::from(r.count) == ahead.logical);
        if ahead.writes != self.disk_writes || data.len() != ahead.bytes || !current || self.window.ahead.is_some() {
            self.window.spare = data;
            return;
        }
        let (first, skip) = if ahead.indirect {
            // The map block goes to the cache, as read; the rest is data.
            let bs = self.sb.block_size as usize;
            if !self.cache.contains(ahead.first) {
                let Ok(mut buf) = self.cache.buffer() else {
                    self.window.spare = data;
                    return;
                };
                buf.bytes_mut().copy_from_slice(&data[..bs]);
                self.cache.insert(ahead.first, buf, false, Class::Indirect);
            }
            (ahead.first + 1, bs)
        } else {
            (ahead.first, 0)
        };
        self.window.ahead = Some(Run { first, count: ahead.count, ino: ahead.ino, logical: ahead.logical, data, skip });
    }
}
