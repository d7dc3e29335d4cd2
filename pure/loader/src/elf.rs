//! A static ELF executable checked and planned (see the crate doc).

use alloc::vec::Vec;
use core::fmt;

use object::LittleEndian;
use object::elf::{FileHeader64, ProgramHeader64};
use object::read::elf::{FileHeader, ProgramHeader};

use crate::{PAGE_SIZE, USER_END};

const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const PT_PHDR: u32 = 6;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;

/// Why an image cannot run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecError {
    /// Not an ELF64 little-endian image, or its headers run off its end.
    NotElf,
    /// Built for another machine (the `e_machine` value).
    WrongMachine(u16),
    /// Neither an executable nor a position-independent one (`e_type`).
    WrongType(u16),
    /// It asks for an interpreter: dynamically linked programs are not run.
    Dynamic,
    /// No loadable segment.
    NoSegments,
    /// Segment `n` is malformed: file size above memory size, file bytes past
    /// the image's end, an alignment that is not a power of two, or an
    /// address and offset that disagree modulo the page size.
    BadSegment(usize),
    /// Segment `n` reaches outside the lower half (or wraps).
    OutOfRange(usize),
    /// Segments `a` and `b` share a page.
    Overlap(usize, usize),
    /// The entry point is not in an executable segment.
    BadEntry(u64),
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NotElf => f.write_str("not an ELF64 little-endian executable"),
            Self::WrongMachine(m) => write!(f, "built for machine {m}, not x86-64 (62)"),
            Self::WrongType(t) => write!(f, "ELF type {t} is not an executable (2) or a static-pie one (3)"),
            Self::Dynamic => f.write_str("dynamically linked (it names an interpreter): only static programs run"),
            Self::NoSegments => f.write_str("no loadable segment"),
            Self::BadSegment(n) => write!(f, "loadable segment {n} is malformed"),
            Self::OutOfRange(n) => write!(f, "loadable segment {n} reaches outside the program's half of the address space"),
            Self::Overlap(a, b) => write!(f, "loadable segments {a} and {b} overlap"),
            Self::BadEntry(e) => write!(f, "the entry point {e:#x} is not in an executable segment"),
        }
    }
}

/// A segment to map: `[vaddr, vaddr + mem_size)`, whose first `file_size`
/// bytes come from the image at `file_offset` and the rest are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Where it starts (bias applied); not page aligned in general.
    pub vaddr: u64,
    /// Bytes in memory.
    pub mem_size: u64,
    /// Where its file bytes start in the image.
    pub file_offset: u64,
    /// Bytes that come from the image (the rest of `mem_size` is zero).
    pub file_size: u64,
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub execute: bool,
}

impl Segment {
    /// The first page it touches.
    pub fn first_page(&self) -> u64 {
        self.vaddr & !(PAGE_SIZE - 1)
    }

    /// One past the last page it touches.
    pub fn end_page(&self) -> u64 {
        (self.vaddr + self.mem_size).next_multiple_of(PAGE_SIZE)
    }
}

/// What to map and where to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The load bias: 0 for `ET_EXEC`, the chosen base for static-pie.
    pub bias: u64,
    /// Where the program starts (bias applied).
    pub entry: u64,
    /// The loadable segments, in address order.
    pub segments: Vec<Segment>,
    /// Where the program headers are in memory (`AT_PHDR`), if they are
    /// inside a loaded segment.
    pub phdr: Option<u64>,
    /// Size of one program header (`AT_PHENT`).
    pub phent: u64,
    /// Number of program headers (`AT_PHNUM`).
    pub phnum: u64,
    /// Where the break (`brk`) starts: the page after the last segment.
    pub brk: u64,
}

