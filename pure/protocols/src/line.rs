//! A terminal line discipline: bytes from a serial terminal become [`Key`]s
//! ([`KeyDecoder`]), and keys edit a line with a cursor and a history
//! ([`LineEditor`]), which answers with the bytes that redraw it.
//!
//! Data flow for one console:
//!
//! ```text
//! serial bytes -> KeyDecoder (UTF-8, CR/LF/CRLF, DEL/BS, Ctrl-C, ANSI
//!                 cursor keys; anything else dropped) -> Key
//! keyboard     -> (the driver decodes) -> Key
//! Key -> LineEditor::feed -> echo bytes for the terminal (ANSI subset:
//!        BS, CR, ESC[nC, ESC[nD, ESC[K) and, on Enter or Ctrl-C, an Event
//! ```
//!
//! The editor never knows the prompt: every redraw is relative to the
//! cursor, so the prompt before the line is never touched. Nothing here can
//! panic on any input: malformed UTF-8 becomes U+FFFD, unknown escape
//! sequences are dropped, overlong lines stop growing.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// One key of input, whatever device it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// A printable character.
    Char(char),
    /// Enter / Return.
    Enter,
    /// Erase the character before the cursor.
    Backspace,
    /// Erase the character under the cursor.
    Delete,
    /// Cursor left.
    Left,
    /// Cursor right.
    Right,
    /// Start of line.
    Home,
    /// End of line.
    End,
    /// Previous history entry.
    Up,
    /// Next history entry.
    Down,
    /// Ctrl-C: cancel.
    Interrupt,
}

/// Turns terminal bytes into [`Key`]s.
#[derive(Debug, Default)]
pub struct KeyDecoder {
    /// Bytes of an escape sequence or a UTF-8 character in progress.
    pending: Vec<u8>,
    /// The last byte was CR (a following LF belongs to it).
    after_cr: bool,
}

/// Longest escape sequence kept before it is dropped as garbage.
const MAX_ESCAPE: usize = 16;

impl KeyDecoder {
    /// A decoder with nothing pending.
    pub const fn new() -> Self {
        Self { pending: Vec::new(), after_cr: false }
    }

    /// Feeds one byte; returns the key it completes, if any.
    pub fn feed(&mut self, byte: u8) -> Option<Key> {
        let after_cr = core::mem::replace(&mut self.after_cr, byte == b'\r');
        if let Some(&first) = self.pending.first() {
            return if first == 0x1b { self.escape(byte) } else { self.utf8(byte) };
        }
        match byte {
            b'\n' if after_cr => None,
            b'\r' | b'\n' => Some(Key::Enter),
            0x03 => Some(Key::Interrupt),
            0x08 | 0x7f => Some(Key::Backspace),
            0x01 => Some(Key::Home),
            0x05 => Some(Key::End),
            0x1b => {
                self.pending.push(byte);
                None
            }
            0x00..=0x1f => None,
            0x20..=0x7e => Some(Key::Char(byte as char)),
            0xc2..=0xf4 => {
                self.pending.push(byte);
                None
            }
            // Stray continuation bytes and bytes never valid in UTF-8.
            _ => Some(Key::Char(char::REPLACEMENT_CHARACTER)),
        }
    }

    fn escape(&mut self, byte: u8) -> Option<Key> {
        self.pending.push(byte);
        let seq = &self.pending[1..];
        let key = match seq {
            [b'[' | b'O'] => return None,
            [b'[' | b'O', b'A'] => Some(Key::Up),
            [b'[' | b'O', b'B'] => Some(Key::Down),
            [b'[' | b'O', b'C'] => Some(Key::Right),
            [b'[' | b'O', b'D'] => Some(Key::Left),
            [b'[' | b'O', b'H'] => Some(Key::Home),
            [b'[' | b'O', b'F'] => Some(Key::End),
            [b'[', b'3', b'~'] => Some(Key::Delete),
            [b'[', b'1' | b'7', b'~'] => Some(Key::Home),
            [b'[', b'4' | b'8', b'~'] => Some(Key::End),
            // CSI parameters and intermediates: keep reading, up to a limit.
            [b'[', .., last] if (0x20..=0x3f).contains(last) && self.pending.len() < MAX_ESCAPE => return None,
            // Any other final byte ends an unknown sequence: dropped.
            _ => None,
        };
        self.pending.clear();
        key
    }

    fn utf8(&mut self, byte: u8) -> Option<Key> {
        if byte & 0xc0 != 0x80 {
            // The sequence broke off: report it, then take this byte afresh.
            self.pending.clear();
            self.after_cr = false;
            let next = self.feed(byte);
            return match next {
                None => Some(Key::Char(char::REPLACEMENT_CHARACTER)),
                // Two keys at once: the broken sequence is dropped silently
                // (the new key matters more than the marker).
                some => some,
            };
        }
        self.pending.push(byte);
        let need = match self.pending[0] {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            _ => 4,
        };
        if self.pending.len() < need {
            return None;
        }
        let c = core::str::from_utf8(&self.pending).ok().and_then(|s| s.chars().next());
        self.pending.clear();
        Some(Key::Char(c.unwrap_or(char::REPLACEMENT_CHARACTER)))
    }
}

