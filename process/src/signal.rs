//! Signals: sending (a bit in the target's pending word, then a wake, and
//! an IPI if its program is running on another CPU), delivery on the way
//! back to user mode (a Linux `rt_sigframe` on the program's stack, or the
//! default action), `rt_sigreturn`, and interrupting a waiting system call
//! by dropping its future.
//!
//! ```text
//! sender (any CPU)         target's Info: pending |= bit; waker.wake();
//!                          IPI to the CPU it runs on (its program traps)
//! target's task            before each entry to user mode: deliver()
//! a waiting system call    raced against `arrival`: a deliverable signal
//!                          drops the call's future; the call answers EINTR,
//!                          or restarts after the handler (SA_RESTART)
//! ```
//!
//! The frame is Linux's x86-64 layout: `pretcode` (the `sa_restorer`),
//! `ucontext` (flags, link, `stack_t`, `sigcontext`, the blocked mask),
//! `siginfo`, then the FXSAVE area `sigcontext.fpstate` points to. What a
//! program writes into it before `rt_sigreturn` is checked like everything
//! else: `user_mode::enter` forces the selectors and flags, and MXCSR's
//! reserved bits are cleared before `fxrstor` could fault on them.

use alloc::sync::Arc;
use core::future::poll_fn;
use core::sync::atomic::Ordering;
use core::task::Poll;

use kernel::arch::user_mode::UserContext;
use linux::errno::{self, Errno};

use crate::process::{ExitStatus, Info, Process};
use crate::user;

/// Numbers the kernel itself sends.
pub mod sig {
    #![allow(missing_docs)]
    pub const SIGHUP: u8 = 1;
    pub const SIGINT: u8 = 2;
    pub const SIGQUIT: u8 = 3;
    pub const SIGILL: u8 = 4;
    pub const SIGTRAP: u8 = 5;
    pub const SIGABRT: u8 = 6;
    pub const SIGBUS: u8 = 7;
    pub const SIGFPE: u8 = 8;
    pub const SIGKILL: u8 = 9;
    pub const SIGSEGV: u8 = 11;
    pub const SIGPIPE: u8 = 13;
    pub const SIGALRM: u8 = 14;
    pub const SIGTERM: u8 = 15;
    pub const SIGCHLD: u8 = 17;
    pub const SIGCONT: u8 = 18;
    pub const SIGSTOP: u8 = 19;
    pub const SIGTSTP: u8 = 20;
    pub const SIGTTIN: u8 = 21;
    pub const SIGTTOU: u8 = 22;
    pub const SIGURG: u8 = 23;
    pub const SIGWINCH: u8 = 28;
}

use sig::*;

/// `sa_handler` values.
pub const SIG_DFL: u64 = 0;
/// Ignore the signal.
pub const SIG_IGN: u64 = 1;
/// `sa_flags` of SIGCHLD: no SIGCHLD for children's stops and continues.
pub const SA_NOCLDSTOP: u64 = 1;
/// `sa_flags`: the handler takes siginfo (always passed here).
pub const SA_SIGINFO: u64 = 4;
/// `sa_flags`: `sa_restorer` is set.
pub const SA_RESTORER: u64 = 0x0400_0000;
/// `sa_flags`: restart interrupted calls.
pub const SA_RESTART: u64 = 0x1000_0000;
/// `sa_flags`: do not block the signal in its handler.
pub const SA_NODEFER: u64 = 0x4000_0000;
/// `sa_flags`: back to the default action once delivered.
pub const SA_RESETHAND: u64 = 0x8000_0000;

/// The bit of `signal` in a mask.
pub const fn bit(signal: u8) -> u64 {
    1 << (signal - 1)
}

/// Signals that can be neither caught, blocked nor ignored.
pub const UNBLOCKABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);

/// What a signal does when its action is the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Default {
    /// End the process.
    Terminate,
    /// Nothing.
    Ignore,
    /// Stop the process until SIGCONT (or SIGKILL).
    Stop,
}

/// The default action of `signal`.
pub fn default_action(signal: u8) -> Default {
    match signal {
        SIGCHLD | SIGCONT | SIGURG | SIGWINCH => Default::Ignore,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => Default::Stop,
        _ => Default::Terminate,
    }
}

/// The signals whose default action stops the process.
pub const STOP_SIGNALS: u64 = bit(SIGSTOP) | bit(SIGTSTP) | bit(SIGTTIN) | bit(SIGTTOU);

/// Signals ignored when every action is the default.
pub const DEFAULT_IGNORED: u64 = bit(SIGCHLD) | bit(SIGCONT) | bit(SIGURG) | bit(SIGWINCH);

