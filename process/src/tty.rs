//! The console as a terminal: a line discipline between the serial port
//! and the keyboard, and the programs that read `/dev/console`.
//!
//! Two tasks (`tty` for the serial port, `tty-keyboard` for the keyboard's
//! keys as a terminal sends them), started by [`start`], take every byte
//! as it arrives, whether or not anyone reads, as a terminal does:
//! - with ISIG, Ctrl-C sends SIGINT, Ctrl-\ SIGQUIT and Ctrl-Z SIGTSTP to the foreground
//!   process group (and drop the line being edited);
//! - with ICANON, bytes are edited into a line (erase, kill, Ctrl-D ends
//!   input on an empty line) and the line is handed to readers whole at
//!   Enter; without it, each byte is handed over as it comes;
//! - ICRNL turns the Enter key's `\r` into `\n`; ECHO echoes what is typed.
//!
//! Readers (`read`, `poll`) and the task share the state through a
//! serializing token, never a lock: readers may run on any CPU.
//! `TCGETS`/`TCSETS*` read and replace the settings; `TIOCGPGRP`/
//! `TIOCSPGRP` the foreground group.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::future::poll_fn;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use core::task::{Poll, Waker};

use io::token::Guarded;
use linux::errno::{self, Errno};
use spin::Once;

use crate::signal::sig::{SIGINT, SIGQUIT, SIGTSTP};

/// `struct termios` as `TCGETS` copies it: c_iflag, c_oflag, c_cflag,
/// c_lflag (u32 each), c_line, c_cc[19].
pub const TERMIOS_SIZE: usize = 36;

const ICRNL: u32 = 0o400;
const ISIG: u32 = 0o1;
const ICANON: u32 = 0o2;
const ECHO: u32 = 0o10;
const VINTR: usize = 0;
const VQUIT: usize = 1;
const VERASE: usize = 2;
const VKILL: usize = 3;
const VEOF: usize = 4;
const VSUSP: usize = 10;

/// What a fresh console reports: ICRNL | IXON, OPOST | ONLCR, B38400 | CS8
/// | CREAD | HUPCL, ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE
/// | IEXTEN, and Linux's default control characters.
fn initial() -> [u8; TERMIOS_SIZE] {
    let mut t = [0u8; TERMIOS_SIZE];
    t[0..4].copy_from_slice(&0o2400u32.to_le_bytes());
    t[4..8].copy_from_slice(&0o5u32.to_le_bytes());
    t[8..12].copy_from_slice(&0o2277u32.to_le_bytes());
    t[12..16].copy_from_slice(&0o105073u32.to_le_bytes());
    let cc: [u8; 17] = [3, 0x1c, 0x7f, 0x15, 4, 0, 1, 0, 0x11, 0x13, 0x1a, 0, 0x12, 0x0f, 0x17, 0x16, 0];
    t[17..17 + cc.len()].copy_from_slice(&cc);
    t
}

struct State {
    termios: [u8; TERMIOS_SIZE],
    /// The line being edited (canonical mode).
    line: Vec<u8>,
    /// Bytes readers may take.
    ready: VecDeque<u8>,
    /// End-of-input marks (Ctrl-D on an empty line) waiting for a reader.
    eof: usize,
    readers: Vec<Waker>,
}

impl State {
    fn flag(&self, word: usize) -> u32 {
        u32::from_le_bytes(self.termios[word * 4..word * 4 + 4].try_into().expect("4 bytes"))
    }

    fn cc(&self, i: usize) -> u8 {
        self.termios[17 + i]
    }

    fn wake_readers(&mut self) {
        for w in self.readers.drain(..) {
            w.wake();
        }
    }
}

static STATE: Once<Guarded<State>> = Once::new();
/// Whether a reader task owns the serial input.
static STARTED: AtomicBool = AtomicBool::new(false);
/// The foreground process group (0: none yet; the first to ask gets it).
static FOREGROUND: AtomicU32 = AtomicU32::new(0);

