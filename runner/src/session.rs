//! Running QEMU: interactively for `cargo run`, or captured with a timeout
//! for tests.
//!
//! Input protocol: piped input is held back until the kernel has printed
//! [`READY_LINE`] on the serial port. UART initialisation discards whatever was
//! received before it, and firmware (OVMF) writes to the port before the
//! kernel runs, so neither "QEMU started" nor "first byte out" is a safe
//! moment. A terminal is handed to QEMU directly (a person types after the
//! prompt appears).

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::qemu::Machine;
use crate::symbolize::{Annotator, Symbolizer};

/// The line the kernel prints once its UART is ready for input
/// (kernel/src/console/mod.rs, `READY_LINE`).
pub const READY_LINE: &str = "odonata: serial console ready";

/// How a kernel's run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelExit {
    /// The kernel wrote `Success` to isa-debug-exit (QEMU status 33).
    Success,
    /// The kernel wrote `Failure` (QEMU status 35): a failed test or a panic.
    Failure,
    /// QEMU ended without the kernel reporting: a triple fault under
    /// `-no-reboot` ends QEMU with status 0. Holds QEMU's status.
    NoReport(Option<i32>),
    /// The run exceeded its timeout and was killed.
    TimedOut,
}

impl KernelExit {
    fn from_status(status: ExitStatus) -> Self {
        match status.code() {
            Some(33) => KernelExit::Success,
            Some(35) => KernelExit::Failure,
            other => KernelExit::NoReport(other),
        }
    }

    /// The runner's own exit status for this outcome (0 only for success).
    pub fn process_code(self) -> u8 {
        match self {
            KernelExit::Success => 0,
            KernelExit::Failure => 1,
            KernelExit::NoReport(_) => 2,
            KernelExit::TimedOut => 3,
        }
    }

    /// A line describing the outcome.
    pub fn describe(self) -> String {
        match self {
            KernelExit::Success => "kernel exited with success".into(),
            KernelExit::Failure => "kernel exited with failure".into(),
            KernelExit::NoReport(Some(c)) => format!("QEMU exited with status {c} without the kernel reporting (triple fault or reset?)"),
            KernelExit::NoReport(None) => "QEMU was killed by a signal".into(),
            KernelExit::TimedOut => "timed out".into(),
        }
    }
}

/// What a captured run printed and how it ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// How it ended.
    pub exit: KernelExit,
    /// Everything the kernel wrote to the serial port (`\r` removed).
    pub serial: String,
    /// Wall time from QEMU start to exit.
    pub elapsed: Duration,
    /// What QEMU's monitor answered to a [`MonitorScript`] (`\r` removed;
    /// empty without one): how tests read `info pci`.
    pub monitor: String,
}

impl Outcome {
    /// Serial lines, trimmed.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.serial.lines().map(str::trim_end)
    }

    /// Whether some line equals `line`.
    pub fn has_line(&self, line: &str) -> bool {
        self.lines().any(|l| l == line)
    }
}

fn spawn(mut cmd: Command, stdin: Stdio, stdout: Stdio) -> Result<Child, Error> {
    cmd.stdin(stdin).stdout(stdout).stderr(Stdio::inherit());
    cmd.spawn().map_err(Error::io("cannot start qemu-system-x86_64"))
}

/// Copies QEMU's output to `sink`, and tells `ready` once [`READY_LINE`] has
/// gone by.
fn pump_output(
    mut from: impl Read + Send + 'static,
    mut sink: impl FnMut(&[u8]) + Send + 'static,
    ready: mpsc::Sender<()>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut ready = Some(ready);
        // Output seen so far, kept only until the ready line is found.
        let mut seen = Vec::new();
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    sink(&buf[..n]);
                    if ready.is_some() {
                        seen.extend_from_slice(&buf[..n]);
                        if seen.windows(READY_LINE.len()).any(|w| w == READY_LINE.as_bytes()) {
                            let _ = ready.take().map(|tx| tx.send(()));
                            seen = Vec::new();
                        }
                    }
                }
            }
        }
    })
}

/// Feeds `input` to QEMU once `ready` fires, then closes QEMU's stdin (QEMU
/// keeps running; the kernel just receives no more input).
fn feed_input(mut to: ChildStdin, mut input: impl Read + Send + 'static, ready: mpsc::Receiver<()>) {
    thread::spawn(move || {
        if ready.recv().is_err() {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            match input.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).and_then(|()| to.flush()).is_err() {
                        return;
                    }
                }
            }
        }
    });
}

