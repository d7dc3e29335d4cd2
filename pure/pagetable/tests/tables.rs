//! The page-table walker against tables in ordinary memory: a "physical"
//! arena of frames, and a frame source that counts what is live.

use std::collections::BTreeSet;

use pagetable::{Error, Flags, Frames, PageSize, PhysMemory, Table, Tables, Translation};

const BASE: u64 = 0x10_0000;
const FRAMES: usize = 256;

/// `FRAMES` frames of "physical memory" starting at `BASE`.
struct Arena {
    frames: Vec<Table>,
}

impl Arena {
    fn new() -> Self {
        Self { frames: (0..FRAMES).map(|_| std::array::from_fn(|_| Default::default())).collect() }
    }
}

impl PhysMemory for Arena {
    unsafe fn table(&self, phys: u64) -> &Table {
        assert_eq!(phys % 4096, 0, "table frames are aligned");
        &self.frames[((phys - BASE) / 4096) as usize]
    }
}

/// Hands out the arena's frames, filled with garbage (tables must be
/// zeroed by the walker), and checks every free.
struct Source<'a> {
    arena: &'a Arena,
    free: Vec<u64>,
    live: BTreeSet<u64>,
    limit: usize,
}

impl<'a> Source<'a> {
    fn new(arena: &'a Arena) -> Self {
        Self { arena, free: (0..FRAMES as u64).rev().map(|i| BASE + i * 4096).collect(), live: BTreeSet::new(), limit: usize::MAX }
    }
}

impl Frames for Source<'_> {
    fn allocate(&mut self) -> Option<u64> {
        if self.live.len() >= self.limit {
            return None;
        }
        let f = self.free.pop()?;
        // SAFETY: an arena frame.
        for e in unsafe { self.arena.table(f) } {
            e.store(0xdead_beef_dead_beef, std::sync::atomic::Ordering::Relaxed);
        }
        assert!(self.live.insert(f));
        Some(f)
    }

    unsafe fn free(&mut self, frame: u64) {
        assert!(self.live.remove(&frame), "free of {frame:#x}, which is not live");
        self.free.push(frame);
    }
}

/// A root made the way the kernel makes its own, plus a data frame the
/// test owns outside the source.
fn root(src: &mut Source) -> Tables {
    let root = src.allocate().unwrap();
    // SAFETY: just allocated.
    for e in unsafe { src.arena.table(root) } {
        e.store(0, std::sync::atomic::Ordering::Relaxed);
    }
    Tables::from_root(root)
}

const DATA: u64 = 0x8000_0000;
const USER: u64 = 0x0000_4000_0000;
const KERNEL: u64 = 0xffff_c000_0000_0000;
const RW: Flags = Flags::WRITABLE.union(Flags::NO_EXECUTE);

#[test]
fn map_query_unmap_round_trip() {
    let arena = Arena::new();
    let mut src = Source::new(&arena);
    let t = root(&mut src);
    t.map(&arena, &mut src, USER, DATA, RW | Flags::USER).unwrap();
    assert_eq!(src.live.len(), 4, "root + three tables on the way");
    let tr = t.query(&arena, USER + 0x123).unwrap();
    assert_eq!(tr, Translation { phys: DATA + 0x123, flags: RW | Flags::USER | Flags::PRESENT, size: PageSize::Size4K });
    assert_eq!(t.query(&arena, USER + 4096), None, "the next page is not mapped");

    assert_eq!(t.map(&arena, &mut src, USER, DATA + 4096, RW), Err(Error::AlreadyMapped(DATA)));
    let gone = t.unmap(&arena, USER).unwrap();
    assert_eq!(gone.frame, DATA);
    assert!(!gone.owned());
    assert_eq!(t.query(&arena, USER), None);
    assert_eq!(t.unmap(&arena, USER), Err(Error::NotMapped(USER)));
    assert_eq!(src.live.len(), 4, "unmap frees no table (rule 3)");
}

