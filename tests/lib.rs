//! Helpers for the QEMU integration tests in this directory.
//!
//! Each test boots a kernel image (a binary of `tests/kernels`, or the real
//! kernel) on a chosen machine, with a timeout, and asserts on how it exited
//! and on the lines it printed. Every assertion failure includes the kernel's
//! whole serial log, so a failing or hanging test explains itself.
//!
//! ```no_run
//! let out = odonata_tests::boot("basic").smp(2).mem("64M").run();
//! odonata_tests::assert_passed(&out, &["boots"]);
//! ```

#![forbid(unsafe_op_in_unsafe_fn)]

pub mod compare;
pub mod e2fs;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use odonata_runner::build::{self, Verbosity};
use odonata_runner::symbolize::{self, Symbolizer};
use odonata_runner::{Firmware, KernelExit, Machine, Outcome, Profile, session};

pub use odonata_runner::KernelExit as Exit;

/// Timeout for one boot. TCG boots take 2-9 s; parallel tests on a 2-core
/// machine share the cores, so leave generous room.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);

/// Where the test kernels are, built once per test process (release: the
/// BIOS loader reads a smaller ELF faster).
fn test_kernels() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| match build::all_kernels("test-kernels", Profile::Release, Verbosity::Capture) {
        Ok(dir) => dir,
        Err(e) => panic!("{e}"),
    })
}

/// One boot to run.
pub struct Boot {
    elf: PathBuf,
    machine: Machine,
    timeout: Duration,
    input: Vec<u8>,
    monitor: Option<session::MonitorScript>,
    kill: Option<session::KillAfter>,
    initramfs: Option<PathBuf>,
    steps: Vec<session::InputStep>,
}

/// Boots test kernel `bin` (a binary of `tests/kernels`).
pub fn boot(bin: &str) -> Boot {
    Boot::new(test_kernels().join(bin))
}

/// Boots the real kernel (what `cargo run` boots), optimised.
pub fn boot_main_kernel() -> Boot {
    boot_main_kernel_as(Profile::Release)
}

/// Boots the real kernel built with `profile` (`Profile::Dev` is exactly
/// what `cargo run` boots).
pub fn boot_main_kernel_as(profile: Profile) -> Boot {
    match build::kernel("kernel-image", "kernel", profile, Verbosity::Capture) {
        Ok(elf) => Boot::new(elf),
        Err(e) => panic!("{e}"),
    }
}

impl Boot {
    /// Machines default to one CPU; SMP tests ask for more with [`Boot::smp`].
    fn new(elf: PathBuf) -> Self {
        Self {
            elf,
            machine: Machine { smp: 1, ..Machine::default() },
            timeout: DEFAULT_TIMEOUT,
            input: Vec::new(),
            monitor: None,
            kill: None,
            initramfs: None,
            steps: Vec::new(),
        }
    }

    /// A virtio-net device with these (host, guest) TCP forwards on 127.0.0.1.
    pub fn net(mut self, forwards: &[(u16, u16)]) -> Self {
        self.machine.net = Some(forwards.to_vec());
        self
    }

    /// A virtio-net device on `ns`'s tap (a queue pair per tap queue)
    /// instead of the user network; `ns` must outlive the run.
    pub fn tap(mut self, ns: &odonata_runner::netns::TapNamespace) -> Self {
        self.machine.tap = Some((ns.name().to_string(), ns.queues()));
        self
    }

    /// A UDP forward from 127.0.0.1:`host` to the guest's `guest` (with [`Boot::net`]).
    pub fn udp_forward(mut self, host: u16, guest: u16) -> Self {
        self.machine.udp_forwards.push((host, guest));
        self
    }

    /// A monitor socket the test drives itself (e.g. `quit` when its
    /// clients are done); returns its path.
    pub fn own_monitor(mut self) -> (Self, std::path::PathBuf) {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let socket = std::env::temp_dir().join(format!("odonata-own-monitor-{}-{n}.sock", std::process::id()));
        self.machine.monitor_socket = Some(socket.clone());
        (self, socket)
    }

