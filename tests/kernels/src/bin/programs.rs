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
    let _ = drivers::virtio::rng::start();
    process::init();
    println!("SMEP {}, SMAP {}", kernel::arch::user_mode::smep_enabled(), kernel::arch::user_mode::smap_enabled());
    let list = process::fs::lookup("/", "/etc/odonata-run", true).expect("/etc/odonata-run in the initramfs");
    let process::fs::Kind::File(bytes) = &list.kind else { panic!("/etc/odonata-run is not a file") };
    let text = String::from_utf8(bytes.lock().clone()).expect("UTF-8");
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
        let envp = Vec::from([String::from("PATH=/bin:/usr/bin"), String::from("HOME=/")]);
        println!("==> {line}");
        let status = exec::block_on(process::spawn(CpuId::BOOT, &argv[0], argv.clone(), envp));
        match status {
            Ok(Ok(s)) => println!("<== {}", s.shell_code()),
            Ok(Err(e)) => println!("<== not started: {}", e.name()),
            Err(e) => panic!("the program's task failed: {e:?}"),
        }
    }
}
