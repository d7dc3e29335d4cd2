//! The `log` facade's backend: `[uptime] cpuN LEVEL target: message`.

use core::fmt::Write;

use log::{LevelFilter, Log, Metadata, Record};

use crate::{arch, time};

struct Logger;

static LOGGER: Logger = Logger;

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let up = time::uptime();
        let cpu = arch::percpu::current_id().as_u32();
        let line = format_args!(
            "[{:>5}.{:06}] cpu{} {:<5} {}: {}\n",
            up.as_secs(),
            up.subsec_micros(),
            cpu,
            record.level(),
            record.target(),
            record.args()
        );
        super::serial::with_locked(|w| {
            let _ = w.write_fmt(line);
        });
        super::mirror(line);
    }

    fn flush(&self) {}
}

pub(super) fn init() {
    // `set_logger` fails only if a logger is already set: then keep that one.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(LevelFilter::Info);
}
