//! `rename`, as POSIX has it: the new name replaces an existing one of the
//! same kind (a directory only an empty directory), renaming a name onto
//! another for the same file does nothing, and a directory cannot move
//! into itself. The new name is made before the old one goes, so a crash
//! between leaves the file reachable (with a link count `e2fsck` fixes).

use io::block::BlockDevice;

use crate::dir::check_name;
use crate::inode::{Ino, ROOT};
use crate::ops::Unlinked;
use crate::order::{Class, Phase};
use crate::volume::Volume;
use crate::{Error, Result};

impl<D: BlockDevice> Volume<D> {
    /// Renames `from_dir/from` to `to_dir/to`. A regular file (or link)
    /// the new name replaced is returned when that was its last name:
    /// [`Volume::release`] frees it once nothing holds it open.
    pub async fn rename(&mut self, from_dir: Ino, from: &[u8], to_dir: Ino, to: &[u8]) -> Result<Option<Unlinked>> {
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        if from == b"." || from == b".." {
            return Err(Error::Invalid);
        }
        check_name(to)?;
        let src = self.find(from_dir, from).await?.ok_or(Error::NotFound)?;
        let mut moved = self.inode(src.ino).await?;
        let is_dir = moved.is_dir();
        self.dir_inode(to_dir).await?;
        if is_dir && from_dir != to_dir && self.is_under(to_dir, src.ino).await? {
            return Err(Error::Invalid);
        }
        let existing = self.find(to_dir, to).await?;
        if let Some(dst) = &existing {
            if dst.ino == src.ino {
                return Ok(None);
            }
            let old = self.inode(dst.ino).await?;
            match (is_dir, old.is_dir()) {
                (true, false) => return Err(Error::NotDir),
                (false, true) => return Err(Error::IsDir),
                (true, true) if !self.is_empty(dst.ino).await? => return Err(Error::NotEmpty),
                _ => {}
            }
        } else if is_dir && from_dir != to_dir {
            let parent = self.inode(to_dir).await?;
            if parent.links() >= 32000 {
                return Err(Error::TooManyLinks);
            }
        }
        // Within one directory, to a new name that fits the old record: the
        // record renamed in place (one block: all or nothing).
        if existing.is_none() && from_dir == to_dir {
            self.begin(Phase::Grow).await?;
            let what = || alloc::format!("directory {from_dir}, disk block {}", src.block);
            let renamed = {
                let block = self.block_mut(src.block, Class::Dir).await?;
                crate::dirent::rename_in_place(block, src.offset, to, &what)?
            };
            if renamed {
                let room = self.names.room(from_dir);
                self.names.removed(from_dir, from);
                let place = crate::names::Place { ino: src.ino, block: src.block, offset: src.offset };
                self.names.added(from_dir, to, place, room);
                let mut dir = self.dir_inode(from_dir).await?;
                self.touch_dir(&mut dir);
                self.put_inode(from_dir, &dir).await?;
                moved.set_times(None, Some(self.now()), None);
                self.put_inode(src.ino, &moved).await?;
                return Ok(None);
            }
        }
        // The replaced inode loses its link first (a Shrink: a crash now
        // leaves its entry naming a deleted inode, which e2fsck clears).
        let mut replaced = None;
        if let Some(dst) = &existing {
            self.begin(Phase::Shrink).await?;
            let mut old = self.inode(dst.ino).await?;
            if old.is_dir() {
                old.set_links(0);
                self.put_inode(dst.ino, &old).await?;
                let mut parent = self.inode(to_dir).await?;
                parent.set_links(parent.links().saturating_sub(1));
                self.put_inode(to_dir, &parent).await?;
            } else {
                old.set_links(old.links().saturating_sub(1));
                let now = self.now();
                old.set_times(None, Some(now), None);
                self.put_inode(dst.ino, &old).await?;
                replaced = Some(Unlinked { ino: dst.ino, last: old.links() == 0 });
            }
        }
        // Then the new name (a Grow).
        self.begin(Phase::Grow).await?;
        match &existing {
            Some(dst) => self.retarget_entry(to_dir, to, dst, src.ino, moved.mode()).await?,
            None => self.add_entry(to_dir, to, src.ino, moved.mode()).await?,
        }
        if is_dir && from_dir != to_dir {
            let mut new_parent = self.inode(to_dir).await?;
            new_parent.set_links(new_parent.links() + 1);
            self.put_inode(to_dir, &new_parent).await?;
        }
        // Then the old name goes (a Shrink; found again: adding may have
        // changed its block).
        self.begin(Phase::Shrink).await?;
        let src_now =
            self.find(from_dir, from).await?.filter(|f| f.ino == src.ino).ok_or_else(|| crate::corrupt!("rename lost its source entry"))?;
        self.remove_entry(from_dir, from, &src_now).await?;
        // A moved directory's `..` and its old parent's link count.
        if is_dir && from_dir != to_dir {
            let dotdot = self.find(src.ino, b"..").await?.ok_or_else(|| crate::corrupt!("directory {} has no '..'", src.ino))?;
            let dir_mode = self.inode(to_dir).await?.mode();
            self.retarget_entry(src.ino, b"..", &dotdot, to_dir, dir_mode).await?;
            let mut old_parent = self.inode(from_dir).await?;
            old_parent.set_links(old_parent.links().saturating_sub(1));
            self.put_inode(from_dir, &old_parent).await?;
        }
        moved = self.inode(src.ino).await?;
        let now = self.now();
        moved.set_times(None, Some(now), None);
        self.put_inode(src.ino, &moved).await?;
        if let Some(dst) = existing
            && replaced.is_none()
        {
            // A replaced directory goes now.
            self.release(dst.ino).await?;
        }
        Ok(replaced)
    }

    /// Whether directory `dir` is `ancestor` or lies under it (walking `..`
    /// up to the root, bounded against a loop of `..` entries).
    async fn is_under(&mut self, mut dir: Ino, ancestor: Ino) -> Result<bool> {
        for _ in 0..65536 {
            if dir == ancestor {
                return Ok(true);
            }
            if dir == ROOT {
                return Ok(false);
            }
            dir = self.lookup(dir, b"..").await?;
        }
        Err(crate::corrupt!("the '..' entries above directory {dir} form a loop"))
    }
}
