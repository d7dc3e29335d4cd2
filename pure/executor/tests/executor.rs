//! Every public operation and task state transition of the executor.

mod common;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use common::{DropCount, SIGNALS, executor, poll_once};
use executor::{BUDGET, Band, JoinError, Spawn, yield_now};

/// Pending until `wakes` wakes have been issued by itself on its first poll.
struct WakeSelf {
    wakes: usize,
    polled: usize,
}

impl Future for WakeSelf {
    type Output = usize;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.polled += 1;
        if self.polled == 1 {
            for _ in 0..self.wakes {
                cx.waker().wake_by_ref();
            }
            return Poll::Pending;
        }
        Poll::Ready(self.polled)
    }
}

/// Stores its waker in a slot and waits for `flag`.
struct WaitFlag {
    slot: Arc<Mutex<Option<Waker>>>,
    flag: Arc<AtomicUsize>,
}

impl Future for WaitFlag {
    type Output = usize;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        *self.slot.lock().unwrap() = Some(cx.waker().clone());
        match self.flag.load(Ordering::SeqCst) {
            0 => Poll::Pending,
            n => Poll::Ready(n),
        }
    }
}

#[test]
fn spawn_run_join() {
    let ex = executor();
    let a = ex.spawn(async { 6 * 7 });
    let b = ex.spawn(async move { a.await.unwrap() + 1 });
    ex.run_until_idle();
    let mut b = b;
    assert_eq!(poll_once(&mut b), Poll::Ready(Ok(43)));
    let s = ex.stats();
    assert_eq!((s.spawned, s.completed, s.live, s.queued), (2, 2, 0, 0));
}

#[test]
fn tasks_spawn_tasks() {
    let ex = Rc::new(executor());
    let inner = Rc::clone(&ex);
    let mut outer = ex.spawn(async move {
        let handles: Vec<_> = (0..10u64).map(|i| inner.spawn(async move { i * i })).collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    });
    ex.run_until_idle();
    assert_eq!(poll_once(&mut outer), Poll::Ready(Ok(285)));
}

#[test]
fn repeated_wakes_before_poll_enqueue_once() {
    let ex = executor();
    let mut h = ex.spawn(WakeSelf { wakes: 5, polled: 0 });
    ex.run_until_idle();
    // Polled twice: the five wakes during the first poll queued it once.
    assert_eq!(poll_once(&mut h), Poll::Ready(Ok(2)));
    assert_eq!(ex.stats().polls, 2);
    assert_eq!(ex.stats().local_wakes, 5);
}

#[test]
fn yield_is_round_robin() {
    let ex = executor();
    let trace = Rc::new(RefCell::new(Vec::new()));
    for name in ["a", "b"] {
        let trace = Rc::clone(&trace);
        drop(ex.spawn(async move {
            for i in 0..3 {
                trace.borrow_mut().push(format!("{name}{i}"));
                yield_now().await;
            }
        }));
    }
    ex.run_until_idle();
    assert_eq!(*trace.borrow(), ["a0", "b0", "a1", "b1", "a2", "b2"]);
}

#[test]
fn interrupt_band_runs_first() {
    let ex = executor();
    let trace = Rc::new(RefCell::new(Vec::new()));
    let t = Rc::clone(&trace);
    drop(ex.spawn(async move { t.borrow_mut().push("normal") }));
    let t = Rc::clone(&trace);
    let opts = Spawn { name: Some("irq"), band: Band::Interrupt };
    drop(ex.spawn_with(opts, async move { t.borrow_mut().push("interrupt") }));
    ex.run_until_idle();
    assert_eq!(*trace.borrow(), ["interrupt", "normal"]);
}

