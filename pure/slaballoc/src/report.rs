//! What the heap reports: misuse (reported, and the operation refused so
//! nothing is corrupted) and fatal conditions (out of memory, allocation
//! from an interrupt handler), each naming the CPU, the task and the class.

use core::fmt;

/// A wrong use of the heap, found on a free or while carving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misuse {
    /// The block is not allocated now (freed already).
    DoubleFree,
    /// The pointer is inside the heap but does not start a block the heap
    /// handed out.
    NotAllocated,
    /// The pointer is not inside the heap at all.
    NotFromHeap,
    /// The layout given to the free names another class (or, for a
    /// page-level block, another size or alignment) than the block's.
    WrongLayout,
    /// A free block's link pointed outside its slab: something wrote to
    /// the block after it was freed. The slab's free list was dropped.
    FreeListCorrupted,
    /// A free block lost its mark (in a magazine, or on its way home from
    /// another CPU's free): something wrote to it after it was freed.
    /// Found before it was handed out again; the block was dropped.
    WrittenAfterFree,
}

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Reported; the heap refused the operation.
    Misuse(Misuse),
    /// Fatal: the page level has no room for the request.
    OutOfMemory,
    /// Fatal: an interrupt handler asked for memory; handlers must not
    /// allocate (the per-CPU caches have no lock to protect them from the
    /// code the handler interrupted).
    AllocInInterrupt {
        /// The vector being handled.
        vector: u8,
    },
}

/// A task, as the platform names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskRef {
    /// Its id.
    pub id: u64,
    /// Its name, if it has one.
    pub name: Option<&'static str>,
}

/// One report.
#[derive(Clone, Copy, Debug)]
pub struct Report {
    /// What went wrong.
    pub problem: Problem,
    /// The block concerned (0 for an allocation).
    pub ptr: usize,
    /// The request's (or the free's) size.
    pub size: usize,
    /// The request's (or the free's) alignment.
    pub align: usize,
    /// The block size of the slab the pointer is in, if it is in one.
    pub class_size: Option<usize>,
    /// The CPU reporting.
    pub cpu: usize,
    /// The task running there, if any.
    pub task: Option<TaskRef>,
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Misuse::DoubleFree => "double free",
            Misuse::NotAllocated => "free of a pointer the heap never handed out",
            Misuse::NotFromHeap => "free of a pointer outside the heap",
            Misuse::WrongLayout => "free with a layout that does not match the block",
            Misuse::FreeListCorrupted => "free list corrupted (a block was written after it was freed)",
            Misuse::WrittenAfterFree => "a free block was written after it was freed (found before it was handed out again; dropped)",
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problem {
            Problem::Misuse(m) => write!(f, "heap: {m}: {:#x}", self.ptr)?,
            Problem::OutOfMemory => f.write_str("heap: out of memory")?,
            Problem::AllocInInterrupt { vector } => write!(f, "heap: allocation in the interrupt handler for vector {vector:#04x}")?,
        }
        let verb = if matches!(self.problem, Problem::Misuse(_)) { "freed as" } else { "asked for" };
        match (self.size != 0 || self.align != 0, self.class_size) {
            (true, Some(class)) => write!(f, " ({verb} {} bytes, align {}; in a slab of {class}-byte blocks)", self.size, self.align)?,
            (true, None) => write!(f, " ({verb} {} bytes, align {})", self.size, self.align)?,
            (false, Some(class)) => write!(f, " (in a slab of {class}-byte blocks)")?,
            (false, None) => {}
        }
        write!(f, " on cpu{}", self.cpu)?;
        match self.task {
            Some(TaskRef { id, name: Some(name) }) => write!(f, " in task {id} '{name}'")?,
            Some(TaskRef { id, name: None }) => write!(f, " in task {id}")?,
            None => {}
        }
        Ok(())
    }
}
