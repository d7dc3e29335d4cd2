//! Programs on Odonata: the project's own static C programs (musl-gcc), run
//! on the host first, then on the kernel from an initramfs; the kernel must
//! print what the host printed and end them with the same status.

use std::path::{Path, PathBuf};
use std::time::Duration;

use odonata_runner::initramfs::Initramfs;
use odonata_tests::compare::{Archive, on_host, on_kernel, run_and_compare, run_and_compare_on};
use odonata_tests::{boot, log_of};

/// Debian's static BusyBox, or `None` (and why) if it is not installed.
fn busybox() -> Option<&'static Path> {
    let busybox = Path::new(odonata_runner::initramfs::BUSYBOX);
    if !busybox.is_file() {
        eprintln!("{} is missing: run scripts/setup (busybox-static)", busybox.display());
        return None;
    }
    Some(busybox)
}

/// Compiles `tests/programs/NAME.c` (`odonata_tests::c_program`).
fn compile(name: &str) -> Option<PathBuf> {
    odonata_tests::c_program(name)
}

#[test]
fn memory_program_prints_what_it_prints_on_the_host() {
    let Some(memory) = compile("memory") else { return };
    run_and_compare(&[("bin/memory", &memory)], &[("/bin/memory", &["one"])]);
}

/// With SMEP and SMAP on (QEMU's default CPU model has neither), the
/// kernel still reads and writes program memory in its copies only, and a
/// program's bad pointers are still EFAULT.
/// Copies between the kernel and a program at every alignment, across a
/// page the copy faults in midway, and from and to a page the program may
/// not touch (`copies.c`): as on the host.
#[test]
fn copies_at_every_alignment_print_what_they_print_on_the_host() {
    let Some(copies) = compile("copies") else { return };
    run_and_compare(&[("bin/copies", &copies)], &[("/bin/copies", &[])]);
}

#[test]
fn memory_program_runs_under_smep_and_smap() {
    let Some(memory) = compile("memory") else { return };
    let Some(copies) = compile("copies") else { return };
    let serial = run_and_compare_on(
        &["-cpu", "qemu64,+smep,+smap"],
        &[("bin/memory", &memory), ("bin/copies", &copies)],
        &[("/bin/memory", &["smap"]), ("/bin/copies", &[])],
    );
    assert!(serial.contains("SMEP true, SMAP true"), "SMEP and SMAP were not both on");
}

#[test]
fn faults_end_the_program_with_the_signal_linux_sends() {
    let Some(faults) = compile("faults") else { return };
    let cases: Vec<[&str; 1]> =
        ["read-kernel", "write-null", "jump-noncanonical", "ud2", "divide", "write-code", "stack-overflow", "none"].map(|c| [c]).to_vec();
    let commands: Vec<(&str, &[&str])> = cases.iter().map(|c| ("/bin/faults", &c[..])).collect();
    run_and_compare(&[("bin/faults", &faults)], &commands);
}

#[test]
fn busybox_runs_unmodified() {
    let Some(busybox) = busybox() else { return };
    run_and_compare(
        &[("bin/busybox", busybox)],
        &[("/bin/busybox", &["echo", "hello", "from", "busybox"]), ("/bin/busybox", &["true"]), ("/bin/busybox", &["false"])],
    );
}

/// Runs each of `tests/scripts/NAME.sh` with BusyBox's `sh`, on the host
/// and on the kernel (BusyBox and its applet links in the initramfs), and
/// compares output and status.
fn scripts_match_the_host(names: &[&str], smp: u32) {
    let Some(busybox) = busybox() else { return };
    let root = odonata_runner::workspace_root();
    let mut fs = Initramfs::new();
    fs.busybox().unwrap();
    let mut list = String::new();
    for name in names {
        fs.file(&format!("scripts/{name}.sh"), &root.join("tests/scripts").join(format!("{name}.sh"))).unwrap();
        list += &format!("/bin/sh /scripts/{name}.sh\n");
    }
    fs.bytes("etc/odonata-run", 0o644, list.into_bytes());
    let archive = Archive::of(&fs);
    let out = boot("programs").rng().smp(smp).initramfs(&archive).timeout(Duration::from_secs(240)).run();
    for name in names {
        let script = root.join("tests/scripts").join(format!("{name}.sh"));
        let (expected, code) = on_host(busybox, &["sh", script.to_str().unwrap()]);
        let (got, status) = on_kernel(&out.serial, &format!("/bin/sh /scripts/{name}.sh"));
        let got: Vec<&str> = got.into_iter().filter(|l| !l.starts_with('[')).collect();
        let expected: Vec<&str> = expected.lines().collect();
        assert_eq!(got, expected, "{name}.sh: output differs from the host's\n{}", log_of(&out));
        assert_eq!(status, code.to_string(), "{name}.sh: status differs from the host's\n{}", log_of(&out));
        println!("{name}.sh: {} lines as on the host, status {status}", got.len());
    }
}

