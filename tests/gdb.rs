//! gdb, tested: a test kernel boots with QEMU waiting for gdb, real gdb
//! attaches in batch mode with the arguments `cargo run -- --gdb` prints,
//! stops at a kernel function (a hardware breakpoint: the kernel's pages
//! are not mapped yet when gdb attaches), and prints a backtrace with
//! symbols.

#![forbid(unsafe_op_in_unsafe_fn)]

use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use odonata_runner::Profile;
use odonata_tests::{boot, boot_main_kernel_as};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

#[test]
fn gdb_stops_at_a_kernel_function_and_prints_a_symbolized_backtrace() {
    let port = free_port();
    stops_and_prints_a_backtrace(boot("basic").gdb(port), port);
}

/// The kernel `cargo run -- --gdb` boots (profile `kernel-dev`: optimised,
/// full debug info) is as debuggable: breakpoint, frames, file and line.
#[test]
fn gdb_works_on_the_kernel_cargo_run_boots() {
    let port = free_port();
    stops_and_prints_a_backtrace(boot_main_kernel_as(Profile::Dev).gdb(port), port);
}

fn stops_and_prints_a_backtrace(b: odonata_tests::Boot, port: u16) {
    let b = b.timeout(Duration::from_secs(120));
    let elf = b.elf().to_path_buf();
    let qemu = std::thread::spawn(move || b.run());
    // QEMU listens once it has started (the image may still be building).
    let deadline = Instant::now() + Duration::from_secs(90);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "QEMU's gdb stub never listened on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // gdb knows Rust's legacy-mangled names only with their hash
    // (`kernel::smp::init::h0123...`): take the symbol from the ELF's string table.
    let bytes = std::fs::read(&elf).expect("the kernel ELF");
    let prefix = b"_ZN6kernel3smp4init17h";
    let at = bytes.windows(prefix.len()).position(|w| w == prefix).expect("kernel::smp::init is in the symbol table");
    let end = at + bytes[at..].iter().position(|&b| b == 0).expect("a NUL-terminated name");
    let symbol = String::from_utf8_lossy(&bytes[at..end]).into_owned();
    let mut args: Vec<String> = vec!["-batch".into(), "-nx".into()];
    args.extend(odonata_runner::qemu::gdb_args(&elf, port));
    let hbreak = format!("hbreak {symbol}");
    for ex in [hbreak.as_str(), "continue", "bt", "kill"] {
        args.push("-ex".into());
        args.push(ex.into());
    }
    let out = Command::new("gdb").args(&args).output().expect("gdb runs (scripts/setup installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _ = qemu.join();
    println!("{stdout}");
    assert!(
        stdout.contains("Hardware assisted breakpoint 1 at 0xffffffff8") && stdout.contains("file kernel/src/smp.rs"),
        "the breakpoint was set in the kernel:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("\nBreakpoint 1, "), "and hit:\n{stdout}\n{stderr}");
    let frames: Vec<&str> = stdout.lines().filter(|l| l.starts_with('#')).collect();
    // Inlined callees may come first; the function and its callers follow, with file and line.
    // With full debug info (the dev kernel) gdb shows the arguments too: `init (rsdp=..., ..) at`.
    let frame = |name: &str, file: &str| frames.iter().any(|f| f.contains(&format!("{name} (")) && f.contains(&format!(") at {file}:")));
    assert!(frame("init", "kernel/src/smp.rs"), "a frame in kernel::smp::init:\n{stdout}");
    assert!(frame("on_kernel_stack", "kernel/src/boot.rs"), "its caller, with its source line:\n{stdout}");
}
