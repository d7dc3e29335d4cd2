//! The volume's block cache: blocks by number, each clean or dirty.
//!
//! - **Eviction.** Past the capacity a clean block goes, chosen by the
//!   CLOCK algorithm: a hand sweeps the blocks in number order, clears the
//!   mark a use set and takes the first clean block it finds unmarked. A
//!   hit costs one lookup and a store (an index kept in use order cost
//!   two tree updates per hit, and hits are most of what a volume does:
//!   a create looks at a hundred blocks). Dirty blocks stay until
//!   [`crate::Volume::sync`] (or write-back once a quarter of the capacity
//!   is dirty) writes them back, in block order, neighbours in one
//!   request.
//! - **Memory.** Buffers come from the mounter's [`Memory`]. While it says
//!   memory is short, each new buffer is preceded by giving back a batch of
//!   clean blocks (an eighth of them), so a cache that grew while memory
//!   was plentiful shrinks as programs need it; [`Cache::shrink`] does the
//!   same for a volume that is idle when memory runs short. With no memory
//!   at all, the clean blocks not used since the hand last passed go (the
//!   running operation's own blocks are marked, and stay).
//!
//! The cache belongs to its volume, which one task owns: no lock.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use crate::memory::{BlockBuf, Memory};
use crate::order::Class;
use crate::{Error, Result};

/// The most bytes one write-back request carries (a run of neighbours
/// stops growing past it).
const RUN_BYTES: usize = 64 * 1024;

/// A cached block.
struct Slot {
    data: Box<dyn BlockBuf>,
    dirty: bool,
    /// Used since the hand last passed.
    used: bool,
    /// What it holds (its place in the write-back order).
    class: Class,
}

/// Blocks by number (the module doc).
pub struct Cache {
    blocks: BTreeMap<u32, Slot>,
    /// Dirty blocks, in block order (write-back's order).
    dirty: BTreeSet<u32>,
    /// Where the clock's hand is: the next block number it looks at.
    hand: u32,
    capacity: usize,
    block_size: usize,
    memory: &'static dyn Memory,
    /// Reads that found their block here.
    pub hits: u64,
    /// Reads that went to the disk.
    pub misses: u64,
    /// Clean blocks given back because memory was short.
    pub given_back: u64,
}

impl Cache {
    /// An empty cache of at most `capacity` blocks of `block_size` bytes
    /// (dirty ones may pass it until they are written back), its buffers
    /// from `memory`.
    pub fn new(capacity: usize, block_size: usize, memory: &'static dyn Memory) -> Self {
        Self {
            blocks: BTreeMap::new(),
            dirty: BTreeSet::new(),
            hand: 0,
            capacity: capacity.max(16),
            block_size,
            memory,
            hits: 0,
            misses: 0,
            given_back: 0,
        }
    }

    /// Block `n` if cached.
    pub fn get(&mut self, n: u32) -> Option<&[u8]> {
        let s = self.blocks.get_mut(&n)?;
        s.used = true;
        Some(s.data.bytes())
    }

    /// Whether block `n` is cached (its use not counted).
    pub fn contains(&self, n: u32) -> bool {
        self.blocks.contains_key(&n)
    }

    /// Block `n` if cached, marked dirty as a block of `class`.
    pub fn get_mut(&mut self, n: u32, class: Class) -> Option<&mut [u8]> {
        let s = self.blocks.get_mut(&n)?;
        if !s.dirty {
            s.dirty = true;
            self.dirty.insert(n);
        }
        s.used = true;
        s.class = class;
        Some(s.data.bytes_mut())
    }

    /// A zeroed buffer for one block (the module doc says what is given
    /// back first when memory is short or gone).
    pub fn buffer(&mut self) -> Result<Box<dyn BlockBuf>> {
        if self.memory.short() {
            self.shrink(self.clean() / 8 + 1);
        }
        if let Some(b) = self.memory.buffer(self.block_size) {
            return Ok(b);
        }
        self.drop_cold();
        self.memory.buffer(self.block_size).ok_or(Error::NoMemory)
    }

