//! Each CPU's copies of file pages read from volumes: how the cache is
//! split across CPUs.
//!
//! A volume and its block cache belong to one CPU's task (`volume`); a
//! read from any CPU used to be a message there and back (9-34 us under
//! TCG). Here each CPU keeps its own copies of the 4 KiB pages its
//! programs read, so a read that hits costs a lookup and a copy, on its
//! own CPU, without a message and without a lock another CPU takes (each
//! CPU's table sits behind a lock only that CPU's tasks take, within one
//! poll).
//!
//! **How CPUs agree.** Every volume has a table of generation counters
//! (`Generations`, one per inode number modulo its size). Its service
//! bumps the inode's counter after every change to a file's bytes or
//! size (write, append, truncate, fallocate, a new inode) and before it
//! answers, and answers a page read with the counter as it stood when it
//! read. A copy is used only while its counter still stands where it was:
//!
//! ```text
//! writer (any CPU)     service: change the blocks; bump gen[ino]; answer
//! reader (CPU c)       g = gen[ino] (Acquire); copy on c with gen == g? use it
//!                      else: ask the service (bytes, size, gen); keep a copy
//! ```
//!
//! A write that returned before a read began has bumped the counter, so
//! the read misses and asks the service; a write still in progress is
//! ordered after the read. Two inodes sharing a counter only cost misses.
//!
//! **Memory.** Pages are frames (`PageBuf`), at most a quarter of usable
//! memory per CPU, evicted by CLOCK; while memory is short an insert first
//! gives back an eighth of its CPU's pages, and each CPU's trimmer task
//! (started with its first page) gives back half its pages at a time when
//! memory runs short while nothing is read there.

use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicU64, Ordering};

use ext2::Ino;
use kernel::arch::cpu_id::MAX_CPUS;
use kernel::memory::page_buf::PageBuf;
use spin::Mutex;

/// Bytes per page.
pub const PAGE: u64 = 4096;

/// Generation counters per volume (the module doc), and an epoch that
/// renames and removed directories bump (`cpu_names`).
pub struct Generations {
    counters: [AtomicU64; GENERATIONS],
    epoch: AtomicU64,
}

const GENERATIONS: usize = 1024;

impl Generations {
    /// All at zero.
    pub fn new() -> Self {
        Self { counters: [const { AtomicU64::new(0) }; GENERATIONS], epoch: AtomicU64::new(0) }
    }

    /// The epoch now.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Names may have moved anywhere in the volume (a rename, a removed
    /// directory): every cached name is stale.
    pub fn bump_epoch(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    fn slot(&self, ino: Ino) -> &AtomicU64 {
        &self.counters[ino as usize % GENERATIONS]
    }

    /// `ino`'s counter now.
    pub fn get(&self, ino: Ino) -> u64 {
        self.slot(ino).load(Ordering::Acquire)
    }

    /// `ino`'s bytes, size or attributes changed, or (a directory) its
    /// names (the service, before it answers).
    pub fn bump(&self, ino: Ino) {
        self.slot(ino).fetch_add(1, Ordering::AcqRel);
    }
}

impl Default for Generations {
    fn default() -> Self {
        Self::new()
    }
}

/// A page's key: the volume's id, the inode, the page's index.
type Key = (u64, Ino, u64);

struct Page {
    data: PageBuf,
    /// The file's size and the inode's counter when the page was read.
    size: u64,
    generation: u64,
    /// Used since the clock's hand last passed.
    used: bool,
}

#[derive(Default)]
struct CpuPages {
    pages: BTreeMap<Key, Page>,
    hand: Option<Key>,
    trimmer: bool,
}

static CPUS: [Mutex<Option<CpuPages>>; MAX_CPUS] = [const { Mutex::new(None) }; MAX_CPUS];

fn this_cpu() -> &'static Mutex<Option<CpuPages>> {
    &CPUS[kernel::smp::current().as_usize()]
}

/// Pages one CPU may keep (a quarter of usable memory; read once: the
/// allocator's figures are behind its global lock).
fn capacity() -> usize {
    static PAGES: AtomicU64 = AtomicU64::new(0);
    let mut pages = PAGES.load(Ordering::Relaxed);
    if pages == 0 {
        pages = (kernel::memory::frame::stats().total / 4).max(1);
        PAGES.store(pages, Ordering::Relaxed);
    }
    pages as usize
}

