//! The in-memory index of directory names (`names`): in a directory of
//! thousands of entries, a seeded random run of creates, unlinks, renames
//! (in place, onto existing names, into and out of another directory) and
//! links answers every lookup as a model says, lists what the model holds,
//! and leaves a volume `e2fsck -fn` finds clean.

mod support;

use std::collections::BTreeMap;

use ext2::{Error, Options, Volume};
use support::{MemDisk, Rng, block_on, e2fsck, mke2fs, scratch};

#[test]
fn a_large_directory_answers_as_its_model() {
    let dir = scratch("names");
    let img = dir.join("img");
    mke2fs(&img, 1024, 16 * 1024, None);
    let disk = MemDisk::from_file(&img);
    let mut vol = block_on(Volume::mount(disk.clone(), Options { now: || 1_750_000_000, ..Options::default() })).unwrap();
    let root = vol.root();
    let big = block_on(vol.mkdir(root, b"big", 0o755, 0, 0)).unwrap();
    let other = block_on(vol.mkdir(root, b"other", 0o755, 0, 0)).unwrap();
    // name -> inode, per directory.
    let mut model: BTreeMap<(u32, Vec<u8>), u32> = BTreeMap::new();
    let name = |i: u64| format!("entry-{i:05}").into_bytes();
    for i in 0..2000 {
        let ino = block_on(vol.create(big, &name(i), 0o644, 0, 0)).unwrap();
        model.insert((big, name(i)), ino);
    }
    let mut rng = Rng(21);
    for step in 0..3000 {
        let a = name(rng.below(2400));
        let b = name(rng.below(2400));
        let d = if rng.below(4) == 0 { other } else { big };
        match rng.below(5) {
            0 => match block_on(vol.create(d, &a, 0o644, 0, 0)) {
                Ok(ino) => assert!(model.insert((d, a.clone()), ino).is_none(), "step {step}: made a name that was there"),
                Err(Error::Exists) => assert!(model.contains_key(&(d, a.clone())), "step {step}: EEXIST for a name not there"),
                Err(e) => panic!("step {step}: create: {e}"),
            },
            1 => match block_on(vol.unlink(d, &a)) {
                Ok(gone) => {
                    assert_eq!(model.remove(&(d, a.clone())), Some(gone.ino), "step {step}: unlink");
                    if gone.last {
                        block_on(vol.release(gone.ino)).unwrap();
                    }
                }
                Err(Error::NotFound) => assert!(!model.contains_key(&(d, a.clone())), "step {step}: ENOENT for a name there"),
                Err(e) => panic!("step {step}: unlink: {e}"),
            },
            2 | 3 => {
                let to = if rng.below(3) == 0 { if d == big { other } else { big } } else { d };
                match block_on(vol.rename(d, &a, to, &b)) {
                    Ok(replaced) => {
                        let ino = model.remove(&(d, a.clone())).expect("renamed a name not there");
                        let old = model.insert((to, b.clone()), ino);
                        if let Some(r) = replaced {
                            assert_eq!(Some(r.ino), old, "step {step}: replaced");
                            if r.last {
                                block_on(vol.release(r.ino)).unwrap();
                            }
                        }
                    }
                    Err(Error::NotFound) => assert!(!model.contains_key(&(d, a.clone())), "step {step}: rename ENOENT"),
                    Err(e) => panic!("step {step}: rename: {e}"),
                }
            }
            _ => {
                if let Some(&ino) = model.get(&(d, a.clone())) {
                    match block_on(vol.link(d, &b, ino)) {
                        Ok(()) => {
                            model.insert((d, b.clone()), ino);
                        }
                        Err(Error::Exists) => assert!(model.contains_key(&(d, b.clone()))),
                        Err(e) => panic!("step {step}: link: {e}"),
                    }
                }
            }
        }
        for probe in [&a, &b] {
            for dir in [big, other] {
                let got = block_on(vol.lookup(dir, probe)).ok();
                assert_eq!(got, model.get(&(dir, probe.clone())).copied(), "step {step}: lookup of {:?}", String::from_utf8_lossy(probe));
            }
        }
    }
    for dir in [big, other] {
        let mut listed: Vec<(Vec<u8>, u32)> =
            block_on(vol.list(dir)).unwrap().into_iter().filter(|e| e.name != b"." && e.name != b"..").map(|e| (e.name, e.ino)).collect();
        listed.sort();
        let want: Vec<(Vec<u8>, u32)> = model.iter().filter(|((d, _), _)| *d == dir).map(|((_, n), &i)| (n.clone(), i)).collect();
        assert_eq!(listed, want, "the listing of directory {dir}");
    }
    println!("{} names in two directories after 3,000 random steps", model.len());
    block_on(vol.unmount()).unwrap();
    disk.save(&img);
    let (code, out) = e2fsck(&img);
    assert_eq!(code, 0, "{out}");
}
