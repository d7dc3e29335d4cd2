//! Glyphs as ready-made pixels: each printable ASCII character is rendered
//! once, in the framebuffer's pixel format, so drawing a cell is `CELL_H`
//! row copies instead of `CELL_H * CELL_W` colour computations.

use alloc::vec;
use alloc::vec::Vec;

use bootloader_api::info::{FrameBufferInfo, PixelFormat};
use noto_sans_mono_bitmap::{FontWeight, RasterHeight, get_raster, get_raster_width};

const WEIGHT: FontWeight = FontWeight::Regular;
const HEIGHT: RasterHeight = RasterHeight::Size16;
/// Pixel rows of a cell.
pub const CELL_H: usize = 16;
/// Pixel columns of a cell.
pub const CELL_W: usize = get_raster_width(WEIGHT, HEIGHT);
/// Text colour (RGB); the background is black.
const FG: [u8; 3] = [0xd8, 0xd8, 0xd8];
/// The characters rendered ahead: ' '..='~'.
const CACHED: core::ops::RangeInclusive<char> = ' '..='~';

/// Rendered glyphs for one pixel format.
pub struct Glyphs {
    info: FrameBufferInfo,
    /// Bytes of one pixel row of a cell.
    row_bytes: usize,
    /// `CACHED`'s glyphs, `CELL_H * row_bytes` bytes each.
    cached: Vec<u8>,
    /// A glyph outside `CACHED`, rendered on demand.
    scratch: Vec<u8>,
    /// The cursor's underline: one pixel row at full intensity.
    underline: Vec<u8>,
}

impl Glyphs {
    /// Renders the cached glyphs for `info`'s pixel format.
    pub fn new(info: FrameBufferInfo) -> Self {
        let row_bytes = CELL_W * info.bytes_per_pixel;
        let glyph = CELL_H * row_bytes;
        let count = CACHED.count();
        let mut g = Self { info, row_bytes, cached: vec![0; count * glyph], scratch: vec![0; glyph], underline: vec![0; row_bytes] };
        for (i, c) in CACHED.enumerate() {
            render(&info, c, &mut g.cached[i * glyph..(i + 1) * glyph]);
        }
        for x in 0..CELL_W {
            pixel(&info, &mut g.underline[x * info.bytes_per_pixel..(x + 1) * info.bytes_per_pixel], 0xff);
        }
        g
    }

    /// Bytes of one pixel row of a cell.
    pub fn row_bytes(&self) -> usize {
        self.row_bytes
    }

    /// `c`'s pixels: `CELL_H` rows of [`row_bytes`](Self::row_bytes).
    pub fn get(&mut self, c: char) -> &[u8] {
        let glyph = CELL_H * self.row_bytes;
        if CACHED.contains(&c) {
            let i = c as usize - *CACHED.start() as usize;
            return &self.cached[i * glyph..(i + 1) * glyph];
        }
        render(&self.info, c, &mut self.scratch);
        &self.scratch
    }

    /// One pixel row of the cursor's underline.
    pub fn underline(&self) -> &[u8] {
        &self.underline
    }
}

/// Renders `c` (or U+FFFD if the font lacks it) into `out`.
fn render(info: &FrameBufferInfo, c: char, out: &mut [u8]) {
    let raster = get_raster(c, WEIGHT, HEIGHT).or_else(|| get_raster('\u{fffd}', WEIGHT, HEIGHT));
    let bpp = info.bytes_per_pixel;
    for y in 0..CELL_H {
        for x in 0..CELL_W {
            let v = raster.as_ref().map_or(0, |r| r.raster()[y][x]);
            let at = (y * CELL_W + x) * bpp;
            pixel(info, &mut out[at..at + bpp], v);
        }
    }
}

/// Sets `px` to the text colour at intensity `v`.
fn pixel(info: &FrameBufferInfo, px: &mut [u8], v: u8) {
    let scale = |c: u8| ((u16::from(c) * u16::from(v)) / 255) as u8;
    let [r, g, b] = FG.map(scale);
    let n = 3.min(px.len());
    match info.pixel_format {
        PixelFormat::Rgb => px[..n].copy_from_slice(&[r, g, b][..n]),
        PixelFormat::Bgr => px[..n].copy_from_slice(&[b, g, r][..n]),
        _ => px[0] = scale(0xff),
    }
}