/// Signals `p` ignores now (by action or by default): recompute
/// `Process::ignored` with it whenever an action changes.
pub fn ignored(p: &Process) -> u64 {
    let mut mask = 0;
    for s in 1..=64u8 {
        let handler = p.sigactions[usize::from(s - 1)][0];
        if handler == SIG_IGN || (handler == SIG_DFL && default_action(s) == Default::Ignore) {
            mask |= bit(s);
        }
    }
    mask & !UNBLOCKABLE
}

/// Whether the program set `signal`'s action to SIG_IGN itself.
pub fn ignored_explicitly(p: &Process, signal: u8) -> bool {
    p.sigactions[usize::from(signal - 1)][0] == SIG_IGN
}

/// Sends `signal` to the process whose record is `target`.
///
/// As on Linux, a stop signal discards a pending SIGCONT, and SIGCONT
/// discards pending stop signals and continues a stopped process at once
/// (even when SIGCONT itself is blocked or ignored).
pub fn send(target: &Info, signal: u8) {
    if signal == SIGCONT {
        target.pending.fetch_and(!STOP_SIGNALS, Ordering::AcqRel);
        target.continues.fetch_add(1, Ordering::AcqRel);
    } else if bit(signal) & STOP_SIGNALS != 0 {
        target.pending.fetch_and(!bit(SIGCONT), Ordering::AcqRel);
    }
    target.pending.fetch_or(bit(signal), Ordering::AcqRel);
    target.waker.wake();
    // Its program may be running on its CPU: any interrupt makes it trap,
    // and its loop looks at its pending signals before it enters again.
    let cpu = target.cpu.load(Ordering::Relaxed);
    if let Some(cpu) = kernel::arch::cpu_id::CpuId::try_new(cpu as usize)
        && cpu != kernel::smp::current()
    {
        kernel::ipiq::send(cpu, |_, _| {}, 0, executor::ipiq::Urgency::Active);
    }
}

/// Resolves once a signal outside `masked` is pending for `info` (for
/// racing a waiting system call).
pub async fn arrival(info: Arc<Info>, masked: u64) {
    poll_fn(|cx| {
        if info.pending.load(Ordering::Acquire) & !masked != 0 {
            return Poll::Ready(());
        }
        info.waker.register(cx.waker());
        if info.pending.load(Ordering::Acquire) & !masked != 0 { Poll::Ready(()) } else { Poll::Pending }
    })
    .await
}

/// What became of the process after delivery.
pub enum Delivered {
    /// It goes on (maybe in a handler).
    Continue,
    /// A signal ended it.
    Exit(ExitStatus),
    /// A signal stopped it: it waits in [`stopped`] before going on.
    Stop(u8),
}

