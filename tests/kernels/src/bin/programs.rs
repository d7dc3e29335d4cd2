//! Runs the programs the initramfs's `/etc/odonata-run` lists (one command
//! per line: a path, then its arguments), one after the other, each
//! framed by `==> COMMAND` and `<== STATUS` lines for the host test to
//! compare with the same program's output on the host.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

use kernel::smp::CpuId;
use kernel::{exec, println};

kernel::test_kernel![the_listed_programs_run];

fn the_listed_programs_run() {
    drivers::serial::start().expect("the serial console");
    process::tty::start(drivers::serial::reader().expect("the serial input"), None);
    let _ = drivers::virtio::rng::start();
    process::init();
    println!("SMEP {}, SMAP {}", kernel::arch::user_mode::smep_enabled(), kernel::arch::user_mode::smap_enabled());
    if process::fs::in_memory("/etc/odonata-trace").is_ok() {
        // Every system call's result in the log (an strace of each program).
        log::set_max_level(log::LevelFilter::Trace);
    }
    let list = process::fs::in_memory("/etc/odonata-run").expect("/etc/odonata-run in the initramfs");
    let bytes = list.bytes().expect("/etc/odonata-run is a file, and nothing else uses it yet");
    let text = String::from_utf8(bytes.to_vec()).expect("UTF-8");
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
        let envp = Vec::from([String::from("PATH=/bin:/usr/bin"), String::from("HOME=/")]);
        println!("==> {line}");
        let started = kernel::time::Instant::now();
        let handle = process::spawn(CpuId::BOOT, &argv[0], argv.clone(), envp);
        let status = exec::block_on(async move {
            let mut handle = core::pin::pin!(handle);
            loop {
                match kernel::time::timeout(core::time::Duration::from_secs(20), handle.as_mut()).await {
                    Ok(status) => return status,
                    Err(_) => dump_processes(),
                }
            }
        });
        match status {
            Ok(Ok(s)) => {
                println!("<== {}", s.shell_code());
                log::info!("{line}: {} ms", started.elapsed().as_millis());
            }
            Ok(Err(e)) => println!("<== not started: {}", e.name()),
            Err(e) => panic!("the program's task failed: {e:?}"),
        }
    }
    // Volumes a program left mounted: written back and marked clean.
    exec::block_on(process::fs::mount::shutdown());
    println!("file system: {} tries found a node's token busy and waited", process::fs::busy_waits());
    println!(
        "NMIs: {} for no known reason, {} in a swapgs window",
        kernel::arch::exceptions::unknown_nmis(),
        kernel::arch::entry::paranoid_swaps()
    );
}

/// What every process is doing (a program that has not finished in 20 s).
fn dump_processes() {
    use core::sync::atomic::Ordering::Relaxed;
    println!("--- still running after 20 s:");
    for p in process::process::list() {
        let waiting = p.waiting_in.load(Relaxed);
        let call = if waiting == 0 { "-" } else { linux::nr::name(waiting - 1).unwrap_or("?") };
        println!(
            "pid {} ppid {} cpu {} {} pending {:#x} waiting in {call}",
            p.pid,
            p.ppid.load(Relaxed),
            p.cpu.load(Relaxed),
            p.name(),
            p.pending.load(Relaxed)
        );
    }
}
