//! A panic inside a driver task names the CPU and the task, and its
//! backtrace leads to the function and line that panicked.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

use kernel::exec;

kernel::test_kernel![panic_in_a_driver_task];

fn panic_in_a_driver_task() {
    exec::block_on(async {
        let h = exec::spawn_driver("doomed", doomed_driver());
        let _ = h.await;
    });
}

async fn doomed_driver() {
    let status = device_status();
    kernel::println!("status {status}");
}

/// Not inlined, so the trace has a frame of its own for it.
#[inline(never)]
fn device_status() -> u32 {
    if core::hint::black_box(true) {
        panic!("deliberate panic in a task");
    }
    0
}
