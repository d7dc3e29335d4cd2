//! Interrupt and exception entry: one `#[unsafe(naked)]` stub per vector, a
//! common save/restore path, and the typed [`InterruptFrame`] Rust handlers see.
//!
//! Data flow for every vector `V`:
//!
//! ```text
//! CPU pushes SS, RSP, RFLAGS, CS, RIP (and an error code for some exceptions)
//! stub::<V>    pushes 0 if the CPU pushed no error code, then V; jumps to common
//! common       pushes the 15 general-purpose registers; then, if the CPU
//!              was in the kernel:
//! dispatch     hands the frame to the exception or interrupt handler for V
//! common       pops the registers (a handler may have changed them), drops
//!              vector + error code, iretq
//!              or, if it was in a program (CS's RPL is 3): swapgs, and on to
//!              `user_mode::return_to_task`, which handles the trap and
//!              resumes the task that entered the program (never iretq here)
//! ```
//!
//! Stack alignment: the CPU aligns RSP to 16 before pushing its 5-word frame;
//! with the error-code slot, the vector and 15 registers that is 22 words
//! (176 bytes), so RSP is 16-byte aligned at the `call`, as the ABI requires.
//! The kernel target is soft-float, so there is no SSE state to save.

use core::arch::naked_asm;

/// Pushes the 15 general-purpose registers so that they form the first
/// fields of an [`InterruptFrame`] (RAX first, at the highest address;
/// R15 last, at the lowest): the entry stubs and the system-call entry.
macro_rules! save_registers {
    () => {
        "push rax\npush rbx\npush rcx\npush rdx\npush rsi\npush rdi\npush rbp\npush r8\npush r9\npush r10\npush r11\npush r12\npush r13\npush r14\npush r15"
    };
}

/// Pops what [`save_registers`] pushed.
macro_rules! restore_registers {
    () => {
        "pop r15\npop r14\npop r13\npop r12\npop r11\npop r10\npop r9\npop r8\npop rbp\npop rdi\npop rsi\npop rdx\npop rcx\npop rbx\npop rax"
    };
}

pub(super) use {restore_registers, save_registers};

/// Everything the entry path saved, lowest address first, exactly as laid
/// out on the stack by the CPU, the stub and [`common`].
#[repr(C)]
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub struct InterruptFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// The vector the stub pushed.
    pub vector: u64,
    /// The CPU's error code, or 0 for vectors that have none.
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// Exceptions for which the CPU pushes an error code.
pub const fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// The entry stub of vector `V`.
#[unsafe(naked)]
pub extern "C" fn stub<const V: u8>() -> ! {
    naked_asm!(
        ".if {has_error} == 0",
        "push 0",
        ".endif",
        "push {vector}",
        "jmp {common}",
        has_error = const has_error_code(V) as u8,
        vector = const V,
        common = sym common,
    )
}

/// The common path (the module doc). NMI, double fault and machine check
/// are *paranoid* about GS, as Linux's entry is: they may arrive in ring 0
/// with the program's GS base still loaded, in the one-instruction windows
/// between `syscall` and its `swapgs`, between a return path's `swapgs`
/// and its `sysretq`/`iretq`, or in this stub before its own `swapgs`.
/// For them, the GS base MSR decides: a program's base is in the lower half
/// (programs cannot set one at all: no ARCH_SET_GS, no FSGSBASE), the
/// per-CPU block's in the upper, so a clear bit 63 means swap in, handle,
/// and swap back before `iretq`.
#[unsafe(naked)]
extern "C" fn common() -> ! {
    naked_asm!(
        save_registers!(),
        "mov rdi, rsp",
        "test byte ptr [rsp + {cs}], 3",
        "jnz 2f",
        "cld",
        "mov eax, [rsp + {vector}]",
        "cmp eax, 2",
        "je 3f",
        "cmp eax, 8",
        "je 3f",
        "cmp eax, 18",
        "je 3f",
        "call {dispatch}",
        "4:",
        restore_registers!(),
        "add rsp, 16",
        "iretq",
        "2:",
        "swapgs",
        "jmp {return_to_task}",
        // Paranoid: which GS base is loaded? (RDMSR: EDX holds bits 63..32.)
        "3:",
        "mov ecx, {gs_base}",
        "rdmsr",
        "test edx, edx",
        "js 5f",
        "swapgs",
        "lock inc qword ptr [rip + {swapped}]",
        "call {dispatch}",
        "swapgs",
        "jmp 4b",
        "5:",
        "call {dispatch}",
        "jmp 4b",
        dispatch = sym dispatch,
        return_to_task = sym super::user_mode::return_to_task,
        cs = const core::mem::offset_of!(InterruptFrame, cs),
        vector = const core::mem::offset_of!(InterruptFrame, vector),
        gs_base = const 0xc000_0101u32,
        swapped = sym PARANOID_SWAPS,
    )
}

/// NMIs, double faults and machine checks that arrived in ring 0 with a
/// program's GS base loaded (`common`'s paranoid path swapped it).
static PARANOID_SWAPS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// How many NMIs (or double faults, machine checks) arrived in a `swapgs`
/// window since boot and were handled with the per-CPU block swapped in.
pub fn paranoid_swaps() -> u64 {
    PARANOID_SWAPS.load(core::sync::atomic::Ordering::Relaxed)
}

extern "C" fn dispatch(frame: &mut InterruptFrame) {
    let vector = frame.vector as u8;
    // Handlers run in interrupt context: wakes from here take the executor's
    // wake stack, never its run queue (see exec.rs).
    let cpu = super::percpu::this();
    let outer = cpu.enter_interrupt(vector);
    match super::vectors::Vector::try_new(vector) {
        Some(v) => super::idt::dispatch_interrupt(v, frame),
        None => super::exceptions::handle(frame),
    }
    cpu.leave_interrupt(outer);
}

type Stub = extern "C" fn() -> !;

macro_rules! row {
    ($base:literal) => {
        [
            stub::<{ $base }>,
            stub::<{ $base + 1 }>,
            stub::<{ $base + 2 }>,
            stub::<{ $base + 3 }>,
            stub::<{ $base + 4 }>,
            stub::<{ $base + 5 }>,
            stub::<{ $base + 6 }>,
            stub::<{ $base + 7 }>,
            stub::<{ $base + 8 }>,
            stub::<{ $base + 9 }>,
            stub::<{ $base + 10 }>,
            stub::<{ $base + 11 }>,
            stub::<{ $base + 12 }>,
            stub::<{ $base + 13 }>,
            stub::<{ $base + 14 }>,
            stub::<{ $base + 15 }>,
        ]
    };
}

/// The entry stub of every vector, `STUBS[v / 16][v % 16]`.
pub static STUBS: [[Stub; 16]; 16] = [
    row!(0x00),
    row!(0x10),
    row!(0x20),
    row!(0x30),
    row!(0x40),
    row!(0x50),
    row!(0x60),
    row!(0x70),
    row!(0x80),
    row!(0x90),
    row!(0xa0),
    row!(0xb0),
    row!(0xc0),
    row!(0xd0),
    row!(0xe0),
    row!(0xf0),
];

/// The entry stub of `vector`.
pub fn stub_for(vector: u8) -> Stub {
    STUBS[usize::from(vector / 16)][usize::from(vector % 16)]
}
