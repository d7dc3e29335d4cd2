//! The one way out when something goes wrong: panics and fatal exceptions.
//!
//! Protocol: the first CPU to fail claims `FATAL_CPU` and is the only one
//! that prints; it writes through the console's lock-free emergency path (the
//! failing code may hold the console lock). A CPU that fails while another is
//! already reporting halts silently. A second failure on the reporting CPU
//! (a fault inside the report) exits at once. Once SMP exists, the reporter
//! stops the other CPUs with an NMI; their NMI handler sees
//! [`in_progress`] and halts.
//!
//! The report then goes to whatever decides the exit ([`set_after_report`]:
//! a test kernel, `testing`, passes a fault it expected); without one, the
//! machine exits with failure.

use core::panic::PanicInfo;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::arch::backtrace::Backtrace;
use crate::arch::entry::InterruptFrame;
use crate::arch::exceptions::Fault;
use crate::arch::{cpu, percpu, qemu};
use crate::console::emergency_write;

const NONE: u32 = u32::MAX;
static FATAL_CPU: AtomicU32 = AtomicU32::new(NONE);

/// What went wrong.
#[derive(Clone, Copy, Debug)]
pub enum Report {
    /// A Rust panic.
    Panic,
    /// A fatal CPU exception.
    Fault(Fault),
}

/// What decides the exit once a report is printed.
pub type AfterReport = fn(Report) -> !;

static AFTER_REPORT: spin::Once<AfterReport> = spin::Once::new();

/// Makes `f` decide the exit after every fatal report (once: the test
/// runner does, so that a fault a test expected passes).
pub fn set_after_report(f: AfterReport) {
    AFTER_REPORT.call_once(|| f);
}

fn after_report(report: Report) -> ! {
    match AFTER_REPORT.get() {
        Some(f) => f(report),
        None => stop(),
    }
}

/// The task this CPU is polling, from the executor in its per-CPU block
/// (the `exec` module is above this one).
fn current_task() -> Option<(u64, Option<&'static str>)> {
    percpu::this().executor()?.current_task()
}

/// Whether some CPU is reporting a fatal error.
pub fn in_progress() -> bool {
    FATAL_CPU.load(Ordering::Acquire) != NONE
}

/// Claims the right to report. Returns `false` if this CPU must not print.
fn claim() -> bool {
    x86_64::instructions::interrupts::disable();
    let me = percpu::current_id().as_u32();
    match FATAL_CPU.compare_exchange(NONE, me, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {
            crate::smp::stop_others();
            true
        }
        Err(owner) if owner == me => {
            emergency_write(format_args!("\n!!! cpu{me}: fatal error while reporting a fatal error\n"));
            qemu::exit(qemu::ExitCode::Failure)
        }
        Err(_) => cpu::halt_forever(),
    }
}

/// Reports a fatal exception and stops.
pub fn exception(fault: Fault, frame: &InterruptFrame) -> ! {
    claim();
    let cpu = percpu::current_id().as_u32();
    let task = TaskName(current_task());
    emergency_write(format_args!("\n!!! FATAL on cpu{cpu}{task}: {fault}\n"));
    emergency_write(format_args!(
        "    rip {:#018x}  cs {:#x}  rflags {:#x}  rsp {:#018x}  ss {:#x}\n",
        frame.rip, frame.cs, frame.rflags, frame.rsp, frame.ss
    ));
    emergency_write(format_args!(
        "    rax {:#018x}  rbx {:#018x}  rcx {:#018x}  rdx {:#018x}\n    rsi {:#018x}  rdi {:#018x}  rbp {:#018x}  r8  {:#018x}",
        frame.rax, frame.rbx, frame.rcx, frame.rdx, frame.rsi, frame.rdi, frame.rbp, frame.r8
    ));
    emergency_write(format_args!("{}\n", Backtrace::of_frame(frame)));
    after_report(Report::Fault(fault))
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    claim();
    let cpu = percpu::current_id().as_u32();
    let task = TaskName(current_task());
    match info.location() {
        Some(at) => emergency_write(format_args!(
            "\n!!! PANIC on cpu{cpu}{task} at {}:{}:{}: {}",
            at.file(),
            at.line(),
            at.column(),
            info.message()
        )),
        None => emergency_write(format_args!("\n!!! PANIC on cpu{cpu}{task}: {}", info.message())),
    }
    emergency_write(format_args!("{}\n", Backtrace::here()));
    after_report(Report::Panic)
}

/// " in task N 'name'" when a task was being polled, else nothing.
struct TaskName(Option<(u64, Option<&'static str>)>);

impl core::fmt::Display for TaskName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some((id, Some(name))) => write!(f, " in task {id} '{name}'"),
            Some((id, None)) => write!(f, " in task {id}"),
            None => Ok(()),
        }
    }
}

/// Exit for a kernel that is not running tests: report failure to the host.
pub(crate) fn stop() -> ! {
    qemu::exit(qemu::ExitCode::Failure)
}
