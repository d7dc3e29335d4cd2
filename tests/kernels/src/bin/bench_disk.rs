//! The disk benchmark (`kernel-bench`) after boot, on the first virtio-blk
//! disk with a queue per CPU, against the last one driven as one queue
//! behind a spin lock (attach two; README, "Benchmarks"). Not a test: it
//! prints a table, with the drivers benchmark's yardstick below it.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

use kernel::pci;
use kernel::smp::CpuId;
use kernel::{exec, print};

kernel::test_kernel![disk_benchmark];

fn disk_benchmark() {
    let virtio_blk: alloc::vec::Vec<_> =
        pci::functions().iter().filter(|f| f.header.vendor == 0x1af4 && matches!(f.header.device, 0x1001 | 0x1042)).collect();
    assert!(virtio_blk.len() >= 2, "attach two virtio-blk disks: the first per-CPU, the last for the locked baseline");
    // The baseline claims the last disk before the driver brings up the rest.
    let baseline = bench::LockedQueue::open(virtio_blk[virtio_blk.len() - 1], CpuId::BOOT).expect("the baseline disk");
    let disk = *drivers::virtio::blk::disks().first().expect("a per-CPU disk");
    print!("{}", exec::block_on(bench::disk(disk, Some(baseline))));
    if let Ok(table) = exec::block_on(bench::drivers()) {
        for line in table.lines().filter(|l| l.starts_with("| 4.") || l.starts_with("driver benchmark")) {
            kernel::println!("{line}");
        }
    }
}

extern crate alloc;
