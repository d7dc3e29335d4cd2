//! The task that owns the framebuffer's pixels and draws the text grid on
//! them (the protocol is in the module doc of `framebuffer`).

use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use bootloader_api::info::{FrameBuffer, FrameBufferInfo};

use super::glyphs::Glyphs;
use super::{CELL_H, DIRTY, Snapshot, take_snapshot};
use crate::time::Instant;

/// Longest stretch of drawing in one poll before the drawer yields.
const SLICE: Duration = Duration::from_millis(2);

/// The screen console's drawing task: spawn [`Drawer::run`].
pub struct Drawer {
    fb: FrameBuffer,
    info: FrameBufferInfo,
    glyphs: Glyphs,
    cols: usize,
    rows: usize,
    /// The text of the rows to draw in this pass.
    cells: Vec<char>,
    dirty: Vec<bool>,
}

impl Drawer {
    pub(super) fn new(mut fb: FrameBuffer, cols: usize, rows: usize) -> Self {
        let info = fb.info();
        fb.buffer_mut().fill(0);
        Self { fb, info, glyphs: Glyphs::new(info), cols, rows, cells: vec![' '; cols * rows], dirty: vec![false; rows] }
    }

    /// Draws whatever the console's writers left, forever: one pass per
    /// signal, yielding every [`SLICE`] so no poll of it is long.
    pub async fn run(mut self) -> ! {
        loop {
            DIRTY.wait().await;
            let (scrolled, cursor) = take_snapshot(Snapshot { cells: &mut self.cells, dirty: &mut self.dirty });
            if scrolled > 0 && scrolled < self.rows {
                self.scroll(scrolled);
            }
            let mut slice = Instant::now();
            for row in 0..self.rows {
                if !self.dirty[row] {
                    continue;
                }
                self.draw_row(row, (cursor.1 == row).then_some(cursor.0));
                if slice.elapsed() > SLICE {
                    executor::yield_now().await;
                    slice = Instant::now();
                }
            }
        }
    }

    /// Bytes of one text row of pixels.
    fn text_row_bytes(&self) -> usize {
        self.info.stride * self.info.bytes_per_pixel * CELL_H
    }

    /// Moves the picture up by `lines` text rows (the rows that come in at
    /// the bottom are dirty and drawn next).
    fn scroll(&mut self, lines: usize) {
        let row_bytes = self.text_row_bytes();
        let end = (self.rows * row_bytes).min(self.fb.buffer().len());
        self.fb.buffer_mut().copy_within(lines * row_bytes..end, 0);
    }

    /// Draws text row `row`, with the cursor's underline at `cursor`.
    fn draw_row(&mut self, row: usize, cursor: Option<usize>) {
        let stride_bytes = self.info.stride * self.info.bytes_per_pixel;
        let cell_bytes = self.glyphs.row_bytes();
        let top = row * CELL_H * stride_bytes;
        let buf = self.fb.buffer_mut();
        for col in 0..self.cols {
            let glyph = self.glyphs.get(self.cells[row * self.cols + col]);
            for y in 0..CELL_H {
                let at = top + y * stride_bytes + col * cell_bytes;
                if let Some(dst) = buf.get_mut(at..at + cell_bytes) {
                    dst.copy_from_slice(&glyph[y * cell_bytes..(y + 1) * cell_bytes]);
                }
            }
        }
        if let Some(col) = cursor {
            let at = top + (CELL_H - 2) * stride_bytes + col * cell_bytes;
            if let Some(dst) = buf.get_mut(at..at + cell_bytes) {
                dst.copy_from_slice(self.glyphs.underline());
            }
        }
    }
}