#[test]
fn busybox_sh_runs_scripts_as_on_the_host() {
    scripts_match_the_host(&["basics", "jobs", "applets"], 2);
}

#[test]
fn signals_program_prints_what_it_prints_on_the_host() {
    let Some(signals) = compile("signals") else { return };
    run_and_compare(&[("bin/signals", &signals)], &[("/bin/signals", &[])]);
}

#[test]
fn stops_and_waits_program_prints_what_it_prints_on_the_host() {
    let Some(stops) = compile("stops") else { return };
    run_and_compare_on(&["-smp", "2"], &[("bin/stops", &stops)], &[("/bin/stops", &[])]);
}

/// Debugging aid, not run by default: `ODONATA_SCRIPT=path cargo test --test programs trace_one_script -- --ignored --nocapture`
/// runs one script with every system call traced.
#[test]
#[ignore]
fn trace_one_script() {
    let script = std::env::var("ODONATA_SCRIPT").expect("ODONATA_SCRIPT names a script");
    let mut fs = Initramfs::new();
    fs.busybox().unwrap();
    fs.file("scripts/t.sh", Path::new(&script)).unwrap();
    fs.bytes("etc/odonata-run", 0o644, b"/bin/sh /scripts/t.sh\n".to_vec());
    if std::env::var_os("ODONATA_TRACE").is_some() {
        fs.bytes("etc/odonata-trace", 0o644, Vec::new());
    }
    let archive = Archive::of(&fs);
    let out = boot("programs").rng().smp(2).initramfs(&archive).timeout(Duration::from_secs(60)).run();
    println!("{}", out.serial);
}

