//! The names of recently used directories, in memory: a lookup or a
//! create in a directory of a thousand entries is a tree search, not a
//! scan of every record (what a hashed index, `dir_index`, does on disk
//! for Linux; this implementation drops that index when it changes a
//! directory, so it keeps its own in memory instead).
//!
//! An index is built by the first full scan of a directory (every record
//! checked as always) and kept exact by every change this volume makes to
//! its entries (`dir`, `rename`); entries never move within their block,
//! so a place stays right until its entry goes. It is dropped when the
//! directory is freed. At most [`MAX_DIRS`] directories and
//! [`MAX_NAMES`] names in all are indexed (their memory is the kernel
//! heap's); a directory past that is scanned as before.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::inode::Ino;

/// Directories indexed at most (the least recently used goes).
pub const MAX_DIRS: usize = 64;
/// Names indexed at most, in all directories together.
pub const MAX_NAMES: usize = 65_536;

/// Where an entry is, and what it names.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Place {
    pub ino: Ino,
    pub block: u32,
    pub offset: usize,
}

struct Index {
    names: BTreeMap<Vec<u8>, Place>,
    used: u64,
    /// The directory block the last entry went into: where the next
    /// insert looks for room first.
    room: u64,
}

/// The indexes (the module doc).
#[derive(Default)]
pub(crate) struct Names {
    dirs: BTreeMap<Ino, Index>,
    clock: u64,
    total: usize,
}

impl Names {
    /// `name` in `dir`, if `dir` is indexed: `Some(None)` when it is not
    /// there.
    pub fn find(&mut self, dir: Ino, name: &[u8]) -> Option<Option<Place>> {
        self.clock += 1;
        let index = self.dirs.get_mut(&dir)?;
        index.used = self.clock;
        Some(index.names.get(name).copied())
    }

    /// Where an insert into `dir` looks for room first.
    pub fn room(&self, dir: Ino) -> u64 {
        self.dirs.get(&dir).map_or(0, |i| i.room)
    }

    /// Keeps `names`, every entry of `dir` (from a full scan), if there is
    /// room for them.
    pub fn put(&mut self, dir: Ino, names: BTreeMap<Vec<u8>, Place>) {
        if names.len() > MAX_NAMES / 4 {
            return;
        }
        self.forget(dir);
        while self.dirs.len() >= MAX_DIRS || (self.total + names.len() > MAX_NAMES && !self.dirs.is_empty()) {
            let oldest = self.dirs.iter().min_by_key(|(_, i)| i.used).map(|(&d, _)| d).expect("not empty");
            self.forget(oldest);
        }
        self.clock += 1;
        self.total += names.len();
        self.dirs.insert(dir, Index { names, used: self.clock, room: 0 });
    }

    /// Drops `dir`'s index (freed, or its entries changed another way).
    pub fn forget(&mut self, dir: Ino) {
        if let Some(i) = self.dirs.remove(&dir) {
            self.total -= i.names.len();
        }
    }

    /// `name` went into block `index` of `dir` at `place`.
    pub fn added(&mut self, dir: Ino, name: &[u8], place: Place, index: u64) {
        if let Some(i) = self.dirs.get_mut(&dir) {
            if i.names.insert(name.to_vec(), place).is_none() {
                self.total += 1;
            }
            i.room = index;
        }
    }

    /// `name` left `dir`.
    pub fn removed(&mut self, dir: Ino, name: &[u8]) {
        if let Some(i) = self.dirs.get_mut(&dir)
            && i.names.remove(name).is_some()
        {
            self.total -= 1;
        }
    }

    /// `name` in `dir` names `ino` now.
    pub fn retargeted(&mut self, dir: Ino, name: &[u8], ino: Ino) {
        if let Some(p) = self.dirs.get_mut(&dir).and_then(|i| i.names.get_mut(name)) {
            p.ino = ino;
        }
    }
}
