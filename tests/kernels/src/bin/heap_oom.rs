//! Running out of memory is fatal and says what was asked for, where, and
//! how full the heap was.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use kernel::exec;
use kernel::heap;

kernel::test_kernel![asking_for_more_than_the_heap_is_fatal];

fn asking_for_more_than_the_heap_is_fatal() {
    let size = heap::stats().size as usize;
    exec::block_on(async move {
        let hungry = exec::spawn_named("hungry", async move {
            let v: alloc::vec::Vec<u8> = alloc::vec::Vec::with_capacity(core::hint::black_box(size * 2));
            let at = core::hint::black_box(v.as_ptr());
            panic!("got {} bytes at {at:?} from a {size}-byte heap", v.capacity());
        });
        let _ = hungry.await;
    });
}
