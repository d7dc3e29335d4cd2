//! CPU exception handlers (vectors 0..=31).
//!
//! A breakpoint logs and returns. Every other exception is classified (page
//! fault with its address and error bits, general protection with its
//! selector error code, stack overflow when a fault lands in a stack's guard
//! space) into a [`Fault`], then routed by where it came from ([`origin`]):
//! - from ring 3: never here but for NMI, double fault and machine check
//!   (`user_mode::from_user` hands every other exception of a program back
//!   to the program's task, which turns it into a signal); those three are
//!   the machine's, fatal like a kernel fault;
//! - from a marked user-copy instruction (`user_copy`'s exception table):
//!   resumed at its fixup, and the copy reports a bad address;
//! - from anywhere else in the kernel: fatal, handed to the fatal-error path
//!   (`crate::fatal`, reached through the hook `boot` installs: `hooks.rs`).

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::structures::idt::PageFaultErrorCode;

use super::entry::InterruptFrame;
use crate::memory::stack;

static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);

/// How many `int3` breakpoints have been handled since boot.
pub fn breakpoint_count() -> u64 {
    BREAKPOINTS.load(Ordering::Relaxed)
}

/// The architectural name of exception `vector`.
pub const fn name(vector: u8) -> &'static str {
    match vector {
        0 => "divide error",
        1 => "debug",
        2 => "non-maskable interrupt",
        3 => "breakpoint",
        4 => "overflow",
        5 => "bound range exceeded",
        6 => "invalid opcode",
        7 => "device not available",
        8 => "double fault",
        10 => "invalid TSS",
        11 => "segment not present",
        12 => "stack-segment fault",
        13 => "general protection fault",
        14 => "page fault",
        16 => "x87 floating-point error",
        17 => "alignment check",
        18 => "machine check",
        19 => "SIMD floating-point error",
        20 => "virtualization exception",
        21 => "control protection exception",
        28 => "hypervisor injection exception",
        29 => "VMM communication exception",
        30 => "security exception",
        _ => "reserved exception",
    }
}

/// A fatal exception, classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A page fault at `address` (CR2).
    PageFault {
        /// The linear address that faulted.
        address: u64,
        /// The error code bits the CPU pushed.
        code: PageFaultErrorCode,
    },
    /// A fault (usually a double fault) whose address lies in a kernel stack's
    /// guard space.
    StackOverflow {
        /// The faulting address (CR2).
        address: u64,
        /// The vector that reported it.
        vector: u8,
    },
    /// A general protection fault; a non-zero code names a selector.
    GeneralProtection {
        /// The error code.
        code: u64,
    },
    /// Any other exception.
    Other {
        /// The vector.
        vector: u8,
        /// The error code (0 if the vector has none).
        code: u64,
    },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Fault::PageFault { address, code } => {
                let access = if code.contains(PageFaultErrorCode::INSTRUCTION_FETCH) {
                    "instruction fetch"
                } else if code.contains(PageFaultErrorCode::CAUSED_BY_WRITE) {
                    "write"
                } else {
                    "read"
                };
                let why = if code.contains(PageFaultErrorCode::PROTECTION_VIOLATION) { "protection violation" } else { "page not present" };
                write!(f, "page fault (vector 14): {access} of {address:#x}, {why}, error code {:#x} [{code:?}]", code.bits())
            }
            Fault::StackOverflow { address, vector } => {
                write!(f, "kernel stack overflow: {} (vector {vector}) at {address:#x}, in a stack guard page", name(vector))
            }
            Fault::GeneralProtection { code } => write!(
                f,
                "general protection fault (vector 13): error code {code:#x}{}",
                if code == 0 { " (not selector-related)" } else { "" }
            ),
            Fault::Other { vector, code } => {
                write!(f, "{} (vector {vector}), error code {code:#x}", name(vector))
            }
        }
    }
}

/// Where an exception came from, which decides what becomes of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A program (ring 3).
    User,
    /// A marked user-copy instruction in the kernel: resumable at `resume`.
    UserCopy {
        /// The fixup's address.
        resume: u64,
    },
    /// The kernel itself.
    Kernel,
}

/// Where the exception that pushed `frame` came from.
pub fn origin(frame: &InterruptFrame) -> Origin {
    if frame.cs & 3 == 3 {
        Origin::User
    } else if let Some(resume) = super::user_copy::fixup_for(frame.rip) {
        Origin::UserCopy { resume }
    } else {
        Origin::Kernel
    }
}

/// How many faults in user copies were resumed at their fixup since boot.
pub fn user_copy_faults() -> u64 {
    USER_COPY_FAULTS.load(Ordering::Relaxed)
}

static USER_COPY_FAULTS: AtomicU64 = AtomicU64::new(0);

static UNKNOWN_NMIS: AtomicU64 = AtomicU64::new(0);

/// NMIs that came while no fatal error was being reported (none of the
/// kernel's own), since boot: each was counted and the CPU went on.
pub fn unknown_nmis() -> u64 {
    UNKNOWN_NMIS.load(Ordering::Relaxed)
}

pub(super) fn handle(frame: &mut InterruptFrame) {
    let vector = frame.vector as u8;
    let fault = match vector {
        3 => {
            BREAKPOINTS.fetch_add(1, Ordering::Relaxed);
            // RIP already points past the one-byte int3.
            log::info!("breakpoint at {:#x}", frame.rip - 1);
            return;
        }
        2 if super::hooks::get().is_some_and(|h| (h.fatal_in_progress)()) => {
            // Another CPU is reporting a fatal error and stopped us.
            super::cpu::halt_forever();
        }
        2 => {
            // Nobody here sends one otherwise (QEMU's `nmi`, a watchdog of
            // the host's): counted and survived, as Linux does ("NMI
            // received for unknown reason"). Not logged: the code it
            // interrupted may hold the console's lock.
            UNKNOWN_NMIS.fetch_add(1, Ordering::Relaxed);
            return;
        }
        14 => {
            let address = super::cpu::cr2();
            if stack::is_overflow(address) {
                Fault::StackOverflow { address, vector }
            } else {
                Fault::PageFault { address, code: PageFaultErrorCode::from_bits_truncate(frame.error_code) }
            }
        }
        8 => {
            // The fault that could not be delivered set CR2 if it was a page
            // fault; a stack overflow leaves it in the guard space.
            let address = super::cpu::cr2();
            if stack::is_overflow(address) {
                Fault::StackOverflow { address, vector }
            } else {
                Fault::Other { vector, code: frame.error_code }
            }
        }
        13 => Fault::GeneralProtection { code: frame.error_code },
        _ => Fault::Other { vector, code: frame.error_code },
    };
    match origin(frame) {
        // Only an access fault is the program's doing; anything else at a
        // copy instruction (a double fault, a machine check) is the kernel's.
        Origin::UserCopy { .. } if matches!(vector, 13 | 14) => {
            USER_COPY_FAULTS.fetch_add(1, Ordering::Relaxed);
            let fixed = super::user_copy::try_fix(frame);
            debug_assert!(fixed);
            return;
        }
        _ => {}
    }
    match super::hooks::get() {
        Some(hooks) => (hooks.fatal_exception)(fault, frame),
        None => {
            log::error!("fatal exception before the kernel was up: {fault}");
            super::cpu::halt_forever()
        }
    }
}
