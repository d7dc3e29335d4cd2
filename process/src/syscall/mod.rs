//! The Linux system-call ABI: number in RAX, arguments in RDI, RSI, RDX,
//! R10, R8, R9, the result (or `-errno`) back in RAX.
//!
//! Calls that never wait are answered in [`handle`]'s first step (no
//! future is made: the null call costs a match and a return); the rest are
//! `async fn`s awaited by the thread's task, after the thread's FPU state
//! is saved (the task may leave the CPU while it waits). Every argument is
//! checked: pointers through `user`'s copies, descriptors through the
//! table, lengths and flags against what the call allows.
//!
//! An unknown call answers ENOSYS and is logged once per call number,
//! with the program's name.

mod epoll;
pub(crate) mod fast;
mod file;
mod futex;
mod inet;
mod info;
mod mem;
mod mount;
mod msg;
mod path;
mod poll;
mod proc;
mod signals;
mod socket;
mod tty;
mod udp;
mod unix;

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

use futures_util::future::Either;

use kernel::arch::user_mode::UserContext;
use linux::errno::{self, Errno};
use linux::nr;

use crate::process::{ExitStatus, Process};
use crate::signal;

/// Whether SA_RESTART restarts call `nr` (sleeps and waits for events
/// answer EINTR regardless, as on Linux).
fn restartable(nr: u64) -> bool {
    !matches!(
        nr,
        nr::NANOSLEEP
            | nr::CLOCK_NANOSLEEP
            | nr::RT_SIGSUSPEND
            | nr::PAUSE
            | nr::POLL
            | nr::PPOLL
            | nr::SELECT
            | nr::PSELECT6
            | nr::EPOLL_WAIT
            | nr::EPOLL_PWAIT
    )
}

/// What the thread does after a call.
pub enum Flow {
    /// Back to the program at once (the call did not wait).
    Continue,
    /// Back to the program, after a call that may have waited.
    Resumed,
    /// The process ends.
    Exit(ExitStatus),
    /// The thread moves to another CPU (`sched_setaffinity`).
    Migrate(kernel::arch::cpu_id::CpuId),
}

/// A call's result.
pub(crate) type SysResult = Result<u64, Errno>;

/// The six arguments.
#[derive(Clone, Copy)]
pub(crate) struct Args([u64; 6]);

impl Args {
    fn get(&self, i: usize) -> u64 {
        self.0[i]
    }
    fn int(&self, i: usize) -> i32 {
        self.0[i] as i32
    }
    fn uint(&self, i: usize) -> u32 {
        self.0[i] as u32
    }
}

