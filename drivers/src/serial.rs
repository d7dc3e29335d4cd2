//! COM1 as an interrupt-driven device: an async reader (`read`,
//! `read_line`) and an async writer, both `embedded-io-async` traits.
//!
//! Receive:
//!
//! ```text
//! byte arrives -> IRQ 4 -> on_irq: while the UART has data and RX has
//!   room, move it into RX (an IrqRing, whose push wakes the reader); RX
//!   full -> turn the UART's receive interrupt off and leave the rest in the
//!   device (flow control: QEMU then stops feeding it; real hardware counts
//!   an overrun)
//! SerialReader::read (the reader's task): pop RX; once RX is half empty,
//!   turn the receive interrupt back on
//! ```
//!
//! Transmit: a write appends to the console's transmit queue under its lock
//! (whole, if it fits, so lines never interleave mid-line with log lines)
//! and kicks the driver task; the task moves a FIFO's worth per
//! transmitter-empty interrupt and wakes writers waiting for room. Log
//! lines (synchronous) send what is queued first, so order is kept.
//!
//! One reader at a time ([`reader`] hands it out once); any number of
//! writers.

use alloc::string::String;
use alloc::vec::Vec;
use core::convert::Infallible;
use core::future::poll_fn;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use core::task::{Poll, Waker};

use embedded_io_async::{ErrorType, Read, Write};
use io::IrqRing;
use kernel::console::serial::{self, TX_QUEUE};
use kernel::exec;
use kernel::irq::{self, Irq, IrqError};
use spin::Mutex;
use uart_16550::spec::registers::{IER, LSR};

/// Received bytes, from the handler to the reader.
static RX: IrqRing<u8, 4096> = IrqRing::new();
/// The receive interrupt is off because RX was full.
static RX_THROTTLED: AtomicBool = AtomicBool::new(false);
/// Times the UART reported a receive overrun (bytes lost in the device).
static OVERRUNS: AtomicU64 = AtomicU64::new(0);
static STARTED: AtomicBool = AtomicBool::new(false);
static READER_TAKEN: AtomicBool = AtomicBool::new(false);
static GSI: AtomicU32 = AtomicU32::new(0);
/// Writers waiting for room in the transmit queue (task context only).
static WRITERS: Mutex<Vec<Waker>> = Mutex::new(Vec::new());

fn on_irq(rx: &IrqRing<u8, 4096>) {
    serial::with_locked(|port| {
        // Reading the interrupt identification acknowledges a
        // transmitter-empty interrupt; the task re-arms it if bytes remain.
        let _ = port.uart().isr();
        port.uart().disable_interrupts(IER::THR_EMPTY);
        loop {
            let lsr = port.uart().lsr();
            if lsr.contains(LSR::OVERRUN_ERROR) {
                OVERRUNS.fetch_add(1, Ordering::Relaxed);
            }
            if !lsr.contains(LSR::DATA_READY) {
                break;
            }
            if rx.free() == 0 {
                port.uart().disable_interrupts(IER::DATA_READY);
                RX_THROTTLED.store(true, Ordering::Release);
                break;
            }
            match port.uart().try_receive_byte() {
                Ok(b) => {
                    let _ = rx.push(b);
                }
                Err(_) => break,
            }
        }
    });
}

/// Takes COM1 over: routes IRQ 4 to this CPU, turns on the receive
/// interrupt, and spawns the transmit task here.
pub fn start() -> Result<(), IrqError> {
    let irq = irq::bind_isa(4, irq::Handler::new(&RX, on_irq))?;
    GSI.store(irq.gsi(), Ordering::Release);
    serial::with_locked(|port| port.uart().enable_interrupts(IER::DATA_READY));
    // Bytes that arrived before the interrupt was enabled may not raise one
    // (below the FIFO's trigger level): collect them now. Safe here: the
    // line is routed to this CPU and `on_irq` runs with interrupts off.
    on_irq(&RX);
    STARTED.store(true, Ordering::Release);
    exec::spawn_driver("serial-tx", transmit(irq));
    log::info!("serial: COM1 interrupt-driven, IRQ 4 on GSI {}", GSI.load(Ordering::Relaxed));
    Ok(())
}

