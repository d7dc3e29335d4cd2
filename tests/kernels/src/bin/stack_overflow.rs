//! Unbounded recursion hits the kernel stack's guard page and is reported as
//! a stack overflow by the double-fault handler (on its IST stack), not a
//! triple fault.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

use kernel::testing::{self, Expected};

kernel::test_kernel![recursion_hits_guard_page];

fn recursion_hits_guard_page() {
    testing::expect_fault(Expected::StackOverflow);
    let depth = testing::overflow_stack(0);
    panic!("recursion returned at depth {depth}");
}
