//! Where the shell's output goes: the serial port (through the serial
//! driver's async writer, whole writes) and the screen console.

use alloc::string::String;
use core::fmt::{self, Write as _};

use drivers::serial::{self, SerialWriter};
use embedded_io_async::Write as _;
use kernel::console::framebuffer;

/// The shell's output, usable from any CPU (both sinks are shared).
pub struct Out {
    serial: SerialWriter,
}

impl Out {
    /// An output handle.
    pub fn new() -> Self {
        Self { serial: serial::writer() }
    }

    /// Writes `s` to the screen and the serial port.
    pub async fn write(&mut self, s: &str) {
        framebuffer::write_str(s);
        let _ = self.serial.write_all(s.as_bytes()).await;
    }

    /// Writes one formatted line.
    pub async fn line(&mut self, args: fmt::Arguments<'_>) {
        let mut s = String::new();
        let _ = s.write_fmt(args);
        s.push('\n');
        self.write(&s).await;
    }

    /// Waits until everything written has gone into the UART.
    pub async fn flush(&mut self) {
        let _ = self.serial.flush().await;
    }
}

/// `outln!(out, "fmt", args..)`: one line to `out` (awaits).
macro_rules! outln {
    ($out:expr) => { $out.write("\n").await };
    ($out:expr, $($arg:tt)*) => { $out.line(format_args!($($arg)*)).await };
}
pub(crate) use outln;
