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
    let argv: Vec<Vec<u8>> = p.info.cmdline.lock().split(|&b| b == 0).filter(|a| !a.is_empty()).map(<[u8]>::to_vec).collect();
    let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    let mut child = Process::new(p.pid(), memory, p.files.clone(), p.cwd.clone(), p.exe.clone(), p.name(), &argv);
    child.sigactions = p.sigactions;
    child.sigmask = p.sigmask;
    child.ignored = p.ignored;
    child.info.pgid.store(p.info.pgid.load(Ordering::Relaxed), Ordering::Relaxed);
    child.info.sid.store(p.info.sid.load(Ordering::Relaxed), Ordering::Relaxed);
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
    for action in &mut p.sigactions {
        if action[0] != 1 {
            *action = [0; 4];
        }
    }
    p.ignored = crate::signal::ignored(p);
    Ok(0)
}

/// `wait4(pid, status, options, rusage)`.
pub(super) async fn wait4(p: &mut Process, pid: i32, status: u64, options: u32, rusage: u64) -> SysResult {
    const WNOHANG: u32 = 1;
    const WUNTRACED: u32 = 2;
    const WCONTINUED: u32 = 8;
    const WALL: u32 = 0x4000_0000;
    const WCLONE: u32 = 0x8000_0000;
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WALL | WCLONE) != 0 {
        return Err(errno::EINVAL);
    }
    let which = if pid > 0 { Which::Pid(pid as u32) } else { Which::Any };
    if crate::signal::ignored_explicitly(p, crate::signal::sig::SIGCHLD) {
        // SIGCHLD ignored: children are reaped as they end, and a wait
        // lasts until none is left (then ECHILD), as on Linux.
        loop {
            family::discard_exited(&mut p.children);
            if p.children.is_empty() || options & WNOHANG != 0 {
                return if p.children.is_empty() { Err(errno::ECHILD) } else { Ok(0) };
            }
            let _ = family::wait(&mut p.children, &p.events, Which::Any).await;
        }
    }
    let found = if options & WNOHANG != 0 {
        match family::reap(&mut p.children, which) {
            Err(family::NoChild) => return Err(errno::ECHILD),
            Ok(None) => return Ok(0),
            Ok(Some(found)) => found,
        }
    } else {
        family::wait(&mut p.children, &p.events, which).await.map_err(|family::NoChild| errno::ECHILD)?
    };
    let (child, wait_status) = found;
    if status != 0 {
        user::write_i32(&mut p.memory, status, wait_status as i32)?;
    }
    if rusage != 0 {
        user::write(&mut p.memory, rusage, &[0u8; 144])?;
    }
    Ok(u64::from(child))
}
