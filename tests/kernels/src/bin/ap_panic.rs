//! A panic on an application processor stops every CPU and the report names
//! that CPU; the other CPUs print nothing over it.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

use kernel::smp::{self, CpuId};

kernel::test_kernel![panic_on_cpu1];

fn panic_on_cpu1() {
    assert!(smp::online() >= 2, "needs an application processor");
    let _ = smp::call_on(CpuId::try_new(1).unwrap(), || panic!("deliberate panic on an AP"), 5000);
    // The boot CPU is stopped by the NMI while it waits above.
    panic!("cpu0 kept running after cpu1 panicked");
}
