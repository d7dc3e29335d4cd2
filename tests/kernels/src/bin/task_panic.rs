//! A panic inside a task names the CPU and the task.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

use kernel::exec;

kernel::test_kernel![panic_in_a_named_task];

fn panic_in_a_named_task() {
    exec::block_on(async {
        let h = exec::spawn_named("doomed", async {
            if core::hint::black_box(true) {
                panic!("deliberate panic in a task");
            }
        });
        let _ = h.await;
    });
}
