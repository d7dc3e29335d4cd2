//! The driver benchmark (`kernel-bench`) after boot. Not a test: it prints
//! a table (README, "Benchmarks").
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

use kernel::{exec, print};

kernel::test_kernel![driver_benchmark];

fn driver_benchmark() {
    match exec::block_on(bench::drivers()) {
        Ok(table) => print!("{table}"),
        Err(e) => panic!("{e}"),
    }
}
