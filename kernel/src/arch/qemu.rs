//! QEMU's `isa-debug-exit` device at port 0xf4: how a kernel tells the host
//! runner that it passed or failed. Writing `v` makes QEMU exit with status
//! `2v + 1`. On hardware without the device the write does nothing and the
//! caller halts.

use x86_64::instructions::port::Port;

/// I/O port of the exit device (the runner passes `iobase=0xf4`).
pub const EXIT_PORT: u16 = 0xf4;

/// What the kernel reports to the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// QEMU exits with status 33.
    Success = 0x10,
    /// QEMU exits with status 35.
    Failure = 0x11,
}

/// Asks QEMU to exit with `code`; halts if there is no exit device.
pub fn exit(code: ExitCode) -> ! {
    // Queued console output would die with the machine.
    if let Some(hooks) = super::hooks::get() {
        (hooks.before_exit)();
    }
    let mut port = Port::<u32>::new(EXIT_PORT);
    // SAFETY: port 0xf4 is reserved for the debug-exit device by the runner's
    // QEMU command line; on other machines nothing decodes it.
    unsafe { port.write(code as u32) };
    super::cpu::halt_forever()
}

/// I/O port of QEMU's debug console (`-debugcon`), where the runner reads
/// the exit status of the kernel's first program.
pub const DEBUGCON_PORT: u16 = 0xe9;

/// Reports `status` to the runner on the debug console (`exit N`), before
/// [`exit`]: the exit device's codes cannot carry a whole status byte.
pub fn report_status(status: u8) {
    let mut port = Port::<u8>::new(DEBUGCON_PORT);
    let mut line = [0u8; 10];
    let text = b"exit ";
    line[..5].copy_from_slice(text);
    let mut n = 5;
    let digits = [status / 100, (status / 10) % 10, status % 10];
    let first = digits.iter().position(|&d| d != 0).unwrap_or(2);
    for &d in &digits[first..] {
        line[n] = b'0' + d;
        n += 1;
    }
    line[n] = b'\n';
    for &b in &line[..=n] {
        // SAFETY: port 0xe9 is QEMU's debug console when the runner passes
        // `-debugcon`; without it nothing decodes the port.
        unsafe { port.write(b) };
    }
}
