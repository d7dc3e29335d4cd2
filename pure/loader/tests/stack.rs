//! The initial stack, read back the way a C runtime reads it at `_start`.

use loader::stack::{InitialStack, PLATFORM, StackError, Start, at, build};

const TOP: u64 = 0x7fff_ffff_f000;

fn word(s: &InitialStack, addr: u64) -> u64 {
    let i = (addr - s.sp) as usize;
    u64::from_le_bytes(s.bytes[i..i + 8].try_into().unwrap())
}

fn c_string(s: &InitialStack, addr: u64) -> Vec<u8> {
    let i = (addr - s.sp) as usize;
    s.bytes[i..].iter().take_while(|&&b| b != 0).copied().collect()
}

#[test]
fn a_program_finds_argc_argv_envp_and_auxv_where_the_abi_puts_them() {
    let argv: [&[u8]; 3] = [b"busybox", b"sh", b"-c"];
    let envp: [&[u8]; 2] = [b"HOME=/", b"PATH=/bin"];
    let auxv = [(at::PAGESZ, 4096), (at::PHDR, 0x40_0040), (at::SECURE, 0)];
    let start = Start { argv: &argv, envp: &envp, auxv: &auxv, random: *b"0123456789abcdef", execfn: b"/bin/busybox" };
    let s = build(TOP, &start, 128 * 1024).unwrap();
    assert_eq!(s.sp % 16, 0, "16-byte aligned at entry");
    assert_eq!(s.sp + s.bytes.len() as u64, TOP);

    let mut p = s.sp;
    let mut next = || {
        let v = word(&s, p);
        p += 8;
        v
    };
    assert_eq!(next(), 3, "argc");
    let args: Vec<Vec<u8>> = (0..3).map(|_| next()).map(|a| c_string(&s, a)).collect();
    assert_eq!(args, argv.iter().map(|a| a.to_vec()).collect::<Vec<_>>());
    assert_eq!(next(), 0, "argv ends");
    let env: Vec<Vec<u8>> = (0..2).map(|_| next()).map(|a| c_string(&s, a)).collect();
    assert_eq!(env, envp.iter().map(|a| a.to_vec()).collect::<Vec<_>>());
    assert_eq!(next(), 0, "envp ends");
    let mut vector = Vec::new();
    loop {
        let (k, v) = (next(), next());
        if k == at::NULL {
            break;
        }
        vector.push((k, v));
    }
    for entry in auxv {
        assert!(vector.contains(&entry), "{entry:?} passed on");
    }
    let find = |k| vector.iter().find(|e| e.0 == k).map(|e| e.1).unwrap();
    let random = find(at::RANDOM);
    assert_eq!(&s.bytes[(random - s.sp) as usize..][..16], b"0123456789abcdef");
    assert_eq!(c_string(&s, find(at::EXECFN)), b"/bin/busybox");
    assert_eq!(c_string(&s, find(at::PLATFORM)), PLATFORM);
    assert!(p <= random, "the vector ends below the strings");
    assert_eq!(word(&s, TOP - 8), 0, "a zero word at the top");
}

#[test]
fn no_arguments_at_all_is_argc_zero() {
    let start = Start { argv: &[], envp: &[], auxv: &[], random: [7; 16], execfn: b"/init" };
    let s = build(TOP, &start, 4096).unwrap();
    assert_eq!((word(&s, s.sp), word(&s, s.sp + 8), word(&s, s.sp + 16)), (0, 0, 0), "argc, argv's NULL, envp's NULL");
}

#[test]
fn too_much_nul_and_a_misaligned_top_are_errors() {
    let long = vec![b'x'; 200_000];
    let argv: [&[u8]; 1] = [&long];
    let start = Start { argv: &argv, envp: &[], auxv: &[], random: [0; 16], execfn: b"/x" };
    assert!(matches!(build(TOP, &start, 128 * 1024), Err(StackError::TooBig { limit: 131072, .. })));
    let argv: [&[u8]; 1] = [b"a\0b"];
    let start = Start { argv: &argv, envp: &[], auxv: &[], random: [0; 16], execfn: b"/x" };
    assert_eq!(build(TOP, &start, 4096), Err(StackError::Nul));
    let start = Start { argv: &[], envp: &[], auxv: &[], random: [0; 16], execfn: b"/x" };
    assert_eq!(build(TOP - 8, &start, 4096), Err(StackError::BadTop(TOP - 8)));
}