/// A normal task, mid-poll, sees a driver task woken from another thread
/// (the inbox) as waiting, and only then.
#[test]
fn a_normal_task_sees_a_woken_interrupt_band_task_waiting() {
    let ex: &'static executor::Executor = Box::leak(Box::new(executor()));
    let slot = Arc::new(Mutex::new(None));
    let flag = Arc::new(AtomicUsize::new(0));
    let opts = Spawn { name: Some("driver"), band: Band::Interrupt };
    let mut driver = ex.spawn_with(opts, WaitFlag { slot: Arc::clone(&slot), flag: Arc::clone(&flag) });
    ex.run_until_idle();
    let waker = slot.lock().unwrap().take().expect("registered");
    let mut seen = ex.spawn(async move {
        let before = ex.interrupt_band_waiting();
        flag.store(1, Ordering::SeqCst);
        std::thread::spawn(move || waker.wake()).join().unwrap();
        (before, ex.interrupt_band_waiting())
    });
    ex.run_until_idle();
    assert_eq!(poll_once(&mut seen), Poll::Ready(Ok((false, true))));
    assert_eq!(poll_once(&mut driver), Poll::Ready(Ok(1)));
}

#[test]
fn busy_task_is_bounded_by_budget() {
    let ex = executor();
    let stop = Rc::new(RefCell::new(false));
    let s = Rc::clone(&stop);
    drop(ex.spawn(async move {
        while !*s.borrow() {
            yield_now().await;
        }
    }));
    assert_eq!(ex.tick(), BUDGET, "one tick polls at most BUDGET times");
    assert!(ex.has_work());
    *stop.borrow_mut() = true;
    ex.run_until_idle();
    assert!(!ex.has_work());
}

#[test]
fn wake_from_another_thread_goes_through_the_inbox() {
    let ex = executor();
    let slot = Arc::new(Mutex::new(None));
    let flag = Arc::new(AtomicUsize::new(0));
    let mut h = ex.spawn(WaitFlag { slot: Arc::clone(&slot), flag: Arc::clone(&flag) });
    ex.run_until_idle();
    let signals_before = SIGNALS[ex.id()].load(Ordering::SeqCst);
    let waker = slot.lock().unwrap().take().expect("registered");
    let f = Arc::clone(&flag);
    std::thread::spawn(move || {
        f.store(9, Ordering::SeqCst);
        waker.wake_by_ref();
        waker.wake_by_ref(); // coalesces with the first
        waker.wake();
    })
    .join()
    .unwrap();
    assert!(ex.has_work(), "the remote wake is in the inbox");
    assert_eq!(SIGNALS[ex.id()].load(Ordering::SeqCst), signals_before + 1, "one signal for an empty inbox");
    ex.run_until_idle();
    assert_eq!(poll_once(&mut h), Poll::Ready(Ok(9)));
    assert_eq!(ex.stats().remote_wakes, 1);
}

#[test]
fn abort_while_queued_never_polls() {
    let ex = executor();
    let polled = Rc::new(RefCell::new(false));
    let p = Rc::clone(&polled);
    let drops_ref: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let guard = DropCount(drops_ref);
    let mut h = ex.spawn(async move {
        let _keep = guard;
        *p.borrow_mut() = true;
    });
    h.abort();
    ex.run_until_idle();
    assert!(!*polled.borrow());
    assert_eq!(poll_once(&mut h), Poll::Ready(Err(JoinError::Cancelled)));
    assert_eq!(drops_ref.load(Ordering::SeqCst), 1, "the future was dropped once");
}