#[test]
fn intermediate_tables_follow_the_half() {
    let arena = Arena::new();
    let mut src = Source::new(&arena);
    let t = root(&mut src);
    t.map(&arena, &mut src, USER, DATA, RW | Flags::USER).unwrap();
    t.map(&arena, &mut src, KERNEL, DATA, RW).unwrap();
    // SAFETY: the root.
    let top = unsafe { arena.table(t.root()) };
    let bits = |i: usize| Flags::from_bits_truncate(top[i].load(std::sync::atomic::Ordering::Relaxed));
    assert!(bits(pagetable::index(USER, 4)).contains(Flags::USER | Flags::WRITABLE | Flags::PRESENT));
    assert!(!bits(pagetable::index(KERNEL, 4)).contains(Flags::USER), "kernel tables are supervisor-only");
}

#[test]
fn bad_addresses_are_refused_and_change_nothing() {
    let arena = Arena::new();
    let mut src = Source::new(&arena);
    let t = root(&mut src);
    assert_eq!(t.map(&arena, &mut src, 0x0000_8000_0000_0000, DATA, RW), Err(Error::NonCanonical(0x0000_8000_0000_0000)));
    assert_eq!(t.map(&arena, &mut src, USER + 1, DATA, RW), Err(Error::Misaligned(USER + 1)));
    assert_eq!(t.map(&arena, &mut src, USER, DATA + 8, RW), Err(Error::Misaligned(DATA + 8)));
    assert_eq!(t.map(&arena, &mut src, USER, 1 << 52, RW), Err(Error::Misaligned(1 << 52)));
    assert_eq!(t.query(&arena, 0x0000_8000_0000_0000), None);
    assert_eq!(src.live.len(), 1, "no table made for a refused map");
}

#[test]
fn out_of_frames_is_an_error() {
    let arena = Arena::new();
    let mut src = Source::new(&arena);
    let t = root(&mut src);
    src.limit = 3;
    assert_eq!(t.map(&arena, &mut src, USER, DATA, RW), Err(Error::NoMemory));
    src.limit = usize::MAX;
    t.map(&arena, &mut src, USER, DATA, RW).unwrap();
    assert_eq!(t.query(&arena, USER).unwrap().phys, DATA);
}

#[test]
fn protect_keeps_the_address_and_the_cpus_bits() {
    let arena = Arena::new();
    let mut src = Source::new(&arena);
    let t = root(&mut src);
    t.map(&arena, &mut src, USER, DATA, RW | Flags::USER | Flags::OWNED).unwrap();
    // The CPU marks the page accessed and dirty behind our back.
    let leaf_bits = Flags::ACCESSED | Flags::DIRTY;
    let tr = t.query(&arena, USER).unwrap();
    assert!(!tr.flags.contains(leaf_bits));
    set_leaf_bits(&arena, &t, USER, leaf_bits);

    let old = t.protect(&arena, USER, Flags::USER | Flags::NO_EXECUTE).unwrap();
    assert!(old.contains(Flags::WRITABLE));
    let now = t.query(&arena, USER).unwrap();
    assert_eq!(now.phys, DATA);
    assert!(!now.flags.contains(Flags::WRITABLE), "write access removed");
    assert!(now.flags.contains(leaf_bits | Flags::OWNED | Flags::USER | Flags::PRESENT));
    assert_eq!(t.protect(&arena, USER + 4096, RW), Err(Error::NotMapped(USER + 4096)));
}