    /// Attaches a virtio-rng device (what `cargo run -- --rng` does).
    pub fn rng(mut self) -> Self {
        self.machine.rng = true;
        self
    }

    /// Attaches a virtio-blk disk (what `cargo run -- --disk` does).
    pub fn disk(mut self, disk: odonata_runner::Disk) -> Self {
        self.machine.disks.push(disk);
        self
    }

    /// Kills QEMU (SIGKILL) `delay` after the serial output shows `after`.
    pub fn kill_after(mut self, after: &str, delay: Duration) -> Self {
        self.kill = Some(session::KillAfter { after: after.into(), delay });
        self
    }

    /// QEMU waits for gdb on `port` (127.0.0.1) before running.
    pub fn gdb(mut self, port: u16) -> Self {
        self.machine.gdb_port = Some(port);
        self
    }

    /// The kernel ELF this boots (what gdb reads symbols from).
    pub fn elf(&self) -> &std::path::Path {
        &self.elf
    }

    /// The chipset (default q35).
    pub fn chipset(mut self, chipset: odonata_runner::Chipset) -> Self {
        self.machine.chipset = chipset;
        self
    }

    /// Number of CPUs.
    pub fn smp(mut self, n: u32) -> Self {
        self.machine.smp = n;
        self
    }

    /// RAM size, as QEMU's `-m` takes it.
    pub fn mem(mut self, size: &str) -> Self {
        self.machine.memory = size.into();
        self
    }

    /// Boot through UEFI (OVMF) instead of BIOS.
    pub fn uefi(mut self) -> Self {
        self.machine.firmware = Firmware::Uefi;
        self
    }

    /// Extra arguments for QEMU.
    pub fn qemu_args(mut self, args: &[&str]) -> Self {
        self.machine.extra_args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// Kill the run after `t`.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Bytes written to the serial port once the kernel is ready for input.
    pub fn input(mut self, bytes: &[u8]) -> Self {
        self.input = bytes.to_vec();
        self
    }

    /// QEMU monitor commands (e.g. `sendkey a`) sent `pause` apart once the
    /// kernel has printed `after`.
    pub fn monitor_after(mut self, after: &str, commands: &[&str], pause: Duration) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let socket = std::env::temp_dir().join(format!("odonata-monitor-{}-{n}.sock", std::process::id()));
        self.machine.monitor_socket = Some(socket);
        self.monitor =
            Some(session::MonitorScript { after: after.into(), commands: commands.iter().map(|c| c.to_string()).collect(), pause });
        self
    }

    /// Input in steps, sent after [`Boot::input`]'s bytes: wait for text in
    /// the output, pause, send bytes.
    pub fn input_steps(mut self, steps: Vec<session::InputStep>) -> Self {
        self.steps = steps;
        self
    }

    /// Loads `archive` (an initramfs the test packed) beside the kernel.
    pub fn initramfs(mut self, archive: &std::path::Path) -> Self {
        self.initramfs = Some(archive.to_path_buf());
        self
    }

    /// Builds the image and runs it to the end (or the timeout).
    pub fn run(self) -> Outcome {
        let image = build::image_with(&self.elf, self.machine.firmware, self.initramfs.as_deref(), Verbosity::Capture)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut steps = vec![session::InputStep::Send(self.input.clone())];
        steps.extend(self.steps.iter().cloned());
        let mut out = session::run_scripted_steps(&self.machine, &image, steps, self.monitor, self.kill, self.timeout)
            .unwrap_or_else(|e| panic!("{e}"));
        if let Some(socket) = &self.machine.monitor_socket {
            let _ = std::fs::remove_file(socket);
        }
        // Backtraces get function and line, in assertion messages too.
        if out.serial.contains(symbolize::HEADER) {
            match Symbolizer::new(&self.elf) {
                Ok(s) => out.serial = s.annotate(&out.serial),
                Err(e) => out.serial.push_str(&format!("\n(runner: {e}; backtraces left raw)\n")),
            }
        }
        out
    }
}

