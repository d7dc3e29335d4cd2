//! The cpio "newc" format (what Linux unpacks an initramfs from, and what
//! `cpio -H newc` writes): a header of 13 eight-digit hex fields after the
//! magic `070701`, the name (NUL-terminated), padding to 4 bytes, the data,
//! padding to 4 bytes; the archive ends with an entry named `TRAILER!!!`.
//!
//! [`Reader`] walks an archive without copying (every field is checked
//! against the archive's length: a malformed archive is an error, never a
//! panic); [`Writer`] makes one (the runner packs the programs a kernel
//! runs). No crate on crates.io reads newc in `no_std` with errors instead
//! of panics on a truncated archive, so this one is ours.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;
use core::fmt;

/// File type bits of `mode` (as in `stat`).
pub const S_IFMT: u32 = 0o170000;
/// A directory.
pub const S_IFDIR: u32 = 0o040000;
/// A regular file.
pub const S_IFREG: u32 = 0o100000;
/// A symbolic link (its data is the target).
pub const S_IFLNK: u32 = 0o120000;
/// A character device.
pub const S_IFCHR: u32 = 0o020000;

const MAGIC: &[u8; 6] = b"070701";
const HEADER: usize = 110;
const TRAILER: &str = "TRAILER!!!";

/// One member of an archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Its path, as stored (no leading `/`, usually).
    pub name: &'a str,
    /// Type and permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time (seconds since the epoch).
    pub mtime: u32,
    /// For a device node: its major and minor numbers.
    pub rdev: (u32, u32),
    /// The file's contents (a link's target).
    pub data: &'a [u8],
}

impl Entry<'_> {
    /// The type bits of `mode`.
    pub fn kind(&self) -> u32 {
        self.mode & S_IFMT
    }
}

/// Why an archive could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The entry at this offset does not start with `070701`.
    BadMagic(usize),
    /// A header field at this offset is not eight hex digits.
    BadField(usize),
    /// The entry at this offset runs past the archive's end.
    Truncated(usize),
    /// The entry at this offset has a name that is not UTF-8 or not
    /// NUL-terminated.
    BadName(usize),
    /// The archive ended without a trailer.
    NoTrailer,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::BadMagic(at) => write!(f, "no newc magic (070701) at offset {at}"),
            Error::BadField(at) => write!(f, "a header field at offset {at} is not 8 hex digits"),
            Error::Truncated(at) => write!(f, "the entry at offset {at} runs past the archive's end"),
            Error::BadName(at) => write!(f, "the entry at offset {at} has a malformed name"),
            Error::NoTrailer => write!(f, "the archive has no TRAILER!!! entry"),
        }
    }
}

/// Iterates over an archive's entries (the trailer excluded); yields an
/// error once and then stops.
pub struct Reader<'a> {
    archive: &'a [u8],
    at: usize,
    done: bool,
}

impl<'a> Reader<'a> {
    /// A reader over `archive`.
    pub fn new(archive: &'a [u8]) -> Self {
        Self { archive, at: 0, done: false }
    }

    fn field(&self, start: usize, i: usize) -> Result<u32, Error> {
        let at = start + 6 + i * 8;
        let digits = self.archive.get(at..at + 8).ok_or(Error::Truncated(start))?;
        let text = core::str::from_utf8(digits).map_err(|_| Error::BadField(at))?;
        u32::from_str_radix(text, 16).map_err(|_| Error::BadField(at))
    }

    fn next_entry(&mut self) -> Result<Option<Entry<'a>>, Error> {
        let start = self.at;
        let header = self.archive.get(start..start + HEADER).ok_or(if start >= self.archive.len() {
            Error::NoTrailer
        } else {
            Error::Truncated(start)
        })?;
        if &header[..6] != MAGIC {
            return Err(Error::BadMagic(start));
        }
        let f = |i| self.field(start, i);
        let (mode, uid, gid, mtime, size) = (f(1)?, f(2)?, f(3)?, f(5)?, f(6)?);
        let (rdev_major, rdev_minor, name_size) = (f(9)?, f(10)?, f(11)? as usize);
        let name_end = start.checked_add(HEADER + name_size).ok_or(Error::Truncated(start))?;
        let raw_name = self.archive.get(start + HEADER..name_end).ok_or(Error::Truncated(start))?;
        let name = match raw_name.split_last() {
            Some((0, name)) => core::str::from_utf8(name).map_err(|_| Error::BadName(start))?,
            _ => return Err(Error::BadName(start)),
        };
        let data_start = align4(name_end);
        let data_end = data_start.checked_add(size as usize).ok_or(Error::Truncated(start))?;
        let data = self.archive.get(data_start..data_end).ok_or(Error::Truncated(start))?;
        self.at = align4(data_end);
        if name == TRAILER {
            return Ok(None);
        }
        Ok(Some(Entry { name, mode, uid, gid, mtime, rdev: (rdev_major, rdev_minor), data }))
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Entry<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_entry() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Writes an archive, entry by entry.
#[derive(Default)]
pub struct Writer {
    out: Vec<u8>,
    inode: u32,
}

impl Writer {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an entry.
    pub fn add(&mut self, entry: &Entry<'_>) {
        self.inode += 1;
        let nlink = if entry.kind() == S_IFDIR { 2 } else { 1 };
        let fields = [
            self.inode,
            entry.mode,
            entry.uid,
            entry.gid,
            nlink,
            entry.mtime,
            entry.data.len() as u32,
            0,
            0,
            entry.rdev.0,
            entry.rdev.1,
            entry.name.len() as u32 + 1,
            0,
        ];
        self.out.extend_from_slice(MAGIC);
        for v in fields {
            for shift in (0..8).rev() {
                let digit = (v >> (shift * 4)) & 0xf;
                self.out.push(b"0123456789ABCDEF"[digit as usize]);
            }
        }
        self.out.extend_from_slice(entry.name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(entry.data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }

    /// Ends the archive with its trailer and returns it.
    pub fn finish(mut self) -> Vec<u8> {
        self.add(&Entry { name: TRAILER, mode: 0, uid: 0, gid: 0, mtime: 0, rdev: (0, 0), data: &[] });
        self.out
    }
}

#[cfg(test)]
mod tests;
