//! Ring 3: how a task runs a program until it traps, and how every trap
//! comes back to that task.
//!
//! A user thread has no kernel stack of its own. Its task calls [`enter`]
//! from inside its poll, on the executor's stack; `enter` returns when the
//! program next traps, with the program's registers saved in its
//! [`UserContext`] and the [`Trap`] that ended the run. The task handles it
//! (`syscall(..).await`, a page fault, a signal) and calls `enter` again.
//!
//! ```text
//! enter(ctx)      push the callee-saved registers on the executor's stack,
//!                 park RSP in gs:[KERNEL_RSP], ctx in gs:[USER_CONTEXT];
//!                 load the program's registers from ctx; swapgs;
//!                 sysretq (after a system call) or iretq (otherwise)
//! syscall         swapgs; park the program's RSP in gs:[USER_RSP]; push
//!                 its registers *into ctx* (RSP points at ctx's frame, so
//!                 the pushes fill it); RSP = gs:[KERNEL_RSP]; the fast
//!                 path: ctx's `FastCalls` may answer the call (getpid
//!                 and the like) at once, and the program's registers go
//!                 back through `sysretq`; otherwise pop the callee-saved
//!                 registers; ret: `enter` returns
//! interrupt or    the CPU switches to RSP0, the CPU's trap stack (never the
//! exception       executor's); the entry stub pushes the frame; swapgs;
//! from ring 3     `from_user` runs the interrupt's handler (an exception is
//!                 only recorded: the task handles it) and copies the frame
//!                 into ctx; RSP = gs:[KERNEL_RSP]; pop; ret
//! ```
//!
//! Rules the paths keep:
//! - `enter` runs with interrupts off from its first instruction until the
//!   `sysretq`/`iretq`, which load the program's RFLAGS (IF set); every way
//!   back arrives with interrupts off, and `enter` turns them on again.
//! - A return address outside the lower half never reaches `sysretq` or
//!   `iretq` (on Intel CPUs a non-canonical RCX makes `sysretq` fault in
//!   ring 0 with the program's GS): `enter` reports it as a general
//!   protection fault of the program instead.
//! - The program's segment selectors are forced to [`USER_CS`]/[`USER_SS`]
//!   and its RFLAGS to what ring 3 may hold (no IOPL, no NT, IF set), so a
//!   signal frame the program wrote cannot make `iretq` return to ring 0.
//! - FPU/SSE registers and the FS base belong to one context at a time per
//!   CPU (`PerCpu::fpu_owner`, the address of that context's FXSAVE area),
//!   switched lazily: `enter` does nothing if its context holds them, and
//!   otherwise first writes the holder's back into the holder's area, then
//!   loads its own. A thread that waits in a system call or yields costs
//!   nothing; only another program entering on the CPU does. The area is a
//!   separate allocation, reached by the CPU only through that raw pointer
//!   while its thread's task is suspended (no reference to it is live
//!   then), and a context gives up ownership when dropped, so the pointer
//!   is never stale. [`UserContext::save_fpu`] writes them back for good
//!   (before the thread moves to another CPU). The kernel is soft-float:
//!   it never touches them.
//!
//! An NMI (or machine check) may still arrive in the one-instruction
//! windows after `syscall` and before `sysretq`/`iretq`, in ring 0 with the
//! program's GS base: the common entry path reads the GS base MSR for
//! those vectors and swaps in the per-CPU block itself (`entry::common`).

use alloc::sync::Arc;
use core::arch::{asm, naked_asm};
use core::mem::offset_of;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags, FsBase, LStar, SFMask, Star};
use x86_64::registers::rflags::RFlags;
use x86_64::structures::gdt::SegmentSelector;
use x86_64::{PrivilegeLevel, VirtAddr};

use super::entry::{InterruptFrame, restore_registers, save_registers};
pub use super::fast_calls::{FAST_LIMIT, FastCalls, offer_fast_calls};
use super::gdt::{KERNEL_CS, KERNEL_SS, USER_CS, USER_SS};
use super::percpu::{self, KERNEL_RSP, USER_CONTEXT, USER_RSP};
use super::user_copy::USER_END;

