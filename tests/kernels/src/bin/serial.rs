//! The interrupt-driven serial driver end to end: the host writes lines and
//! the kernel answers each; 64 KiB of raw bytes arrive in order without
//! loss; random bytes (invalid UTF-8, control codes, escapes, an overlong
//! line) cause no panic; log lines from every CPU and async writes never
//! interleave mid-line.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use drivers::serial::{self, SerialReader};
use embedded_io_async::{Read, Write};
use kernel::exec;
use kernel::println;
use kernel::run_on;
use kernel::smp::{self, CpuId};

kernel::test_kernel![answers_each_line, bulk_64k_arrives_in_order_without_loss, garbage_causes_no_panic, lines_never_interleave,];

/// The bulk transfer's length and its byte at offset `i`.
const BULK: usize = 64 * 1024;
fn bulk_byte(i: usize) -> u8 {
    (i.wrapping_mul(7) ^ (i >> 8)) as u8
}

static READER: spin::Mutex<Option<SerialReader>> = spin::Mutex::new(None);

fn with_reader<T: 'static>(f: impl AsyncFnOnce(&mut SerialReader) -> T + 'static) -> T {
    let mut reader = READER.lock().take().expect("the reader is put back after each test");
    let (out, reader) = exec::block_on(async move {
        let out = f(&mut reader).await;
        (out, reader)
    });
    *READER.lock() = Some(reader);
    out
}

fn answers_each_line() {
    serial::start().expect("COM1 interrupt");
    *READER.lock() = Some(serial::reader().expect("first reader"));
    // The host sends its lines only once it sees this.
    println!("serial: ready for lines");
    let lines = with_reader(async |r| {
        let mut lines = Vec::new();
        let mut w = serial::writer();
        let mut line = String::new();
        loop {
            let info = r.read_line(&mut line, false).await;
            assert!(!info.lossy && info.dropped == 0, "{info:?}");
            let k = lines.len();
            let answer = format!("answer {k}: [{line}]\n");
            w.write_all(answer.as_bytes()).await.expect("infallible");
            if line == "done" {
                break;
            }
            lines.push(line.clone());
        }
        w.flush().await.expect("infallible");
        lines
    });
    assert_eq!(lines.len(), 5, "{lines:?}");
}

fn bulk_64k_arrives_in_order_without_loss() {
    let stats = with_reader(async |r| {
        let mut line = String::new();
        r.read_line(&mut line, false).await;
        assert_eq!(line, "BULK");
        let mut buf = alloc::vec![0u8; BULK];
        r.read_exact(&mut buf).await.expect("64 KiB");
        for (i, b) in buf.iter().enumerate() {
            assert_eq!(*b, bulk_byte(i), "byte {i} of the bulk transfer");
        }
        serial::stats()
    });
    assert_eq!(stats.ring_overflows, 0, "flow control keeps the ring from overflowing");
    println!(
        "bulk: {BULK} bytes in order; ring overflows {}, UART overruns {}, {} interrupts",
        stats.ring_overflows, stats.overruns, stats.interrupts
    );
}

fn garbage_causes_no_panic() {
    let (lines, lossy, dropped) = with_reader(async |r| {
        let (mut lines, mut lossy, mut dropped) = (0, 0, 0);
        let mut line = String::new();
        loop {
            let info = r.read_line(&mut line, true).await;
            lines += 1;
            lossy += usize::from(info.lossy);
            dropped += info.dropped;
            if line == "END" {
                break;
            }
        }
        (lines, lossy, dropped)
    });
    assert!(lossy > 0, "the garbage held invalid UTF-8");
    assert!(dropped > 0, "the garbage held a line longer than MAX_LINE");
    println!("garbage: survived {lines} lines ({lossy} with invalid UTF-8, {dropped} bytes beyond MAX_LINE)");
}

fn lines_never_interleave() {
    let n = smp::online();
    exec::block_on(async move {
        let mut handles = Vec::new();
        for c in 0..n {
            let cpu = CpuId::try_new(c).expect("online");
            handles.push(run_on::spawn_on(cpu, async move {
                for k in 0..50 {
                    log::info!("interleave-log cpu{c} line {k} 0123456789abcdefghijklmnopqrstuvwxyz end");
                    exec::yield_now().await;
                }
            }));
        }
        let mut w = serial::writer();
        for k in 0..50 {
            let line = format!("interleave-async line {k} 0123456789abcdefghijklmnopqrstuvwxyz end\n");
            w.write_all(line.as_bytes()).await.expect("infallible");
            exec::yield_now().await;
        }
        w.flush().await.expect("infallible");
        for h in handles {
            h.await.expect("logger task");
        }
    });
}