/// Boots interactively: serial input from this terminal, or piped stdin
/// relayed once the kernel is up; output to stdout, with backtraces
/// symbolized by `symbols` (`symbolize.rs`). Returns when QEMU exits.
pub fn run_interactive(machine: &Machine, image: &Path, symbols: Option<Symbolizer>) -> Result<KernelExit, Error> {
    let cmd = machine.command(image)?;
    let terminal = std::io::stdin().is_terminal();
    // A terminal is QEMU's own input (it sets raw mode on it); its output
    // still passes through here, to be symbolized.
    let mut child = spawn(cmd, if terminal { Stdio::inherit() } else { Stdio::piped() }, Stdio::piped())?;
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().expect("stdout is piped");
    let mut annotator = Annotator::new();
    let printer = pump_output(
        out,
        move |bytes| {
            let annotated;
            let bytes = match &symbols {
                Some(s) => {
                    annotated = annotator.feed(s, bytes);
                    annotated.as_slice()
                }
                None => bytes,
            };
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(bytes).and_then(|()| o.flush());
        },
        tx,
    );
    if !terminal {
        feed_input(child.stdin.take().expect("stdin is piped"), std::io::stdin(), rx);
    }
    let status = child.wait().map_err(Error::io("waiting for QEMU"))?;
    let _ = printer.join();
    Ok(KernelExit::from_status(status))
}

/// Monitor commands to send once the kernel has printed a line: how tests
/// press keys (`sendkey`) or take screenshots (`screendump`). Needs
/// [`Machine::monitor_socket`].
#[derive(Clone, Debug, Default)]
pub struct MonitorScript {
    /// Wait until the serial output contains this text.
    pub after: String,
    /// Then send these commands, one per line, `pause` apart.
    pub commands: Vec<String>,
    /// Time between commands (QEMU holds a `sendkey` key down for 100 ms).
    pub pause: Duration,
}

/// Runs `script` against the monitor socket once `serial` shows its
/// trigger, collecting the monitor's replies into `replies` until QEMU
/// closes the socket. Gives up waiting for the trigger at `timeout` or
/// once `ended` is set (QEMU exited first).
fn drive_monitor(
    script: MonitorScript,
    socket: std::path::PathBuf,
    serial: Arc<Mutex<Vec<u8>>>,
    replies: Arc<Mutex<Vec<u8>>>,
    ended: Arc<std::sync::atomic::AtomicBool>,
    timeout: Duration,
) -> thread::JoinHandle<()> {
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::Ordering;
    thread::spawn(move || {
        let start = Instant::now();
        let trigger = script.after.as_bytes();
        loop {
            let seen = serial.lock().expect("serial buffer").windows(trigger.len().max(1)).any(|w| w == trigger);
            if seen {
                break;
            }
            if start.elapsed() > timeout || ended.load(Ordering::Acquire) {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let Ok(mut monitor) = UnixStream::connect(&socket) else {
            eprintln!("runner: cannot connect to the QEMU monitor at {}", socket.display());
            return;
        };
        // Read replies as they come, so the monitor never blocks on us.
        let reader = monitor.try_clone().ok().map(|mut from| {
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = from.read(&mut buf) {
                    replies.lock().expect("monitor replies").extend_from_slice(&buf[..n]);
                }
            })
        });
        for command in &script.commands {
            if monitor.write_all(format!("{command}\n").as_bytes()).is_err() {
                break;
            }
            thread::sleep(script.pause);
        }
        drop(monitor);
        if let Some(reader) = reader {
            let _ = reader.join();
        }
    })
}

/// Boots `image`, feeds `input` once the kernel is up, captures the serial
/// output, and kills QEMU after `timeout`.
pub fn run_captured(machine: &Machine, image: &Path, input: &[u8], timeout: Duration) -> Result<Outcome, Error> {
    run_scripted(machine, image, input, None, timeout)
}

/// Kill QEMU (SIGKILL, as a power cut would stop the machine) `delay` after
/// the serial output first contains `after`: how the crash-consistency
/// tests stop a kernel mid-stream.
#[derive(Clone, Debug)]
pub struct KillAfter {
    /// The text to wait for.
    pub after: String,
    /// How long after it to kill.
    pub delay: Duration,
}

/// [`run_captured`], plus a monitor script (which needs
/// [`Machine::monitor_socket`]) and an optional kill.
pub fn run_scripted(
    machine: &Machine,
    image: &Path,
    input: &[u8],
    monitor: Option<MonitorScript>,
    timeout: Duration,
) -> Result<Outcome, Error> {
    run_scripted_with_kill(machine, image, input, monitor, None, timeout)
}

/// One step of scripted serial input ([`run_scripted_steps`]).
#[derive(Clone, Debug)]
pub enum InputStep {
    /// Send these bytes.
    Send(Vec<u8>),
    /// Wait until the serial output contains this text (from the start).
    WaitFor(String),
    /// Wait this long.
    Pause(Duration),
}

