//! The memory of mounted volumes' block caches: a frame per block, outside
//! the kernel heap (a fixed region an eighth of RAM, whose exhaustion
//! stops the machine), given back when frames run short
//! (`kernel::memory::pressure`). A block smaller than a page still takes
//! a whole frame: the cache counts it so (`footprint`).

use alloc::boxed::Box;

use ext2::{BlockBuf, Memory};
use kernel::memory::page_buf::PageBuf;

/// Frames for the caches (the module doc).
pub struct Frames;

/// The caches' one memory.
pub static FRAMES: Frames = Frames;

/// One block in a frame: the frame's first `len` bytes.
struct FrameBlock {
    page: PageBuf,
    len: usize,
}

impl BlockBuf for FrameBlock {
    fn bytes(&self) -> &[u8] {
        &self.page.bytes()[..self.len]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.page.bytes_mut()[..self.len]
    }
}

impl Memory for Frames {
    fn buffer(&self, size: usize) -> Option<Box<dyn BlockBuf>> {
        if size > 4096 {
            return None;
        }
        Some(Box::new(FrameBlock { page: PageBuf::new()?, len: size }))
    }

    fn short(&self) -> bool {
        kernel::memory::pressure::short()
    }

    fn footprint(&self, _size: usize) -> usize {
        4096
    }
}

/// The most a volume's cache may hold: half of usable memory (under
/// pressure it gives clean blocks back long before that).
pub fn cache_bytes() -> usize {
    usize::try_from(kernel::memory::frame::stats().total_bytes() / 2).unwrap_or(usize::MAX)
}
