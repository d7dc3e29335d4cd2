//! ext2 on virtio-blk in QEMU, against images the host made and checks
//! again afterwards: the host's tree (made by `mke2fs -d`) reads back from
//! every CPU at once; every CPU writes a tree of its own at once; after
//! the kernel's sync and unmount, `e2fsck -fn` finds the image clean and
//! consistent and `debugfs` reads back every file the kernel kept. A second
//! disk with a damaged superblock is refused with a message.

#![forbid(unsafe_op_in_unsafe_fn)]

use std::path::{Path, PathBuf};
use std::process::Command;

use odonata_tests::{assert_line_contains, assert_passed, boot, e2fs, log_of};

/// The byte at `i` of file `seed` (the test kernel computes the same).
fn pattern(seed: u64, i: u64) -> u8 {
    (seed.wrapping_mul(31).wrapping_add(i.wrapping_mul(7)) ^ (i >> 8)) as u8
}

fn contents(seed: u64, size: u64) -> Vec<u8> {
    (0..size).map(|i| pattern(seed, i)).collect()
}

/// `e2fsck -fn` finds the image consistent and the kernel left it marked
/// clean (its unmount, or the poweroff's).
fn checked_clean(img: &Path, out: &odonata_runner::Outcome) {
    let (code, report) = e2fs::e2fsck(img, "-fn");
    println!("{report}");
    assert_eq!(code, 0, "e2fsck -fn after the kernel was done:\n{report}\n{}", log_of(out));
    assert!(e2fs::is_clean(img), "the kernel marked the volume clean");
}

/// Debian's static BusyBox (scripts/setup installs it).
fn busybox() -> &'static Path {
    let busybox = Path::new(odonata_runner::initramfs::BUSYBOX);
    assert!(busybox.is_file(), "{} is installed by scripts/setup", busybox.display());
    busybox
}

/// A small ext2 image at `img` whose magic is gone.
fn bad_magic(img: &Path) {
    e2fs::mke2fs(img, "4M", &[], None);
    let mut b = std::fs::read(img).unwrap();
    b[1024 + 56] = 0x12;
    std::fs::write(img, &b).unwrap();
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("odonata-ext2-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn every_cpu_reads_and_writes_an_ext2_disk_that_e2fsck_then_finds_clean() {
    let dir = scratch("every-cpu");
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
    e2fs::mke2fs(&img, "96M", &["-b", "1024"], Some(&tree));
    // The second disk: an ext2 image whose magic is gone.
    let bad = dir.join("vdb.img");
    bad_magic(&bad);

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
            "a_read_on_the_owner_cpu_and_from_another",
            "every_cpu_writes_a_tree_at_once",
            "a_damaged_disk_is_refused_with_a_message",
            "unmount_writes_everything_back",
        ],
    );
    assert_line_contains(&out, "vdb: mount refused: corrupt file system: bad magic");
    for line in out.lines().filter(|l| l.contains("ext2:") || l.contains("files,")) {
        // (The cached-read figures go to BENCHMARKS.md's "Files" section.)
        println!("{line}");
    }

    checked_clean(&img, &out);
    let dump = dir.join("dump");
    e2fs::rdump(&img, "/", &dump);
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