/// `ps`, `free`, `uptime`, `date` and `/proc` on the kernel: their output
/// depends on the machine, so it is parsed and its values checked.
#[test]
fn ps_free_uptime_and_proc_give_plausible_values() {
    if busybox().is_none() {
        return;
    }
    let root = odonata_runner::workspace_root();
    let mut fs = Initramfs::new();
    fs.busybox().unwrap();
    fs.file("scripts/system.sh", &root.join("tests/scripts/system.sh")).unwrap();
    fs.bytes("etc/odonata-run", 0o644, b"/bin/sh /scripts/system.sh\n".to_vec());
    let archive = Archive::of(&fs);
    let out = boot("programs").rng().smp(2).initramfs(&archive).timeout(Duration::from_secs(120)).run();
    let (lines, status) = on_kernel(&out.serial, "/bin/sh /scripts/system.sh");
    let lines: Vec<&str> = lines.into_iter().filter(|l| !l.starts_with('[')).collect();
    println!("{}", lines.join("\n"));
    assert_eq!(status, "0", "{}", log_of(&out));
    let parts: Vec<&[&str]> = lines.split(|l| *l == "---").collect();
    let [ps, free, uptime, date, procfs, load] = parts[..] else { panic!("six parts expected:\n{}", log_of(&out)) };
    assert!(ps[0].contains("PID") && ps[0].contains("COMMAND"), "ps header: {}", ps[0]);
    assert!(ps.iter().any(|l| l.contains("sleep 3")), "ps lists the script's sleep:\n{}", ps.join("\n"));
    assert!(ps.iter().any(|l| l.contains("sh /scripts/system.sh")), "ps lists the script's shell");
    // BusyBox runs `ps` in the forked shell without exec (a NOEXEC applet),
    // so it shows as `{ps} /bin/sh ...`, on Linux too.
    assert!(ps.iter().any(|l| l.contains("{ps}") || l.trim_end().ends_with(" ps")), "ps lists itself");
    let mem: Vec<u64> = free
        .iter()
        .find(|l| l.trim_start().starts_with("Mem:"))
        .expect("a Mem: line")
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(mem[0] > 100_000 && mem[0] < 300_000, "total memory in KiB for -m 256M: {}", mem[0]);
    assert!(mem[1] <= mem[0], "used below total");
    assert!(uptime[0].contains("up") && uptime[0].contains("load average"), "uptime: {}", uptime[0]);
    let year: u32 = date[0].trim().parse().expect("a year");
    assert!((2024..2100).contains(&year), "the RTC's year: {year}");
    let up: f64 = procfs[0].split_whitespace().next().unwrap().parse().unwrap();
    assert!(up > 0.0 && up < 120.0, "/proc/uptime: {up}");
    assert!(procfs[1].starts_with("MemTotal:"), "{}", procfs[1]);
    assert_eq!(procfs[2].trim(), "2", "two processors in /proc/cpuinfo");
    assert_eq!(procfs[3], "/bin/busybox", "/proc/self/exe of readlink (a link to busybox)");
    assert_eq!(procfs[4], "(cut) R", "/proc/self/stat of cut");
    // Two spinners for 11 s: the one-minute average has risen (at least
    // 2 (1 - e^(-10/60)) = 0.31 after two samples), and leads the others.
    let averages: Vec<f64> = load[0].split_whitespace().take(3).map(|v| v.parse().expect("a load average")).collect();
    println!("load averages after 11 s of two spinners: {averages:?}");
    assert!(averages[0] >= 0.25 && averages[0] <= 4.0, "one-minute load: {}", load[0]);
    assert!(averages[0] >= averages[1] && averages[1] >= averages[2], "1 >= 5 >= 15 minutes: {}", load[0]);
    let from_sysinfo: f64 = load[1]
        .split("load average: ")
        .nth(1)
        .and_then(|l| l.split(',').next())
        .and_then(|v| v.trim().parse().ok())
        .expect("uptime's load");
    assert!((from_sysinfo - averages[0]).abs() <= 0.3, "sysinfo's and /proc's one-minute loads agree: {} / {}", load[1], load[0]);
}

#[test]
fn processes_program_prints_what_it_prints_on_the_host() {
    let Some(processes) = compile("processes") else { return };
    run_and_compare_on(&["-smp", "2"], &[("bin/processes", &processes)], &[("/bin/processes", &[])]);
}

/// AF_UNIX stream socket pairs (`unix_pair.c`): 1 MiB each way at once
/// between processes on two CPUs, half-closes, EPIPE with and without
/// SIGPIPE, non-blocking calls, poll, options, names and errors, as on
/// the host.
#[test]
fn unix_socket_pairs_behave_as_on_the_host() {
    let Some(unix_pair) = compile("unix_pair") else { return };
    run_and_compare_on(&["-smp", "2"], &[("bin/unix_pair", &unix_pair)], &[("/bin/unix_pair", &[])]);
}

/// AF_UNIX datagram and sequenced-packet pairs (`unix_dgram.c`): message
/// boundaries, truncation and MSG_TRUNC, FIONREAD, EMSGSIZE, a full
/// queue, each kind's way of ending when the peer goes, and 2000
/// datagrams of every size from a child on the other CPU, as on the host.
#[test]
fn unix_datagram_pairs_behave_as_on_the_host() {
    let Some(unix_dgram) = compile("unix_dgram") else { return };
    run_and_compare_on(&["-smp", "2"], &[("bin/unix_dgram", &unix_dgram)], &[("/bin/unix_dgram", &[])]);
}

