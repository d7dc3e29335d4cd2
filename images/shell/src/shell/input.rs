//! The shell's input: keys from the serial port (bytes through
//! `protocols::line::KeyDecoder`) and from the PS/2 keyboard (decoded by the
//! driver), merged into one stream of `Key`s.
//!
//! While a command runs, the shell only looks for Ctrl-C
//! ([`Input::poll_interrupt`]); other keys typed meanwhile are kept (type
//! ahead) for the next prompt, up to a bound past which input is left in
//! the devices (serial flow control then holds it back). Ctrl-C discards
//! the type-ahead, as a terminal's interrupt does.

use alloc::collections::VecDeque;
use core::task::{Context, Poll};

use drivers::keyboard::{Key as KbdKey, KeyCode, Keyboard};
use drivers::serial::SerialReader;
use protocols::line::{Key, KeyDecoder};

/// Keys kept while a command runs.
const TYPE_AHEAD: usize = 4096;

/// Merged console input.
pub struct Input {
    serial: Option<SerialReader>,
    decoder: KeyDecoder,
    keyboard: Option<Keyboard>,
    ahead: VecDeque<Key>,
}

fn from_keyboard(key: KbdKey) -> Option<Key> {
    match key {
        KbdKey::Unicode('\n' | '\r') => Some(Key::Enter),
        KbdKey::Unicode('\u{8}') => Some(Key::Backspace),
        KbdKey::Unicode('\u{7f}') => Some(Key::Delete),
        KbdKey::Unicode('\u{3}') => Some(Key::Interrupt),
        KbdKey::Unicode('\t') => Some(Key::Char(' ')),
        KbdKey::Unicode(c) if !c.is_control() => Some(Key::Char(c)),
        KbdKey::Unicode(_) => None,
        KbdKey::RawKey(KeyCode::ArrowLeft) => Some(Key::Left),
        KbdKey::RawKey(KeyCode::ArrowRight) => Some(Key::Right),
        KbdKey::RawKey(KeyCode::ArrowUp) => Some(Key::Up),
        KbdKey::RawKey(KeyCode::ArrowDown) => Some(Key::Down),
        KbdKey::RawKey(KeyCode::Home) => Some(Key::Home),
        KbdKey::RawKey(KeyCode::End) => Some(Key::End),
        KbdKey::RawKey(_) => None,
    }
}

impl Input {
    /// Input from whichever devices are present.
    pub fn new(serial: Option<SerialReader>, keyboard: Option<Keyboard>) -> Self {
        Self { serial, decoder: KeyDecoder::new(), keyboard, ahead: VecDeque::new() }
    }

    /// A key from a device (not the type-ahead).
    fn poll_device(&mut self, cx: &mut Context<'_>) -> Poll<Key> {
        if let Some(kbd) = &mut self.keyboard {
            while let Poll::Ready(k) = kbd.poll_next_key(cx) {
                if let Some(key) = from_keyboard(k) {
                    return Poll::Ready(key);
                }
            }
        }
        if let Some(serial) = &mut self.serial {
            while let Poll::Ready(b) = serial.poll_byte(cx) {
                if let Some(key) = self.decoder.feed(b) {
                    return Poll::Ready(key);
                }
            }
        }
        Poll::Pending
    }

    /// Waits for the next key (type-ahead first).
    pub async fn key(&mut self) -> Key {
        if let Some(k) = self.ahead.pop_front() {
            return k;
        }
        core::future::poll_fn(|cx| self.poll_device(cx)).await
    }

    /// While a command runs: `Ready` on Ctrl-C; other keys are kept. Like a
    /// terminal's interrupt, Ctrl-C also discards what was typed ahead of
    /// it.
    pub fn poll_interrupt(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while self.ahead.len() < TYPE_AHEAD {
            match self.poll_device(cx) {
                Poll::Ready(Key::Interrupt) => {
                    self.ahead.clear();
                    return Poll::Ready(());
                }
                Poll::Ready(k) => self.ahead.push_back(k),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Pending
    }
}
