//! Pseudo-terminals, as Linux's devpts gives them: each open of
//! `/dev/ptmx` makes a new pair, its master (the description `open`
//! returns) and its terminal end, `/dev/pts/N` (`TIOCGPTN` tells N;
//! `TIOCSPTLCK` unlocks it, as `unlockpt` does; opened while locked, EIO).
//!
//! What the master writes is typed at the terminal (the line discipline:
//! editing, echo, signals for its foreground group); what the terminal's
//! programs write, and the echo, pass output processing (`\n` as `\r\n`
//! with ONLCR) into a buffer the master reads. Either side waits while the
//! other's buffer is full (`INPUT_MAX`, `OUTPUT_MAX`), or answers EAGAIN.
//!
//! Ends: once every description of the terminal end has closed, the
//! master reads the rest of the buffer, then EIO (poll: hang-up), as on
//! Linux; once the master closes, the terminal is hung up: its reads find
//! the end, its writes EIO, its foreground group and session leader get
//! SIGHUP and SIGCONT, and `/dev/pts/N` goes. The close of a description
//! happens in `Drop`, which cannot wait for a token: the counts are
//! atomics, and the wake-ups that need the tokens run in a short task.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use core::task::Waker;

use io::token::Guarded;
use linux::errno::{self, Errno};

use super::discipline::INPUT_MAX;
use super::{Terminal, my_waker, pending_once};
use crate::signal::sig::{SIGCONT, SIGHUP};

/// Bytes written at the terminal that wait for the master at most.
const OUTPUT_MAX: usize = 8192;

/// The next pty's number.
static NEXT_INDEX: AtomicU32 = AtomicU32::new(0);

/// The master's side.
struct Master {
    /// Bytes for the master to read.
    out: VecDeque<u8>,
    /// Master readers waiting for bytes (or the terminal's last close).
    readers: Vec<Waker>,
    /// Terminal writers waiting for room in `out`.
    writers: Vec<Waker>,
}

/// One pseudo-terminal pair.
pub struct Pty {
    index: u32,
    terminal: Terminal,
    master: Guarded<Master>,
    /// `unlockpt` not called yet.
    locked: AtomicBool,
    /// Open descriptions of the terminal end.
    terminals: AtomicUsize,
    /// The terminal end has been opened (before, a master read waits).
    ever_opened: AtomicBool,
    /// The master's description is gone.
    master_closed: AtomicBool,
}

