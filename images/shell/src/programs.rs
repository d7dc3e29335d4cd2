//! Programs in the `cargo run` image: the initramfs unpacked at boot, the
//! program named by `--init` run as process 1 on the console (the machine
//! powers off with its status when it exits), and the shell's `run` and
//! process list.

use alloc::string::String;
use alloc::vec::Vec;

use kernel::arch::qemu::{self, ExitCode};

/// The environment a program started here gets.
pub fn environment() -> Vec<String> {
    ["PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/", "TERM=vt100", "PS1=\\w # "].into_iter().map(String::from).collect()
}

/// The command `--init` asked for (the runner writes it to
/// `/etc/odonata-init`), split into words.
pub fn init_command() -> Option<Vec<String>> {
    let node = process::fs::in_memory("/etc/odonata-init").ok()?;
    // At boot, before any program: nobody else holds the file's token.
    let bytes = node.bytes().ok()?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let argv: Vec<String> = text.split_whitespace().map(String::from).collect();
    (!argv.is_empty()).then_some(argv)
}

/// Runs `argv` as process 1 on the console, then powers off with its
/// status. The console's input is the program's alone.
pub async fn run_init(argv: Vec<String>) -> ! {
    log::info!("init: {}", argv.join(" "));
    let cpu = process::sched::least_loaded();
    let status = process::spawn(cpu, &argv[0].clone(), argv, environment()).await;
    let code = match status {
        Ok(Ok(status)) => {
            log::info!("init exited: {status}; powering off");
            status.shell_code()
        }
        Ok(Err(e)) => {
            log::error!("init could not start: {}", e.name());
            127
        }
        Err(e) => {
            log::error!("init's task failed: {e:?}");
            1
        }
    };
    // Volumes written back and marked clean before the machine stops.
    process::fs::mount::shutdown().await;
    qemu::report_status(code);
    qemu::exit(if code == 0 { ExitCode::Success } else { ExitCode::Failure })
}

/// The shell's `run PROGRAM ARGS`: runs it on the least loaded CPU with
/// standard input from /dev/null (the shell keeps the console's input) and
/// waits; Ctrl-C (which drops this future) sends it SIGINT.
pub async fn run(line: &str) -> String {
    use alloc::sync::Arc;
    use core::sync::atomic::{AtomicU32, Ordering};

    let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
    let Some(path) = argv.first().cloned() else { return String::from("usage: run PROGRAM [ARGS...]") };
    let pid = Arc::new(AtomicU32::new(0));
    struct InterruptOnDrop(Arc<AtomicU32>, bool);
    impl Drop for InterruptOnDrop {
        fn drop(&mut self) {
            if !self.1
                && let Some(info) = process::process::find(self.0.load(Ordering::Acquire))
            {
                process::signal::send(&info, process::signal::sig::SIGINT);
            }
        }
    }
    let mut guard = InterruptOnDrop(Arc::clone(&pid), false);
    let cpu = process::sched::least_loaded();
    let status = process::spawn_with(cpu, &path, argv, environment(), process::Stdin::Null, Some(pid)).await;
    guard.1 = true;
    match status {
        Ok(Ok(s)) => alloc::format!("{path}: {s}"),
        Ok(Err(e)) => alloc::format!("{path}: cannot run: {}", e.name()),
        Err(e) => alloc::format!("{path}: its task failed: {e:?}"),
    }
}

/// Every process: id, parent, CPU, state, system calls, name.
pub fn table() -> String {
    use core::fmt::Write;
    use core::sync::atomic::Ordering::Relaxed;
    let mut s = String::from("PID    PPID   CPU  STATE     SYSCALLS  NAME\n");
    for p in process::process::list() {
        let waiting = p.waiting_in.load(Relaxed);
        let state = if p.stopped.load(Relaxed) {
            String::from("stopped")
        } else if waiting == 0 {
            String::from("running")
        } else {
            String::from(linux::nr::name(waiting - 1).unwrap_or("waiting"))
        };
        let _ = writeln!(
            s,
            "{:<6} {:<6} {:<4} {:<9} {:<9} {}",
            p.pid,
            p.ppid.load(Relaxed),
            p.cpu.load(Relaxed),
            state,
            p.syscalls.load(Relaxed),
            p.name()
        );
    }
    s
}
