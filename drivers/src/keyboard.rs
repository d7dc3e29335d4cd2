//! The PS/2 keyboard behind the i8042 controller, as a `Stream` of decoded
//! keys.
//!
//! Data flow:
//!
//! ```text
//! key press -> i8042 -> IRQ 1 (edge) -> on_irq: read every waiting byte from
//!   port 0x60 into SCANCODES (an IrqRing; overflow counted, never a panic)
//! Keyboard::poll_next (the consumer's task): pop scancodes, decode with
//!   pc-keyboard (set 1: the controller translates), yield DecodedKey;
//!   ring empty -> Irq::wait
//! ```
//!
//! Decoding, layouts and modifier state live in the task, never in the
//! handler.

mod i8042;

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::Stream;
use io::IrqRing;
use kernel::irq::{self, Irq, IrqError};
use pc_keyboard::layouts::AnyLayout;
use pc_keyboard::{DecodedKey, HandleControl, ScancodeSet1};

pub use i8042::ControllerError;
pub use pc_keyboard::layouts;
pub use pc_keyboard::{DecodedKey as Key, KeyCode};

/// Scancodes from the handler to the task.
static SCANCODES: IrqRing<u8, 256> = IrqRing::new();

/// Why the keyboard could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyboardError {
    /// The i8042 controller is absent or misbehaved.
    Controller(ControllerError),
    /// IRQ 1 could not be bound.
    Irq(IrqError),
}

impl core::fmt::Display for KeyboardError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KeyboardError::Controller(e) => write!(f, "i8042: {e}"),
            KeyboardError::Irq(e) => write!(f, "keyboard IRQ: {e}"),
        }
    }
}

fn on_irq(scancodes: &IrqRing<u8, 256>) {
    i8042::read_waiting(|byte| {
        // A full ring drops and counts; the task reports it.
        let _ = scancodes.push(byte);
    });
}

/// The keyboard: a `Stream` of decoded keys. One exists at a time (it owns
/// IRQ 1). Ctrl with a letter arrives as the control character (Ctrl-C is
/// `Unicode('\u{3}')`).
pub struct Keyboard {
    irq: Irq,
    decoder: pc_keyboard::PS2Keyboard<AnyLayout, ScancodeSet1>,
    overflows_reported: u64,
    decode_errors: u64,
}

/// Initialises the i8042 and its keyboard with the US layout, and routes
/// IRQ 1 to this CPU.
pub fn start() -> Result<Keyboard, KeyboardError> {
    start_with(AnyLayout::Us104Key(layouts::Us104Key))
}

/// [`start`] with a chosen layout (`layouts::AnyLayout::De105Key(..)`, ...).
pub fn start_with(layout: AnyLayout) -> Result<Keyboard, KeyboardError> {
    i8042::init().map_err(KeyboardError::Controller)?;
    let irq = irq::bind_isa(1, irq::Handler::new(&SCANCODES, on_irq)).map_err(KeyboardError::Irq)?;
    i8042::enable_interrupt().map_err(KeyboardError::Controller)?;
    log::info!("keyboard: i8042 ready, IRQ 1 on GSI {}", irq.gsi());
    Ok(Keyboard {
        irq,
        decoder: pc_keyboard::PS2Keyboard::new(ScancodeSet1::new(), layout, HandleControl::MapLettersToUnicode),
        overflows_reported: 0,
        decode_errors: 0,
    })
}

impl Keyboard {
    /// Switches the layout (modifier state is reset).
    pub fn set_layout(&mut self, layout: AnyLayout) {
        self.decoder = pc_keyboard::PS2Keyboard::new(ScancodeSet1::new(), layout, HandleControl::MapLettersToUnicode);
    }

    /// `Ready` with the next decoded key, or registers `cx` to be woken by
    /// the keyboard's interrupt.
    pub fn poll_next_key(&mut self, cx: &mut Context<'_>) -> Poll<DecodedKey> {
        self.poll_key(cx)
    }

    /// Waits for the next decoded key.
    pub async fn next_key(&mut self) -> DecodedKey {
        core::future::poll_fn(|cx| self.poll_key(cx)).await
    }

    /// Scancodes dropped because the ring was full.
    pub fn overflows(&self) -> u64 {
        SCANCODES.overflows()
    }

    /// Scancode sequences pc-keyboard rejected.
    pub fn decode_errors(&self) -> u64 {
        self.decode_errors
    }

    /// Interrupts taken on the keyboard's line.
    pub fn interrupts(&self) -> u64 {
        self.irq.count()
    }

    fn poll_key(&mut self, cx: &mut Context<'_>) -> Poll<DecodedKey> {
        loop {
            while let Some(byte) = SCANCODES.pop() {
                match self.decoder.add_byte(byte) {
                    Ok(Some(event)) => {
                        if let Some(key) = self.decoder.process_keyevent(event) {
                            return Poll::Ready(key);
                        }
                    }
                    Ok(None) => {}
                    Err(_) => self.decode_errors += 1,
                }
            }
            let overflows = SCANCODES.overflows();
            if overflows > self.overflows_reported {
                log::warn!("keyboard: {} scancodes dropped (ring full)", overflows - self.overflows_reported);
                self.overflows_reported = overflows;
            }
            if Pin::new(&mut self.irq.wait()).poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl Stream for Keyboard {
    type Item = DecodedKey;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<DecodedKey>> {
        self.get_mut().poll_key(cx).map(Some)
    }
}

/// The bytes a terminal sends for `key` (what a program reading the
/// console sees): the character's UTF-8, Enter as `\r`, Backspace as DEL
/// (the line discipline's erase character), Ctrl with a letter as its
/// control character, and the arrows, Home, End, Delete, Page Up/Down as
/// the escape sequences Linux's console sends. Keys with no such meaning
/// (a lone modifier, F-keys) send nothing.
pub fn terminal_bytes(key: DecodedKey) -> TerminalBytes {
    let mut out = TerminalBytes { bytes: [0; 4], len: 0 };
    let mut put = |s: &[u8]| {
        out.bytes[..s.len()].copy_from_slice(s);
        out.len = s.len();
    };
    match key {
        DecodedKey::Unicode('\n' | '\r') => put(b"\r"),
        DecodedKey::Unicode('\u{8}') => put(b"\x7f"),
        DecodedKey::Unicode('\u{7f}') => put(b"\x1b[3~"),
        DecodedKey::Unicode(c) => {
            let mut buf = [0u8; 4];
            put(c.encode_utf8(&mut buf).as_bytes());
        }
        DecodedKey::RawKey(code) => put(match code {
            KeyCode::ArrowUp => b"\x1b[A",
            KeyCode::ArrowDown => b"\x1b[B",
            KeyCode::ArrowRight => b"\x1b[C",
            KeyCode::ArrowLeft => b"\x1b[D",
            KeyCode::Home => b"\x1b[1~",
            KeyCode::Insert => b"\x1b[2~",
            KeyCode::Delete => b"\x1b[3~",
            KeyCode::End => b"\x1b[4~",
            KeyCode::PageUp => b"\x1b[5~",
            KeyCode::PageDown => b"\x1b[6~",
            _ => b"",
        }),
    }
    out
}

/// Up to four bytes a key sends to a terminal ([`terminal_bytes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TerminalBytes {
    bytes: [u8; 4],
    len: usize,
}

impl core::ops::Deref for TerminalBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}
