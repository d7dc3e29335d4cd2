//! A test that never finishes: the runner's timeout must stop it and show the
//! serial log it printed.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

use kernel::testing::{self, Test};

kernel::entry!(main);

static TESTS: [Test; 1] = kernel::tests![spins_forever];

fn main() -> ! {
    testing::run(&TESTS)
}

fn spins_forever() {
    log::info!("about to spin forever");
    loop {
        core::hint::spin_loop();
    }
}