/// Handles the system call the thread trapped with.
pub async fn handle(p: &mut Process, ctx: &mut UserContext) -> Flow {
    let f = &ctx.frame;
    let nr = f.rax;
    let a = Args([f.rdi, f.rsi, f.rdx, f.r10, f.r8, f.r9]);
    crate::fs::procfs::set_caller(p.pid());
    if nr == nr::SCHED_SETAFFINITY {
        match info::sched_setaffinity(p, a) {
            Ok(Some(cpu)) => {
                ctx.frame.rax = 0;
                return Flow::Migrate(cpu);
            }
            r => {
                ctx.frame.rax = linux::errno::to_rax(r.map(|_| 0));
                return Flow::Continue;
            }
        }
    }
    let result = match quick(p, ctx, nr, a) {
        Some(Ok(Err(busy))) if busy == crate::fs::BUSY => {
            let r = quick_again(p, ctx, nr, a).await;
            trace(p, nr, r);
            ctx.frame.rax = linux::errno::to_rax(r);
            return Flow::Resumed;
        }
        Some(Ok(r)) => r,
        Some(Err(status)) => return Flow::Exit(status),
        None if is_file_call(nr) || transfers_on_disk(p, nr, a) => {
            let r = if is_file_call(nr) { file_call(p, nr, a).await } else { slow(p, ctx, nr, a).await };
            crate::fs::procfs::set_caller(p.pid());
            trace(p, nr, r);
            ctx.frame.rax = linux::errno::to_rax(r);
            return Flow::Resumed;
        }
        None => {
            // Calls that wait with another signal mask take it before the
            // race, so that a signal it unblocks ends the wait.
            let masked_call = match nr {
                nr::RT_SIGSUSPEND => signals::begin_suspend(p, a),
                nr::PPOLL => poll::apply_mask(p, a.get(3)),
                nr::EPOLL_PWAIT => epoll::check_mask_size(a.get(4), a.get(5)).and_then(|()| poll::apply_mask(p, a.get(4))),
                nr::PSELECT6 if a.get(5) != 0 => user_mask_pointer(p, a.get(5)).and_then(|m| poll::apply_mask(p, m)),
                _ => Ok(()),
            };
            if let Err(e) = masked_call {
                ctx.frame.rax = linux::errno::to_rax(Err(e));
                return Flow::Resumed;
            }
            // Raced against a signal: one that is neither blocked nor
            // ignored cancels the call (its future is dropped) and is
            // settled at delivery (EINTR, or a restart).
            let info = Arc::clone(&p.info);
            info.waiting_in.store(nr + 1, Ordering::Relaxed);
            let masked = (p.sigmask & !signal::UNBLOCKABLE) | p.ignored;
            let r = {
                let call = core::pin::pin!(slow(p, ctx, nr, a));
                let arrival = core::pin::pin!(signal::arrival(info, masked));
                match futures_util::future::select(call, arrival).await {
                    Either::Left((r, _)) => Some(r),
                    Either::Right(_) => None,
                }
            };
            p.info.waiting_in.store(0, Ordering::Relaxed);
            crate::fs::procfs::set_caller(p.pid());
            if matches!(nr, nr::BRK | nr::MMAP | nr::MUNMAP) {
                p.info.vsize.store(p.memory.virtual_size(), Ordering::Relaxed);
            }
            let r = r.unwrap_or_else(|| {
                p.interrupted = Some(signal::Interrupted { nr, restartable: restartable(nr) });
                Err(errno::EINTR)
            });
            trace(p, nr, r);
            if r == Err(errno::EPIPE)
                && matches!(nr, nr::WRITE | nr::WRITEV | nr::PWRITE64 | nr::SENDFILE)
                && !p.files.get(a.int(0)).is_ok_and(|f| f.pipe_without_signal())
            {
                signal::send(&p.info, signal::sig::SIGPIPE);
            }
            ctx.frame.rax = linux::errno::to_rax(r);
            return Flow::Resumed;
        }
    };
    trace(p, nr, result);
    ctx.frame.rax = linux::errno::to_rax(result);
    Flow::Continue
}

/// A quick call that found a file system token busy (it changed nothing:
/// `fs::BUSY`), run again after a grace period until it did not. Not raced
/// against signals: the hold it waits out ends within a poll of another
/// CPU, and `stat` or `open` of a file in memory never answers EINTR.
async fn quick_again(p: &mut Process, ctx: &mut UserContext, nr: u64, a: Args) -> SysResult {
    loop {
        crate::fs::busy_wait().await;
        match quick(p, ctx, nr, a) {
            Some(Ok(r)) if r != Err(crate::fs::BUSY) => return r,
            Some(Ok(_)) => {}
            // A call that answered BUSY is a file system call: it neither
            // exits nor waits, so neither comes back here.
            Some(Err(_)) | None => unreachable!("call {nr} answered BUSY, then asked to exit or wait"),
        }
    }
}

/// `pselect6`'s sixth argument points at {mask pointer, size}.
fn user_mask_pointer(p: &mut Process, at: u64) -> Result<u64, Errno> {
    crate::user::read_u64(&mut p.memory, at)
}

/// Logs a call's result at trace level (`log::set_max_level(Trace)` makes
/// the kernel an strace of every program).
#[inline(always)]
fn trace(p: &Process, nr: u64, r: SysResult) {
    if log::max_level() < log::LevelFilter::Trace {
        return;
    }
    match r {
        Ok(v) => log::trace!("{} (pid {}): {} = {v:#x}", p.name(), p.pid(), nr::name(nr).unwrap_or("?")),
        Err(e) => log::trace!("{} (pid {}): {} = -{}", p.name(), p.pid(), nr::name(nr).unwrap_or("?"), e.name()),
    }
}

