//! Processes: `fork`/`vfork`/`clone` (as libc's `fork` and `posix_spawn`
//! call it), `execve`, `wait4`.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use kernel::arch::user_mode::UserContext;
use linux::errno;

use super::SysResult;
use crate::family::{self, Child, ExitCell, Which};
use crate::process::Process;
use crate::{image, user};

const CLONE_VM: u64 = 0x100;
const CLONE_FS: u64 = 0x200;
const CLONE_FILES: u64 = 0x400;
const CLONE_SIGHAND: u64 = 0x800;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_THREAD: u64 = 0x10000;
const CLONE_SETTLS: u64 = 0x80000;
const CLONE_PARENT_SETTID: u64 = 0x100000;
const CLONE_CHILD_CLEARTID: u64 = 0x200000;
const CLONE_CHILD_SETTID: u64 = 0x1000000;
/// The low byte: the signal the parent gets at the child's exit.
const CSIGNAL: u64 = 0xff;

/// `clone(flags, stack, parent_tid, child_tid, tls)`; `fork` and `vfork`
/// are `clone(SIGCHLD)` and `clone(CLONE_VM | CLONE_VFORK | SIGCHLD)`.
///
/// A new process always gets a copy of the caller's memory: `CLONE_VM` is
/// taken only with `CLONE_VFORK` (`vfork`, `posix_spawn`), whose child
/// only execs or exits, and for which a copy is a correct (slower) answer.
/// Threads (`CLONE_THREAD`, `CLONE_SIGHAND`, a shared `CLONE_VM`) are not
/// supported yet: EINVAL.
pub(super) async fn clone(p: &mut Process, ctx: &mut UserContext, flags: u64, stack: u64, ptid: u64, ctid: u64, tls: u64) -> SysResult {
    let known = CSIGNAL
        | CLONE_VM
        | CLONE_FS
        | CLONE_FILES
        | CLONE_SIGHAND
        | CLONE_VFORK
        | CLONE_THREAD
        | CLONE_SETTLS
        | CLONE_PARENT_SETTID
        | CLONE_CHILD_CLEARTID
        | CLONE_CHILD_SETTID;
    if flags & !known != 0 || flags & (CLONE_THREAD | CLONE_SIGHAND | CLONE_FILES | CLONE_FS) != 0 {
        log::warn!("{} (pid {}): clone flags {flags:#x} (threads or shared tables) are not supported: EINVAL", p.name(), p.pid());
        return Err(errno::EINVAL);
    }
    if flags & CLONE_VM != 0 && flags & CLONE_VFORK == 0 {
        log::warn!("{} (pid {}): clone with a shared address space is not supported: EINVAL", p.name(), p.pid());
        return Err(errno::EINVAL);
    }
    if crate::process::Process::count() >= crate::max_processes() {
        return Err(errno::EAGAIN);
    }
    let memory = p.memory.fork().await?;
    let mut context = Box::new(ctx.duplicate());
    context.frame.rax = 0;
    if stack != 0 {
        context.frame.rsp = stack;
    }
    if flags & CLONE_SETTLS != 0 {
        if tls >= pagetable::LOWER_HALF_END {
            return Err(errno::EPERM);
        }
        context.set_fs_base(tls);
    }
    let mut child = Process::new(p.pid(), memory, p.files.clone(), p.cwd.clone(), p.info.program.get());
    child.sigactions = p.sigactions.clone();
    child.sigmask = p.sigmask;
    child.ignored = p.ignored;
    child.info.no_child_stop.store(p.info.no_child_stop.load(Ordering::Relaxed), Ordering::Relaxed);
    child.info.pgid.store(p.info.pgid.load(Ordering::Relaxed), Ordering::Relaxed);
    child.info.sid.store(p.info.sid.load(Ordering::Relaxed), Ordering::Relaxed);
    child.ctty = p.ctty.clone();
    if flags & CLONE_CHILD_SETTID != 0 {
        child.set_child_tid = Some(ctid);
    }
    if flags & CLONE_CHILD_CLEARTID != 0 {
        child.clear_child_tid = ctid;
    }
    let pid = child.pid();
    if flags & CLONE_PARENT_SETTID != 0 {
        user::write_i32(&mut p.memory, ptid, pid as i32)?;
    }
    let cell = ExitCell::new(&p.events, &p.info);
    child.exit_cell = Some(Arc::clone(&cell));
    p.children.push(Child { info: Arc::clone(&child.info), cell });
    let cpu = crate::sched::place();
    child.info.cpu.store(cpu.as_u32(), Ordering::Relaxed);
    drop(kernel::run_on::spawn_made_on(cpu, "user", move || crate::thread::run(child, context)));
    Ok(u64::from(pid))
}

