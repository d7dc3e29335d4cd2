//! Running the project's C programs on the host and on the programs
//! kernel and comparing what they print (`tests/programs.rs`,
//! `tests/tty.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use odonata_runner::initramfs::Initramfs;

use crate::{boot, log_of};

/// An initramfs a test packed, in a directory of its own that goes with it.
pub struct Archive(PathBuf);

impl Archive {
    /// Writes `fs` into a fresh directory.
    pub fn of(fs: &Initramfs) -> Self {
        static UNIQUE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = UNIQUE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("odonata-programs-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("initramfs.cpio");
        fs.write(&path).unwrap();
        Self(path)
    }
}

impl std::ops::Deref for Archive {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Archive {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// What `binary args` prints on the host (standard output and error into
/// one file, in the order written, as both reach the console on the
/// kernel), and its status as a shell sees it.
pub fn on_host(binary: &Path, args: &[&str]) -> (String, i32) {
    static UNIQUE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = UNIQUE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("odonata-host-output-{}-{n}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let status =
        Command::new(binary).args(args).stdin(std::process::Stdio::null()).stdout(file.try_clone().unwrap()).stderr(file).status().unwrap();
    let code = status.code().unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0));
    let output = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    (output, code)
}

/// The lines between `==> COMMAND` and `<== STATUS` in the serial log, and
/// the status.
pub fn on_kernel<'a>(serial: &'a str, command: &str) -> (Vec<&'a str>, String) {
    // The kernel's safety net for a process dropped without an exit
    // (`Process::drop`): never expected.
    if let Some(line) = serial.lines().find(|l| l.contains("ended without an exit")) {
        panic!("a process vanished without an exit: {line}");
    }
    let start = format!("==> {command}");
    let mut lines = serial.lines().map(|l| l.trim_end_matches('\r')).skip_while(|l| *l != start).skip(1);
    let mut body = Vec::new();
    for l in lines.by_ref() {
        if let Some(status) = l.strip_prefix("<== ") {
            return (body, status.to_string());
        }
        body.push(l);
    }
    let tail: String = serial.lines().skip_while(|l| !l.starts_with(&start)).collect::<Vec<_>>().join("\n");
    panic!("no `<==` after `{start}`; the log from there:\n{tail}");
}

/// Packs `programs` (guest path, host binary) and a run list, boots the
/// programs kernel, and compares each command with the host.
pub fn run_and_compare(programs: &[(&str, &Path)], commands: &[(&str, &[&str])]) {
    run_and_compare_on(&[], programs, commands);
}

/// [`run_and_compare`] with extra QEMU arguments.
pub fn run_and_compare_on(qemu_args: &[&str], programs: &[(&str, &Path)], commands: &[(&str, &[&str])]) -> String {
    let mut fs = Initramfs::new();
    for (guest, host) in programs {
        fs.file(guest, host).unwrap();
    }
    let list: String = commands.iter().map(|(path, args)| format!("{}\n", format!("{path} {}", args.join(" ")).trim_end())).collect();
    fs.bytes("etc/odonata-run", 0o644, list.into_bytes());
    let archive = Archive::of(&fs);
    let out = boot("programs").rng().qemu_args(qemu_args).initramfs(&archive).timeout(Duration::from_secs(120)).run();
    let serial = out.serial.clone();
    for (path, args) in commands {
        let host_binary = programs.iter().find(|(g, _)| *g == path.trim_start_matches('/')).map(|(_, h)| *h).expect("a packed program");
        let (expected, code) = on_host(host_binary, args);
        let command = format!("{path} {}", args.join(" "));
        let command = command.trim_end();
        let (got, status) = on_kernel(&serial, command);
        // Kernel log lines (they start with a level in brackets) may
        // interleave with the program's output.
        let got: Vec<&str> = got.into_iter().filter(|l| !l.starts_with('[')).collect();
        let expected: Vec<&str> = expected.lines().collect();
        assert_eq!(got, expected, "{command}: output differs from the host's\n{}", log_of(&out));
        assert_eq!(status, code.to_string(), "{command}: status differs from the host's\n{}", log_of(&out));
        println!("{command}: {} lines as on the host, status {status}", got.len());
    }
    serial
}
