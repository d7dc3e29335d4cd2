//! Terminals: the console, and pseudo-terminals (`pty`), each a line
//! discipline (`discipline`) with a foreground process group, a window
//! size and the session it controls.
//!
//! The console's input is the serial port and the keyboard: two tasks
//! (`tty` and `tty-keyboard`, started by [`start`]) take every byte as it
//! arrives, whether or not anyone reads, as a terminal does; its echo and
//! programs' writes go to the serial port (and the screen) as written. A
//! pty's input is what its master writes, and its echo and writes (after
//! output processing) are what its master reads (`pty.rs`).
//!
//! Readers (`read`, `poll`) and writers share a terminal's state through a
//! serializing token, never a lock: they may run on any CPU. A process's
//! controlling terminal ([`Tty`], `Process::ctty`) is what `/dev/tty`
//! opens; a session leader without one takes the first terminal it opens
//! (or `TIOCSCTTY`), as on Linux; `setsid` leaves it without.

mod discipline;
mod pty;

use alloc::sync::Arc;
use core::future::poll_fn;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use core::task::{Poll, Waker};

use io::token::Guarded;
use linux::errno::{self, Errno};
use spin::Once;

use discipline::State;
pub use discipline::TERMIOS_SIZE;
pub use pty::Pty;

/// One terminal's line discipline and settings.
pub struct Terminal {
    state: Guarded<State>,
    /// The foreground process group (0: none yet; the first to ask gets it).
    foreground: AtomicU32,
    /// Rows in the high half, columns in the low.
    winsize: AtomicU32,
    /// The session it is the controlling terminal of (0: none).
    session: AtomicU32,
}

impl Terminal {
    fn new(pty: bool) -> Self {
        Self {
            state: Guarded::new("tty", State::new(discipline::initial(pty))),
            foreground: AtomicU32::new(0),
            // A serial line has no size of its own: 24 x 80 until a
            // program sets one.
            winsize: AtomicU32::new((24 << 16) | 80),
            session: AtomicU32::new(0),
        }
    }

    /// The settings now.
    pub async fn termios(&self) -> [u8; TERMIOS_SIZE] {
        self.state.shared(|s| s.termios).await
    }

    /// Replaces the settings (`TCSETSF` also drops pending input).
    pub async fn set_termios(&self, t: [u8; TERMIOS_SIZE], flush: bool) {
        self.state.exclusive(|s| s.set_termios(t, flush)).await;
    }

    /// The foreground process group (the caller's, if none was set yet).
    pub fn foreground(&self, caller_group: u32) -> u32 {
        match self.foreground.compare_exchange(0, caller_group, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => caller_group,
            Err(now) => now,
        }
    }

    /// Sets the foreground process group.
    pub fn set_foreground(&self, group: u32) {
        self.foreground.store(group, Ordering::Release);
    }

    /// The window size: (rows, columns).
    pub fn winsize(&self) -> (u16, u16) {
        let v = self.winsize.load(Ordering::Relaxed);
        ((v >> 16) as u16, v as u16)
    }

    /// Sets the window size; the foreground group gets SIGWINCH if it
    /// changed.
    pub fn set_winsize(&self, rows: u16, cols: u16) {
        let v = (u32::from(rows) << 16) | u32::from(cols);
        if self.winsize.swap(v, Ordering::Relaxed) != v {
            self.signal_foreground(crate::signal::sig::SIGWINCH);
        }
    }

    /// The session it controls (0: none).
    pub fn session(&self) -> u32 {
        self.session.load(Ordering::Acquire)
    }