/// Most argument and environment strings `execve` takes.
const MAX_ARGS: usize = 32 * 1024;

/// `execve(path, argv, envp)`: the process runs another program. Nothing
/// of the old one is touched until the new one has loaded.
pub(super) async fn execve(p: &mut Process, ctx: &mut UserContext, path: u64, argv: u64, envp: u64) -> SysResult {
    let path = user::read_path(&mut p.memory, path)?;
    let argv = user::read_string_array(&mut p.memory, argv, MAX_ARGS, image::ARG_MAX)?;
    let envp = user::read_string_array(&mut p.memory, envp, MAX_ARGS, image::ARG_MAX)?;
    let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    let envp: Vec<&[u8]> = envp.iter().map(Vec::as_slice).collect();
    let loaded = image::load(&p.cwd, &path, &argv, &envp).await?;
    // The point of no return.
    p.memory = loaded.memory;
    *ctx = *loaded.context;
    p.files.close_on_exec();
    p.set_program(loaded.path, loaded.name, &loaded.argv.iter().map(Vec::as_slice).collect::<Vec<_>>());
    // Handlers point into the old program: back to the default action
    // (ignored signals stay ignored).
    for action in p.sigactions.iter_mut() {
        if action[0] != 1 {
            *action = [0; 4];
        }
    }
    p.ignored = crate::signal::ignored(p);
    if p.sigactions[usize::from(crate::signal::sig::SIGCHLD - 1)][0] == 0 {
        p.info.no_child_stop.store(false, Ordering::Relaxed);
    }
    Ok(0)
}

const WNOHANG: u32 = 1;
const WUNTRACED: u32 = 2;
const WEXITED: u32 = 4;
const WCONTINUED: u32 = 8;
const WNOWAIT: u32 = 0x0100_0000;
const WALL: u32 = 0x4000_0000;
const WCLONE: u32 = 0x8000_0000;

/// The children `wait4`'s pid selects: one, any (-1), the caller's group
/// (0), or group -pid.
fn which(p: &Process, pid: i32) -> Which {
    match pid {
        -1 => Which::Any,
        0 => Which::Group(p.info.pgid.load(Ordering::Relaxed)),
        p if p > 0 => Which::Pid(p as u32),
        g => Which::Group(g.unsigned_abs()),
    }
}

/// Waits as `want` says (WNOHANG: `None` at once if nothing has changed).
/// With SIGCHLD set to SIG_IGN, children are reaped as they end and an
/// exit is never reported: a wait for one lasts until none is left (then
/// ECHILD), as on Linux.
async fn wait_for(p: &mut Process, want: family::Want, nohang: bool) -> Result<Option<family::Found>, errno::Errno> {
    let want = family::Want { discard_exits: crate::signal::ignored_explicitly(p, crate::signal::sig::SIGCHLD), ..want };
    if nohang {
        family::reap(&mut p.children, want).map_err(|family::NoChild| errno::ECHILD)
    } else {
        family::wait(&mut p.children, &p.events, want).await.map(Some).map_err(|family::NoChild| errno::ECHILD)
    }
}

