//! The Odonata kernel image that `cargo run` boots.
//!
//! After initialisation it starts the serial driver and reads commands from
//! the serial console with the driver's async `read_line` (echo, backspace),
//! on the boot CPU's executor. A small command loop until the shell exists;
//! it is here so that `printf 'CMD\n' | cargo run` already drives the kernel
//! and its exit status.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::string::String;

use drivers::serial;
use embedded_io_async::Write;
use kernel::arch::qemu::{ExitCode, exit};
use kernel::{arch, exec, memory, println, smp, time};

kernel::entry!(main);

const HELP: &str = "commands: help, echo TEXT, cpus, mem, uptime, int3, panic, poweroff, fail";

fn main() -> ! {
    log::info!("boot complete in {} ms; {HELP}", time::uptime().as_millis());
    if let Err(e) = serial::start() {
        log::error!("serial driver: {e}; no console input");
        arch::cpu::halt_forever();
    }
    exec::block_on(console())
}

async fn console() -> ! {
    let mut reader = serial::reader().expect("the serial driver is started and this is its only reader");
    let mut out = serial::writer();
    let mut text = String::new();
    loop {
        let _ = out.write_all(b"> ").await;
        let _ = out.flush().await;
        reader.read_line(&mut text, true).await;
        let (cmd, rest) = text.trim().split_once(' ').unwrap_or((text.trim(), ""));
        match cmd {
            "" => {}
            "help" => println!("{HELP}"),
            "echo" => println!("{rest}"),
            "cpus" => {
                for n in 0..smp::online() {
                    let Some(cpu) = smp::CpuId::try_new(n).and_then(arch::percpu::get) else { continue };
                    println!(
                        "cpu{n}: APIC id {}, {} wake IPIs received",
                        cpu.apic_id().0,
                        cpu.ipis_received.load(core::sync::atomic::Ordering::Relaxed)
                    );
                }
            }
            "mem" => {
                let f = memory::frame::stats();
                let h = memory::heap::stats();
                println!(
                    "frames: {} in use of {} ({} MiB); heap: {} KiB used, {} KiB free of {} KiB",
                    f.in_use,
                    f.total,
                    f.total_bytes() >> 20,
                    h.used >> 10,
                    h.free >> 10,
                    h.size >> 10
                );
            }
            "uptime" => {
                let up = time::uptime();
                println!("{}.{:06} s", up.as_secs(), up.subsec_micros());
            }
            "int3" => {
                arch::cpu::breakpoint();
                println!("returned from int3 ({} so far)", arch::exceptions::breakpoint_count());
            }
            "panic" => panic!("panic requested from the console"),
            "poweroff" => exit(ExitCode::Success),
            "fail" => exit(ExitCode::Failure),
            other => println!("unknown command {other:?}; {HELP}"),
        }
    }
}
