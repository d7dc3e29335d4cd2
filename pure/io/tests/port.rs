//! Message ports on the host: threads stand for CPUs. Each has an inbox of
//! posted words (the IPI queues) that it drains before every poll, and
//! parks (bounded: a lost wake fails) when its future is pending.

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use futures_util::future::join;
use io::port::{Port, PortError, PortHooks, PortRef};

thread_local! {
    static CPU: Cell<usize> = const { Cell::new(0) };
}

/// Where a simulated CPU's posted words go, and the thread to unpark.
type Inbox = (Sender<usize>, thread::Thread);

/// Each simulated CPU's inbox, by CPU number.
static INBOXES: Mutex<Vec<Option<Inbox>>> = Mutex::new(Vec::new());

fn current() -> usize {
    CPU.with(Cell::get)
}

fn post(cpu: usize, word: usize) {
    let inboxes = INBOXES.lock().unwrap();
    let (tx, t) = inboxes[cpu].as_ref().expect("that CPU runs");
    tx.send(word).unwrap();
    t.unpark();
}

static HOOKS: PortHooks = PortHooks { current, post };

struct Unpark(thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Makes this thread simulated CPU `cpu`; returns its inbox.
fn become_cpu(cpu: usize) -> Receiver<usize> {
    CPU.with(|c| c.set(cpu));
    let (tx, rx) = channel();
    let mut inboxes = INBOXES.lock().unwrap();
    if inboxes.len() <= cpu {
        inboxes.resize_with(cpu + 1, || None);
    }
    inboxes[cpu] = Some((tx, thread::current()));
    rx
}

/// Runs `f` on this simulated CPU: drains the inbox before each poll.
fn run<F: Future>(inbox: &Receiver<usize>, f: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        while let Ok(word) = inbox.try_recv() {
            // SAFETY: every word was posted by a port for this CPU, once.
            unsafe { io::port::deliver(word) };
        }
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        if inbox.try_recv().is_ok_and(|w| {
            // SAFETY: as above.
            unsafe { io::port::deliver(w) };
            true
        }) {
            continue;
        }
        let start = Instant::now();
        thread::park_timeout(Duration::from_secs(10));
        assert!(start.elapsed() < Duration::from_secs(10), "cpu{} parked 10 s: a lost wake", current());
    }
}

/// CPU numbers are per test: each test takes a block of its own.
fn cpus(n: usize) -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(n, Ordering::Relaxed)
}

/// A server on one CPU answers calls from three others, each exactly once.
#[test]
fn calls_from_other_cpus_are_each_answered_once() {
    const CALLS: u64 = 10_000;
    let base = cpus(4);
    let (tx, rx) = channel::<PortRef<u64, u64>>();
    let served = Arc::new(AtomicUsize::new(0));
    let server = {
        let served = Arc::clone(&served);
        thread::spawn(move || {
            let inbox = become_cpu(base);
            let (port, handle) = Port::<u64, u64>::new(&HOOKS, 8);
            for _ in 0..3 {
                tx.send(handle.clone()).unwrap();
            }
            drop(handle);
            run(
                &inbox,
                port.serve(|x| {
                    served.fetch_add(1, Ordering::Relaxed);
                    x * 2 + 1
                }),
            );
        })
    };
    let clients: Vec<_> = (1..4)
        .map(|i| {
            let port = rx.recv().unwrap();
            thread::spawn(move || {
                let inbox = become_cpu(base + i);
                run(&inbox, async move {
                    for k in 0..CALLS {
                        assert_eq!(port.call(k).await, Ok(k * 2 + 1));
                    }
                });
            })
        })
        .collect();
    clients.into_iter().for_each(|c| c.join().unwrap());
    server.join().unwrap();
    assert_eq!(served.load(Ordering::Relaxed), 3 * CALLS as usize, "each call served once");
}

