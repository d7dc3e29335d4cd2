//! The Linux x86-64 system-call ABI, as data: what a static Linux program
//! (musl or glibc) expects of a kernel, independent of how Odonata
//! implements it.
//!
//! - [`nr`]: system-call numbers, and [`nr::name`] for logs;
//! - [`errno`]: error numbers (a call returns `-errno` in RAX);
//! - [`flags`]: open, mmap, clone, wait, ioctl and other constants;
//! - [`loadavg`]: the load averages' fixed-point arithmetic;
//! - [`structs`]: `stat`, `timespec`, `utsname`, `winsize`, ... written
//!   into a program's memory byte for byte (little-endian, the x86-64
//!   layout), so no kernel type's layout is ever exposed.
//!
//! The values are the kernel's UAPI headers' (`asm/unistd_64.h`,
//! `asm-generic/errno*.h`, ...); `tests.rs` checks a sample against the
//! host's headers with the host's C compiler.
#![no_std]
#![forbid(unsafe_code)]

pub mod errno;
pub mod flags;
pub mod loadavg;
pub mod nr;
pub mod structs;

#[cfg(test)]
mod tests;
