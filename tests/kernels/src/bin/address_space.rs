//! Address spaces: nothing of the kernel's in the lower half after boot,
//! program spaces that share the kernel half and give their frames back,
//! user copies that turn faults into errors, and a TLB shootdown that
//! reaches every CPU running a space.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::sync::Arc;
use alloc::vec;

use kernel::arch::exceptions;
use kernel::arch::user_copy::{BadAddress, copy_from_user, copy_to_user};
use kernel::memory::address_space::{self, AddressSpace, MapError, TableError};
use kernel::memory::paging::Flags;
use kernel::memory::{PhysAddr, VirtAddr, frame, layout, paging};
use kernel::smp::CpuId;
use kernel::{exec, println, run_on, testing};

kernel::test_kernel![
    lower_half_is_empty_after_boot,
    user_copies_of_bad_addresses_are_errors,
    a_user_space_maps_copies_protects_and_gives_frames_back,
    a_space_maps_only_its_own_half,
    unmap_on_one_cpu_faults_on_another,
    frames_come_and_go_through_every_cpus_cache,
];

const USER_RW: Flags = Flags::USER.union(Flags::WRITABLE).union(Flags::NO_EXECUTE);
const AT: u64 = 0x40_0000;
const PAGE: u64 = 4096;

fn lower_half_is_empty_after_boot() {
    let kernel = address_space::kernel();
    let used: alloc::vec::Vec<usize> = (0..256).filter(|&i| kernel.top_level_used(i)).collect();
    assert!(used.is_empty(), "top-level entries below 256 still in use: {used:?}");
    let window = paging::phys_to_virt(PhysAddr::new(0)).as_u64();
    assert!(window >= layout::UPPER_HALF, "physical-memory window at {window:#x}");
    println!("lower half: 0 of 256 top-level entries in use; physical window at {window:#x}");
}

fn user_copies_of_bad_addresses_are_errors() {
    let before = exceptions::user_copy_faults();
    let mut buf = [0u8; 16];
    // The lower half is empty in the kernel space: both fault, both recover.
    assert_eq!(copy_from_user(&mut buf, 0x1000), Err(BadAddress { address: 0x1000, copied: 0 }));
    assert_eq!(copy_to_user(0x2000, &buf), Err(BadAddress { address: 0x2000, copied: 0 }));
    assert_eq!(exceptions::user_copy_faults(), before + 2, "each came back through the exception table");
    // Kernel addresses and ranges that wrap are refused before any access.
    let kernel_data = core::ptr::from_ref(&buf) as u64;
    assert!(copy_from_user(&mut buf, kernel_data).is_err());
    assert!(copy_from_user(&mut buf, address_space::LOWER_HALF_END - 8).is_err());
    assert!(copy_to_user(u64::MAX - 4, &buf).is_err());
    assert_eq!(exceptions::user_copy_faults(), before + 2, "refused without touching memory");
}

fn a_user_space_maps_copies_protects_and_gives_frames_back() {
    let frames_before = frame::stats().in_use;
    let space = AddressSpace::new_user().expect("a new space");
    space.map_fresh(VirtAddr::new(AT), 2, USER_RW).expect("two fresh pages");
    space.activate();
    assert_eq!(space.cpus() & 1, 1, "this CPU is in the space's set");

    let pattern: alloc::vec::Vec<u8> = (0..2 * PAGE as usize).map(|i| (i * 7 + 3) as u8).collect();
    copy_to_user(AT, &pattern).expect("write both pages");
    let mut back = vec![0u8; pattern.len()];
    copy_from_user(&mut back, AT).expect("read both pages");
    assert_eq!(back, pattern);

    // A copy that runs past the second page stops there, and says how far it got.
    let mut long = vec![0u8; 3 * PAGE as usize];
    let err = copy_from_user(&mut long, AT).unwrap_err();
    assert_eq!(err.copied, 2 * PAGE as usize, "copied up to the unmapped page");
    assert_eq!(&long[..pattern.len()], &pattern[..]);

    // Read-only: writes fault, reads still work.
    exec::block_on({
        let space = Arc::clone(&space);
        async move { space.protect(VirtAddr::new(AT), 2, Flags::USER | Flags::NO_EXECUTE).await }
    })
    .expect("protect");
    assert_eq!(copy_to_user(AT + 8, &[1, 2, 3]).unwrap_err().copied, 0, "read-only page refused the write");
    copy_from_user(&mut back[..8], AT + 8).expect("still readable");
    assert_eq!(&back[..8], &pattern[8..16]);
    let q = space.query(VirtAddr::new(AT)).expect("mapped");
    assert!(q.flags.contains(Flags::OWNED) && !q.flags.contains(Flags::WRITABLE));

    address_space::activate_kernel();
    assert_eq!(space.cpus(), 0, "the CPU left the set when it loaded the kernel's root");
    drop(space);
    assert_eq!(frame::stats().in_use, frames_before, "pages and tables given back");
    println!("user space: 2 pages mapped, copied, protected, torn down; frames back to {frames_before}");
}

