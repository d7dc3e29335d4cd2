//! The kernel memory programs may fill with their data: pipe buffers and
//! the in-memory files' bytes. Both live in the kernel heap, whose
//! allocator stops the machine when it runs out (anywhere else that is a
//! kernel bug), so together they may take at most half of it; the rest
//! stays for the kernel's own structures. A pipe reserves its capacity
//! when it is made (a smaller one, [`PIPE_BUF`](crate::fs::pipe::PIPE_BUF),
//! once the budget is short, as Linux shrinks new pipes past
//! `pipe-user-pages-soft`); a file charges its buffer as it grows (ENOSPC
//! past the budget, as tmpfs's size limit answers).
//!
//! One atomic counter; a charge that would pass the limit changes nothing.

use core::sync::atomic::{AtomicUsize, Ordering};

/// Bytes charged now.
static CHARGED: AtomicUsize = AtomicUsize::new(0);

/// The budget: half of the kernel heap.
fn limit() -> usize {
    usize::try_from(kernel::heap::stats().size / 2).unwrap_or(usize::MAX)
}

/// Charges `bytes` if the budget has room; whether it did.
pub fn try_charge(bytes: usize) -> bool {
    let limit = limit();
    CHARGED.fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| now.checked_add(bytes).filter(|&n| n <= limit)).is_ok()
}

/// Charges `bytes` whatever the budget says (bytes that exist already: the
/// initramfs's files, a copy a write makes of a file a program maps).
pub fn charge(bytes: usize) {
    CHARGED.fetch_add(bytes, Ordering::AcqRel);
}

/// Gives back `bytes` charged before.
pub fn uncharge(bytes: usize) {
    CHARGED.fetch_sub(bytes, Ordering::AcqRel);
}

/// Bytes charged now, and the limit.
pub fn usage() -> (usize, usize) {
    (CHARGED.load(Ordering::Relaxed), limit())
}
