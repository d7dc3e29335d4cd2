//! Structures a program and the kernel exchange, encoded byte for byte in
//! the x86-64 layout. Each has a fixed `SIZE` and an `encode` into (or a
//! `decode` from) a byte array, so the kernel copies exactly those bytes
//! to or from the program and never exposes a Rust layout.

fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    out[at..at + bytes.len()].copy_from_slice(bytes);
}

fn get_u64(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// `struct timespec`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timespec {
    /// Seconds.
    pub sec: i64,
    /// Nanoseconds (0..1e9).
    pub nsec: i64,
}

impl Timespec {
    /// Its size.
    pub const SIZE: usize = 16;

    /// The bytes.
    pub fn encode(&self) -> [u8; 16] {
        let mut out = [0; 16];
        put(&mut out, 0, &self.sec.to_le_bytes());
        put(&mut out, 8, &self.nsec.to_le_bytes());
        out
    }

    /// From the bytes; `None` if `nsec` is out of range or `sec` negative.
    pub fn decode(bytes: &[u8; 16]) -> Option<Self> {
        let t = Self { sec: get_u64(bytes, 0) as i64, nsec: get_u64(bytes, 8) as i64 };
        (t.sec >= 0 && (0..1_000_000_000).contains(&t.nsec)).then_some(t)
    }

    /// From nanoseconds.
    pub fn from_nanos(ns: u64) -> Self {
        Self { sec: (ns / 1_000_000_000) as i64, nsec: (ns % 1_000_000_000) as i64 }
    }

    /// In nanoseconds (saturating).
    pub fn as_nanos(&self) -> u64 {
        (self.sec as u64).saturating_mul(1_000_000_000).saturating_add(self.nsec as u64)
    }
}

/// `struct iovec`: one piece of a vectored read or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Iovec {
    /// The program's address.
    pub base: u64,
    /// Its length.
    pub len: u64,
}

impl Iovec {
    /// Its size.
    pub const SIZE: usize = 16;

    /// From the bytes.
    pub fn decode(bytes: &[u8; 16]) -> Self {
        Self { base: get_u64(bytes, 0), len: get_u64(bytes, 8) }
    }
}

/// `struct stat` (x86-64's own layout, 144 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: i64,
    pub blksize: i64,
    pub blocks: i64,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
}

impl Stat {
    /// Its size.
    pub const SIZE: usize = 144;

    /// The bytes.
    pub fn encode(&self) -> [u8; 144] {
        let mut out = [0; 144];
        put(&mut out, 0, &self.dev.to_le_bytes());
        put(&mut out, 8, &self.ino.to_le_bytes());
        put(&mut out, 16, &self.nlink.to_le_bytes());
        put(&mut out, 24, &self.mode.to_le_bytes());
        put(&mut out, 28, &self.uid.to_le_bytes());
        put(&mut out, 32, &self.gid.to_le_bytes());
        put(&mut out, 40, &self.rdev.to_le_bytes());
        put(&mut out, 48, &self.size.to_le_bytes());
        put(&mut out, 56, &self.blksize.to_le_bytes());
        put(&mut out, 64, &self.blocks.to_le_bytes());
        put(&mut out, 72, &self.atime.encode());
        put(&mut out, 88, &self.mtime.encode());
        put(&mut out, 104, &self.ctime.encode());
        out
    }
}

/// `struct utsname`: six fields of 65 bytes.
#[derive(Clone, Copy, Debug)]
pub struct Utsname<'a> {
    /// `uname -s`.
    pub sysname: &'a str,
    /// `uname -n`.
    pub nodename: &'a str,
    /// `uname -r`.
    pub release: &'a str,
    /// `uname -v`.
    pub version: &'a str,
    /// `uname -m`.
    pub machine: &'a str,
    /// The NIS domain.
    pub domainname: &'a str,
}

impl Utsname<'_> {
    /// Its size.
    pub const SIZE: usize = 6 * 65;

    /// The bytes (each field NUL-terminated, cut at 64 bytes).
    pub fn encode(&self) -> [u8; 390] {
        let mut out = [0; 390];
        for (i, field) in [self.sysname, self.nodename, self.release, self.version, self.machine, self.domainname].iter().enumerate() {
            let bytes = &field.as_bytes()[..field.len().min(64)];
            put(&mut out, i * 65, bytes);
        }
        out
    }
}

/// `struct winsize`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Winsize {
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

impl Winsize {
    /// Its size.
    pub const SIZE: usize = 8;

    /// The bytes (pixel sizes 0).
    pub fn encode(&self) -> [u8; 8] {
        let mut out = [0; 8];
        put(&mut out, 0, &self.rows.to_le_bytes());
        put(&mut out, 2, &self.cols.to_le_bytes());
        out
    }
}

/// `struct rlimit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    /// Soft limit.
    pub cur: u64,
    /// Hard limit.
    pub max: u64,
}

impl Rlimit {
    /// Its size.
    pub const SIZE: usize = 16;

    /// The bytes.
    pub fn encode(&self) -> [u8; 16] {
        let mut out = [0; 16];
        put(&mut out, 0, &self.cur.to_le_bytes());
        put(&mut out, 8, &self.max.to_le_bytes());
        out
    }
}

/// `struct statfs` (x86-64, 120 bytes): what `statfs` and `fstatfs` fill.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statfs {
    /// The file system's magic (`EXT2_SUPER_MAGIC` 0xEF53, `TMPFS_MAGIC`...).
    pub kind: u64,
    /// Block size.
    pub bsize: u64,
    /// Blocks in all.
    pub blocks: u64,
    /// Free blocks.
    pub bfree: u64,
    /// Free blocks an ordinary user may take.
    pub bavail: u64,
    /// Inodes in all.
    pub files: u64,
    /// Free inodes.
    pub ffree: u64,
    /// An id for the file system (two ints).
    pub fsid: u64,
    /// Longest name.
    pub namelen: u64,
    /// Fragment size.
    pub frsize: u64,
    /// Mount flags (`ST_RDONLY` = 1).
    pub flags: u64,
}

impl Statfs {
    /// Its size.
    pub const SIZE: usize = 120;

    /// The bytes (the four spare words zero).
    pub fn encode(&self) -> [u8; 120] {
        let mut out = [0; 120];
        let fields = [
            self.kind,
            self.bsize,
            self.blocks,
            self.bfree,
            self.bavail,
            self.files,
            self.ffree,
            self.fsid,
            self.namelen,
            self.frsize,
            self.flags,
        ];
        for (i, v) in fields.iter().enumerate() {
            put(&mut out, i * 8, &v.to_le_bytes());
        }
        out
    }
}
