//! The Odonata kernel image that `cargo run` boots.
//!
//! After initialisation it starts the drivers (serial, keyboard), turns on
//! the framebuffer console, and runs the shell (`shell/`) on the boot CPU's
//! executor. Everything works headless over serial alone:
//! `printf 'cpus\nps\npoweroff\n' | cargo run -- --smp 4`.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

mod net;
mod programs;
mod shell;

use kernel::console::framebuffer;
use kernel::{exec, time};

kernel::entry!(main);

fn main() -> ! {
    log::info!("boot complete in {} ms", time::uptime().as_millis());
    let serial_up = drivers::serial::start().map_err(|e| log::error!("serial driver: {e}; no serial input")).is_ok();
    process::init();
    // With --init, the program is process 1 and owns the console's input;
    // the kernel's shell does not run.
    let init = programs::init_command();
    let serial = if serial_up { drivers::serial::reader() } else { None };
    let keyboard = drivers::keyboard::start().map_err(|e| log::warn!("keyboard: {e}; no keyboard input")).ok();
    // With --init, the terminal (both inputs) belongs to the programs.
    let (serial, keyboard) = match (&init, serial) {
        (Some(_), Some(reader)) => {
            process::tty::start(reader, keyboard);
            (None, None)
        }
        (_, serial) => (serial, keyboard),
    };
    match drivers::power::start() {
        Ok(mut button) => {
            exec::spawn_driver("power-button", async move {
                button.pressed().await;
                log::info!("power button pressed ({} SCI interrupt(s) for {} press): powering off", button.interrupts(), button.presses());
                process::fs::mount::shutdown().await;
                kernel::arch::qemu::exit(kernel::arch::qemu::ExitCode::Success)
            });
        }
        Err(e) => log::warn!("power button: {e}"),
    }
    // virtio-blk disks (none unless the runner was given --disk).
    let _ = drivers::virtio::blk::disks();
    // The entropy service (if the runner was given --rng).
    let _ = drivers::virtio::rng::start();
    // The network service (if the runner was given --net).
    net::start();
    match framebuffer::enable() {
        Some(drawer) => drop(exec::spawn_named("console-draw", drawer.run())),
        None => log::info!("no framebuffer console (serial only)"),
    }
    shell::stats::start();
    if let Some(argv) = init {
        exec::block_on(programs::run_init(argv))
    }
    exec::block_on(shell::run(shell::Input::new(serial, keyboard)))
}
