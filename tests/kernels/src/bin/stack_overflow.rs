//! Unbounded recursion hits the kernel stack's guard page and is reported as
//! a stack overflow by the double-fault handler (on its IST stack), not a
//! triple fault.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

use core::hint::black_box;

use kernel::testing::{self, Expected, Test};

kernel::entry!(main);

static TESTS: [Test; 1] = kernel::tests![recursion_hits_guard_page];

fn main() -> ! {
    testing::run(&TESTS)
}

fn recursion_hits_guard_page() {
    testing::expect_fault(Expected::StackOverflow);
    let depth = recurse(0);
    panic!("recursion returned at depth {depth}");
}

#[inline(never)]
#[allow(unconditional_recursion, reason = "the guard page is the base case")]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 64]);
    black_box(recurse(depth + 1)) + frame[depth as usize % 64]
}
