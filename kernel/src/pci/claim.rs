//! One driver per function: [`claim`] hands out a [`Claimed`] guard, and
//! everything that acts on the device (mapping a BAR, opening the MSI-X
//! table, binding MSI) takes the guard. The function is released when the
//! last clone of the guard is dropped: the driver keeps one, and each
//! mapping, table and binding made through it keeps its own, so the device
//! cannot be claimed again while any of them is alive.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::{Bdf, Function};

static CLAIMED: spin::Mutex<Vec<Bdf>> = spin::Mutex::new(Vec::new());

/// Another driver has the function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlreadyClaimed(pub Bdf);

impl core::fmt::Display for AlreadyClaimed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} is already driven by another driver", self.0)
    }
}

struct Claim {
    function: &'static Function,
}

impl Drop for Claim {
    fn drop(&mut self) {
        CLAIMED.lock().retain(|&b| b != self.function.bdf());
    }
}

/// A function this driver has claimed (dereferences to the [`Function`]).
#[derive(Clone)]
pub struct Claimed(Arc<Claim>);

impl Claimed {
    /// The function.
    pub fn function(&self) -> &'static Function {
        self.0.function
    }
}

impl core::ops::Deref for Claimed {
    type Target = Function;
    fn deref(&self) -> &Function {
        self.0.function
    }
}

impl core::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Claimed({})", self.0.function.bdf())
    }
}

/// Claims `function` for the calling driver: one driver per function, until
/// every clone of the guard is dropped.
pub fn claim(function: &'static Function) -> Result<Claimed, AlreadyClaimed> {
    let mut claimed = CLAIMED.lock();
    if claimed.contains(&function.bdf()) {
        return Err(AlreadyClaimed(function.bdf()));
    }
    claimed.push(function.bdf());
    Ok(Claimed(Arc::new(Claim { function })))
}

/// Whether a driver holds `bdf`.
pub fn is_claimed(bdf: Bdf) -> bool {
    CLAIMED.lock().contains(&bdf)
}

/// Every function with these ids, in bus order.
pub fn matching(vendor: u16, device: u16) -> impl Iterator<Item = &'static Function> {
    super::functions().iter().filter(move |f| f.header.vendor == vendor && f.header.device == device)
}

/// The first function with these ids.
pub fn find(vendor: u16, device: u16) -> Option<&'static Function> {
    matching(vendor, device).next()
}
