//! Random bytes for programs (`getrandom`, `/dev/urandom`, `AT_RANDOM`):
//! a ChaCha20 generator per CPU, seeded from the virtio-rng device and
//! reseeded from it every [`RESEED_AFTER`] bytes, as Linux's CRNG draws on
//! its entropy sources. A program's `execve` or `getrandom` then costs no
//! device request. Each CPU uses only its own generator: the lock is never
//! contended (another CPU never takes it).

use kernel::arch::cpu_id::MAX_CPUS;
use linux::errno::{self, Errno};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use spin::Mutex;

/// Bytes a generator gives before it is seeded again.
pub const RESEED_AFTER: u64 = 1 << 20;

struct Generator {
    rng: ChaCha20Rng,
    given: u64,
}

static GENERATORS: [Mutex<Option<Generator>>; MAX_CPUS] = [const { Mutex::new(None) }; MAX_CPUS];

async fn seed() -> Result<[u8; 32], Errno> {
    let mut seed = [0u8; 32];
    crate::fs::device_random(&mut seed).await?;
    Ok(seed)
}

/// Fills `buf` with random bytes from this CPU's generator (seeding it
/// from the entropy device first if it needs it: EIO without a device).
pub async fn fill(buf: &mut [u8]) -> Result<(), Errno> {
    let slot = &GENERATORS[kernel::smp::current().as_usize()];
    let fresh = slot.lock().as_ref().is_none_or(|g| g.given >= RESEED_AFTER);
    if fresh {
        let seed = seed().await?;
        // The task may have moved CPUs only by `sched_setaffinity`, which
        // happens between system calls: still this CPU's slot.
        *slot.lock() = Some(Generator { rng: ChaCha20Rng::from_seed(seed), given: 0 });
    }
    let mut guard = slot.lock();
    let g = guard.as_mut().ok_or(errno::EIO)?;
    g.rng.fill_bytes(buf);
    g.given += buf.len() as u64;
    Ok(())
}
