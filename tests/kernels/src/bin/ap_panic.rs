//! A panic on an application processor stops every CPU and the report names
//! that CPU; the other CPUs print nothing over it.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

use kernel::smp::{self, CpuId};
use kernel::{exec, run_on};

kernel::test_kernel![panic_on_cpu1];

fn panic_on_cpu1() {
    assert!(smp::online() >= 2, "needs an application processor");
    exec::block_on(run_on::run_on(CpuId::try_new(1).unwrap(), || async {
        if smp::current() != CpuId::BOOT {
            panic!("deliberate panic on an AP");
        }
    }));
    // The boot CPU is stopped by the NMI while it waits above.
    panic!("cpu0 kept running after cpu1 panicked");
}
