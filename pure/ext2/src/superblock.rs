//! The superblock: 1,024 bytes at byte 1,024 of the volume, describing its
//! geometry, counts, state and features.
//!
//! The bytes are kept whole and only the fields this implementation uses
//! are read and written, so a superblock goes back to the disk with every
//! field it did not understand unchanged. [`Superblock::parse`] checks the
//! geometry before anything else trusts it; [`Features::check`] sorts the
//! feature flags into what may be mounted, read-only or not at all.

use alloc::string::String;
use alloc::vec::Vec;

use crate::bytes::{put_u16, put_u32, u16_at, u32_at};
use crate::{Error, Result};

/// Where the superblock starts on the volume, in bytes.
pub const OFFSET: u64 = 1024;
/// Its size in bytes.
pub const SIZE: usize = 1024;
/// `s_magic`.
pub const MAGIC: u16 = 0xEF53;
/// `s_state`: cleanly unmounted.
pub const STATE_VALID: u16 = 1;
/// `s_state`: errors were detected.
pub const STATE_ERRORS: u16 = 2;

/// Incompatible feature: directory entries carry a file type.
pub const INCOMPAT_FILETYPE: u32 = 0x2;
/// Read-only-compatible: backup superblocks only in groups 0, 1 and powers of 3, 5, 7.
pub const RO_COMPAT_SPARSE_SUPER: u32 = 0x1;
/// Read-only-compatible: files may pass 2 GiB.
pub const RO_COMPAT_LARGE_FILE: u32 = 0x2;
/// Compatible: directories may carry a hashed index (`dir_index`).
pub const COMPAT_DIR_INDEX: u32 = 0x20;

const INCOMPAT_NAMES: [(u32, &str); 17] = [
    (0x1, "compression"),
    (0x2, "filetype"),
    (0x4, "needs_recovery"),
    (0x8, "journal_dev"),
    (0x10, "meta_bg"),
    (0x40, "extent"),
    (0x80, "64bit"),
    (0x100, "mmp"),
    (0x200, "flex_bg"),
    (0x400, "ea_inode"),
    (0x1000, "dirdata"),
    (0x2000, "metadata_csum_seed"),
    (0x4000, "large_dir"),
    (0x8000, "inline_data"),
    (0x10000, "encrypt"),
    (0x20000, "casefold"),
    (0x40000, "orphan_file"),
];

const RO_COMPAT_NAMES: [(u32, &str); 15] = [
    (0x1, "sparse_super"),
    (0x2, "large_file"),
    (0x4, "btree_dir"),
    (0x8, "huge_file"),
    (0x10, "uninit_bg"),
    (0x20, "dir_nlink"),
    (0x40, "extra_isize"),
    (0x80, "has_snapshot"),
    (0x100, "quota"),
    (0x200, "bigalloc"),
    (0x400, "metadata_csum"),
    (0x800, "replica"),
    (0x1000, "read-only"),
    (0x2000, "project"),
    (0x10000, "verity"),
];

/// Incompatible features this implementation reads and writes.
const INCOMPAT_KNOWN: u32 = INCOMPAT_FILETYPE;
/// Read-only-compatible features it keeps valid when it writes.
const RO_COMPAT_KNOWN: u32 = RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE | 0x4;

/// The names of the bits of `flags` outside `known`.
fn unknown_names(flags: u32, known: u32, names: &[(u32, &str)]) -> Vec<String> {
    let mut out = Vec::new();
    for bit in 0..32 {
        let b = 1u32 << bit;
        if flags & b != 0 && known & b == 0 {
            match names.iter().find(|(f, _)| *f == b) {
                Some((_, n)) => out.push(String::from(*n)),
                None => out.push(alloc::format!("{b:#x}")),
            }
        }
    }
    out
}

/// What the feature flags allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Features {
    /// Read and write.
    ReadWrite,
    /// Read only: these read-only-compatible features are not understood.
    ReadOnly(Vec<String>),
}

/// The superblock's bytes and the geometry derived from them.
#[derive(Clone)]
pub struct Superblock {
    raw: [u8; SIZE],
    /// Bytes per block.
    pub block_size: u32,
    /// Block groups.
    pub groups: u32,
}

