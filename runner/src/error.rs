//! Errors the runner reports as one clear line.

use std::fmt;
use std::path::PathBuf;

/// Why the runner could not build or boot a kernel.
#[derive(Debug)]
pub enum Error {
    /// `qemu-system-x86_64` is not on PATH.
    QemuMissing,
    /// No OVMF firmware file for a UEFI boot.
    OvmfMissing(Vec<PathBuf>),
    /// A build step failed; `output` holds what it printed.
    Build {
        /// The step that failed.
        what: String,
        /// Its captured stderr (empty if it went to the terminal).
        output: String,
    },
    /// A bad command-line argument.
    Usage(String),
    /// An I/O error while doing `what`.
    Io {
        /// What the runner was doing.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::QemuMissing => {
                write!(f, "qemu-system-x86_64 is not installed: run scripts/setup")
            }
            Error::OvmfMissing(tried) => write!(
                f,
                "no OVMF firmware for --uefi (looked at {}; set ODONATA_OVMF to override): run scripts/setup",
                tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
            Error::Build { what, output } if output.is_empty() => write!(f, "{what} failed"),
            Error::Build { what, output } => write!(f, "{what} failed:\n{output}"),
            Error::Usage(msg) => write!(f, "{msg} (see --help)"),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for Error {}
