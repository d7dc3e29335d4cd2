//! The initial stack a Linux program starts on (System V x86-64 ABI,
//! 3.4.1, as Linux's `create_elf_tables` lays it out), built as bytes for
//! `[sp, top)` of the new address space:
//!
//! ```text
//! top     8 zero bytes
//!         the strings: execfn, argv[0..], envp[0..] (each NUL-terminated)
//!         the platform string ("x86_64"), the 16 AT_RANDOM bytes
//!         (down to 16-byte alignment)
//!         auxv pairs, ending with (AT_NULL, 0)
//!         envp pointers, then 0
//!         argv pointers, then 0
//! sp ->   argc                                  (sp is 16-byte aligned)
//! ```
//!
//! The caller gives the auxiliary entries it knows (from the [`Plan`](crate::Plan):
//! `AT_PHDR`, `AT_PHENT`, `AT_PHNUM`, `AT_ENTRY`, ...); `build` adds those
//! that point into the stack (`AT_RANDOM`, `AT_EXECFN`, `AT_PLATFORM`).

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// Auxiliary-vector keys (Linux's `include/uapi/linux/auxvec.h`).
pub mod at {
    /// End of the vector.
    pub const NULL: u64 = 0;
    /// Where the program headers are in memory.
    pub const PHDR: u64 = 3;
    /// Size of one program header.
    pub const PHENT: u64 = 4;
    /// Number of program headers.
    pub const PHNUM: u64 = 5;
    /// The page size.
    pub const PAGESZ: u64 = 6;
    /// The interpreter's base (0 for static programs).
    pub const BASE: u64 = 7;
    /// Flags (0).
    pub const FLAGS: u64 = 8;
    /// The program's entry point.
    pub const ENTRY: u64 = 9;
    /// Real user id.
    pub const UID: u64 = 11;
    /// Effective user id.
    pub const EUID: u64 = 12;
    /// Real group id.
    pub const GID: u64 = 13;
    /// Effective group id.
    pub const EGID: u64 = 14;
    /// The platform string's address.
    pub const PLATFORM: u64 = 15;
    /// CPU capability bits.
    pub const HWCAP: u64 = 16;
    /// Clock ticks per second (`times`).
    pub const CLKTCK: u64 = 17;
    /// Secure mode (set-user-id): 0, or musl polls descriptors 0-2.
    pub const SECURE: u64 = 23;
    /// Address of 16 random bytes (stack protector, pointer guard).
    pub const RANDOM: u64 = 25;
    /// More CPU capability bits.
    pub const HWCAP2: u64 = 26;
    /// The executed file's name.
    pub const EXECFN: u64 = 31;
}

/// What a program starts with.
#[derive(Clone, Copy, Debug)]
pub struct Start<'a> {
    /// Its arguments (`argv[0]` first), without their NULs.
    pub argv: &'a [&'a [u8]],
    /// Its environment (`NAME=value`), without their NULs.
    pub envp: &'a [&'a [u8]],
    /// Auxiliary entries the caller knows (see the module doc).
    pub auxv: &'a [(u64, u64)],
    /// The bytes `AT_RANDOM` points at.
    pub random: [u8; 16],
    /// The path `execve` was given (`AT_EXECFN`).
    pub execfn: &'a [u8],
}

/// The platform string `AT_PLATFORM` points at.
pub const PLATFORM: &[u8] = b"x86_64";

/// Why the stack cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackError {
    /// Arguments, environment and vector need more than the limit (Linux
    /// answers E2BIG).
    TooBig {
        /// Bytes needed.
        needed: usize,
        /// Bytes allowed.
        limit: usize,
    },
    /// A string holds a NUL byte (strings arrive NUL-terminated).
    Nul,
    /// `top` is not 16-byte aligned, or too low for the stack.
    BadTop(u64),
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooBig { needed, limit } => write!(f, "arguments and environment need {needed} bytes, more than {limit}"),
            Self::Nul => f.write_str("an argument or environment string holds a NUL byte"),
            Self::BadTop(t) => write!(f, "stack top {t:#x} is not usable"),
        }
    }
}

/// The stack's bytes: they belong at `[sp, sp + bytes.len())`, which ends
/// at the `top` given to [`build`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialStack {
    /// The stack pointer at entry (the address of `argc`).
    pub sp: u64,
    /// The bytes from `sp` up to `top`.
    pub bytes: Vec<u8>,
}

/// Builds the stack that ends at `top` (16-byte aligned), using at most
/// `limit` bytes.
pub fn build(top: u64, start: &Start<'_>, limit: usize) -> Result<InitialStack, StackError> {
    if !top.is_multiple_of(16) {
        return Err(StackError::BadTop(top));
    }
    let strings = start.argv.iter().chain(start.envp).chain(core::iter::once(&start.execfn));
    let mut string_bytes = 0usize;
    for s in strings {
        if s.contains(&0) {
            return Err(StackError::Nul);
        }
        string_bytes += s.len() + 1;
    }
    let auxv_len = start.auxv.len() + 4; // + RANDOM, EXECFN, PLATFORM, NULL
    let words = 1 + (start.argv.len() + 1) + (start.envp.len() + 1) + 2 * auxv_len;
    let high = 8 + string_bytes + (PLATFORM.len() + 1) + 16;
    let needed = (high + words * 8).next_multiple_of(16) + 16;
    if needed > limit {
        return Err(StackError::TooBig { needed, limit });
    }
    let sp = (top - high as u64 - (words * 8) as u64) & !15;
    if sp == 0 || sp > top {
        return Err(StackError::BadTop(top));
    }
    let mut out = Writer { base: sp, bytes: vec![0; (top - sp) as usize] };

    // Strings, from the top down.
    let mut at = top - 8;
    let mut place = |out: &mut Writer, s: &[u8]| {
        at -= s.len() as u64 + 1;
        out.bytes_at(at, s);
        at
    };
    let execfn = place(&mut out, start.execfn);
    let argv: Vec<u64> = start.argv.iter().map(|s| place(&mut out, s)).collect();
    let envp: Vec<u64> = start.envp.iter().map(|s| place(&mut out, s)).collect();
    let platform = place(&mut out, PLATFORM);
    at -= 16;
    out.bytes_at(at, &start.random);
    let random = at;

    // The words, from sp up.
    let mut w = sp;
    let mut word = |out: &mut Writer, v: u64| {
        out.u64_at(w, v);
        w += 8;
    };
    word(&mut out, start.argv.len() as u64);
    argv.iter().for_each(|&p| word(&mut out, p));
    word(&mut out, 0);
    envp.iter().for_each(|&p| word(&mut out, p));
    word(&mut out, 0);
    for &(key, value) in start.auxv.iter().chain(&[(at::RANDOM, random), (at::EXECFN, execfn), (at::PLATFORM, platform), (at::NULL, 0)]) {
        word(&mut out, key);
        word(&mut out, value);
    }
    debug_assert!(w <= random, "the words end below the strings");
    Ok(InitialStack { sp, bytes: out.bytes })
}

struct Writer {
    base: u64,
    bytes: Vec<u8>,
}

impl Writer {
    fn bytes_at(&mut self, addr: u64, b: &[u8]) {
        let i = (addr - self.base) as usize;
        self.bytes[i..i + b.len()].copy_from_slice(b);
        // The NUL after a string is already there: the buffer starts zeroed.
    }

    fn u64_at(&mut self, addr: u64, v: u64) {
        self.bytes_at(addr, &v.to_le_bytes());
    }
}
