//! What a long sequential read brought from the disk ahead of its reader,
//! kept beside the block cache rather than in it (drop-behind).
//!
//! Why: a file read from start to end once (a copy, a checksum, a backup)
//! would otherwise pass every block through the cache: a buffer, an index
//! entry and an eviction per block, and the stream pushes out the
//! metadata and small files everything else relies on. So a read that
//! continues a stream past its first [`STREAM_FROM`] bytes reads ahead
//! into this window, is answered from it, and the next readahead
//! replaces it. The price: a large file read twice is read from the disk
//! twice (its first bytes, read before the stream began, are cached).
//!
//! Why it stays right: the window holds disk blocks as the disk had them.
//! A read asks the cache first (a block changed since is cached, dirty),
//! and anything written to the disk drops the window (a block written
//! back may then leave the cache, and the disk no longer matches it).

use alloc::vec::Vec;

/// A sequential read continues into the window past this many bytes of
/// its file.
pub(crate) const STREAM_FROM: u64 = 1 << 20;

/// Disk blocks `first..first + count`, as read (the module doc).
#[derive(Default)]
pub(crate) struct Window {
    first: u32,
    count: u32,
    data: Vec<u8>,
}

impl Window {
    /// Block `b`'s bytes (`block_size` each) if the window holds it.
    pub(crate) fn get(&self, b: u32, block_size: usize) -> Option<&[u8]> {
        let i = b.checked_sub(self.first).filter(|&i| i < self.count)? as usize;
        Some(&self.data[i * block_size..(i + 1) * block_size])
    }

    /// Forgets what it holds (the disk changed).
    pub(crate) fn clear(&mut self) {
        self.count = 0;
    }

    /// Its buffer, emptied, for `bytes` bytes of a new run (kept between
    /// runs: zeroing a fresh buffer for each would cost as much as the
    /// copy out of it).
    pub(crate) fn take(&mut self, bytes: usize) -> Vec<u8> {
        self.count = 0;
        let mut data = core::mem::take(&mut self.data);
        if data.len() < bytes {
            data.resize(bytes, 0);
        }
        data
    }

    /// Holds `data` as blocks `first..first + count` from now on.
    pub(crate) fn fill(&mut self, first: u32, count: u32, data: Vec<u8>) {
        self.first = first;
        self.count = count;
        self.data = data;
    }

    /// Gives its buffer back after a failed read: it holds nothing.
    pub(crate) fn give_back(&mut self, data: Vec<u8>) {
        self.count = 0;
        self.data = data;
    }
}
