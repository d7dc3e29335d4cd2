//! Numbered writes streamed to the first disk, one sector each, from two
//! CPUs' queues; after every eight a flush, and once it completes a line
//! `flushed through N`. The host kills QEMU at a moment of its choosing and
//! checks that every write a logged flush covered is on the image.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use drivers::virtio::blk::disks;
use io::block::BlockDevice;
use kernel::smp::CpuId;
use kernel::{exec, println, run_on};

kernel::test_kernel![streams_numbered_writes_and_logs_each_flush];

/// Sector `n`'s content once written: its number, twice, and a marker.
fn block(n: u64) -> [u8; 512] {
    let mut b = [0u8; 512];
    b[..8].copy_from_slice(&n.to_le_bytes());
    b[8..16].copy_from_slice(&(!n).to_le_bytes());
    b[16..24].copy_from_slice(b"odonata!");
    b
}

fn streams_numbered_writes_and_logs_each_flush() {
    let d = *disks().first().expect("the host attached a disk");
    let sectors = (&d).capacity();
    println!("streaming {sectors} numbered writes");
    let mut n = 0;
    while n < sectors {
        // Eight writes, alternately from cpu0 and the last CPU (two queues).
        for k in n..(n + 8).min(sectors) {
            let cpu = if k % 2 == 0 { CpuId::BOOT } else { CpuId::try_new(kernel::smp::online() - 1).unwrap() };
            exec::block_on(run_on::run_on(cpu, move || async move { (&d).write(k, &block(k)).await })).expect("write");
        }
        n = (n + 8).min(sectors);
        exec::block_on(async move { (&d).flush().await }).expect("flush");
        println!("flushed through {}", n - 1);
    }
    println!("stream done");
}