/// `wait4(pid, status, options, rusage)`.
pub(super) async fn wait4(p: &mut Process, pid: i32, status: u64, options: u32, rusage: u64) -> SysResult {
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WALL | WCLONE) != 0 {
        return Err(errno::EINVAL);
    }
    let want = family::Want {
        which: which(p, pid),
        exited: true,
        stopped: options & WUNTRACED != 0,
        continued: options & WCONTINUED != 0,
        keep: false,
        discard_exits: false,
    };
    let Some(found) = wait_for(p, want, options & WNOHANG != 0).await? else { return Ok(0) };
    if status != 0 {
        user::write_i32(&mut p.memory, status, found.status as i32)?;
    }
    if rusage != 0 {
        user::write(&mut p.memory, rusage, &[0u8; 144])?;
    }
    Ok(u64::from(found.pid))
}

/// `waitid(idtype, id, infop, options, rusage)`: as `wait4`, with the
/// change told in a `siginfo_t` (si_code CLD_*, si_pid, si_uid, si_status).
pub(super) async fn waitid(p: &mut Process, idtype: u32, id: u32, infop: u64, options: u32, rusage: u64) -> SysResult {
    const P_ALL: u32 = 0;
    const P_PID: u32 = 1;
    const P_PGID: u32 = 2;
    if options & !(WNOHANG | WUNTRACED | WEXITED | WCONTINUED | WNOWAIT | WALL | WCLONE) != 0
        || options & (WUNTRACED | WEXITED | WCONTINUED) == 0
    {
        return Err(errno::EINVAL);
    }
    let which = match idtype {
        P_ALL => Which::Any,
        P_PID if id > 0 && id <= i32::MAX as u32 => Which::Pid(id),
        P_PGID if id == 0 => Which::Group(p.info.pgid.load(Ordering::Relaxed)),
        P_PGID if id <= i32::MAX as u32 => Which::Group(id),
        _ => return Err(errno::EINVAL),
    };
    let want = family::Want {
        which,
        exited: options & WEXITED != 0,
        stopped: options & WUNTRACED != 0,
        continued: options & WCONTINUED != 0,
        keep: options & WNOWAIT != 0,
        discard_exits: false,
    };
    // As on Linux, the siginfo is written even when nothing is found or
    // there is no child (then zeroed): a bad pointer answers EFAULT first.
    let found = wait_for(p, want, options & WNOHANG != 0).await;
    if infop != 0 {
        user::write(&mut p.memory, infop, &siginfo_of(*found.as_ref().unwrap_or(&None)))?;
    }
    found?;
    if rusage != 0 {
        user::write(&mut p.memory, rusage, &[0u8; 144])?;
    }
    Ok(0)
}

/// The `siginfo_t` (128 bytes) `waitid` fills for `found` (all zero for
/// nothing found, as Linux leaves it under WNOHANG).
fn siginfo_of(found: Option<family::Found>) -> [u8; 128] {
    const CLD_EXITED: i32 = 1;
    const CLD_KILLED: i32 = 2;
    const CLD_STOPPED: i32 = 5;
    const CLD_CONTINUED: i32 = 6;
    let mut info = [0u8; 128];
    let Some(f) = found else { return info };
    let (code, value) = if f.status == family::CONTINUED {
        (CLD_CONTINUED, i32::from(crate::signal::sig::SIGCONT))
    } else if f.status & 0xff == 0x7f {
        (CLD_STOPPED, ((f.status >> 8) & 0xff) as i32)
    } else if f.status & 0x7f == 0 {
        (CLD_EXITED, ((f.status >> 8) & 0xff) as i32)
    } else {
        (CLD_KILLED, (f.status & 0x7f) as i32)
    };
    let mut put = |at: usize, v: i32| info[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put(0, i32::from(crate::signal::sig::SIGCHLD));
    put(8, code);
    put(16, f.pid as i32);
    put(24, value);
    info
}
