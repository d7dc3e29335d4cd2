//! Block maps: a file's logical block `n` is found through the inode's 12
//! direct pointers, then a single, double and triple indirect block of
//! `block_size / 4` pointers each. A pointer of 0 is a hole (reads as
//! zeros: sparse files).
//!
//! Every pointer is checked before it is followed (inside the volume,
//! never a block the group structures hold). Freeing collects every block
//! first and refuses a map that names a block twice (a loop, or a block
//! shared with another map) or one already free: nothing is freed from a
//! damaged map.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;

use io::block::BlockDevice;

use crate::bytes::{put_u32, u32_at};
use crate::inode::{DIRECT, Ino, Inode};
use crate::order::Class;
use crate::volume::Volume;
use crate::{Error, Result};

/// Where logical block `n` hangs: the inode pointer, then the index in
/// each indirect block on the way down.
struct Path {
    root: usize,
    steps: [usize; 3],
    depth: usize,
}

/// What freeing a tail of a map changes: pointers to clear, blocks to free.
#[derive(Default)]
struct Cut {
    clear_in_blocks: Vec<(u32, usize)>,
    clear_in_inode: Vec<usize>,
    free: Vec<u32>,
}

impl<D: BlockDevice> Volume<D> {
    fn per_block(&self) -> u64 {
        u64::from(self.sb.block_size / 4)
    }

    fn path(&self, n: u64) -> Result<Path> {
        let p = self.per_block();
        if n < DIRECT {
            return Ok(Path { root: n as usize, steps: [0; 3], depth: 0 });
        }
        let mut rest = n - DIRECT;
        let mut span = p;
        for depth in 1..=3 {
            if rest < span {
                let mut steps = [0usize; 3];
                let mut x = rest;
                for i in (0..depth).rev() {
                    steps[i] = (x % p) as usize;
                    x /= p;
                }
                return Ok(Path { root: 11 + depth, steps, depth });
            }
            rest -= span;
            span *= p;
        }
        Err(Error::TooBig)
    }

    /// Logical blocks a map can address.
    pub(crate) fn max_blocks(&self) -> u64 {
        let p = self.per_block();
        DIRECT + p + p * p + p * p * p
    }

    /// Checks a pointer found in `ino`'s map.
    fn check_pointer(&self, ino: Ino, b: u32) -> Result<()> {
        if b < self.sb.first_data_block() || b >= self.sb.blocks_count() {
            return Err(crate::corrupt!("inode {ino}'s block map points at block {b}, outside the volume"));
        }
        let g = (b - self.sb.first_data_block()) / self.sb.blocks_per_group();
        let d = &self.groups[g as usize];
        let table = d.inode_table()..d.inode_table() + self.sb.inode_table_blocks();
        let start = self.sb.group_start(g);
        let meta_end = if self.sb.has_backup(g) { start + 1 + self.sb.descriptor_blocks() + self.sb.reserved_gdt_blocks() } else { start };
        if b < meta_end || b == d.block_bitmap() || b == d.inode_bitmap() || table.contains(&b) {
            return Err(crate::corrupt!("inode {ino}'s block map points at block {b}, which holds group {g}'s own structures"));
        }
        Ok(())
    }

    /// The indirect block over the leaf `path` leads to (its depth at
    /// least 1), each block on the way checked: 0 for a hole on the way.
    async fn leaf_parent_of(&mut self, ino: Ino, inode: &Inode, path: &Path) -> Result<u32> {
        let mut b = inode.pointer(path.root);
        for &step in &path.steps[..path.depth - 1] {
            if b == 0 {
                return Ok(0);
            }
            self.check_pointer(ino, b)?;
            b = u32_at(self.block(b).await?, step * 4);
        }
        if b != 0 {
            self.check_pointer(ino, b)?;
        }
        Ok(b)
    }

    /// The disk block holding logical block `n` of `inode` (None: a hole).
    pub(crate) async fn map(&mut self, ino: Ino, inode: &Inode, n: u64) -> Result<Option<u32>> {
        let path = self.path(n)?;
        let b = if path.depth == 0 {
            inode.pointer(path.root)
        } else {
            match self.leaf_parent_of(ino, inode, &path).await? {
                0 => 0,
                parent => u32_at(self.block(parent).await?, path.steps[path.depth - 1] * 4),
            }
        };
        if b == 0 {
            return Ok(None);
        }
        self.check_pointer(ino, b)?;
        Ok(Some(b))
    }