fn a_space_maps_only_its_own_half() {
    let space = AddressSpace::new_user().expect("a new space");
    let frame = frame::allocate().expect("a frame");
    let kernel_page = VirtAddr::new(layout::get().mmio.start());
    // SAFETY: refused before anything is mapped.
    let r = unsafe { space.map(kernel_page, frame.start_address(), USER_RW) };
    assert_eq!(r, Err(MapError::WrongHalf(kernel_page.as_u64())));
    // SAFETY: refused before anything is mapped.
    let r = unsafe { address_space::kernel().map(VirtAddr::new(AT), frame.start_address(), USER_RW) };
    assert_eq!(r, Err(MapError::WrongHalf(AT)));
    // SAFETY: the frame is ours, mapped once, borrowed (not OWNED), freed below
    // after the space is gone.
    unsafe { space.map(VirtAddr::new(AT), frame.start_address(), USER_RW) }.expect("map");
    // SAFETY: as above.
    let again = unsafe { space.map(VirtAddr::new(AT), frame.start_address(), USER_RW) };
    assert_eq!(again, Err(MapError::Table(TableError::AlreadyMapped(frame.start_address().as_u64()))));
    drop(space);
    // SAFETY: the only mapping went with the space (never loaded on a CPU).
    unsafe { frame::deallocate(frame) };
}

/// CPU 1 reads a page of a space both CPUs run, CPU 0 unmaps it, and CPU 1's
/// next read faults: the shootdown reached CPU 1's TLB (under TCG a stale
/// entry would still translate).
fn unmap_on_one_cpu_faults_on_another() {
    if testing::skip_unless_cpus(2) {
        return;
    }
    let other = CpuId::try_new(1).expect("cpu 1");
    let space = AddressSpace::new_user().expect("a new space");
    space.map_fresh(VirtAddr::new(AT), 1, USER_RW).expect("a page");
    space.activate();
    copy_to_user(AT, &0x5eed_u64.to_le_bytes()).expect("write");

    let read_on_other = |space: Arc<AddressSpace>| {
        exec::block_on(run_on::run_on(other, move || async move {
            space.activate();
            let mut word = [0u8; 8];
            copy_from_user(&mut word, AT).map(|()| u64::from_le_bytes(word))
        }))
    };
    assert_eq!(read_on_other(Arc::clone(&space)), Ok(0x5eed), "cpu 1 reads (and caches) the page");
    assert_eq!(space.cpus() & 0b11, 0b11, "both CPUs in the set");

    let unmapped = exec::block_on({
        let space = Arc::clone(&space);
        async move { space.unmap(VirtAddr::new(AT), 1).await }
    });
    assert_eq!(unmapped, Ok(1));
    let after = read_on_other(Arc::clone(&space));
    assert_eq!(after, Err(BadAddress { address: AT, copied: 0 }), "cpu 1 faults after the shootdown");

    exec::block_on(run_on::run_on(other, || async { address_space::activate_kernel() }));
    address_space::activate_kernel();
    assert_eq!(space.cpus(), 0);
    println!("shootdown: cpu 1 read 0x5eed, cpu 0 unmapped, cpu 1 then faulted");
}

/// Every CPU takes frames at once (through its own cache), tags each, and
/// the next CPU frees them: no frame is handed out twice, every tag
/// survives, the counts come back, and the global lock was taken about
/// once per batch, not once per frame.
fn frames_come_and_go_through_every_cpus_cache() {
    const EACH: usize = 1000;
    let before = frame::stats().in_use;
    let takes_before = frame::global_takes();
    let taken = exec::block_on(run_on::broadcast(|| async {
        let me = kernel::smp::current().as_usize() as u64;
        (0..EACH as u64)
            .map(|i| {
                let f = frame::allocate().expect("a frame");
                let tag = (me << 32) | i;
                // SAFETY: the frame was just handed to us alone; the window
                // maps all RAM.
                unsafe { paging::phys_to_virt(f.start_address()).as_mut_ptr::<u64>().write(tag) };
                f
            })
            .collect::<alloc::vec::Vec<_>>()
    }));
    let cpus = taken.len();
    let mut all: alloc::vec::Vec<u64> = taken.iter().flatten().map(|f| f.start_address().as_u64()).collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), cpus * EACH, "no frame handed out twice");
    for (cpu, frames) in taken.iter().enumerate() {
        for (i, f) in frames.iter().enumerate() {
            // SAFETY: still ours (freed below); the window maps all RAM.
            let tag = unsafe { paging::phys_to_virt(f.start_address()).as_ptr::<u64>().read() };
            assert_eq!(tag, ((cpu as u64) << 32) | i as u64, "frame {:#x} kept its tag", f.start_address().as_u64());
        }
    }
    // Each CPU frees the next one's frames: into its own cache, and on.
    let shared = Arc::new(taken);
    exec::block_on(run_on::broadcast(move || {
        let shared = Arc::clone(&shared);
        async move {
            let me = kernel::smp::current().as_usize();
            for &f in &shared[(me + 1) % shared.len()] {
                // SAFETY: allocated above, tagged and checked, freed once
                // (each CPU frees one other CPU's list).
                unsafe { frame::deallocate(f) };
            }
        }
    }));
    assert_eq!(frame::stats().in_use, before, "every frame back");
    let takes = frame::global_takes() - takes_before;
    let moved = 2 * cpus * EACH;
    assert!(takes * 8 < moved as u64, "{takes} trips to the global allocator for {moved} frames taken and freed");
    println!("frames: {cpus} CPUs took and freed {moved} frames with {takes} trips to the global allocator");
}
