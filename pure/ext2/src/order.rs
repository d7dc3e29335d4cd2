//! The order in which dirty blocks reach the disk, so that a machine
//! stopped after any write leaves a volume `e2fsck -p` repairs without
//! asking (ext2 has no journal).
//!
//! A write-back writes file data first, then metadata by class, in the
//! order of the *phase* the dirty metadata belongs to:
//!
//! ```text
//! Grow   (create, mkdir, link, symlink, a file's growth, a rename's new name):
//!        bitmaps -> indirect blocks -> directory blocks -> inodes
//! Shrink (unlink, rmdir, truncation, a rename's old name, freeing):
//!        inodes -> indirect blocks -> directory blocks -> bitmaps
//! ```
//!
//! Every prefix of those leaves only what `e2fsck -p` fixes alone: blocks
//! or inodes marked used that nothing uses (bitmaps fixed), an entry for
//! an inode not yet written or already deleted (entry cleared), a link
//! count one off (fixed), a new empty inode no entry names yet (cleared).
//! What it cannot fix alone, an inode with data that no entry names, needs
//! a Grow's entry written after its inode, or a Shrink's entry removed
//! before its inode: the orders above never do either.
//!
//! Operations of the two phases must not share a write-back: each public
//! operation says its phase first ([`Volume::begin`]), and dirty metadata
//! of the other phase is written back before it changes anything; write-
//! back runs only there, between operations, never in the middle of one.
//! A rename that replaces a file is three phases: the replaced inode's
//! link count (Shrink), the entry pointed at the moved inode (Grow), the
//! old entry removed (Shrink). What remains unsafe is a directory moved to
//! another parent: between its new entry and its old entry's removal it
//! has two, which `e2fsck` asks about (as after a crash of Linux's ext2).

use io::block::BlockDevice;

use crate::Result;
use crate::volume::Volume;

/// What a block holds, for the write-back order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A file's (or slow symbolic link's) contents.
    Data,
    /// A block or inode bitmap, or an attribute block's count.
    Bitmap,
    /// An indirect block of a block map.
    Indirect,
    /// A directory's block (its entries).
    Dir,
    /// A block of an inode table.
    Inode,
}

/// Which way the dirty metadata changes the volume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Things are made or grow.
    Grow,
    /// Things go or shrink.
    Shrink,
}

impl Phase {
    /// The classes in the order a write-back of this phase writes them.
    pub fn order(self) -> [Class; 5] {
        match self {
            Phase::Grow => [Class::Data, Class::Bitmap, Class::Indirect, Class::Dir, Class::Inode],
            Phase::Shrink => [Class::Data, Class::Inode, Class::Indirect, Class::Dir, Class::Bitmap],
        }
    }
}

impl<D: BlockDevice> Volume<D> {
    /// Starts an operation of `phase`: writes back first if the cache is
    /// mostly dirty, or if dirty metadata belongs to the other phase.
    pub(crate) async fn begin(&mut self, phase: Phase) -> Result<()> {
        let other = self.phase.is_some_and(|p| p != phase) && self.cache.dirty_metadata();
        if other || self.cache.over() {
            self.write_back().await?;
        }
        self.phase = Some(phase);
        Ok(())
    }
}
