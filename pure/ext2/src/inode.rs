//! Inodes: a file's type, permissions, owner, size, times, link count and
//! block map, `s_inode_size` bytes each in its group's inode table.
//!
//! The bytes are kept whole (like the superblock's), so fields this
//! implementation does not know (extended-attribute block, the extra
//! fields past 128 bytes) go back to the disk as they came.

use alloc::vec::Vec;

use crate::bytes::{put_u16, put_u32, u16_at, u32_at};

/// An inode number (1-based; 2 is the root directory).
pub type Ino = u32;

/// The root directory's inode.
pub const ROOT: Ino = 2;

/// File type bits of `i_mode`.
pub const S_IFMT: u16 = 0o170000;
/// A directory.
pub const S_IFDIR: u16 = 0o040000;
/// A regular file.
pub const S_IFREG: u16 = 0o100000;
/// A symbolic link.
pub const S_IFLNK: u16 = 0o120000;

/// Block pointers in the inode: 12 direct, then single, double and triple
/// indirect.
pub const POINTERS: usize = 15;
/// Direct pointers.
pub const DIRECT: u64 = 12;

/// `i_flags`: the directory has a hashed index (`dir_index`).
pub const FLAG_INDEX: u32 = 0x1000;

/// A symbolic link's target fits in the block pointers (60 bytes) when
/// shorter than this.
pub const FAST_SYMLINK_MAX: usize = 60;

/// One inode's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inode {
    raw: Vec<u8>,
}

impl Inode {
    /// The inode in `raw` (its `s_inode_size` bytes).
    pub fn parse(raw: &[u8]) -> Self {
        Self { raw: raw.to_vec() }
    }

    /// A fresh inode of `size` bytes on disk: `mode`, owner, one link, all
    /// times `now`.
    pub fn new(size: usize, mode: u16, uid: u32, gid: u32, now: u32) -> Self {
        let mut i = Self { raw: alloc::vec![0; size] };
        put_u16(&mut i.raw, 0, mode);
        i.set_owner(uid, gid);
        i.set_links(1);
        i.set_times(Some(now), Some(now), Some(now));
        if size > 128 {
            // i_extra_isize: the extra fields mke2fs's inodes carry (32 bytes).
            put_u16(&mut i.raw, 128, 32);
        }
        i
    }

    /// Its bytes as they go to the disk.
    pub fn bytes(&self) -> &[u8] {
        &self.raw
    }

    /// `i_mode`: type and permissions.
    pub fn mode(&self) -> u16 {
        u16_at(&self.raw, 0)
    }
    /// Sets the permission bits (the type stays).
    pub fn set_permissions(&mut self, perm: u16) {
        let m = (self.mode() & S_IFMT) | (perm & !S_IFMT);
        put_u16(&mut self.raw, 0, m);
    }
    /// Its type bits.
    pub fn kind(&self) -> u16 {
        self.mode() & S_IFMT
    }
    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind() == S_IFDIR
    }
    /// Owner's user id (low and high halves).
    pub fn uid(&self) -> u32 {
        u32::from(u16_at(&self.raw, 2)) | u32::from(u16_at(&self.raw, 120)) << 16
    }
    /// Owner's group id.
    pub fn gid(&self) -> u32 {
        u32::from(u16_at(&self.raw, 24)) | u32::from(u16_at(&self.raw, 122)) << 16
    }
    /// Sets the owner.
    pub fn set_owner(&mut self, uid: u32, gid: u32) {
        put_u16(&mut self.raw, 2, uid as u16);
        put_u16(&mut self.raw, 120, (uid >> 16) as u16);
        put_u16(&mut self.raw, 24, gid as u16);
        put_u16(&mut self.raw, 122, (gid >> 16) as u16);
    }
    /// Size in bytes (`i_size` and, for regular files, `i_size_high`).
    pub fn size(&self) -> u64 {
        let high = if self.kind() == S_IFREG { u64::from(u32_at(&self.raw, 108)) } else { 0 };
        u64::from(u32_at(&self.raw, 4)) | high << 32
    }
    /// Sets the size.
    pub fn set_size(&mut self, size: u64) {
        put_u32(&mut self.raw, 4, size as u32);
        if self.kind() == S_IFREG {
            put_u32(&mut self.raw, 108, (size >> 32) as u32);
        }
    }
    /// Access, change and modification times (seconds).
    pub fn times(&self) -> (u32, u32, u32) {
        (u32_at(&self.raw, 8), u32_at(&self.raw, 12), u32_at(&self.raw, 16))
    }
    /// Sets the times given.
    pub fn set_times(&mut self, atime: Option<u32>, ctime: Option<u32>, mtime: Option<u32>) {
        for (at, t) in [(8, atime), (12, ctime), (16, mtime)] {
            if let Some(t) = t {
                put_u32(&mut self.raw, at, t);
            }
        }
    }
    /// Sets `i_dtime` (when it was deleted).
    pub fn set_dtime(&mut self, t: u32) {
        put_u32(&mut self.raw, 20, t);
    }
    /// `i_links_count`.
    pub fn links(&self) -> u16 {
        u16_at(&self.raw, 26)
    }
    /// Sets `i_links_count`.
    pub fn set_links(&mut self, n: u16) {
        put_u16(&mut self.raw, 26, n);
    }
    /// `i_blocks`: 512-byte sectors its data, indirect and attribute
    /// blocks take.
    pub fn sectors(&self) -> u64 {
        u64::from(u32_at(&self.raw, 28)) | u64::from(u16_at(&self.raw, 116)) << 32
    }
    /// Sets `i_blocks`.
    pub fn set_sectors(&mut self, n: u64) {
        put_u32(&mut self.raw, 28, n as u32);
        put_u16(&mut self.raw, 116, (n >> 32) as u16);
    }
    /// `i_flags`.
    pub fn flags(&self) -> u32 {
        u32_at(&self.raw, 32)
    }
    /// Sets `i_flags`.
    pub fn set_flags(&mut self, f: u32) {
        put_u32(&mut self.raw, 32, f);
    }
    /// Block pointer `i` (0..15).
    pub fn pointer(&self, i: usize) -> u32 {
        u32_at(&self.raw, 40 + 4 * i)
    }
    /// Sets block pointer `i`.
    pub fn set_pointer(&mut self, i: usize, block: u32) {
        put_u32(&mut self.raw, 40 + 4 * i, block);
    }
    /// The 60 bytes of block pointers (a fast symbolic link's target).
    pub fn pointer_bytes(&self) -> &[u8] {
        &self.raw[40..100]
    }
    /// Stores a fast symbolic link's target in the block pointers.
    pub fn set_pointer_bytes(&mut self, target: &[u8]) {
        self.raw[40..100].fill(0);
        self.raw[40..40 + target.len()].copy_from_slice(target);
    }
    /// `i_file_acl`: its extended-attribute block (0: none).
    pub fn xattr_block(&self) -> u32 {
        u32_at(&self.raw, 104)
    }
    /// Sets `i_file_acl`.
    pub fn set_xattr_block(&mut self, b: u32) {
        put_u32(&mut self.raw, 104, b);
    }
    /// Whether it is a symbolic link whose target is in the pointers
    /// (Linux's test: no blocks but the attribute block).
    pub fn is_fast_symlink(&self, block_size: u32) -> bool {
        let xattr = if self.xattr_block() != 0 { u64::from(block_size / 512) } else { 0 };
        self.kind() == S_IFLNK && self.sectors() == xattr
    }
}
