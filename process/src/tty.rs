//! The console's terminal settings as programs read and set them
//! (`TCGETS`/`TCSETS*`). The line discipline itself (canonical input with
//! echo and erase) is in `fs::file`'s console reader.

use spin::Mutex;

/// `struct termios` as the kernel's `TCGETS` copies it: c_iflag, c_oflag,
/// c_cflag, c_lflag (u32 each), c_line, c_cc[19].
pub const TERMIOS_SIZE: usize = 36;

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

static TERMIOS: Mutex<Option<[u8; TERMIOS_SIZE]>> = Mutex::new(None);

/// The console's settings now.
pub fn termios() -> [u8; TERMIOS_SIZE] {
    *TERMIOS.lock().get_or_insert_with(initial)
}

/// Replaces the console's settings.
pub fn set_termios(t: [u8; TERMIOS_SIZE]) {
    *TERMIOS.lock() = Some(t);
}
