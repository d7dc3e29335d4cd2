//! CPU numbering: [`CpuId`], the dense number every per-CPU table is
//! indexed by, and [`MAX_CPUS`], the size of those tables. Here, under
//! `arch`, so that the per-CPU data, the IDT's counters and the vector
//! allocator can use them without importing `smp` (which sits above arch).

/// The most CPUs the kernel's tables hold.
pub const MAX_CPUS: usize = 64;

/// A dense CPU number, 0..online(), with the boot CPU 0. Distinct from
/// [`ApicId`](super::lapic::ApicId), which firmware assigns and need not be
/// dense.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CpuId(u32);

impl CpuId {
    /// The boot CPU.
    pub const BOOT: CpuId = CpuId(0);

    /// `Some` if `n` is below [`MAX_CPUS`].
    pub const fn try_new(n: usize) -> Option<Self> {
        if n < MAX_CPUS { Some(Self(n as u32)) } else { None }
    }

    pub(crate) const fn from_raw(n: u32) -> Self {
        Self(n)
    }

    /// As an index.
    pub const fn as_usize(self) -> usize {
        self.0 as usize
    }

    /// As a number.
    pub const fn as_u32(self) -> u32 {
        self.0
    }
}

impl core::fmt::Display for CpuId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "cpu{}", self.0)
    }
}