    /// The disk blocks holding logical blocks `n..n + count` of `inode`, 0
    /// for a hole: each indirect block on the way is read once for all
    /// the pointers it holds, not once per block.
    pub(crate) async fn map_run(&mut self, ino: Ino, inode: &Inode, n: u64, count: usize) -> Result<Vec<u32>> {
        let per = self.per_block() as usize;
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let path = self.path(n + out.len() as u64)?;
            if path.depth == 0 {
                let b = inode.pointer(path.root);
                if b != 0 {
                    self.check_pointer(ino, b)?;
                }
                out.push(b);
                continue;
            }
            // Down to the indirect block holding this leaf's pointer.
            let b = self.leaf_parent_of(ino, inode, &path).await?;
            let from = path.steps[path.depth - 1];
            let take = (per - from).min(count - out.len());
            if b == 0 {
                out.resize(out.len() + take, 0);
                continue;
            }
            let start = out.len();
            let data = self.block(b).await?;
            out.extend((from..from + take).map(|k| u32_at(data, k * 4)));
            for &p in &out[start..] {
                if p != 0 {
                    self.check_pointer(ino, p)?;
                }
            }
        }
        Ok(out)
    }

    /// The indirect block that holds the pointer to logical block `n` of
    /// `inode` (`None`: a direct block, or a hole on the way).
    pub(crate) async fn leaf_parent(&mut self, ino: Ino, inode: &Inode, n: u64) -> Result<Option<u32>> {
        let path = self.path(n)?;
        if path.depth == 0 {
            return Ok(None);
        }
        Ok(Some(self.leaf_parent_of(ino, inode, &path).await?).filter(|&b| b != 0))
    }

    /// The disk block for logical block `n`, allocated (with the indirect
    /// blocks on its way) if it was a hole; `true` with a block just
    /// allocated (zeroed in the cache). `inode` gains the blocks' sectors;
    /// the caller stores it.
    pub(crate) async fn map_alloc(&mut self, ino: Ino, inode: &mut Inode, n: u64, goal: u32, leaf: Class) -> Result<(u32, bool)> {
        let path = self.path(n)?;
        let sectors = u64::from(self.sb.block_size / 512);
        let mut fresh = false;
        let mut b = inode.pointer(path.root);
        if b == 0 {
            let buf = self.fresh_buffer()?;
            b = self.alloc_block(goal).await?;
            self.block_new(b, if path.depth == 0 { leaf } else { Class::Indirect }, buf);
            inode.set_pointer(path.root, b);
            inode.set_sectors(inode.sectors() + sectors);
            fresh = true;
        } else {
            self.check_pointer(ino, b)?;
        }
        for (level, &step) in path.steps[..path.depth].iter().enumerate() {
            let parent = b;
            b = u32_at(self.block(parent).await?, step * 4);
            if b == 0 {
                let buf = self.fresh_buffer()?;
                b = self.alloc_block(parent + 1).await?;
                self.block_new(b, if level + 1 == path.depth { leaf } else { Class::Indirect }, buf);
                put_u32(self.block_mut(parent, Class::Indirect).await?, step * 4, b);
                inode.set_sectors(inode.sectors() + sectors);
                fresh = true;
            } else {
                self.check_pointer(ino, b)?;
                fresh = false;
            }
        }
        Ok((b, fresh))
    }

    /// Writes whole blocks of `data` (a multiple of the block size) to
    /// logical blocks `n...` of `inode` where they are holes among its
    /// direct blocks or under an indirect block that exists: allocated as runs on the disk
    /// ([`Self::alloc_run`]), their pointers set in one change of that
    /// indirect block, each cached with its bytes. The blocks written and
    /// the last one (0 blocks: not such blocks; the caller writes the
    /// first the general way, [`Self::map_alloc`]). `inode` gains the
    /// blocks' sectors; the caller stores it.
    pub(crate) async fn grow_run(&mut self, ino: Ino, inode: &mut Inode, n: u64, data: &[u8], goal: u32) -> Result<(u32, u32)> {
        let bs = self.sb.block_size as usize;
        let path = self.path(n)?;
        // Where the pointers live: the inode (direct blocks) or the
        // indirect block over the leaves.
        let (parent, from, room) = if path.depth == 0 {
            (None, path.root, DIRECT as usize - path.root)
        } else {
            let b = self.leaf_parent_of(ino, inode, &path).await?;
            if b == 0 {
                return Ok((0, 0));
            }
            let from = path.steps[path.depth - 1];
            (Some(b), from, self.per_block() as usize - from)
        };
        let most = room.min(data.len() / bs);
        let holes = match parent {
            None => (from..from + most).take_while(|&k| inode.pointer(k) == 0).count(),
            Some(p) => {
                let p = self.block(p).await?;
                (from..from + most).take_while(|&k| u32_at(p, k * 4) == 0).count()
            }
        };
        if holes == 0 {
            return Ok((0, 0));
        }
        // The buffers first: no memory means nothing allocated.
        let mut bufs = Vec::with_capacity(holes);
        for _ in 0..holes {
            bufs.push(self.fresh_buffer()?);
        }
        let (first, count) = self.alloc_run(goal, holes as u32).await?;
        match parent {
            None => (0..count).for_each(|k| inode.set_pointer(from + k as usize, first + k)),
            Some(p) => {
                let p = self.block_mut(p, Class::Indirect).await?;
                (0..count).for_each(|k| put_u32(p, (from + k as usize) * 4, first + k));
            }
        }
        for (k, mut buf) in bufs.into_iter().take(count as usize).enumerate() {
            buf.bytes_mut().copy_from_slice(&data[k * bs..(k + 1) * bs]);
            self.block_new(first + k as u32, Class::Data, buf);
        }
        inode.set_sectors(inode.sectors() + u64::from(count) * u64::from(self.sb.block_size / 512));
        Ok((count, first + count - 1))
    }

    /// Frees every block of `inode` from logical block `from` on (the
    /// module doc: all checked before any is freed). The caller stores
    /// `inode`.
    pub(crate) async fn free_from(&mut self, ino: Ino, inode: &mut Inode, from: u64) -> Result<()> {
        let mut cut = Cut::default();
        let p = self.per_block();
        for i in 0..DIRECT as usize {
            let b = inode.pointer(i);
            if b != 0 && i as u64 >= from {
                self.check_pointer(ino, b)?;
                cut.free.push(b);
                cut.clear_in_inode.push(i);
            }
        }
        let mut base = DIRECT;
        let mut span = p;
        for depth in 1..=3usize {
            let root = 11 + depth;
            let b = inode.pointer(root);
            if b != 0 && base + span > from {
                self.check_pointer(ino, b)?;
                if self.collect(ino, b, depth, base, from, &mut cut).await? {
                    cut.clear_in_inode.push(root);
                }
            }
            base += span;
            span *= p;
        }
        let mut sorted = cut.free.clone();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(crate::corrupt!("inode {ino}'s block map names block {} twice (a loop?): nothing freed", w[0]));
        }
        for &b in &sorted {
            if !self.block_in_use(b).await? {
                return Err(crate::corrupt!("inode {ino}'s block map names block {b}, which the bitmap says is free: nothing freed"));
            }
        }
        for (block, index) in cut.clear_in_blocks {
            put_u32(self.block_mut(block, Class::Indirect).await?, index * 4, 0);
        }
        for i in cut.clear_in_inode {
            inode.set_pointer(i, 0);
        }
        let sectors = u64::from(self.sb.block_size / 512);
        for b in cut.free {
            self.free_block(b).await?;
            inode.set_sectors(inode.sectors().saturating_sub(sectors));
        }
        Ok(())
    }

    /// Collects what freeing logical blocks `from..` of the subtree under
    /// indirect block `b` (covering logical blocks from `base`, `depth`
    /// levels deep) changes; true if `b` itself goes.
    fn collect<'a>(
        &'a mut self,
        ino: Ino,
        b: u32,
        depth: usize,
        base: u64,
        from: u64,
        cut: &'a mut Cut,
    ) -> Pin<Box<dyn Future<Output = Result<bool>> + 'a>> {
        Box::pin(async move {
            let p = self.per_block();
            let child_span = p.pow(depth as u32 - 1);
            let pointers: Vec<u32> = {
                let data = self.block(b).await?;
                (0..p as usize).map(|i| u32_at(data, i * 4)).collect()
            };
            let mut kept = false;
            for (i, &c) in pointers.iter().enumerate() {
                let child_base = base + i as u64 * child_span;
                if c == 0 {
                    continue;
                }
                if child_base + child_span <= from {
                    kept = true;
                    continue;
                }
                self.check_pointer(ino, c)?;
                let gone = if depth == 1 {
                    cut.free.push(c);
                    true
                } else {
                    self.collect(ino, c, depth - 1, child_base, from, cut).await?
                };
                if gone {
                    cut.clear_in_blocks.push((b, i));
                } else {
                    kept = true;
                }
            }
            if kept {
                return Ok(false);
            }
            // The block goes whole: its pointers need no clearing.
            cut.clear_in_blocks.retain(|&(blk, _)| blk != b);
            cut.free.push(b);
            Ok(true)
        })
    }

    /// Whether block `b`'s bitmap bit is set.
    async fn block_in_use(&mut self, b: u32) -> Result<bool> {
        let g = (b - self.sb.first_data_block()) / self.sb.blocks_per_group();
        let bit = b - self.sb.group_start(g);
        let bitmap = self.groups[g as usize].block_bitmap();
        Ok(self.block(bitmap).await?[(bit / 8) as usize] & (1 << (bit % 8)) != 0)
    }
}
