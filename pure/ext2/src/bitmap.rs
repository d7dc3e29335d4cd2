//! Allocation: each group has a bitmap of its blocks and one of its
//! inodes. Taking a block or an inode sets its bit and lowers the group's
//! and the superblock's free counts; freeing does the opposite, and a bit
//! already clear is corruption (a block map pointing twice at one block,
//! say): reported, and nothing is freed twice.
//!
//! Blocks are taken near a goal (the block before, for a file; the
//! inode's group otherwise), as Linux's ext2 does, so files stay together.

use io::block::BlockDevice;

use crate::inode::Ino;
use crate::order::Class;
use crate::volume::Volume;
use crate::{Error, Result};

impl<D: BlockDevice> Volume<D> {
    /// Takes a free block, the first at or after `goal` in its group, else
    /// in the groups after it.
    pub(crate) async fn alloc_block(&mut self, goal: u32) -> Result<u32> {
        if self.sb.free_blocks() == 0 {
            return Err(Error::NoSpace);
        }
        let first = self.sb.first_data_block();
        let goal = goal.clamp(first, self.sb.blocks_count() - 1);
        let start_group = (goal - first) / self.sb.blocks_per_group();
        for i in 0..self.sb.groups {
            let g = (start_group + i) % self.sb.groups;
            if self.groups[g as usize].free_blocks() == 0 {
                continue;
            }
            let from = if i == 0 { goal - self.sb.group_start(g) } else { 0 };
            let len = self.sb.group_blocks(g);
            let bitmap = self.groups[g as usize].block_bitmap();
            let found = {
                let data = self.block(bitmap).await?;
                find_clear(data, from, len).or_else(|| find_clear(data, 0, from.min(len)))
            };
            let Some(bit) = found else {
                return Err(crate::corrupt!(
                    "group {g} claims {} free blocks but its bitmap has none",
                    self.groups[g as usize].free_blocks()
                ));
            };
            self.block_mut(bitmap, Class::Bitmap).await?[(bit / 8) as usize] |= 1 << (bit % 8);
            self.groups[g as usize].add_free_blocks(-1);
            let free = self.sb.free_blocks() - 1;
            self.sb.set_free_blocks(free);
            self.meta_dirty = true;
            return Ok(self.sb.group_start(g) + bit);
        }
        Err(Error::NoSpace)
    }

    /// Takes up to `most` free blocks in one run: the first as
    /// [`Self::alloc_block`] takes it, then the free blocks right after it
    /// in its group. The first block and how many.
    pub(crate) async fn alloc_run(&mut self, goal: u32, most: u32) -> Result<(u32, u32)> {
        let first = self.alloc_block(goal).await?;
        let g = (first - self.sb.first_data_block()) / self.sb.blocks_per_group();
        let bit = first - self.sb.group_start(g);
        // No more than the counts say are free (a bitmap that disagrees
        // with them never takes the counts below zero).
        let most = most.min(self.sb.group_blocks(g) - bit).min(self.groups[g as usize].free_blocks() + 1).min(self.sb.free_blocks() + 1);
        let bitmap = self.groups[g as usize].block_bitmap();
        let count = {
            let data = self.block(bitmap).await?;
            (1..most).take_while(|k| data[((bit + k) / 8) as usize] & (1 << ((bit + k) % 8)) == 0).count() as u32 + 1
        };
        if count > 1 {
            let data = self.block_mut(bitmap, Class::Bitmap).await?;
            for k in 1..count {
                data[((bit + k) / 8) as usize] |= 1 << ((bit + k) % 8);
            }
            self.groups[g as usize].add_free_blocks(-((count - 1) as i32));
            let free = self.sb.free_blocks() - (count - 1);
            self.sb.set_free_blocks(free);
        }
        Ok((first, count))
    }

    /// Frees block `b`.
    pub(crate) async fn free_block(&mut self, b: u32) -> Result<()> {
        let first = self.sb.first_data_block();
        if b < first || b >= self.sb.blocks_count() {
            return Err(crate::corrupt!("freeing block {b}, outside the volume"));
        }
        let g = (b - first) / self.sb.blocks_per_group();
        let bit = b - self.sb.group_start(g);
        let bitmap = self.groups[g as usize].block_bitmap();
        let byte = (bit / 8) as usize;
        if self.block(bitmap).await?[byte] & (1 << (bit % 8)) == 0 {
            return Err(crate::corrupt!("block {b} is freed but its bitmap says it is free already (a block map points at it twice?)"));
        }
        self.block_mut(bitmap, Class::Bitmap).await?[byte] &= !(1 << (bit % 8));
        self.cache.forget(b);
        self.groups[g as usize].add_free_blocks(1);
        let free = self.sb.free_blocks() + 1;
        self.sb.set_free_blocks(free);
        self.meta_dirty = true;
        Ok(())
    }

