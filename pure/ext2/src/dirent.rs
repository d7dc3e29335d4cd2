//! Directory entries: a directory's blocks are chains of records
//! (`inode: u32, rec_len: u16, name_len: u8, file_type: u8, name`), each
//! `rec_len` bytes long, the last reaching its block's end. An entry with
//! inode 0 is free room; a record longer than its entry needs holds free
//! room after it.
//!
//! [`entries`] checks every record as it reads (a record that runs off its
//! block, is shorter than its name, or not 4-byte aligned is corruption);
//! [`insert`] and [`remove`] edit a block in place as Linux's ext2 does.

use alloc::vec::Vec;

use crate::Result;
use crate::bytes::{put_u16, put_u32, u16_at, u32_at};
use crate::inode::Ino;

/// Bytes before the name.
const HEADER: usize = 8;
/// Longest name.
pub const NAME_MAX: usize = 255;

/// `file_type` values (`filetype` feature).
pub mod file_type {
    /// Unknown.
    pub const UNKNOWN: u8 = 0;
    /// A regular file.
    pub const REG: u8 = 1;
    /// A directory.
    pub const DIR: u8 = 2;
    /// A character device.
    pub const CHR: u8 = 3;
    /// A block device.
    pub const BLK: u8 = 4;
    /// A FIFO.
    pub const FIFO: u8 = 5;
    /// A socket.
    pub const SOCK: u8 = 6;
    /// A symbolic link.
    pub const LNK: u8 = 7;

    /// The type for an inode's mode.
    pub fn of_mode(mode: u16) -> u8 {
        match mode & 0o170000 {
            0o100000 => REG,
            0o040000 => DIR,
            0o020000 => CHR,
            0o060000 => BLK,
            0o010000 => FIFO,
            0o140000 => SOCK,
            0o120000 => LNK,
            _ => UNKNOWN,
        }
    }
}

/// One live entry of a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Its offset in the block.
    pub offset: usize,
    /// Its inode.
    pub ino: Ino,
    /// Its name.
    pub name: &'a [u8],
    /// Its file type (0 without the `filetype` feature).
    pub file_type: u8,
}

/// Bytes an entry with a name of `len` bytes needs.
pub fn needed(len: usize) -> usize {
    (HEADER + len).next_multiple_of(4)
}

/// One record, checked.
struct Record {
    ino: Ino,
    rec_len: usize,
    name_len: usize,
}

fn record(block: &[u8], at: usize, what: &dyn Fn() -> alloc::string::String) -> Result<Record> {
    if at + HEADER > block.len() {
        return Err(crate::corrupt!("{}: an entry at offset {at} runs off its block", what()));
    }
    let rec_len = usize::from(u16_at(block, at + 4));
    let name_len = usize::from(block[at + 6]);
    if rec_len < HEADER || rec_len % 4 != 0 || at + rec_len > block.len() || needed(name_len) > rec_len {
        return Err(crate::corrupt!(
            "{}: the entry at offset {at} (record length {rec_len}, name length {name_len}) runs off its block of {}",
            what(),
            block.len()
        ));
    }
    Ok(Record { ino: u32_at(block, at), rec_len, name_len })
}

/// The live entries of a directory block, every record checked; `what`
/// names the block for an error.
pub fn entries<'a>(block: &'a [u8], what: &dyn Fn() -> alloc::string::String) -> Result<Vec<Entry<'a>>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < block.len() {
        let r = record(block, at, what)?;
        if r.ino != 0 {
            out.push(Entry { offset: at, ino: r.ino, name: &block[at + HEADER..at + HEADER + r.name_len], file_type: block[at + 7] });
        }
        at += r.rec_len;
    }
    Ok(out)
}

/// Writes an entry at `at` taking `rec_len` bytes.
fn write(block: &mut [u8], at: usize, rec_len: usize, ino: Ino, name: &[u8], file_type: u8) {
    put_u32(block, at, ino);
    put_u16(block, at + 4, rec_len as u16);
    block[at + 6] = name.len() as u8;
    block[at + 7] = file_type;
    block[at + HEADER..at + HEADER + name.len()].copy_from_slice(name);
}