/// The driver task: on every interrupt (or kick from a writer), move a
/// FIFO's worth of queued bytes into the UART and wake writers waiting for
/// room.
async fn transmit(irq: Irq) {
    loop {
        irq.wait().await;
        serial::with_locked(|port| port.pump());
        let waiting = core::mem::take(&mut *WRITERS.lock());
        waiting.into_iter().for_each(Waker::wake);
    }
}

/// Receive counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct SerialStats {
    /// Bytes dropped because RX was full (0 while flow control works).
    pub ring_overflows: u64,
    /// Overruns the UART reported (bytes lost before the handler ran).
    pub overruns: u64,
    /// Interrupts taken on COM1's line.
    pub interrupts: u64,
}

/// Receive counters since boot.
pub fn stats() -> SerialStats {
    SerialStats {
        ring_overflows: RX.overflows(),
        overruns: OVERRUNS.load(Ordering::Relaxed),
        interrupts: irq::count(GSI.load(Ordering::Relaxed)),
    }
}

/// The reader of COM1 (once: `None` if it was taken, or the driver has not
/// started).
pub fn reader() -> Option<SerialReader> {
    (STARTED.load(Ordering::Acquire) && !READER_TAKEN.swap(true, Ordering::AcqRel)).then_some(SerialReader { after_cr: false })
}

/// A writer to COM1 (any number may exist).
pub fn writer() -> SerialWriter {
    SerialWriter
}

/// Reads COM1.
pub struct SerialReader {
    /// The last line ended with `\r`: a `\n` right after it is part of it.
    after_cr: bool,
}

/// Longest line [`SerialReader::read_line`] keeps; the rest is dropped.
pub const MAX_LINE: usize = 4096;

/// How [`SerialReader::read_line`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineInfo {
    /// Bytes beyond [`MAX_LINE`] that were dropped.
    pub dropped: usize,
    /// Whether the bytes were not valid UTF-8 (each bad sequence became
    /// U+FFFD).
    pub lossy: bool,
}

impl SerialReader {
    fn unthrottle_if_room() {
        if RX_THROTTLED.load(Ordering::Acquire) && RX.free() >= RX.capacity() / 2 {
            RX_THROTTLED.store(false, Ordering::Release);
            // The UART raises the interrupt again at once if data waits.
            serial::with_locked(|port| port.uart().enable_interrupts(IER::DATA_READY));
        }
    }

    /// Waits for one byte.
    pub async fn read_byte(&mut self) -> u8 {
        core::future::poll_fn(|cx| self.poll_byte(cx)).await
    }

    /// `Ready` with the next byte, or registers `cx` to be woken when one
    /// arrives (for a task that waits on several inputs at once).
    pub fn poll_byte(&mut self, cx: &mut core::task::Context<'_>) -> Poll<u8> {
        let b = RX.poll_recv(cx);
        if b.is_ready() {
            Self::unthrottle_if_room();
        }
        b
    }

