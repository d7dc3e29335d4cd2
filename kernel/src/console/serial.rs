//! COM1 (I/O port 0x3f8), the 16550 UART every PC and QEMU provides, and
//! its transmit queue.
//!
//! Two ways out, one order:
//! - Synchronous ([`with_locked`], used by `print!` and the logger, which
//!   run anywhere, interrupt handlers included): with the lock held and
//!   interrupts off, first send whatever the transmit queue holds, then the
//!   new text, polling the UART. A line is written whole under the lock, so
//!   lines never interleave mid-line.
//! - Asynchronous (the serial driver's writer, `drivers::serial`):
//!   [`SerialPort::enqueue`] appends a whole write to the transmit queue
//!   under the lock (or as much as fits); the driver's task moves at most a
//!   FIFO's worth into the UART per transmitter-empty interrupt
//!   ([`SerialPort::pump`]). Nothing busy-waits on the transmitter.
//!
//! Output translates `\n` to `\r\n` (QEMU's stdio backend puts the host
//! terminal in raw mode). The fatal path writes without the lock (see
//! [`emergency`]).

use core::fmt;

use spin::Mutex;
use uart_16550::backend::PioBackend;
use uart_16550::spec::registers::IER;
use uart_16550::{Config, Uart16550};
use x86_64::instructions::interrupts;

/// Base I/O port of COM1.
pub const COM1: u16 = 0x3f8;
/// The transmitter's FIFO depth: bytes that may be written per THR-empty.
pub const TX_FIFO: usize = 16;
/// Bytes the transmit queue holds.
pub const TX_QUEUE: usize = 8192;

/// Bytes waiting to be transmitted, already translated (`\r\n`).
struct TxQueue {
    buf: [u8; TX_QUEUE],
    head: usize,
    len: usize,
}

impl TxQueue {
    const fn new() -> Self {
        Self { buf: [0; TX_QUEUE], head: 0, len: 0 }
    }

    fn free(&self) -> usize {
        TX_QUEUE - self.len
    }

    fn push(&mut self, b: u8) {
        self.buf[(self.head + self.len) % TX_QUEUE] = b;
        self.len += 1;
    }

    fn pop(&mut self) -> Option<u8> {
        (self.len > 0).then(|| {
            let b = self.buf[self.head];
            self.head = (self.head + 1) % TX_QUEUE;
            self.len -= 1;
            b
        })
    }
}

/// The UART plus its transmit queue; reached through [`with_locked`].
pub struct SerialPort {
    uart: Uart16550<PioBackend>,
    tx: TxQueue,
}

impl SerialPort {
    /// The UART's registers (for the driver: interrupt enables, received
    /// bytes, line status).
    pub fn uart(&mut self) -> &mut Uart16550<PioBackend> {
        &mut self.uart
    }

    /// Appends as much of `bytes` as fits to the transmit queue (`\n`
    /// becomes `\r\n`); returns how many bytes of `bytes` were taken.
    pub fn enqueue(&mut self, bytes: &[u8]) -> usize {
        let mut taken = 0;
        for &b in bytes {
            let need = if b == b'\n' { 2 } else { 1 };
            if self.tx.free() < need {
                break;
            }
            if b == b'\n' {
                self.tx.push(b'\r');
            }
            self.tx.push(b);
            taken += 1;
        }
        taken
    }

    /// Bytes waiting in the transmit queue.
    pub fn queued(&self) -> usize {
        self.tx.len
    }

    /// Free room in the transmit queue.
    pub fn room(&self) -> usize {
        self.tx.free()
    }

    /// Moves up to a FIFO's worth of queued bytes into the transmitter if it
    /// is empty. If bytes remain, enables the transmitter-empty interrupt
    /// (the driver's task is woken to pump again); otherwise disables it.
    /// Returns the bytes still queued.
    pub fn pump(&mut self) -> usize {
        if self.uart.lsr().contains(uart_16550::spec::registers::LSR::THR_EMPTY) {
            for _ in 0..TX_FIFO {
                let Some(b) = self.tx.pop() else { break };
                // THR is empty and the FIFO holds TX_FIFO bytes: never fails.
                let _ = self.uart.try_send_byte(b);
            }
        }
        if self.tx.len > 0 {
            self.uart.enable_interrupts(IER::THR_EMPTY);
        } else {
            self.uart.disable_interrupts(IER::THR_EMPTY);
        }
        self.tx.len
    }

    /// Sends every queued byte, polling the transmitter.
    fn drain_polled(&mut self) {
        while let Some(b) = self.tx.pop() {
            self.uart.send_bytes_exact(&[b]);
        }
    }
}

impl fmt::Write for SerialPort {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.drain_polled();
        for chunk in s.split_inclusive('\n') {
            match chunk.strip_suffix('\n') {
                Some(line) => {
                    self.uart.send_bytes_exact(line.as_bytes());
                    self.uart.send_bytes_exact(b"\r\n");
                }
                None => self.uart.send_bytes_exact(chunk.as_bytes()),
            }
        }
        Ok(())
    }
}

static PORT: Mutex<Option<SerialPort>> = Mutex::new(None);

fn com1() -> Uart16550<PioBackend> {
    // SAFETY: 0x3f8..0x3f8+8 are COM1's registers on every PC-compatible
    // machine; all access to them goes through `PORT` (or the fatal path,
    // which runs once every other user has been stopped).
    match unsafe { Uart16550::new_port(COM1) } {
        Ok(uart) => uart,
        Err(_) => unreachable!("0x3f8 + 7 does not overflow"),
    }
}

pub(super) fn init() {
    // Note: `Uart16550::init` discards bytes received before it ran. The host
    // runner therefore holds piped input until the kernel has printed.
    let mut uart = com1();
    // A machine without COM1 simply has no console; nothing else depends on it.
    if uart.init(Config::default()).is_ok() {
        *PORT.lock() = Some(SerialPort { uart, tx: TxQueue::new() });
    }
}

/// Runs `f` on the port with the lock held and interrupts off, so that an
/// interrupt handler that logs cannot deadlock against the code it
/// interrupted. Returns `None` if there is no COM1.
pub fn with_locked<R>(f: impl FnOnce(&mut SerialPort) -> R) -> Option<R> {
    interrupts::without_interrupts(|| PORT.lock().as_mut().map(f))
}

/// Sends everything queued, polling (before the machine exits). Bounded:
/// on the fatal path the lock may be held by a CPU that was stopped, and
/// then the queue is left alone.
pub fn flush() {
    interrupts::without_interrupts(|| {
        for _ in 0..1_000_000 {
            if let Some(mut guard) = PORT.try_lock() {
                if let Some(port) = guard.as_mut() {
                    port.drain_polled();
                }
                return;
            }
            core::hint::spin_loop();
        }
    });
}

/// Writes with `f` to COM1 for the fatal path: through the port if its lock
/// is free (so queued output goes first), else to the bare UART (the lock
/// may be held by a CPU that has been stopped).
pub(super) fn emergency(f: impl FnOnce(&mut dyn fmt::Write)) {
    if let Some(mut guard) = PORT.try_lock()
        && let Some(port) = guard.as_mut()
    {
        f(port);
        return;
    }
    // The device was initialised by `init` (or is absent, and writes vanish).
    let mut port = SerialPort { uart: com1(), tx: TxQueue::new() };
    f(&mut port);
}

/// A byte received on COM1, if one is waiting (polled input, before the
/// serial driver takes over reception).
pub fn try_read_byte() -> Option<u8> {
    with_locked(|p| p.uart.try_receive_byte().ok()).flatten()
}
