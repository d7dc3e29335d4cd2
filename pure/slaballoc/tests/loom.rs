//! Loom models of the remote-free list (`src/remote.rs`): every block
//! pushed comes home exactly once, and the owner is told whenever a push
//! finds the list empty, so a list left non-empty after the owner's last
//! take was announced after that take.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p slaballoc --release --test loom`
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use slaballoc::remote::{Chain, Pushed, RemoteList};

fn block(id: usize) -> *mut u8 {
    Box::into_raw(Box::new([id, 0usize])).cast()
}

/// Takes the list, frees the blocks, records their tags; whether it found
/// anything.
fn collect(list: &RemoteList, seen: &mut Vec<usize>) -> bool {
    let mut n = 0;
    for (b, tag) in list.take() {
        // SAFETY: every block is a leaked [usize; 2] from `block`, and its
        // link was read before it was yielded.
        drop(unsafe { Box::from_raw(b.cast::<[usize; 2]>()) });
        seen.push(tag);
        n += 1;
    }
    list.taken(n);
    n > 0
}

/// Two threads, each pushing one block (tags 100 and 101) and counting
/// the pushes that found the list empty in `told`.
fn spawn_pushers(list: &Arc<RemoteList>, told: &Arc<AtomicUsize>) -> Vec<thread::JoinHandle<()>> {
    (0..2)
        .map(|i| {
            let (list, told) = (list.clone(), told.clone());
            thread::spawn(move || {
                // SAFETY: a fresh two-word block, given up.
                if unsafe { list.push(block(i), 100 + i) } == Pushed::First {
                    told.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect()
}

#[test]
fn two_pushers_and_an_owner_taking_concurrently_lose_nothing() {
    loom::model(|| {
        let list = Arc::new(RemoteList::new());
        let told = Arc::new(AtomicUsize::new(0));
        let pushers = spawn_pushers(&list, &told);
        let mut seen = Vec::new();
        let mut batches = usize::from(collect(&list, &mut seen));
        for p in pushers {
            p.join().unwrap();
        }
        batches += usize::from(collect(&list, &mut seen));
        seen.sort();
        assert_eq!(seen, vec![100, 101], "every block home exactly once");
        assert_eq!(list.in_transit(), 0);
        // Each batch the owner took began with exactly one push that found
        // the list empty: the owner was told once per batch, never missed.
        assert_eq!(told.load(Ordering::Relaxed), batches);
    });
}

#[test]
fn a_chain_and_a_block_pushed_against_a_take_arrive_whole() {
    loom::model(|| {
        let list = Arc::new(RemoteList::new());
        let chain = {
            let list = list.clone();
            thread::spawn(move || {
                let (a, b) = (block(0), block(1));
                // SAFETY: two fresh blocks, linked a -> b, tagged, given up.
                unsafe {
                    Chain::tag(a, 200);
                    Chain::tag(b, 201);
                    Chain::link(a, b);
                    let _ = list.push_chain(a, b, 2);
                }
            })
        };
        let single = {
            let list = list.clone();
            // SAFETY: as above.
            thread::spawn(move || unsafe {
                let _ = list.push(block(2), 100);
            })
        };
        let mut seen = Vec::new();
        collect(&list, &mut seen);
        chain.join().unwrap();
        single.join().unwrap();
        collect(&list, &mut seen);
        seen.sort();
        assert_eq!(seen, vec![100, 200, 201]);
        assert_eq!(list.in_transit(), 0);
    });
}

#[test]
fn pushes_in_a_row_tell_the_owner_once() {
    loom::model(|| {
        let list = Arc::new(RemoteList::new());
        let told = Arc::new(AtomicUsize::new(0));
        let pushers = spawn_pushers(&list, &told);
        for p in pushers {
            p.join().unwrap();
        }
        assert_eq!(told.load(Ordering::Relaxed), 1, "one empty -> non-empty transition, one notice");
        let mut seen = Vec::new();
        collect(&list, &mut seen);
        assert_eq!(seen.len(), 2);
    });
}