/// Calls that never wait; `None` for the others. `Some(Err(status))`:
/// the process exits.
fn quick(p: &mut Process, ctx: &mut UserContext, nr: u64, a: Args) -> Option<Result<SysResult, ExitStatus>> {
    let r = match nr {
        nr::EXIT | nr::EXIT_GROUP => return Some(Err(ExitStatus::Exited(a.get(0) as u8))),
        nr::GETPID | nr::GETTID => Ok(u64::from(p.pid())),
        nr::GETPPID => Ok(u64::from(p.info.ppid.load(Ordering::Relaxed))),
        nr::GETUID | nr::GETEUID | nr::GETGID | nr::GETEGID => Ok(0),
        nr::GETPGRP => Ok(u64::from(p.info.pgid.load(Ordering::Relaxed))),
        nr::ARCH_PRCTL => info::arch_prctl(p, ctx, a),
        nr::SET_TID_ADDRESS => {
            p.clear_child_tid = a.get(0);
            Ok(u64::from(p.pid()))
        }
        nr::SET_ROBUST_LIST => {
            if a.get(1) != 24 {
                Err(errno::EINVAL)
            } else {
                Ok(0)
            }
        }
        nr::UNAME => info::uname(p, a),
        nr::SYSINFO => info::sysinfo(p, a),
        nr::GETCPU => info::getcpu(p, a),
        nr::SCHED_GETAFFINITY => info::sched_getaffinity(p, a),
        nr::CLOCK_GETTIME => info::clock_gettime(p, a),
        nr::GETTIMEOFDAY => info::gettimeofday(p, a),
        nr::TIME => info::time(p, a),
        nr::PRLIMIT64 => info::prlimit(p, a),
        nr::GETRLIMIT => info::getrlimit(p, a),
        nr::RT_SIGACTION => info::rt_sigaction(p, a),
        nr::RT_SIGPROCMASK => info::rt_sigprocmask(p, a),
        nr::SCHED_YIELD => return None,
        nr::UMASK => Ok(0o022),
        nr::READ | nr::WRITE => return file::rw_now(p, a, nr == nr::WRITE).map(Ok),
        nr::GETCWD => path::getcwd(p, a),
        nr::CLOSE => p.files.close(a.int(0)).map(|()| 0),
        nr::DUP => file::dup(p, a),
        nr::DUP2 => file::dup2(p, a.int(0), a.int(1), 0),
        nr::DUP3 => file::dup2(p, a.int(0), a.int(1), a.uint(2)),
        nr::FCNTL => file::fcntl(p, a),
        nr::RSEQ => Err(errno::ENOSYS),
        nr::RT_SIGRETURN => signal::sigreturn(p, ctx).map(|()| ctx.frame.rax),
        nr::KILL => signals::kill(p, a.int(0), a.get(1)),
        nr::TKILL => signals::kill(p, a.int(0), a.get(1)),
        nr::TGKILL => signals::kill(p, a.int(1), a.get(2)),
        nr::RT_SIGPENDING => signals::sigpending(p, a),
        nr::SETPGID => signals::setpgid(p, a.int(0), a.int(1)),
        nr::GETPGID => signals::getpgid(p, a.int(0)),
        nr::SETSID => signals::setsid(p),
        nr::GETSID => signals::getsid(p, a.int(0)),
        nr::ALARM => signals::alarm(p, a.get(0)),
        nr::SETITIMER => signals::setitimer(p, a),
        nr::GETITIMER => signals::getitimer(p, a),
        nr::PRCTL => info::prctl(p, a),
        _ => return None,
    };
    Some(Ok(r))
}

