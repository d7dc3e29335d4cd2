//! A test that panics: the runner must report this kernel as failed, naming
//! the test, while the test before it passed.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

kernel::test_kernel![passes_first, then_panics];

fn passes_first() {}

fn then_panics() {
    let answer = core::hint::black_box(41);
    assert_eq!(answer, 42, "deliberate failure");
}
