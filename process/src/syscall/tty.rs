//! `ioctl`: terminals (the console, ptys' terminal ends and masters), and
//! `FIONREAD` on pipes and sockets. Anything else is ENOTTY, and an
//! unknown request on a terminal EINVAL, as Linux answers.

use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use linux::errno;
use linux::flags::ioctl;
use linux::structs::Winsize;

use super::{Args, SysResult};
use crate::fs::{Device, Kind};
use crate::process::Process;
use crate::tty::{TERMIOS_SIZE, Tty};
use crate::user;

pub(super) async fn ioctl(p: &mut Process, a: Args) -> SysResult {
    let file = p.files.get(a.int(0))?;
    let tty = match &file.node.kind {
        Kind::Device(Device::Console) => Tty::Console,
        Kind::Tty(t) => t.clone(),
        Kind::PtyMaster(pty) => {
            let answer = match a.get(1) {
                ioctl::TIOCGPTN => Some(pty.index() as i32),
                ioctl::TIOCGPTLCK => Some(i32::from(pty.locked())),
                ioctl::FIONREAD => Some(pty.master_waiting().await as i32),
                ioctl::TIOCSPTLCK => {
                    let mut b = [0u8; 4];
                    user::read(&mut p.memory, a.get(2), &mut b)?;
                    pty.set_locked(i32::from_le_bytes(b) != 0);
                    return Ok(0);
                }
                _ => None,
            };
            if let Some(v) = answer {
                user::write_i32(&mut p.memory, a.get(2), v)?;
                return Ok(0);
            }
            // The rest (settings, window size, groups) are the pair's,
            // asked through either end.
            Tty::Pty(Arc::clone(pty))
        }
        kind => {
            let waiting = match (a.get(1), kind) {
                (ioctl::FIONREAD, Kind::Pipe(pipe)) => pipe.buffered().await,
                (ioctl::FIONREAD, Kind::Socket(socket)) => socket.buffered().await,
                _ => return Err(errno::ENOTTY),
            };
            user::write_i32(&mut p.memory, a.get(2), waiting as i32)?;
            return Ok(0);
        }
    };
    terminal(p, &tty, a).await
}

/// The requests every terminal answers.
async fn terminal(p: &mut Process, tty: &Tty, a: Args) -> SysResult {
    let term = tty.terminal();
    let (pid, pgid, sid) = (p.pid(), p.info.pgid.load(Ordering::Relaxed), p.info.sid.load(Ordering::Relaxed));
    match a.get(1) {
        ioctl::TIOCGWINSZ => {
            let (rows, cols) = term.winsize();
            user::write(&mut p.memory, a.get(2), &Winsize { rows, cols }.encode())?;
            Ok(0)
        }
        ioctl::TIOCSWINSZ => {
            let mut b = [0u8; Winsize::SIZE];
            user::read(&mut p.memory, a.get(2), &mut b)?;
            term.set_winsize(u16::from_le_bytes([b[0], b[1]]), u16::from_le_bytes([b[2], b[3]]));
            Ok(0)
        }
        ioctl::TIOCGPGRP => {
            user::write_i32(&mut p.memory, a.get(2), term.foreground(pgid) as i32)?;
            Ok(0)
        }
        ioctl::TIOCSPGRP => {
            let mut b = [0u8; 4];
            user::read(&mut p.memory, a.get(2), &mut b)?;
            let group = i32::from_le_bytes(b);
            if group <= 0 {
                return Err(errno::EINVAL);
            }
            term.set_foreground(group as u32);
            Ok(0)
        }
        ioctl::TCGETS => {
            let t = term.termios().await;
            user::write(&mut p.memory, a.get(2), &t)?;
            Ok(0)
        }
        ioctl::TCSETS | ioctl::TCSETSW | ioctl::TCSETSF => {
            let mut t = [0u8; TERMIOS_SIZE];
            user::read(&mut p.memory, a.get(2), &mut t)?;
            term.set_termios(t, a.get(1) == ioctl::TCSETSF).await;
            Ok(0)
        }
        ioctl::TCFLSH => {
            // TCIFLUSH (0) and TCIOFLUSH (2) drop typed input; output is
            // handed over as it is written.
            match a.get(2) {
                0 | 2 => {
                    let t = term.termios().await;
                    term.set_termios(t, true).await;
                    Ok(0)
                }
                1 => Ok(0),
                _ => Err(errno::EINVAL),
            }
        }
        ioctl::FIONREAD => {
            let n = term.waiting().await;
            user::write_i32(&mut p.memory, a.get(2), n as i32)?;
            Ok(0)
        }
        ioctl::TIOCSCTTY => {
            if p.ctty.as_ref().is_some_and(|c| c.same(tty)) {
                return Ok(0);
            }
            if sid != pid || p.ctty.is_some() || !term.control(sid, pgid) {
                return Err(errno::EPERM);
            }
            p.ctty = Some(tty.clone());
            Ok(0)
        }
        ioctl::TIOCNOTTY => {
            if !p.ctty.as_ref().is_some_and(|c| c.same(tty)) {
                return Err(errno::ENOTTY);
            }
            p.ctty = None;
            Ok(0)
        }
        ioctl::TIOCGSID => match term.session() {
            0 => Err(errno::ENOTTY),
            s => {
                user::write_i32(&mut p.memory, a.get(2), s as i32)?;
                Ok(0)
            }
        },
        _ => Err(errno::EINVAL),
    }
}
