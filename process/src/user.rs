//! Reading and writing a program's memory from a system call: the copies
//! recover from faults (`kernel::arch::user_copy`), and a fault on a page
//! the program may touch but has not yet (demand paging) maps it and goes
//! on; anything else is EFAULT. Each copy first makes sure the program's
//! address space is the one loaded on the CPU: a system call that waited
//! may resume after another program ran there.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use kernel::arch::user_copy::{BadAddress, copy_from_user, copy_to_user};
use linux::errno::{self, Errno};

use crate::memory::Memory;

/// Longest path a program may pass (`PATH_MAX`).
pub const PATH_MAX: usize = 4096;

/// Copies `dst.len()` bytes from program address `src`.
pub fn read(mem: &mut Memory, src: u64, dst: &mut [u8]) -> Result<(), Errno> {
    retrying(mem, src, false, |done| copy_from_user(&mut dst[done..], src.wrapping_add(done as u64)))
}

/// Copies `src` to program address `dst`.
pub fn write(mem: &mut Memory, dst: u64, src: &[u8]) -> Result<(), Errno> {
    retrying(mem, dst, true, |done| copy_to_user(dst.wrapping_add(done as u64), &src[done..]))
}

/// Runs `copy` (from `done` bytes on) until it completes: each fault on a
/// page the program may touch but has not (demand paging, copy-on-write)
/// maps it and the copy goes on; a second fault at the same address, or
/// one outside the program's regions, is EFAULT.
fn retrying(mem: &mut Memory, at: u64, write: bool, mut copy: impl FnMut(usize) -> Result<(), BadAddress>) -> Result<(), Errno> {
    // The copy goes through the CPU's page tables: they must be this
    // program's, even if its task waited and another program ran here.
    mem.space().ensure_active();
    let mut done = 0;
    let mut last_fault = None;
    loop {
        match copy(done) {
            Ok(()) => return Ok(()),
            Err(bad) => {
                done += bad.copied;
                let fault_at = at.wrapping_add(done as u64);
                if last_fault == Some(fault_at) {
                    return Err(errno::EFAULT);
                }
                last_fault = Some(fault_at);
                mem.fault(fault_at, write, false).map_err(|_| errno::EFAULT)?;
            }
        }
    }
}

/// Reads `len` bytes (refusing more than `limit`).
pub fn read_vec(mem: &mut Memory, src: u64, len: usize, limit: usize) -> Result<Vec<u8>, Errno> {
    if len > limit {
        return Err(errno::EINVAL);
    }
    let mut buf = vec![0; len];
    read(mem, src, &mut buf)?;
    Ok(buf)
}

/// Reads a `u64`.
pub fn read_u64(mem: &mut Memory, src: u64) -> Result<u64, Errno> {
    let mut b = [0; 8];
    read(mem, src, &mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// Writes a `u64`.
pub fn write_u64(mem: &mut Memory, dst: u64, v: u64) -> Result<(), Errno> {
    write(mem, dst, &v.to_le_bytes())
}

/// Writes an `i32`.
pub fn write_i32(mem: &mut Memory, dst: u64, v: i32) -> Result<(), Errno> {
    write(mem, dst, &v.to_le_bytes())
}

/// Reads a NUL-terminated string of at most `max` bytes (ENAMETOOLONG
/// beyond), a page-sized piece at a time so a string near the end of
/// mapped memory is read without touching what follows it.
pub fn read_cstr(mem: &mut Memory, src: u64, max: usize) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    let mut at = src;
    loop {
        let to_page_end = (4096 - (at % 4096)) as usize;
        let mut chunk = vec![0u8; to_page_end.min(max + 1 - out.len())];
        read(mem, at, &mut chunk)?;
        if let Some(nul) = chunk.iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..nul]);
            return Ok(out);
        }
        out.extend_from_slice(&chunk);
        if out.len() > max {
            return Err(errno::ENAMETOOLONG);
        }
        at += chunk.len() as u64;
    }
}

/// Reads a path (UTF-8 is not required by Linux; a path that is not is
/// refused here with ENOENT, as no file here has such a name).
pub fn read_path(mem: &mut Memory, src: u64) -> Result<String, Errno> {
    let bytes = read_cstr(mem, src, PATH_MAX - 1)?;
    String::from_utf8(bytes).map_err(|_| errno::ENOENT)
}

/// Reads a NULL-terminated array of string pointers (argv, envp): at most
/// `max_count` strings and `max_bytes` bytes in all (E2BIG beyond).
pub fn read_string_array(mem: &mut Memory, src: u64, max_count: usize, max_bytes: usize) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if src == 0 {
        return Ok(out);
    }
    let mut total = 0;
    for i in 0.. {
        if i >= max_count {
            return Err(errno::E2BIG);
        }
        let p = read_u64(mem, src + 8 * i as u64)?;
        if p == 0 {
            break;
        }
        let s = read_cstr(mem, p, max_bytes.saturating_sub(total)).map_err(|e| if e == errno::ENAMETOOLONG { errno::E2BIG } else { e })?;
        total += s.len() + 1;
        out.push(s);
    }
    Ok(out)
}
