//! A text console on the bootloader's framebuffer, drawn with the Noto Sans
//! Mono bitmap font (16 px rows, 8 px wide).
//!
//! It understands the byte stream the shell's line editor writes to a
//! terminal (`protocols::line`): printable text, `\n`, `\r`, `\t`, backspace (cursor
//! left), and the escape sequences `ESC[nC`, `ESC[nD` (cursor right, left) and
//! `ESC[K` (clear to end of line); other escape sequences are swallowed. The
//! cursor is an underline.
//!
//! Writing is cheap, drawing is deferred. A writer (any task, any CPU, an
//! interrupt handler's log line) only edits the text grid under `TEXT`'s lock
//! and marks the rows it changed; the pixels belong to one task, the
//! [`Drawer`], which an image spawns once it has [`enable`]d the console.
//! Drawing a screenful costs milliseconds under emulation, and it used to
//! land in the poll of whichever task printed (the shell's prompt tripped
//! the watchdog); now it runs in the drawer's own polls, a few rows each.
//!
//! Protocol between writers and the drawer (all under `TEXT`'s lock):
//! - a writer that changes a row sets its `dirty` flag; one that scrolls by
//!   `k` rows moves the cells and the flags up by `k`, marks the new bottom
//!   rows dirty and adds `k` to `scrolled`; then it signals `DIRTY`.
//! - the drawer takes a snapshot: the cells of every dirty row, the flags,
//!   `scrolled` and the cursor, and clears them. Outside the lock it moves
//!   its pixels up by `scrolled` rows and draws the snapshot's dirty rows.
//!
//! Rows that were not dirty hold the same text as at the previous snapshot,
//! moved up by the scrolls in between, so after each pass the picture is
//! exactly the snapshot's text. Scrolling jumps by half a screen, so a long
//! burst of lines moves the picture rarely.

mod drawer;
mod glyphs;

use alloc::vec;
use alloc::vec::Vec;

use bootloader_api::info::{FrameBuffer, PixelFormat};
use io::WaitCell;
use spin::Mutex;
use x86_64::instructions::interrupts;

pub use drawer::Drawer;

/// Pixel rows of a text row.
const CELL_H: usize = glyphs::CELL_H;
/// Pixel columns of a text column.
const CELL_W: usize = glyphs::CELL_W;

/// Escape-sequence state.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Esc {
    None,
    Escape,
    /// Inside `ESC[`, with the numeric parameter so far.
    Csi(usize),
}

/// The text on screen and what the drawer has not drawn yet.
struct Text {
    cols: usize,
    rows: usize,
    /// The characters, row by row.
    cells: Vec<char>,
    /// Rows changed since the drawer's last snapshot.
    dirty: Vec<bool>,
    /// Rows scrolled since the drawer's last snapshot (at most `rows`).
    scrolled: usize,
    col: usize,
    row: usize,
    esc: Esc,
}

/// Set by [`enable`].
static TEXT: Mutex<Option<Text>> = Mutex::new(None);
/// Signalled when something is left to draw.
static DIRTY: WaitCell = WaitCell::new();
/// The framebuffer, kept from boot until [`enable`] hands it to the drawer.
static PENDING: Mutex<Option<FrameBuffer>> = Mutex::new(None);

/// Keeps the bootloader's framebuffer (taken out of the hand-off, so this
/// console is its only owner) for later; no drawing yet.
pub fn init(fb: FrameBuffer) {
    *PENDING.lock() = Some(fb);
}

/// Starts mirroring console output to the screen, cleared. Returns the task
/// that draws it (spawn it: until it runs, the screen stays blank), or
/// `None` without a usable framebuffer.
pub fn enable() -> Option<Drawer> {
    let fb = PENDING.lock().take()?;
    let info = fb.info();
    if matches!(info.pixel_format, PixelFormat::Unknown { .. }) || info.bytes_per_pixel == 0 {
        log::warn!("framebuffer: pixel format {:?} not supported; no screen console", info.pixel_format);
        return None;
    }
    let (cols, rows) = (info.width / CELL_W, info.height / CELL_H);
    if cols == 0 || rows < 2 {
        return None;
    }
    let drawer = Drawer::new(fb, cols, rows);
    let text = Text { cols, rows, cells: vec![' '; cols * rows], dirty: vec![true; rows], scrolled: 0, col: 0, row: 0, esc: Esc::None };
    interrupts::without_interrupts(|| *TEXT.lock() = Some(text));
    DIRTY.signal();
    log::info!("framebuffer console: {}x{} pixels, {cols}x{rows} cells", info.width, info.height);
    Some(drawer)
}

/// Whether the screen console is on.
pub fn is_enabled() -> bool {
    interrupts::without_interrupts(|| TEXT.lock().is_some())
}

/// Writes `s` (no effect before [`enable`]).
pub fn write_str(s: &str) {
    write_fmt(format_args!("{s}"));
}

