//! The volume's block cache: blocks by number, each clean or dirty, the
//! least recently used clean one dropped when the cache is full. Dirty
//! blocks stay until [`crate::Volume::sync`] (or a full cache) writes them
//! back, in block order, neighbours in one request.
//!
//! The cache belongs to its volume, which one task owns: no lock.

use alloc::boxed::Box;

use crate::order::Class;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// A cached block.
struct Slot {
    data: Box<[u8]>,
    dirty: bool,
    used: u64,
    /// What it holds (its place in the write-back order).
    class: Class,
}

/// Blocks by number (the module doc).
pub struct Cache {
    blocks: BTreeMap<u32, Slot>,
    capacity: usize,
    clock: u64,
    dirty: usize,
    /// Reads that found their block here.
    pub hits: u64,
    /// Reads that went to the disk.
    pub misses: u64,
}

impl Cache {
    /// An empty cache of at most `capacity` blocks (dirty ones may pass it
    /// until they are written back).
    pub fn new(capacity: usize) -> Self {
        Self { blocks: BTreeMap::new(), capacity: capacity.max(16), clock: 0, dirty: 0, hits: 0, misses: 0 }
    }

    /// Block `n` if cached.
    pub fn get(&mut self, n: u32) -> Option<&[u8]> {
        self.clock += 1;
        let clock = self.clock;
        self.blocks.get_mut(&n).map(|s| {
            s.used = clock;
            &*s.data
        })
    }

    /// Whether block `n` is cached (its use not counted).
    pub fn contains(&self, n: u32) -> bool {
        self.blocks.contains_key(&n)
    }

    /// Block `n` if cached, marked dirty as a block of `class`.
    pub fn get_mut(&mut self, n: u32, class: Class) -> Option<&mut [u8]> {
        self.clock += 1;
        let clock = self.clock;
        let dirty = &mut self.dirty;
        self.blocks.get_mut(&n).map(|s| {
            s.used = clock;
            s.class = class;
            if !s.dirty {
                s.dirty = true;
                *dirty += 1;
            }
            &mut *s.data
        })
    }

    /// Caches `data` as block `n` of `class` (clean, as read, or dirty, as
    /// made).
    pub fn insert(&mut self, n: u32, data: Box<[u8]>, dirty: bool, class: Class) {
        self.clock += 1;
        if dirty {
            self.dirty += 1;
        }
        if let Some(old) = self.blocks.insert(n, Slot { data, dirty, used: self.clock, class })
            && old.dirty
        {
            self.dirty -= 1;
        }
        self.evict(Some(n));
    }

    /// Drops clean blocks, least recently used first, down to capacity
    /// (never `keep`, the block just cached for its caller).
    fn evict(&mut self, keep: Option<u32>) {
        while self.blocks.len() > self.capacity {
            let victim = self.blocks.iter().filter(|(n, s)| !s.dirty && Some(**n) != keep).min_by_key(|(_, s)| s.used).map(|(&n, _)| n);
            match victim {
                Some(n) => {
                    self.blocks.remove(&n);
                }
                None => break,
            }
        }
    }

    /// Forgets block `n` (freed: its contents no longer matter).
    pub fn forget(&mut self, n: u32) {
        if let Some(s) = self.blocks.remove(&n)
            && s.dirty
        {
            self.dirty -= 1;
        }
    }

    /// Dirty blocks.
    pub fn dirty(&self) -> usize {
        self.dirty
    }

    /// Whether write-back should run before the cache grows further.
    pub fn over(&self) -> bool {
        self.dirty > self.capacity / 2
    }

    /// Whether a dirty block holds metadata (not file data).
    pub fn dirty_metadata(&self) -> bool {
        self.dirty > 0 && self.blocks.values().any(|s| s.dirty && s.class != Class::Data)
    }

    /// The dirty blocks of `class` in order, as runs of consecutive
    /// numbers: each run's first block and its bytes concatenated.
    pub fn dirty_runs(&self, class: Class) -> Vec<(u32, Vec<u8>)> {
        let mut runs: Vec<(u32, Vec<u8>)> = Vec::new();
        let mut next = None;
        for (&n, s) in self.blocks.iter().filter(|(_, s)| s.dirty && s.class == class) {
            match runs.last_mut() {
                Some((_, bytes)) if next == Some(n) && bytes.len() < 64 * 1024 => bytes.extend_from_slice(&s.data),
                _ => runs.push((n, s.data.to_vec())),
            }
            next = n.checked_add(1);
        }
        runs
    }

    /// Marks blocks `first..first + count` clean (written back).
    pub fn mark_clean(&mut self, first: u32, count: u32) {
        for n in first..first + count {
            if let Some(s) = self.blocks.get_mut(&n)
                && s.dirty
            {
                s.dirty = false;
                self.dirty -= 1;
            }
        }
        self.evict(None);
    }
}
