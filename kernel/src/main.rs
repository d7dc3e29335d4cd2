//! The Odonata kernel image that `cargo run` boots.
//!
//! After initialisation it reads commands from the serial console. This is a
//! polled, synchronous loop until the async shell exists; it is here so that
//! `printf 'CMD\n' | cargo run` already drives the kernel and its exit status.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

use kernel::arch::qemu::{ExitCode, exit};
use kernel::console::serial;
use kernel::{arch, memory, print, println, smp, time};

kernel::entry!(main);

const HELP: &str = "commands: help, echo TEXT, cpus, mem, uptime, int3, panic, poweroff, fail";

fn main() -> ! {
    log::info!("boot complete in {} ms; {HELP}", time::uptime().as_millis());
    let mut line = [0u8; 256];
    loop {
        print!("> ");
        let len = read_line(&mut line);
        let text = core::str::from_utf8(&line[..len]).unwrap_or("");
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

/// Reads one line (without its terminator) into `buf`, echoing as it goes.
/// Backspace/DEL erase; bytes beyond the buffer are dropped.
fn read_line(buf: &mut [u8]) -> usize {
    let mut len = 0;
    loop {
        let Some(byte) = serial::try_read_byte() else {
            arch::cpu::pause();
            continue;
        };
        match byte {
            b'\r' | b'\n' => {
                println!();
                return len;
            }
            0x08 | 0x7f if len > 0 => {
                len -= 1;
                print!("\x08 \x08");
            }
            0x20..=0x7e if len < buf.len() => {
                buf[len] = byte;
                len += 1;
                print!("{}", byte as char);
            }
            _ => {}
        }
    }
}
