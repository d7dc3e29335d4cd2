//! Constants programs pass in flags and command words.

/// `openat`'s "relative to the working directory".
pub const AT_FDCWD: i32 = -100;
/// `*at`: act on a symbolic link itself.
pub const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
/// `*at`: an empty path names the descriptor itself.
pub const AT_EMPTY_PATH: u32 = 0x1000;
/// `linkat`: follow a symbolic link.
pub const AT_SYMLINK_FOLLOW: u32 = 0x400;
/// `unlinkat`: remove a directory.
pub const AT_REMOVEDIR: u32 = 0x200;

/// `open` access modes and flags (`asm-generic/fcntl.h`).
pub mod open {
    /// Read only.
    pub const O_RDONLY: u32 = 0;
    /// Write only.
    pub const O_WRONLY: u32 = 1;
    /// Read and write.
    pub const O_RDWR: u32 = 2;
    /// The access-mode bits.
    pub const O_ACCMODE: u32 = 3;
    /// Create if missing.
    pub const O_CREAT: u32 = 0o100;
    /// With `O_CREAT`: fail if it exists.
    pub const O_EXCL: u32 = 0o200;
    /// Not a controlling terminal.
    pub const O_NOCTTY: u32 = 0o400;
    /// Truncate to length 0.
    pub const O_TRUNC: u32 = 0o1000;
    /// Writes append.
    pub const O_APPEND: u32 = 0o2000;
    /// Non-blocking.
    pub const O_NONBLOCK: u32 = 0o4000;
    /// Must be a directory.
    pub const O_DIRECTORY: u32 = 0o200000;
    /// Do not follow a final symbolic link.
    pub const O_NOFOLLOW: u32 = 0o400000;
    /// Close on exec.
    pub const O_CLOEXEC: u32 = 0o2000000;
    /// Large files (always, on x86-64).
    pub const O_LARGEFILE: u32 = 0o100000;
}

/// `mmap` and `mprotect`.
pub mod mman {
    /// Readable.
    pub const PROT_READ: u32 = 1;
    /// Writable.
    pub const PROT_WRITE: u32 = 2;
    /// Executable.
    pub const PROT_EXEC: u32 = 4;
    /// Shared mapping.
    pub const MAP_SHARED: u32 = 1;
    /// Private (copy-on-write) mapping.
    pub const MAP_PRIVATE: u32 = 2;
    /// At exactly this address.
    pub const MAP_FIXED: u32 = 0x10;
    /// Not backed by a file.
    pub const MAP_ANONYMOUS: u32 = 0x20;
    /// Reserve no swap (ignored).
    pub const MAP_NORESERVE: u32 = 0x4000;
    /// Populate now (a hint).
    pub const MAP_POPULATE: u32 = 0x8000;
    /// A stack (a hint).
    pub const MAP_STACK: u32 = 0x20000;
    /// Like `MAP_FIXED`, but fail rather than replace.
    pub const MAP_FIXED_NOREPLACE: u32 = 0x100000;
    /// `mmap`'s failure value.
    pub const MAP_FAILED: u64 = u64::MAX;
}

/// `arch_prctl` codes.
pub mod arch_prctl {
    /// Set the FS base.
    pub const ARCH_SET_FS: u64 = 0x1002;
    /// Read the FS base.
    pub const ARCH_GET_FS: u64 = 0x1003;
    /// Set the GS base.
    pub const ARCH_SET_GS: u64 = 0x1001;
    /// Read the GS base.
    pub const ARCH_GET_GS: u64 = 0x1004;
}

