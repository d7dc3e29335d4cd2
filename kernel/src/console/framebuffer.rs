//! A text console on the bootloader's framebuffer, drawn with the Noto Sans
//! Mono bitmap font (16 px rows, 8 px wide).
//!
//! It understands the byte stream the shell's line editor writes to a
//! terminal (`io::line`): printable text, `\n`, `\r`, `\t`, backspace (cursor
//! left), and the escape sequences `ESC[nC`, `ESC[nD` (cursor right, left) and
//! `ESC[K` (clear to end of line); other escape sequences are swallowed. The
//! cursor is an underline.
//!
//! The console is set up at boot ([`init`], no drawing) and mirrors console
//! output only once an image [`enable`]s it: drawing pixels costs time under
//! emulation, and test kernels do not need a screen. Scrolling jumps by half
//! a screen, so a long burst of lines moves the picture rarely.

use alloc::vec;
use alloc::vec::Vec;

use bootloader_api::info::{FrameBuffer, FrameBufferInfo, PixelFormat};
use noto_sans_mono_bitmap::{FontWeight, RasterHeight, get_raster, get_raster_width};
use spin::Mutex;
use x86_64::instructions::interrupts;

const WEIGHT: FontWeight = FontWeight::Regular;
const HEIGHT: RasterHeight = RasterHeight::Size16;
const CELL_H: usize = 16;
const CELL_W: usize = get_raster_width(WEIGHT, HEIGHT);
/// Text colour (RGB) and background.
const FG: [u8; 3] = [0xd8, 0xd8, 0xd8];

/// Escape-sequence state.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Esc {
    None,
    Escape,
    /// Inside `ESC[`, with the numeric parameter so far.
    Csi(usize),
}

struct Screen {
    /// The bootloader's framebuffer, owned: taken out of the hand-off once
    /// (so nothing else can reach the memory) and only touched through
    /// `SCREEN`'s lock.
    fb: FrameBuffer,
    info: FrameBufferInfo,
    cols: usize,
    rows: usize,
    /// The characters on screen (for redrawing the cell under the cursor).
    cells: Vec<char>,
    col: usize,
    row: usize,
    esc: Esc,
}

/// Set at boot; drawn on once enabled.
static SCREEN: Mutex<Option<Screen>> = Mutex::new(None);
static PENDING: Mutex<Option<FrameBuffer>> = Mutex::new(None);

/// Keeps the bootloader's framebuffer (taken out of the hand-off, so this
/// console is its only owner) for later; no drawing yet.
pub fn init(fb: FrameBuffer) {
    *PENDING.lock() = Some(fb);
}

/// Starts mirroring console output to the screen, cleared. Returns the
/// size in cells, or `None` without a usable framebuffer.
pub fn enable() -> Option<(usize, usize)> {
    let mut fb = PENDING.lock().take()?;
    let info = fb.info();
    if matches!(info.pixel_format, PixelFormat::Unknown { .. }) || info.bytes_per_pixel == 0 {
        log::warn!("framebuffer: pixel format {:?} not supported; no screen console", info.pixel_format);
        return None;
    }
    let (cols, rows) = (info.width / CELL_W, info.height / CELL_H);
    if cols == 0 || rows < 2 {
        return None;
    }
    fb.buffer_mut().fill(0);
    let screen = Screen { fb, info, cols, rows, cells: vec![' '; cols * rows], col: 0, row: 0, esc: Esc::None };
    interrupts::without_interrupts(|| *SCREEN.lock() = Some(screen));
    log::info!("framebuffer console: {}x{} pixels, {cols}x{rows} cells", info.width, info.height);
    Some((cols, rows))
}

/// Whether the screen console is on.
pub fn is_enabled() -> bool {
    interrupts::without_interrupts(|| SCREEN.lock().is_some())
}

/// Draws `s` (no effect before [`enable`]).
pub fn write_str(s: &str) {
    write_fmt(format_args!("{s}"));
}

/// Draws formatted text under one hold of the lock (a whole log line stays
/// whole on screen too). No effect before [`enable`]; never allocates.
pub fn write_fmt(args: core::fmt::Arguments<'_>) {
    interrupts::without_interrupts(|| {
        if let Some(screen) = SCREEN.lock().as_mut() {
            screen.cursor(false);
            let _ = core::fmt::Write::write_fmt(screen, args);
            screen.cursor(true);
        }
    });
}

impl core::fmt::Write for Screen {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        s.chars().for_each(|c| self.put(c));
        Ok(())
    }
}

impl Screen {
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
                    self.draw(col, self.row, ' ');
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
                self.draw(self.col, self.row, c);
                self.col += 1;
            }
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
    }

    /// Moves the picture up by `lines` text rows and blanks the bottom.
    fn scroll(&mut self, lines: usize) {
        let row_bytes = self.info.stride * self.info.bytes_per_pixel * CELL_H;
        let keep = (self.rows - lines) * row_bytes;
        let buf = self.fb.buffer_mut();
        buf.copy_within(lines * row_bytes..lines * row_bytes + keep, 0);
        let end = (self.rows * row_bytes).min(buf.len());
        buf[keep..end].fill(0);
        self.cells.copy_within(lines * self.cols.., 0);
        let n = self.cells.len();
        self.cells[n - lines * self.cols..].fill(' ');
    }

    fn draw(&mut self, col: usize, row: usize, c: char) {
        if col >= self.cols || row >= self.rows {
            return;
        }
        self.cells[row * self.cols + col] = c;
        let raster = get_raster(c, WEIGHT, HEIGHT).or_else(|| get_raster('\u{fffd}', WEIGHT, HEIGHT));
        let info = self.info;
        let buf = self.fb.buffer_mut();
        for y in 0..CELL_H {
            for x in 0..CELL_W {
                let v = raster.as_ref().map_or(0, |r| r.raster()[y][x]);
                pixel(buf, &info, col * CELL_W + x, row * CELL_H + y, v);
            }
        }
    }

    /// Shows or hides the underline cursor at the current cell.
    fn cursor(&mut self, on: bool) {
        let (col, row) = (self.col.min(self.cols - 1), self.row);
        if on {
            let info = self.info;
            let buf = self.fb.buffer_mut();
            for x in 0..CELL_W {
                pixel(buf, &info, col * CELL_W + x, row * CELL_H + CELL_H - 2, 0xff);
            }
        } else {
            let c = self.cells[row * self.cols + col];
            self.draw(col, row, c);
        }
    }
}

/// Sets pixel (x, y) of `buf` to the text colour at intensity `v`.
fn pixel(buf: &mut [u8], info: &FrameBufferInfo, x: usize, y: usize, v: u8) {
    let bpp = info.bytes_per_pixel;
    let at = (y * info.stride + x) * bpp;
    let scale = |c: u8| ((u16::from(c) * u16::from(v)) / 255) as u8;
    let [r, g, b] = FG.map(scale);
    let Some(px) = buf.get_mut(at..at + bpp) else { return };
    match info.pixel_format {
        PixelFormat::Rgb => px[..3.min(bpp)].copy_from_slice(&[r, g, b][..3.min(bpp)]),
        PixelFormat::Bgr => px[..3.min(bpp)].copy_from_slice(&[b, g, r][..3.min(bpp)]),
        _ => px[0] = scale(0xff),
    }
}