/// What `frame.vector` holds after a system call (above every real vector).
pub const SYSCALL_VECTOR: u64 = 0x100;
/// What `frame.vector` holds for a context that must be restored in full
/// (`iretq`): a new program, or registers a signal frame gave back.
pub const FULL_RESTORE: u64 = 0x101;

/// The FXSAVE area: x87, MMX and SSE state.
#[derive(Clone)]
#[repr(C, align(16))]
pub struct FpuState(pub [u8; 512]);

impl FpuState {
    /// The state a new program starts with (what `fninit` and the default
    /// MXCSR give): all exceptions masked, round to nearest.
    pub fn initial() -> Self {
        let mut s = [0u8; 512];
        s[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
        s[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        Self(s)
    }
}

/// A user thread's registers while it is not running, and what ended its
/// last run. Boxed by its owner: the CPU holds its address while it runs.
#[repr(C)]
pub struct UserContext {
    /// The general registers, RIP, RFLAGS and RSP, laid out as the entry
    /// stubs push them (the system-call entry pushes into it directly).
    /// `vector` says how the last run ended: a CPU vector, or
    /// [`SYSCALL_VECTOR`], or [`FULL_RESTORE`] before a run.
    pub frame: InterruptFrame,
    /// The FS base (the thread pointer, TLS).
    fs_base: u64,
    /// CR2 of the last page fault.
    fault_address: u64,
    /// The FPU/SSE registers while the CPU does not hold them: its own
    /// allocation (`Box::into_raw`), written by `claim_cpu` on behalf of a
    /// suspended owner.
    fpu: NonNull<FpuState>,
    /// Calls answered at the trap, without the task ([`FastCalls`]).
    pub(super) fast: Option<Arc<dyn FastCalls>>,
}

// SAFETY: the context owns its FXSAVE area outright (freed in `Drop`); the
// raw pointer is only a way to reach it that survives a `&mut` borrow of
// the context, not shared ownership. A context moves between CPUs only
// after `save_fpu` released the CPU that held its registers.
unsafe impl Send for UserContext {}

const FRAME_SIZE: usize = core::mem::size_of::<InterruptFrame>();
const _: () = {
    assert!(offset_of!(UserContext, frame) == 0);
    assert!(FRAME_SIZE == 22 * 8);
    assert!(offset_of!(InterruptFrame, rip) == 17 * 8);
    assert!(offset_of!(InterruptFrame, cs) == 18 * 8);
    assert!(offset_of!(InterruptFrame, rflags) == 19 * 8);
    assert!(offset_of!(InterruptFrame, rsp) == 20 * 8);
};

/// What ended a run of the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trap {
    /// It made a system call (number in RAX, arguments in RDI, RSI, RDX,
    /// R10, R8, R9).
    Syscall,
    /// An interrupt arrived; its handler has run.
    Interrupt(u8),
    /// It faulted: the CPU exception, its error code, and CR2 for a page
    /// fault.
    Exception {
        /// The exception vector (0..32).
        vector: u8,
        /// The CPU's error code (0 if none).
        code: u64,
        /// The faulting address (page faults).
        address: u64,
    },
}

/// RFLAGS bits a program may hold: CF PF AF ZF SF TF DF OF AC ID and the
/// always-one bit 1 (not IOPL, NT, VM, VIF, VIP, RF).
const USER_FLAGS: u64 = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x4_0000 | 0x20_0000;

impl UserContext {
    /// A context that starts a program at `entry` with stack pointer `rsp`
    /// and every other register zero.
    pub fn new(entry: u64, rsp: u64) -> Self {
        let frame = InterruptFrame {
            r15: 0,
            r14: 0,
            r13: 0,
            r12: 0,
            r11: 0,
            r10: 0,
            r9: 0,
            r8: 0,
            rbp: 0,
            rdi: 0,
            rsi: 0,
            rdx: 0,
            rcx: 0,
            rbx: 0,
            rax: 0,
            vector: FULL_RESTORE,
            error_code: 0,
            rip: entry,
            cs: u64::from(USER_CS),
            rflags: RFlags::INTERRUPT_FLAG.bits() | 2,
            rsp,
            ss: u64::from(USER_SS),
        };
        Self { frame, fs_base: 0, fault_address: 0, fpu: Self::fpu_area(FpuState::initial()), fast: None }
    }