impl Pty {
    /// A new pair, locked, its master open.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            index: NEXT_INDEX.fetch_add(1, Ordering::Relaxed),
            terminal: Terminal::new(true),
            master: Guarded::new("pty", Master { out: VecDeque::new(), readers: Vec::new(), writers: Vec::new() }),
            locked: AtomicBool::new(true),
            terminals: AtomicUsize::new(0),
            ever_opened: AtomicBool::new(false),
            master_closed: AtomicBool::new(false),
        })
    }

    /// Its number: the terminal end is `/dev/pts/N`.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The terminal end's line discipline and settings.
    pub fn terminal(&self) -> &Terminal {
        &self.terminal
    }

    /// Whether the terminal end may not be opened yet.
    pub fn locked(&self) -> bool {
        self.locked.load(Ordering::Acquire)
    }

    /// `TIOCSPTLCK`.
    pub fn set_locked(&self, locked: bool) {
        self.locked.store(locked, Ordering::Release);
    }

    /// Whether the master is gone (the terminal end is hung up).
    pub fn hung_up(&self) -> bool {
        self.master_closed.load(Ordering::Acquire)
    }

    pub(super) fn terminal_opened(&self) {
        self.terminals.fetch_add(1, Ordering::AcqRel);
        self.ever_opened.store(true, Ordering::Release);
    }

    pub(super) fn terminal_closed(self: &Arc<Self>) {
        if self.terminals.fetch_sub(1, Ordering::AcqRel) == 1 {
            let pty = Arc::clone(self);
            drop(kernel::exec::spawn_named("pty", async move {
                pty.master.exclusive(|m| m.readers.drain(..).for_each(Waker::wake)).await;
            }));
        }
    }

    /// No terminal description is open, and one was: the master's reads
    /// end in EIO.
    fn terminal_gone(&self) -> bool {
        self.ever_opened.load(Ordering::Acquire) && self.terminals.load(Ordering::Acquire) == 0
    }

    /// The master's description closed: the terminal hangs up.
    pub fn master_closed(self: &Arc<Self>) {
        self.master_closed.store(true, Ordering::Release);
        let pty = Arc::clone(self);
        drop(kernel::exec::spawn_named("pty", async move {
            pty.terminal
                .state
                .exclusive(|s| {
                    s.hung_up = true;
                    s.wake_readers();
                    s.wake_typists();
                })
                .await;
            pty.master.exclusive(|m| m.writers.drain(..).for_each(Waker::wake)).await;
            let session = pty.terminal.session();
            let group = pty.terminal.foreground.load(Ordering::Relaxed);
            for info in crate::process::list() {
                if (group != 0 && info.pgid.load(Ordering::Relaxed) == group) || (session != 0 && info.pid == session) {
                    crate::signal::send(&info, SIGHUP);
                    crate::signal::send(&info, SIGCONT);
                }
            }
            crate::fs::remove_pty_node(pty.index).await;
        }));
    }

    /// The master reads what the terminal wrote (and its echo); EIO once
    /// the terminal end has closed and nothing is left.
    pub async fn master_read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let waker = my_waker().await;
            let got = self
                .master
                .exclusive(|m| {
                    if !m.out.is_empty() {
                        let n = buf.len().min(m.out.len());
                        for (b, x) in buf.iter_mut().zip(m.out.drain(..n)) {
                            *b = x;
                        }
                        m.writers.drain(..).for_each(Waker::wake);
                        return Some(Ok(n));
                    }
                    if self.terminal_gone() {
                        return Some(Err(errno::EIO));
                    }
                    if nonblock {
                        return Some(Err(errno::EAGAIN));
                    }
                    m.readers.push(waker);
                    None
                })
                .await;
            match got {
                Some(r) => return r,
                None => pending_once().await,
            }
        }
    }

    /// The master types `buf` at the terminal: each byte through the line
    /// discipline; waits while its input is full (EAGAIN if `nonblock`
    /// and nothing went).
    pub async fn master_write(&self, buf: &[u8], nonblock: bool) -> Result<usize, Errno> {
        let mut done = 0;
        while done < buf.len() {
            let waker = my_waker().await;
            let (took, echo, signals) = self
                .terminal
                .state
                .exclusive(|s| {
                    let (mut echo, mut signals) = (Vec::new(), Vec::new());
                    let mut took = 0;
                    while done + took < buf.len() && s.ready.len() < INPUT_MAX {
                        let (e, sig) = s.input(buf[done + took]);
                        echo.extend_from_slice(&e);
                        signals.extend(sig);
                        took += 1;
                    }
                    if took == 0 && !nonblock {
                        s.typists.push(waker);
                    }
                    (took, s.output(&echo), signals)
                })
                .await;
            for sig in signals {
                self.terminal.signal_foreground(sig);
            }
            if !echo.is_empty() {
                self.master
                    .exclusive(|m| {
                        m.out.extend(echo);
                        m.readers.drain(..).for_each(Waker::wake);
                    })
                    .await;
            }
            done += took;
            if let Some(r) = stalled(done, took, nonblock).await {
                return r;
            }
        }
        Ok(done)
    }

    /// Readiness of the master for `poll`: (readable, writable, hung up,
    /// error); `waker` is left for the sides wanted while they are not
    /// ready, or with `always` (an edge-triggered interest) regardless.
    pub async fn master_poll(&self, waker: Waker, (read, write, always): (bool, bool, bool)) -> (bool, bool, bool, bool) {
        let gone = self.terminal_gone();
        let readable = self
            .master
            .exclusive(|m| {
                let readable = !m.out.is_empty() || gone;
                if read && (always || !readable) {
                    m.readers.push(waker.clone());
                }
                readable
            })
            .await;
        let writable = self
            .terminal
            .state
            .exclusive(|s| {
                let writable = s.ready.len() < INPUT_MAX;
                if write && (always || !writable) {
                    s.typists.push(waker);
                }
                writable
            })
            .await;
        (readable, writable, gone, false)
    }

    /// Bytes the master may read now (`FIONREAD`).
    pub async fn master_waiting(&self) -> usize {
        self.master.shared(|m| m.out.len()).await
    }

    /// A program writes at the terminal: output processing, then into the
    /// master's buffer; waits while it is full; EIO once hung up.
    pub(super) async fn terminal_write(&self, buf: &[u8], nonblock: bool) -> Result<usize, Errno> {
        let mut done = 0;
        while done < buf.len() {
            if self.hung_up() {
                return if done > 0 { Ok(done) } else { Err(errno::EIO) };
            }
            let termios = self.terminal.termios().await;
            let waker = my_waker().await;
            let took = self
                .master
                .exclusive(|m| {
                    let room = OUTPUT_MAX.saturating_sub(m.out.len());
                    if room == 0 {
                        if !nonblock {
                            m.writers.push(waker);
                        }
                        return 0;
                    }
                    // Output processing at most doubles the bytes.
                    let take = (buf.len() - done).min(room.div_ceil(2).max(1));
                    m.out.extend(super::discipline::output(&termios, &buf[done..done + take]));
                    m.readers.drain(..).for_each(Waker::wake);
                    take
                })
                .await;
            done += took;
            if let Some(r) = stalled(done, took, nonblock).await {
                return r;
            }
        }
        Ok(done)
    }

    /// Readiness of the terminal end for `poll` (as [`Self::master_poll`]).
    pub(super) async fn terminal_poll(&self, waker: Waker, (read, write, always): (bool, bool, bool)) -> (bool, bool, bool, bool) {
        let (readable, hung_up) = self
            .terminal
            .state
            .exclusive(|s| {
                let readable = s.readable();
                if read && (always || !readable) {
                    s.readers.push(waker.clone());
                }
                (readable, s.hung_up)
            })
            .await;
        let writable = self
            .master
            .exclusive(|m| {
                let writable = m.out.len() < OUTPUT_MAX;
                if write && (always || !writable) {
                    m.writers.push(waker);
                }
                writable
            })
            .await;
        (readable, writable || hung_up, hung_up, false)
    }
}

/// After a pass of a transfer that moved `took` bytes (`done` in all):
/// if nothing moved, the call's answer when it may not wait (`nonblock`),
/// else a wait for the waker the pass left.
async fn stalled(done: usize, took: usize, nonblock: bool) -> Option<Result<usize, Errno>> {
    if took > 0 {
        return None;
    }
    if nonblock {
        return Some(if done > 0 { Ok(done) } else { Err(errno::EAGAIN) });
    }
    pending_once().await;
    None
}