/// Calls on files by path or descriptor that may reach a mounted volume:
/// `async fn`s, not raced against signals (a disk request is not
/// interrupted, as on Linux; a path in memory resolves without waiting).
fn is_file_call(nr: u64) -> bool {
    matches!(
        nr,
        nr::CHDIR
            | nr::LSEEK
            | nr::FSTAT
            | nr::STAT
            | nr::LSTAT
            | nr::NEWFSTATAT
            | nr::OPEN
            | nr::OPENAT
            | nr::GETDENTS64
            | nr::READLINK
            | nr::READLINKAT
            | nr::MKDIR
            | nr::MKDIRAT
            | nr::UNLINK
            | nr::RMDIR
            | nr::UNLINKAT
            | nr::RENAME
            | nr::RENAMEAT
            | nr::RENAMEAT2
            | nr::SYMLINK
            | nr::SYMLINKAT
            | nr::LINK
            | nr::LINKAT
            | nr::CHMOD
            | nr::FCHMODAT
            | nr::FCHMOD
            | nr::CHOWN
            | nr::LCHOWN
            | nr::FCHOWNAT
            | nr::FCHOWN
            | nr::UTIMENSAT
            | nr::TRUNCATE
            | nr::FTRUNCATE
            | nr::FALLOCATE
            | nr::FSYNC
            | nr::FDATASYNC
            | nr::SYNC
            | nr::SYNCFS
            | nr::ACCESS
            | nr::FACCESSAT
            | nr::FACCESSAT2
            | nr::STATFS
            | nr::FSTATFS
            | nr::MOUNT
            | nr::UMOUNT2
    )
}

/// Whether call `nr` reads or writes a file on a mounted volume: not raced
/// against signals either (a write a signal cut short would have reached
/// the volume and then be made again by a restart; Linux does not
/// interrupt regular files' transfers).
fn transfers_on_disk(p: &Process, nr: u64, a: Args) -> bool {
    let on_disk = |fd: i32| p.files.get(fd).is_ok_and(|f| matches!(f.node.kind, crate::fs::Kind::Disk(_)));
    match nr {
        nr::READ | nr::WRITE | nr::READV | nr::WRITEV | nr::PREAD64 | nr::PWRITE64 => on_disk(a.int(0)),
        nr::SENDFILE => on_disk(a.int(0)) || on_disk(a.int(1)),
        _ => false,
    }
}

