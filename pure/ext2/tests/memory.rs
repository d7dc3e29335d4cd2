//! The block cache and its memory: buffers come from the mounter's
//! `Memory`, a short memory makes the cache give clean blocks back, no
//! memory at all fails the operation with `NoMemory` and harms nothing,
//! and a cache large enough serves a second read without the disk.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ext2::{BlockBuf, Error, Memory, Options, Volume};
use support::{MemDisk, Rng, block_on, e2fsck, mke2fs, scratch};

/// At most `limit` buffers at once; short once more than `short_above`
/// are out; `live` counts them, `most` is the highest count seen.
struct Tight {
    limit: usize,
    short_above: usize,
    live: AtomicUsize,
    most: AtomicUsize,
    refuse: AtomicBool,
}

struct Counted {
    bytes: Box<[u8]>,
    owner: &'static Tight,
}

impl BlockBuf for Counted {
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.owner.live.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Memory for &'static Tight {
    fn buffer(&self, size: usize) -> Option<Box<dyn BlockBuf>> {
        if self.refuse.load(Ordering::Relaxed) || self.live.load(Ordering::Relaxed) >= self.limit {
            return None;
        }
        let live = self.live.fetch_add(1, Ordering::Relaxed) + 1;
        self.most.fetch_max(live, Ordering::Relaxed);
        Some(Box::new(Counted { bytes: vec![0u8; size].into_boxed_slice(), owner: self }))
    }
    fn short(&self) -> bool {
        self.live.load(Ordering::Relaxed) > self.short_above
    }
}

fn tight(limit: usize, short_above: usize) -> &'static &'static Tight {
    let t: &'static Tight = Box::leak(Box::new(Tight {
        limit,
        short_above,
        live: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
        refuse: AtomicBool::new(false),
    }));
    Box::leak(Box::new(t))
}

/// A 1 MiB file read and copied through a cache that may hold 48 blocks
/// and is short past 24: every byte right, the copy checked by e2fsck, the
/// buffers out never past the limit, and clean blocks given back.
#[test]
fn a_short_memory_makes_the_cache_give_blocks_back() {
    let dir = scratch("memory-short");
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    let bytes = Rng(11).bytes(1 << 20);
    std::fs::write(tree.join("big"), &bytes).unwrap();
    let img = dir.join("img");
    mke2fs(&img, 1024, 8 * 1024, Some(&tree));
    let disk = MemDisk::from_file(&img);
    let memory = tight(48, 24);
    let options = Options { now: || 1_750_000_000, cache_bytes: 1 << 30, memory, ..Options::default() };
    let mut vol = block_on(Volume::mount(disk.clone(), options)).unwrap();
    let root = vol.root();
    let ino = block_on(vol.lookup(root, b"big")).unwrap();
    let copy = block_on(vol.create(root, b"copy", 0o644, 0, 0)).unwrap();
    let mut got = vec![0u8; bytes.len()];
    for (i, chunk) in got.chunks_mut(8192).enumerate() {
        assert_eq!(block_on(vol.read(ino, (i * 8192) as u64, chunk)).unwrap(), chunk.len());
        assert_eq!(block_on(vol.write(copy, (i * 8192) as u64, chunk)).unwrap(), chunk.len());
        assert!(vol.cached_blocks() <= 48, "{} blocks cached", vol.cached_blocks());
    }
    assert!(got == bytes, "the file reads back under a short memory");
    let most = memory.most.load(Ordering::Relaxed);
    println!("at most {most} buffers out of 48; {} cached at the end", vol.cached_blocks());
    assert!(most <= 48);
    block_on(vol.unmount()).unwrap();
    disk.save(&img);
    let (code, out) = e2fsck(&img);
    assert_eq!(code, 0, "{out}");
    let out = dir.join("copy");
    support::debugfs(&img, &format!("dump /copy {}", out.display()));
    assert!(std::fs::read(&out).unwrap() == bytes, "debugfs reads the copy back");
}

/// With no memory at all a write fails with `NoMemory` before it allocates
/// anything: the volume stays consistent, and works again once memory is
/// back.
#[test]
fn no_memory_fails_the_write_and_harms_nothing() {
    let dir = scratch("memory-none");
    let img = dir.join("img");
    mke2fs(&img, 1024, 4 * 1024, None);
    let disk = MemDisk::from_file(&img);
    let memory = tight(10_000, 10_000);
    let options = Options { now: || 1_750_000_000, memory, ..Options::default() };
    let mut vol = block_on(Volume::mount(disk.clone(), options)).unwrap();
    let root = vol.root();
    let f = block_on(vol.create(root, b"f", 0o644, 0, 0)).unwrap();
    block_on(vol.sync()).unwrap();
    vol.shrink_cache(usize::MAX);
    memory.refuse.store(true, Ordering::Relaxed);
    let r = block_on(vol.write(f, 0, &[7u8; 5000]));
    assert!(matches!(r, Err(Error::NoMemory)), "{r:?}");
    memory.refuse.store(false, Ordering::Relaxed);
    assert_eq!(block_on(vol.write(f, 0, &[7u8; 5000])).unwrap(), 5000);
    block_on(vol.unmount()).unwrap();
    disk.save(&img);
    let (code, out) = e2fsck(&img);
    assert_eq!(code, 0, "{out}");
}

/// A file that fits in the cache is read from the disk once: the second
/// pass makes no request.
#[test]
fn a_second_read_is_served_from_the_cache() {
    let dir = scratch("memory-hit");
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    let bytes = Rng(5).bytes(2 << 20);
    std::fs::write(tree.join("f"), &bytes).unwrap();
    let img = dir.join("img");
    mke2fs(&img, 4096, 16 * 1024, Some(&tree));
    let disk = MemDisk::from_file(&img);
    let options = Options { read_only: true, cache_bytes: 8 << 20, ..Options::default() };
    let mut vol = block_on(Volume::mount(disk.clone(), options)).unwrap();
    let ino = block_on(vol.lookup(vol.root(), b"f")).unwrap();
    let mut got = vec![0u8; bytes.len()];
    block_on(vol.read(ino, 0, &mut got)).unwrap();
    assert!(got == bytes);
    let before = *disk.reads.borrow();
    let mut rng = Rng(9);
    for _ in 0..2000 {
        let at = rng.below(bytes.len() as u64 - 4096);
        let mut b = [0u8; 4096];
        block_on(vol.read(ino, at, &mut b)).unwrap();
        assert!(b[..] == bytes[at as usize..at as usize + 4096]);
    }
    assert_eq!(*disk.reads.borrow() - before, 0, "random reads of a cached file go to the disk");
}