/// Formats `block` as one free record (a new directory block).
pub fn init_empty(block: &mut [u8]) {
    block.fill(0);
    put_u16(block, 4, block.len() as u16);
}

/// Formats `block` as a new directory's first block: `.` and `..`.
pub fn init_dir(block: &mut [u8], ino: Ino, parent: Ino, with_type: bool) {
    block.fill(0);
    let t = if with_type { file_type::DIR } else { 0 };
    write(block, 0, 12, ino, b".", t);
    let rest = block.len() - 12;
    write(block, 12, rest, parent, b"..", t);
}

/// Puts an entry in `block` where there is room: its offset, or `None` if
/// there is no room. Entries already there do not move.
pub fn insert(block: &mut [u8], ino: Ino, name: &[u8], file_type: u8, what: &dyn Fn() -> alloc::string::String) -> Result<Option<usize>> {
    match room(block, name.len(), what)? {
        Some(at) => insert_at(block, at, ino, name, file_type, what).map(Some),
        None => Ok(None),
    }
}

/// The offset of the first record with room for an entry with a name of
/// `len` bytes (in its slack, or unused), or `None`.
pub fn room(block: &[u8], len: usize, what: &dyn Fn() -> alloc::string::String) -> Result<Option<usize>> {
    let need = needed(len);
    let mut at = 0;
    while at < block.len() {
        let r = record(block, at, what)?;
        let used = if r.ino == 0 { 0 } else { needed(r.name_len) };
        if r.rec_len - used >= need {
            return Ok(Some(at));
        }
        at += r.rec_len;
    }
    Ok(None)
}

/// Inserts an entry for `ino` named `name` into the record at `at`, which
/// [`room`] found with room for it (checked again); the entry's offset.
pub fn insert_at(
    block: &mut [u8],
    at: usize,
    ino: Ino,
    name: &[u8],
    file_type: u8,
    what: &dyn Fn() -> alloc::string::String,
) -> Result<usize> {
    let r = record(block, at, what)?;
    let used = if r.ino == 0 { 0 } else { needed(r.name_len) };
    if r.rec_len - used < needed(name.len()) {
        return Err(crate::corrupt!("{}: the record at {at} has no room for {} bytes", what(), name.len()));
    }
    if used == 0 {
        write(block, at, r.rec_len, ino, name, file_type);
        return Ok(at);
    }
    put_u16(block, at + 4, used as u16);
    write(block, at + used, r.rec_len - used, ino, name, file_type);
    Ok(at + used)
}

/// Removes the entry at `offset`: the record before it takes its room, or
/// (first in the block) its inode becomes 0.
pub fn remove(block: &mut [u8], offset: usize, what: &dyn Fn() -> alloc::string::String) -> Result<()> {
    let mut at = 0;
    let mut prev = None;
    while at < offset {
        let r = record(block, at, what)?;
        prev = Some((at, r.rec_len));
        at += r.rec_len;
    }
    if at != offset {
        return Err(crate::corrupt!("{}: no entry starts at offset {offset}", what()));
    }
    let r = record(block, at, what)?;
    match prev {
        Some((p, len)) => put_u16(block, p + 4, (len + r.rec_len) as u16),
        None => put_u32(block, at, 0),
    }
    Ok(())
}

/// Renames the entry at `offset` to `name` within its own record, if the
/// record has room for it (one block write: a rename within a directory
/// that a crash cannot leave half done). False if it has no room.
pub fn rename_in_place(block: &mut [u8], offset: usize, name: &[u8], what: &dyn Fn() -> alloc::string::String) -> Result<bool> {
    let r = record(block, offset, what)?;
    if needed(name.len()) > r.rec_len {
        return Ok(false);
    }
    block[offset + 6] = name.len() as u8;
    block[offset + HEADER..offset + HEADER + name.len()].copy_from_slice(name);
    Ok(true)
}

/// Points the entry at `offset` at another inode and type (rename onto an
/// existing name; `..` of a moved directory).
pub fn retarget(block: &mut [u8], offset: usize, ino: Ino, file_type: u8) {
    put_u32(block, offset, ino);
    block[offset + 7] = file_type;
}
