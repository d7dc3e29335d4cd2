//! `mmap`, `munmap`, `mprotect` (`brk` is `Memory::set_brk`).

use linux::errno;
use linux::flags::mman::{MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_PRIVATE, MAP_SHARED};

use super::{Args, SysResult};
use crate::fs::Kind;
use crate::memory::{Backing, MIN_ADDRESS, PAGE, Prot};
use crate::process::Process;

const USER_END: u64 = pagetable::LOWER_HALF_END;

fn page_range(addr: u64, len: u64) -> Option<(u64, u64)> {
    if !addr.is_multiple_of(PAGE) || len == 0 {
        return None;
    }
    let end = addr.checked_add(len)?.checked_next_multiple_of(PAGE)?;
    (end <= USER_END).then_some((addr, end))
}

pub(super) async fn mmap(p: &mut Process, a: Args) -> SysResult {
    let (addr, len, prot, flags, fd, offset) = (a.get(0), a.get(1), a.uint(2), a.uint(3), a.int(4), a.get(5));
    if len == 0 || !offset.is_multiple_of(PAGE) {
        return Err(errno::EINVAL);
    }
    let kind = flags & (MAP_SHARED | MAP_PRIVATE);
    if kind == 0 || kind == (MAP_SHARED | MAP_PRIVATE) {
        return Err(errno::EINVAL);
    }
    let len = len.checked_next_multiple_of(PAGE).ok_or(errno::ENOMEM)?;
    let backing = if flags & MAP_ANONYMOUS != 0 {
        Backing::Zero
    } else {
        let file = p.files.get(fd)?;
        let regular = matches!(&file.node.kind, Kind::File(_)) || matches!(&file.node.kind, Kind::Disk(d) if d.is_file());
        if !regular {
            return Err(errno::ENODEV);
        }
        if kind == MAP_SHARED && prot & linux::flags::mman::PROT_WRITE != 0 {
            // Writes through a shared mapping would have to reach the file.
            return Err(errno::ENODEV);
        }
        // A file on a volume is read whole: a private mapping of what it
        // held at the call.
        let data = crate::fs::ops::file_bytes(&file.node).await?;
        Backing::Bytes { size: (data.len() as u64).saturating_sub(offset), data, vaddr: 0, offset }
    };
    let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
    let start = if fixed {
        let (start, end) = page_range(addr, len).ok_or(errno::EINVAL)?;
        if start < MIN_ADDRESS {
            return Err(errno::EPERM);
        }
        if !p.memory.is_free(start, end) {
            if flags & MAP_FIXED_NOREPLACE != 0 {
                return Err(errno::EEXIST);
            }
            p.memory.remove(start, end).await;
        }
        start
    } else {
        match page_range(addr, len) {
            Some((s, e)) if s >= MIN_ADDRESS && p.memory.is_free(s, e) => s,
            _ => p.memory.find_free(len).ok_or(errno::ENOMEM)?,
        }
    };
    let backing = match backing {
        Backing::Bytes { data, offset, size, .. } => Backing::Bytes { data, vaddr: start, offset, size: size.min(len) },
        zero => zero,
    };
    p.memory.add(start, start + len, Prot::from_bits(prot), backing);
    Ok(start)
}

pub(super) async fn munmap(p: &mut Process, a: Args) -> SysResult {
    let (start, end) = page_range(a.get(0), a.get(1)).ok_or(errno::EINVAL)?;
    p.memory.remove(start, end).await;
    Ok(0)
}

pub(super) async fn mprotect(p: &mut Process, a: Args) -> SysResult {
    let (start, end) = page_range(a.get(0), a.get(1)).ok_or(errno::EINVAL)?;
    p.memory.protect(start, end, Prot::from_bits(a.uint(2))).await?;
    Ok(0)
}
