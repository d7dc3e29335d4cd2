//! The PS/2 keyboard end to end: the host presses keys through the QEMU
//! monitor (`sendkey`) and the kernel receives exactly those characters, in
//! order.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::string::String;

use drivers::keyboard::{self, Key};
use kernel::{exec, println};

kernel::test_kernel![typed_keys_arrive_in_order];

fn typed_keys_arrive_in_order() {
    let mut kbd = keyboard::start().expect("i8042 keyboard");
    // The host starts pressing keys once it sees this.
    println!("keyboard: ready");
    let (typed, kbd) = exec::block_on(async move {
        let mut typed = String::new();
        loop {
            match kbd.next_key().await {
                Key::Unicode('\n') => break,
                Key::Unicode(c) => typed.push(c),
                Key::RawKey(_) => {}
            }
        }
        (typed, kbd)
    });
    println!("keyboard: got {typed:?}");
    assert_eq!(typed, "hello W1!");
    assert_eq!(kbd.overflows(), 0);
    assert!(kbd.interrupts() >= 2 * 9, "a press and a release per key, each an interrupt");
    println!("keyboard: {} interrupts, {} decode errors", kbd.interrupts(), kbd.decode_errors());
}