#[test]
fn huge_pages_are_read_but_not_split() {
    let arena = Arena::new();
    let mut src = Source::new(&arena);
    let t = root(&mut src);
    // Make the level-2 table, then turn one of its entries into a 2 MiB page.
    t.map(&arena, &mut src, USER, DATA, RW).unwrap();
    let _ = t.unmap(&arena, USER).unwrap();
    let two_m = USER + (1 << 21);
    let l2 = table_at(&arena, &t, two_m, 2);
    // SAFETY: a level-2 table frame of the arena.
    let l2 = unsafe { arena.table(l2) };
    l2[pagetable::index(two_m, 2)].store(0x4000_0000 | (Flags::PRESENT | Flags::HUGE | RW).bits(), std::sync::atomic::Ordering::Relaxed);
    let tr = t.query(&arena, two_m + 0x1234).unwrap();
    assert_eq!((tr.phys, tr.size), (0x4000_1234, PageSize::Size2M));
    assert_eq!(t.map(&arena, &mut src, two_m + 4096, DATA, RW), Err(Error::HugePage(two_m + 4096)));
    assert_eq!(t.unmap(&arena, two_m), Err(Error::HugePage(two_m)));
}

#[test]
fn a_new_space_shares_the_kernel_half_only() {
    let arena = Arena::new();
    let mut src = Source::new(&arena);
    let kernel = root(&mut src);
    kernel.map(&arena, &mut src, KERNEL, DATA, RW).unwrap();
    kernel.map(&arena, &mut src, USER, DATA, RW).unwrap();
    let user = Tables::new_sharing_kernel(&arena, &mut src, &kernel).unwrap();
    assert_eq!(user.query(&arena, KERNEL).unwrap().phys, DATA, "kernel half shared");
    assert_eq!(user.query(&arena, USER), None, "lower half empty");
    // A kernel mapping made later under a shared top-level entry is seen by both.
    kernel.map(&arena, &mut src, KERNEL + 4096, DATA + 4096, RW).unwrap();
    assert_eq!(user.query(&arena, KERNEL + 4096).unwrap().phys, DATA + 4096);
}

#[test]
fn tear_down_frees_every_table_and_owned_frame_once() {
    let arena = Arena::new();
    let mut src = Source::new(&arena);
    let kernel = root(&mut src);
    kernel.map(&arena, &mut src, KERNEL, DATA, RW).unwrap();
    let before = src.live.len();
    let user = Tables::new_sharing_kernel(&arena, &mut src, &kernel).unwrap();
    // Owned frames come from the source; a borrowed one does not.
    let mut owned = Vec::new();
    for i in 0..40u64 {
        let f = src.allocate().unwrap();
        owned.push(f);
        // Spread over several tables at every level.
        let va = USER + i * (1 << 21) + (i % 3) * (1 << 39);
        user.map(&arena, &mut src, va, f, RW | Flags::USER | Flags::OWNED).unwrap();
    }
    user.map(&arena, &mut src, USER + 4096, DATA, RW | Flags::USER).unwrap();
    // SAFETY: nothing uses the space.
    let freed = unsafe { user.tear_down(&arena, &mut src, 0..pagetable::FIRST_KERNEL_ENTRY) };
    assert!(freed > owned.len(), "tables freed too: {freed}");
    for f in &owned {
        assert!(!src.live.contains(f), "owned frame {f:#x} freed");
    }
    assert_eq!(src.live.len(), before + 1, "only the new root is left");
    assert_eq!(user.query(&arena, USER), None);
    assert_eq!(kernel.query(&arena, KERNEL).unwrap().phys, DATA, "the kernel half is untouched");
}

/// Random maps and unmaps against a model.
#[test]
fn random_operations_match_a_model() {
    let arena = Arena::new();
    let mut src = Source::new(&arena);
    let t = root(&mut src);
    let mut model = std::collections::BTreeMap::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..5000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let page = USER + (x % 64) * 4096 + ((x >> 8) % 4) * (1 << 30);
        let frame = DATA + ((x >> 16) % 1000) * 4096;
        match (x >> 32) % 3 {
            0 => {
                let r = t.map(&arena, &mut src, page, frame, RW);
                match model.get(&page) {
                    Some(&f) => assert_eq!(r, Err(Error::AlreadyMapped(f))),
                    None => {
                        r.unwrap();
                        model.insert(page, frame);
                    }
                }
            }
            1 => {
                let r = t.unmap(&arena, page);
                match model.remove(&page) {
                    Some(f) => assert_eq!(r.unwrap().frame, f),
                    None => assert_eq!(r, Err(Error::NotMapped(page))),
                }
            }
            _ => assert_eq!(t.query(&arena, page).map(|tr| tr.phys), model.get(&page).copied()),
        }
    }
}