fn state() -> &'static Guarded<State> {
    STATE.call_once(|| {
        Guarded::new("tty", State { termios: initial(), line: Vec::new(), ready: VecDeque::new(), eof: 0, readers: Vec::new() })
    })
}

/// Gives the console's input to the terminal: from now on programs read
/// the console through the line discipline. Both the serial port and the
/// keyboard (if there is one) type into it, as on Linux's console.
pub fn start(mut serial: drivers::serial::SerialReader, keyboard: Option<drivers::keyboard::Keyboard>) {
    STARTED.store(true, Ordering::Release);
    drop(kernel::exec::spawn_named("tty", async move {
        loop {
            let b = serial.read_byte().await;
            typed(b).await;
        }
    }));
    if let Some(mut keyboard) = keyboard {
        drop(kernel::exec::spawn_named("tty-keyboard", async move {
            loop {
                let key = keyboard.next_key().await;
                for &b in drivers::keyboard::terminal_bytes(key).iter() {
                    typed(b).await;
                }
            }
        }));
    }
}

/// One byte typed at the console.
async fn typed(b: u8) {
    let (echo, signal) = state().exclusive(|s| input(s, b)).await;
    if let Some(sig) = signal {
        send_to_foreground(sig);
    }
    if !echo.is_empty() {
        let _ = crate::fs::console_write(&echo).await;
    }
}

/// Whether programs' console input comes from the terminal (else the
/// kernel's shell keeps it, and a read finds end of input).
pub fn started() -> bool {
    STARTED.load(Ordering::Acquire)
}

/// One byte through the line discipline: what to echo, and the signal to
/// send, if any.
fn input(s: &mut State, mut b: u8) -> (Vec<u8>, Option<u8>) {
    let (iflag, lflag) = (s.flag(0), s.flag(3));
    let mut echo = Vec::new();
    if b == b'\r' && iflag & ICRNL != 0 {
        b = b'\n';
    }
    let signal = [(VINTR, SIGINT, b"^C\n"), (VQUIT, SIGQUIT, b"^\\\n"), (VSUSP, SIGTSTP, b"^Z\n")]
        .into_iter()
        .find(|&(cc, ..)| s.cc(cc) != 0 && b == s.cc(cc));
    if lflag & ISIG != 0
        && let Some((_, sig, shown)) = signal
    {
        s.line.clear();
        if lflag & ECHO != 0 {
            echo.extend_from_slice(shown);
        }
        return (echo, Some(sig));
    }
    if lflag & ICANON == 0 {
        s.ready.push_back(b);
        if lflag & ECHO != 0 {
            echo.push(b);
        }
        s.wake_readers();
        return (echo, None);
    }
    match b {
        b'\n' => {
            s.line.push(b'\n');
            s.ready.extend(s.line.drain(..));
            if lflag & ECHO != 0 {
                echo.push(b'\n');
            }
            s.wake_readers();
        }
        _ if b == s.cc(VEOF) => {
            if s.line.is_empty() {
                s.eof += 1;
            } else {
                s.ready.extend(s.line.drain(..));
            }
            s.wake_readers();
        }
        _ if b == s.cc(VERASE) || b == 0x08 => {
            // One character: its continuation bytes, then its first byte.
            let mut erased = false;
            while let Some(last) = s.line.pop() {
                erased = true;
                if last & 0xc0 != 0x80 {
                    break;
                }
            }
            if erased && lflag & ECHO != 0 {
                echo.extend_from_slice(b"\x08 \x08");
            }
        }
        _ if b == s.cc(VKILL) => {
            let chars = s.line.iter().filter(|&&c| c & 0xc0 != 0x80).count();
            s.line.clear();
            if lflag & ECHO != 0 {
                for _ in 0..chars {
                    echo.extend_from_slice(b"\x08 \x08");
                }
            }
        }
        _ => {
            s.line.push(b);
            if lflag & ECHO != 0 {
                echo.push(b);
            }
        }
    }
    (echo, None)
}