/// What a finished edit produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Enter: the line (also added to the history if not blank and not a
    /// repeat of the last entry).
    Line(String),
    /// Ctrl-C: the line was abandoned.
    Interrupt,
}

/// A line being edited, with a history.
#[derive(Debug)]
pub struct LineEditor {
    line: Vec<char>,
    cursor: usize,
    history: VecDeque<String>,
    /// Position while browsing the history (`None`: editing a new line).
    browsing: Option<usize>,
    /// The new line, kept while browsing.
    stash: Vec<char>,
    max_len: usize,
    max_history: usize,
}

impl LineEditor {
    /// An editor for lines of up to `max_len` characters, remembering
    /// `max_history` lines.
    pub fn new(max_len: usize, max_history: usize) -> Self {
        Self { line: Vec::new(), cursor: 0, history: VecDeque::new(), browsing: None, stash: Vec::new(), max_len, max_history }
    }

    /// The line as edited so far.
    pub fn line(&self) -> String {
        self.line.iter().collect()
    }

    /// The cursor's position in characters.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// The history, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &str> {
        self.history.iter().map(String::as_str)
    }

    /// Applies `key`; appends the bytes that update the terminal to `echo`.
    /// Returns an event when the line is finished.
    pub fn feed(&mut self, key: Key, echo: &mut String) -> Option<Event> {
        match key {
            Key::Char(c) if self.line.len() < self.max_len && !c.is_control() => {
                self.line.insert(self.cursor, c);
                self.cursor += 1;
                echo.push(c);
                self.redraw_tail(echo, 0);
            }
            Key::Char(_) => {}
            Key::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                self.line.remove(self.cursor);
                echo.push('\x08');
                self.redraw_tail(echo, 1);
            }
            Key::Delete if self.cursor < self.line.len() => {
                self.line.remove(self.cursor);
                self.redraw_tail(echo, 1);
            }
            Key::Backspace | Key::Delete => {}
            Key::Left if self.cursor > 0 => {
                self.cursor -= 1;
                echo.push_str("\x1b[D");
            }
            Key::Right if self.cursor < self.line.len() => {
                self.cursor += 1;
                echo.push_str("\x1b[C");
            }
            Key::Left | Key::Right => {}
            Key::Home => self.move_to(0, echo),
            Key::End => self.move_to(self.line.len(), echo),
            Key::Up => self.browse_back(echo),
            Key::Down => self.browse_forward(echo),
            Key::Enter => {
                self.move_to(self.line.len(), echo);
                echo.push('\n');
                let line: String = self.line.drain(..).collect();
                self.reset();
                if !line.trim().is_empty() && self.history.back() != Some(&line) {
                    if self.history.len() == self.max_history {
                        self.history.pop_front();
                    }
                    if self.max_history > 0 {
                        self.history.push_back(line.clone());
                    }
                }
                return Some(Event::Line(line));
            }
            Key::Interrupt => {
                self.move_to(self.line.len(), echo);
                echo.push_str("^C\n");
                self.line.clear();
                self.reset();
                return Some(Event::Interrupt);
            }
        }
        None
    }

    fn reset(&mut self) {
        self.cursor = 0;
        self.browsing = None;
        self.stash.clear();
    }

    /// Rewrites the line from the cursor to its end, blanks `erased` cells
    /// after it, and moves the cursor back.
    fn redraw_tail(&self, echo: &mut String, erased: usize) {
        let tail = &self.line[self.cursor..];
        tail.iter().for_each(|&c| echo.push(c));
        for _ in 0..erased {
            echo.push(' ');
        }
        let back = tail.len() + erased;
        if back > 0 {
            let _ = write!(echo, "\x1b[{back}D");
        }
    }

    fn move_to(&mut self, to: usize, echo: &mut String) {
        if to < self.cursor {
            let _ = write!(echo, "\x1b[{}D", self.cursor - to);
        } else if to > self.cursor {
            let _ = write!(echo, "\x1b[{}C", to - self.cursor);
        }
        self.cursor = to;
    }

    /// Replaces the whole line on screen with `new`.
    fn replace(&mut self, new: Vec<char>, echo: &mut String) {
        self.move_to(0, echo);
        new.iter().for_each(|&c| echo.push(c));
        echo.push_str("\x1b[K");
        self.cursor = new.len();
        self.line = new;
    }

    fn browse_back(&mut self, echo: &mut String) {
        let pos = match self.browsing {
            None if self.history.is_empty() => return,
            None => {
                self.stash = self.line.clone();
                self.history.len() - 1
            }
            Some(0) => return,
            Some(p) => p - 1,
        };
        self.browsing = Some(pos);
        let entry = self.history[pos].chars().collect();
        self.replace(entry, echo);
    }

    fn browse_forward(&mut self, echo: &mut String) {
        let Some(pos) = self.browsing else { return };
        let entry = if pos + 1 < self.history.len() {
            self.browsing = Some(pos + 1);
            self.history[pos + 1].chars().collect()
        } else {
            self.browsing = None;
            core::mem::take(&mut self.stash)
        };
        self.replace(entry, echo);
    }
}
