//! The line discipline of a terminal (Linux's N_TTY, the parts programs
//! rely on), as pure functions of a terminal's state: what a typed byte
//! does, and how written bytes are turned into what the other end sees.
//!
//! - with ISIG, the INTR, QUIT and SUSP characters (Ctrl-C, Ctrl-\,
//!   Ctrl-Z) raise SIGINT, SIGQUIT and SIGTSTP for the foreground group
//!   and drop the line being edited (echoed as `^C`, with ECHOCTL);
//! - with ICANON, bytes are edited into a line (ERASE, KILL, EOF ends
//!   input on an empty line) and handed to readers whole at `\n`; without
//!   it, each byte is handed over as it comes;
//! - ICRNL turns `\r` into `\n`; ECHO echoes what is typed;
//! - on output, OPOST with ONLCR turns `\n` into `\r\n` (a pty's; the
//!   console's output goes to the serial port as written).

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::task::Waker;

use crate::signal::sig::{SIGINT, SIGQUIT, SIGTSTP};

/// `struct termios` as `TCGETS` copies it: c_iflag, c_oflag, c_cflag,
/// c_lflag (u32 each), c_line, c_cc[19].
pub const TERMIOS_SIZE: usize = 36;

/// Bytes typed and not yet read that a terminal holds at most: past it,
/// a pty's master waits (the console's typist cannot, and its bytes past
/// it are dropped, as Linux's N_TTY drops them).
pub const INPUT_MAX: usize = 4096;

const ICRNL: u32 = 0o400;
const OPOST: u32 = 0o1;
const ONLCR: u32 = 0o4;
const ISIG: u32 = 0o1;
const ICANON: u32 = 0o2;
const ECHO: u32 = 0o10;
const ECHOCTL: u32 = 0o1000;
const VINTR: usize = 0;
const VQUIT: usize = 1;
const VERASE: usize = 2;
const VKILL: usize = 3;
const VEOF: usize = 4;
const VSUSP: usize = 10;

/// What a fresh terminal reports: ICRNL | IXON, OPOST | ONLCR, B38400 |
/// CS8 | CREAD | HUPCL (a pty's: without HUPCL), ISIG | ICANON | ECHO |
/// ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN, and Linux's default control
/// characters.
pub fn initial(pty: bool) -> [u8; TERMIOS_SIZE] {
    let mut t = [0u8; TERMIOS_SIZE];
    t[0..4].copy_from_slice(&0o2400u32.to_le_bytes());
    t[4..8].copy_from_slice(&0o5u32.to_le_bytes());
    t[8..12].copy_from_slice(&(if pty { 0o277u32 } else { 0o2277 }).to_le_bytes());
    t[12..16].copy_from_slice(&0o105073u32.to_le_bytes());
    let cc: [u8; 17] = [3, 0x1c, 0x7f, 0x15, 4, 0, 1, 0, 0x11, 0x13, 0x1a, 0, 0x12, 0x0f, 0x17, 0x16, 0];
    t[17..17 + cc.len()].copy_from_slice(&cc);
    t
}

/// A terminal's input side.
pub struct State {
    pub termios: [u8; TERMIOS_SIZE],
    /// The line being edited (canonical mode).
    pub line: Vec<u8>,
    /// Bytes readers may take.
    pub ready: VecDeque<u8>,
    /// End-of-input marks (EOF on an empty line) waiting for a reader.
    pub eof: usize,
    /// The other end is gone (a pty's master closed): reads find the end,
    /// writes fail.
    pub hung_up: bool,
    /// Readers waiting for input.
    pub readers: Vec<Waker>,
    /// A pty master's writers waiting for room in `ready`.
    pub typists: Vec<Waker>,
}

impl State {
    pub fn new(termios: [u8; TERMIOS_SIZE]) -> Self {
        Self { termios, line: Vec::new(), ready: VecDeque::new(), eof: 0, hung_up: false, readers: Vec::new(), typists: Vec::new() }
    }

    fn flag(&self, word: usize) -> u32 {
        u32::from_le_bytes(self.termios[word * 4..word * 4 + 4].try_into().expect("4 bytes"))
    }

    fn cc(&self, i: usize) -> u8 {
        self.termios[17 + i]
    }

    pub fn canonical(&self) -> bool {
        self.flag(3) & ICANON != 0
    }

    pub fn wake_readers(&mut self) {
        for w in self.readers.drain(..) {
            w.wake();
        }
    }

    pub fn wake_typists(&mut self) {
        for w in self.typists.drain(..) {
            w.wake();
        }
    }

    /// Whether a read would not wait.
    pub fn readable(&self) -> bool {
        !self.ready.is_empty() || self.eof > 0 || self.hung_up
    }

    /// Bytes a read may take now (FIONREAD).
    pub fn waiting(&self) -> usize {
        self.ready.len()
    }