    /// Reads one line into `line` (cleared first), without its terminator
    /// (`\r`, `\n` or `\r\n`). Backspace and DEL erase the last character
    /// (a whole UTF-8 sequence); other control bytes are ignored. With
    /// `echo`, typed characters and erasures are echoed. Invalid UTF-8 is
    /// replaced, never a panic; bytes beyond [`MAX_LINE`] are dropped.
    pub async fn read_line(&mut self, line: &mut String, echo: bool) -> LineInfo {
        let mut bytes: Vec<u8> = Vec::new();
        let mut dropped = 0;
        let mut out = writer();
        loop {
            let b = self.read_byte().await;
            let after_cr = core::mem::replace(&mut self.after_cr, b == b'\r');
            match b {
                b'\n' if after_cr => continue,
                b'\r' | b'\n' => break,
                0x08 | 0x7f => {
                    // Erase one character: continuation bytes, then its start.
                    let mut erased = false;
                    while let Some(last) = bytes.pop() {
                        erased = true;
                        if last & 0xc0 != 0x80 {
                            break;
                        }
                    }
                    if echo && erased {
                        let _ = out.write_all(b"\x08 \x08").await;
                    }
                }
                0x00..=0x1f => {}
                _ if bytes.len() >= MAX_LINE => dropped += 1,
                _ => {
                    bytes.push(b);
                    if echo {
                        let _ = out.write_all(&[b]).await;
                    }
                }
            }
        }
        if echo {
            let _ = out.write_all(b"\n").await;
        }
        line.clear();
        let lossy = match core::str::from_utf8(&bytes) {
            Ok(s) => {
                line.push_str(s);
                false
            }
            Err(_) => {
                line.push_str(&String::from_utf8_lossy(&bytes));
                true
            }
        };
        LineInfo { dropped, lossy }
    }
}

impl ErrorType for SerialReader {
    type Error = Infallible;
}

impl Read for SerialReader {
    /// Waits for at least one byte, then takes what is there (up to
    /// `buf.len()`).
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        if buf.is_empty() {
            return Ok(0);
        }
        buf[0] = self.read_byte().await;
        let mut n = 1;
        while n < buf.len()
            && let Some(b) = RX.pop()
        {
            buf[n] = b;
            n += 1;
        }
        Self::unthrottle_if_room();
        Ok(n)
    }
}

/// Writes COM1 through the transmit queue.
pub struct SerialWriter;

impl ErrorType for SerialWriter {
    type Error = Infallible;
}

/// Registers `cx` to be woken after the driver task's next pump, and kicks
/// the task (room may have appeared before the registration: the kick makes
/// sure a pump, and so a wake, follows it).
fn wait_for_pump<T>(cx: &mut core::task::Context<'_>) -> Poll<T> {
    let mut waiters = WRITERS.lock();
    if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
        waiters.push(cx.waker().clone());
    }
    drop(waiters);
    irq::kick(GSI.load(Ordering::Relaxed));
    Poll::Pending
}

/// Queue bytes needed for `bytes` (`\n` takes two).
fn queue_bytes(bytes: &[u8]) -> usize {
    bytes.len() + bytes.iter().filter(|&&b| b == b'\n').count()
}

impl Write for SerialWriter {
    /// Queues `buf` whole if it fits in the queue at all (waiting for room
    /// if needed), else as much as fits; returns the bytes taken.
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        if buf.is_empty() {
            return Ok(0);
        }
        if !STARTED.load(Ordering::Acquire) {
            // Before the driver runs: the synchronous console path.
            kernel::print!("{}", String::from_utf8_lossy(buf));
            return Ok(buf.len());
        }
        let whole = queue_bytes(buf) <= TX_QUEUE;
        let taken = poll_fn(|cx| {
            let taken = serial::with_locked(|port| if whole && port.room() < queue_bytes(buf) { 0 } else { port.enqueue(buf) });
            match taken {
                None => Poll::Ready(buf.len()), // no COM1: the bytes vanish
                Some(0) => wait_for_pump(cx),
                Some(n) => Poll::Ready(n),
            }
        })
        .await;
        irq::kick(GSI.load(Ordering::Relaxed));
        Ok(taken)
    }

    /// Waits until everything queued has gone into the UART.
    async fn flush(&mut self) -> Result<(), Infallible> {
        poll_fn(|cx| {
            if serial::with_locked(|port| port.queued()).unwrap_or(0) == 0 {
                return Poll::Ready(());
            }
            wait_for_pump(cx)
        })
        .await;
        Ok(())
    }
}
