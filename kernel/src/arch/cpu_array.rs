//! [`CpuArray`]: one value per CPU, each on cache lines of its own, for
//! state that other CPUs read or write (halted flags, spawners, queues,
//! per-CPU counters). A module keeps one `CpuArray` of one struct holding
//! all of its per-CPU fields, instead of a `[_; MAX_CPUS]` static per field:
//! a CPU's fields then share its lines, and neighbouring CPUs share none.
//!
//! State only its own CPU touches belongs in its [`PerCpu`](super::percpu::PerCpu)
//! block instead (reached through GS, no index).

use super::cpu_id::{CpuId, MAX_CPUS};

/// Two cache lines: x86's adjacent-line prefetcher pulls lines in pairs,
/// so 128 bytes keep two CPUs' values from contending (crossbeam's
/// `CachePadded` picks 128 on x86_64 for the same reason).
#[repr(C, align(128))]
pub struct Padded<T>(pub T);

/// `T` for each of [`MAX_CPUS`] CPUs, cache-padded, indexed by [`CpuId`].
#[repr(transparent)]
pub struct CpuArray<T>([Padded<T>; MAX_CPUS]);

impl<T> CpuArray<T> {
    /// Builds every CPU's value with `make` (a `const` context takes a
    /// `const { .. }` array instead: [`CpuArray::from_array`]).
    pub fn new(mut make: impl FnMut(CpuId) -> T) -> Self {
        Self(core::array::from_fn(|i| Padded(make(CpuId::from_raw(i as u32)))))
    }

    /// Wraps values made in a `const` context, one per CPU.
    pub const fn from_array(values: [Padded<T>; MAX_CPUS]) -> Self {
        Self(values)
    }

    /// CPU `cpu`'s value.
    #[inline]
    pub fn get(&self, cpu: CpuId) -> &T {
        // `CpuId` is always below MAX_CPUS (its constructors check).
        &self.0[cpu.as_usize()].0
    }

    /// The running CPU's value.
    #[inline]
    pub fn this(&self) -> &T {
        self.get(super::percpu::current_id())
    }

    /// Every CPU's value, with its id.
    pub fn iter(&self) -> impl Iterator<Item = (CpuId, &T)> {
        self.0.iter().enumerate().map(|(i, v)| (CpuId::from_raw(i as u32), &v.0))
    }
}

/// A `CpuArray` in a `static`: `cpu_array![Value { .. }]` with a `const`
/// expression for each CPU's value.
#[macro_export]
macro_rules! cpu_array {
    ($value:expr) => {
        $crate::arch::cpu_array::CpuArray::from_array([const { $crate::arch::cpu_array::Padded($value) }; $crate::arch::cpu_id::MAX_CPUS])
    };
}

const _: () = assert!(core::mem::align_of::<Padded<u8>>() == 128);
const _: () = assert!(core::mem::size_of::<Padded<[u8; 129]>>() == 256);
