//! ext2, read and write, over an async block device ([`io::block::BlockDevice`]).
//!
//! Every crate found that reads ext2 is synchronous (ext4-view, ext4_rs,
//! another_ext4, lwext4): on a cooperative per-CPU executor a synchronous
//! disk read stalls every task of its CPU for a whole request. This one
//! awaits the disk at every block it misses in its cache.
//!
//! What it handles: revision 0 and 1 volumes with 1, 2 and 4 KiB blocks
//! and the features Debian's `mke2fs -t ext2` turns on (`ext_attr
//! resize_inode dir_index filetype sparse_super large_file`): attribute
//! blocks are kept and freed with their inode, the resize inode's blocks
//! left alone, a hashed directory read linearly and its index flag
//! dropped when it changes (as Linux's ext2 does). Other incompatible
//! features refuse the mount by name; other read-only-compatible ones make
//! it read-only.
//!
//! The pieces, lowest first: [`superblock`], [`group`], [`inode`],
//! [`dirent`] (the on-disk formats, each checked as it is read), then the
//! [`Volume`] and its parts: the block cache (`cache`), allocation
//! (`bitmap`), block maps (`bmap`), file data (`file`), directories
//! (`dir`) and their names indexed in memory (`names`), the namespace
//! (`ops`, `rename`).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

/// A [`Error::Corrupt`] built like `format!`.
macro_rules! corrupt {
    ($($arg:tt)*) => {
        $crate::Error::Corrupt(alloc::format!($($arg)*))
    };
}
pub(crate) use corrupt;

mod bitmap;
mod bmap;
mod bytes;
mod cache;
mod dir;
pub mod dirent;
mod error;
mod file;
pub mod group;
pub mod inode;
pub mod memory;
mod names;
mod ops;
mod order;
mod rename;
mod stream;
pub mod superblock;
mod volume;

pub use dir::DirEntry;
pub use error::{Error, Result};
pub use inode::{Ino, ROOT};
pub use memory::{BlockBuf, Heap, Memory};
pub use ops::{SetAttr, Stat, Unlinked};
pub use stream::Ahead;
pub use volume::{Options, StatFs, Volume};
