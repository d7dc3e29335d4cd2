//! The executor's synchronising primitives come from `io::sync`: `core`
//! normally, `loom` when model checking (`RUSTFLAGS="--cfg loom"`).

pub(crate) use io::sync::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering, UnsafeCell};