#[test]
fn a_call_on_the_servers_own_cpu_needs_no_post() {
    let base = cpus(1);
    let inbox = become_cpu(base);
    let (port, handle) = Port::<u32, u32>::new(&HOOKS, 4);
    let out = run(
        &inbox,
        join(port.serve(|x| x + 1), async move {
            let r = (handle.call(1).await, handle.call(41).await);
            drop(handle);
            r
        }),
    );
    assert_eq!(out.1, (Ok(2), Ok(42)));
    assert!(inbox.try_recv().is_err(), "nothing was posted");
}

/// Counts drops, so a test can see every request and reply dropped once.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_full_port_makes_the_sender_wait_and_loses_nothing() {
    let base = cpus(1);
    let inbox = become_cpu(base);
    let (mut port, handle) = Port::<u32, ()>::new(&HOOKS, 2);
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    let mut sends = [pin!(handle.send(1)), pin!(handle.send(2))];
    for s in &mut sends {
        assert_eq!(s.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    }
    let mut third = pin!(handle.send(3));
    assert!(third.as_mut().poll(&mut cx).is_pending(), "the port holds two: the third waits");
    let first = run(&inbox, port.recv()).expect("a message");
    assert_eq!(*first.request(), 1);
    assert_eq!(third.as_mut().poll(&mut cx), Poll::Ready(Ok(())), "room again");
    assert_eq!(port.queued(), 2);
}

#[test]
fn try_send_takes_what_fits_and_gives_the_rest_back() {
    let base = cpus(1);
    let inbox = become_cpu(base);
    let (mut port, handle) = Port::<u32, ()>::new(&HOOKS, 2);
    assert_eq!(handle.try_send(1), Ok(()));
    assert_eq!(handle.try_send(2), Ok(()));
    assert_eq!(handle.try_send(3), Err(3), "the port holds two: the third comes back");
    let first = run(&inbox, port.recv()).expect("a message");
    assert_eq!(*first.request(), 1);
    drop(first);
    assert_eq!(handle.try_send(3), Ok(()), "room again");
    assert_eq!(port.queued(), 2);
    drop(port);
    assert_eq!(handle.try_send(4), Err(4), "the server has gone");
}

#[test]
fn an_aborted_call_gets_one_reply_which_is_dropped() {
    let base = cpus(1);
    let inbox = become_cpu(base);
    let drops = Arc::new(AtomicUsize::new(0));
    let (mut port, handle) = Port::<u32, Counted>::new(&HOOKS, 4);
    let mut cx = Context::from_waker(Waker::noop());
    {
        let mut call = pin!(handle.call(7));
        assert!(call.as_mut().poll(&mut cx).is_pending(), "sent, waiting");
    } // the caller gives up
    let m = run(&inbox, port.recv()).expect("the message arrived anyway");
    let (req, answer) = m.take();
    assert_eq!(req, 7);
    assert!(!answer.reply(Counted(Arc::clone(&drops))), "the caller had gone");
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the one reply was dropped, once");
}

#[test]
fn try_reply_gives_an_aborted_callers_answer_back() {
    let base = cpus(1);
    let inbox = become_cpu(base);
    let (mut port, handle) = Port::<u32, u32>::new(&HOOKS, 4);
    let mut cx = Context::from_waker(Waker::noop());
    {
        let mut call = pin!(handle.call(7));
        assert!(call.as_mut().poll(&mut cx).is_pending(), "sent, waiting");
    } // the caller gives up
    let (_, answer) = run(&inbox, port.recv()).expect("the message arrived anyway").take();
    assert_eq!(answer.try_reply(70), Err(70), "the answer comes back to the server");
    let (out, ()) = run(
        &inbox,
        join(handle.call(8), async {
            let (req, answer) = port.recv().await.expect("the second message").take();
            assert_eq!(answer.try_reply(req * 10), Ok(()), "a caller that waits takes it");
        }),
    );
    assert_eq!(out, Ok(80));
}

