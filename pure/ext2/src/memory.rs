//! Where the block cache's buffers live, and how it learns that memory is
//! short: the mounter's [`Memory`]. The kernel gives blocks frames of
//! their own (the heap is a fixed region, too small for a page cache) and
//! says memory is short when free frames fall under a watermark; the
//! cache then gives clean blocks back (`cache`). [`Heap`] is the plain
//! answer: the global allocator, never short.

use alloc::boxed::Box;
use alloc::vec;

/// One block's bytes, wherever they live.
pub trait BlockBuf: Send {
    /// The bytes.
    fn bytes(&self) -> &[u8];
    /// The bytes, to change.
    fn bytes_mut(&mut self) -> &mut [u8];
}

impl BlockBuf for Box<[u8]> {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
}

/// The cache's memory (the module doc).
pub trait Memory: Sync {
    /// A zeroed buffer of `size` bytes for one block, or `None` when there
    /// is no memory for it.
    fn buffer(&self, size: usize) -> Option<Box<dyn BlockBuf>>;
    /// Whether memory is short: the cache gives clean blocks back before
    /// it takes another buffer.
    fn short(&self) -> bool;
    /// The bytes of memory a buffer of `size` bytes takes (the cache's
    /// capacity is counted in these).
    fn footprint(&self, size: usize) -> usize {
        size
    }
}

/// Buffers from the global allocator; memory is never short.
pub struct Heap;

impl Memory for Heap {
    fn buffer(&self, size: usize) -> Option<Box<dyn BlockBuf>> {
        Some(Box::new(vec![0u8; size].into_boxed_slice()))
    }
    fn short(&self) -> bool {
        false
    }
}