/// Copies what this CPU holds of `ino` (volume `volume`) at `offset` into
/// `buf`, if its copy is current (`generation`): the bytes copied (0 at or
/// past the end of the file), or `None` to ask the service.
pub fn read(volume: u64, ino: Ino, generation: u64, offset: u64, buf: &mut [u8]) -> Option<usize> {
    let len = buf.len();
    read_with(volume, ino, generation, offset, len, false, |bytes| buf[..bytes.len()].copy_from_slice(bytes)).map(|(n, ())| n)
}

/// Hands `put` the bytes this CPU holds of `ino` from `offset` (up to
/// `len`, within the page), if its copy is current: the count and what
/// `put` returned (0 bytes at or past the end). With `whole`, only if
/// that is the whole request (it ends in the page, or the file does).
/// `put` runs under this CPU's lock: it must not wait.
pub fn read_with<R>(
    volume: u64,
    ino: Ino,
    generation: u64,
    offset: u64,
    len: usize,
    whole: bool,
    put: impl FnOnce(&[u8]) -> R,
) -> Option<(usize, R)> {
    let mut guard = this_cpu().lock();
    let page = guard.as_mut()?.pages.get_mut(&(volume, ino, offset / PAGE))?;
    if page.generation != generation {
        return None;
    }
    page.used = true;
    if offset >= page.size {
        return Some((0, put(&[])));
    }
    let within = (offset % PAGE) as usize;
    let n = len.min(PAGE as usize - within).min((page.size - offset) as usize);
    if whole && n < len && offset + (n as u64) < page.size {
        return None;
    }
    Some((n, put(&page.data.bytes()[within..within + n])))
}

/// Keeps copies of `bytes`, read from `ino` at page-aligned `offset` when
/// the file was `size` bytes and its counter stood at `generation`.
pub fn keep(volume: u64, ino: Ino, offset: u64, bytes: &[u8], size: u64, generation: u64) {
    debug_assert_eq!(offset % PAGE, 0);
    let mut guard = this_cpu().lock();
    let cpu = guard.get_or_insert_with(CpuPages::default);
    if !cpu.trimmer {
        cpu.trimmer = true;
        drop(kernel::exec::spawn_named("page trimmer", trimmer()));
    }
    for (i, chunk) in bytes.chunks(PAGE as usize).enumerate() {
        if kernel::memory::pressure::short() {
            let n = cpu.pages.len() / 8 + 1;
            cpu.shrink(n);
        }
        let Some(mut data) = PageBuf::new() else { return };
        data.bytes_mut()[..chunk.len()].copy_from_slice(chunk);
        cpu.pages.insert((volume, ino, offset / PAGE + i as u64), Page { data, size, generation, used: true });
        while cpu.pages.len() > capacity() {
            if cpu.shrink(1) == 0 {
                break;
            }
        }
    }
}

impl CpuPages {
    /// Gives back up to `count` pages as the clock chooses; how many.
    fn shrink(&mut self, count: usize) -> usize {
        let mut given = 0;
        while given < count {
            let Some(key) = self.victim() else { break };
            self.pages.remove(&key);
            self.hand = Some(key);
            given += 1;
        }
        given
    }

    /// The next page past the hand not used since it last passed
    /// (clearing marks on the way; at most two turns).
    fn victim(&mut self) -> Option<Key> {
        if self.pages.is_empty() {
            return None;
        }
        for _ in 0..2 {
            let after = match self.hand {
                Some(h) => self.pages.range_mut((core::ops::Bound::Excluded(h), core::ops::Bound::Unbounded)).find_map(clear_or_take),
                None => None,
            };
            if let Some(k) = after.or_else(|| self.pages.iter_mut().find_map(clear_or_take)) {
                return Some(k);
            }
        }
        None
    }
}

fn clear_or_take((key, page): (&Key, &mut Page)) -> Option<Key> {
    if page.used {
        page.used = false;
        None
    } else {
        Some(*key)
    }
}

/// Gives back half of this CPU's pages each time memory runs short, until
/// it has none (then waits for the next page before it watches again).
async fn trimmer() {
    let Some(watch) = kernel::memory::pressure::Watch::new() else { return };
    loop {
        watch.until_short().await;
        let given = this_cpu().lock().as_mut().map_or(0, |cpu| {
            let n = cpu.pages.len() / 2 + 1;
            cpu.shrink(n)
        });
        if given == 0 {
            if let Some(cpu) = this_cpu().lock().as_mut() {
                cpu.trimmer = false;
            }
            return;
        }
        kernel::exec::yield_now().await;
    }
}