    /// Caches `data` as block `n` of `class` (clean, as read, or dirty, as
    /// made).
    pub fn insert(&mut self, n: u32, data: Box<dyn BlockBuf>, dirty: bool, class: Class) {
        let was_dirty = self.blocks.insert(n, Slot { data, dirty, used: true, class }).is_some_and(|old| old.dirty);
        if dirty && !was_dirty {
            self.dirty.insert(n);
        } else if was_dirty && !dirty {
            self.dirty.remove(&n);
        }
        while self.blocks.len() > self.capacity {
            let Some(victim) = self.sweep(Some(n)) else { break };
            self.blocks.remove(&victim);
        }
    }

    /// Clean blocks cached.
    fn clean(&self) -> usize {
        self.blocks.len() - self.dirty.len()
    }

    /// Moves the hand to the next clean block not used since it last
    /// passed (clearing the marks it passes), never `keep`; `None` if no
    /// block is clean. At most two turns: the first may only clear marks.
    fn sweep(&mut self, keep: Option<u32>) -> Option<u32> {
        if self.clean() == 0 {
            return None;
        }
        for _ in 0..2 {
            let from = self.hand;
            let found =
                Self::sweep_range(self.blocks.range_mut(from..), keep).or_else(|| Self::sweep_range(self.blocks.range_mut(..from), keep));
            if let Some(n) = found {
                self.hand = n.wrapping_add(1);
                return Some(n);
            }
        }
        None
    }

    fn sweep_range<'a>(range: impl Iterator<Item = (&'a u32, &'a mut Slot)>, keep: Option<u32>) -> Option<u32> {
        for (&n, s) in range {
            if s.dirty || Some(n) == keep {
                continue;
            }
            if s.used {
                s.used = false;
                continue;
            }
            return Some(n);
        }
        None
    }

    /// Gives back up to `count` clean blocks, as the clock chooses them;
    /// how many it gave.
    pub fn shrink(&mut self, count: usize) -> usize {
        let mut given = 0;
        while given < count {
            let Some(n) = self.sweep(None) else { break };
            self.blocks.remove(&n);
            given += 1;
        }
        self.given_back += given as u64;
        given
    }

    /// Gives back every clean block not used since the hand last passed.
    fn drop_cold(&mut self) {
        let before = self.blocks.len();
        self.blocks.retain(|_, s| s.dirty || s.used);
        self.given_back += (before - self.blocks.len()) as u64;
    }

    /// Forgets block `n` (freed: its contents no longer matter).
    pub fn forget(&mut self, n: u32) {
        if let Some(s) = self.blocks.remove(&n)
            && s.dirty
        {
            self.dirty.remove(&n);
        }
    }

    /// Dirty blocks.
    pub fn dirty(&self) -> usize {
        self.dirty.len()
    }

    /// Blocks cached.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether write-back should run before the cache grows further: a
    /// quarter of the capacity is dirty, or memory is short and anything
    /// is (dirty blocks cannot be given back until written).
    pub fn over(&self) -> bool {
        self.dirty.len() > self.capacity / 4 || (!self.dirty.is_empty() && self.memory.short())
    }

    /// Whether a dirty block holds metadata (not file data).
    pub fn dirty_metadata(&self) -> bool {
        self.dirty.iter().any(|n| self.blocks.get(n).is_some_and(|s| s.class != Class::Data))
    }

    /// The dirty blocks of `class` in order, as runs of consecutive
    /// numbers: each run's first block and its bytes concatenated.
    pub fn dirty_runs(&self, class: Class) -> Vec<(u32, Vec<u8>)> {
        let mut runs: Vec<(u32, Vec<u8>)> = Vec::new();
        let mut next = None;
        for &n in &self.dirty {
            let s = &self.blocks[&n];
            if s.class != class {
                continue;
            }
            match runs.last_mut() {
                Some((_, bytes)) if next == Some(n) && bytes.len() < RUN_BYTES => {
                    // A run of more than one block: room for a whole run
                    // at once, not regrown block by block.
                    bytes.reserve_exact((RUN_BYTES + self.block_size).saturating_sub(bytes.capacity()));
                    bytes.extend_from_slice(s.data.bytes());
                }
                _ => runs.push((n, s.data.bytes().to_vec())),
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
                self.dirty.remove(&n);
            }
        }
        while self.blocks.len() > self.capacity {
            let Some(victim) = self.sweep(None) else { break };
            self.blocks.remove(&victim);
        }
    }
}
