//! What a file system operation can answer instead of success. Each kind
//! has the errno a Linux program expects ([`Error::errno`]); corruption
//! carries a message that says what was wrong and where, for the log.

use alloc::string::String;
use core::fmt;

use io::block::BlockError;

/// Why an operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The disk failed a request.
    Io(BlockError),
    /// The file system's structures are damaged: what and where. The
    /// operation changed nothing on the disk past the point it was found.
    Corrupt(String),
    /// The image uses what this implementation does not (named).
    Unsupported(String),
    /// No such entry.
    NotFound,
    /// The name exists already.
    Exists,
    /// A path component or the target is not a directory.
    NotDir,
    /// The target is a directory.
    IsDir,
    /// The directory is not empty.
    NotEmpty,
    /// No free block or inode.
    NoSpace,
    /// A name longer than 255 bytes.
    NameTooLong,
    /// An argument the operation cannot take (moving a directory into
    /// itself, an empty name, `.` or `..` where they cannot be).
    Invalid,
    /// The volume is mounted read-only.
    ReadOnly,
    /// A size past what the block map can address.
    TooBig,
    /// A link count would pass its limit.
    TooManyLinks,
    /// Not allowed on this kind of file (a hard link to a directory).
    NotPermitted,
    /// In use (unmounting a volume with files open).
    Busy,
    /// No memory for a cache buffer, even with every clean block given back.
    NoMemory,
}

impl Error {
    /// The errno Linux answers for it.
    pub fn errno(&self) -> i32 {
        match self {
            Error::Io(_) | Error::Corrupt(_) => 5, // EIO (Linux's ext2 answers EIO too)
            Error::Unsupported(_) => 95,           // EOPNOTSUPP
            Error::NotFound => 2,                  // ENOENT
            Error::Exists => 17,                   // EEXIST
            Error::NotDir => 20,                   // ENOTDIR
            Error::IsDir => 21,                    // EISDIR
            Error::NotEmpty => 39,                 // ENOTEMPTY
            Error::NoSpace => 28,                  // ENOSPC
            Error::NameTooLong => 36,              // ENAMETOOLONG
            Error::Invalid => 22,                  // EINVAL
            Error::ReadOnly => 30,                 // EROFS
            Error::TooBig => 27,                   // EFBIG
            Error::TooManyLinks => 31,             // EMLINK
            Error::NotPermitted => 1,              // EPERM
            Error::Busy => 16,                     // EBUSY
            Error::NoMemory => 12,                 // ENOMEM
        }
    }
}

impl From<BlockError> for Error {
    fn from(e: BlockError) -> Self {
        Error::Io(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "disk error: {e}"),
            Error::Corrupt(why) => write!(f, "corrupt file system: {why}"),
            Error::Unsupported(what) => write!(f, "not supported: {what}"),
            Error::NotFound => f.write_str("no such file or directory"),
            Error::Exists => f.write_str("file exists"),
            Error::NotDir => f.write_str("not a directory"),
            Error::IsDir => f.write_str("is a directory"),
            Error::NotEmpty => f.write_str("directory not empty"),
            Error::NoSpace => f.write_str("no space left on the file system"),
            Error::NameTooLong => f.write_str("name too long"),
            Error::Invalid => f.write_str("invalid argument"),
            Error::ReadOnly => f.write_str("read-only file system"),
            Error::TooBig => f.write_str("file too large"),
            Error::TooManyLinks => f.write_str("too many links"),
            Error::NotPermitted => f.write_str("operation not permitted"),
            Error::Busy => f.write_str("in use"),
            Error::NoMemory => f.write_str("out of memory for the block cache"),
        }
    }
}

/// What operations return.
pub type Result<T> = core::result::Result<T, Error>;
