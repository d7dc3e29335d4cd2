//! Program images as pure code: what `execve` needs before it touches an
//! address space. Everything here reads untrusted bytes (a file a program
//! named) and either returns a plan or says precisely what is wrong; it
//! never panics on input, and builds and is tested on the host.
//!
//! - [`plan`]: a static ELF64 x86-64 executable (`ET_EXEC`, or `ET_DYN`
//!   without an interpreter: static-pie) checked and turned into a
//!   [`Plan`]: the segments to map, the entry point, where the program
//!   headers are in memory (musl and glibc find TLS through `AT_PHDR`), and
//!   where the break starts.
//! - [`stack`]: the initial stack a Linux program starts on (System V
//!   x86-64 ABI, 3.4.1): `argc`, `argv`, `envp`, the auxiliary vector and
//!   the strings and random bytes they point to, 16-byte aligned.
//!
//! Parsing the headers is gimli-rs's `object` crate (read-only ELF, no_std,
//! bounds-checked); the checks a kernel needs beyond well-formedness (one
//! machine, the lower half, no overlap, no interpreter) are here.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod elf;
pub mod stack;

pub use elf::{ExecError, Plan, Segment, plan};

/// Bytes in a page.
pub const PAGE_SIZE: u64 = 4096;

/// One past the last address a program may use (the lower half).
pub const USER_END: u64 = 0x0000_8000_0000_0000;
