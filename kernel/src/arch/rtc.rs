//! The CMOS real-time clock: the wall-clock time at boot, in seconds since
//! the epoch (UTC, as QEMU's RTC keeps it by default).

use x86_64::instructions::port::Port;

fn read_register(reg: u8) -> u8 {
    let mut index = Port::<u8>::new(0x70);
    let mut data = Port::<u8>::new(0x71);
    // SAFETY: ports 0x70/0x71 are the CMOS index and data registers on every
    // PC; selecting a clock register (bit 7, NMI disable, left clear) and
    // reading it has no other effect. Only this module touches them, with
    // interrupts off (`read`).
    unsafe {
        index.write(reg);
        data.read()
    }
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The time now, in seconds since the epoch, or `None` if the clock reads
/// as nonsense.
pub fn read() -> Option<u64> {
    x86_64::instructions::interrupts::without_interrupts(|| {
        // Wait out an update in progress, then read twice until two reads agree.
        let snapshot = || {
            while read_register(0x0a) & 0x80 != 0 {
                core::hint::spin_loop();
            }
            [0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32].map(read_register)
        };
        let mut regs = snapshot();
        for _ in 0..5 {
            let again = snapshot();
            if again == regs {
                break;
            }
            regs = again;
        }
        let status_b = read_register(0x0b);
        let bcd = status_b & 0x04 == 0;
        let conv = |v: u8| if bcd { (v & 0x0f) + (v >> 4) * 10 } else { v };
        let [sec, min, hour_raw, day, month, year, century] = regs;
        let pm = hour_raw & 0x80 != 0;
        let mut hour = conv(hour_raw & 0x7f);
        if status_b & 0x02 == 0 && pm {
            hour = (hour % 12) + 12;
        }
        let (sec, min, day, month, year) = (conv(sec), conv(min), conv(day), conv(month), conv(year));
        let century = match conv(century) {
            c @ 19..=21 => i64::from(c),
            _ => 20,
        };
        if sec > 59 || min > 59 || hour > 23 || !(1..=31).contains(&day) || !(1..=12).contains(&month) {
            return None;
        }
        let days = days_from_civil(century * 100 + i64::from(year), u32::from(month), u32::from(day));
        let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(min) * 60 + i64::from(sec);
        u64::try_from(secs).ok()
    })
}