    /// Takes what a read of `buf` gets: a line at most in canonical mode;
    /// `None` when there is nothing yet.
    pub fn take(&mut self, buf: &mut [u8]) -> Option<usize> {
        if !self.ready.is_empty() {
            let canonical = self.canonical();
            let mut n = 0;
            while n < buf.len() {
                let Some(b) = self.ready.pop_front() else { break };
                buf[n] = b;
                n += 1;
                if canonical && b == b'\n' {
                    break;
                }
            }
            self.wake_typists();
            return Some(n);
        }
        if self.eof > 0 {
            self.eof -= 1;
            return Some(0);
        }
        self.hung_up.then_some(0)
    }

    /// Replaces the settings (`TCSETSF` also drops pending input).
    pub fn set_termios(&mut self, t: [u8; TERMIOS_SIZE], flush: bool) {
        let was_canonical = self.canonical();
        self.termios = t;
        if flush {
            self.ready.clear();
            self.line.clear();
            self.wake_typists();
        }
        // Leaving canonical mode hands over the line being edited.
        if was_canonical && !self.canonical() {
            self.ready.extend(self.line.drain(..));
            self.wake_readers();
        }
    }

    /// `bytes` written to the terminal, as its other end sees them.
    pub fn output(&self, bytes: &[u8]) -> Vec<u8> {
        output(&self.termios, bytes)
    }

    /// One byte typed: what to echo (before output processing), and the
    /// signal to send, if any.
    pub fn input(&mut self, mut b: u8) -> (Vec<u8>, Option<u8>) {
        let (iflag, lflag) = (self.flag(0), self.flag(3));
        let mut echo = Vec::new();
        if b == b'\r' && iflag & ICRNL != 0 {
            b = b'\n';
        }
        let signal =
            [(VINTR, SIGINT), (VQUIT, SIGQUIT), (VSUSP, SIGTSTP)].into_iter().find(|&(cc, _)| self.cc(cc) != 0 && b == self.cc(cc));
        if lflag & ISIG != 0
            && let Some((_, sig)) = signal
        {
            self.line.clear();
            // Echoed as Linux echoes it: `^C` with ECHOCTL, no line's end.
            if lflag & ECHO != 0 {
                if lflag & ECHOCTL != 0 && b < 0x20 {
                    echo.extend_from_slice(&[b'^', b ^ 0x40]);
                } else {
                    echo.push(b);
                }
            }
            return (echo, Some(sig));
        }
        // Past the limit a byte is dropped, as Linux's N_TTY drops it (a
        // pty's master waits before, see `Pty::write`); a line's end never is.
        let full = self.ready.len() + self.line.len() >= INPUT_MAX;
        if lflag & ICANON == 0 {
            if full {
                return (echo, None);
            }
            self.ready.push_back(b);
            if lflag & ECHO != 0 {
                echo.push(b);
            }
            self.wake_readers();
            return (echo, None);
        }
        match b {
            b'\n' => {
                self.line.push(b'\n');
                self.ready.extend(self.line.drain(..));
                if lflag & ECHO != 0 {
                    echo.push(b'\n');
                }
                self.wake_readers();
            }
            _ if b == self.cc(VEOF) => {
                if self.line.is_empty() {
                    self.eof += 1;
                } else {
                    self.ready.extend(self.line.drain(..));
                }
                self.wake_readers();
            }
            _ if b == self.cc(VERASE) || b == 0x08 => {
                // One character: its continuation bytes, then its first byte.
                let mut erased = false;
                while let Some(last) = self.line.pop() {
                    erased = true;
                    if last & 0xc0 != 0x80 {
                        break;
                    }
                }
                if erased && lflag & ECHO != 0 {
                    echo.extend_from_slice(b"\x08 \x08");
                }
            }
            _ if b == self.cc(VKILL) => {
                let chars = self.line.iter().filter(|&&c| c & 0xc0 != 0x80).count();
                self.line.clear();
                if lflag & ECHO != 0 {
                    for _ in 0..chars {
                        echo.extend_from_slice(b"\x08 \x08");
                    }
                }
            }
            _ if full => {}
            _ => {
                self.line.push(b);
                if lflag & ECHO != 0 {
                    echo.push(b);
                }
            }
        }
        (echo, None)
    }
}

/// `bytes` written to a terminal set as `termios`, as its other end sees
/// them.
pub fn output(termios: &[u8; TERMIOS_SIZE], bytes: &[u8]) -> Vec<u8> {
    let oflag = u32::from_le_bytes(termios[4..8].try_into().expect("4 bytes"));
    if oflag & OPOST == 0 || oflag & ONLCR == 0 {
        return bytes.to_vec();
    }
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 16);
    for &b in bytes {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}
