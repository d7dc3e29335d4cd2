//! The vector map: which interrupt vector serves what, in one place, and
//! the per-CPU allocator of the dynamic range (MSI and MSI-X vectors a
//! driver aims at a CPU it chooses).
//!
//! ```text
//! 0x00..=0x1f  CPU exceptions (never a `Vector`)
//! 0x20..=0x2f  the legacy PICs, remapped there and masked (`pic`)
//! 0x30..=0x6f  IOAPIC lines: GSI g on vector 0x30 + g (`irq::bind`)
//! 0x70..=0xdf  dynamic, per CPU: `allocate(cpu)` (MSI/MSI-X)
//! 0xe0..=0xee  test kernels and benchmarks: `test(n)`
//! 0xef         local APIC timer
//! 0xf0         wake: a CPU's executor has wakes on its wake stack
//! 0xf1         IPI queues: a CPU's rings have messages
//! 0xff         local APIC spurious interrupt
//! ```
//!
//! A fixed vector is made by [`Vector::new`] in a constant, so a vector
//! below 0x20 is a compile error, not a runtime check. A dynamic vector is
//! the same number on many CPUs: its handler is registered per CPU
//! ([`Allocated::set_handler`]), and each CPU's allocation is its own.
//!
//! Allocation protocol: each CPU's dynamic range is a bitmap of atomic
//! words; `allocate` takes the lowest clear bit with a compare-and-swap (any
//! CPU may allocate on any CPU: a driver aims a vector at the CPU that owns
//! a queue), and dropping the [`Allocated`] clears its handler, then its bit
//! (Release), so a later owner never sees the old handler.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::cpu_array::CpuArray;
use super::cpu_id::CpuId;
use super::entry::InterruptFrame;

/// An interrupt vector that a device or IPI may use (0x20..=0xff; lower
/// numbers are CPU exceptions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Vector(u8);

impl Vector {
    /// The first vector not reserved for CPU exceptions.
    pub const FIRST_FREE: u8 = 0x20;

    /// Vector `n`; panics (at compile time, in a constant) on an exception
    /// vector.
    pub const fn new(n: u8) -> Self {
        assert!(n >= Self::FIRST_FREE, "vectors below 0x20 are CPU exceptions");
        Self(n)
    }

    /// `Some` if `n` is not an exception vector.
    pub const fn try_new(n: u8) -> Option<Self> {
        if n >= Self::FIRST_FREE { Some(Self(n)) } else { None }
    }

    /// The vector number.
    pub const fn as_u8(self) -> u8 {
        self.0
    }

    /// Index into per-vector tables that start at [`Vector::FIRST_FREE`].
    pub const fn index(self) -> usize {
        (self.0 - Self::FIRST_FREE) as usize
    }
}

impl core::fmt::Display for Vector {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#04x}", self.0)
    }
}

/// Vectors that are not exceptions: 0x20..=0xff.
pub const COUNT: usize = 256 - Vector::FIRST_FREE as usize;

/// The legacy PICs' 16 lines (masked).
pub const PIC_BASE: Vector = Vector::new(0x20);
/// IOAPIC line `g` is on `GSI_BASE + g`.
pub const GSI_BASE: Vector = Vector::new(0x30);
/// Lines the IOAPIC range holds.
pub const GSI_COUNT: u32 = 64;
/// The dynamic range, per CPU.
pub const DYNAMIC_FIRST: Vector = Vector::new(0x70);
/// The last dynamic vector.
pub const DYNAMIC_LAST: Vector = Vector::new(0xdf);
/// First of the vectors test kernels and benchmarks use.
const TEST_BASE: u8 = 0xe0;
/// How many test vectors there are.
pub const TEST_COUNT: u8 = 15;
/// The local APIC timer.
pub const TIMER: Vector = Vector::new(0xef);
/// A CPU's executor has wakes waiting on its wake stack.
pub const WAKE: Vector = Vector::new(0xf0);
/// A CPU's IPI-queue rings have messages.
pub const IPIQ: Vector = Vector::new(0xf1);
/// The local APIC's spurious interrupt (no EOI).
pub const SPURIOUS: Vector = Vector::new(0xff);

/// The vector of IOAPIC line `gsi`, if the range holds it.
pub const fn gsi(gsi: u32) -> Option<Vector> {
    if gsi < GSI_COUNT { Some(Vector(GSI_BASE.0 + gsi as u8)) } else { None }
}

/// Test vector `n` (below [`TEST_COUNT`]), for test kernels and benchmarks;
/// checked at compile time in a constant.
pub const fn test(n: u8) -> Vector {
    assert!(n < TEST_COUNT, "there are TEST_COUNT test vectors");
    Vector(TEST_BASE + n)
}

/// What a vector serves, by the map above (the shell's `irq` table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A legacy PIC line (masked: seen only if the PIC misfires).
    Pic(u8),
    /// An IOAPIC line.
    Gsi(u32),
    /// The dynamic range (MSI/MSI-X), allocated per CPU.
    Dynamic,
    /// A test or benchmark vector.
    Test(u8),
    /// The local APIC timer.
    Timer,
    /// The executor's wake IPI.
    Wake,
    /// The IPI queues.
    Ipiq,
    /// The spurious vector.
    Spurious,
    /// Nothing is assigned there.
    Unassigned,
}

impl Vector {
    /// What this vector serves.
    pub const fn purpose(self) -> Purpose {
        match self.0 {
            0x20..=0x2f => Purpose::Pic(self.0 - PIC_BASE.0),
            0x30..=0x6f => Purpose::Gsi((self.0 - GSI_BASE.0) as u32),
            0x70..=0xdf => Purpose::Dynamic,
            0xe0..=0xee => Purpose::Test(self.0 - TEST_BASE),
            0xef => Purpose::Timer,
            0xf0 => Purpose::Wake,
            0xf1 => Purpose::Ipiq,
            0xff => Purpose::Spurious,
            _ => Purpose::Unassigned,
        }
    }
}