/// Named AF_UNIX sockets (`unix_named.c`): stream and sequenced-packet
/// (bind, the path's node, EADDRINUSE, listen, connect and its errors,
/// accept, names on both sides, data both ways, a full backlog, a client
/// on the other CPU, a closed listener's path) and datagram (sendto a
/// path, the sender's name or none, a reply, connect and AF_UNSPEC, a
/// destination gone), and abstract names (a leading NUL: their exact
/// length, EADDRINUSE, free once closed, a connection, a datagram's
/// sender), as on the host.
#[test]
fn named_unix_sockets_behave_as_on_the_host() {
    let Some(unix_named) = compile("unix_named") else { return };
    run_and_compare_on(&["-smp", "2"], &[("bin/unix_named", &unix_named)], &[("/bin/unix_named", &[])]);
}

/// epoll over pipes and socket pairs (`epoll.c`): level- and
/// edge-triggered, one-shot, changes, removals, a wake from another CPU,
/// timeouts and errors, as on the host.
#[test]
fn epoll_behaves_as_on_the_host() {
    let Some(epoll) = compile("epoll") else { return };
    run_and_compare_on(&["-smp", "2"], &[("bin/epoll", &epoll)], &[("/bin/epoll", &[])]);
}

/// futex in a single-threaded program (`futex.c`: a wake with nobody
/// waiting, waits that find the word changed, time out or end at a signal,
/// bad arguments), as on the host.
#[test]
fn futex_behaves_as_on_the_host() {
    let Some(futex) = compile("futex") else { return };
    run_and_compare_on(&["-smp", "2"], &[("bin/futex", &futex)], &[("/bin/futex", &[])]);
}

/// At -smp 4, four processes (one per CPU) create, rename, read, remove
/// files and directories in one directory and append to one file at once:
/// the output is the host's, whatever the interleaving.
#[test]
fn files_shared_by_processes_on_four_cpus_as_on_the_host() {
    let Some(files) = compile("files_shared") else { return };
    let serial = run_and_compare_on(&["-smp", "4"], &[("bin/files_shared", &files)], &[("/bin/files_shared", &[])]);
    let waits = serial.lines().find(|l| l.starts_with("file system: ")).expect("the count of busy tokens");
    println!("{}", waits.trim_end());
}