#[test]
fn abort_while_running() {
    let ex = executor();
    let slot: Rc<RefCell<Option<executor::JoinHandle<()>>>> = Rc::new(RefCell::new(None));
    let drops: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let s = Rc::clone(&slot);
    let guard = DropCount(drops);
    let h = ex.spawn(async move {
        let _g = guard;
        // Abort ourselves during our own poll, then keep going.
        s.borrow().as_ref().expect("handle stored").abort();
        yield_now().await;
        unreachable!("a cancelled task is not polled again");
    });
    *slot.borrow_mut() = Some(h);
    ex.run_until_idle();
    let mut h = slot.borrow_mut().take().unwrap();
    assert!(h.is_finished());
    assert_eq!(poll_once(&mut h), Poll::Ready(Err(JoinError::Cancelled)));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn abort_after_completion_keeps_output() {
    let ex = executor();
    let mut h = ex.spawn(async { 5 });
    ex.run_until_idle();
    h.abort();
    ex.run_until_idle();
    assert_eq!(poll_once(&mut h), Poll::Ready(Ok(5)));
}

#[test]
fn handle_dropped_before_completion_output_dropped_once() {
    let ex = executor();
    let drops: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let h = ex.spawn(async move { DropCount(drops) });
    drop(h);
    ex.run_until_idle();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn handle_dropped_after_completion_output_dropped_once() {
    let ex = executor();
    let drops: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let h = ex.spawn(async move { DropCount(drops) });
    ex.run_until_idle();
    assert_eq!(drops.load(Ordering::SeqCst), 0, "the handle owns it now");
    drop(h);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn joined_output_dropped_once_by_its_receiver() {
    let ex = executor();
    let drops: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let mut h = ex.spawn(async move { DropCount(drops) });
    ex.run_until_idle();
    let Poll::Ready(Ok(out)) = poll_once(&mut h) else { panic!("not ready") };
    drop(h);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(out);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

/// Futures that keep a waker (`io::AtomicWaker`, timers, join handles)
/// clone it only when `will_wake` says the stored one would not do: the
/// waker a poll lends must compare equal to a clone kept from an earlier
/// poll of the same task, or every poll pays a clone and a drop (two atomic
/// reference-count updates).
#[test]
fn a_kept_clone_will_wake_the_task_polled_again() {
    struct Keep(Option<Waker>);
    impl Future for Keep {
        type Output = (bool, bool);
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(bool, bool)> {
            match self.0.take() {
                None => {
                    self.0 = Some(cx.waker().clone());
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                Some(kept) => Poll::Ready((kept.will_wake(cx.waker()), cx.waker().will_wake(&kept))),
            }
        }
    }
    let ex = executor();
    let mut h = ex.spawn(Keep(None));
    ex.run_until_idle();
    assert_eq!(poll_once(&mut h), Poll::Ready(Ok((true, true))));
}

#[test]
fn wake_after_completion_is_ignored() {
    let ex = executor();
    let slot = Arc::new(Mutex::new(None));
    let flag = Arc::new(AtomicUsize::new(1));
    let mut h = ex.spawn(WaitFlag { slot: Arc::clone(&slot), flag });
    ex.run_until_idle();
    assert_eq!(poll_once(&mut h), Poll::Ready(Ok(1)));
    let waker = slot.lock().unwrap().take().unwrap();
    waker.wake_by_ref();
    std::thread::spawn(move || waker.wake()).join().unwrap();
    assert!(!ex.has_work());
    assert_eq!(ex.stats().polls, 1);
}

#[test]
fn join_handle_wakes_its_awaiter() {
    let ex = executor();
    let slot = Arc::new(Mutex::new(None));
    let flag = Arc::new(AtomicUsize::new(0));
    let inner = ex.spawn(WaitFlag { slot: Arc::clone(&slot), flag: Arc::clone(&flag) });
    let mut outer = ex.spawn(async move { inner.await.unwrap() * 2 });
    ex.run_until_idle();
    assert_eq!(poll_once(&mut outer), Poll::Pending);
    flag.store(21, Ordering::SeqCst);
    slot.lock().unwrap().take().unwrap().wake();
    ex.run_until_idle();
    assert_eq!(poll_once(&mut outer), Poll::Ready(Ok(42)));
}

/// A task that polls a `JoinHandle` again while it is registered (woken
/// for something else) keeps its registration (the same waker) and is still
/// woken when the joined task completes.
#[test]
fn a_join_awaiter_polled_again_is_still_woken() {
    struct JoinTwice<T> {
        inner: executor::JoinHandle<T>,
        polls: usize,
    }
    impl<T> Future for JoinTwice<T> {
        type Output = (usize, T);
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(usize, T)> {
            self.polls += 1;
            if self.polls == 1 {
                // Something else wakes us: the next poll registers again.
                cx.waker().wake_by_ref();
            }
            match Pin::new(&mut self.inner).poll(cx) {
                Poll::Ready(out) => Poll::Ready((self.polls, out.unwrap())),
                Poll::Pending => Poll::Pending,
            }
        }
    }
    let ex = executor();
    let slot = Arc::new(Mutex::new(None));
    let flag = Arc::new(AtomicUsize::new(0));
    let inner = ex.spawn(WaitFlag { slot: Arc::clone(&slot), flag: Arc::clone(&flag) });
    let mut outer = ex.spawn(JoinTwice { inner, polls: 0 });
    ex.run_until_idle();
    assert_eq!(poll_once(&mut outer), Poll::Pending);
    flag.store(5, Ordering::SeqCst);
    slot.lock().unwrap().take().unwrap().wake();
    ex.run_until_idle();
    assert_eq!(poll_once(&mut outer), Poll::Ready(Ok((3, 5))));
}

#[test]
fn dropping_the_executor_drops_live_futures_once() {
    let drops: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let ex = executor();
    let mut handles = Vec::new();
    for _ in 0..10 {
        let g = DropCount(drops);
        handles.push(ex.spawn(async move {
            let _g = g;
            std::future::pending::<()>().await
        }));
    }
    ex.run_until_idle();
    assert_eq!(ex.stats().live, 10);
    drop(ex);
    assert_eq!(drops.load(Ordering::SeqCst), 10);
    for mut h in handles {
        assert_eq!(poll_once(&mut h), Poll::Ready(Err(JoinError::Cancelled)));
    }
}

#[test]
fn task_snapshot_for_ps() {
    let ex = executor();
    let _a = ex.spawn_with(Spawn { name: Some("sleeper"), band: Band::Normal }, std::future::pending::<()>());
    let _b = ex.spawn(async {});
    ex.run_until_idle();
    let mut tasks = Vec::new();
    ex.for_each_task(|t| tasks.push(t));
    assert_eq!(tasks.len(), 1, "only the live task is listed");
    assert_eq!(tasks[0].name, Some("sleeper"));
    assert_eq!(tasks[0].polls, 1);
    assert!(!tasks[0].queued);
}

/// `for_each_task` called from a task sees itself (being polled), the queued
/// tasks of both bands and the waiting ones, each once.
#[test]
fn task_snapshot_from_a_task_sees_every_place() {
    let ex: &'static executor::Executor = Box::leak(Box::new(executor()));
    let _idle = ex.spawn_with(Spawn { name: Some("idle"), band: Band::Normal }, std::future::pending::<()>());
    ex.run_until_idle();
    let ps = ex.spawn_with(Spawn { name: Some("ps"), band: Band::Normal }, async move {
        let mut seen = Vec::new();
        ex.for_each_task(|t| seen.push((t.name, t.queued, t.band)));
        seen
    });
    let _q = ex.spawn_with(Spawn { name: Some("queued"), band: Band::Normal }, async {});
    let _irq = ex.spawn_with(Spawn { name: Some("driver"), band: Band::Interrupt }, std::future::pending::<()>());
    // Poll only `ps`: the driver task (interrupt band) goes first, then ps.
    ex.tick();
    let mut ps = ps;
    let Poll::Ready(Ok(mut seen)) = poll_once(&mut ps) else { panic!("ps did not run") };
    seen.sort_by_key(|s| s.0);
    assert_eq!(
        seen,
        vec![
            (Some("driver"), false, Band::Interrupt),
            (Some("idle"), false, Band::Normal),
            (Some("ps"), false, Band::Normal),
            (Some("queued"), true, Band::Normal),
        ]
    );
}

/// A task that reads the statistics during its first poll sees that poll
/// counted, for itself and for the executor (the shell's `cpus` runs as the
/// only task on an otherwise idle CPU and reports its polls).
#[test]
fn a_poll_is_counted_when_it_starts() {
    let ex: &'static executor::Executor = Box::leak(Box::new(executor()));
    let mut h = ex.spawn_with(Spawn { name: Some("self"), band: Band::Normal }, async move {
        let mut own = 0;
        ex.for_each_task(|t| {
            if t.name == Some("self") {
                own = t.polls;
            }
        });
        (ex.stats().polls, own)
    });
    ex.tick();
    assert_eq!(poll_once(&mut h), Poll::Ready(Ok((1, 1))));
    assert_eq!(ex.stats().polls, 1);
}

#[test]
fn overhead_per_task_is_small() {
    let bytes = executor::overhead_bytes::<std::future::Ready<u8>>();
    println!("task block overhead: {bytes} bytes");
    // The header is 96 bytes (task.rs); a regression guard, not a target.
    assert!(bytes <= 104, "{bytes} bytes of overhead");
}

#[test]
fn panicking_task_is_observable_through_its_handle() {
    let ex = executor();
    let mut h = ex.spawn(async {
        if std::hint::black_box(true) {
            panic!("deliberate");
        }
        1
    });
    let after = ex.spawn(async { 2 });
    ex.run_until_idle();
    assert_eq!(poll_once(&mut h), Poll::Ready(Err(JoinError::Panicked)));
    let mut after = after;
    assert_eq!(poll_once(&mut after), Poll::Ready(Ok(2)), "the executor carries on");
}

#[test]
fn watchdog_names_slow_polls_and_current_task_is_tracked() {
    use std::sync::atomic::AtomicU64;
    static SLOW: Mutex<Vec<(Option<&'static str>, u64)>> = Mutex::new(Vec::new());
    static SEEN_CURRENT: AtomicU64 = AtomicU64::new(0);
    const THRESHOLD_NS: u64 = 100_000_000;
    const SLOW_NS: u64 = 150_000_000;
    let ex = Rc::new(executor());
    // The report is slow itself, as a log line on a serial port is: it must
    // not be charged to the task polled next. The threshold (100 ms) is far
    // above what a trivial poll takes even on a loaded 2-core machine, and
    // the hog and the report each take half as long again.
    ex.set_watchdog(THRESHOLD_NS, |task, cycles| {
        SLOW.lock().unwrap().push((task.name, cycles));
        std::thread::sleep(std::time::Duration::from_nanos(SLOW_NS));
    });
    let inner = Rc::clone(&ex);
    drop(ex.spawn_with(Spawn { name: Some("hog"), band: Band::Normal }, async move {
        if let Some((id, Some("hog"))) = inner.current_task() {
            SEEN_CURRENT.store(id, Ordering::SeqCst);
        }
        std::thread::sleep(std::time::Duration::from_nanos(SLOW_NS));
    }));
    drop(ex.spawn_with(Spawn { name: Some("quick"), band: Band::Normal }, async {}));
    ex.run_until_idle();
    let slow = SLOW.lock().unwrap();
    assert_eq!(slow.len(), 1, "only the hog: {slow:?}");
    assert_eq!(slow[0].0, Some("hog"));
    assert!(slow[0].1 >= SLOW_NS, "never early: the test clock counts nanoseconds");
    println!("watchdog: the hog's poll measured {} ms (slept {} ms)", slow[0].1 / 1_000_000, SLOW_NS / 1_000_000);
    assert_eq!(SEEN_CURRENT.load(Ordering::SeqCst), 1);
    assert_eq!(ex.current_task(), None, "nothing is polled between ticks");
}

/// What an interrupt on the executor's CPU sees in the middle of a poll (the
/// stall detector's view): the task, when its poll began, and whether it
/// said its polls are long by design.
#[test]
fn the_poll_in_progress_is_visible_from_inside_it() {
    let ex = Rc::new(executor());
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (inner, log) = (Rc::clone(&ex), Rc::clone(&seen));
    drop(ex.spawn_with(Spawn { name: Some("spinner"), band: Band::Normal }, async move {
        log.borrow_mut().push(inner.poll_in_progress());
        inner.set_long_polls(true);
        log.borrow_mut().push(inner.poll_in_progress());
        yield_now().await;
        log.borrow_mut().push(inner.poll_in_progress());
    }));
    assert_eq!(ex.poll_in_progress(), None, "no poll before the tick");
    ex.run_until_idle();
    assert_eq!(ex.poll_in_progress(), None, "none after it");
    let seen = seen.borrow();
    let polls: Vec<_> = seen.iter().map(|p| p.expect("inside a poll")).collect();
    assert!(polls.iter().all(|p| p.task == 1 && p.name == Some("spinner")), "{polls:?}");
    assert_eq!(polls.iter().map(|p| p.long_by_design).collect::<Vec<_>>(), [false, true, true], "the mark lasts past the poll that set it");
    assert_eq!(polls[0].poll, polls[1].poll, "one poll");
    assert!(polls[0].poll < polls[2].poll, "the second poll has a later number: {polls:?}");
}

#[test]
fn a_task_that_allows_long_polls_is_not_reported() {
    static SLOW: Mutex<Vec<Option<&'static str>>> = Mutex::new(Vec::new());
    const THRESHOLD_NS: u64 = 20_000_000;
    let ex = Rc::new(executor());
    ex.set_watchdog(THRESHOLD_NS, |task, _| SLOW.lock().unwrap().push(task.name));
    for name in ["spins by design", "spins in a scope", "hog"] {
        let inner = Rc::clone(&ex);
        drop(ex.spawn_with(Spawn { name: Some(name), band: Band::Normal }, async move {
            let was = if name == "hog" { false } else { inner.set_long_polls(true) };
            std::thread::sleep(std::time::Duration::from_nanos(2 * THRESHOLD_NS));
            if name == "spins in a scope" {
                // The scope ends before the poll returns: still exempt.
                inner.set_long_polls(was);
            }
        }));
    }
    ex.run_until_idle();
    assert_eq!(*SLOW.lock().unwrap(), [Some("hog")]);
}

#[test]
fn remote_spawn_is_made_here_and_runs_there() {
    use std::sync::mpsc;
    let (tx, rx) = mpsc::channel::<usize>();
    let (spawner_tx, spawner_rx) = mpsc::channel();
    let (result_tx, result_rx) = mpsc::channel();
    let owner = std::thread::spawn(move || {
        let ex = executor();
        spawner_tx.send(ex.remote_spawner()).unwrap();
        // The "IPI queue": adopt tokens as they arrive.
        let raw = rx.recv().unwrap();
        // SAFETY: the raw token came from `into_raw`, once.
        ex.adopt(unsafe { executor::Adopt::from_raw(raw) });
        ex.run_until_idle();
        result_tx.send(std::thread::current().id()).unwrap();
    });
    let spawner = spawner_rx.recv().unwrap();
    let (mut handle, token) = spawner.prepare(Spawn::default(), async { std::thread::current().id() });
    assert_eq!(token.owner(), spawner.id());
    tx.send(token.into_raw()).unwrap();
    let owner_thread = result_rx.recv().unwrap();
    owner.join().unwrap();
    assert_eq!(poll_once(&mut handle), Poll::Ready(Ok(owner_thread)), "ran on the owner");
}

/// `prepare_with`: the closure travels, the future is made and polled on
/// the owner and need not be `Send` (it holds an `Rc` across an await).
#[test]
fn remote_spawn_with_a_future_made_on_the_owner() {
    use std::rc::Rc;
    use std::sync::mpsc;
    let (tx, rx) = mpsc::channel::<usize>();
    let (spawner_tx, spawner_rx) = mpsc::channel();
    let owner = std::thread::spawn(move || {
        let ex = executor();
        spawner_tx.send(ex.remote_spawner()).unwrap();
        for raw in rx.iter() {
            // SAFETY: each raw token came from `into_raw`, once.
            ex.adopt(unsafe { executor::Adopt::from_raw(raw) });
            ex.run_until_idle();
        }
        std::thread::current().id()
    });
    let spawner: executor::RemoteSpawner = spawner_rx.recv().unwrap();
    let (mut made, token) = spawner.prepare_with(Spawn::default(), || async {
        let here = Rc::new(std::thread::current().id());
        executor::yield_now().await;
        *here
    });
    tx.send(token.into_raw()).unwrap();
    // Aborted before it reaches its owner: `make` is dropped, never called.
    let (mut aborted, token) = spawner.prepare_with(Spawn::default(), || -> std::future::Ready<u8> { panic!("made although aborted") });
    aborted.abort();
    tx.send(token.into_raw()).unwrap();
    drop(tx);
    let owner_thread = owner.join().unwrap();
    assert_eq!(poll_once(&mut made), Poll::Ready(Ok(owner_thread)), "made and run on the owner");
    assert_eq!(poll_once(&mut aborted), Poll::Ready(Err(JoinError::Cancelled)));
}