impl core::fmt::Display for Purpose {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Purpose::Pic(line) => write!(f, "PIC line {line}"),
            Purpose::Gsi(g) => write!(f, "device GSI {g}"),
            Purpose::Dynamic => f.write_str("MSI (per CPU)"),
            Purpose::Test(n) => write!(f, "test {n}"),
            Purpose::Timer => f.write_str("local timer"),
            Purpose::Wake => f.write_str("wake"),
            Purpose::Ipiq => f.write_str("IPI queues"),
            Purpose::Spurious => f.write_str("spurious"),
            Purpose::Unassigned => f.write_str("unassigned"),
        }
    }
}

/// Every vector that is not an exception, in order.
pub fn all() -> impl Iterator<Item = Vector> {
    (Vector::FIRST_FREE..=u8::MAX).map(Vector)
}

// ---- the per-CPU allocator of the dynamic range ----

const DYNAMIC_COUNT: usize = (DYNAMIC_LAST.0 - DYNAMIC_FIRST.0) as usize + 1;
const WORDS: usize = DYNAMIC_COUNT.div_ceil(64);

/// One CPU's dynamic range.
struct CpuVectors {
    /// Bit i set = `DYNAMIC_FIRST + i` is allocated on this CPU.
    allocated: [AtomicU64; WORDS],
    /// Per dynamic vector: its handler as a `usize` (0: none).
    handlers: [AtomicUsize; DYNAMIC_COUNT],
}

static CPUS: CpuArray<CpuVectors> = crate::cpu_array!(CpuVectors {
    allocated: [const { AtomicU64::new(0) }; WORDS],
    handlers: [const { AtomicUsize::new(0) }; DYNAMIC_COUNT],
});

/// A handler for an interrupt or IPI. It runs with interrupts off on the
/// interrupt's stack and must not block or allocate.
pub type InterruptHandler = fn(Vector, &mut InterruptFrame);

/// Every dynamic vector of that CPU is allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exhausted(pub CpuId);

impl core::fmt::Display for Exhausted {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "all {DYNAMIC_COUNT} dynamic vectors of {} are allocated", self.0)
    }
}

/// A dynamic vector allocated on one CPU; dropping it releases it.
#[derive(Debug)]
#[must_use = "dropping the allocation releases the vector"]
pub struct Allocated {
    cpu: CpuId,
    vector: Vector,
}

/// Allocates a free dynamic vector on `cpu` (the lowest).
pub fn allocate(cpu: CpuId) -> Result<Allocated, Exhausted> {
    for (w, word) in CPUS.get(cpu).allocated.iter().enumerate() {
        let mut bits = word.load(Ordering::Relaxed);
        loop {
            let free = !bits & valid_bits(w);
            if free == 0 {
                break;
            }
            let bit = free.trailing_zeros();
            match word.compare_exchange_weak(bits, bits | (1 << bit), Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => {
                    let vector = Vector(DYNAMIC_FIRST.0 + (w * 64) as u8 + bit as u8);
                    return Ok(Allocated { cpu, vector });
                }
                Err(now) => bits = now,
            }
        }
    }
    Err(Exhausted(cpu))
}

/// The bits of word `w` that stand for vectors of the range.
const fn valid_bits(w: usize) -> u64 {
    let left = DYNAMIC_COUNT - w * 64;
    if left >= 64 { u64::MAX } else { (1 << left) - 1 }
}

/// Dynamic vectors allocated on `cpu` now.
pub fn allocated_count(cpu: CpuId) -> u32 {
    CPUS.get(cpu).allocated.iter().map(|w| w.load(Ordering::Relaxed).count_ones()).sum()
}

impl Allocated {
    /// The CPU the vector is allocated on (where its interrupts must go).
    pub fn cpu(&self) -> CpuId {
        self.cpu
    }

    /// The vector.
    pub fn vector(&self) -> Vector {
        self.vector
    }

    /// Routes this vector's interrupts on its CPU to `handler`.
    pub fn set_handler(&self, handler: InterruptHandler) {
        self.slot().store(handler as usize, Ordering::Release);
    }

    fn slot(&self) -> &'static AtomicUsize {
        &CPUS.get(self.cpu).handlers[usize::from(self.vector.0 - DYNAMIC_FIRST.0)]
    }
}

impl Drop for Allocated {
    fn drop(&mut self) {
        self.slot().store(0, Ordering::Release);
        let i = usize::from(self.vector.0 - DYNAMIC_FIRST.0);
        CPUS.get(self.cpu).allocated[i / 64].fetch_and(!(1 << (i % 64)), Ordering::Release);
    }
}

/// The handler `cpu` has for dynamic vector `v`, if any.
pub(super) fn dynamic_handler(cpu: CpuId, v: Vector) -> Option<InterruptHandler> {
    let i = usize::from(v.0.checked_sub(DYNAMIC_FIRST.0)?);
    let raw = CPUS.get(cpu).handlers.get(i)?.load(Ordering::Acquire);
    // SAFETY: the only non-zero values stored in HANDLERS come from
    // `set_handler`, which stores an `InterruptHandler` cast to usize.
    (raw != 0).then(|| unsafe { core::mem::transmute::<usize, InterruptHandler>(raw) })
}

/// Whether `v` is in the dynamic (per-CPU) range.
pub(super) const fn is_dynamic(v: Vector) -> bool {
    v.0 >= DYNAMIC_FIRST.0 && v.0 <= DYNAMIC_LAST.0
}
