//! The network stack's limits, from the guest's side: listeners past the
//! stack's TCP socket limit are refused with `NetError::Limit`, the port
//! taken is `InUse`, and closing frees the sockets for the next bind; a
//! burst of connection requests larger than a listener's queue is never
//! refused (those past it are dropped and sent again); and a keep-alive
//! interval set on an idle connection sends its first probe only once the
//! interval has passed; and a program's listener takes its connections
//! from the stack's queue, shows at once what is left, and is told of each
//! one that comes; a write followed by a shutdown leaves in one segment
//! with the FIN.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::vec::Vec;
use core::time::Duration;

use drivers::net::ready::READABLE;
use drivers::net::{Connection, Ipv4Address, NetError, Reservation, TcpListener, TcpOption, TcpStream};
use futures_util::future::{join, join_all};
use kernel::{exec, println, time};

kernel::test_kernel![
    listeners_past_the_socket_limit_are_refused_and_closing_frees_them,
    a_burst_of_connection_requests_past_the_queue_is_never_refused,
    a_keep_alive_probe_comes_only_after_its_interval,
    a_listener_takes_each_connection_and_shows_what_is_left,
    a_write_and_the_fin_after_it_leave_together,
];

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

/// Connections in the burst: more than a listener's handshakes under way
/// (64), all asked for in one turn of the stack, over loopback, so that
/// every request reaches the listener before any handshake ends.
const BURST: usize = 80;

/// Loopback works once the interface has its address.
async fn wait_for_address() {
    let start = time::Instant::now();
    while drivers::net::status().and_then(|s| s.address).is_none() {
        assert!(start.elapsed() < Duration::from_secs(30), "no address");
        time::sleep(Duration::from_millis(10)).await;
    }
}

fn a_burst_of_connection_requests_past_the_queue_is_never_refused() {
    exec::block_on(async {
        wait_for_address().await;
        let overflows = drivers::net::status().map_or(0, |s| s.listen_overflows);
        let listener = TcpListener::bind_with_backlog(3000, 1).await.expect("a listener");
        let start = time::Instant::now();
        let connects = join_all((0..BURST).map(|_| TcpStream::connect(Ipv4Address::new(127, 0, 0, 1), 3000)));
        // A refused request is never accepted: the accepts give up after
        // 30 s (the connects' own limit is 10 s).
        let accepts = time::timeout(Duration::from_secs(30), async {
            let mut accepted = Vec::new();
            while accepted.len() < BURST {
                accepted.push(listener.accept().await.expect("accept"));
            }
            accepted
        });
        let (streams, accepted) = join(connects, accepts).await;
        let accepted = accepted.unwrap_or_default();
        let refused = streams.iter().filter(|s| s.is_err()).count();
        let dropped = drivers::net::status().map_or(0, |s| s.listen_overflows) - overflows;
        println!(
            "net burst: {BURST} requests at once to a listener with a backlog of 1: {} connected, {refused} failed, {dropped} requests dropped and sent again, in {} ms",
            accepted.len(),
            start.elapsed().as_millis()
        );
        for s in &streams {
            assert!(s.is_ok(), "a connection failed: {:?}", s.as_ref().err());
        }
        assert!(dropped > 0, "the burst outran the listener, so some requests waited");
    });
}

