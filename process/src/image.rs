//! Loading a program: a static ELF executable from the file system, turned
//! into a fresh [`Memory`] (its segments demand-paged from the file's
//! bytes, an empty break, a stack holding argv, envp and the auxiliary
//! vector) and the registers it starts with.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use kernel::arch::user_mode::UserContext;
use linux::errno::{self, Errno};
use loader::stack::{self, Start, at};

use crate::fs::{self, Kind};
use crate::memory::{Backing, Memory, PAGE, PIE_BASE, Prot, STACK_SIZE, STACK_TOP};

/// Bytes argv, envp and the vector may take (Linux: a quarter of the
/// stack limit).
pub const ARG_MAX: usize = (STACK_SIZE / 4) as usize;

/// A loaded program, ready to run.
pub struct Loaded {
    /// Its memory.
    pub memory: Memory,
    /// Its first registers.
    pub context: Box<UserContext>,
    /// The path it was loaded from.
    pub path: String,
    /// Its arguments (those given, or an interpreter's for a `#!` script).
    pub argv: Vec<Vec<u8>>,
    /// Its name (`comm`): the last part of the path `execve` was given.
    pub name: String,
}

/// `#!` lines followed before ELOOP (Linux allows a few levels).
const MAX_INTERPRETERS: usize = 4;

/// Loads the program at `path` (resolved from `cwd`). A file that starts
/// with `#!` runs its interpreter, as on Linux: `interpreter [arg] path
/// argv[1..]`.
pub async fn load(cwd: &str, path: &str, argv: &[&[u8]], envp: &[&[u8]]) -> Result<Loaded, Errno> {
    let name = String::from(path.rsplit('/').next().unwrap_or(path));
    let mut path = String::from(path);
    let mut args: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
    for _ in 0..MAX_INTERPRETERS {
        match read_program(cwd, &path).await? {
            Program::Elf(data) => {
                let argv: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                let mut loaded = load_elf(cwd, &path, data, &argv, envp).await?;
                loaded.argv = args;
                loaded.name = name;
                return Ok(loaded);
            }
            Program::Script { interpreter, arg } => {
                let mut next = Vec::from([interpreter.clone().into_bytes()]);
                next.extend(arg);
                next.push(path.clone().into_bytes());
                next.extend(args.into_iter().skip(1));
                args = next;
                path = interpreter;
            }
        }
    }
    Err(errno::ELOOP)
}

enum Program {
    Elf(Arc<fs::FileBytes>),
    Script { interpreter: String, arg: Option<Vec<u8>> },
}

/// Reads an executable file: its bytes, or its `#!` line.
async fn read_program(cwd: &str, path: &str) -> Result<Program, Errno> {
    let node = fs::lookup(cwd, path, true).await?;
    let regular = matches!(&node.kind, Kind::File(_)) || matches!(&node.kind, Kind::Disk(d) if d.is_file());
    if !regular || fs::ops::stat(&node).await?.mode & 0o111 == 0 {
        return Err(errno::EACCES);
    }
    let bytes = fs::ops::file_bytes(&node).await?;
    if let Some(rest) = bytes.strip_prefix(b"#!") {
        let line = rest.split(|&b| b == b'\n').next().unwrap_or(&[]);
        if line.len() > 255 {
            return Err(errno::ENOEXEC);
        }
        let line = core::str::from_utf8(line).map_err(|_| errno::ENOEXEC)?.trim();
        let (interpreter, arg) = match line.split_once([' ', '\t']) {
            Some((i, a)) => (i, Some(a.trim().as_bytes().to_vec()).filter(|a| !a.is_empty())),
            None => (line, None),
        };
        if interpreter.is_empty() {
            return Err(errno::ENOEXEC);
        }
        return Ok(Program::Script { interpreter: String::from(interpreter), arg });
    }
    Ok(Program::Elf(bytes))
}

async fn load_elf(cwd: &str, path: &str, data: Arc<fs::FileBytes>, argv: &[&[u8]], envp: &[&[u8]]) -> Result<Loaded, Errno> {
    let plan = match loader::plan(&data, PIE_BASE) {
        Ok(p) => p,
        Err(e) => {
            log::debug!("exec {path}: {e:?}");
            return Err(errno::ENOEXEC);
        }
    };
    let mut memory = Memory::new()?;
    for seg in &plan.segments {
        let prot = Prot { read: seg.read, write: seg.write, exec: seg.execute };
        let backing = Backing::Bytes { data: Arc::clone(&data), vaddr: seg.vaddr, offset: seg.file_offset, size: seg.file_size };
        memory.add(seg.first_page(), seg.end_page(), prot, backing);
    }
    memory.set_brk_start(plan.brk);
    memory.add(STACK_TOP - STACK_SIZE, STACK_TOP, Prot::RW, Backing::Zero);

    let mut random = [0u8; 16];
    if fs::random_bytes(&mut random).await.is_err() {
        // No entropy device: the time-stamp counter, mixed. Programs use
        // these bytes for stack canaries and pointer guards only.
        let mut x = kernel::arch::cpu::rdtsc() | 1;
        for b in &mut random {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
    let mut auxv: Vec<(u64, u64)> = Vec::from([
        (at::PHENT, plan.phent),
        (at::PHNUM, plan.phnum),
        (at::PAGESZ, PAGE),
        (at::BASE, 0),
        (at::FLAGS, 0),
        (at::ENTRY, plan.entry),
        (at::UID, 0),
        (at::EUID, 0),
        (at::GID, 0),
        (at::EGID, 0),
        (at::SECURE, 0),
        (at::CLKTCK, 100),
        (at::HWCAP, u64::from(core::arch::x86_64::__cpuid(1).edx)),
    ]);
    if let Some(phdr) = plan.phdr {
        auxv.insert(0, (at::PHDR, phdr));
    }
    let start = Start { argv, envp, auxv: &auxv, random, execfn: path.as_bytes() };
    let initial = stack::build(STACK_TOP, &start, ARG_MAX).map_err(|e| match e {
        stack::StackError::TooBig { .. } => errno::E2BIG,
        _ => errno::EINVAL,
    })?;
    memory.populate(initial.sp, &initial.bytes)?;
    let context = Box::new(UserContext::new(plan.entry, initial.sp));
    let path = fs::realpath(cwd, path).await.unwrap_or_else(|_| fs::normalize(cwd, path));
    Ok(Loaded { memory, context, path, argv: Vec::new(), name: String::new() })
}
