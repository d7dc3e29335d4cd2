//! Block group descriptors: 32 bytes each, in the blocks after the
//! superblock, saying where a group's bitmaps and inode table are and how
//! much of it is free.
//!
//! [`check`] holds every descriptor to the geometry before the volume
//! uses it: a bitmap or inode table outside its group, or on the
//! superblock, the descriptor table or another of the group's structures,
//! refuses the mount (writing through such a descriptor would spread the
//! damage).

use crate::Result;
use crate::bytes::{put_u16, put_u32, u16_at, u32_at};
use crate::superblock::Superblock;

/// Bytes per descriptor (no `64bit` feature).
pub const DESC_SIZE: usize = 32;

/// One group's descriptor.
#[derive(Clone, Debug)]
pub struct Group {
    raw: [u8; DESC_SIZE],
}

impl Group {
    /// The descriptor in `raw`.
    pub fn parse(raw: &[u8]) -> Self {
        let mut bytes = [0u8; DESC_SIZE];
        bytes.copy_from_slice(&raw[..DESC_SIZE]);
        Self { raw: bytes }
    }

    /// Its bytes as they go to the disk.
    pub fn bytes(&self) -> &[u8; DESC_SIZE] {
        &self.raw
    }

    /// `bg_block_bitmap`.
    pub fn block_bitmap(&self) -> u32 {
        u32_at(&self.raw, 0)
    }
    /// `bg_inode_bitmap`.
    pub fn inode_bitmap(&self) -> u32 {
        u32_at(&self.raw, 4)
    }
    /// `bg_inode_table`.
    pub fn inode_table(&self) -> u32 {
        u32_at(&self.raw, 8)
    }
    /// `bg_free_blocks_count`.
    pub fn free_blocks(&self) -> u32 {
        u32::from(u16_at(&self.raw, 12))
    }
    /// `bg_free_inodes_count`.
    pub fn free_inodes(&self) -> u32 {
        u32::from(u16_at(&self.raw, 14))
    }
    /// `bg_used_dirs_count`.
    pub fn used_dirs(&self) -> u32 {
        u32::from(u16_at(&self.raw, 16))
    }
    /// Adds `d` to `bg_free_blocks_count`.
    pub fn add_free_blocks(&mut self, d: i32) {
        let v = self.free_blocks().wrapping_add_signed(d);
        put_u16(&mut self.raw, 12, v as u16);
    }
    /// Adds `d` to `bg_free_inodes_count`.
    pub fn add_free_inodes(&mut self, d: i32) {
        let v = self.free_inodes().wrapping_add_signed(d);
        put_u16(&mut self.raw, 14, v as u16);
    }
    /// Adds `d` to `bg_used_dirs_count`.
    pub fn add_used_dirs(&mut self, d: i32) {
        let v = self.used_dirs().wrapping_add_signed(d);
        put_u16(&mut self.raw, 16, v as u16);
    }
    /// Clears `bg_flags` (the uninit flags belong to `uninit_bg`, which a
    /// volume this implementation writes does not have).
    pub fn clear_flags(&mut self) {
        put_u16(&mut self.raw, 18, 0);
        put_u32(&mut self.raw, 20, 0);
    }
}

/// Checks every descriptor against the geometry (the module doc).
pub fn check(sb: &Superblock, groups: &[Group]) -> Result<()> {
    let table_blocks = sb.inode_table_blocks();
    for (g, d) in groups.iter().enumerate() {
        let g = g as u32;
        let start = sb.group_start(g);
        let end = start + sb.group_blocks(g);
        // The superblock copy and descriptor table (with its reserved room)
        // at a group's start, where the group has a backup.
        let meta_end = if sb.has_backup(g) { start + 1 + sb.descriptor_blocks() + sb.reserved_gdt_blocks() } else { start };
        let spans =
            [("block bitmap", d.block_bitmap(), 1), ("inode bitmap", d.inode_bitmap(), 1), ("inode table", d.inode_table(), table_blocks)];
        for &(what, at, len) in &spans {
            let last = at.saturating_add(len);
            if at < meta_end || last > end {
                return Err(crate::corrupt!(
                    "group {g}'s {what} at block {at} ({len} blocks) lies outside the group's blocks {meta_end}..{end} \
                     (on the superblock, the descriptors or another group)"
                ));
            }
        }
        for (i, a) in spans.iter().enumerate() {
            for b in &spans[i + 1..] {
                if a.1 < b.1 + b.2 && b.1 < a.1 + a.2 {
                    return Err(crate::corrupt!("group {g}'s {} and {} overlap (blocks {} and {})", a.0, b.0, a.1, b.1));
                }
            }
        }
        if d.free_blocks() > sb.group_blocks(g) || d.free_inodes() > sb.inodes_per_group() {
            return Err(crate::corrupt!("group {g} claims {} free blocks and {} free inodes", d.free_blocks(), d.free_inodes()));
        }
    }
    Ok(())
}
