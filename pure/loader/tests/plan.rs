//! The ELF plan against what binutils' `readelf` says of real static
//! executables the host's C compiler builds (an outside oracle), then the
//! same images damaged field by field, and at random.

use std::path::PathBuf;
use std::process::Command;

use loader::{ExecError, PAGE_SIZE, plan};

const PIE_BASE: u64 = 0x5555_5555_4000;

/// A static program (no libc): `_start` exits; a data string, a large
/// zero-filled array, so there are text, read-only, data and bss.
const SOURCE: &str = r#"
char big[200000];
char counter = 1;
const char message[] = "hello from a static program";
void _start(void) {
    ((volatile char *)big)[12345] = message[3] + counter;
    __asm__ volatile("mov $60, %eax\n xor %edi, %edi\n syscall");
    for (;;) {}
}
"#;

fn build(name: &str, flags: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("odonata-loader-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // One source per image: the tests run at once.
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, SOURCE).unwrap();
    let out = dir.join(name);
    let status = Command::new("cc")
        .args(["-O1", "-nostdlib", "-fno-stack-protector", "-o"])
        .arg(&out)
        .args(flags)
        .arg(&src)
        .status()
        .expect("the host's C compiler (cc) runs: the image this test plans is built by it");
    assert!(status.success(), "cc {flags:?} failed");
    out
}

/// One LOAD as readelf prints it: offset, vaddr, filesz, memsz, flags.
type Load = (u64, u64, u64, u64, String);

/// readelf's view: the entry point, the type, and each LOAD.
fn readelf(path: &PathBuf) -> (u64, String, Vec<Load>) {
    let out = Command::new("readelf").args(["-hlW"]).arg(path).output().expect("binutils' readelf runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
    let entry = text.lines().find_map(|l| l.trim().strip_prefix("Entry point address:")).map(|v| hex(v.trim())).unwrap();
    let kind = text.lines().find_map(|l| l.trim().strip_prefix("Type:")).unwrap().trim().to_string();
    let loads = text
        .lines()
        .map(str::split_whitespace)
        .filter_map(|mut w| {
            if w.next()? != "LOAD" {
                return None;
            }
            let v: Vec<&str> = w.collect();
            // Offset VirtAddr PhysAddr FileSiz MemSiz Flg... Align
            let flags: String = v[5..v.len() - 1].concat();
            Some((hex(v[0]), hex(v[1]), hex(v[3]), hex(v[4]), flags))
        })
        .collect();
    (entry, kind, loads)
}

fn check_against_readelf(path: &PathBuf, expect_type: &str, bias: u64) {
    let image = std::fs::read(path).unwrap();
    let p = plan(&image, PIE_BASE).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (entry, kind, loads) = readelf(path);
    assert!(kind.starts_with(expect_type), "readelf says {kind}");
    assert_eq!(p.bias, bias);
    assert_eq!(p.entry, entry + bias);
    assert_eq!(p.segments.len(), loads.len(), "one segment per LOAD");
    for (s, (offset, vaddr, filesz, memsz, flags)) in p.segments.iter().zip(&loads) {
        assert_eq!((s.file_offset, s.vaddr, s.file_size, s.mem_size), (*offset, vaddr + bias, *filesz, *memsz));
        assert_eq!((s.read, s.write, s.execute), (flags.contains('R'), flags.contains('W'), flags.contains('E')), "flags {flags}");
    }
    assert!(p.segments.iter().any(|s| s.mem_size > s.file_size), "the bss is zero fill");
    let top = p.segments.last().unwrap();
    assert_eq!(p.brk, (top.vaddr + top.mem_size).next_multiple_of(PAGE_SIZE));
    let phdr = p.phdr.expect("the program headers are in a loaded segment");
    assert!(p.segments.iter().any(|s| (s.vaddr..s.vaddr + s.file_size).contains(&phdr)));
    assert_eq!(p.phent, 56);
    println!("{}: {} segments, entry {:#x}, phdr {phdr:#x}, brk {:#x}", path.display(), p.segments.len(), p.entry, p.brk);
}

#[test]
fn a_static_executable_is_planned_as_readelf_reads_it() {
    check_against_readelf(&build("static", &["-static", "-no-pie"]), "EXEC", 0);
}

#[test]
fn a_static_pie_is_planned_at_the_base_given() {
    check_against_readelf(&build("static-pie", &["-static-pie", "-fPIE"]), "DYN", PIE_BASE);
}

#[test]
fn a_dynamically_linked_program_is_refused() {
    // With an interpreter, as `cc` links by default.
    let path = build("dynamic", &["-Wl,--dynamic-linker=/lib64/ld-linux-x86-64.so.2", "-Wl,-pie", "-fPIE"]);
    assert_eq!(plan(&std::fs::read(path).unwrap(), PIE_BASE), Err(ExecError::Dynamic));
}

/// Offsets of the ELF64 header fields and program-header fields the
/// damage below writes.
const E_TYPE: usize = 0x10;
const E_MACHINE: usize = 0x12;
const E_ENTRY: usize = 0x18;
const E_PHOFF: usize = 0x20;
const P_TYPE: usize = 0;
const P_OFFSET: usize = 8;
const P_VADDR: usize = 16;
const P_FILESZ: usize = 32;
const P_MEMSZ: usize = 40;

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn put(b: &mut [u8], at: usize, v: &[u8]) {
    b[at..at + v.len()].copy_from_slice(v);
}

/// The offset of the first PT_LOAD's program header.
fn first_load(b: &[u8]) -> usize {
    let phoff = u64_at(b, E_PHOFF) as usize;
    (0..).map(|i| phoff + i * 56).find(|&at| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) == 1).unwrap()
}