/// Compiles `tests/programs/NAME.c` statically with musl-gcc into
/// `target/programs/NAME`; returns the binary's path, or `None` (and says
/// why) if musl-gcc is missing (`scripts/setup` installs musl-tools).
pub fn c_program(name: &str) -> Option<std::path::PathBuf> {
    let root = odonata_runner::workspace_root();
    let out_dir = root.join("target").join("programs");
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join(name);
    let src = root.join("tests").join("programs").join(format!("{name}.c"));
    let status = match std::process::Command::new("musl-gcc").args(["-static", "-O2", "-Wall", "-o"]).arg(&out).arg(&src).status() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("musl-gcc cannot run ({e}): run scripts/setup (musl-tools)");
            return None;
        }
    };
    assert!(status.success(), "musl-gcc failed on {}", src.display());
    Some(out)
}

/// Deterministic pseudo-random bytes (xorshift), every value possible.
pub fn pseudo_random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The serial log, framed for a failure message.
pub fn log_of(out: &Outcome) -> String {
    format!("{} after {:.1} s; serial log:\n----\n{}\n----", out.exit.describe(), out.elapsed.as_secs_f64(), out.serial.trim_end())
}

/// Asserts the kernel exited with success and printed `test NAME ... ok` for
/// every name in `tests`.
pub fn assert_passed(out: &Outcome, tests: &[&str]) {
    assert_eq!(out.exit, KernelExit::Success, "kernel did not pass: {}", log_of(out));
    for name in tests {
        assert!(out.lines().any(|l| l.starts_with(&format!("test {name} ... ok"))), "no `test {name} ... ok` line: {}", log_of(out));
    }
}

/// Asserts the kernel printed `test NAME ... skipped: ...` (and not `ok`)
/// for every name in `tests`.
pub fn assert_skipped(out: &Outcome, tests: &[&str]) {
    for name in tests {
        assert!(
            out.lines().any(|l| l.starts_with(&format!("test {name} ... skipped: "))),
            "no `test {name} ... skipped` line: {}",
            log_of(out)
        );
    }
}

/// Asserts some serial line contains `needle`.
pub fn assert_line_contains(out: &Outcome, needle: &str) {
    assert!(out.lines().any(|l| l.contains(needle)), "no line contains {needle:?}: {}", log_of(out));
}

/// The first serial line that starts with `prefix` (a figure the kernel
/// printed, for the test to show); fails with the whole log if none does.
pub fn line_starting_with<'a>(out: &'a Outcome, prefix: &str) -> &'a str {
    out.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no line starts with {prefix:?}: {}", log_of(out)))
}

/// The 1-based number of the line of `file` (relative to the workspace)
/// that contains `marker`: how a test names the line a backtrace must show
/// without hard-coding it.
pub fn source_line(file: &str, marker: &str) -> usize {
    let path = odonata_runner::workspace_root().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().position(|l| l.contains(marker)).unwrap_or_else(|| panic!("{marker:?} is not in {file}")) + 1
}

/// Reads a binary PPM (P6) as (width, height, RGB bytes).
pub fn read_ppm(bytes: &[u8]) -> (usize, usize, &[u8]) {
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(std::str::from_utf8(&bytes[start..at]).expect("ascii header").to_string());
    }
    assert_eq!(fields[0], "P6");
    let (w, h): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    (w, h, &bytes[at + 1..at + 1 + w * h * 3])
}

/// The 16-pixel text rows of a screendump that have anything drawn on them.
pub fn lit_text_rows(ppm: &[u8]) -> usize {
    let (w, h, px) = read_ppm(ppm);
    let lit = |x: usize, y: usize| px[(y * w + x) * 3..(y * w + x) * 3 + 3].iter().any(|&c| c > 0x40);
    (0..h / 16).filter(|r| (r * 16..r * 16 + 16).any(|y| (0..w).any(|x| lit(x, y)))).count()
}