/// Feeds `steps` to QEMU once `ready` fires (waits for output in `serial`
/// as the steps say), then closes QEMU's stdin.
fn feed_steps(mut to: ChildStdin, steps: Vec<InputStep>, serial: Arc<Mutex<Vec<u8>>>, ready: mpsc::Receiver<()>, timeout: Duration) {
    thread::spawn(move || {
        if ready.recv().is_err() {
            return;
        }
        let start = Instant::now();
        for step in steps {
            match step {
                InputStep::Send(bytes) => {
                    if to.write_all(&bytes).and_then(|()| to.flush()).is_err() {
                        return;
                    }
                }
                InputStep::Pause(d) => thread::sleep(d),
                InputStep::WaitFor(text) => loop {
                    if String::from_utf8_lossy(&serial.lock().expect("serial buffer")).contains(&text) {
                        break;
                    }
                    if start.elapsed() > timeout {
                        return;
                    }
                    thread::sleep(Duration::from_millis(20));
                },
            }
        }
    });
}

/// [`run_scripted`] with an optional [`KillAfter`].
pub fn run_scripted_with_kill(
    machine: &Machine,
    image: &Path,
    input: &[u8],
    monitor: Option<MonitorScript>,
    kill: Option<KillAfter>,
    timeout: Duration,
) -> Result<Outcome, Error> {
    run_scripted_steps(machine, image, vec![InputStep::Send(input.to_vec())], monitor, kill, timeout)
}

/// [`run_scripted_with_kill`] with input in steps: bytes sent as the
/// kernel's output reaches given points (a key typed while a program runs).
pub fn run_scripted_steps(
    machine: &Machine,
    image: &Path,
    input: Vec<InputStep>,
    monitor: Option<MonitorScript>,
    kill: Option<KillAfter>,
    timeout: Duration,
) -> Result<Outcome, Error> {
    let start = Instant::now();
    let cmd = machine.command(image)?;
    let mut child = spawn(cmd, Stdio::piped(), Stdio::piped())?;
    let serial = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let sink = Arc::clone(&serial);
    let reader = pump_output(
        child.stdout.take().expect("stdout is piped"),
        move |bytes| sink.lock().expect("serial buffer").extend_from_slice(bytes),
        tx,
    );
    feed_steps(child.stdin.take().expect("stdin is piped"), input, Arc::clone(&serial), rx, timeout);
    let replies = Arc::new(Mutex::new(Vec::new()));
    let ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let driver = match (monitor, &machine.monitor_socket) {
        (Some(script), Some(socket)) => {
            Some(drive_monitor(script, socket.clone(), Arc::clone(&serial), Arc::clone(&replies), Arc::clone(&ended), timeout))
        }
        _ => None,
    };

    let mut kill_at: Option<Instant> = None;
    let exit = loop {
        if let Some(status) = child.try_wait().map_err(Error::io("waiting for QEMU"))? {
            break KernelExit::from_status(status);
        }
        if let Some(k) = &kill {
            if kill_at.is_none() && serial.lock().expect("serial buffer").windows(k.after.len().max(1)).any(|w| w == k.after.as_bytes()) {
                kill_at = Some(Instant::now() + k.delay);
            }
            if kill_at.is_some_and(|at| Instant::now() >= at) {
                let _ = child.kill();
                let _ = child.wait();
                break KernelExit::NoReport(None);
            }
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break KernelExit::TimedOut;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let _ = reader.join();
    ended.store(true, std::sync::atomic::Ordering::Release);
    // QEMU is gone, so its end of the monitor socket is closed and the
    // driver's reader sees the end of its replies.
    if let Some(driver) = driver {
        let _ = driver.join();
    }
    let bytes = serial.lock().expect("serial buffer").clone();
    let serial = String::from_utf8_lossy(&bytes).replace('\r', "");
    let monitor = String::from_utf8_lossy(&replies.lock().expect("monitor replies")).replace('\r', "");
    Ok(Outcome { exit, serial, elapsed: start.elapsed(), monitor })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn qemu_status_maps_to_kernel_exit() {
        // QEMU exits with 2v+1 for a write of v to isa-debug-exit.
        let status = |code: i32| ExitStatus::from_raw(code << 8);
        assert_eq!(KernelExit::from_status(status(33)), KernelExit::Success);
        assert_eq!(KernelExit::from_status(status(35)), KernelExit::Failure);
        assert_eq!(KernelExit::from_status(status(0)), KernelExit::NoReport(Some(0)));
        assert_eq!(KernelExit::Success.process_code(), 0);
        assert_ne!(KernelExit::NoReport(Some(0)).process_code(), 0);
        assert_ne!(KernelExit::TimedOut.process_code(), 0);
    }
}