/// The calls [`is_file_call`] names.
async fn file_call(p: &mut Process, nr: u64, a: Args) -> SysResult {
    use linux::flags::{AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW};
    match nr {
        nr::CHDIR => path::chdir(p, a).await,
        nr::LSEEK => file::lseek(p, a).await,
        nr::FSTAT => path::fstat(p, a).await,
        nr::STAT => path::stat_at(p, AT_FDCWD, a.get(0), a.get(1), 0).await,
        nr::LSTAT => path::stat_at(p, AT_FDCWD, a.get(0), a.get(1), AT_SYMLINK_NOFOLLOW).await,
        nr::NEWFSTATAT => path::stat_at(p, a.int(0), a.get(1), a.get(2), a.uint(3)).await,
        nr::OPEN => path::open_at(p, AT_FDCWD, a.get(0), a.uint(1), a.uint(2)).await,
        nr::OPENAT => path::open_at(p, a.int(0), a.get(1), a.uint(2), a.uint(3)).await,
        nr::GETDENTS64 => path::getdents64(p, a).await,
        nr::READLINK => path::readlink_at(p, AT_FDCWD, a.get(0), a.get(1), a.get(2)).await,
        nr::READLINKAT => path::readlink_at(p, a.int(0), a.get(1), a.get(2), a.get(3)).await,
        nr::MKDIR => path::mkdir_at(p, AT_FDCWD, a.get(0), a.uint(1)).await,
        nr::MKDIRAT => path::mkdir_at(p, a.int(0), a.get(1), a.uint(2)).await,
        nr::UNLINK => path::unlink_at(p, AT_FDCWD, a.get(0), 0).await,
        nr::RMDIR => path::unlink_at(p, AT_FDCWD, a.get(0), AT_REMOVEDIR).await,
        nr::UNLINKAT => path::unlink_at(p, a.int(0), a.get(1), a.uint(2)).await,
        nr::RENAME => path::rename_at(p, AT_FDCWD, a.get(0), AT_FDCWD, a.get(1), 0).await,
        nr::RENAMEAT => path::rename_at(p, a.int(0), a.get(1), a.int(2), a.get(3), 0).await,
        nr::RENAMEAT2 => path::rename_at(p, a.int(0), a.get(1), a.int(2), a.get(3), a.uint(4)).await,
        nr::SYMLINK => path::symlink_at(p, a.get(0), AT_FDCWD, a.get(1)).await,
        nr::SYMLINKAT => path::symlink_at(p, a.get(0), a.int(1), a.get(2)).await,
        nr::LINK => path::link_at(p, AT_FDCWD, a.get(0), AT_FDCWD, a.get(1), 0).await,
        nr::LINKAT => path::link_at(p, a.int(0), a.get(1), a.int(2), a.get(3), a.uint(4)).await,
        nr::CHMOD => path::chmod_at(p, AT_FDCWD, a.get(0), a.uint(1)).await,
        nr::FCHMODAT => path::chmod_at(p, a.int(0), a.get(1), a.uint(2)).await,
        nr::FCHMOD => path::fchmod(p, a.int(0), a.uint(1)).await,
        nr::CHOWN => path::chown_at(p, AT_FDCWD, a.get(0), a.uint(1), a.uint(2), 0).await,
        nr::LCHOWN => path::chown_at(p, AT_FDCWD, a.get(0), a.uint(1), a.uint(2), AT_SYMLINK_NOFOLLOW).await,
        nr::FCHOWNAT => path::chown_at(p, a.int(0), a.get(1), a.uint(2), a.uint(3), a.uint(4)).await,
        nr::FCHOWN => path::fchown(p, a.int(0), a.uint(1), a.uint(2)).await,
        nr::UTIMENSAT => path::utimens_at(p, a.int(0), a.get(1), a.get(2), a.uint(3)).await,
        nr::TRUNCATE => path::truncate(p, a.get(0), a.get(1)).await,
        nr::FTRUNCATE => path::ftruncate(p, a.int(0), a.get(1)).await,
        nr::FALLOCATE => path::fallocate(p, a.int(0), a.uint(1), a.get(2), a.get(3)).await,
        nr::FSYNC | nr::FDATASYNC | nr::SYNCFS => mount::fsync(p, a.int(0)).await,
        nr::SYNC => mount::sync_all().await,
        nr::ACCESS => path::access_at(p, AT_FDCWD, a.get(0)).await,
        nr::FACCESSAT | nr::FACCESSAT2 => path::access_at(p, a.int(0), a.get(1)).await,
        nr::STATFS => mount::statfs(p, a.get(0), a.get(1)).await,
        nr::FSTATFS => mount::fstatfs(p, a.int(0), a.get(1)).await,
        nr::MOUNT => mount::mount(p, a).await,
        nr::UMOUNT2 => mount::umount2(p, a.get(0), a.uint(1)).await,
        _ => unreachable!("is_file_call names only these"),
    }
}

