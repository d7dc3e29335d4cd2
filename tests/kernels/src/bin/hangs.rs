//! A test that never finishes: the runner's timeout must stop it and show the
//! serial log it printed.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

kernel::test_kernel![spins_forever];

fn spins_forever() {
    log::info!("about to spin forever");
    loop {
        core::hint::spin_loop();
    }
}