/// A process stopped by `signal`: tells its parent, waits for SIGCONT (or
/// SIGKILL, which the next delivery acts on), and tells its parent again.
pub async fn stopped(p: &Process, signal: u8) {
    let info = &p.info;
    // A SIGCONT sent from here on continues it.
    let seen = info.continues.load(Ordering::Acquire);
    info.stopped.store(true, Ordering::Relaxed);
    if let Some(cell) = &p.exit_cell {
        cell.changed(Some(signal));
    }
    let resumed = || info.continues.load(Ordering::Acquire) != seen || info.pending.load(Ordering::Acquire) & bit(SIGKILL) != 0;
    poll_fn(|cx| {
        if resumed() {
            return Poll::Ready(());
        }
        info.waker.register(cx.waker());
        if resumed() { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    info.stopped.store(false, Ordering::Relaxed);
    if info.pending.load(Ordering::Acquire) & bit(SIGKILL) == 0
        && let Some(cell) = &p.exit_cell
    {
        cell.changed(None);
    }
}

/// Takes the lowest pending signal that is not blocked, if any.
fn take_pending(p: &Process) -> Option<u8> {
    let blocked = p.sigmask & !UNBLOCKABLE;
    loop {
        let pending = p.info.pending.load(Ordering::Acquire);
        let ready = pending & !blocked;
        if ready == 0 {
            return None;
        }
        let s = ready.trailing_zeros() as u8 + 1;
        if p.info.pending.compare_exchange(pending, pending & !bit(s), Ordering::AcqRel, Ordering::Acquire).is_ok() {
            return Some(s);
        }
    }
}

/// Before entering user mode: settles an interrupted call (restart or
/// EINTR) and delivers every deliverable signal (at most one handler
/// frame: the handler runs, then the next one is delivered).
pub fn deliver(p: &mut Process, ctx: &mut UserContext) -> Delivered {
    let interrupted = p.interrupted.take();
    while let Some(s) = take_pending(p) {
        let [handler, flags, restorer, mask] = p.sigactions[usize::from(s - 1)];
        let handler = if s == SIGKILL || s == SIGSTOP { SIG_DFL } else { handler };
        match handler {
            SIG_IGN => continue,
            SIG_DFL => match default_action(s) {
                Default::Ignore => continue,
                Default::Terminate => return Delivered::Exit(ExitStatus::Signaled(s)),
                // As on Linux, a terminal's stop signals do not stop a
                // process group that no job-control shell could continue.
                Default::Stop if s != SIGSTOP && group_is_orphaned(&p.info) => continue,
                Default::Stop => {
                    // The interrupted call starts again once continued
                    // (no handler ran), as Linux restarts it; a sleep
                    // keeps its end (`Process::sleep`).
                    if let Some(call) = interrupted {
                        restart(ctx, call);
                    }
                    if let Some(mask) = p.saved_mask.take() {
                        p.sigmask = mask;
                    }
                    return Delivered::Stop(s);
                }
            },
            _ => {}
        }
        if let Some(call) = interrupted {
            settle(p, ctx, call, flags & SA_RESTART != 0);
        }
        let old_mask = p.saved_mask.take().unwrap_or(p.sigmask);
        if build_frame(p, ctx, s, handler, flags, restorer, old_mask).is_err() {
            // No room for the frame: Linux sends SIGSEGV, which ends it.
            return Delivered::Exit(ExitStatus::Signaled(SIGSEGV));
        }
        let mut blocked = p.sigmask | mask;
        if flags & SA_NODEFER == 0 {
            blocked |= bit(s);
        }
        p.sigmask = blocked & !UNBLOCKABLE;
        if flags & SA_RESETHAND != 0 {
            p.sigactions[usize::from(s - 1)] = [0; 4];
            p.ignored = ignored(p);
        }
        return Delivered::Continue;
    }
    // Nothing delivered: an interrupted call restarts, whatever it is, as
    // Linux restarts even a sleep or a poll when no handler ran (a sleep
    // keeps its end: `Process::sleep`).
    if let Some(call) = interrupted {
        restart(ctx, call);
    }
    if let Some(mask) = p.saved_mask.take() {
        p.sigmask = mask;
    }
    Delivered::Continue
}

/// Whether `info`'s process group is orphaned (POSIX): no member has a
/// parent in another group of the same session.
fn group_is_orphaned(info: &Info) -> bool {
    let pgid = info.pgid.load(Ordering::Relaxed);
    let processes = crate::process::list();
    let member_with_outside_parent = processes.iter().filter(|m| m.pgid.load(Ordering::Relaxed) == pgid).any(|m| {
        let ppid = m.ppid.load(Ordering::Relaxed);
        processes.iter().find(|q| q.pid == ppid).is_some_and(|parent| {
            parent.pgid.load(Ordering::Relaxed) != pgid && parent.sid.load(Ordering::Relaxed) == m.sid.load(Ordering::Relaxed)
        })
    });
    !member_with_outside_parent
}

/// An interrupted call: restarted (its `syscall` instruction runs again
/// with the same registers) or answered EINTR.
fn settle(p: &mut Process, ctx: &mut UserContext, call: Interrupted, may_restart: bool) {
    if may_restart && call.restartable {
        restart(ctx, call);
        return;
    }
    ctx.frame.rax = errno::to_rax(Err(errno::EINTR));
    // An interrupted relative sleep tells what was left, as on Linux (a
    // bad pointer there is the program's loss, not the call's error).
    if let Some((deadline, rem)) = p.sleep.take()
        && rem != 0
    {
        let left = deadline.saturating_duration_since(kernel::time::Instant::now());
        let left = linux::structs::Timespec { sec: left.as_secs() as i64, nsec: i64::from(left.subsec_nanos()) };
        let _ = crate::user::write(&mut p.memory, rem, &left.encode());
    }
}

/// The interrupted call's `syscall` instruction runs again with the same
/// registers.
fn restart(ctx: &mut UserContext, call: Interrupted) {
    ctx.frame.rax = call.nr;
    ctx.frame.rip -= 2;
}

/// A system call cancelled by a signal, to settle at delivery.
#[derive(Clone, Copy, Debug)]
pub struct Interrupted {
    /// Its number.
    pub nr: u64,
    /// Whether SA_RESTART may restart it (sleeps and waits for events
    /// answer EINTR regardless, as on Linux).
    pub restartable: bool,
}

/// A fault the program made: its handler runs if it has one and does not
/// block the signal; otherwise the process ends.
pub fn force(p: &mut Process, ctx: &mut UserContext, s: u8) -> Delivered {
    let [handler, ..] = p.sigactions[usize::from(s - 1)];
    if handler == SIG_DFL || handler == SIG_IGN || p.sigmask & bit(s) != 0 {
        return Delivered::Exit(ExitStatus::Signaled(s));
    }
    p.info.pending.fetch_or(bit(s), Ordering::AcqRel);
    deliver(p, ctx)
}

const UCONTEXT: u64 = 8;
const SIGCONTEXT: u64 = UCONTEXT + 40;
const UC_SIGMASK: u64 = SIGCONTEXT + 256;
const SIGINFO: u64 = UC_SIGMASK + 8;
const FRAME_SIZE: u64 = SIGINFO + 128;

fn build_frame(p: &mut Process, ctx: &mut UserContext, s: u8, handler: u64, flags: u64, restorer: u64, old_mask: u64) -> Result<(), Errno> {
    if flags & SA_RESTORER == 0 || restorer == 0 {
        // x86-64 programs always give a restorer; without one the handler
        // could never return.
        return Err(errno::EFAULT);
    }
    let f = ctx.frame.clone();
    // Below the red zone: the FXSAVE area (64-aligned), then the frame,
    // placed so that RSP + 8 is 16-aligned at the handler's entry (as after
    // a call).
    let fpstate = (f.rsp.wrapping_sub(128).wrapping_sub(512)) & !63;
    let frame = ((fpstate - FRAME_SIZE) & !15) - 8;
    let mut bytes = [0u8; FRAME_SIZE as usize];
    let mut put = |at: u64, v: u64| bytes[at as usize..at as usize + 8].copy_from_slice(&v.to_le_bytes());
    put(0, restorer);
    // uc_flags, uc_link, uc_stack (ss_sp, ss_flags = SS_DISABLE, ss_size)
    put(UCONTEXT + 24, 2);
    let regs =
        [f.r8, f.r9, f.r10, f.r11, f.r12, f.r13, f.r14, f.r15, f.rdi, f.rsi, f.rbp, f.rbx, f.rdx, f.rax, f.rcx, f.rsp, f.rip, f.rflags];
    for (i, v) in regs.iter().enumerate() {
        put(SIGCONTEXT + 8 * i as u64, *v);
    }
    // cs, gs, fs, ss (16 bits each)
    put(SIGCONTEXT + 144, u64::from(kernel::arch::gdt::USER_CS) | (u64::from(kernel::arch::gdt::USER_SS) << 48));
    put(SIGCONTEXT + 152, f.error_code);
    put(SIGCONTEXT + 160, f.vector.min(31));
    put(SIGCONTEXT + 168, old_mask);
    put(SIGCONTEXT + 184, fpstate);
    put(UC_SIGMASK, old_mask);
    // siginfo: si_signo, si_errno, si_code (SI_USER = 0 / SI_KERNEL = 0x80)
    put(SIGINFO, u64::from(s));
    put(SIGINFO + 8, 0x80);
    let fpu = ctx.fpu().0;
    user::write(&mut p.memory, fpstate, &fpu)?;
    user::write(&mut p.memory, frame, &bytes)?;
    let r = &mut ctx.frame;
    r.rsp = frame;
    r.rip = handler;
    r.rdi = u64::from(s);
    r.rsi = frame + SIGINFO;
    r.rdx = frame + UCONTEXT;
    r.rax = 0;
    // The handler starts with the direction flag clear, as the ABI says.
    r.rflags &= !0x400;
    *ctx.fpu() = kernel::arch::user_mode::FpuState::initial();
    ctx.set_full_restore();
    Ok(())
}

/// `rt_sigreturn`: back to what the frame at RSP - 8 holds.
pub fn sigreturn(p: &mut Process, ctx: &mut UserContext) -> Result<(), Errno> {
    let frame = ctx.frame.rsp.wrapping_sub(8);
    let mut bytes = [0u8; FRAME_SIZE as usize];
    user::read(&mut p.memory, frame, &mut bytes)?;
    let get = |at: u64| u64::from_le_bytes(bytes[at as usize..at as usize + 8].try_into().expect("8 bytes"));
    let reg = |i: u64| get(SIGCONTEXT + 8 * i);
    let fpstate = get(SIGCONTEXT + 184);
    if fpstate != 0 {
        let mut fpu = [0u8; 512];
        user::read(&mut p.memory, fpstate, &mut fpu)?;
        // MXCSR's reserved bits would make fxrstor fault in the kernel.
        let mxcsr = u32::from_le_bytes(fpu[24..28].try_into().expect("4 bytes")) & 0xffff;
        fpu[24..28].copy_from_slice(&mxcsr.to_le_bytes());
        ctx.fpu().0 = fpu;
    }
    let f = &mut ctx.frame;
    [f.r8, f.r9, f.r10, f.r11, f.r12, f.r13, f.r14, f.r15] = core::array::from_fn(|i| reg(i as u64));
    f.rdi = reg(8);
    f.rsi = reg(9);
    f.rbp = reg(10);
    f.rbx = reg(11);
    f.rdx = reg(12);
    f.rax = reg(13);
    f.rcx = reg(14);
    f.rsp = reg(15);
    f.rip = reg(16);
    f.rflags = reg(17);
    p.sigmask = get(UC_SIGMASK) & !UNBLOCKABLE;
    ctx.set_full_restore();
    Ok(())
}
