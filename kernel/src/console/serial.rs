//! COM1 (I/O port 0x3f8), the 16550 UART every PC and QEMU provides.
//!
//! Output translates `\n` to `\r\n` (QEMU's stdio backend puts the host
//! terminal in raw mode). Input is polled for now; the interrupt-driven
//! reader comes with the driver framework.

use core::fmt;

use spin::Mutex;
use uart_16550::backend::PioBackend;
use uart_16550::{Config, Uart16550};
use x86_64::instructions::interrupts;

/// Base I/O port of COM1.
pub const COM1: u16 = 0x3f8;

/// A UART plus the `\n` -> `\r\n` translation.
pub struct SerialWriter(Uart16550<PioBackend>);

impl fmt::Write for SerialWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for chunk in s.split_inclusive('\n') {
            match chunk.strip_suffix('\n') {
                Some(line) => {
                    self.0.send_bytes_exact(line.as_bytes());
                    self.0.send_bytes_exact(b"\r\n");
                }
                None => self.0.send_bytes_exact(chunk.as_bytes()),
            }
        }
        Ok(())
    }
}

static PORT: Mutex<Option<SerialWriter>> = Mutex::new(None);

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
        *PORT.lock() = Some(SerialWriter(uart));
    }
}

/// Runs `f` on the UART with the lock held and interrupts off, so that an
/// interrupt handler that logs cannot deadlock against the code it interrupted.
pub fn with_locked(f: impl FnOnce(&mut SerialWriter)) {
    interrupts::without_interrupts(|| {
        if let Some(w) = PORT.lock().as_mut() {
            f(w);
        }
    });
}

pub(super) fn emergency(f: impl FnOnce(&mut SerialWriter)) {
    // The device was initialised by `init` (or is absent, and writes vanish).
    let mut w = SerialWriter(com1());
    f(&mut w);
}

/// A byte received on COM1, if one is waiting.
pub fn try_read_byte() -> Option<u8> {
    let mut byte = None;
    with_locked(|w| byte = w.0.try_receive_byte().ok());
    byte
}