/// Checks `image` and plans it. `pie_base` is where a static-pie program
/// (`ET_DYN`) is loaded (page aligned; an `ET_EXEC` program goes where it
/// says).
pub fn plan(image: &[u8], pie_base: u64) -> Result<Plan, ExecError> {
    let header = FileHeader64::<LittleEndian>::parse(image).map_err(|_| ExecError::NotElf)?;
    let endian = header.endian().map_err(|_| ExecError::NotElf)?;
    let machine = header.e_machine(endian).0;
    if machine != EM_X86_64 {
        return Err(ExecError::WrongMachine(machine));
    }
    let bias = match header.e_type(endian).0 {
        ET_EXEC => 0,
        ET_DYN => pie_base & !(PAGE_SIZE - 1),
        other => return Err(ExecError::WrongType(other)),
    };
    let headers: &[ProgramHeader64<LittleEndian>] = header.program_headers(endian, image).map_err(|_| ExecError::NotElf)?;
    if headers.iter().any(|p| p.p_type(endian).0 == PT_INTERP) {
        return Err(ExecError::Dynamic);
    }
    let mut segments = Vec::new();
    let mut file_view = Vec::new();
    for (n, p) in headers.iter().filter(|p| p.p_type(endian).0 == PT_LOAD).enumerate() {
        let (offset, vaddr, file_size, mem_size, align) =
            (p.p_offset(endian), p.p_vaddr(endian), p.p_filesz(endian), p.p_memsz(endian), p.p_align(endian));
        let in_file = offset.checked_add(file_size).is_some_and(|end| end <= image.len() as u64);
        let aligned = align == 0 || (align.is_power_of_two() && (vaddr % PAGE_SIZE) == (offset % PAGE_SIZE));
        if file_size > mem_size || !in_file || !aligned {
            return Err(ExecError::BadSegment(n));
        }
        let start = vaddr.checked_add(bias).ok_or(ExecError::OutOfRange(n))?;
        match start.checked_add(mem_size) {
            Some(end) if end <= USER_END && start >= PAGE_SIZE => {}
            _ => return Err(ExecError::OutOfRange(n)),
        }
        let flags = p.p_flags(endian).0;
        segments.push(Segment {
            vaddr: start,
            mem_size,
            file_offset: offset,
            file_size,
            read: flags & PF_R != 0,
            write: flags & PF_W != 0,
            execute: flags & PF_X != 0,
        });
        file_view.push((offset, file_size, start));
    }
    if segments.is_empty() {
        return Err(ExecError::NoSegments);
    }
    // Address order, and no page shared by two segments (a page has one set
    // of permissions, and one segment's zero fill must not clear another's).
    let mut order: Vec<usize> = (0..segments.len()).collect();
    order.sort_by_key(|&i| segments[i].vaddr);
    for pair in order.windows(2) {
        let (a, b) = (&segments[pair[0]], &segments[pair[1]]);
        if a.end_page() > b.first_page() {
            return Err(ExecError::Overlap(pair[0].min(pair[1]), pair[0].max(pair[1])));
        }
    }
    let segments: Vec<Segment> = order.iter().map(|&i| segments[i]).collect();

    let entry = header.e_entry(endian).checked_add(bias).ok_or(ExecError::BadEntry(header.e_entry(endian)))?;
    if !segments.iter().any(|s| s.execute && (s.vaddr..s.vaddr + s.mem_size).contains(&entry)) {
        return Err(ExecError::BadEntry(entry));
    }
    let phoff = header.e_phoff(endian);
    let phent = u64::from(header.e_phentsize(endian));
    let phnum = headers.len() as u64;
    // PT_PHDR says where the table is; without one, find the segment whose
    // file bytes hold it (as Linux's loader does).
    let phdr = match headers.iter().find(|p| p.p_type(endian).0 == PT_PHDR) {
        Some(p) => p.p_vaddr(endian).checked_add(bias),
        None => file_view
            .iter()
            .find(|&&(offset, size, _)| phoff >= offset && phoff + phent * phnum <= offset + size)
            .map(|&(offset, _, start)| start + (phoff - offset)),
    };
    let brk = segments.iter().map(Segment::end_page).max().unwrap_or(0);
    Ok(Plan { bias, entry, segments, phdr, phent, phnum, brk })
}
