//! ext2 on virtio-blk in QEMU, against images the host made and checks
//! again afterwards: the host's tree (made by `mke2fs -d`) reads back from
//! every CPU at once; every CPU writes a tree of its own at once; after
//! the kernel's sync and unmount, `e2fsck -fn` finds the image clean and
//! consistent and `debugfs` reads back every file the kernel kept. A second
//! disk with a damaged superblock is refused with a message.

#![forbid(unsafe_op_in_unsafe_fn)]

use std::path::{Path, PathBuf};
use std::process::Command;

use odonata_tests::{assert_line_contains, assert_passed, boot, log_of};

/// The byte at `i` of file `seed` (the test kernel computes the same).
fn pattern(seed: u64, i: u64) -> u8 {
    (seed.wrapping_mul(31).wrapping_add(i.wrapping_mul(7)) ^ (i >> 8)) as u8
}

fn contents(seed: u64, size: u64) -> Vec<u8> {
    (0..size).map(|i| pattern(seed, i)).collect()
}

/// An e2fsprogs command (in /usr/sbin on Debian, off an ordinary PATH).
fn tool(name: &str) -> Command {
    for dir in ["/usr/sbin", "/sbin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return Command::new(p);
        }
    }
    Command::new(name)
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("odonata-ext2-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn every_cpu_reads_and_writes_an_ext2_disk_that_e2fsck_then_finds_clean() {
    let dir = scratch();
    let tree = dir.join("tree");
    let host = tree.join("host");
    let mut seed = 1;
    for sub in ["", "a", "a/b", "c"] {
        let d = host.join(sub);
        std::fs::create_dir_all(&d).unwrap();
        for size in [0u64, 1, 1023, 1024, 4097, 12 * 1024 + 5, 100_000, 300_000, 1_100_000, 3_000_000] {
            std::fs::write(d.join(format!("f{seed}-{size}")), contents(seed, size)).unwrap();
            seed += 1;
        }
    }
    let img = dir.join("vda.img");
    let out = tool("mke2fs")
        .args(["-q", "-F", "-t", "ext2", "-b", "1024", "-d"])
        .arg(&tree)
        .arg(&img)
        .arg("96M")
        .output()
        .expect("mke2fs (e2fsprogs, installed by scripts/setup)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The second disk: an ext2 image whose magic is gone.
    let bad = dir.join("vdb.img");
    assert!(tool("mke2fs").args(["-q", "-F", "-t", "ext2"]).arg(&bad).arg("4M").output().unwrap().status.success());
    let mut b = std::fs::read(&bad).unwrap();
    b[1024 + 56] = 0x12;
    std::fs::write(&bad, &b).unwrap();

    let out = boot("ext2")
        .smp(4)
        .qemu_args(&[
            "-drive",
            &format!("file={},format=raw,if=none,id=vda,cache=writeback", img.display()),
            "-device",
            "virtio-blk-pci,drive=vda,num-queues=4",
            "-drive",
            &format!("file={},format=raw,if=none,id=vdb", bad.display()),
            "-device",
            "virtio-blk-pci,drive=vdb",
        ])
        .run();
    assert_passed(
        &out,
        &[
            "the_host_tree_reads_back_from_every_cpu",
            "every_cpu_writes_a_tree_at_once",
            "a_damaged_disk_is_refused_with_a_message",
            "unmount_writes_everything_back",
        ],
    );
    assert_line_contains(&out, "vdb: mount refused: corrupt file system: bad magic");
    for line in out.lines().filter(|l| l.contains("ext2:") || l.contains("files,")) {
        println!("{line}");
    }

    let fsck = tool("e2fsck").arg("-fn").arg(&img).output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&fsck.stdout), String::from_utf8_lossy(&fsck.stderr));
    println!("{report}");
    assert_eq!(fsck.status.code(), Some(0), "e2fsck -fn after the kernel's unmount:\n{report}\n{}", log_of(&out));
    let stats = tool("debugfs").args(["-R", "stats"]).arg(&img).output().unwrap();
    assert!(String::from_utf8_lossy(&stats.stdout).contains("Filesystem state:         clean"), "the unmount marked it clean");

    let dump = dir.join("dump");
    std::fs::create_dir_all(&dump).unwrap();
    let rdump = tool("debugfs").args(["-R", &format!("rdump / {}", dump.display())]).arg(&img).output().unwrap();
    assert!(rdump.status.success());
    let cpus = 4;
    for cpu in 0..cpus {
        let mine = dump.join(format!("cpu{cpu}"));
        let mut names: Vec<String> = Vec::new();
        for (sub, d) in [("", mine.clone()), ("kept/", mine.join("kept"))] {
            for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
                let e = e.unwrap();
                let name = e.file_name().into_string().unwrap();
                if let Some((s, size)) = name.strip_prefix('f').and_then(|n| n.split_once('-')) {
                    let (s, size): (u64, u64) = (s.parse().unwrap(), size.parse().unwrap());
                    assert!(std::fs::read(e.path()).unwrap() == contents(s, size), "cpu{cpu}/{sub}{name}'s contents");
                    names.push(format!("{sub}{name}"));
                }
            }
        }
        // Of 24 files: k % 4 == 0 moved into kept/, == 1 removed.
        assert_eq!(names.len(), 18, "cpu{cpu}'s files: {names:?}");
        assert_eq!(names.iter().filter(|n| n.starts_with("kept/")).count(), 6);
        assert_eq!(std::fs::read_link(mine.join("to-kept")).unwrap(), Path::new("kept"));
    }
    // The host's tree is as it was.
    let mut checked = 0;
    for sub in ["", "a", "a/b", "c"] {
        for e in std::fs::read_dir(host.join(sub)).unwrap() {
            let e = e.unwrap();
            if e.path().is_file() {
                let rel = e.path().strip_prefix(&tree).unwrap().to_path_buf();
                assert!(std::fs::read(dump.join(&rel)).unwrap() == std::fs::read(e.path()).unwrap(), "{} unchanged", rel.display());
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 40);
    let _ = std::fs::remove_dir_all(&dir);
}