/// The same four processes on four CPUs, in a directory of an ext2 disk
/// BusyBox's `mount` put at /mnt, then appends under a storm of signals
/// (`appends.c`), then two CPUs taking turns on one file (`coherent.c`),
/// then a directory emptied as it is read, there and in memory
/// (`readdir_unlink.c`): the output is the host's, and after the `umount`
/// the host's `e2fsck -fn` finds the disk clean.
#[test]
fn files_shared_on_an_ext2_disk_as_on_the_host() {
    let Some(files) = compile("files_shared") else { return };
    let Some(appends) = compile("appends") else { return };
    let Some(coherent) = compile("coherent") else { return };
    let Some(readdir_unlink) = compile("readdir_unlink") else { return };
    let Some(busybox) = busybox() else { return };
    let dir = std::env::temp_dir().join(format!("odonata-files-ext2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let img = dir.join("disk.img");
    assert!(odonata_tests::e2fs::command("mke2fs").args(["-q", "-F", "-t", "ext2"]).arg(&img).arg("32M").status().unwrap().success());
    let mut fs = Initramfs::new();
    fs.busybox().unwrap();
    fs.file("bin/files_shared", &files).unwrap();
    fs.file("bin/appends", &appends).unwrap();
    fs.file("bin/coherent", &coherent).unwrap();
    fs.file("bin/readdir_unlink", &readdir_unlink).unwrap();
    let list = "/bin/mkdir -p /mnt\n/bin/mount -t ext2 /dev/vda /mnt\n/bin/files_shared /mnt/shared\n/bin/appends /mnt\n\
                /bin/coherent /mnt/coherent.dat\n/bin/readdir_unlink /mnt/emptied\n/bin/readdir_unlink /emptied\n/bin/umount /mnt\n";
    fs.bytes("etc/odonata-run", 0o644, list.as_bytes().to_vec());
    let archive = Archive::of(&fs);
    let out = boot("programs")
        .rng()
        .smp(4)
        .initramfs(&archive)
        .timeout(Duration::from_secs(240))
        .disk(odonata_runner::Disk { path: img.clone(), readonly: false, queues: None })
        .run();
    let host_dir = dir.join("host");
    let (expected, code) = on_host(&files, &[host_dir.to_str().unwrap()]);
    let (got, status) = on_kernel(&out.serial, "/bin/files_shared /mnt/shared");
    let got: Vec<&str> = got.into_iter().filter(|l| !l.starts_with('[')).collect();
    assert_eq!(got, expected.lines().collect::<Vec<_>>(), "files_shared on ext2: output differs from the host's\n{}", log_of(&out));
    assert_eq!(status, code.to_string());
    // Appends under a 1 ms interval timer: none lost, none made twice.
    let (expected, _) = on_host(&appends, &[dir.to_str().unwrap()]);
    let (got, _) = on_kernel(&out.serial, "/bin/appends /mnt");
    let got: Vec<&str> = got.into_iter().filter(|l| !l.starts_with('[')).collect();
    assert_eq!(got, expected.lines().collect::<Vec<_>>(), "appends on ext2 under signals\n{}", log_of(&out));
    // Two CPUs take turns writing and reading one file in 4 KiB reads
    // (each CPU's page copies, `fs::cpu_pages`): every read sees the last
    // write and size.
    let (expected, _) = on_host(&coherent, &[dir.join("coherent.dat").to_str().unwrap()]);
    let (got, status) = on_kernel(&out.serial, "/bin/coherent /mnt/coherent.dat");
    let got: Vec<&str> = got.into_iter().filter(|l| !l.starts_with('[')).collect();
    assert_eq!(got, expected.lines().collect::<Vec<_>>(), "coherent on ext2 at -smp 4\n{}", log_of(&out));
    assert_eq!(status, "0");
    // A directory emptied as it is read (`rm -r`), on the disk and in
    // memory: every entry read once.
    let (expected, _) = on_host(&readdir_unlink, &[dir.join("emptied").to_str().unwrap()]);
    for command in ["/bin/readdir_unlink /mnt/emptied", "/bin/readdir_unlink /emptied"] {
        let (got, status) = on_kernel(&out.serial, command);
        let got: Vec<&str> = got.into_iter().filter(|l| !l.starts_with('[')).collect();
        assert_eq!(got, expected.lines().collect::<Vec<_>>(), "{command}\n{}", log_of(&out));
        assert_eq!(status, "0");
    }
    assert_eq!(on_kernel(&out.serial, "/bin/umount /mnt").1, "0", "umount: {}", log_of(&out));
    let check = odonata_tests::e2fs::command("e2fsck").arg("-fn").arg(&img).output().unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", String::from_utf8_lossy(&check.stdout));
    for line in out.serial.lines().filter(|l| l.contains("programs: /bin/")) {
        println!("{}", line.trim_end());
    }
    println!("files_shared, appends and coherent on ext2 at -smp 4: as on the host; e2fsck -fn clean");
    let _ = busybox;
    let _ = std::fs::remove_dir_all(&dir);
}

/// NMIs from QEMU's monitor while two processes make system calls on two
/// CPUs: under TCG an NMI is taken between translated blocks, and the
/// instruction after `syscall` starts one, so some arrive in ring 0 before
/// the entry's `swapgs`, with the program's GS base. Every NMI is counted
/// and survived (none is the kernel's own), and the programs finish.
#[test]
fn nmis_in_the_middle_of_system_calls_are_survived() {
    let Some(storm) = compile("syscall_storm") else { return };
    let mut fs = Initramfs::new();
    fs.file("bin/syscall_storm", &storm).unwrap();
    fs.bytes("etc/odonata-run", 0o644, b"/bin/syscall_storm 15\n".to_vec());
    let archive = Archive::of(&fs);
    let nmis = ["nmi"; 200];
    let out = boot("programs")
        .rng()
        .smp(2)
        .initramfs(&archive)
        .timeout(Duration::from_secs(180))
        .monitor_after("==> /bin/syscall_storm", &nmis, Duration::from_millis(40))
        .run();
    let (lines, status) = on_kernel(&out.serial, "/bin/syscall_storm 15");
    assert_eq!(status, "0", "{}", log_of(&out));
    assert!(lines.iter().any(|l| l.starts_with("system calls answered for 15 s in two processes")), "{}", log_of(&out));
    let counts = out.serial.lines().find(|l| l.starts_with("NMIs: ")).unwrap_or_else(|| panic!("{}", log_of(&out)));
    println!("{}", counts.trim_end());
    println!("monitor: {}", out.monitor.lines().take(5).collect::<Vec<_>>().join(" / "));
    let numbers: Vec<u64> = counts.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    let [unknown, in_window] = numbers[..] else { panic!("{counts}") };
    assert!(unknown >= 200, "every NMI (200 sent, one per CPU each) was counted: {counts}");
    assert!(in_window > 0, "some NMIs arrived in a swapgs window: {counts}");
}

/// Hostile system calls (`tests/programs/fuzz.c`: random numbers, and
/// arguments drawn from NULL, kernel, non-canonical and unmapped pointers,
/// page ends, huge lengths, bad descriptors and flags) from children on two
/// CPUs for 20 s: the kernel survives them all, and the program finishes.
/// Never run on the host.
#[test]
fn hostile_system_calls_never_bring_the_kernel_down() {
    let Some(fuzz) = compile("fuzz") else { return };
    // A longer or different run, by hand: ODONATA_FUZZ_SECONDS, ODONATA_FUZZ_SEED.
    let seconds: u64 = std::env::var("ODONATA_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let seed = std::env::var("ODONATA_FUZZ_SEED").unwrap_or_else(|_| "1".into());
    let command = format!("/bin/fuzz {seconds} {seed}");
    let mut fs = Initramfs::new();
    fs.file("bin/fuzz", &fuzz).unwrap();
    fs.bytes("etc/odonata-run", 0o644, format!("{command}\n").into_bytes());
    let archive = Archive::of(&fs);
    let out = boot("programs").rng().smp(2).initramfs(&archive).timeout(Duration::from_secs(220 + seconds)).run();
    let (lines, status) = on_kernel(&out.serial, &command);
    let summary = lines.iter().find(|l| l.starts_with("fuzz: ")).unwrap_or_else(|| panic!("{}", log_of(&out)));
    println!("{summary}");
    if let Some(ends) = lines.iter().find(|l| l.starts_with('(')) {
        println!("{ends}");
    }
    for l in lines.iter().filter(|l| l.starts_with("ftruncate") || l.starts_with("writing")) {
        println!("{l}");
        assert!(l.contains("No space left on device"), "a file as large as asked is ENOSPC: {l}");
    }
    let pipes = lines.iter().find(|l| l.starts_with("pipes made")).unwrap_or_else(|| panic!("{}", log_of(&out)));
    println!("{pipes}");
    let stalls: Vec<&str> = out.serial.lines().filter(|l| l.contains("stall: task")).collect();
    println!("stall reports: {}", stalls.len());
    for s in stalls.iter().take(5) {
        println!("  {s}");
    }
    assert_eq!(status, "0", "{}", log_of(&out));
    assert!(summary.ends_with("the kernel is alive"), "{}", log_of(&out));
}

/// At -smp 4: 1,000 processes forked at once, half spinning and half
/// sleeping, spread over every CPU and all reaped; then a fork bomb meets
/// the process limit (EAGAIN) and the kernel goes on. Not compared with
/// the host (a fork bomb is not run there; the CPU count differs).
#[test]
fn a_thousand_processes_spread_over_every_cpu_and_a_fork_bomb_is_bounded() {
    let (Some(many), Some(bomb)) = (compile("many"), compile("bomb")) else { return };
    let mut fs = Initramfs::new();
    fs.file("bin/many", &many).unwrap();
    fs.file("bin/bomb", &bomb).unwrap();
    fs.bytes("etc/odonata-run", 0o644, b"/bin/many 1000\n/bin/bomb\n/bin/many 8\n".to_vec());
    let archive = Archive::of(&fs);
    let started = std::time::Instant::now();
    let out = boot("programs").rng().smp(4).initramfs(&archive).timeout(Duration::from_secs(400)).run();
    println!("booted and ran in {:.1} s", started.elapsed().as_secs_f64());
    let (lines, status) = on_kernel(&out.serial, "/bin/many 1000");
    let lines: Vec<&str> = lines.into_iter().filter(|l| !l.starts_with('[')).collect();
    let sum: u32 = (0..1000).map(|i| i % 7).sum();
    assert!(lines.contains(&format!("1000 reported, 1000 reaped, statuses sum {sum}").as_str()), "{}", log_of(&out));
    assert!(lines.contains(&"CPUS 4"), "the processes ran on all four CPUs:\n{}", log_of(&out));
    assert_eq!(status, "0");
    let (lines, status) = on_kernel(&out.serial, "/bin/bomb");
    let line = lines.iter().find(|l| l.starts_with("forked")).unwrap_or_else(|| panic!("{}", log_of(&out)));
    println!("{line}");
    let words: Vec<&str> = line.split_whitespace().collect();
    let (forked, reaped): (u32, u32) = (words[1].trim_end_matches(',').parse().unwrap(), words[5].parse().unwrap());
    assert!(line.contains("EAGAIN"), "the limit answers EAGAIN: {line}");
    assert!(forked >= 500 && forked == reaped, "{line}");
    assert_eq!(status, "0");
    let (lines, _) = on_kernel(&out.serial, "/bin/many 8");
    assert!(lines.iter().any(|l| l.starts_with("8 reported, 8 reaped")), "the kernel goes on after the bomb:\n{}", log_of(&out));
}

/// Runs `/bin/latency ARGS` at -smp 2 and checks its sleeper's worst
/// lateness beside the spinners (`what` names them in the message): within
/// a generous bound (a slice is 10 ms; TCG is slow), and the spinners ended
/// by SIGKILL.
fn sleeper_wakes_beside(args: &str, what: &str) {
    let Some(latency) = compile("latency") else { return };
    let mut fs = Initramfs::new();
    fs.file("bin/latency", &latency).unwrap();
    let command = format!("/bin/latency {args}");
    fs.bytes("etc/odonata-run", 0o644, format!("{command}\n").into_bytes());
    let archive = Archive::of(&fs);
    let out = boot("programs").rng().smp(2).initramfs(&archive).timeout(Duration::from_secs(240)).run();
    let (lines, status) = on_kernel(&out.serial, &command);
    let line = lines.iter().find(|l| l.starts_with("worst lateness")).unwrap_or_else(|| panic!("{}", log_of(&out)));
    println!("{line}");
    let worst: u64 = line.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(worst < 500_000, "a sleeper woke {worst} us late beside {what}: {line}");
    assert!(line.ends_with("(2 killed)"), "{line}");
    assert_eq!(status, "0");
}

/// Time slices: with a CPU-bound spinner on each CPU, a process that
/// sleeps 10 ms at a time still wakes promptly.
#[test]
fn a_spinning_program_does_not_keep_others_from_running() {
    sleeper_wakes_beside("2", "spinners");
}

/// The same with spinners that spin in the kernel: each reads 32 MiB from
/// `/dev/zero` per call. Kernel code is not preempted, so a long transfer
/// lets its CPU's other tasks run between its chunks.
#[test]
fn a_program_in_a_long_read_does_not_keep_others_from_running() {
    sleeper_wakes_beside("2 reading", "readers of /dev/zero");
}

/// Debugging aid, not run by default: the worst lateness of a 10 ms sleeper
/// beside 0, 1, 2 and 4 spinners at -smp 2, with the CPUs' registers from
/// QEMU's monitor.
#[test]
#[ignore]
fn latency_with_several_spinner_counts() {
    let latency = compile("latency").unwrap();
    let mut fs = Initramfs::new();
    fs.file("bin/latency", &latency).unwrap();
    fs.bytes("etc/odonata-run", 0o644, b"/bin/latency 0\n/bin/latency 1\n/bin/latency 2\n/bin/latency 4\n".to_vec());
    let archive = Archive::of(&fs);
    let (b, _) = boot("programs").rng().smp(2).initramfs(&archive).timeout(Duration::from_secs(60)).own_monitor();
    let out = b
        .monitor_after("==> /bin/latency", &["info registers -a", "info registers -a", "info registers -a"], Duration::from_secs(15))
        .run();
    println!("{}", out.serial);
    println!("{}", out.monitor);
}
