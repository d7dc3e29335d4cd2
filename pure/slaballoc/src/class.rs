//! Size classes: which slab a request is carved from.
//!
//! 28 classes from 16 bytes to 4 KiB, four per power of two above 128, so a
//! block wastes at most a quarter of itself to rounding. Requests aligned
//! to more than 16 bytes take the power-of-two class at least as large as
//! both size and alignment: those classes' blocks start at multiples of
//! their size within a slab-aligned slab (see `slab.rs`), so they are
//! aligned to it. Anything larger, or aligned past 4 KiB, goes to the page
//! level.

/// Block sizes, smallest first.
pub const SIZES: [u32; 28] = [
    16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896, 1024, 1280, 1536, 1792, 2048, 2560, 3072,
    3584, 4096,
];

/// How many classes there are.
pub const COUNT: usize = SIZES.len();

/// The largest request (in size and in alignment) a class serves.
pub const MAX_SIZE: usize = 4096;

/// A size class: an index into [`SIZES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Class(u8);

/// `BY_SIXTEENTHS[(size + 15) / 16]`: the smallest class holding `size`
/// bytes at 16-byte alignment.
const BY_SIXTEENTHS: [u8; MAX_SIZE / 16 + 1] = {
    let mut table = [0u8; MAX_SIZE / 16 + 1];
    let mut i = 0;
    let mut class = 0;
    while i < table.len() {
        while (SIZES[class] as usize) < i * 16 {
            class += 1;
        }
        table[i] = class as u8;
        i += 1;
    }
    table
};

impl Class {
    /// The class serving `size` bytes aligned to `align`, or `None` for the
    /// page level.
    #[inline]
    pub fn for_layout(size: usize, align: usize) -> Option<Class> {
        if align <= 16 {
            return (size <= MAX_SIZE).then(|| Class(BY_SIXTEENTHS[size.div_ceil(16)]));
        }
        let size = size.max(align).checked_next_power_of_two()?;
        (size <= MAX_SIZE).then(|| Class(BY_SIXTEENTHS[size / 16]))
    }

    /// Class number `index`, if there is one.
    pub fn from_index(index: usize) -> Option<Class> {
        (index < COUNT).then_some(Class(index as u8))
    }

    /// This class's index into [`SIZES`].
    #[inline]
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// Bytes per block.
    #[inline]
    pub fn size(self) -> usize {
        SIZES[self.index()] as usize
    }

    /// The alignment every block of this class has: its size for powers of
    /// two, 16 otherwise.
    pub fn align(self) -> usize {
        let size = self.size();
        if size.is_power_of_two() { size } else { 16 }
    }

    /// Every class, smallest first.
    pub fn all() -> impl Iterator<Item = Class> {
        (0..COUNT as u8).map(Class)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_fits_its_class_and_no_smaller_class_would_do() {
        for align in [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096] {
            for size in 0..=MAX_SIZE + 1 {
                let Some(class) = Class::for_layout(size, align) else {
                    assert!(size > MAX_SIZE || size.max(align).next_power_of_two() > MAX_SIZE);
                    continue;
                };
                assert!(class.size() >= size, "{size}/{align} -> {}", class.size());
                assert_eq!(class.align() % align, 0, "{size}/{align} -> {}", class.size());
                if align <= 16 && class.index() > 0 {
                    assert!(SIZES[class.index() - 1] < size as u32 || size == 0, "{size} could use a smaller class");
                }
            }
        }
        assert_eq!(Class::for_layout(4097, 8), None);
        assert_eq!(Class::for_layout(8, 8192), None);
    }

    #[test]
    fn classes_rise_and_stay_multiples_of_sixteen() {
        for pair in SIZES.windows(2) {
            assert!(pair[0] < pair[1]);
        }
        assert!(SIZES.iter().all(|s| s % 16 == 0));
        assert_eq!(SIZES[COUNT - 1] as usize, MAX_SIZE);
    }
}
