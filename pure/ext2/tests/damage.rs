//! Damaged images and failing disks: each kind of damage is reported with
//! a message that says what and where, nothing panics, the rest of the
//! volume stays usable, and nothing is written that spreads the damage.

mod support;

use std::path::{Path, PathBuf};

use ext2::{Error, Options, Volume};
use support::{MemDisk, block_on, debugfs, e2fsck, mke2fs, scratch};

/// An image with a file big enough for an indirect block and a directory.
fn image(name: &str) -> (PathBuf, Vec<u8>) {
    let dir = scratch(name);
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("ind"), vec![7u8; 50_000]).unwrap();
    std::fs::write(tree.join("sub/x"), b"hi\n").unwrap();
    std::fs::write(tree.join("other"), b"still readable\n").unwrap();
    let img = dir.join("img");
    mke2fs(&img, 1024, 4096, Some(&tree));
    let bytes = std::fs::read(&img).unwrap();
    (img, bytes)
}

fn mount(bytes: Vec<u8>) -> Result<Volume<MemDisk>, Error> {
    block_on(Volume::mount(MemDisk::new(bytes), Options::default()))
}

/// Where debugfs says a file's inode lies: (block, offset).
fn inode_at(img: &Path, path: &str) -> usize {
    let out = debugfs(img, &format!("imap {path}"));
    let rest = out.split("located at block ").nth(1).expect("imap output");
    let block: usize = rest.split(',').next().unwrap().trim().parse().unwrap();
    let offset = usize::from_str_radix(rest.split("offset 0x").nth(1).unwrap().trim(), 16).unwrap();
    block * 1024 + offset
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn corrupt_message(e: Error) -> String {
    match e {
        Error::Corrupt(m) => m,
        other => panic!("expected corruption, got {other:?}"),
    }
}

fn read_other(vol: &mut Volume<MemDisk>) {
    let root = vol.root();
    let other = block_on(vol.lookup(root, b"other")).unwrap();
    let mut buf = [0u8; 64];
    let n = block_on(vol.read(other, 0, &mut buf)).unwrap();
    assert_eq!(&buf[..n], b"still readable\n");
}

#[test]
fn a_bad_magic_is_refused() {
    let (_, mut bytes) = image("bad-magic");
    bytes[1024 + 56] = 0;
    let m = corrupt_message(mount(bytes).err().unwrap());
    println!("{m}");
    assert!(m.contains("bad magic"));
}

#[test]
fn an_inode_table_on_the_superblock_is_refused() {
    let (_, mut bytes) = image("table-on-super");
    // Group 0's descriptor is at block 2; its inode table pointer at +8.
    put_u32(&mut bytes, 2048 + 8, 1);
    let m = corrupt_message(mount(bytes).err().unwrap());
    println!("{m}");
    assert!(m.contains("inode table"));
}

#[test]
fn unknown_features_refuse_or_make_it_read_only() {
    let (_, mut bytes) = image("features");
    let incompat = u32::from_le_bytes(bytes[1024 + 96..1024 + 100].try_into().unwrap());
    let mut refused = bytes.clone();
    put_u32(&mut refused, 1024 + 96, incompat | 0x40 | 0x8000);
    match mount(refused) {
        Err(Error::Unsupported(m)) => {
            println!("{m}");
            assert!(m.contains("extent") && m.contains("inline_data"));
        }
        other => panic!("{:?}", other.err()),
    }
    put_u32(&mut bytes, 1024 + 100, 0x400 | 0x3);
    let mut vol = mount(bytes).unwrap();
    assert!(vol.read_only());
    println!("{:?}", vol.warnings);
    assert!(vol.warnings.iter().any(|w| w.contains("metadata_csum")));
    let root = vol.root();
    assert_eq!(block_on(vol.create(root, b"new", 0o644, 0, 0)), Err(Error::ReadOnly));
    read_other(&mut vol);
}

#[test]
fn a_volume_not_cleanly_unmounted_mounts_with_a_warning() {
    let (_, mut bytes) = image("unclean");
    bytes[1024 + 58] = 0;
    let vol = mount(bytes).unwrap();
    println!("{:?}", vol.warnings);
    assert!(vol.warnings.iter().any(|w| w.contains("not cleanly unmounted") && w.contains("e2fsck")));
}

#[test]
fn a_block_pointer_past_the_end_fails_that_file_only() {
    let (img, mut bytes) = image("pointer-past-end");
    let at = inode_at(&img, "/sub/x");
    put_u32(&mut bytes, at + 40, 999_999);
    let mut vol = mount(bytes).unwrap();
    let root = vol.root();
    let sub = block_on(vol.lookup(root, b"sub")).unwrap();
    let x = block_on(vol.lookup(sub, b"x")).unwrap();
    let m = corrupt_message(block_on(vol.read(x, 0, &mut [0u8; 16])).unwrap_err());
    println!("{m}");
    assert!(m.contains("999999"));
    read_other(&mut vol);
}

#[test]
fn a_directory_entry_running_off_its_block_fails_that_directory_only() {
    let (img, mut bytes) = image("dirent-off-block");
    let out = debugfs(&img, "blocks /sub");
    let block: usize = out.split_whitespace().next().unwrap().parse().unwrap();
    // The second entry (`..`, at 12) claims more than the block holds.
    bytes[block * 1024 + 12 + 4..block * 1024 + 12 + 6].copy_from_slice(&2000u16.to_le_bytes());
    let mut vol = mount(bytes).unwrap();
    let root = vol.root();
    let sub = block_on(vol.lookup(root, b"sub")).unwrap();
    let m = corrupt_message(block_on(vol.list(sub)).unwrap_err());
    println!("{m}");
    assert!(m.contains("runs off its block"));
    assert_eq!(block_on(vol.create(sub, b"y", 0o644, 0, 0)).err().map(|e| e.errno()), Some(5));
    read_other(&mut vol);
}

#[test]
fn a_loop_in_a_block_map_frees_nothing() {
    let (img, mut bytes) = image("map-loop");
    let ind = inode_at(&img, "/ind");
    let indirect = u32::from_le_bytes(bytes[ind + 40 + 48..ind + 40 + 52].try_into().unwrap()) as usize;
    // The indirect block's second pointer names the indirect block itself.
    put_u32(&mut bytes, indirect * 1024 + 4, indirect as u32);
    std::fs::write(&img, &bytes).unwrap();
    let before = e2fsck(&img).1;
    let disk = MemDisk::new(bytes);
    let mut vol = block_on(Volume::mount(disk.clone(), Options::default())).unwrap();
    let root = vol.root();
    let f = block_on(vol.lookup(root, b"ind")).unwrap();
    let m = corrupt_message(block_on(vol.truncate(f, 0)).unwrap_err());
    println!("{m}");
    assert!(m.contains("twice"));
    block_on(vol.unmount()).unwrap();
    disk.save(&img);
    // Only the clean mark and mount count differ: e2fsck finds the same damage.
    let after = e2fsck(&img).1;
    let problems = |s: &str| s.lines().filter(|l| l.contains("block") && !l.contains("files (")).map(String::from).collect::<Vec<_>>();
    assert_eq!(problems(&before), problems(&after));
}

#[test]
fn a_failing_disk_answers_io_errors() {
    let (_, bytes) = image("failing-disk");
    let mut disk = MemDisk::new(bytes);
    disk.fail_after_writes = Some(1);
    let mut vol = block_on(Volume::mount(disk, Options::default())).unwrap();
    let root = vol.root();
    let f = block_on(vol.create(root, b"new", 0o644, 0, 0)).unwrap();
    block_on(vol.write(f, 0, &[1u8; 5000])).unwrap();
    let e = block_on(vol.sync()).unwrap_err();
    println!("{e}");
    assert!(matches!(e, Error::Io(_)));
    assert_eq!(e.errno(), 5);
}