/// Writes bytes a program wrote (UTF-8; what is not becomes U+FFFD), a
/// few hundred at a time under the lock, so that a long write does not
/// keep interrupts off for long. No effect before [`enable`].
pub fn write_bytes(bytes: &[u8]) {
    for piece in bytes.chunks(256) {
        let written = interrupts::without_interrupts(|| {
            let mut guard = TEXT.lock();
            let text = guard.as_mut()?;
            text.touch_cursor_row();
            for chunk in piece.utf8_chunks() {
                chunk.valid().chars().for_each(|c| text.put(c));
                if !chunk.invalid().is_empty() {
                    text.put(char::REPLACEMENT_CHARACTER);
                }
            }
            text.touch_cursor_row();
            Some(())
        });
        if written.is_none() {
            return;
        }
        DIRTY.signal();
    }
}

/// Writes formatted text under one hold of the lock (a whole log line stays
/// whole on screen too). No effect before [`enable`]; never allocates and
/// never draws (this also runs in interrupt handlers).
pub fn write_fmt(args: core::fmt::Arguments<'_>) {
    let written = interrupts::without_interrupts(|| {
        let mut guard = TEXT.lock();
        let text = guard.as_mut()?;
        // The cursor's old row loses its underline; its new row gains it.
        text.touch_cursor_row();
        let _ = core::fmt::Write::write_fmt(text, args);
        text.touch_cursor_row();
        Some(())
    });
    if written.is_some() {
        DIRTY.signal();
    }
}

/// What the drawer copies out of [`TEXT`] for one pass.
struct Snapshot<'a> {
    /// The text of the dirty rows (other rows are left as they were).
    cells: &'a mut [char],
    /// Which rows to draw.
    dirty: &'a mut [bool],
}

/// Copies the dirty rows into `into` and clears the record; returns the
/// rows scrolled since the last snapshot and the cursor (column, row).
fn take_snapshot(into: Snapshot<'_>) -> (usize, (usize, usize)) {
    interrupts::without_interrupts(|| {
        let mut guard = TEXT.lock();
        let Some(text) = guard.as_mut() else { return (0, (0, 0)) };
        let cols = text.cols;
        for (r, flag) in text.dirty.iter_mut().enumerate() {
            into.dirty[r] = core::mem::take(flag);
            if into.dirty[r] {
                into.cells[r * cols..(r + 1) * cols].copy_from_slice(&text.cells[r * cols..(r + 1) * cols]);
            }
        }
        let cursor = (text.col.min(cols - 1), text.row);
        (core::mem::take(&mut text.scrolled), cursor)
    })
}

impl core::fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        s.chars().for_each(|c| self.put(c));
        Ok(())
    }
}

impl Text {
    fn touch_cursor_row(&mut self) {
        self.dirty[self.row] = true;
    }

    fn put(&mut self, c: char) {
        match (self.esc, c) {
            (Esc::Escape, '[') => self.esc = Esc::Csi(0),
            (Esc::Escape, _) => self.esc = Esc::None,
            (Esc::Csi(n), '0'..='9') => {
                self.esc = Esc::Csi(n.saturating_mul(10).saturating_add(c as usize - '0' as usize).min(10_000));
            }
            (Esc::Csi(n), 'C') => {
                self.esc = Esc::None;
                self.col = (self.col + n.max(1)).min(self.cols - 1);
            }
            (Esc::Csi(n), 'D') => {
                self.esc = Esc::None;
                self.col = self.col.saturating_sub(n.max(1));
            }
            (Esc::Csi(_), 'K') => {
                self.esc = Esc::None;
                for col in self.col..self.cols {
                    self.set(col, ' ');
                }
            }
            (Esc::Csi(_), ';' | '?') => {}
            (Esc::Csi(_), _) => self.esc = Esc::None,
            (Esc::None, '\x1b') => self.esc = Esc::Escape,
            (Esc::None, '\n') => self.newline(),
            (Esc::None, '\r') => self.col = 0,
            (Esc::None, '\x08') => self.col = self.col.saturating_sub(1),
            (Esc::None, '\t') => {
                for _ in 0..(8 - self.col % 8) {
                    self.put(' ');
                }
            }
            (Esc::None, c) if c.is_control() => {}
            (Esc::None, c) => {
                if self.col >= self.cols {
                    self.newline();
                }
                self.set(self.col, c);
                self.col += 1;
            }
        }
    }

    fn set(&mut self, col: usize, c: char) {
        if col < self.cols {
            self.cells[self.row * self.cols + col] = c;
            self.dirty[self.row] = true;
        }
    }

    fn newline(&mut self) {
        self.col = 0;
        if self.row + 1 < self.rows {
            self.row += 1;
        } else {
            self.scroll(self.rows / 2);
            self.row = self.rows - self.rows / 2;
        }
        self.touch_cursor_row();
    }

    /// Moves the text up by `lines` rows and blanks the bottom.
    fn scroll(&mut self, lines: usize) {
        self.cells.copy_within(lines * self.cols.., 0);
        let n = self.cells.len();
        self.cells[n - lines * self.cols..].fill(' ');
        self.dirty.copy_within(lines.., 0);
        let rows = self.rows;
        self.dirty[rows - lines..].fill(true);
        self.scrolled = (self.scrolled + lines).min(rows);
    }
}