    fn fpu_area(state: FpuState) -> NonNull<FpuState> {
        NonNull::from(alloc::boxed::Box::leak(alloc::boxed::Box::new(state)))
    }

    /// A copy for a new thread or process (`fork`, `clone`): the same
    /// registers, FS base and FPU state. The FPU registers are written back
    /// first if this CPU holds them.
    pub fn duplicate(&mut self) -> Self {
        self.sync_fpu();
        // SAFETY: our own area, not being written (this CPU is running us).
        let copy = unsafe { self.fpu.as_ref() }.clone();
        // A new thread's calls are its own process's: no fast path until
        // that process gives it one.
        Self { frame: self.frame.clone(), fs_base: self.fs_base, fault_address: 0, fpu: Self::fpu_area(copy), fast: None }
    }

    /// Whether calls are answered at the trap ([`Self::set_fast_calls`]).
    pub fn has_fast_calls(&self) -> bool {
        self.fast.is_some()
    }

    /// Has `calls` answer what it can at the trap.
    pub fn set_fast_calls(&mut self, calls: Arc<dyn FastCalls>) {
        self.fast = Some(calls);
    }

    /// The FS base.
    pub fn fs_base(&self) -> u64 {
        self.fs_base
    }

    /// Sets the FS base (`arch_prctl(ARCH_SET_FS)`); takes effect at the
    /// next [`enter`].
    pub fn set_fs_base(&mut self, base: u64) {
        self.fs_base = base;
        if self.holds_cpu() {
            FsBase::write(VirtAddr::new_truncate(base));
        }
    }

    /// The FPU/SSE state (written back first if this CPU holds it), for a
    /// signal frame.
    pub fn fpu(&mut self) -> &mut FpuState {
        self.sync_fpu();
        // The caller may change it: load it again at the next entry.
        self.release_cpu();
        // SAFETY: our own area; no CPU holds our registers any more (just
        // released), so nothing else writes it while the borrow lives.
        unsafe { self.fpu.as_mut() }
    }

    /// The thread leaves this CPU (its poll returns, or it moves): writes
    /// the FPU registers back if the CPU holds them.
    pub fn save_fpu(&mut self) {
        if self.holds_cpu() {
            self.sync_fpu();
            self.release_cpu();
        }
    }

    /// Makes the next [`enter`] return through `iretq` with every register
    /// as it is in `frame` (after a signal frame was built or restored).
    pub fn set_full_restore(&mut self) {
        self.frame.vector = FULL_RESTORE;
    }

    fn me(&self) -> *mut () {
        self.fpu.as_ptr().cast()
    }

    fn holds_cpu(&self) -> bool {
        percpu::this().fpu_owner.load(Ordering::Relaxed) == self.me()
    }

    fn release_cpu(&self) {
        let _ = percpu::this().fpu_owner.compare_exchange(self.me(), core::ptr::null_mut(), Ordering::Relaxed, Ordering::Relaxed);
    }

    fn sync_fpu(&mut self) {
        if self.holds_cpu() {
            // SAFETY: our own area (512 bytes, 16-aligned); OSFXSR is set
            // (`init_this_cpu`).
            unsafe { fxsave(self.fpu.as_ptr()) };
        }
    }

