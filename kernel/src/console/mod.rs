//! The kernel console: COM1 for output and input, the `log` facade on top.
//!
//! Every log line is written whole while holding the serial lock with
//! interrupts off, so lines from different contexts never interleave
//! mid-line. The fatal path bypasses the lock (see [`emergency_write`]):
//! a CPU that died while holding it must still be able to report.

pub mod framebuffer;
mod logger;
pub mod serial;

use core::fmt;

/// Printed once COM1 is initialised. The host runner holds piped input until
/// it sees this (runner/src/session.rs, `READY_LINE`): bytes received before
/// the UART's initialisation are discarded by it.
pub const READY_LINE: &str = "odonata: serial console ready";

/// Brings up COM1 and installs the logger. Safe to call once per boot.
pub fn init() {
    serial::init();
    logger::init();
    write_fmt(format_args!("{READY_LINE}\n"));
}

/// Writes formatted text to the console (used by [`crate::print!`]).
pub fn write_fmt(args: fmt::Arguments<'_>) {
    serial::with_locked(|w| {
        let _ = fmt::Write::write_fmt(w, args);
    });
    mirror(args);
}

/// Draws `args` on the screen console, if it is on (without allocating:
/// this also runs in interrupt handlers).
pub(crate) fn mirror(args: fmt::Arguments<'_>) {
    framebuffer::write_fmt(args);
}

/// Sends all queued console output (before the machine exits).
pub fn flush() {
    serial::flush();
}

/// Writes to the console without taking its lock, for the fatal path only.
pub fn emergency_write(args: fmt::Arguments<'_>) {
    serial::emergency(|w| {
        let _ = fmt::Write::write_fmt(w, args);
    });
}

/// Prints to the serial console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::write_fmt(format_args!($($arg)*)) };
}

/// Prints a line to the serial console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::write_fmt(format_args!("{}\n", format_args!($($arg)*))) };
}