fn send_to_foreground(sig: u8) {
    let group = FOREGROUND.load(Ordering::Relaxed);
    for info in crate::process::list() {
        if info.pgid.load(Ordering::Relaxed) == group {
            crate::signal::send(&info, sig);
        }
    }
}

async fn my_waker() -> Waker {
    poll_fn(|cx| Poll::Ready(cx.waker().clone())).await
}

/// Reads from the console: a line at most in canonical mode; what has been
/// typed otherwise; 0 at end of input.
pub async fn read(buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
    if !started() || buf.is_empty() {
        return Ok(0);
    }
    loop {
        let waker = my_waker().await;
        let got = state()
            .exclusive(|s| {
                if !s.ready.is_empty() {
                    let canonical = s.flag(3) & ICANON != 0;
                    let mut n = 0;
                    while n < buf.len() {
                        let Some(b) = s.ready.pop_front() else { break };
                        buf[n] = b;
                        n += 1;
                        if canonical && b == b'\n' {
                            break;
                        }
                    }
                    return Some(Ok(n));
                }
                if s.eof > 0 {
                    s.eof -= 1;
                    return Some(Ok(0));
                }
                if nonblock {
                    return Some(Err(errno::EAGAIN));
                }
                s.readers.push(waker);
                None
            })
            .await;
        match got {
            Some(r) => return r,
            None => {
                let mut first = true;
                poll_fn(|_| if core::mem::replace(&mut first, false) { Poll::Pending } else { Poll::Ready(()) }).await;
            }
        }
    }
}

/// Whether a read would not wait; otherwise leaves `waker` to be woken
/// when one would not (for `poll`).
pub async fn readable(waker: Waker) -> bool {
    if !started() {
        return true;
    }
    state()
        .exclusive(|s| {
            let ready = !s.ready.is_empty() || s.eof > 0;
            if !ready {
                s.readers.push(waker);
            }
            ready
        })
        .await
}

/// The settings now.
pub async fn termios() -> [u8; TERMIOS_SIZE] {
    state().shared(|s| s.termios).await
}

/// Replaces the settings (`TCSETSF` also drops pending input).
pub async fn set_termios(t: [u8; TERMIOS_SIZE], flush: bool) {
    state()
        .exclusive(|s| {
            let was_canonical = s.flag(3) & ICANON != 0;
            s.termios = t;
            if flush {
                s.ready.clear();
                s.line.clear();
            }
            // Leaving canonical mode hands over the line being edited.
            if was_canonical && s.flag(3) & ICANON == 0 {
                s.ready.extend(s.line.drain(..));
                s.wake_readers();
            }
        })
        .await;
}

/// The foreground process group (the caller's, if none was set yet).
pub fn foreground(caller_group: u32) -> u32 {
    match FOREGROUND.compare_exchange(0, caller_group, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => caller_group,
        Err(now) => now,
    }
}

/// Sets the foreground process group.
pub fn set_foreground(group: u32) {
    FOREGROUND.store(group, Ordering::Release);
}

/// The window size programs set and read (`TIOCSWINSZ`/`TIOCGWINSZ`):
/// rows in the high half, columns in the low; a serial line has no size
/// of its own, so 24 x 80 until a program sets one.
static WINSIZE: AtomicU32 = AtomicU32::new((24 << 16) | 80);

/// The window size: (rows, columns).
pub fn winsize() -> (u16, u16) {
    let v = WINSIZE.load(Ordering::Relaxed);
    ((v >> 16) as u16, v as u16)
}

/// Sets the window size.
pub fn set_winsize(rows: u16, cols: u16) {
    WINSIZE.store((u32::from(rows) << 16) | u32::from(cols), Ordering::Relaxed);
}
