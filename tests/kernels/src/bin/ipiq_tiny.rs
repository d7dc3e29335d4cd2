//! Every CPU floods CPU 0 through rings of 4 messages: senders wait on full
//! rings (draining their own) and everything arrives: no deadlock, no loss.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

use core::sync::atomic::{AtomicU64, Ordering};

use kernel::exec::{self, yield_now};
use kernel::ipiq::{self, SendUrgency};
use kernel::smp::{self, CpuId};
use kernel::{println, time};

kernel::test_kernel![all_to_one_flood_with_rings_of_4_finishes];

static GOT: AtomicU64 = AtomicU64::new(0);

fn on_message(_: CpuId, _: usize) {
    GOT.fetch_add(1, Ordering::Relaxed);
}

fn all_to_one_flood_with_rings_of_4_finishes() {
    ipiq::set_capacity(4);
    let n = smp::online();
    const PER_CPU: u64 = 20_000;
    let full_waits = exec::block_on(ipiq::broadcast(|| async {
        if smp::current() != CpuId::BOOT {
            for k in 0..PER_CPU {
                ipiq::send(CpuId::BOOT, on_message, k as usize, SendUrgency::Active);
            }
        }
        ipiq::stats().full_waits
    }));
    let want = PER_CPU * (n as u64 - 1);
    let deadline = time::deadline_after_ms(60_000);
    while GOT.load(Ordering::Relaxed) < want {
        assert!(!time::passed(deadline), "{} of {want} arrived", GOT.load(Ordering::Relaxed));
        exec::block_on(async { yield_now().await });
    }
    let waits: u64 = full_waits.iter().sum();
    println!("all-to-one: {want} messages through rings of 4, {waits} full-ring waits");
    assert!(n < 2 || waits > 0, "the rings filled up");
}