    /// Loads this context's FPU registers and FS base unless the CPU holds
    /// them already.
    fn claim_cpu(&mut self) {
        let block = percpu::this();
        let holder = block.fpu_owner.load(Ordering::Relaxed);
        if holder != self.me() {
            if !holder.is_null() {
                // SAFETY: a holder's area is alive (a context gives up the CPU
                // when dropped) and its task is suspended (this one runs), so
                // nothing else touches the area: its registers go home.
                unsafe { fxsave(holder.cast()) };
            }
            // SAFETY: our own area; the image came from `fxsave64` or
            // `FpuState::initial`, or a signal frame with MXCSR's reserved
            // bits cleared (`process::signal`).
            unsafe { asm!("fxrstor64 [{}]", in(reg) self.fpu.as_ptr(), options(nostack, readonly)) };
            FsBase::write(VirtAddr::new_truncate(self.fs_base));
            block.fpu_owner.store(self.me(), Ordering::Relaxed);
        }
    }
}

impl Drop for UserContext {
    fn drop(&mut self) {
        // Nothing may write to (or compare equal to) a freed area later.
        self.release_cpu();
        // SAFETY: made by `fpu_area` (Box::leak), freed once, here; no CPU
        // holds it any more (released above).
        drop(unsafe { alloc::boxed::Box::from_raw(self.fpu.as_ptr()) });
    }
}

/// Writes this CPU's FPU/SSE registers to `area`.
///
/// # Safety
/// `area` is a live, 16-aligned FXSAVE area nothing else accesses now.
unsafe fn fxsave(area: *mut FpuState) {
    // SAFETY: per the contract; OSFXSR is set (`init_this_cpu`).
    unsafe { asm!("fxsave64 [{}]", in(reg) area, options(nostack)) };
}

/// Runs the program of `ctx` until it traps.
///
/// Called from task code (interrupts on); returns with interrupts on. The
/// trap's registers are in `ctx.frame`.
pub fn enter(ctx: &mut UserContext) -> Trap {
    if ctx.frame.rip >= USER_END {
        // Never handed to sysretq/iretq (module doc): the program's fault.
        return Trap::Exception { vector: 13, code: 0, address: 0 };
    }
    ctx.frame.cs = u64::from(USER_CS);
    ctx.frame.ss = u64::from(USER_SS);
    ctx.frame.rflags = (ctx.frame.rflags & USER_FLAGS) | RFlags::INTERRUPT_FLAG.bits() | 2;
    x86_64::instructions::interrupts::disable();
    ctx.claim_cpu();
    let sysret = ctx.frame.vector == SYSCALL_VECTOR;
    // SAFETY: `ctx` is a live, exclusively borrowed context whose selectors,
    // flags and return address were checked above; this CPU's GS base is its
    // block (kernel GS), interrupts are off, and the block's trap stack is
    // in the TSS (`gdt::load`) and the system-call MSRs are set
    // (`init_this_cpu`), so every way back lands in `return_to_task`.
    unsafe { enter_user(ctx, u64::from(sysret)) };
    x86_64::instructions::interrupts::enable();
    let frame = &ctx.frame;
    match frame.vector {
        SYSCALL_VECTOR => Trap::Syscall,
        // An NMI is the machine's, not the program's doing (`from_user`
        // ran its handler): like an interrupt, it only ended the run.
        2 => Trap::Interrupt(2),
        v @ 0..32 => Trap::Exception { vector: v as u8, code: frame.error_code, address: ctx.fault_address },
        v => Trap::Interrupt(v as u8),
    }
}

/// Back to ring 3 through `sysretq` from a context's frame whose general
/// registers were just restored (RSP at `vector`: RIP, RFLAGS and RSP
/// follow at +16, +32 and +40), with the program's GS.
macro_rules! sysret_from_frame {
    () => {
        "mov rcx, [rsp + 16]\nmov r11, [rsp + 32]\nmov rsp, [rsp + 40]\nswapgs\nsysretq"
    };
}

/// Loads `ctx` and leaves for ring 3; "returns" when the program traps
/// (`syscall_entry` or `return_to_task`).
///
/// # Safety
/// See [`enter`]: interrupts off, kernel GS, a checked context.
#[unsafe(naked)]
unsafe extern "C" fn enter_user(ctx: *mut UserContext, sysret: u64) {
    naked_asm!(
        "push rbp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "mov gs:[{kernel_rsp}], rsp",
        "mov gs:[{user_context}], rdi",
        "mov rsp, rdi",
        "test esi, esi",
        restore_registers!(),
        // pop and mov leave the flags of `test` alone.
        "jz 2f",
        sysret_from_frame!(),
        "2:",
        "add rsp, 16",
        "swapgs",
        "iretq",
        kernel_rsp = const KERNEL_RSP,
        user_context = const USER_CONTEXT,
    )
}

/// `LSTAR`: the `syscall` instruction lands here, in ring 0, with the
/// program's RSP and GS, RCX = its RIP, R11 = its RFLAGS, interrupts off
/// (`SFMASK`).
#[unsafe(naked)]
extern "C" fn syscall_entry() {
    naked_asm!(
        "swapgs",
        "mov gs:[{user_rsp}], rsp",
        "mov rsp, gs:[{user_context}]",
        "add rsp, {frame_size}",
        "push {user_ss}",
        "push qword ptr gs:[{user_rsp}]",
        "push r11",
        "push {user_cs}",
        "push rcx",
        "push 0",
        "push {syscall_vector}",
        save_registers!(),
        // RSP is the context (the pushes filled its frame). The fast path
        // runs on the executor's stack below what `enter_user` parked
        // there (16-aligned for the call), interrupts still off; the
        // context is the one `enter` lent exclusively to this run (its
        // task is suspended inside `enter_user`), so `fast_call` may
        // borrow it mutably until it returns.
        // Only the calls offered (`offer_fast_calls`) try it: a bit test,
        // so that every other call pays two instructions for it.
        "cmp rax, {fast_limit}",
        "jae {resume_task}",
        "bt qword ptr [rip + {fast_numbers}], rax",
        "jnc {resume_task}",
        "mov rdi, rsp",
        "mov rsp, gs:[{kernel_rsp}]",
        "sub rsp, 8",
        "call {fast_call}",
        "test al, al",
        "jz {resume_task}",
        // Answered: straight back to the program, as `enter_user` would.
        "mov rsp, gs:[{user_context}]",
        restore_registers!(),
        sysret_from_frame!(),
        resume_task = sym resume_task,
        fast_call = sym super::fast_calls::fast_call,
        fast_numbers = sym super::fast_calls::FAST_NUMBERS,
        fast_limit = const super::fast_calls::FAST_LIMIT,
        kernel_rsp = const KERNEL_RSP,
        user_rsp = const USER_RSP,
        user_context = const USER_CONTEXT,
        frame_size = const FRAME_SIZE,
        user_ss = const USER_SS,
        user_cs = const USER_CS,
        syscall_vector = const SYSCALL_VECTOR,
    )
}

/// The end of an interrupt or exception from ring 3 (`entry::common`
/// jumps here on the trap stack, after `swapgs`, with RDI = the frame):
/// handles it, saves the frame, and resumes the task that entered.
#[unsafe(naked)]
pub(super) extern "C" fn return_to_task() -> ! {
    naked_asm!(
        "cld",
        "call {from_user}",
        // The program may have set AC; the kernel runs with it clear (SMAP).
        // `clac` exists only where SMAP does; DF is clear already (`cld`
        // above) and IF stays clear until `enter` turns it on.
        "test byte ptr [rip + {smap}], 1",
        "jz 3f",
        "clac",
        "3:",
        "jmp {resume_task}",
        from_user = sym from_user,
        resume_task = sym resume_task,
        smap = sym SMAP,
    )
}

/// Every way back from ring 3 ends here: back onto the executor's stack
/// where `enter_user` parked it, the callee-saved registers it pushed
/// popped, and a `ret` from `enter_user`.
#[unsafe(naked)]
extern "C" fn resume_task() -> ! {
    naked_asm!(
        "mov rsp, gs:[{kernel_rsp}]",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret",
        kernel_rsp = const KERNEL_RSP,
    )
}

extern "C" fn from_user(frame: &mut InterruptFrame) {
    let block = percpu::this();
    let vector = frame.vector as u8;
    let mut fault_address = 0;
    match vector {
        // A program's exception: only recorded (its task handles it), so no
        // handler runs and no interrupt depth is counted.
        14 => fault_address = super::cpu::cr2(),
        0..32 if !matches!(vector, 2 | 8 | 18) => {}
        // NMI, double fault, machine check (not the program's doing), and
        // interrupts: their handlers run, as in the kernel's entry path.
        _ => {
            let outer = block.enter_interrupt(vector);
            match super::vectors::Vector::try_new(vector) {
                Some(v) => super::idt::dispatch_interrupt(v, frame),
                None => super::exceptions::handle(frame),
            }
            block.leave_interrupt(outer);
        }
    }
    let ctx = block.user_context_ptr().cast::<UserContext>();
    // SAFETY: `enter` stored the context it runs in gs:[USER_CONTEXT]; it is
    // exclusively borrowed by that `enter` call, which is suspended until
    // this path resumes it, and nothing else touches it meanwhile.
    unsafe {
        (*ctx).frame = frame.clone();
        (*ctx).fault_address = fault_address;
    }
}

static SMAP: AtomicBool = AtomicBool::new(false);

/// Whether supervisor-mode access prevention is on (the user copies then
/// bracket their access with `stac`/`clac`).
pub fn smap_enabled() -> bool {
    SMAP.load(Ordering::Relaxed)
}

/// Prepares this CPU for ring 3: `syscall` enabled and aimed at
/// `syscall_entry`; FPU/SSE usable by programs; no-execute pages; SMEP and
/// SMAP where the CPU offers them. Runs on every CPU after `gdt::load`.
pub fn init_this_cpu() {
    let features = core::arch::x86_64::__cpuid_count(7, 0);
    let smep = features.ebx & (1 << 7) != 0;
    let smap = features.ebx & (1 << 20) != 0;
    // SAFETY: SCE enables `syscall` (aimed below before any program runs);
    // NXE makes bit 63 of page-table entries "no execute" (the page tables
    // use it only as that).
    unsafe { Efer::update(|f| f.insert(EferFlags::SYSTEM_CALL_EXTENSIONS | EferFlags::NO_EXECUTE_ENABLE)) };
    // SAFETY: the selectors are those `gdt::load` put in this CPU's GDT, in
    // SYSRET's order.
    let star = Star::write(
        SegmentSelector::new(USER_CS >> 3, PrivilegeLevel::Ring3),
        SegmentSelector::new(USER_SS >> 3, PrivilegeLevel::Ring3),
        SegmentSelector::new(KERNEL_CS >> 3, PrivilegeLevel::Ring0),
        SegmentSelector::new(KERNEL_SS >> 3, PrivilegeLevel::Ring0),
    );
    star.expect("the GDT's selectors are in SYSRET's order");
    LStar::write(VirtAddr::new(syscall_entry as *const () as u64));
    // Entry runs with interrupts off, no single-stepping, the direction
    // flag clear and AC clear.
    SFMask::write(RFlags::INTERRUPT_FLAG | RFlags::TRAP_FLAG | RFlags::DIRECTION_FLAG | RFlags::ALIGNMENT_CHECK | RFlags::NESTED_TASK);
    // SAFETY: programs use x87/SSE: no emulation, no lazy-switch trap
    // (MP + !EM + !TS); the kernel itself is soft-float. WP only makes
    // ring 0 honour read-only entries, which the kernel never writes
    // through but in the user copies (whose faults are recovered).
    unsafe {
        Cr0::update(|f| {
            f.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
            // WP: the kernel's own writes respect read-only pages, so a
            // copy to a copy-on-write page faults and is copied first.
            f.insert(Cr0Flags::MONITOR_COPROCESSOR | Cr0Flags::WRITE_PROTECT);
        })
    };
    let mut cr4 = Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE;
    if smep {
        cr4 |= Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION;
    }
    if smap {
        cr4 |= Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION;
    }
    // SAFETY: FXSAVE/FXRSTOR and SSE exceptions are handled (per-thread
    // state here, #XM reaches the program); the kernel never executes or
    // reads program pages except through the user copies, which set AC
    // when SMAP is on.
    unsafe { Cr4::update(|f| f.insert(cr4)) };
    if smap {
        SMAP.store(true, Ordering::Relaxed);
    }
}

/// Whether SMEP is on for this CPU.
pub fn smep_enabled() -> bool {
    Cr4::read().contains(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION)
}
