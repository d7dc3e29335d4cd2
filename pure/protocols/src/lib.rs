//! Protocol parsing as pure code (`no_std` + `alloc`, no asm, no devices,
//! no concurrency): what arrives from outside is checked here before the
//! kernel acts on it, and everything builds and is tested on the host.
//!
//! - [`http`]: HTTP/1.x requests parsed whole and bounded, responses built;
//! - [`frame`]: a received Ethernet frame's headers and checksums, checked
//!   before the network stack sees it (malformed frames named by reason);
//! - [`line`]: a terminal line discipline (key decoding, line editing with
//!   history) for consoles;
//! - [`toeplitz`]: the RSS hash of a connection's addresses and ports, with
//!   DragonFly's symmetric key, which names the CPU that owns it;
//! - [`steer`]: which CPU's stack a received frame belongs to.
//!
//! The concurrency model (wait cells, rings, tokens, ports) is `io`'s.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

extern crate alloc;

pub mod frame;
pub mod http;
pub mod line;
pub mod steer;
pub mod toeplitz;