impl Superblock {
    /// Checks `raw` (the 1,024 bytes at byte 1,024) and derives the
    /// geometry; an image a careful reader must refuse is an error that
    /// says why.
    pub fn parse(raw: &[u8]) -> Result<Self> {
        let mut bytes = [0u8; SIZE];
        bytes.copy_from_slice(&raw[..SIZE]);
        let mut sb = Self { raw: bytes, block_size: 0, groups: 0 };
        if sb.magic() != MAGIC {
            return Err(crate::corrupt!("bad magic {:#06x} (ext2's is 0xef53): not an ext2 file system", sb.magic()));
        }
        let log = u32_at(&sb.raw, 24);
        if log > 2 {
            return Err(Error::Unsupported(alloc::format!("block size {} (1, 2 and 4 KiB are)", 1024u64 << log.min(32))));
        }
        sb.block_size = 1024 << log;
        let bs = sb.block_size;
        if sb.rev_level() > 1 {
            return Err(Error::Unsupported(alloc::format!("revision {}", sb.rev_level())));
        }
        let expected_first = u32::from(bs == 1024);
        if sb.first_data_block() != expected_first {
            return Err(crate::corrupt!("first data block {} (a {bs}-byte-block volume has {expected_first})", sb.first_data_block()));
        }
        let bpg = sb.blocks_per_group();
        if bpg == 0 || bpg > 8 * bs || !bpg.is_multiple_of(8) {
            return Err(crate::corrupt!("{bpg} blocks per group (a bitmap block covers {})", 8 * bs));
        }
        let ipg = sb.inodes_per_group();
        if ipg == 0 || ipg > 8 * bs {
            return Err(crate::corrupt!("{ipg} inodes per group (a bitmap block covers {})", 8 * bs));
        }
        let isz = sb.inode_size();
        if !isz.is_power_of_two() || isz < 128 || isz > bs {
            return Err(crate::corrupt!("inode size {isz}"));
        }
        if sb.blocks_count() <= sb.first_data_block() {
            return Err(crate::corrupt!("{} blocks in all", sb.blocks_count()));
        }
        let groups = (sb.blocks_count() - sb.first_data_block()).div_ceil(bpg);
        if u64::from(groups) * u64::from(ipg) != u64::from(sb.inodes_count()) {
            return Err(crate::corrupt!("{} inodes in all, but {groups} groups of {ipg}", sb.inodes_count()));
        }
        if sb.first_ino() < 11 || sb.first_ino() > sb.inodes_count() {
            return Err(crate::corrupt!("first ordinary inode {}", sb.first_ino()));
        }
        sb.groups = groups;
        Ok(sb)
    }

    /// Sorts the feature flags: unknown incompatible ones refuse the mount
    /// (named), unknown read-only-compatible ones allow reading only.
    pub fn features(&self) -> Result<Features> {
        let incompat = unknown_names(u32_at(&self.raw, 96), INCOMPAT_KNOWN, &INCOMPAT_NAMES);
        if !incompat.is_empty() {
            return Err(Error::Unsupported(alloc::format!("incompatible features: {}", incompat.join(", "))));
        }
        let ro = unknown_names(u32_at(&self.raw, 100), RO_COMPAT_KNOWN, &RO_COMPAT_NAMES);
        Ok(if ro.is_empty() { Features::ReadWrite } else { Features::ReadOnly(ro) })
    }

    /// The bytes as they go to the disk.
    pub fn bytes(&self) -> &[u8; SIZE] {
        &self.raw
    }

