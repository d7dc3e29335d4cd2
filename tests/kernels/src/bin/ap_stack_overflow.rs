//! A stack overflow on an application processor is caught by that CPU's
//! guard page and double-fault IST stack.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

use kernel::smp::{self, CpuId};
use kernel::testing::{self, Expected};
use kernel::{exec, run_on};

kernel::test_kernel![overflow_on_last_cpu];

fn overflow_on_last_cpu() {
    assert!(smp::online() >= 2, "needs an application processor");
    testing::expect_fault(Expected::StackOverflow);
    let last = CpuId::try_new(smp::online() - 1).unwrap();
    let _ = exec::block_on(run_on::run_on(last, || async { testing::overflow_stack(0) }));
    panic!("the overflow on an AP was not reported");
}
