//! Ours reads back, byte for byte, what `mke2fs -d` put in an image: files
//! of 0 B to 20 MiB (sparse ones reaching the triple-indirect map), long
//! names, deep paths, hard and symbolic links (fast and slow), a directory
//! of many blocks; at 1, 2 and 4 KiB blocks.

mod support;

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use ext2::inode::{S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use ext2::{Ino, Options, Volume};
use support::{MemDisk, Rng, block_on, mke2fs, scratch};

/// Builds the tree the images are made from.
fn make_tree(root: &Path, big: bool) {
    let mut rng = Rng(0x5eed_0002);
    std::fs::create_dir_all(root).unwrap();
    let sizes: &[usize] = &[0, 1, 511, 1023, 1024, 1025, 4095, 4096, 4097, 12 * 1024, 12 * 1024 + 1, 300 * 1024, 1 << 20];
    for &n in sizes {
        std::fs::write(root.join(format!("size-{n}")), rng.bytes(n)).unwrap();
    }
    if big {
        std::fs::write(root.join("twenty-mib"), rng.bytes(20 << 20)).unwrap();
    }
    // Sparse: data, a hole, data far out (past 64 MiB + 268 KiB: the
    // triple-indirect map at 1 KiB blocks).
    let f = std::fs::File::create(root.join("sparse")).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(b"start", 0).unwrap();
    f.write_all_at(&rng.bytes(5000), 3 << 20).unwrap();
    f.write_all_at(b"far", 70 << 20).unwrap();
    drop(f);
    std::fs::write(root.join("hole-only"), b"").unwrap();
    std::fs::File::options().write(true).open(root.join("hole-only")).unwrap().set_len(10 << 20).unwrap();
    let long = "n".repeat(255);
    std::fs::write(root.join(&long), b"a long name").unwrap();
    let mut deep = root.to_path_buf();
    for i in 0..30 {
        deep = deep.join(format!("d{i}"));
    }
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("bottom"), b"at the bottom\n").unwrap();
    std::fs::hard_link(root.join("size-4097"), root.join("hard-link")).unwrap();
    std::os::unix::fs::symlink("size-1", root.join("fast-link")).unwrap();
    std::os::unix::fs::symlink("x".repeat(200), root.join("slow-link")).unwrap();
    let many = root.join("many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..600 {
        std::fs::write(many.join(format!("entry-{i:04}-{}", "y".repeat(i % 40))), format!("{i}\n")).unwrap();
    }
    std::fs::set_permissions(root.join("size-1"), std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Compares directory `ino` with host directory `host`, recursively.
fn compare(vol: &mut Volume<MemDisk>, ino: Ino, host: &Path, inodes: &mut HashMap<u64, Ino>, files: &mut usize) {
    let mut ours: Vec<(Vec<u8>, Ino)> = block_on(vol.list(ino)).unwrap().into_iter().map(|e| (e.name, e.ino)).collect();
    ours.retain(|(n, _)| n != b"." && n != b".." && n != b"lost+found");
    ours.sort();
    let mut theirs: Vec<Vec<u8>> = std::fs::read_dir(host).unwrap().map(|e| e.unwrap().file_name().into_encoded_bytes()).collect();
    theirs.sort();
    let names: Vec<Vec<u8>> = ours.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(names, theirs, "entries of {}", host.display());
    for (name, child) in ours {
        let path = host.join(std::str::from_utf8(&name).unwrap());
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let st = block_on(vol.stat(child)).unwrap();
        assert_eq!(u32::from(st.mode) & 0o7777, meta.mode() & 0o7777, "permissions of {}", path.display());
        assert_eq!(u32::from(st.links), meta.nlink() as u32, "links of {}", path.display());
        // Hard links: one inode on the host, one here.
        let seen = *inodes.entry(meta.ino()).or_insert(child);
        assert_eq!(seen, child, "{} is a hard link of inode {seen}", path.display());
        match st.mode & S_IFMT {
            S_IFDIR => compare(vol, child, &path, inodes, files),
            S_IFLNK => {
                let target = block_on(vol.readlink(child)).unwrap();
                assert_eq!(target, std::fs::read_link(&path).unwrap().into_os_string().into_encoded_bytes());
            }
            S_IFREG => {
                let want = std::fs::read(&path).unwrap();
                assert_eq!(st.size, want.len() as u64, "size of {}", path.display());
                let mut got = vec![0u8; want.len() + 100];
                // Odd-sized reads at odd offsets cross block boundaries.
                let mut at = 0;
                let mut step = 1000;
                while at < got.len() {
                    let end = (at + step).min(got.len());
                    let n = block_on(vol.read(child, at as u64, &mut got[at..end])).unwrap();
                    if n == 0 {
                        break;
                    }
                    at += n;
                    step = step * 3 % 300_001 + 1;
                }
                assert_eq!(at, want.len(), "bytes read of {}", path.display());
                assert!(got[..at] == want[..], "contents of {}", path.display());
                *files += 1;
            }
            other => panic!("unexpected type {other:o}"),
        }
    }
}

fn read_back(block_size: u32, big: bool) {
    let dir = scratch(&format!("read-{block_size}"));
    let tree = dir.join("tree");
    make_tree(&tree, big);
    let img = dir.join("img");
    mke2fs(&img, block_size, if big { 64 * 1024 } else { 24 * 1024 }, Some(&tree));
    let disk = MemDisk::from_file(&img);
    let mut vol = block_on(Volume::mount(disk, Options { read_only: true, ..Options::default() })).expect("mount");
    let mut files = 0;
    let root = vol.root();
    compare(&mut vol, root, &tree, &mut HashMap::new(), &mut files);
    let (hits, misses, _) = vol.cache_stats();
    println!("{block_size}-byte blocks: {files} files read back; cache {hits} hits, {misses} misses");
    assert!(files > 600);
}

#[test]
fn every_byte_reads_back_at_1_kib_blocks() {
    read_back(1024, false);
}

#[test]
fn every_byte_reads_back_at_2_kib_blocks() {
    read_back(2048, false);
}

#[test]
fn every_byte_reads_back_at_4_kib_blocks_with_a_20_mib_file() {
    read_back(4096, true);
}

/// A sequential reader's blocks come in runs (readahead): reading a
/// 1 MiB file written in one go takes a few dozen disk requests, not one
/// per block; a reader that jumps around reads only what it asks for.
#[test]
fn sequential_reads_read_ahead() {
    let dir = scratch("readahead");
    let tree = dir.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    let mut rng = Rng(7);
    let bytes = rng.bytes(1 << 20);
    std::fs::write(tree.join("big"), &bytes).unwrap();
    let img = dir.join("img");
    mke2fs(&img, 1024, 8 * 1024, Some(&tree));
    let disk = MemDisk::from_file(&img);
    let mut vol = block_on(Volume::mount(disk.clone(), Options { read_only: true, ..Options::default() })).unwrap();
    let root = vol.root();
    let ino = block_on(vol.lookup(root, b"big")).unwrap();
    let before = *disk.reads.borrow();
    let mut got = vec![0u8; bytes.len()];
    for (i, chunk) in got.chunks_mut(4096).enumerate() {
        assert_eq!(block_on(vol.read(ino, (i * 4096) as u64, chunk)).unwrap(), chunk.len());
    }
    let sequential = *disk.reads.borrow() - before;
    assert!(got == bytes);
    println!("1 MiB read in 4 KiB steps: {sequential} disk requests for 1024 blocks");
    assert!(sequential <= 1024 / 16, "{sequential} requests: readahead reads runs");
}