/// Calls that may wait.
async fn slow(p: &mut Process, ctx: &mut UserContext, nr: u64, a: Args) -> SysResult {
    const SIGCHLD: u64 = 17;
    match nr {
        nr::FORK => proc::clone(p, ctx, SIGCHLD, 0, 0, 0, 0).await,
        nr::VFORK => proc::clone(p, ctx, 0x100 | 0x4000 | SIGCHLD, 0, 0, 0, 0).await,
        nr::CLONE => proc::clone(p, ctx, a.get(0), a.get(1), a.get(2), a.get(3), a.get(4)).await,
        nr::EXECVE => proc::execve(p, ctx, a.get(0), a.get(1), a.get(2)).await,
        nr::WAIT4 => proc::wait4(p, a.int(0), a.get(1), a.uint(2), a.get(3)).await,
        nr::WAITID => proc::waitid(p, a.uint(0), a.uint(1), a.get(2), a.uint(3), a.get(4)).await,
        nr::PIPE => file::pipe(p, a.get(0), 0),
        nr::SENDFILE => file::sendfile(p, a).await,
        nr::IOCTL => tty::ioctl(p, a).await,
        nr::POLL => poll::poll(p, a.get(0), a.get(1), a.int(2)).await,
        nr::PPOLL => poll::ppoll(p, a.get(0), a.get(1), a.get(2), a.get(3)).await,
        nr::SELECT => {
            let timeout = poll::read_timeval(p, a.get(4))?;
            poll::select_fds(p, a.int(0), [a.get(1), a.get(2), a.get(3)], timeout).await
        }
        nr::PSELECT6 => poll::pselect6(p, a.int(0), [a.get(1), a.get(2), a.get(3)], a.get(4), a.get(5)).await,
        nr::PIPE2 => file::pipe(p, a.get(0), a.uint(1)),
        nr::EPOLL_CREATE => epoll::create(p, a.int(0)),
        nr::EPOLL_CREATE1 => epoll::create1(p, a.uint(0)),
        nr::EPOLL_CTL => epoll::ctl(p, a.int(0), a.uint(1), a.int(2), a.get(3)).await,
        nr::EPOLL_WAIT => epoll::wait(p, a.int(0), a.get(1), a.int(2), a.int(3)).await,
        nr::EPOLL_PWAIT => {
            let r = epoll::wait(p, a.int(0), a.get(1), a.int(2), a.int(3)).await;
            poll::restore_mask(p);
            r
        }
        nr::SOCKET => inet::socket(p, a),
        nr::BIND => inet::bind(p, a).await,
        nr::LISTEN => inet::listen(p, a).await,
        nr::ACCEPT => inet::accept4(p, a, 0).await,
        nr::ACCEPT4 => inet::accept4(p, a, a.uint(3)).await,
        nr::CONNECT => inet::connect(p, a).await,
        nr::SOCKETPAIR => socket::socketpair(p, a),
        nr::SHUTDOWN => socket::shutdown(p, a).await,
        nr::SENDTO => socket::sendto(p, a).await,
        nr::RECVFROM => socket::recvfrom(p, a).await,
        nr::FUTEX => futex::futex(p, a).await,
        nr::SENDMSG => msg::sendmsg(p, a).await,
        nr::RECVMSG => msg::recvmsg(p, a).await,
        nr::GETSOCKNAME => socket::name(p, a, false),
        nr::GETPEERNAME => socket::name(p, a, true),
        nr::GETSOCKOPT => socket::getsockopt(p, a),
        nr::SETSOCKOPT => socket::setsockopt(p, a).await,
        nr::READ => file::read(p, a).await,
        nr::WRITE => file::write(p, a).await,
        nr::READV => file::readv(p, a).await,
        nr::WRITEV => file::writev(p, a).await,
        nr::PREAD64 => file::pread(p, a).await,
        nr::PWRITE64 => file::pwrite(p, a).await,
        nr::BRK => Ok(p.memory.set_brk(a.get(0)).await),
        nr::MMAP => mem::mmap(p, a).await,
        nr::MUNMAP => mem::munmap(p, a).await,
        nr::MPROTECT => mem::mprotect(p, a).await,
        nr::NANOSLEEP => info::nanosleep(p, a.get(0), a.get(1)).await,
        nr::CLOCK_NANOSLEEP => info::clock_nanosleep(p, a).await,
        nr::GETRANDOM => info::getrandom(p, a).await,
        nr::RT_SIGSUSPEND | nr::PAUSE => futures_util::future::pending().await,
        nr::SCHED_YIELD => {
            kernel::exec::yield_now().await;
            Ok(0)
        }
        _ => Err(unknown(p, nr)),
    }
}

/// Call numbers already logged as unknown (bit per number below 512).
static LOGGED: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

fn unknown(p: &Process, nr: u64) -> Errno {
    let first = match LOGGED.get((nr / 64) as usize) {
        Some(word) => word.fetch_or(1 << (nr % 64), Ordering::Relaxed) & (1 << (nr % 64)) == 0,
        None => true,
    };
    if first {
        log::warn!(
            "{} (pid {}): system call {nr} ({}) is not implemented: ENOSYS",
            p.name(),
            p.pid(),
            nr::name(nr).unwrap_or("unknown to Linux")
        );
    }
    errno::ENOSYS
}