    /// Takes a free inode: a directory's in the group with the most free
    /// inodes among those with free blocks above average (spreading
    /// directories, a simple Orlov); anything else's in `near`'s group
    /// or the next with one free.
    pub(crate) async fn alloc_inode(&mut self, near: Ino, dir: bool) -> Result<Ino> {
        if self.sb.free_inodes() == 0 {
            return Err(Error::NoSpace);
        }
        let ipg = self.sb.inodes_per_group();
        let n = self.sb.groups;
        let start = if dir {
            let avg = self.sb.free_blocks() / n;
            (0..n)
                .filter(|&g| self.groups[g as usize].free_inodes() > 0 && self.groups[g as usize].free_blocks() >= avg)
                .max_by_key(|&g| self.groups[g as usize].free_inodes())
                .unwrap_or((near.max(1) - 1) / ipg)
        } else {
            (near.max(1) - 1) / ipg
        };
        for i in 0..n {
            let g = (start + i) % n;
            if self.groups[g as usize].free_inodes() == 0 {
                continue;
            }
            // Inodes below s_first_ino are reserved (group 0 only).
            let from = if g == 0 { self.sb.first_ino() - 1 } else { 0 };
            let bitmap = self.groups[g as usize].inode_bitmap();
            let found = find_clear(self.block(bitmap).await?, from.min(ipg), ipg);
            let Some(bit) = found else {
                return Err(crate::corrupt!(
                    "group {g} claims {} free inodes but its bitmap has none",
                    self.groups[g as usize].free_inodes()
                ));
            };
            self.block_mut(bitmap, Class::Bitmap).await?[(bit / 8) as usize] |= 1 << (bit % 8);
            self.groups[g as usize].add_free_inodes(-1);
            if dir {
                self.groups[g as usize].add_used_dirs(1);
            }
            let free = self.sb.free_inodes() - 1;
            self.sb.set_free_inodes(free);
            self.meta_dirty = true;
            return Ok(g * ipg + bit + 1);
        }
        Err(Error::NoSpace)
    }

    /// Frees inode `ino` (a directory's also lowers its group's count).
    pub(crate) async fn free_inode(&mut self, ino: Ino, dir: bool) -> Result<()> {
        let ipg = self.sb.inodes_per_group();
        if ino < self.sb.first_ino() || ino > self.sb.inodes_count() {
            return Err(crate::corrupt!("freeing inode {ino}, a reserved or out-of-range one"));
        }
        let g = (ino - 1) / ipg;
        let bit = (ino - 1) % ipg;
        let bitmap = self.groups[g as usize].inode_bitmap();
        let byte = (bit / 8) as usize;
        if self.block(bitmap).await?[byte] & (1 << (bit % 8)) == 0 {
            return Err(crate::corrupt!("inode {ino} is freed but its bitmap says it is free already"));
        }
        self.block_mut(bitmap, Class::Bitmap).await?[byte] &= !(1 << (bit % 8));
        self.groups[g as usize].add_free_inodes(1);
        if dir {
            self.groups[g as usize].add_used_dirs(-1);
        }
        let free = self.sb.free_inodes() + 1;
        self.sb.set_free_inodes(free);
        self.meta_dirty = true;
        Ok(())
    }
}

/// The first clear bit in `from..to` of `bitmap`.
fn find_clear(bitmap: &[u8], from: u32, to: u32) -> Option<u32> {
    let mut bit = from;
    while bit < to {
        let at = (bit / 8) as usize;
        // Eight full bytes at a time, then a full byte (a group's used
        // blocks or inodes come first).
        if bit.is_multiple_of(8) && bitmap.get(at..at + 8).is_some_and(|w| w == [0xff; 8]) {
            bit += 64;
            continue;
        }
        let byte = bitmap[at];
        if byte == 0xff && bit.is_multiple_of(8) {
            bit += 8;
            continue;
        }
        if byte & (1 << (bit % 8)) == 0 {
            return Some(bit);
        }
        bit += 1;
    }
    None
}
