//! Every function on every bus: from the root bus, each device's function 0,
//! functions 1-7 of multifunction devices, and the secondary bus of every
//! PCI-to-PCI bridge, followed recursively. Only buses in the access
//! method's range are read (an MCFG entry covers a segment's bus range);
//! a bridge whose secondary bus is outside it, unassigned, or already seen
//! is reported and not followed, so a misconfigured bridge cannot loop.

use alloc::vec::Vec;
use core::fmt;
use core::ops::RangeInclusive;

use crate::bar::{self, Bar, BarError};
use crate::capability::{self, Capability, WalkError};
use crate::header::{Header, Kind};
use crate::{Bdf, ConfigAccess};

/// One function: its header, BARs and capabilities, and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    /// The header, as read.
    pub header: Header,
    /// Implemented BARs, sized.
    pub bars: Vec<Bar>,
    /// Capabilities, in list order.
    pub capabilities: Vec<Capability>,
    /// Problems found (logged by the caller; the rest of the function is kept).
    pub problems: Vec<Problem>,
}

impl Function {
    /// Its address.
    pub fn bdf(&self) -> Bdf {
        self.header.bdf
    }

    /// The first capability of `kind`.
    pub fn capability(&self, kind: capability::Kind) -> Option<Capability> {
        self.capabilities.iter().copied().find(|c| c.kind == kind)
    }

    /// The BAR with register index `index`.
    pub fn bar(&self, index: u8) -> Option<Bar> {
        self.bars.iter().copied().find(|b| b.index == index)
    }
}

/// Something wrong with a function or a bus, reported and skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The capability list is malformed; the walk stopped there.
    Capabilities(WalkError),
    /// A BAR could not be decoded.
    Bar(BarError),
    /// A bridge's secondary bus is 0, outside the range, or already scanned.
    BridgeNotFollowed {
        /// Its secondary bus number.
        secondary: u8,
    },
    /// A header type this kernel does not know.
    UnknownHeader(u8),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Capabilities(e) => write!(f, "{e}"),
            Problem::Bar(e) => write!(f, "{e}"),
            Problem::BridgeNotFollowed { secondary } => {
                write!(f, "bridge to bus {secondary} not followed (unassigned, out of range or seen)")
            }
            Problem::UnknownHeader(t) => write!(f, "unknown header type {t:#x}"),
        }
    }
}

/// Scans segment `segment` from its root bus (the start of `buses`).
pub fn scan(access: &impl ConfigAccess, segment: u16, buses: RangeInclusive<u8>) -> Vec<Function> {
    let mut found = Vec::new();
    let mut seen = [false; 256];
    scan_bus(access, segment, *buses.start(), &buses, &mut seen, &mut found);
    found
}

fn scan_bus(
    access: &impl ConfigAccess,
    segment: u16,
    bus: u8,
    buses: &RangeInclusive<u8>,
    seen: &mut [bool; 256],
    found: &mut Vec<Function>,
) {
    seen[usize::from(bus)] = true;
    for device in 0..32 {
        let Some(first) = Bdf::new(segment, bus, device, 0).and_then(|bdf| Header::read(access, bdf)) else {
            continue;
        };
        let functions = if first.multifunction { 8 } else { 1 };
        for function in 0..functions {
            let header = if function == 0 {
                Some(first)
            } else {
                Bdf::new(segment, bus, device, function).and_then(|bdf| Header::read(access, bdf))
            };
            let Some(header) = header else { continue };
            let mut f = describe(access, header);
            let follow = match header.bridge_buses {
                Some((secondary, _)) if secondary != 0 && buses.contains(&secondary) && !seen[usize::from(secondary)] => Some(secondary),
                Some((secondary, _)) => {
                    f.problems.push(Problem::BridgeNotFollowed { secondary });
                    None
                }
                None => None,
            };
            found.push(f);
            if let Some(secondary) = follow {
                scan_bus(access, segment, secondary, buses, seen, found);
            }
        }
    }
}

/// Reads a function's BARs and capabilities.
pub fn describe(access: &impl ConfigAccess, header: Header) -> Function {
    let mut problems = Vec::new();
    if let Kind::Unknown(t) = header.kind {
        problems.push(Problem::UnknownHeader(t));
    }
    let (bars, bar_errors) = bar::probe(access, &header);
    problems.extend(bar_errors.into_iter().map(Problem::Bar));
    let (capabilities, walk_error) = capability::walk(access, &header);
    problems.extend(walk_error.map(Problem::Capabilities));
    Function { header, bars, capabilities, problems }
}