/// BusyBox's `sh` mounts an ext2 disk and works on it from every CPU at
/// once (`tests/scripts/ext2.sh`); after its `umount` and the machine's
/// poweroff, `e2fsck -fn` finds the image clean and consistent and the
/// host reads back every file the script left.
#[test]
fn busybox_works_on_an_ext2_disk_from_every_cpu_and_e2fsck_agrees() {
    use odonata_runner::initramfs::Initramfs;
    let busybox = busybox();
    let dir = scratch("busybox");
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("data")).unwrap();
    std::fs::write(tree.join("data/hello.txt"), "hello from the host\n").unwrap();
    std::fs::write(tree.join("data/gone.txt"), "to be removed\n").unwrap();
    let img = dir.join("vda.img");
    e2fs::mke2fs(&img, "32M", &[], Some(&tree));

    // vdb: its magic gone; vdc: a directory's second record runs off its
    // block.
    let bad = dir.join("vdb.img");
    bad_magic(&bad);
    let damaged_tree = dir.join("damaged");
    std::fs::create_dir_all(damaged_tree.join("sub")).unwrap();
    std::fs::write(damaged_tree.join("sub/x"), "x\n").unwrap();
    std::fs::write(damaged_tree.join("other"), "still readable\n").unwrap();
    let damaged = dir.join("vdc.img");
    e2fs::mke2fs(&damaged, "4M", &["-b", "1024"], Some(&damaged_tree));
    let block: usize = e2fs::debugfs(&damaged, "blocks /sub").split_whitespace().next().unwrap().parse().unwrap();
    let mut d = std::fs::read(&damaged).unwrap();
    d[block * 1024 + 16..block * 1024 + 18].copy_from_slice(&2000u16.to_le_bytes());
    std::fs::write(&damaged, &d).unwrap();

    let root = odonata_runner::workspace_root();
    let mut fs = Initramfs::new();
    fs.busybox().unwrap();
    fs.file("scripts/ext2.sh", &root.join("tests/scripts/ext2.sh")).unwrap();
    fs.bytes("etc/odonata-run", 0o644, b"/bin/sh /scripts/ext2.sh\n".to_vec());
    let archive = dir.join("initramfs.cpio");
    fs.write(&archive).unwrap();
    let out = boot("programs")
        .rng()
        .smp(4)
        .initramfs(&archive)
        .timeout(std::time::Duration::from_secs(240))
        .qemu_args(&[
            "-drive",
            &format!("file={},format=raw,if=none,id=vda", img.display()),
            "-device",
            "virtio-blk-pci,drive=vda,num-queues=4",
            "-drive",
            &format!("file={},format=raw,if=none,id=vdb", bad.display()),
            "-device",
            "virtio-blk-pci,drive=vdb",
            "-drive",
            &format!("file={},format=raw,if=none,id=vdc", damaged.display()),
            "-device",
            "virtio-blk-pci,drive=vdc",
        ])
        .run();
    let serial = out.serial.replace('\r', "");
    let body: Vec<&str> = serial
        .lines()
        .skip_while(|l| *l != "==> /bin/sh /scripts/ext2.sh")
        .skip(1)
        .take_while(|l| !l.starts_with("<== "))
        .filter(|l| !l.starts_with('['))
        .collect();
    println!("{}", body.join("\n"));
    assert!(serial.contains("<== 0"), "the script ended with status 0:\n{}", log_of(&out));
    let mut writers: Vec<&str> = body.iter().copied().filter(|l| l.starts_with("writer ")).collect();
    writers.sort();
    assert_eq!(writers, ["writer 1 done", "writer 2 done", "writer 3 done", "writer 4 done"]);
    let rest: Vec<&str> = body.iter().copied().filter(|l| !l.starts_with("writer ")).collect();
    assert_eq!(
        rest,
        [
            "/dev/vda /mnt ext2 rw 0 0",
            "hello from the host",
            "gone.txt",
            "hello.txt",
            "data",
            "lost+found",
            "w1",
            "w2",
            "w3",
            "w4",
            "20000",
            "file 4 of writer 2",
            "30",
            "ran from the disk",
            "1",
            "100000",
            "5000",
            "mount: mounting /dev/vdb on /mnt2 failed: Invalid argument",
            "vdb refused",
            "cat: can't open '/mnt3/sub/x': Input/output error",
            "sub unreadable",
            "still readable",
            "0",
            "unmounted",
        ],
        "{}",
        log_of(&out)
    );
    // Which CPUs the writers ran on (the script's subshells spread).
    for line in serial.lines().filter(|l| l.contains("ext2 on vda")) {
        println!("{line}");
    }

    checked_clean(&img, &out);
    let dump = dir.join("dump");
    e2fs::rdump(&img, "/", &dump);
    let numbers: String = (1..=20000).map(|i| format!("{i}\n")).collect();
    for n in 1..=4 {
        let w = dump.join(format!("w{n}"));
        assert_eq!(std::fs::read_to_string(w.join("moved/numbers")).unwrap(), numbers, "w{n}/moved/numbers");
        assert_eq!(std::fs::read_to_string(w.join("moved/b/hello")).unwrap(), "hello from the host\n");
        for i in 0..30 {
            let f = w.join(format!("f{i}"));
            if (1..=3).contains(&i) {
                assert!(!f.exists(), "w{n}/f{i} was removed");
            } else {
                assert_eq!(std::fs::read_to_string(&f).unwrap(), format!("file {i} of writer {n}\n"));
            }
        }
        assert_eq!(std::fs::read_to_string(w.join("hard4")).unwrap(), format!("file 4 of writer {n}\n"));
        assert_eq!(std::fs::read_link(w.join("sym")).unwrap(), std::path::Path::new("moved/numbers"));
        assert!(!w.join("copy").exists() && !w.join("a").exists());
    }
    assert!(std::fs::read(dump.join("busybox")).unwrap() == std::fs::read(busybox).unwrap(), "the program copied to the disk");
    assert_eq!(std::fs::read_to_string(dump.join("data/hello.txt")).unwrap(), "hello from the host\nappended\n");
    assert_eq!(std::fs::read(dump.join("data/room")).unwrap(), vec![0u8; 5000]);
    // The kernel said what was wrong with each damaged disk.
    assert!(serial.contains("mount /dev/vdb on /mnt2: corrupt file system: bad magic"), "{}", log_of(&out));
    assert!(serial.contains("ext2 on vdc: corrupt file system: directory"), "{}", log_of(&out));
    assert!(!dump.join("data/gone.txt").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--root`: an ext2 image holding BusyBox (its applets as links) and the
/// processes issue's scripts is `/`; the initramfs holds nothing but the
/// two lines that say so. Each script prints what it prints on the host,
/// and after process 1 exits the image is clean (`e2fsck -fn`).
#[test]
fn busybox_scripts_run_from_an_ext2_root_as_on_the_host() {
    let busybox = busybox();
    let dir = scratch("root");
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("bin")).unwrap();
    std::fs::create_dir_all(tree.join("scripts")).unwrap();
    std::fs::create_dir_all(tree.join("tmp")).unwrap();
    std::fs::copy(busybox, tree.join("bin/busybox")).unwrap();
    let list = Command::new(busybox).arg("--list-full").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines().map(str::trim).filter(|a| !a.is_empty() && *a != "bin/busybox") {
        let at = tree.join(applet);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        let _ = std::os::unix::fs::symlink("/bin/busybox", at);
    }
    let root = odonata_runner::workspace_root();
    let names = ["basics", "applets", "jobs"];
    let mut all = String::new();
    for name in names {
        std::fs::copy(root.join("tests/scripts").join(format!("{name}.sh")), tree.join(format!("scripts/{name}.sh"))).unwrap();
        all += &format!("echo '==> {name}'\n/bin/sh /scripts/{name}.sh\necho \"<== $?\"\n");
    }
    std::fs::write(tree.join("scripts/all.sh"), all).unwrap();
    let img = dir.join("root.img");
    e2fs::mke2fs(&img, "64M", &[], Some(&tree));

    // The initramfs: only what the runner's --root and --init write.
    let mut fs = odonata_runner::initramfs::Initramfs::new();
    fs.bytes("etc/odonata-root", 0o644, b"/dev/vda\n".to_vec());
    fs.bytes("etc/odonata-init", 0o644, b"/bin/sh /scripts/all.sh\n".to_vec());
    let archive = dir.join("initramfs.cpio");
    fs.write(&archive).unwrap();
    let out = odonata_tests::boot_main_kernel()
        .smp(2)
        .initramfs(&archive)
        .timeout(std::time::Duration::from_secs(300))
        .disk(odonata_runner::Disk { path: img.clone(), readonly: false, queues: None })
        .run();
    let serial = out.serial.replace('\r', "");
    assert!(serial.contains("root: the volume on /dev/vda is /"), "{}", log_of(&out));
    for name in names {
        let script = root.join("tests/scripts").join(format!("{name}.sh"));
        let host = Command::new(busybox).args(["sh", script.to_str().unwrap()]).output().unwrap();
        let expected = String::from_utf8_lossy(&host.stdout).into_owned();
        let start = format!("==> {name}");
        let got: Vec<&str> = serial
            .lines()
            .skip_while(|l| *l != start)
            .skip(1)
            .take_while(|l| !l.starts_with("<== "))
            .filter(|l| !l.starts_with('['))
            .collect();
        let status = serial.lines().skip_while(|l| *l != start).find_map(|l| l.strip_prefix("<== ")).unwrap_or("none");
        assert_eq!(got, expected.lines().collect::<Vec<_>>(), "{name}.sh from the disk: output differs from the host's\n{}", log_of(&out));
        assert_eq!(status, host.status.code().unwrap().to_string(), "{name}.sh's status");
        println!("{name}.sh from an ext2 root: {} lines as on the host", got.len());
    }
    checked_clean(&img, &out);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A volume's cache gives its frames back when a program needs them: a
/// 96 MiB file written through the cache of a 256 MiB machine (written,
/// not read: a long sequential read streams past the cache), then a
/// program that writes 150 MiB of its own memory (more than was free with
/// the cache full) runs to the end; the volume's service says it gave
/// blocks back.
#[test]
fn a_program_gets_the_memory_a_volume_cache_held() {
    let Some(hog) = odonata_tests::c_program("hog") else { return };
    let busybox = busybox();
    let dir = scratch("pressure");
    let img = dir.join("vda.img");
    e2fs::mke2fs(&img, "160M", &[], None);
    let mut fs = odonata_runner::initramfs::Initramfs::new();
    fs.busybox().unwrap();
    fs.file("bin/hog", &hog).unwrap();
    let script = "mkdir -p /mnt\nmount -t ext2 /dev/vda /mnt\ndd if=/dev/zero of=/mnt/fill bs=65536 count=1536\nsync\ngrep MemFree /proc/meminfo\n/bin/hog 150\numount /mnt\n";
    fs.bytes("scripts/pressure.sh", 0o644, script.as_bytes().to_vec());
    fs.bytes("etc/odonata-run", 0o644, b"/bin/sh /scripts/pressure.sh\n".to_vec());
    let archive = dir.join("initramfs.cpio");
    fs.write(&archive).unwrap();
    let out = boot("programs")
        .rng()
        .smp(2)
        .mem("256M")
        .initramfs(&archive)
        .timeout(std::time::Duration::from_secs(240))
        .disk(odonata_runner::Disk { path: img.clone(), readonly: false, queues: None })
        .run();
    let log = log_of(&out);
    assert!(out.serial.contains("hog: wrote and read back 150 MiB"), "the program did not get its memory\n{log}");
    let free = out.serial.lines().find(|l| l.starts_with("MemFree:")).unwrap_or_else(|| panic!("no MemFree line\n{log}"));
    let unmount = out.serial.lines().find(|l| l.contains("ext2: unmounting:")).unwrap_or_else(|| panic!("no unmount line\n{log}"));
    let given: u64 = unmount.split(", ").find_map(|p| p.strip_suffix(" given back to memory")).and_then(|n| n.trim().parse().ok()).unwrap();
    println!("with the cache full: {}; at the unmount: {}", free.trim(), unmount.trim());
    assert!(given > 0, "the cache gave nothing back\n{log}");
    checked_clean(&img, &out);
    let _ = busybox;
    let _ = std::fs::remove_dir_all(&dir);
}
