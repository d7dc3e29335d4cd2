//! A mounted ext2 volume: the superblock and group descriptors in memory,
//! the block cache, and the disk under them.
//!
//! One task owns a volume (every operation takes `&mut self` and may await
//! the disk); other tasks reach it by message. Nothing reaches the disk
//! but through the cache, and metadata goes back in [`Volume::sync`]:
//! dirty blocks in block order, then the descriptors and the superblock,
//! then the disk's flush, so a `sync` that returned left everything it
//! covers durable.
//!
//! Mounting follows Linux's ext2: unknown incompatible features refuse the
//! mount, unknown read-only-compatible ones make it read-only; a volume
//! not marked clean mounts with a warning to check it; a writable mount
//! clears the clean mark on the disk until [`Volume::unmount`] sets it.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use io::block::BlockDevice;

use crate::cache::Cache;
use crate::group::{self, DESC_SIZE, Group};
use crate::inode::{Ino, Inode};
use crate::memory::{BlockBuf, Heap, Memory};
use crate::order::{Class, Phase};
use crate::superblock::{self, Features, Superblock};
use crate::{Error, Result};

/// How to mount.
#[derive(Clone, Copy)]
pub struct Options {
    /// Mount read-only even if the volume could be written.
    pub read_only: bool,
    /// Bytes of memory the cache may hold (each block counted as
    /// [`Memory::footprint`] says; dirty blocks may pass it until
    /// write-back, which starts at a quarter).
    pub cache_bytes: usize,
    /// The time now, in seconds since 1970 (inode and superblock times).
    pub now: fn() -> u32,
    /// Where the cache's buffers come from, and whether memory is short.
    pub memory: &'static dyn Memory,
}

impl Default for Options {
    fn default() -> Self {
        Self { read_only: false, cache_bytes: 4 << 20, now: || 0, memory: &Heap }
    }
}

/// File system figures (`statfs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatFs {
    /// Bytes per block.
    pub block_size: u32,
    /// Blocks in all.
    pub blocks: u64,
    /// Free blocks.
    pub free_blocks: u64,
    /// Free blocks ordinary users may take.
    pub available_blocks: u64,
    /// Inodes in all.
    pub inodes: u64,
    /// Free inodes.
    pub free_inodes: u64,
}

/// A mounted volume (the module doc).
pub struct Volume<D: BlockDevice> {
    pub(crate) dev: D,
    pub(crate) sb: Superblock,
    pub(crate) groups: Vec<Group>,
    pub(crate) cache: Cache,
    pub(crate) read_only: bool,
    pub(crate) now: fn() -> u32,
    /// Device blocks per file system block.
    pub(crate) sectors_per_block: u64,
    /// Descriptors or superblock changed since the last sync.
    pub(crate) meta_dirty: bool,
    /// The phase the dirty metadata belongs to (`order`).
    pub(crate) phase: Option<Phase>,
    /// Where the last read ended (file, byte): a read that starts there is
    /// sequential and reads ahead.
    pub(crate) last_read: Option<(Ino, u64)>,
    /// The buffer a run of blocks is read into before the cache takes
    /// them (kept: zeroing a fresh one for every readahead cost as much
    /// as the copy).
    scratch: Vec<u8>,
    /// What a long sequential read brought ahead of its reader (`stream`).
    pub(crate) window: crate::stream::Window,
    /// Writes made to the disk since the mount (`stream`: what was read
    /// before one may be old).
    pub(crate) disk_writes: u64,
    /// What the mount had to say (not cleanly unmounted, read-only because
    /// of features).
    pub warnings: Vec<String>,
    /// The names of recently used directories (`names`).
    pub(crate) names: crate::names::Names,
}

