//! Long sequential reads stream past the block cache (drop-behind,
//! `src/stream.rs`): the bytes are right, the cache does not fill with
//! them, and what the window read ahead never outlives a change on the
//! disk.

mod support;

use ext2::{Options, Volume};
use support::{MemDisk, Rng, block_on, e2fsck, mke2fs, scratch};

const CHUNK: usize = 64 * 1024;

fn mounted(name: &str, bytes: &[u8]) -> (std::path::PathBuf, MemDisk, Volume<MemDisk>) {
    let dir = scratch(name);
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("big"), bytes).unwrap();
    let img = dir.join("img");
    mke2fs(&img, 1024, 16 * 1024, Some(&tree));
    let disk = MemDisk::from_file(&img);
    let options = Options { now: || 1_750_000_000, cache_bytes: 64 << 20, ..Options::default() };
    let vol = block_on(Volume::mount(disk.clone(), options)).unwrap();
    (img, disk, vol)
}

/// A 6 MiB file read from start to end in 64 KiB reads: every byte right,
/// in few disk requests, and the cache keeps only what came before the
/// stream began (its first MiB and a readahead), not all 6,144 blocks.
#[test]
fn a_long_sequential_read_streams_past_the_cache() {
    let bytes = Rng(21).bytes(6 << 20);
    let (_img, disk, mut vol) = mounted("stream-long", &bytes);
    let ino = block_on(vol.lookup(vol.root(), b"big")).unwrap();
    let before = *disk.reads.borrow();
    let mut at = 0;
    while at < bytes.len() {
        let got = block_on(vol.read_vec(ino, at as u64, CHUNK)).unwrap();
        assert!(got[..] == bytes[at..at + got.len()], "bytes at {at}");
        at += got.len();
    }
    let requests = *disk.reads.borrow() - before;
    println!("{requests} disk requests, {} blocks cached", vol.cached_blocks());
    // 256 KiB a request, runs broken where an indirect block sits between
    // data blocks (every 256 blocks here): one request per block would be
    // 6,144.
    assert!(requests <= 64, "{requests} requests for 6 MiB");
    assert!(vol.cached_blocks() < 1800, "{} blocks cached: the stream went through the cache", vol.cached_blocks());
}

/// Bytes changed ahead of a stream, written back and gone from the cache
/// while the window still holds the old ones: the stream reads the new.
#[test]
fn what_the_window_read_ahead_never_outlives_a_write() {
    let mut bytes = Rng(22).bytes(4 << 20);
    let (img, disk, mut vol) = mounted("stream-write", &bytes);
    let ino = block_on(vol.lookup(vol.root(), b"big")).unwrap();
    let mut at = 0;
    while at < 2 << 20 {
        at += block_on(vol.read_vec(ino, at as u64, CHUNK)).unwrap().len();
    }
    // The window now holds blocks past `at`: change them on the disk.
    let new = Rng(23).bytes(256 * 1024);
    assert_eq!(block_on(vol.write(ino, at as u64, &new)).unwrap(), new.len());
    bytes[at..at + new.len()].copy_from_slice(&new);
    block_on(vol.sync()).unwrap();
    vol.shrink_cache(usize::MAX);
    while at < bytes.len() {
        let got = block_on(vol.read_vec(ino, at as u64, CHUNK)).unwrap();
        assert!(got[..] == bytes[at..at + got.len()], "stale bytes at {at}");
        at += got.len();
    }
    block_on(vol.unmount()).unwrap();
    disk.save(&img);
    let (code, out) = e2fsck(&img);
    assert_eq!(code, 0, "{out}");
}

/// The mounter reads each run the stream will want while the reader is in
/// the one before (`take_ahead`, `offer_ahead`): every byte right, and
/// past the first run the volume itself waits on no disk read.
#[test]
fn runs_read_ahead_by_the_mounter_answer_the_stream() {
    let bytes = Rng(24).bytes(6 << 20);
    let (_img, disk, mut vol) = mounted("stream-ahead", &bytes);
    let ino = block_on(vol.lookup(vol.root(), b"big")).unwrap();
    let mut at = 0;
    let mut own = 0;
    let mut offered = 0;
    while at < bytes.len() {
        let before = *disk.reads.borrow();
        let got = block_on(vol.read_vec(ino, at as u64, CHUNK)).unwrap();
        if at >= 2 << 20 {
            own += *disk.reads.borrow() - before;
        }
        assert!(got[..] == bytes[at..at + got.len()], "bytes at {at}");
        at += got.len();
        if let Some((ahead, mut buf)) = vol.take_ahead() {
            use io::block::BlockDevice;
            block_on(vol.device().read(ahead.lba, &mut buf)).unwrap();
            vol.offer_ahead(ahead, buf);
            offered += 1;
        }
    }
    println!("{offered} runs read ahead; {own} reads of the volume's own past 2 MiB");
    assert!(offered >= 16, "{offered} runs read ahead");
    assert_eq!(own, 0, "the stream waited on the disk");
}

/// A run read ahead, then bytes in it changed and written back before it
/// is handed over: the offer is refused and the stream reads the new bytes.
#[test]
fn a_run_read_before_a_write_is_refused() {
    let mut bytes = Rng(25).bytes(4 << 20);
    let (_img, _disk, mut vol) = mounted("stream-refused", &bytes);
    let ino = block_on(vol.lookup(vol.root(), b"big")).unwrap();
    let mut at = 0;
    let mut pending = None;
    while at < bytes.len() {
        if let Some((ahead, buf)) = pending.take() {
            vol.offer_ahead(ahead, buf);
        }
        let got = block_on(vol.read_vec(ino, at as u64, CHUNK)).unwrap();
        assert!(got[..] == bytes[at..at + got.len()], "stale bytes at {at}");
        at += got.len();
        if let Some((ahead, mut buf)) = vol.take_ahead() {
            use io::block::BlockDevice;
            block_on(vol.device().read(ahead.lba, &mut buf)).unwrap();
            if at == 2 << 20 {
                // Change what the run holds on the disk before it is offered.
                let from = ahead.logical as usize * 1024;
                let new = Rng(26).bytes(ahead.bytes);
                assert_eq!(block_on(vol.write(ino, from as u64, &new)).unwrap(), new.len());
                bytes[from..from + new.len()].copy_from_slice(&new);
                block_on(vol.sync()).unwrap();
                vol.shrink_cache(usize::MAX);
            }
            pending = Some((ahead, buf));
        }
    }
}
