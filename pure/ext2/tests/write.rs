//! Ours writes: a seeded random sequence of creates, writes, truncates,
//! links, renames, removals on a volume mke2fs made; after every step the
//! volume is synced and the host's `e2fsck -fn` must find nothing wrong,
//! and every so often `debugfs rdump` must give back the tree a model of
//! the sequence says.

mod support;

use ext2::{Options, Volume};
use support::model::{Model, Node, check_dump, step};
use support::{MemDisk, Rng, block_on, debugfs, e2fsck, mke2fs, scratch};

fn random_sequence(name: &str, block_size: u32, steps: usize, seed: u64, index_dirs: bool) {
    let dir = scratch(name);
    let img = dir.join("img");
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("big-dir")).unwrap();
    let mut m = Model::default();
    m.paths.insert("big-dir".into(), Node::Dir);
    for i in 0..300 {
        let p = format!("big-dir/entry-{i:03}-{}", "z".repeat(i % 50));
        std::fs::write(tree.join(&p), format!("{i}\n")).unwrap();
        m.data.push(format!("{i}\n").into_bytes());
        m.paths.insert(p, Node::File(m.data.len() - 1));
    }
    mke2fs(&img, block_size, 32 * 1024, Some(&tree));
    if index_dirs {
        // e2fsck -D gives big-dir a hashed index: ours must keep it valid
        // (by dropping the flag) when it changes the directory.
        let (code, out) = support::e2fsck_with(&img, "-fyD");
        assert!(code <= 1, "{out}");
        assert!(debugfs(&img, "stat /big-dir").contains("Flags: 0x1000"), "big-dir is indexed");
    }
    let disk = MemDisk::from_file(&img);
    let mut vol =
        block_on(Volume::mount(disk.clone(), Options { now: || 1_750_000_000, cache_bytes: 512 * 1024, ..Options::default() })).unwrap();
    let mut rng = Rng(seed);
    for n in 0..steps {
        let what = step(&mut vol, &mut m, &mut rng, n);
        if std::env::var("EXT2_TRACE").is_ok() {
            println!("{n}: {what}");
        }
        block_on(vol.sync()).unwrap();
        disk.save(&img);
        let (code, out) = e2fsck(&img);
        assert_eq!(code, 0, "after step {n} ({what}) e2fsck -fn says:\n{out}");
        if n % 40 == 39 {
            check_dump(&img, &m, &dir.join("dump"));
        }
    }
    let disk = block_on(vol.unmount()).unwrap();
    disk.save(&img);
    let (code, out) = e2fsck(&img);
    assert_eq!(code, 0, "after unmount e2fsck -fn says:\n{out}");
    assert!(debugfs(&img, "stats").contains("Filesystem state:         clean"), "unmount marks the volume clean");
    check_dump(&img, &m, &dir.join("dump"));
    println!("{name}: {steps} steps, {} names at the end", m.paths.len());
}

#[test]
fn a_random_sequence_at_1_kib_blocks_stays_consistent() {
    random_sequence("write-1k", 1024, 240, 0x0d0_a7a1, false);
}

#[test]
fn a_random_sequence_at_4_kib_blocks_stays_consistent() {
    random_sequence("write-4k", 4096, 160, 0x0d0_a7a2, false);
}

#[test]
fn an_indexed_directory_changed_by_ours_stays_consistent() {
    random_sequence("write-htree", 1024, 120, 0x0d0_a7a3, true);
}

/// `fallocate` mode 0 fills holes and raises the size; e2fsck agrees, and
/// the bytes read back as they were, zeros where there were holes.
#[test]
fn allocate_fills_holes_and_grows() {
    let dir = scratch("allocate");
    let img = dir.join("img");
    mke2fs(&img, 1024, 8 * 1024, None);
    let disk = MemDisk::from_file(&img);
    let mut vol = block_on(Volume::mount(disk.clone(), Options::default())).unwrap();
    let root = vol.root();
    let f = block_on(vol.create(root, b"f", 0o644, 0, 0)).unwrap();
    block_on(vol.write(f, 0, b"head")).unwrap();
    block_on(vol.write(f, 300_000, b"tail")).unwrap();
    let sparse = block_on(vol.stat(f)).unwrap().sectors;
    block_on(vol.allocate(f, 0, 400_000)).unwrap();
    let st = block_on(vol.stat(f)).unwrap();
    assert_eq!(st.size, 400_000);
    assert!(st.sectors > sparse + 700, "{} sectors after, {sparse} before", st.sectors);
    let mut buf = vec![0u8; 400_000];
    assert_eq!(block_on(vol.read(f, 0, &mut buf)).unwrap(), 400_000);
    assert_eq!(&buf[..4], b"head");
    assert_eq!(&buf[300_000..300_004], b"tail");
    assert!(buf[4..300_000].iter().all(|&b| b == 0) && buf[300_004..].iter().all(|&b| b == 0));
    // Within the size: nothing changes but blocks.
    block_on(vol.allocate(f, 10, 20)).unwrap();
    assert_eq!(block_on(vol.stat(f)).unwrap().size, 400_000);
    let disk = block_on(vol.unmount()).unwrap();
    disk.save(&img);
    let (code, out) = e2fsck(&img);
    assert_eq!(code, 0, "{out}");
}

/// Appends in 64 KiB writes until the volume is full, two files taking
/// turns (so their runs of blocks interleave): each write that stops short
/// says how much it wrote, the next says ENOSPC, every byte reads back,
/// and e2fsck agrees with every count and bitmap.
#[test]
fn appends_until_the_volume_is_full_stay_consistent() {
    let dir = scratch("full");
    let img = dir.join("img");
    mke2fs(&img, 1024, 4 * 1024, None);
    let disk = MemDisk::from_file(&img);
    let mut vol = block_on(Volume::mount(disk.clone(), Options::default())).unwrap();
    let root = vol.root();
    let files = [block_on(vol.create(root, b"a", 0o644, 0, 0)).unwrap(), block_on(vol.create(root, b"b", 0o644, 0, 0)).unwrap()];
    let mut rng = Rng(31);
    let mut written = [Vec::new(), Vec::new()];
    let mut full = [false, false];
    while !(full[0] && full[1]) {
        for (i, &f) in files.iter().enumerate() {
            if full[i] {
                continue;
            }
            let chunk = rng.bytes(64 * 1024);
            match block_on(vol.write(f, written[i].len() as u64, &chunk)) {
                Ok(n) => {
                    written[i].extend_from_slice(&chunk[..n]);
                    full[i] = n < chunk.len();
                }
                Err(ext2::Error::NoSpace) => full[i] = true,
                Err(e) => panic!("{e}"),
            }
        }
    }
    println!("{} and {} bytes written before the volume was full", written[0].len(), written[1].len());
    assert!(written[0].len() + written[1].len() > 3 << 20);
    for (i, &f) in files.iter().enumerate() {
        let mut got = vec![0u8; written[i].len()];
        assert_eq!(block_on(vol.read(f, 0, &mut got)).unwrap(), got.len());
        assert!(got == written[i], "file {i} reads back");
        assert_eq!(block_on(vol.stat(f)).unwrap().size, written[i].len() as u64);
    }
    let disk = block_on(vol.unmount()).unwrap();
    disk.save(&img);
    let (code, out) = e2fsck(&img);
    assert_eq!(code, 0, "{out}");
}