    /// Makes it the controlling terminal of `session`, whose leader's
    /// group becomes the foreground; false if it controls another.
    pub fn control(&self, session: u32, group: u32) -> bool {
        match self.session.compare_exchange(0, session, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                self.set_foreground(group);
                true
            }
            Err(now) => now == session,
        }
    }

    /// Sends `sig` to every process of the foreground group.
    fn signal_foreground(&self, sig: u8) {
        let group = self.foreground.load(Ordering::Relaxed);
        if group == 0 {
            return;
        }
        for info in crate::process::list() {
            if info.pgid.load(Ordering::Relaxed) == group {
                crate::signal::send(&info, sig);
            }
        }
    }

    /// Reads: a line at most in canonical mode; what has been typed
    /// otherwise; 0 at end of input or once hung up.
    async fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let waker = my_waker().await;
            let got = self
                .state
                .exclusive(|s| match s.take(buf) {
                    Some(n) => Some(Ok(n)),
                    None if nonblock => Some(Err(errno::EAGAIN)),
                    None => {
                        s.readers.push(waker);
                        None
                    }
                })
                .await;
            match got {
                Some(r) => return r,
                None => pending_once().await,
            }
        }
    }

    /// Whether a read would not wait; otherwise leaves `waker` to be woken
    /// when one would not.
    async fn readable(&self, waker: Waker) -> bool {
        self.state
            .exclusive(|s| {
                let ready = s.readable();
                if !ready {
                    s.readers.push(waker);
                }
                ready
            })
            .await
    }

    /// Bytes a read may take now (`FIONREAD`).
    pub async fn waiting(&self) -> usize {
        self.state.shared(State::waiting).await
    }
}

/// The waker of the task that awaits this.
async fn my_waker() -> Waker {
    poll_fn(|cx| Poll::Ready(cx.waker().clone())).await
}

/// Returns to the executor once (after leaving a waker somewhere).
async fn pending_once() {
    let mut first = true;
    poll_fn(|_| if core::mem::replace(&mut first, false) { Poll::Pending } else { Poll::Ready(()) }).await;
}

static CONSOLE: Once<Terminal> = Once::new();
/// Whether a reader task owns the serial input.
static STARTED: AtomicBool = AtomicBool::new(false);

fn console() -> &'static Terminal {
    CONSOLE.call_once(|| Terminal::new(false))
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
    let (echo, signal) = console().state.exclusive(|s| s.input(b)).await;
    if let Some(sig) = signal {
        console().signal_foreground(sig);
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

/// A terminal a file or a process refers to.
#[derive(Clone)]
pub enum Tty {
    /// The console (`/dev/console`).
    Console,
    /// A pty's terminal end (`/dev/pts/N`).
    Pty(Arc<Pty>),
}

impl Tty {
    /// Its line discipline and settings.
    pub fn terminal(&self) -> &Terminal {
        match self {
            Tty::Console => console(),
            Tty::Pty(p) => p.terminal(),
        }
    }

    /// Whether both are the same terminal.
    pub fn same(&self, other: &Tty) -> bool {
        match (self, other) {
            (Tty::Console, Tty::Console) => true,
            (Tty::Pty(a), Tty::Pty(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Its device numbers, as Linux gives them.
    pub fn numbers(&self) -> (u32, u32) {
        match self {
            Tty::Console => (5, 1),
            Tty::Pty(p) => (136, p.index()),
        }
    }

    /// A description of it opens (a pty counts its terminal end's).
    pub fn opened(&self) {
        if let Tty::Pty(p) = self {
            p.terminal_opened();
        }
    }

    /// A description of it closes.
    pub fn closed(&self) {
        if let Tty::Pty(p) = self {
            p.terminal_closed();
        }
    }

    /// Reads input through the line discipline.
    pub async fn read(&self, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        if matches!(self, Tty::Console) && !started() {
            return Ok(0);
        }
        self.terminal().read(buf, nonblock).await
    }

    /// Writes: the console's bytes go out as written, a pty's through
    /// output processing to its master (a full buffer makes the writer
    /// wait; EIO once the master is gone).
    pub async fn write(&self, buf: &[u8], nonblock: bool) -> Result<usize, Errno> {
        match self {
            Tty::Console => crate::fs::console_write(buf).await,
            Tty::Pty(p) => p.terminal_write(buf, nonblock).await,
        }
    }

    /// Readiness for `poll`: (readable, writable, hung up, error);
    /// leaves `waker` to be woken when what is wanted (reading, writing,
    /// and with `always` each arrival even while ready) changes.
    pub async fn poll(&self, waker: Waker, wanted: (bool, bool, bool)) -> (bool, bool, bool, bool) {
        match self {
            Tty::Console => (!started() || console().readable(waker).await, true, false, false),
            Tty::Pty(p) => p.terminal_poll(waker, wanted).await,
        }
    }
}
