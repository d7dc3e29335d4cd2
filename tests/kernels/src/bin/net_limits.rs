//! The network stack's limits, from the guest's side: listeners past the
//! stack's TCP socket limit are refused with `NetError::Limit`, the port
//! taken is `InUse`, and closing frees the sockets for the next bind.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::vec::Vec;
use core::time::Duration;

use drivers::net::{NetError, TcpListener};
use kernel::{exec, println, time};

kernel::test_kernel![listeners_past_the_socket_limit_are_refused_and_closing_frees_them];

fn listeners_past_the_socket_limit_are_refused_and_closing_frees_them() {
    assert!(drivers::net::start(), "a virtio-net device (the test boots with one)");
    exec::block_on(async {
        let mut held = Vec::new();
        let refused = loop {
            match TcpListener::bind_with_backlog(1000 + held.len() as u16, 64).await {
                Ok(l) => held.push(l),
                Err(e) => break e,
            }
            assert!(held.len() < 100, "no limit reached");
        };
        println!("net limits: {} listeners of 16 listening sockets, then {refused}", held.len());
        assert_eq!(refused, NetError::Limit);
        assert_eq!(held.len(), 20, "320 sockets: 16 listening for each listener");
        let port = held[0].port();
        assert_eq!(TcpListener::bind(port).await.err(), Some(NetError::InUse));
        drop(held);
        // The closes travel as messages; the sockets come back soon after.
        let start = time::Instant::now();
        let again = loop {
            match TcpListener::bind_with_backlog(2000, 64).await {
                Ok(l) => break l,
                Err(NetError::Limit) if start.elapsed() < Duration::from_secs(5) => time::sleep(Duration::from_millis(10)).await,
                Err(e) => panic!("bind after closing: {e}"),
            }
        };
        println!("net limits: a listener again after {} ms", start.elapsed().as_millis());
        drop(again);
    });
}
