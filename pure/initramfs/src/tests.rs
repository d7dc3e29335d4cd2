extern crate std;

use std::process::{Command, Stdio};
use std::vec::Vec;

use super::*;

fn file<'a>(name: &'a str, data: &'a [u8]) -> Entry<'a> {
    Entry { name, mode: S_IFREG | 0o755, uid: 0, gid: 0, mtime: 1_700_000_000, rdev: (0, 0), data }
}

fn sample() -> Vec<u8> {
    let mut w = Writer::new();
    w.add(&Entry { name: "bin", mode: S_IFDIR | 0o755, uid: 0, gid: 0, mtime: 0, rdev: (0, 0), data: &[] });
    w.add(&file("bin/hello", b"\x7fELF and more"));
    w.add(&Entry { name: "bin/sh", mode: S_IFLNK | 0o777, uid: 0, gid: 0, mtime: 0, rdev: (0, 0), data: b"busybox" });
    w.add(&file("empty", b""));
    w.add(&Entry { name: "dev/null", mode: S_IFCHR | 0o666, uid: 0, gid: 0, mtime: 0, rdev: (1, 3), data: &[] });
    w.finish()
}

#[test]
fn what_is_written_reads_back() {
    let archive = sample();
    let entries: Vec<Entry<'_>> = Reader::new(&archive).collect::<Result<_, _>>().unwrap();
    let names: Vec<&str> = entries.iter().map(|e| e.name).collect();
    assert_eq!(names, ["bin", "bin/hello", "bin/sh", "empty", "dev/null"]);
    assert_eq!(entries[1].data, b"\x7fELF and more");
    assert_eq!(entries[2].kind(), S_IFLNK);
    assert_eq!(entries[2].data, b"busybox");
    assert_eq!(entries[4].rdev, (1, 3));
    assert_eq!(entries[1].mtime, 1_700_000_000);
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let archive = sample();
    for len in 0..archive.len() - 1 {
        let result: Result<Vec<_>, _> = Reader::new(&archive[..len]).collect();
        // Cut inside the trailer's padding the archive may still be whole.
        if len + 4 > archive.len() {
            continue;
        }
        assert!(result.is_err(), "an archive cut at {len} of {} read as whole", archive.len());
    }
}

#[test]
fn corrupt_headers_are_reported() {
    let mut archive = sample();
    archive[0] = b'X';
    assert_eq!(Reader::new(&archive).next(), Some(Err(Error::BadMagic(0))));
    let mut archive = sample();
    archive[6 + 6 * 8] = b'g';
    assert_eq!(Reader::new(&archive).next(), Some(Err(Error::BadField(54))));
    assert_eq!(Reader::new(&[]).next(), Some(Err(Error::NoTrailer)));
}

/// GNU cpio reads what we write, and we read what it writes.
#[test]
fn gnu_cpio_agrees() {
    if Command::new("cpio").arg("--version").output().is_err() {
        std::eprintln!("cpio is not installed (scripts/setup installs it): skipped");
        return;
    }
    let dir = std::env::temp_dir().join(std::format!("odonata-cpio-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/a.txt"), b"hello\n").unwrap();
    std::fs::write(dir.join("b"), b"xyz").unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg("find . | LC_ALL=C sort | cpio -o -H newc --quiet")
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let archive = out.stdout;
    let entries: Vec<Entry<'_>> = Reader::new(&archive).collect::<Result<_, _>>().unwrap();
    let names: Vec<&str> = entries.iter().map(|e| e.name).collect();
    // GNU cpio drops the leading "./" of the names it is given.
    assert_eq!(names, [".", "b", "sub", "sub/a.txt"]);
    assert_eq!(entries[3].data, b"hello\n");

    let ours = sample();
    let listed = Command::new("cpio")
        .args(["-t", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&ours)?;
            child.wait_with_output()
        })
        .unwrap();
    assert_eq!(std::string::String::from_utf8_lossy(&listed.stdout), "bin\nbin/hello\nbin/sh\nempty\ndev/null\n");
    std::fs::remove_dir_all(&dir).unwrap();
}
