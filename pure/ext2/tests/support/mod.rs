//! What the ext2 tests share: a disk in memory the test can also read, a
//! `block_on` for futures that never wait, and the host's e2fsprogs.
#![allow(dead_code)]

pub mod model;

use std::cell::RefCell;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use io::block::{BlockDevice, BlockError};

/// A disk of 512-byte blocks in memory; clones share the bytes.
#[derive(Clone)]
pub struct MemDisk {
    pub bytes: Rc<RefCell<Vec<u8>>>,
    pub read_only: bool,
    /// Writes made.
    pub writes: Rc<RefCell<u64>>,
    /// Reads made.
    pub reads: Rc<RefCell<u64>>,
    /// Fail every request from this many writes on (a dying disk).
    pub fail_after_writes: Option<u64>,
    /// Every write and flush, in order (what QEMU's blklogwrites records).
    pub log: Rc<RefCell<Vec<Logged>>>,
}

/// A request the disk completed.
#[derive(Clone, Debug)]
pub enum Logged {
    /// Bytes written at a 512-byte block.
    Write(u64, Vec<u8>),
    /// A flush: everything before it is durable.
    Flush,
}

impl MemDisk {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self {
            bytes: Rc::new(RefCell::new(bytes)),
            read_only: false,
            writes: Rc::new(RefCell::new(0)),
            reads: Rc::new(RefCell::new(0)),
            fail_after_writes: None,
            log: Rc::new(RefCell::new(Vec::new())),
        }
    }

    pub fn from_file(path: &Path) -> Self {
        Self::new(std::fs::read(path).expect("image"))
    }

    pub fn save(&self, path: &Path) {
        std::fs::write(path, &*self.bytes.borrow()).expect("write image");
    }
}

impl BlockDevice for MemDisk {
    fn block_size(&self) -> u32 {
        512
    }
    fn capacity(&self) -> u64 {
        self.bytes.borrow().len() as u64 / 512
    }
    fn read_only(&self) -> bool {
        self.read_only
    }
    async fn read(&self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.check(lba, buf.len(), false)?;
        *self.reads.borrow_mut() += 1;
        let at = lba as usize * 512;
        buf.copy_from_slice(&self.bytes.borrow()[at..at + buf.len()]);
        Ok(())
    }
    async fn write(&self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        self.check(lba, buf.len(), true)?;
        let mut w = self.writes.borrow_mut();
        *w += 1;
        if self.fail_after_writes.is_some_and(|n| *w > n) {
            return Err(BlockError::Io);
        }
        let at = lba as usize * 512;
        self.bytes.borrow_mut()[at..at + buf.len()].copy_from_slice(buf);
        self.log.borrow_mut().push(Logged::Write(lba, buf.to_vec()));
        Ok(())
    }
    async fn flush(&self) -> Result<(), BlockError> {
        self.log.borrow_mut().push(Logged::Flush);
        Ok(())
    }
}

/// Runs a future that never waits (the disk answers at once).
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a MemDisk future waited"),
    }
}

/// An e2fsprogs command: on the PATH, or in /usr/sbin or /sbin (not on
/// an ordinary user's PATH on Debian).
fn tool(name: &str) -> Command {
    for dir in ["/usr/sbin", "/sbin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return Command::new(p);
        }
    }
    Command::new(name)
}

/// A fresh directory under the target directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `mke2fs -t ext2 -b BS [-d DIR]` into `img` of `size` KiB.
pub fn mke2fs(img: &Path, block_size: u32, kib: u64, from: Option<&Path>) {
    let _ = std::fs::remove_file(img);
    let mut c = tool("mke2fs");
    c.args(["-q", "-F", "-t", "ext2", "-b", &block_size.to_string()]);
    // Fixed UUID and hash seed: the same image every run.
    c.args(["-U", "0b1a2c3d-4e5f-4071-8293-a4b5c6d7e8f9", "-E", "hash_seed=5a0e8e47-3ec4-4c49-9d22-1c0ffee00001"]);
    if let Some(dir) = from {
        c.arg("-d").arg(dir);
    }
    c.arg(img).arg(format!("{kib}k"));
    c.env("E2FSPROGS_FAKE_TIME", "1700000000");
    let out = c.output().expect("mke2fs (e2fsprogs) is installed by scripts/setup");
    assert!(out.status.success(), "mke2fs failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// `e2fsck -fn img`: its exit code and what it printed.
pub fn e2fsck(img: &Path) -> (i32, String) {
    e2fsck_with(img, "-fn")
}

/// `e2fsck FLAGS img`: its exit code and what it printed.
pub fn e2fsck_with(img: &Path, flags: &str) -> (i32, String) {
    let out = tool("e2fsck").arg(flags).arg(img).output().expect("e2fsck");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// `debugfs -R CMD img`'s output.
pub fn debugfs(img: &Path, cmd: &str) -> String {
    let out = tool("debugfs").args(["-R", cmd]).arg(img).output().expect("debugfs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A seeded xorshift generator (the same sequence every run).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}