#[test]
fn a_message_dropped_unanswered_tells_the_caller() {
    let base = cpus(1);
    let inbox = become_cpu(base);
    let (mut port, handle) = Port::<u32, u32>::new(&HOOKS, 4);
    let out = run(
        &inbox,
        join(
            async {
                drop(port.recv().await);
            },
            handle.call(1),
        ),
    );
    assert_eq!(out.1, Err(PortError::NoReply));
}

#[test]
fn a_dropped_port_closes_every_waiting_and_later_call() {
    let base = cpus(2);
    let (tx, rx) = channel();
    let server = thread::spawn(move || {
        let inbox = become_cpu(base);
        let (mut port, handle) = Port::<u32, u32>::new(&HOOKS, 8);
        tx.send(handle).unwrap();
        // Take one message, then go away with the rest unanswered.
        let first = run(&inbox, port.recv()).expect("a call");
        drop(first);
        thread::sleep(Duration::from_millis(50));
        while let Ok(w) = inbox.try_recv() {
            // SAFETY: posted by the port for this CPU.
            unsafe { io::port::deliver(w) };
        }
        drop(port);
        // Later posts land on a closed port.
        thread::sleep(Duration::from_millis(50));
        while let Ok(w) = inbox.try_recv() {
            // SAFETY: as above.
            unsafe { io::port::deliver(w) };
        }
    });
    let handle = rx.recv().unwrap();
    let inbox = become_cpu(base + 1);
    let results = run(&inbox, async {
        let mut calls = Vec::new();
        for k in 0..4 {
            calls.push(handle.call(k));
        }
        futures_util::future::join_all(calls).await
    });
    server.join().unwrap();
    assert_eq!(results[0], Err(PortError::NoReply), "the taken one was dropped unanswered");
    assert!(results[1..].iter().all(|r| *r == Err(PortError::Closed)), "{results:?}");
    assert_eq!(run(&inbox, handle.call(9)), Err(PortError::Closed), "a later call");
}

#[test]
fn replies_can_go_to_a_reply_port() {
    let base = cpus(1);
    let inbox = become_cpu(base);
    let (server, handle) = Port::<u32, u32>::new(&HOOKS, 4);
    let (mut replies, reply_to) = Port::<u32, ()>::new(&HOOKS, 4);
    let out = run(
        &inbox,
        join(server.serve(|x| x * 10), async move {
            handle.send_with_reply(4, &reply_to).await.unwrap();
            handle.send_with_reply(5, &reply_to).await.unwrap();
            drop(handle);
            let a = *replies.recv().await.expect("a reply").request();
            let b = *replies.recv().await.expect("a reply").request();
            (a, b)
        }),
    );
    assert_eq!(out.1, (40, 50));
}

#[test]
fn recv_ends_when_every_handle_is_gone() {
    let base = cpus(1);
    let inbox = become_cpu(base);
    let (mut port, handle) = Port::<u32, ()>::new(&HOOKS, 4);
    let h2 = handle.clone();
    drop(handle);
    run(&inbox, h2.send(1)).unwrap();
    drop(h2);
    assert!(run(&inbox, port.recv()).is_some(), "what was sent still arrives");
    assert!(run(&inbox, port.recv()).is_none(), "then the end");
}

/// With its server idle on this CPU, a call runs the handler in place: it
/// is answered on its first poll, and the server is never polled for it.
#[test]
fn a_same_cpu_call_to_an_idle_server_runs_in_place() {
    let base = cpus(1);
    let _inbox = become_cpu(base);
    let (port, handle) = Port::<u32, u32>::new(&HOOKS, 4);
    let mut cx = Context::from_waker(Waker::noop());
    let mut server = pin!(port.serve(|x| x * 7));
    assert!(server.as_mut().poll(&mut cx).is_pending(), "the server idles in recv");
    for k in 0..3 {
        let mut call = pin!(handle.call(k));
        assert_eq!(call.as_mut().poll(&mut cx), Poll::Ready(Ok(k * 7)), "answered in place");
    }
    drop(handle);
    assert_eq!(server.as_mut().poll(&mut cx), Poll::Ready(()), "nothing was queued; the loop ends");
}
