//! Crashes. Every write and flush the volume makes is logged (what QEMU's
//! `blklogwrites` records under a guest); the image is then rebuilt as it
//! stood after every flush, and after a sample of the other writes (a
//! machine killed at that moment: a volume has one request in flight at a
//! time, so what reached the disk is a prefix of its writes). On each,
//! `e2fsck -p` must repair without asking (exit 0 or 1, then `-fn` finds
//! nothing), and every file as it stood at the last completed sync, that no
//! later step touched, must read back whole. The steps leave out moving a
//! directory into another directory (`order`'s module doc says why).

mod support;

use std::collections::BTreeSet;

use ext2::{Options, Volume};
use support::model::{Model, Node, step, walk};
use support::{Logged, MemDisk, Rng, block_on, debugfs, e2fsck, e2fsck_with, mke2fs, scratch};

/// The paths whose state differs between `a` and `b` (present in one
/// only, another kind, other contents or target).
fn touched(a: &Model, b: &Model) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in a.paths.keys().chain(b.paths.keys()) {
        let same = match (a.paths.get(p), b.paths.get(p)) {
            (Some(Node::File(x)), Some(Node::File(y))) => a.data[*x] == b.data[*y],
            (x, y) => x == y,
        };
        if !same {
            out.insert(p.clone());
        }
    }
    out
}

/// The image `base` with the first `k` logged requests applied.
fn image_at(base: &[u8], log: &[Logged], k: usize) -> Vec<u8> {
    let mut img = base.to_vec();
    for entry in &log[..k] {
        if let Logged::Write(lba, bytes) = entry {
            let at = *lba as usize * 512;
            img[at..at + bytes.len()].copy_from_slice(bytes);
        }
    }
    img
}

#[test]
fn a_machine_stopped_at_any_write_leaves_what_e2fsck_preens_and_synced_files_whole() {
    let dir = scratch("crash");
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("keep")).unwrap();
    let mut m = Model { no_dir_moves: true, ..Model::default() };
    m.paths.insert("keep".into(), Node::Dir);
    for i in 0..40 {
        let p = format!("keep/file-{i}");
        let bytes = Rng(i + 1).bytes(100 * i as usize);
        std::fs::write(tree.join(&p), &bytes).unwrap();
        m.data.push(bytes);
        m.paths.insert(p, Node::File(m.data.len() - 1));
    }
    let img = dir.join("img");
    // Two groups at 1 KiB blocks: entries and inodes in different groups.
    mke2fs(&img, 1024, 12 * 1024, Some(&tree));
    let base = std::fs::read(&img).unwrap();
    let disk = MemDisk::new(base.clone());
    // A small cache: write-back runs in the middle of operations too.
    let options = Options { now: || 1_750_000_000, cache_bytes: 48 * 1024, ..Options::default() };
    let mut vol = block_on(Volume::mount(disk.clone(), options)).unwrap();
    let mut rng = Rng(0x0c0a_54ed);
    // Each step: where the log stood when it began, and what it touched.
    let mut steps: Vec<(usize, BTreeSet<String>)> = Vec::new();
    // After each sync: where the log stood, how many steps were done, and
    // the model then. (The image before the mount holds the first model.)
    let mut syncs: Vec<(usize, usize, Model)> = vec![(0, 0, m.clone())];
    for n in 0..150 {
        let before = m.clone();
        let start = disk.log.borrow().len();
        let what = step(&mut vol, &mut m, &mut rng, n);
        if std::env::var("EXT2_TRACE").is_ok() {
            println!("step {n} starts at {start}: {what}");
        }
        steps.push((start, touched(&before, &m)));
        if n % 6 == 5 {
            block_on(vol.sync()).unwrap();
            syncs.push((disk.log.borrow().len(), n + 1, m.clone()));
        }
    }
    drop(vol);
    let log = disk.log.borrow().clone();
    let writes = log.iter().filter(|e| matches!(e, Logged::Write(..))).count();
    let flushes: Vec<usize> = log.iter().enumerate().filter(|(_, e)| matches!(e, Logged::Flush)).map(|(i, _)| i + 1).collect();
    // Every flush point, and every n-th other point.
    let every = (log.len() / 120).max(1);
    let mut points: BTreeSet<usize> = flushes.iter().copied().collect();
    points.extend((1..=log.len()).step_by(every));
    println!("{writes} writes and {} flushes logged; {} crash points checked", flushes.len(), points.len());
    let crashed = dir.join("crashed");
    let dump = dir.join("dump");
    let mut preened = 0;
    for &k in &points {
        std::fs::write(&crashed, image_at(&base, &log, k)).unwrap();
        let (code, preen) = e2fsck_with(&crashed, "-p");
        let out = &preen;
        assert!(code <= 1, "stopped after request {k} of {}: e2fsck -p could not repair alone (exit {code}):\n{out}", log.len());
        if code == 1 {
            preened += 1;
            if std::env::var("EXT2_TRACE").is_ok() {
                println!(
                    "after request {k}: {}",
                    preen.lines().filter(|l| !l.contains("not cleanly") && !l.contains("files (")).collect::<Vec<_>>().join(" | ")
                );
            }
        }
        let (code, out) = e2fsck(&crashed);
        assert_eq!(code, 0, "after request {k}, what e2fsck -p left:\n{out}");
        // The last sync done by then, and what the steps after it that had
        // begun by then touched (a step's changes reach the disk at its
        // start or later, never before).
        let (_, done, synced) = syncs.iter().rev().find(|(at, _, _)| *at <= k).expect("the mount's state");
        let mut since: BTreeSet<String> = BTreeSet::new();
        for (start, t) in steps.iter().skip(*done) {
            if *start >= k {
                break;
            }
            since.extend(t.iter().cloned());
        }
        let _ = std::fs::remove_dir_all(&dump);
        std::fs::create_dir_all(&dump).unwrap();
        debugfs(&crashed, &format!("rdump / {}", dump.display()));
        let on_disk: BTreeSet<String> = walk(&dump).into_iter().collect();
        for (path, node) in &synced.paths {
            if since.contains(path) {
                continue;
            }
            match node {
                Node::File(id) => {
                    assert!(
                        on_disk.contains(path),
                        "after request {k}: {path}, synced and not touched since, is gone; e2fsck -p said:\n{preen}"
                    );
                    assert!(std::fs::read(dump.join(path)).unwrap() == synced.data[*id], "after request {k}: {path}'s contents");
                }
                Node::Dir => assert!(dump.join(path).is_dir(), "after request {k}: directory {path}"),
                Node::Link(t) => assert_eq!(std::fs::read_link(dump.join(path)).unwrap().into_os_string().into_encoded_bytes(), *t),
            }
        }
    }
    println!("{preened} of {} crash points needed e2fsck -p to repair something", points.len());
}
