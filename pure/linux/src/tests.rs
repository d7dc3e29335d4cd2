extern crate std;

use std::process::Command;
use std::string::String;

use super::*;

/// Compiles and runs a C program printing `exprs` (one per line) with the
/// host's compiler and headers; `None` if there is no compiler.
fn host_values(includes: &[&str], exprs: &[&str]) -> Option<std::vec::Vec<i64>> {
    let dir = std::env::temp_dir().join(std::format!("odonata-linux-abi-{}-{}", std::process::id(), exprs.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut src = String::new();
    for i in includes {
        src += &std::format!("#include <{i}>\n");
    }
    src += "#include <stdio.h>\nint main(void) {\n";
    for e in exprs {
        src += &std::format!("    printf(\"%lld\\n\", (long long)({e}));\n");
    }
    src += "    return 0;\n}\n";
    std::fs::write(dir.join("probe.c"), src).unwrap();
    let built = Command::new("cc").arg("-o").arg(dir.join("probe")).arg(dir.join("probe.c")).status().ok()?;
    assert!(built.success(), "the probe did not compile");
    let out = Command::new(dir.join("probe")).output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    Some(String::from_utf8(out.stdout).unwrap().lines().map(|l| l.parse().unwrap()).collect())
}

#[test]
fn numbers_and_errnos_match_the_host_headers() {
    let exprs = [
        "SYS_getppid",
        "SYS_exit_group",
        "SYS_clone3",
        "SYS_rt_sigreturn",
        "ENOSYS",
        "EFAULT",
        "EAGAIN",
        "O_CLOEXEC",
        "O_DIRECTORY",
        "MAP_ANONYMOUS",
        "TIOCGWINSZ",
        "sizeof(struct stat)",
        "offsetof(struct stat, st_mtim)",
        "offsetof(struct stat, st_rdev)",
        "sizeof(struct utsname)",
        "sizeof(struct statfs)",
        "offsetof(struct statfs, f_namelen)",
        "offsetof(struct statfs, f_flags)",
        "ENOTBLK",
        "ENOPROTOOPT",
        "EPROTONOSUPPORT",
        "ENOTCONN",
        "SOCK_NONBLOCK",
        "SOCK_CLOEXEC",
        "SO_DOMAIN",
        "SO_PROTOCOL",
        "MSG_NOSIGNAL",
        "MSG_WAITALL",
        "MSG_DONTWAIT",
        "SHUT_RDWR",
        "ECONNREFUSED",
        "ECONNRESET",
        "EINPROGRESS",
        "EALREADY",
        "EADDRINUSE",
        "EADDRNOTAVAIL",
        "ENETUNREACH",
        "SO_LINGER",
        "TCP_NODELAY",
        "sizeof(struct sockaddr_in)",
        "SOCK_RAW",
        "SOCK_SEQPACKET",
        "MSG_TRUNC",
        "EMSGSIZE",
    ];
    let Some(got) = host_values(
        &[
            "sys/syscall.h",
            "errno.h",
            "fcntl.h",
            "sys/mman.h",
            "sys/ioctl.h",
            "sys/stat.h",
            "sys/utsname.h",
            "stddef.h",
            "sys/vfs.h",
            "sys/socket.h",
            "netinet/in.h",
            "netinet/tcp.h",
        ],
        &exprs,
    ) else {
        std::eprintln!("no C compiler: skipped");
        return;
    };
    let ours: [i64; 44] = [
        nr::GETPPID as i64,
        nr::EXIT_GROUP as i64,
        nr::CLONE3 as i64,
        nr::RT_SIGRETURN as i64,
        errno::ENOSYS.0.into(),
        errno::EFAULT.0.into(),
        errno::EAGAIN.0.into(),
        flags::open::O_CLOEXEC.into(),
        flags::open::O_DIRECTORY.into(),
        flags::mman::MAP_ANONYMOUS.into(),
        flags::ioctl::TIOCGWINSZ as i64,
        structs::Stat::SIZE as i64,
        88,
        40,
        structs::Utsname::SIZE as i64,
        structs::Statfs::SIZE as i64,
        64,
        80,
        errno::ENOTBLK.0.into(),
        errno::ENOPROTOOPT.0.into(),
        errno::EPROTONOSUPPORT.0.into(),
        errno::ENOTCONN.0.into(),
        flags::socket::SOCK_NONBLOCK.into(),
        flags::socket::SOCK_CLOEXEC.into(),
        flags::socket::SO_DOMAIN.into(),
        flags::socket::SO_PROTOCOL.into(),
        flags::socket::MSG_NOSIGNAL.into(),
        flags::socket::MSG_WAITALL.into(),
        flags::socket::MSG_DONTWAIT.into(),
        flags::socket::SHUT_RDWR.into(),
        errno::ECONNREFUSED.0.into(),
        errno::ECONNRESET.0.into(),
        errno::EINPROGRESS.0.into(),
        errno::EALREADY.0.into(),
        errno::EADDRINUSE.0.into(),
        errno::EADDRNOTAVAIL.0.into(),
        errno::ENETUNREACH.0.into(),
        flags::socket::SO_LINGER.into(),
        flags::socket::TCP_NODELAY.into(),
        flags::socket::SOCKADDR_IN_SIZE.into(),
        flags::socket::SOCK_RAW.into(),
        flags::socket::SOCK_SEQPACKET.into(),
        flags::socket::MSG_TRUNC.into(),
        errno::EMSGSIZE.0.into(),
    ];
    for ((e, host), ours) in exprs.iter().zip(got).zip(ours) {
        assert_eq!(host, ours, "{e}");
    }
}

#[test]
fn names_are_found_by_number() {
    assert_eq!(nr::name(0), Some("read"));
    assert_eq!(nr::name(nr::EXIT_GROUP), Some("exit_group"));
    assert_eq!(nr::name(100_000), None);
    assert!(nr::count() > 300);
    assert_eq!(errno::ENOENT.name(), "ENOENT");
    assert_eq!(errno::to_rax(Err(errno::EBADF)), (-9i64) as u64);
}

#[test]
fn timespecs_are_checked() {
    let t = structs::Timespec { sec: 3, nsec: 5 };
    assert_eq!(structs::Timespec::decode(&t.encode()), Some(t));
    let bad = structs::Timespec { sec: 1, nsec: 1_000_000_000 };
    assert_eq!(structs::Timespec::decode(&bad.encode()), None);
    assert_eq!(structs::Timespec::from_nanos(2_500_000_000), structs::Timespec { sec: 2, nsec: 500_000_000 });
}