fn set_leaf_bits(arena: &Arena, t: &Tables, va: u64, bits: Flags) {
    let l1 = table_at(arena, t, va, 1);
    // SAFETY: a level-1 table frame of the arena.
    let l1 = unsafe { arena.table(l1) };
    l1[pagetable::index(va, 1)].fetch_or(bits.bits(), std::sync::atomic::Ordering::Relaxed);
}

/// The frame of the table at `level` on `va`'s walk (which must exist).
fn table_at(arena: &Arena, t: &Tables, va: u64, level: u32) -> u64 {
    let mut table = t.root();
    for l in ((level + 1)..=4).rev() {
        // SAFETY: the walk's tables are arena frames.
        let entries = unsafe { arena.table(table) };
        let bits = entries[pagetable::index(va, l)].load(std::sync::atomic::Ordering::Relaxed);
        table = bits & pagetable::ADDRESS_MASK;
    }
    table
}

#[test]
fn a_reserved_kernel_slot_is_shared_by_spaces_made_before_its_first_mapping() {
    let arena = Arena::new();
    let mut src = Source::new(&arena);
    let kernel = root(&mut src);
    let slot = pagetable::index(KERNEL, 4);
    kernel.reserve_top_level(&arena, &mut src, slot).unwrap();
    assert!(kernel.top_level_used(&arena, slot));
    let live = src.live.len();
    kernel.reserve_top_level(&arena, &mut src, slot).unwrap();
    assert_eq!(src.live.len(), live, "reserving twice makes no second table");
    let user = Tables::new_sharing_kernel(&arena, &mut src, &kernel).unwrap();
    // The kernel maps into the slot after the user space was made.
    kernel.map(&arena, &mut src, KERNEL + 8 * 4096, DATA, RW).unwrap();
    assert_eq!(user.query(&arena, KERNEL + 8 * 4096).map(|t| t.phys), Some(DATA), "seen through the shared table");
    // SAFETY: the root.
    let top = unsafe { arena.table(kernel.root()) };
    assert!(!Flags::from_bits_truncate(top[slot].load(std::sync::atomic::Ordering::Relaxed)).contains(Flags::USER));
}

/// `next_mapped` finds exactly the mapped pages of a range, in order, and
/// crosses a range as large as a whole half by skipping absent tables.
#[test]
fn next_mapped_walks_only_what_is_mapped() {
    let arena = Arena::new();
    let mut src = Source::new(&arena);
    let t = root(&mut src);
    let pages = [USER, USER + 4096, USER + (1 << 21), USER + (1 << 30) + 7 * 4096, 0x7fff_ffff_f000];
    for (i, &p) in pages.iter().enumerate() {
        t.map(&arena, &mut src, p, DATA + i as u64 * 4096, RW).unwrap();
    }
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(p) = t.next_mapped(&arena, at, 0x0000_8000_0000_0000) {
        found.push(p);
        at = p + 4096;
    }
    assert_eq!(found, pages, "every mapped page of the lower half, in order");
    assert_eq!(t.next_mapped(&arena, USER + 8192, USER + (1 << 21)), None, "nothing in a gap");
    assert_eq!(t.next_mapped(&arena, USER + 4096 + 5, USER + 8192), Some(USER + 4096), "a start inside a page");
    assert_eq!(t.next_mapped(&arena, 0x0000_8000_0000_0000, u64::MAX), None, "stops where the half ends");

    // Against a model, with random ranges.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let from = (x % (1 << 32)) & !0xfff;
        let to = from + ((x >> 32) % (1 << 31));
        let want = pages.iter().copied().find(|&p| p >= from && p < to);
        assert_eq!(t.next_mapped(&arena, from, to), want, "{from:#x}..{to:#x}");
    }
}