#[test]
fn each_kind_of_damage_is_named() {
    let good = std::fs::read(build("static-damage", &["-static", "-no-pie"])).unwrap();
    assert!(plan(&good, PIE_BASE).is_ok());
    let load = first_load(&good);
    let damaged = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        plan(&b, PIE_BASE)
    };
    assert_eq!(plan(&good[..40], PIE_BASE), Err(ExecError::NotElf), "truncated header");
    assert_eq!(plan(b"#!/bin/sh\necho not elf\n", PIE_BASE), Err(ExecError::NotElf));
    assert_eq!(damaged(&|b| put(b, E_MACHINE, &183u16.to_le_bytes())), Err(ExecError::WrongMachine(183)));
    assert_eq!(damaged(&|b| put(b, E_TYPE, &1u16.to_le_bytes())), Err(ExecError::WrongType(1)));
    assert_eq!(damaged(&|b| put(b, load + P_TYPE, &3u32.to_le_bytes())), Err(ExecError::Dynamic), "a PT_INTERP");
    let past_the_end = (good.len() as u64).to_le_bytes();
    assert_eq!(damaged(&|b| put(b, E_PHOFF, &past_the_end)), Err(ExecError::NotElf), "headers past the end");
    let memsz = u64_at(&good, load + P_MEMSZ);
    assert_eq!(damaged(&|b| put(b, load + P_FILESZ, &(memsz + 1).to_le_bytes())), Err(ExecError::BadSegment(0)));
    assert_eq!(damaged(&|b| put(b, load + P_OFFSET, &(u64::MAX - 8).to_le_bytes())), Err(ExecError::BadSegment(0)));
    assert_eq!(
        damaged(&|b| put(b, load + P_VADDR, &0xffff_8000_0000_0000u64.to_le_bytes())),
        Err(ExecError::OutOfRange(0)),
        "the kernel's half"
    );
    assert_eq!(damaged(&|b| put(b, load + P_VADDR, &0u64.to_le_bytes())), Err(ExecError::OutOfRange(0)), "page zero");
    assert_eq!(damaged(&|b| put(b, load + P_MEMSZ, &u64::MAX.to_le_bytes())), Err(ExecError::OutOfRange(0)), "wraps");
    // The second segment moved onto the first one's page.
    let vaddr0 = u64_at(&good, load + P_VADDR);
    let second = load + 56;
    assert_eq!(
        damaged(&|b| {
            let offset = u64_at(b, second + P_OFFSET);
            put(b, second + P_VADDR, &(vaddr0 + offset % PAGE_SIZE).to_le_bytes());
        }),
        Err(ExecError::Overlap(0, 1))
    );
    assert!(matches!(damaged(&|b| put(b, E_ENTRY, &0x10u64.to_le_bytes())), Err(ExecError::BadEntry(0x10))));
}

/// Random damage: planning never panics, and whatever it accepts keeps the
/// rules (lower half, in the file, no shared page).
#[test]
fn random_damage_never_panics() {
    let good = std::fs::read(build("static-random", &["-static", "-no-pie"])).unwrap();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut accepted = 0;
    for _ in 0..5000 {
        let mut b = good.clone();
        for _ in 0..(x % 4 + 1) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly the headers: the first 512 bytes.
            let at = (x % 512) as usize;
            b[at] = (x >> 32) as u8;
        }
        if let Ok(p) = plan(&b, PIE_BASE) {
            accepted += 1;
            for s in &p.segments {
                assert!(s.vaddr >= PAGE_SIZE && s.vaddr + s.mem_size <= loader::USER_END);
                assert!(s.file_offset + s.file_size <= b.len() as u64 && s.file_size <= s.mem_size);
            }
            for w in p.segments.windows(2) {
                assert!(w[0].end_page() <= w[1].first_page());
            }
        }
    }
    println!("random damage: {accepted} of 5000 still planned");
}