impl<D: BlockDevice> Volume<D> {
    /// Mounts the volume on `dev` (the module doc).
    pub async fn mount(dev: D, options: Options) -> Result<Self> {
        let dbs = u64::from(dev.block_size());
        if dbs == 0 || 1024 % dbs != 0 {
            return Err(Error::Unsupported(alloc::format!("a disk of {dbs}-byte blocks")));
        }
        let mut head = vec![0u8; 2048];
        dev.read(0, &mut head).await?;
        let sb = Superblock::parse(&head[superblock::OFFSET as usize..])?;
        let bs = u64::from(sb.block_size);
        if u64::from(sb.blocks_count()) * bs > dev.capacity() * dbs {
            return Err(crate::corrupt!(
                "the superblock says {} blocks of {bs} bytes, the disk holds {} bytes",
                sb.blocks_count(),
                dev.capacity() * dbs
            ));
        }
        let mut warnings = Vec::new();
        let mut read_only = options.read_only || dev.read_only();
        match sb.features()? {
            Features::ReadWrite => {}
            Features::ReadOnly(names) => {
                warnings.push(alloc::format!("mounted read-only: unknown read-only-compatible features {}", names.join(", ")));
                read_only = true;
            }
        }
        if sb.state() & superblock::STATE_VALID == 0 {
            warnings.push(String::from("was not cleanly unmounted: check it (e2fsck) before trusting it"));
        } else if sb.state() & superblock::STATE_ERRORS != 0 {
            warnings.push(String::from("has errors recorded: check it (e2fsck)"));
        }
        let mut vol = Self {
            dev,
            sb,
            groups: Vec::new(),
            cache: Cache::new(options.cache_bytes / options.memory.footprint(bs as usize).max(1), bs as usize, options.memory),
            read_only,
            now: options.now,
            sectors_per_block: bs / dbs,
            meta_dirty: false,
            last_read: None,
            scratch: Vec::new(),
            window: Default::default(),
            disk_writes: 0,
            phase: None,
            warnings,
            names: crate::names::Names::default(),
        };
        let first = vol.sb.first_data_block() + 1;
        let mut table = Vec::new();
        for b in first..first + vol.sb.descriptor_blocks() {
            table.extend_from_slice(vol.block(b).await?);
        }
        vol.groups = (0..vol.sb.groups as usize).map(|g| Group::parse(&table[g * DESC_SIZE..])).collect();
        group::check(&vol.sb, &vol.groups)?;
        let free: u64 = vol.groups.iter().map(|g| u64::from(g.free_blocks())).sum();
        if free > u64::from(vol.sb.blocks_count()) {
            return Err(crate::corrupt!("the groups claim {free} free blocks of {}", vol.sb.blocks_count()));
        }
        if !vol.read_only {
            let now = (vol.now)();
            let count = vol.sb.mount_count().wrapping_add(1);
            vol.sb.set_mount_count(count);
            vol.sb.set_mount_time(now);
            let state = vol.sb.state() & !superblock::STATE_VALID;
            vol.sb.set_state(state);
            vol.write_superblock().await?;
            vol.dev.flush().await.or_else(ignore_unsupported)?;
        }
        Ok(vol)
    }

    /// Writes everything back and marks the volume clean; returns the disk.
    pub async fn unmount(mut self) -> Result<D> {
        if !self.read_only {
            self.sync().await?;
            let state = self.sb.state() | superblock::STATE_VALID;
            self.sb.set_state(state);
            self.write_superblock().await?;
            self.dev.flush().await.or_else(ignore_unsupported)?;
        }
        Ok(self.dev)
    }

    /// Whether writes are refused.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Bytes per block.
    pub fn block_size(&self) -> u32 {
        self.sb.block_size
    }

    /// The superblock as it stands in memory.
    pub fn superblock(&self) -> &Superblock {
        &self.sb
    }

    /// The cache's hits, misses and dirty blocks.
    pub fn cache_stats(&self) -> (u64, u64, usize) {
        (self.cache.hits, self.cache.misses, self.cache.dirty())
    }

    /// Figures for `statfs`.
    pub fn statfs(&self) -> StatFs {
        let free = u64::from(self.sb.free_blocks());
        StatFs {
            block_size: self.sb.block_size,
            blocks: u64::from(self.sb.blocks_count()),
            free_blocks: free,
            available_blocks: free.saturating_sub(u64::from(self.sb.reserved_blocks())),
            inodes: u64::from(self.sb.inodes_count()),
            free_inodes: u64::from(self.sb.free_inodes()),
        }
    }