/// A connection made to `listening`, within 10 s.
async fn accept_one(listening: &drivers::net::Listening) -> Connection {
    let start = time::Instant::now();
    loop {
        if let Some(c) = listening.try_accept().expect("accept") {
            return c;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no connection within 10 s");
        time::sleep(Duration::from_millis(2)).await;
    }
}

/// Frames this machine has sent to itself (loopback: only this test's).
fn looped() -> u64 {
    drivers::net::status().map_or(0, |s| s.counters.looped)
}

fn a_keep_alive_probe_comes_only_after_its_interval() {
    const INTERVAL: Duration = Duration::from_millis(500);
    exec::block_on(async {
        wait_for_address().await;
        let listening = Reservation::new(3100).await.expect("a port").listen(4).await.expect("a listener");
        let client = Connection::open(Ipv4Address::new(127, 0, 0, 1), 3100).await.expect("a connection");
        let server = accept_one(&listening).await;
        // The handshake's last frames, and any delayed ACK, go first.
        time::sleep(Duration::from_millis(300)).await;
        let idle = looped();
        time::sleep(Duration::from_millis(200)).await;
        assert_eq!(looped(), idle, "the connection is idle");

        // A server's everyday option (Linux's default interval): nothing sent.
        server.set(TcpOption::KeepAlive(Some(Duration::from_secs(7200)))).await;
        let set = time::Instant::now();
        client.set(TcpOption::KeepAlive(Some(INTERVAL))).await;
        time::sleep(INTERVAL / 2).await;
        assert_eq!(looped(), idle, "a probe before the interval");
        // Then the client's probe and the server's answer.
        while looped() < idle + 2 {
            assert!(set.elapsed() < Duration::from_secs(20), "no keep-alive probe within 20 s");
            time::sleep(Duration::from_millis(5)).await;
        }
        let after = set.elapsed();
        println!(
            "net keep-alive: the first probe and its answer {} ms after an interval of {} ms was set",
            after.as_millis(),
            INTERVAL.as_millis()
        );
        assert!(after >= INTERVAL, "the probe came early");
        drop((client, server, listening));
    });
}

/// The listener's read generation moves past `seen` within 10 s.
async fn moved_past(listening: &drivers::net::Listening, seen: u32) -> Duration {
    let start = time::Instant::now();
    while listening.readiness().generation == seen {
        assert!(start.elapsed() < Duration::from_secs(10), "the listener never showed the connection");
        time::sleep(Duration::from_millis(2)).await;
    }
    start.elapsed()
}

fn a_listener_takes_each_connection_and_shows_what_is_left() {
    exec::block_on(async {
        wait_for_address().await;
        let listening = Reservation::new(3200).await.expect("a port").listen(4).await.expect("a listener");
        let to = Ipv4Address::new(127, 0, 0, 1);
        let first = Connection::open(to, 3200).await.expect("a connection");
        // (Not by the generation: the listener's first publication moves it.)
        let taken = accept_one(&listening).await;
        // Taken here, without a message: the listener shows none waiting
        // at once, whatever the stack last published.
        let r = listening.readiness();
        assert!(!r.has(READABLE) && r.queued == 0, "the connection taken is still shown: {r:?}");
        let seen = r.generation;
        let second = Connection::open(to, 3200).await.expect("a connection");
        let after = moved_past(&listening, seen).await;
        println!("net handoff: the second connection shown {} ms after its connect", after.as_millis());
        assert!(listening.try_accept().expect("accept").is_some(), "the second connection");
        assert!(listening.try_accept().expect("accept").is_none(), "only two");
        drop((first, taken, second, listening));
    });
}

/// Waits until no frame has gone to this machine itself for 200 ms.
async fn quiet() -> u64 {
    loop {
        let before = looped();
        time::sleep(Duration::from_millis(200)).await;
        if looped() == before {
            return before;
        }
    }
}

fn a_write_and_the_fin_after_it_leave_together() {
    exec::block_on(async {
        wait_for_address().await;
        let listening = Reservation::new(3300).await.expect("a port").listen(4).await.expect("a listener");
        let client = Connection::open(Ipv4Address::new(127, 0, 0, 1), 3300).await.expect("a connection");
        let server = accept_one(&listening).await;
        let before = quiet().await;
        assert_eq!(server.try_write(b"reply".to_vec()).await.expect("write"), Some(5));
        server.shutdown().await.expect("shutdown");
        let mut got = Vec::new();
        let start = time::Instant::now();
        loop {
            match client.try_read(64, false).await.expect("read") {
                Some(d) if d.is_empty() => break,
                Some(d) => got.extend_from_slice(&d),
                None => time::sleep(Duration::from_millis(1)).await,
            }
            assert!(start.elapsed() < Duration::from_secs(10), "no end of data");
        }
        assert_eq!(got, b"reply");
        // The server's data with its FIN, and the client's ACK of both.
        let frames = quiet().await - before;
        println!("net cork: a write and a shutdown took {frames} frames, both ways");
        assert_eq!(frames, 2, "the data and the FIN left apart");
        // A write its writer follows with nothing goes at its deadline.
        let sent = time::Instant::now();
        assert_eq!(client.try_write(b"late".to_vec()).await.expect("write"), Some(4));
        let got = loop {
            if let Some(d) = server.try_read(64, false).await.expect("read") {
                break d;
            }
            assert!(sent.elapsed() < Duration::from_secs(10), "a held write never left");
            time::sleep(Duration::from_millis(1)).await;
        };
        assert_eq!(got, b"late");
        println!("net cork: a write with no call after it arrived after {} us", sent.elapsed().as_micros());
        drop((client, server, listening));
    });
}
