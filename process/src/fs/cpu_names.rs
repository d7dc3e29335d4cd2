//! Each CPU's cache of names looked up in directories on volumes, so that
//! a path walk through a volume does not ask its service for every name
//! (Linux's dentry cache, split by CPU).
//!
//! An entry holds what the service answered for (directory, name): the
//! inode and its `stat`, or that the name is absent. It is used only while
//! nothing it depends on has changed, which the volume's generation
//! counters (`cpu_pages::Generations`) tell: the service bumps a
//! directory's counter when a name in it is made or removed, an inode's
//! when its bytes, size or attributes change, and the volume's epoch at
//! every rename and removed directory (names may have moved anywhere).
//!
//! ```text
//! caller (CPU c)   d = gen[dir], e = epoch          (before it asks)
//!                  service: answer (ino, stat) and gen[ino] as it stood
//!                  keep {ino, stat, d, gen[ino], e} on c
//! later on c       use it while gen[dir] == d, gen[ino] == its, epoch == e
//! ```
//!
//! The counters are read before the question, so a change the service
//! makes after answering, or before, leaves the entry unused. Each CPU's
//! table is behind a lock only that CPU takes; at most [`MAX_ENTRIES`]
//! per CPU (the lowest key goes first when full: the table is a cache,
//! and a miss costs one message).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use ext2::{Ino, Stat};
use kernel::arch::cpu_id::MAX_CPUS;
use spin::Mutex;

use super::cpu_pages::Generations;

/// Entries one CPU keeps at most.
pub const MAX_ENTRIES: usize = 4096;

/// (volume id, directory, name).
type Key = (u64, Ino, Vec<u8>);

struct Entry {
    found: Option<(Ino, Stat, u64)>,
    dir: u64,
    epoch: u64,
}

static CPUS: [Mutex<BTreeMap<Key, Entry>>; MAX_CPUS] = [const { Mutex::new(BTreeMap::new()) }; MAX_CPUS];

fn this_cpu() -> &'static Mutex<BTreeMap<Key, Entry>> {
    &CPUS[kernel::smp::current().as_usize()]
}

/// What this CPU knows, still current, of `name` in `dir`: `Some(Some(..))`
/// found, `Some(None)` absent, `None` unknown (ask the service).
pub fn get(volume: u64, gens: &Generations, dir: Ino, name: &[u8]) -> Option<Option<(Ino, Stat)>> {
    let guard = this_cpu().lock();
    // A borrowed key: BTreeMap needs an owned one for `get`; names are short.
    let e = guard.get(&(volume, dir, name.to_vec()))?;
    if e.dir != gens.get(dir) || e.epoch != gens.epoch() {
        return None;
    }
    match e.found {
        None => Some(None),
        Some((ino, st, generation)) if gens.get(ino) == generation => Some(Some((ino, st))),
        Some(_) => None,
    }
}

/// What this CPU knows of `name` in `dir` for a path walk going through
/// it, if it is a directory: its inode, while `dir`'s counter and the
/// epoch stand (nothing renamed or removed it). The directory's own
/// counter may have moved (a name made in it changes its size and times):
/// a walk needs only the inode and its type, which do not change; the
/// `stat` that comes with it may be old.
pub fn get_directory(volume: u64, gens: &Generations, dir: Ino, name: &[u8]) -> Option<(Ino, Stat)> {
    let guard = this_cpu().lock();
    let e = guard.get(&(volume, dir, name.to_vec()))?;
    if e.dir != gens.get(dir) || e.epoch != gens.epoch() {
        return None;
    }
    let (ino, st, _) = e.found?;
    (st.mode & ext2::inode::S_IFMT == ext2::inode::S_IFDIR).then_some((ino, st))
}

/// The counters to record with an answer: read before the question.
pub fn before(gens: &Generations, dir: Ino) -> (u64, u64) {
    (gens.get(dir), gens.epoch())
}

/// Keeps the service's answer for `name` in `dir` (`found`: the inode, its
/// stat and its counter as the service read them), with the counters
/// `before` read.
pub fn keep(volume: u64, dir: Ino, name: &[u8], found: Option<(Ino, Stat, u64)>, before: (u64, u64)) {
    let mut table = this_cpu().lock();
    if table.len() >= MAX_ENTRIES {
        table.pop_first();
    }
    table.insert((volume, dir, name.to_vec()), Entry { found, dir: before.0, epoch: before.1 });
}