/// `ioctl` requests on terminals.
pub mod ioctl {
    /// Read termios.
    pub const TCGETS: u64 = 0x5401;
    /// Set termios now.
    pub const TCSETS: u64 = 0x5402;
    /// Set termios after output drains.
    pub const TCSETSW: u64 = 0x5403;
    /// Set termios after output drains, discarding input.
    pub const TCSETSF: u64 = 0x5404;
    /// Read the foreground process group.
    pub const TIOCGPGRP: u64 = 0x540f;
    /// Set the foreground process group.
    pub const TIOCSPGRP: u64 = 0x5410;
    /// Read the window size.
    pub const TIOCGWINSZ: u64 = 0x5413;
    /// Set the window size.
    pub const TIOCSWINSZ: u64 = 0x5414;
    /// Non-blocking I/O on/off.
    pub const FIONBIO: u64 = 0x5421;
    /// Bytes waiting to be read.
    pub const FIONREAD: u64 = 0x541b;
    /// Discard pending input or output.
    pub const TCFLSH: u64 = 0x540b;
    /// Make this the caller's controlling terminal.
    pub const TIOCSCTTY: u64 = 0x540e;
    /// Give up the controlling terminal.
    pub const TIOCNOTTY: u64 = 0x5422;
    /// Read the session the terminal controls.
    pub const TIOCGSID: u64 = 0x5429;
    /// A pty master's number (`/dev/pts/N`).
    pub const TIOCGPTN: u64 = 0x8004_5430;
    /// Lock or unlock a pty's terminal end.
    pub const TIOCSPTLCK: u64 = 0x4004_5431;
    /// Read that lock.
    pub const TIOCGPTLCK: u64 = 0x8004_5439;
}

/// Clocks.
pub mod clock {
    /// Wall-clock time.
    pub const CLOCK_REALTIME: u32 = 0;
    /// Time since boot, never set.
    pub const CLOCK_MONOTONIC: u32 = 1;
    /// CPU time of the process.
    pub const CLOCK_PROCESS_CPUTIME_ID: u32 = 2;
    /// CPU time of the thread.
    pub const CLOCK_THREAD_CPUTIME_ID: u32 = 3;
    /// Monotonic, not slewed.
    pub const CLOCK_MONOTONIC_RAW: u32 = 4;
    /// Coarse wall-clock time.
    pub const CLOCK_REALTIME_COARSE: u32 = 5;
    /// Coarse monotonic time.
    pub const CLOCK_MONOTONIC_COARSE: u32 = 6;
    /// Monotonic, counting suspend.
    pub const CLOCK_BOOTTIME: u32 = 7;
}

/// `getrandom` flags.
pub mod random {
    /// Do not block.
    pub const GRND_NONBLOCK: u32 = 1;
    /// Use the blocking pool (ignored).
    pub const GRND_RANDOM: u32 = 2;
    /// Insecure bytes are fine.
    pub const GRND_INSECURE: u32 = 4;
}

/// `stat` mode bits.
pub mod mode {
    /// File type bits.
    pub const S_IFMT: u32 = 0o170000;
    /// Socket.
    pub const S_IFSOCK: u32 = 0o140000;
    /// Symbolic link.
    pub const S_IFLNK: u32 = 0o120000;
    /// Regular file.
    pub const S_IFREG: u32 = 0o100000;
    /// Block device.
    pub const S_IFBLK: u32 = 0o060000;
    /// Directory.
    pub const S_IFDIR: u32 = 0o040000;
    /// Character device.
    pub const S_IFCHR: u32 = 0o020000;
    /// FIFO.
    pub const S_IFIFO: u32 = 0o010000;
}

/// `lseek` origins.
pub mod seek {
    /// From the start.
    pub const SEEK_SET: u32 = 0;
    /// From the current offset.
    pub const SEEK_CUR: u32 = 1;
    /// From the end.
    pub const SEEK_END: u32 = 2;
}

