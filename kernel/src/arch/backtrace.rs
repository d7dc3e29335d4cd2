//! Backtraces by frame pointers, for panics, fatal exceptions and stall
//! reports.
//!
//! Kernel builds keep frame pointers (`-C force-frame-pointers=yes`, set for
//! the kernel target in `.cargo/config.toml`): in every frame, `[rbp]` is the
//! caller's `rbp` and `[rbp + 8]` the return address. Code built without
//! them (the precompiled `core` and `alloc`) may hold anything in `rbp`, so
//! each step is checked before it is taken: the frame must lie on the kernel
//! stack the walk started on (a mapped, guard-paged stack), be 8-aligned,
//! above the last one, and hold a return address in the kernel's image. The
//! walk stops at the first step that fails: a broken chain ends a trace
//! early, it never faults.
//!
//! The kernel prints raw addresses; the host runner, which has the ELF,
//! prints function, file and line beside each (`runner/src/symbolize.rs`).
//! Return addresses are printed minus one, so every address printed lies
//! inside the instruction it names (the call, for a caller's frame).

use core::fmt;
use core::ops::Range;

use super::entry::InterruptFrame;
use crate::memory::layout::KERNEL_BASE;

/// Frames printed at most.
pub const MAX_FRAMES: usize = 32;

/// The text that opens a trace: the runner symbolizes the frame lines that
/// follow a line containing it.
pub const HEADER: &str = "backtrace (kernel at";

/// Where a trace starts.
#[derive(Clone, Copy, Debug)]
pub struct Backtrace {
    /// The instruction the context was stopped at, for an interrupted one.
    pc: Option<u64>,
    /// Its frame pointer.
    rbp: u64,
}

impl Backtrace {
    /// The trace of an interrupted or faulting context: its `rip`, then its
    /// callers.
    pub fn of_frame(frame: &InterruptFrame) -> Self {
        Self { pc: Some(frame.rip), rbp: frame.rbp }
    }

    /// The trace of the function this is called from (its callers, starting
    /// with its own caller's call).
    #[inline(always)]
    pub fn here() -> Self {
        let rbp: u64;
        // SAFETY: reads a register; no memory, stack or flags are touched.
        unsafe { core::arch::asm!("mov {}, rbp", out(reg) rbp, options(nomem, nostack, preserves_flags)) };
        Self { pc: None, rbp }
    }

    /// The code addresses of the trace, innermost first.
    pub fn addresses(&self) -> impl Iterator<Item = u64> {
        let stack = crate::memory::stack::containing(self.rbp);
        self.pc.into_iter().chain(Walk { rbp: self.rbp, stack }).take(MAX_FRAMES)
    }
}

/// The return addresses along a frame-pointer chain (minus one).
struct Walk {
    rbp: u64,
    /// The stack the chain must stay on (`None`: not on a kernel stack).
    stack: Option<Range<u64>>,
}

impl Iterator for Walk {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        let stack = self.stack.as_ref()?;
        let frame = self.rbp;
        if !frame.is_multiple_of(8) || frame < stack.start || frame.checked_add(16)? > stack.end {
            return None;
        }
        // SAFETY: `frame..frame + 16` lies inside a mapped kernel stack
        // (`memory::stack::containing`) and is 8-aligned; volatile, because
        // another context may own those words (we only read them).
        let (next, ret) = unsafe {
            let p = frame as *const u64;
            (core::ptr::read_volatile(p), core::ptr::read_volatile(p.add(1)))
        };
        if ret < KERNEL_BASE || next <= frame {
            self.stack = None;
            return (ret >= KERNEL_BASE).then(|| ret - 1);
        }
        self.rbp = next;
        Some(ret - 1)
    }
}

impl fmt::Display for Backtrace {
    /// The header line and one `#N 0xADDRESS` line per frame, indented,
    /// each line *starting* with its newline (so it can end a log line);
    /// never allocates (it runs on the fatal path and in interrupt handlers).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\n    {HEADER} {KERNEL_BASE:#x}; the runner adds function and line):")?;
        let mut any = false;
        for (i, addr) in self.addresses().enumerate() {
            write!(f, "\n      #{i} {addr:#018x}")?;
            any = true;
        }
        if !any {
            write!(f, "\n      (no frames: the stack is not a kernel stack)")?;
        }
        Ok(())
    }
}
