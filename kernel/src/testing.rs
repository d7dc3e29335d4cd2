//! The in-kernel side of integration tests.
//!
//! A test kernel (`tests/kernels/src/bin/*.rs`) calls [`run`] with its named
//! test functions. Each prints `test NAME ... ok` when it returns; the kernel
//! then exits through `isa-debug-exit` with success. A panic or fatal fault in
//! a test prints `test NAME ... FAILED` and exits with failure, unless the
//! test declared with [`expect_fault`] that this is the outcome it wants (the
//! page-fault and stack-overflow tests): then it prints `ok` and passes. A
//! test that cannot run on this machine (one that needs two CPUs, booted
//! with one) calls [`skip`] and returns: it prints `test NAME ... skipped:
//! WHY`, never `ok`.
//!
//! The host side (`tests/*.rs`) asserts on the exit status and the lines.

use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicU64, Ordering};

use crate::arch::exceptions::Fault;
use crate::arch::qemu::{ExitCode, exit};
use crate::fatal::Report;
use crate::println;

/// A named test function.
#[derive(Clone, Copy)]
pub struct Test {
    /// Printed in `test NAME ... ok`.
    pub name: &'static str,
    /// The test body; it passes if it returns.
    pub run: fn(),
}

/// Builds a `[Test]` array from function paths, named after them.
#[macro_export]
macro_rules! tests {
    ($($f:path),* $(,)?) => {
        [$($crate::testing::Test { name: stringify!($f), run: $f }),*]
    };
}

/// A fault a test expects to end it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// A page fault at exactly this address.
    PageFault(u64),
    /// A kernel stack overflow caught by a guard page.
    StackOverflow,
}

const NO_EXPECTATION: u8 = 0;
const EXPECT_PAGE_FAULT: u8 = 1;
const EXPECT_STACK_OVERFLOW: u8 = 2;

static CURRENT: AtomicPtr<&'static str> = AtomicPtr::new(core::ptr::null_mut());
/// Why the running test skipped itself, if it did.
static SKIPPED: spin::Mutex<Option<&'static str>> = spin::Mutex::new(None);
static EXPECT_KIND: AtomicU8 = AtomicU8::new(NO_EXPECTATION);
static EXPECT_ADDR: AtomicU64 = AtomicU64::new(0);

/// Runs `tests` in order, then exits QEMU with success.
pub fn run(tests: &'static [Test]) -> ! {
    crate::fatal::set_after_report(on_fatal);
    println!("running {} tests", tests.len());
    let mut skipped = 0;
    for test in tests {
        CURRENT.store(core::ptr::from_ref(&test.name).cast_mut(), Ordering::Release);
        (test.run)();
        EXPECT_KIND.store(NO_EXPECTATION, Ordering::Release);
        let why = SKIPPED.lock().take();
        match why {
            None => println!("test {} ... ok", test.name),
            Some(why) => {
                skipped += 1;
                println!("test {} ... skipped: {why}", test.name);
            }
        }
    }
    CURRENT.store(core::ptr::null_mut(), Ordering::Release);
    println!("test result: ok. {} passed; 0 failed; {skipped} skipped", tests.len() - skipped);
    exit(ExitCode::Success)
}

/// Marks the running test as skipped, for `why` (it should return at once):
/// it is reported as `skipped`, not `ok`.
pub fn skip(why: &'static str) {
    *SKIPPED.lock() = Some(why);
}

/// Skips the running test unless `n` CPUs are online; `true` if it did.
pub fn skip_unless_cpus(n: usize) -> bool {
    if crate::smp::online() >= n {
        return false;
    }
    skip(if n == 2 { "needs two CPUs" } else { "needs more CPUs" });
    true
}

/// Declares that the running test ends with `fault`; reaching it passes.
pub fn expect_fault(fault: Expected) {
    match fault {
        Expected::PageFault(addr) => {
            EXPECT_ADDR.store(addr, Ordering::Release);
            EXPECT_KIND.store(EXPECT_PAGE_FAULT, Ordering::Release);
        }
        Expected::StackOverflow => EXPECT_KIND.store(EXPECT_STACK_OVERFLOW, Ordering::Release),
    }
}

fn current() -> Option<&'static str> {
    let p = CURRENT.load(Ordering::Acquire);
    // SAFETY: non-null values point at the `name` field of a `Test` in the
    // 'static slice passed to `run`.
    (!p.is_null()).then(|| unsafe { *p })
}

fn expected(report: Report) -> bool {
    match (EXPECT_KIND.load(Ordering::Acquire), report) {
        (EXPECT_PAGE_FAULT, Report::Fault(Fault::PageFault { address, .. })) => address == EXPECT_ADDR.load(Ordering::Acquire),
        (EXPECT_STACK_OVERFLOW, Report::Fault(Fault::StackOverflow { .. })) => true,
        _ => false,
    }
}

/// Called by the fatal path after the report is printed; never returns.
fn on_fatal(report: Report) -> ! {
    let write = crate::console::emergency_write;
    match current() {
        Some(name) if expected(report) => {
            write(format_args!("test {name} ... ok (expected fault)\n"));
            write(format_args!("test result: ok. expected fault reached\n"));
            exit(ExitCode::Success)
        }
        Some(name) => {
            write(format_args!("test {name} ... FAILED\n"));
            write(format_args!("test result: FAILED. {name} failed\n"));
            exit(ExitCode::Failure)
        }
        None => crate::fatal::stop(),
    }
}

/// Recurses until the stack's guard page stops it (for stack-overflow tests).
#[inline(never)]
#[allow(unconditional_recursion, reason = "the guard page is the base case")]
pub fn overflow_stack(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 64]);
    core::hint::black_box(overflow_stack(depth + 1)) + frame[depth as usize % 64]
}

/// Declares a whole test kernel: its entry point and its tests, run in order.
///
/// ```ignore
/// kernel::test_kernel![boots, int3_returns];
/// ```
#[macro_export]
macro_rules! test_kernel {
    ($($f:path),* $(,)?) => {
        $crate::entry!(__odonata_test_main);
        fn __odonata_test_main() -> ! {
            static TESTS: &[$crate::testing::Test] = &$crate::tests![$($f),*];
            $crate::testing::run(TESTS)
        }
    };
}

/// The heap's used bytes once every CPU has run what was still owed to it,
/// for tests that check nothing leaked. A finished task stays allocated
/// until the last wake message naming it is handled on its CPU, and a
/// block freed on another CPU counts as used until its owner takes it
/// home (each CPU's loop does), so a reading taken at once can be a task
/// block or two high. A CPU's timer queue allocates its first node on the
/// CPU's first sleep and keeps it, so a reading before any CPU's first
/// sleep would be a node low. Rounds of a sleep on every CPU settle all
/// three; a reading counts only with no block in transit, and since the
/// last round's own tasks may still be in flight when it returns, the
/// lowest of a few is the settled one.
pub fn settled_heap_used() -> u64 {
    use crate::heap;
    use core::time::Duration;
    let mut lowest = u64::MAX;
    let mut readings = 0;
    for _ in 0..200 {
        crate::exec::block_on(crate::run_on::broadcast(|| crate::time::sleep(Duration::from_millis(1))));
        crate::exec::block_on(crate::time::sleep(Duration::from_millis(2)));
        let d = heap::detail();
        if d.in_transit() == 0 {
            lowest = lowest.min(d.used());
            readings += 1;
            if readings == 4 {
                break;
            }
        }
    }
    assert!(readings > 0, "the heap never settled: blocks stayed in transit for 200 rounds");
    lowest
}