    /// `s_magic`.
    pub fn magic(&self) -> u16 {
        u16_at(&self.raw, 56)
    }
    /// `s_inodes_count`.
    pub fn inodes_count(&self) -> u32 {
        u32_at(&self.raw, 0)
    }
    /// `s_blocks_count`.
    pub fn blocks_count(&self) -> u32 {
        u32_at(&self.raw, 4)
    }
    /// `s_r_blocks_count`: blocks kept for the superuser.
    pub fn reserved_blocks(&self) -> u32 {
        u32_at(&self.raw, 8)
    }
    /// `s_free_blocks_count`.
    pub fn free_blocks(&self) -> u32 {
        u32_at(&self.raw, 12)
    }
    /// Sets `s_free_blocks_count`.
    pub fn set_free_blocks(&mut self, n: u32) {
        put_u32(&mut self.raw, 12, n);
    }
    /// `s_free_inodes_count`.
    pub fn free_inodes(&self) -> u32 {
        u32_at(&self.raw, 16)
    }
    /// Sets `s_free_inodes_count`.
    pub fn set_free_inodes(&mut self, n: u32) {
        put_u32(&mut self.raw, 16, n);
    }
    /// `s_first_data_block`.
    pub fn first_data_block(&self) -> u32 {
        u32_at(&self.raw, 20)
    }
    /// `s_blocks_per_group`.
    pub fn blocks_per_group(&self) -> u32 {
        u32_at(&self.raw, 32)
    }
    /// `s_inodes_per_group`.
    pub fn inodes_per_group(&self) -> u32 {
        u32_at(&self.raw, 40)
    }
    /// Sets `s_mtime` (last mount).
    pub fn set_mount_time(&mut self, t: u32) {
        put_u32(&mut self.raw, 44, t);
    }
    /// Sets `s_wtime` (last write).
    pub fn set_write_time(&mut self, t: u32) {
        put_u32(&mut self.raw, 48, t);
    }
    /// `s_mnt_count`.
    pub fn mount_count(&self) -> u16 {
        u16_at(&self.raw, 52)
    }
    /// Sets `s_mnt_count`.
    pub fn set_mount_count(&mut self, n: u16) {
        put_u16(&mut self.raw, 52, n);
    }
    /// `s_state`.
    pub fn state(&self) -> u16 {
        u16_at(&self.raw, 58)
    }
    /// Sets `s_state`.
    pub fn set_state(&mut self, s: u16) {
        put_u16(&mut self.raw, 58, s);
    }
    /// `s_rev_level`.
    pub fn rev_level(&self) -> u32 {
        u32_at(&self.raw, 76)
    }
    /// `s_first_ino`: the first inode ordinary files may take.
    pub fn first_ino(&self) -> u32 {
        if self.rev_level() == 0 { 11 } else { u32_at(&self.raw, 84) }
    }
    /// `s_inode_size`.
    pub fn inode_size(&self) -> u32 {
        if self.rev_level() == 0 { 128 } else { u32::from(u16_at(&self.raw, 88)) }
    }
    /// Whether a compatible feature is on.
    pub fn has_compat(&self, flag: u32) -> bool {
        u32_at(&self.raw, 92) & flag != 0
    }
    /// Whether an incompatible feature is on.
    pub fn has_incompat(&self, flag: u32) -> bool {
        u32_at(&self.raw, 96) & flag != 0
    }
    /// Whether a read-only-compatible feature is on.
    pub fn has_ro_compat(&self, flag: u32) -> bool {
        u32_at(&self.raw, 100) & flag != 0
    }
    /// Turns a read-only-compatible feature on.
    pub fn set_ro_compat(&mut self, flag: u32) {
        let v = u32_at(&self.raw, 100) | flag;
        put_u32(&mut self.raw, 100, v);
    }
    /// `s_reserved_gdt_blocks` (`resize_inode`'s room to grow the
    /// descriptor table, right after it).
    pub fn reserved_gdt_blocks(&self) -> u32 {
        if self.has_compat(0x10) { u32::from(u16_at(&self.raw, 206)) } else { 0 }
    }

    /// Whether group `g` holds a backup of the superblock and descriptors
    /// (every group without `sparse_super`; else 0, 1 and powers of 3, 5, 7).
    pub fn has_backup(&self, g: u32) -> bool {
        if g <= 1 || !self.has_ro_compat(RO_COMPAT_SPARSE_SUPER) {
            return true;
        }
        [3u32, 5, 7].iter().any(|&p| {
            let mut n = p;
            while n < g {
                n = n.saturating_mul(p);
            }
            n == g
        })
    }

    /// Blocks the group descriptor table takes.
    pub fn descriptor_blocks(&self) -> u32 {
        (self.groups * crate::group::DESC_SIZE as u32).div_ceil(self.block_size)
    }

    /// The first block of group `g`.
    pub fn group_start(&self, g: u32) -> u32 {
        self.first_data_block() + g * self.blocks_per_group()
    }

    /// Blocks in group `g` (the last may be short).
    pub fn group_blocks(&self, g: u32) -> u32 {
        (self.blocks_count() - self.group_start(g)).min(self.blocks_per_group())
    }

    /// Blocks an inode table takes.
    pub fn inode_table_blocks(&self) -> u32 {
        (self.inodes_per_group() * self.inode_size()).div_ceil(self.block_size)
    }
}