/// Sockets: families, types, `shutdown`, options, message flags.
pub mod socket {
    /// Local sockets.
    pub const AF_UNIX: u32 = 1;
    /// IPv4.
    pub const AF_INET: u32 = 2;
    /// IPv6.
    pub const AF_INET6: u32 = 10;
    /// A byte stream.
    pub const SOCK_STREAM: u32 = 1;
    /// Datagrams.
    pub const SOCK_DGRAM: u32 = 2;
    /// Raw packets (an AF_UNIX pair of them is a datagram pair).
    pub const SOCK_RAW: u32 = 3;
    /// Datagrams in order, on a connection.
    pub const SOCK_SEQPACKET: u32 = 5;
    /// The type's bits (the rest are flags).
    pub const SOCK_TYPE_MASK: u32 = 0xf;
    /// Non-blocking from the start.
    pub const SOCK_NONBLOCK: u32 = 0o4000;
    /// Closed on `execve`.
    pub const SOCK_CLOEXEC: u32 = 0o2000000;
    /// No more reading.
    pub const SHUT_RD: u32 = 0;
    /// No more writing (the peer reads the end).
    pub const SHUT_WR: u32 = 1;
    /// Neither.
    pub const SHUT_RDWR: u32 = 2;
    /// The socket level of options.
    pub const SOL_SOCKET: u32 = 1;
    /// Addresses may be bound again at once.
    pub const SO_REUSEADDR: u32 = 2;
    /// The socket's type.
    pub const SO_TYPE: u32 = 3;
    /// The pending error (read and cleared).
    pub const SO_ERROR: u32 = 4;
    /// The send buffer's size.
    pub const SO_SNDBUF: u32 = 7;
    /// The receive buffer's size.
    pub const SO_RCVBUF: u32 = 8;
    /// Keep-alive probes.
    pub const SO_KEEPALIVE: u32 = 9;
    /// Whether it listens.
    pub const SO_ACCEPTCONN: u32 = 30;
    /// Its protocol.
    pub const SO_PROTOCOL: u32 = 38;
    /// Its family.
    pub const SO_DOMAIN: u32 = 39;
    /// Datagrams to broadcast addresses allowed.
    pub const SO_BROADCAST: u32 = 6;
    /// How `close` waits for unsent data ({on, seconds}).
    pub const SO_LINGER: u32 = 13;
    /// The TCP level of options (`IPPROTO_TCP`).
    pub const IPPROTO_TCP: u32 = 6;
    /// The UDP protocol.
    pub const IPPROTO_UDP: u32 = 17;
    /// The IP level of options.
    pub const IPPROTO_IP: u32 = 0;
    /// Segments sent at once, without Nagle's wait.
    pub const TCP_NODELAY: u32 = 1;
    /// The connection's largest segment.
    pub const TCP_MAXSEG: u32 = 2;
    /// `struct sockaddr_in`'s size.
    pub const SOCKADDR_IN_SIZE: u32 = 16;
    /// No particular family (`connect` to it dissolves a datagram
    /// socket's association).
    pub const AF_UNSPEC: u32 = 0;
    /// Out-of-band data.
    pub const MSG_OOB: u32 = 1;
    /// Read without taking.
    pub const MSG_PEEK: u32 = 2;
    /// This call does not wait.
    pub const MSG_DONTWAIT: u32 = 0x40;
    /// The datagram's whole length (`recv`), or that it did not fit
    /// (`recvmsg`'s `msg_flags`).
    pub const MSG_TRUNC: u32 = 0x20;
    /// Wait for the whole length.
    pub const MSG_WAITALL: u32 = 0x100;
    /// No SIGPIPE for a peer that has gone.
    pub const MSG_NOSIGNAL: u32 = 0x4000;
}

/// `epoll`: events, flags, `epoll_ctl`'s operations.
pub mod epoll {
    /// Readable.
    pub const EPOLLIN: u32 = 0x1;
    /// Urgent data.
    pub const EPOLLPRI: u32 = 0x2;
    /// Writable.
    pub const EPOLLOUT: u32 = 0x4;
    /// An error (always watched).
    pub const EPOLLERR: u32 = 0x8;
    /// Hung up (always watched).
    pub const EPOLLHUP: u32 = 0x10;
    /// Normal data readable.
    pub const EPOLLRDNORM: u32 = 0x40;
    /// Normal data writable.
    pub const EPOLLWRNORM: u32 = 0x100;
    /// The peer shut its writing down.
    pub const EPOLLRDHUP: u32 = 0x2000;
    /// One waiter of several is woken.
    pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
    /// Keeps the system awake (ignored).
    pub const EPOLLWAKEUP: u32 = 1 << 29;
    /// Reported once, then disabled until changed.
    pub const EPOLLONESHOT: u32 = 1 << 30;
    /// Edge-triggered.
    pub const EPOLLET: u32 = 1 << 31;
    /// `epoll_create1`'s one flag.
    pub const EPOLL_CLOEXEC: u32 = 0o2000000;
    /// Adds an interest.
    pub const EPOLL_CTL_ADD: u32 = 1;
    /// Removes one.
    pub const EPOLL_CTL_DEL: u32 = 2;
    /// Changes one.
    pub const EPOLL_CTL_MOD: u32 = 3;
}
