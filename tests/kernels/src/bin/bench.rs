//! The IPI-queue, executor, token, port and heap benchmarks (`kernel-bench`) after boot. Not a
//! test: it prints tables (README, "Benchmarks").
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

use kernel::{exec, print};

kernel::test_kernel![ipi_queue_benchmark, executor_benchmark, token_benchmark, port_benchmark, heap_benchmark];

fn ipi_queue_benchmark() {
    match exec::block_on(bench::ipi_queues()) {
        Ok(table) => print!("{table}"),
        Err(e) => panic!("{e}"),
    }
}

fn executor_benchmark() {
    print!("{}", exec::block_on(bench::executor()));
}

fn token_benchmark() {
    print!("{}", exec::block_on(bench::tokens()));
}

fn port_benchmark() {
    match exec::block_on(bench::ports()) {
        Ok(table) => print!("{table}"),
        Err(e) => panic!("{e}"),
    }
}

fn heap_benchmark() {
    print!("{}", exec::block_on(bench::heap()));
}