    /// Writes every dirty block, the descriptors and the superblock back,
    /// then flushes the disk (the module doc).
    pub async fn sync(&mut self) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        self.write_back().await?;
        if self.meta_dirty {
            self.write_descriptors().await?;
            let now = (self.now)();
            self.sb.set_write_time(now);
            self.write_superblock().await?;
            self.meta_dirty = false;
        }
        self.dev.flush().await.or_else(ignore_unsupported)?;
        Ok(())
    }

    /// Writes the dirty blocks back (no flush), class by class in the
    /// order of their phase (`order`).
    pub(crate) async fn write_back(&mut self) -> Result<()> {
        for class in self.phase.unwrap_or(Phase::Grow).order() {
            for (first, bytes) in self.cache.dirty_runs(class) {
                self.write_disk(u64::from(first) * self.sectors_per_block, &bytes).await?;
                self.cache.mark_clean(first, (bytes.len() / self.sb.block_size as usize) as u32);
            }
        }
        self.phase = None;
        Ok(())
    }

    /// Writes `bytes` at device block `lba`; what the stream window holds
    /// may no longer be what the disk does (`stream`), so it goes.
    async fn write_disk(&mut self, lba: u64, bytes: &[u8]) -> Result<()> {
        self.window.clear();
        self.disk_writes += 1;
        Ok(self.dev.write(lba, bytes).await?)
    }

    async fn write_descriptors(&mut self) -> Result<()> {
        let bs = self.sb.block_size as usize;
        let mut table = vec![0u8; self.sb.descriptor_blocks() as usize * bs];
        for (g, d) in self.groups.iter().enumerate() {
            table[g * DESC_SIZE..(g + 1) * DESC_SIZE].copy_from_slice(d.bytes());
        }
        let first = self.sb.first_data_block() + 1;
        // Keep whatever the table's last block holds past the descriptors.
        let last = self.block(first + self.sb.descriptor_blocks() - 1).await?.to_vec();
        let tail = self.groups.len() * DESC_SIZE;
        let last_start = table.len() - bs;
        if tail < table.len() {
            table[tail..].copy_from_slice(&last[tail - last_start..]);
        }
        for (i, chunk) in table.chunks(bs).enumerate() {
            let b = first + i as u32;
            let mut buf = self.cache.buffer()?;
            buf.bytes_mut().copy_from_slice(chunk);
            self.cache.insert(b, buf, false, Class::Bitmap);
        }
        self.write_disk(u64::from(first) * self.sectors_per_block, &table).await?;
        Ok(())
    }

    async fn write_superblock(&mut self) -> Result<()> {
        // The superblock shares its device blocks with nothing else (bytes
        // 1024..2048); write those sectors alone.
        let dbs = u64::from(self.dev.block_size());
        let first = superblock::OFFSET / dbs;
        self.window.clear();
        self.disk_writes += 1;
        self.dev.write(first, self.sb.bytes()).await?;
        if self.sb.block_size == 1024 {
            // Block 1 is the superblock: keep the cache's copy current.
            self.cache.forget(1);
        }
        Ok(())
    }

    /// Block `n`, from the cache or the disk.
    pub(crate) async fn block(&mut self, n: u32) -> Result<&[u8]> {
        self.load(n).await?;
        Ok(self.cache.get(n).expect("loaded"))
    }

    /// Block `n`, holding `class`, to change (dirty from now on).
    pub(crate) async fn block_mut(&mut self, n: u32, class: Class) -> Result<&mut [u8]> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        self.load(n).await?;
        Ok(self.cache.get_mut(n, class).expect("loaded"))
    }

    /// A zeroed buffer for a block about to be allocated (taken first, so
    /// that no memory means no allocation).
    pub(crate) fn fresh_buffer(&mut self) -> Result<Box<dyn BlockBuf>> {
        self.cache.buffer()
    }

    /// A freshly allocated block `n` of `class`, zeroed (`buf`, from
    /// [`Self::fresh_buffer`]) without reading it.
    pub(crate) fn block_new(&mut self, n: u32, class: Class, buf: Box<dyn BlockBuf>) {
        self.cache.insert(n, buf, true, class);
    }

    /// Gives back up to `count` clean cached blocks (memory is short);
    /// how many it gave.
    pub fn shrink_cache(&mut self, count: usize) -> usize {
        self.cache.shrink(count)
    }

    /// Blocks cached now.
    pub fn cached_blocks(&self) -> usize {
        self.cache.len()
    }

    /// Clean blocks the cache gave back because memory was short.
    pub fn blocks_given_back(&self) -> u64 {
        self.cache.given_back
    }

    /// The device under the volume.
    pub fn device(&self) -> &D {
        &self.dev
    }

    /// Whether block `n` is in the cache.
    pub(crate) fn cached(&mut self, n: u32) -> bool {
        self.cache.contains(n)
    }

    /// Reads blocks `first..first + count` in one request and caches those
    /// not cached already (a cached one may be dirty: it stays).
    pub(crate) async fn load_run(&mut self, first: u32, count: u32) -> Result<()> {
        if count <= 1 {
            return self.load(first).await;
        }
        let end = first.checked_add(count).filter(|&e| e <= self.sb.blocks_count());
        if end.is_none() {
            return Err(crate::corrupt!("blocks {first}..+{count} run past the end ({} blocks)", self.sb.blocks_count()));
        }
        self.cache.misses += 1;
        let bs = self.sb.block_size as usize;
        let mut data = core::mem::take(&mut self.scratch);
        let need = bs * count as usize;
        if data.len() < need {
            data.resize(need, 0);
        }
        let read = self.dev.read(u64::from(first) * self.sectors_per_block, &mut data[..need]).await;
        let cached = read.map_err(Error::from).and_then(|()| {
            for (i, chunk) in data[..need].chunks(bs).enumerate() {
                let n = first + i as u32;
                if !self.cache.contains(n) {
                    let mut buf = self.cache.buffer()?;
                    buf.bytes_mut().copy_from_slice(chunk);
                    self.cache.insert(n, buf, false, Class::Data);
                }
            }
            Ok(())
        });
        self.scratch = data;
        cached
    }

    async fn load(&mut self, n: u32) -> Result<()> {
        if n >= self.sb.blocks_count() {
            return Err(crate::corrupt!("block {n} is past the end ({} blocks)", self.sb.blocks_count()));
        }
        if self.cache.get(n).is_some() {
            self.cache.hits += 1;
            return Ok(());
        }
        self.cache.misses += 1;
        let mut data = self.cache.buffer()?;
        self.dev.read(u64::from(n) * self.sectors_per_block, data.bytes_mut()).await?;
        self.cache.insert(n, data, false, Class::Data);
        Ok(())
    }

    /// Where inode `ino` lives: its block and offset in it.
    fn inode_place(&self, ino: Ino) -> Result<(u32, usize)> {
        if ino == 0 || ino > self.sb.inodes_count() {
            return Err(crate::corrupt!("inode number {ino} is out of range (1..={})", self.sb.inodes_count()));
        }
        let ipg = self.sb.inodes_per_group();
        let g = (ino - 1) / ipg;
        let index = u64::from((ino - 1) % ipg) * u64::from(self.sb.inode_size());
        let bs = u64::from(self.sb.block_size);
        let block = self.groups[g as usize].inode_table() + (index / bs) as u32;
        Ok((block, (index % bs) as usize))
    }

    /// Inode `ino` as stored.
    pub async fn inode(&mut self, ino: Ino) -> Result<Inode> {
        let (block, at) = self.inode_place(ino)?;
        let size = self.sb.inode_size() as usize;
        let data = self.block(block).await?;
        Ok(Inode::parse(&data[at..at + size]))
    }

    /// Stores inode `ino`.
    pub(crate) async fn put_inode(&mut self, ino: Ino, inode: &Inode) -> Result<()> {
        let (block, at) = self.inode_place(ino)?;
        let data = self.block_mut(block, Class::Inode).await?;
        data[at..at + inode.bytes().len()].copy_from_slice(inode.bytes());
        Ok(())
    }

    /// Seconds now.
    pub(crate) fn now(&self) -> u32 {
        (self.now)()
    }
}

/// A disk without a cache to flush has nothing to make durable.
fn ignore_unsupported(e: io::block::BlockError) -> core::result::Result<(), io::block::BlockError> {
    if e == io::block::BlockError::Unsupported { Ok(()) } else { Err(e) }
}
